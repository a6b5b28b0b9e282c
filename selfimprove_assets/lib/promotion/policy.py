"""When a candidate may replace the default, and the thresholds that follow a promotion.

The policy is data (a dict loaded from YAML or the launchpad), so that operators change the bar
without a code change, and every decision lists every rule it applied — passed and failed —
so a rejected candidate explains itself in the UI.

Rules, in order:

1. **No golden regression.** On the golden (original held-out) set the overall figure may
   drop by at most ``golden_tolerance``. The golden set stands for everything the model must
   keep doing well; it is the guard against forgetting.
2. **Critical fields.** Each type/label in ``critical`` may drop by at most its own tolerance
   on the golden set (falling back to the production slice when the golden set lacks it); a
   critical field that neither report measures fails, since its safety cannot be shown.
3. **Significant improvement where it mattered.** Each field in
   ``require_significant_improvement_on`` (the token ``"trigger fields"`` expands to the
   fields that triggered the retrain) must improve on the recent production slice — the data
   the model was failing on — with a one-sided p-value below ``alpha``. Requiring *each*
   field to pass at ``alpha`` is an intersection-union test, so no multiplicity correction
   is needed for the overall decision to keep level ``alpha``.
4. Optionally, ``production_tolerance`` bounds the drop of the overall production figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from selfimprove_assets.lib.evaluation.compare import ComparisonReport, FieldComparison

TRIGGER_FIELDS = "trigger fields"


class PolicyError(ValueError):
    """The promotion policy configuration is invalid; the message names the key."""


@dataclass
class PromotionPolicy:
    alpha: float = 0.05
    golden_tolerance: float = 0.01
    critical: dict[str, float] = field(default_factory=dict)
    require_significant_improvement_on: list[str] = field(default_factory=lambda: [TRIGGER_FIELDS])
    production_tolerance: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise PolicyError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.golden_tolerance < 0:
            raise PolicyError(f"golden_tolerance must be >= 0, got {self.golden_tolerance}")
        for name, tol in self.critical.items():
            if not isinstance(tol, int | float) or tol < 0:
                raise PolicyError(f"critical[{name!r}] must be a tolerance >= 0, got {tol!r}")
        if self.production_tolerance is not None and self.production_tolerance < 0:
            raise PolicyError("production_tolerance must be >= 0")
        if isinstance(self.require_significant_improvement_on, str):
            raise PolicyError("require_significant_improvement_on must be a list of field names")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PromotionPolicy:
        """Build from a plain mapping (parsed YAML/JSON); unknown keys are an error."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(f"unknown promotion policy keys {unknown}; known: {sorted(known)}")
        if "critical" in data:
            data["critical"] = {str(k): float(v) for k, v in dict(data["critical"]).items()}
        if "require_significant_improvement_on" in data:
            value = data["require_significant_improvement_on"]
            data["require_significant_improvement_on"] = (
                [value] if isinstance(value, str) else [str(v) for v in value]
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PromotionDecision:
    promote: bool
    reasons: list[str]
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(c: FieldComparison) -> str:
    return f"{c.default:.3f} -> {c.candidate:.3f} (n={c.n})"


def _drop_rule(
    label: str, comp: FieldComparison | None, tolerance: float, where: str
) -> tuple[bool, str]:
    if comp is None or comp.delta is None or comp.default is None or comp.candidate is None:
        return False, f"FAIL {label}: not measured on the {where} set"
    ok = comp.delta >= -tolerance
    verdict = "PASS" if ok else "FAIL"
    return ok, (
        f"{verdict} {label}: {comp.metric} {_fmt(comp)} on the {where} set, "
        f"change {comp.delta:+.3f} (allowed drop {tolerance:.3f})"
    )


def decide(
    policy: PromotionPolicy,
    golden_report: ComparisonReport,
    production_report: ComparisonReport | None,
    trigger_fields: list[str],
) -> PromotionDecision:
    """Apply the rules in the module docstring; promote only when every rule passes."""
    results: list[tuple[bool, str]] = []
    results.append(
        _drop_rule(
            f"overall {golden_report.metric}", golden_report.overall, policy.golden_tolerance,
            "golden",
        )
    )  # fmt: skip
    for name, tol in sorted(policy.critical.items()):
        comp, where = golden_report.get(name), "golden"
        if comp is None and production_report is not None:
            comp, where = production_report.get(name), "production"
        results.append(_drop_rule(f"critical {name!r}", comp, tol, where))

    required: list[str] = []
    for name in policy.require_significant_improvement_on:
        for f in trigger_fields if name == TRIGGER_FIELDS else [name]:
            if f not in required:
                required.append(f)
    for name in required:
        comp = production_report.get(name) if production_report is not None else None
        if comp is None or comp.p_value is None or comp.delta is None:
            results.append((False, f"FAIL improvement on {name!r}: not measured on production"))
            continue
        ok = comp.delta > 0 and comp.p_value < policy.alpha
        results.append(
            (
                ok,
                f"{'PASS' if ok else 'FAIL'} improvement on {name!r}: {comp.metric} {_fmt(comp)} "
                f"on production, change {comp.delta:+.3f}, p={comp.p_value:.3g} "
                f"({comp.test}) vs alpha {policy.alpha:g}",
            )
        )
    if policy.production_tolerance is not None:
        results.append(
            _drop_rule(
                f"overall {production_report.metric if production_report else 'figure'}",
                production_report.overall if production_report else None,
                policy.production_tolerance,
                "production",
            )
        )
    if not required:
        results.append((True, "note: no field requires a significant improvement"))
    promote = all(ok for ok, _ in results)
    return PromotionDecision(
        promote=promote,
        reasons=[r for _, r in results],
        failed=[r for ok, r in results if not ok],
    )


def rebase_thresholds(
    new_metrics: Mapping[str, float],
    margin: float = 0.03,
    floor: float = 0.5,
    cap: float = 0.99,
) -> dict[str, float]:
    """New retrain thresholds after a promotion: ``clamp(metric - margin, floor, cap)``.

    The trigger then fires relative to what the *new* default achieves. The margin leaves room
    for noise, so a model at its own baseline does not re-trigger; the floor keeps a weak
    field from getting an uselessly low bar; the cap keeps a near-perfect field from needing
    an accuracy it cannot be shown to reach on a realistic sample.
    """
    if not 0.0 <= floor <= cap <= 1.0:
        raise ValueError(f"need 0 <= floor <= cap <= 1, got floor={floor}, cap={cap}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    out: dict[str, float] = {}
    for name, value in new_metrics.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"metric {name!r} must be in [0, 1], got {value}")
        out[name] = min(cap, max(floor, value - margin))
    return out
