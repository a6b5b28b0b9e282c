"""Dagster config classes derived from the settings sections (``lib.defaults``), so a knob is
declared once: its name, type and description come from the section's field.

- ``rules_config``: every field required, no default (the ``rules`` resource is built from the
  settings in effect, ``LoopRules.from_settings``).
- ``launchpad_config``: every field optional and unset (None): a run's override of the settings
  in effect, never a second default.
- ``settings_fields``: the section's defaults (the trainer resource, which
  ``default_resources`` builds from the settings in effect).

Dagster config has no tuples or choices: a tuple becomes a list and a choice a string; the
section checks the values when they are turned back into settings (``section_of``).
"""

from collections.abc import Mapping
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import dagster as dg
from pydantic import Field, create_model

from selfimprove_assets.lib.defaults import Section

Mode = Literal["required", "launchpad", "default"]


def dagster_type(annotation: Any) -> Any:
    """The Dagster-config type of a section field's annotation."""
    args = get_args(annotation)
    if get_origin(annotation) in (Union, UnionType) and NoneType in args:
        (inner,) = [a for a in args if a is not NoneType]
        return dagster_type(inner) | None
    origin = get_origin(annotation)
    if origin is Literal:
        return str
    if origin in (tuple, list):
        return list[args[0]]
    if origin in (dict, Mapping):
        return dict[args[0], args[1]]
    return annotation


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def section_fields(section: type[Section], mode: Mode, name: str = "") -> dict[str, Any]:
    """``create_model`` field definitions of ``section`` for ``mode``."""
    out: dict[str, Any] = {}
    for key, field in section.model_fields.items():
        kind = dagster_type(field.annotation)
        text = field.description or ""
        if mode == "required":
            out[key] = (kind, Field(description=text))
        elif mode == "launchpad":
            unset = f" Unset: the settings in effect ([{name}] {key})."
            out[key] = (kind | None, Field(default=None, description=text + unset))
        else:
            default = _plain(field.get_default(call_default_factory=True))
            out[key] = (kind, Field(default=default, description=text))
    return out


def derived_config(
    class_name: str,
    section: type[Section],
    mode: Mode,
    *,
    name: str = "",
    base: type[Any] = dg.Config,
    doc: str | None = None,
) -> type[Any]:
    """A config class (or resource base) with ``section``'s fields for ``mode``."""
    model = create_model(  # type: ignore[call-overload]
        class_name,
        __base__=base,
        __doc__=doc or section.__doc__,
        **section_fields(section, mode, name),
    )
    return model


def section_of(section: type[Section], config: Any) -> Any:
    """The section's settings from a derived config's values (checked by the section)."""
    return section(**{key: getattr(config, key) for key in section.model_fields})


def overridden(section: Section, config: Any) -> Any:
    """``section`` with the launchpad fields that are set (not None) replaced, checked."""
    given = {
        k: getattr(config, k) for k in type(section).model_fields if getattr(config, k) is not None
    }
    return type(section)(**{**dict(section), **given})
