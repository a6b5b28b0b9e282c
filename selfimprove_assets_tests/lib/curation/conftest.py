from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

T0 = datetime(2025, 1, 1, tzinfo=UTC)
LABELS = ("name", "date", "total")


def feedback_frame(
    n: int,
    seed: int = 0,
    error_rate: float = 0.3,
    types: tuple[str, ...] = ("invoice", "letter", "form"),
    retrained_rate: float = 0.0,
) -> pd.DataFrame:
    """Synthetic committed feedback: each row has outcomes for every label."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        verified = str(rng.choice(types))
        corrected = bool(rng.random() < error_rate)
        outcomes = {}
        for label in LABELS:
            bad = corrected and rng.random() < 0.5
            outcomes[label] = {
                "unchanged": int(rng.integers(0, 3)),
                "modified": int(bad and rng.random() < 0.6),
                "added": int(bad and rng.random() < 0.3),
                "removed": int(bad and rng.random() < 0.3),
            }
        rows.append(
            {
                "feedback_id": i + 1,
                "document_id": f"doc-{i + 1}",
                "model_version": "1",
                "reviewer": f"r{i % 3}",
                "corrected": corrected,
                "predicted_doc_type": "other" if corrected else verified,
                "verified_doc_type": verified,
                "field_outcomes": outcomes,
                "retrained": bool(rng.random() < retrained_rate),
                "committed_at": T0 + timedelta(minutes=int(rng.integers(0, 10_000))),
            }
        )
    return pd.DataFrame(rows)
