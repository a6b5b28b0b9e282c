"""Where settings come from: ``SELFIMPROVE_*`` variables and ``selfimprove.toml``, as
pydantic-settings sources of ``lib.settings.Settings``.

Each source checks its own values against the section schemas (``lib.defaults``) before they
are merged, so an unknown key or a bad value is one ``SettingsError`` naming the key and where
it was set (the file, or the variable). Variables are text: lists are ``a,b``, tables
``a=0,b=0.01``, ``none`` unsets an optional value; TOML values must have the field's type.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import NoneType
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from selfimprove_assets.lib.defaults import SECTIONS

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

DEFAULT_HOME = ".selfimprove"
CONFIG_FILE = "selfimprove.toml"
CONFIG_ENV = "SELFIMPROVE_CONFIG"
ENV_PREFIX = "SELFIMPROVE_"

# Top-level keys: key -> variable. Secrets are read from the environment only.
TOP_LEVEL = {
    "home": "SELFIMPROVE_HOME",
    "database_url": "SELFIMPROVE_DATABASE_URL",
    "mlflow_tracking_uri": "SELFIMPROVE_MLFLOW_TRACKING_URI",
    "mlflow_artifact_root": "SELFIMPROVE_MLFLOW_ARTIFACT_ROOT",
    "backbone": "SELFIMPROVE_BACKBONE",
    "device": "SELFIMPROVE_DEVICE",
    "api_tokens": "SELFIMPROVE_API_TOKENS",
    "api_token": "SELFIMPROVE_API_TOKEN",
    "alert_webhook_url": "SELFIMPROVE_ALERT_WEBHOOK_URL",
}
ENV_ONLY = ("api_tokens", "api_token", "alert_webhook_url")
URL_KEYS = ("database_url", "mlflow_tracking_uri", "mlflow_artifact_root")
# Older names of section keys, still read (the section's own name wins when both are set).
ALIASES = {"SELFIMPROVE_CLASSIFIER_TOKENS": ("inference", "classifier_tokens")}


class SettingsError(ValueError):
    """A setting is unknown or has a bad value; the message names the key and its source."""


def env_var(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}_{key}".upper()


def _label(section: str, key: str, from_env: bool) -> str:
    if from_env:
        old = [var for var, place in ALIASES.items() if place == (section, key)]
        return f"{env_var(section, key)} ({old[0]})" if old else env_var(section, key)
    return f"[{section}] {key}"


TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
NONE = ("", "none", "null")


def type_name(annotation: Any) -> str:
    """A field's type as the errors and ``selfimprove settings`` show it (``int | None``)."""
    if isinstance(annotation, type) and not get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def optional(annotation: Any) -> bool:
    return NoneType in get_args(annotation)


def _base(annotation: Any) -> Any:
    """The annotation without ``| None``."""
    if optional(annotation):
        rest = [a for a in get_args(annotation) if a is not NoneType]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _from_text(text: str, annotation: Any) -> Any:
    """A variable's text shaped for the field: words for booleans, ``a,b`` for lists,
    ``a=0,b=1`` for tables; pydantic converts the rest (numbers, choices)."""
    if optional(annotation) and text.strip().lower() in NONE:
        return None
    base = _base(annotation)
    origin = get_origin(base) or base
    if base is bool:
        word = text.strip().lower()
        if word not in (*TRUE, *FALSE):
            raise ValueError(f"not a boolean ({'/'.join(TRUE + FALSE)})")
        return word in TRUE
    if origin is Literal:
        return text.strip().lower()
    if origin in (tuple, list):
        return tuple(v.strip() for v in text.split(",") if v.strip())
    if origin in (dict, Mapping):
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        return {k.strip(): v.strip() for k, v in pairs}
    return text


def _bounds(field: FieldInfo) -> str:
    """``must be >= 0``, or ``must be in [0, 0.99]`` when the field has two bounds."""
    low = high = None
    for rule in field.metadata:
        for name, op in (("ge", "["), ("gt", "(")):
            if getattr(rule, name, None) is not None:
                low = (op, getattr(rule, name))
        for name, op in (("le", "]"), ("lt", ")")):
            if getattr(rule, name, None) is not None:
                high = (op, getattr(rule, name))
    if low and high:
        return f"must be in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low:
        return f"must be {'>=' if low[0] == '[' else '>'} {low[1]:g}"
    if high:
        return f"must be {'<=' if high[0] == ']' else '<'} {high[1]:g}"
    return "out of range"


def explain(
    exc: ValidationError, cls: type[BaseModel], values: Mapping[str, Any], name: str, **where: Any
) -> SettingsError:
    """The first problem of ``exc`` as one sentence naming the key and the source."""
    source, from_env = where["source"], where["from_env"]
    error = exc.errors()[0]
    key = str(error["loc"][0]) if error["loc"] else ""
    label = _label(name, key, from_env)
    if from_env and key in cls.model_fields:
        source = f"{source} ([{name}] {key})"
    if error["type"] == "extra_forbidden":
        return SettingsError(f"unknown key {label} in {source}; known: {sorted(cls.model_fields)}")
    field = cls.model_fields[key]
    got = values.get(key)
    kind = error["type"]
    if kind == "value_error":
        problem = str(error["msg"]).removeprefix("Value error, ")
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        problem = _bounds(field)
    elif kind == "literal_error":
        problem = f"must be one of {list(get_args(_base(field.annotation)))}"
    else:
        problem = f"expected {type_name(field.annotation)} ({error['msg']})"
    return SettingsError(f"{label} in {source}: {problem}, got {got!r}")


def check_section(
    name: str, values: Mapping[str, Any], source: str, *, from_env: bool, strict: bool = False
) -> dict[str, Any]:
    """``values`` of section ``name`` converted and checked; the keys given only."""
    cls = SECTIONS[name]
    shaped: dict[str, Any] = {}
    for key, value in values.items():
        field = cls.model_fields.get(key)
        if field is not None and from_env:
            try:
                value = _from_text(value, field.annotation)
            except ValueError as exc:
                label = _label(name, key, from_env)
                expected = type_name(field.annotation)
                raise SettingsError(
                    f"{label} in {source} ([{name}] {key}): expected {expected}, got {value!r} "
                    f"({exc})"
                ) from exc
        elif field is not None and optional(field.annotation) and isinstance(value, str):
            value = None if value.strip().lower() in NONE else value
        shaped[key] = value
    try:
        if strict:  # a TOML value: JSON's types, no conversion of text to numbers
            section = cls.model_validate_json(json.dumps(shaped), strict=True)
        else:
            section = cls.model_validate(shaped)
    except ValidationError as exc:
        raise explain(exc, cls, values, name, source=source, from_env=from_env) from None
    return {key: getattr(section, key) for key in shaped}


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


class _Source(PydanticBaseSettingsSource):
    """A source that reads everything at once (``__call__``), not field by field."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work


class TomlSource(_Source):
    """``selfimprove.toml``: top-level strings and one table per section."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        path = self.path
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read {path}: {exc}") from exc
        out: dict[str, Any] = {"config_file": path}
        for key, value in data.items():
            if key in SECTIONS:
                if not isinstance(value, dict):
                    raise SettingsError(f"[{key}] in {path} must be a table")
                out[key] = check_section(key, value, str(path), from_env=False, strict=True)
            elif key in ENV_ONLY:
                raise SettingsError(f"{key} in {path}: secrets are read from {TOP_LEVEL[key]} only")
            elif key not in TOP_LEVEL:
                known = sorted([*TOP_LEVEL, *(f"[{s}]" for s in SECTIONS)])
                raise SettingsError(f"unknown key {key} in {path}; known: {known}")
            elif not isinstance(value, str):
                raise SettingsError(f"{key} in {path}: expected a string, got {value!r}")
            elif key in URL_KEYS and urlsplit(value).password:
                raise SettingsError(
                    f"{key} in {path} holds a password; set {TOP_LEVEL[key]} instead"
                )
            elif value:
                out[key] = value
        return out


class EnvSource(_Source):
    """``SELFIMPROVE_<KEY>`` for the top-level keys, ``SELFIMPROVE_<SECTION>_<KEY>`` for a
    section's (an unknown key of a section's prefix is an error)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env = env

    def __call__(self) -> dict[str, Any]:
        env = dict(self.env)
        for old, (name, key) in ALIASES.items():
            if old in env:
                env.setdefault(env_var(name, key), env.pop(old))
        out: dict[str, Any] = {k: env[v] for k, v in TOP_LEVEL.items() if env.get(v)}
        for name in SECTIONS:
            prefix = f"{ENV_PREFIX}{name.upper()}_"
            values = {
                var.removeprefix(prefix).lower(): text
                for var, text in env.items()
                if var.startswith(prefix)
            }
            if values:
                out[name] = check_section(name, values, "the environment", from_env=True)
        return out
