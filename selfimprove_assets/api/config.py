"""The API's operator limits, shared by the app and the upload service."""

from __future__ import annotations

from dataclasses import dataclass

from selfimprove_assets.lib.defaults import AutomationSettings


@dataclass(frozen=True)
class ApiConfig:
    """Operator limits of the API (sizes are checked before any expensive work)."""

    max_upload_bytes: int = 20 * 1024 * 1024
    max_pages: int = 50
    max_inflated_bytes: int = 256 * 1024 * 1024
    """Largest total a PDF's zlib streams may inflate to (decompression-bomb guard)."""
    ocr_dpi: int = 200
    model_refresh_seconds: float = 2.0
    qa_share: float = AutomationSettings().qa_share
    """Share of straight-through documents drawn at random for review anyway (QA)."""

    def __post_init__(self) -> None:
        if self.max_upload_bytes <= 0 or self.max_pages <= 0:
            raise ValueError("max_upload_bytes and max_pages must be positive")
        if not 0.0 <= self.qa_share <= 1.0:
            raise ValueError(f"qa_share must be in [0, 1], got {self.qa_share}")
