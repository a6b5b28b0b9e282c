"""When a candidate may replace the default, and the thresholds that follow a promotion.

The policy is data (a dict loaded from YAML or the launchpad), so that operators change the bar
without a code change, and every decision lists every rule it applied — passed and failed —
so a rejected candidate explains itself in the UI. ``PromotionDecision.rules`` holds the same
rules as data (the figures, the test, the p-values and the sample size of each).

Regressions are judged with their sample (``regression``, default ``significant``): a figure
that drops by more than its tolerance fails only when the one-sided paired test says the
candidate is worse (``p_worse < alpha``; McNemar for a classifier, paired bootstrap for an
extractor) — a point drop of 0.03 on 13 entities is noise, not a regression. ``point`` makes
any point drop beyond the tolerance fail. The reason prints the test, ``p(worse)``, the
interval of the change and ``n``.

Rules, in order:

1. **No golden regression.** On the golden (original held-out) set the overall figure may
   not regress by more than ``golden_tolerance``. The golden set stands for everything the
   model must keep doing well; it is the guard against forgetting.
2. **Critical fields.** Each type/label in ``critical`` may not regress by more than its own
   tolerance on either set that measures it; a critical field that neither report measures
   fails, since its safety cannot be shown.
3. **Significant improvement where it mattered**, with a one-sided p-value below ``alpha``,
   on the sets the combination ``rule`` names: ``either`` (the default) — the golden set *or*
   the recent production slice, whichever shows it; ``both``; or only ``production`` /
   ``golden``. With the regression rules guarding both sets (the golden overall figure, the
   critical fields on each, the trigger fields on the slice), the default reads: *a significant
   gain on either set, with no significant regression on both, promotes.* A production slice
   of a dozen documents rarely shows a real gain that the golden set shows plainly; requiring
   it there alone rejects candidates the data could not yet judge.

   - the token ``"trigger fields"`` stands for the fields that triggered the retrain. With
     ``trigger_test: pooled`` (the default) they are tested *together*: one paired test of
     their combined figure (micro-F1 over their pooled tp / fp / fn, or accuracy over the
     documents of the trigger types), which must improve significantly; and none of them
     may regress by more than ``trigger_field_tolerance`` on the production slice. With
     ``trigger_test: each``, every trigger field must improve significantly on its own;
   - any other name in ``require_significant_improvement_on`` is tested on its own.

   Why pooled by default: a retrain is triggered by the fields that fell below their
   threshold, and drift often drags down a near-perfect field along with the broken one.
   A per-field test cannot show that a field at 0.97 on 50 documents became 1.00 (p ≈ 0.07
   at best), so requiring *each* field to pass — an intersection-union test — rejects
   candidates that repaired exactly what broke. One test of the pooled figure keeps the
   level ``alpha`` (it is a single test) and has the power of all the trigger fields'
   entities together; the per-field bound keeps a gain on one field from hiding a loss
   on another.
4. Optionally, ``production_tolerance`` bounds the regression of the overall production figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from selfimprove_assets.lib.defaults import (
    EVIDENCE_RULES,
    REGRESSION_TESTS,
    TRIGGER_FIELDS,
    TRIGGER_TESTS,
    PromotionSettings,
    ThresholdSettings,
)
from selfimprove_assets.lib.evaluation.compare import ComparisonReport, FieldComparison
from selfimprove_assets.lib.promotion.rules import (
    RuleResult,
    automation_rule,
    improvement_rule,
    note,
    regression_rule,
)

POOLED, EACH = TRIGGER_TESTS
_DEFAULT = PromotionSettings()  # the defaults live in lib.defaults (one source)


class PolicyError(ValueError):
    """The promotion policy configuration is invalid; the message names the key."""


@dataclass
class PromotionPolicy:
    alpha: float = _DEFAULT.alpha
    golden_tolerance: float = _DEFAULT.golden_tolerance
    critical: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT.critical))
    require_significant_improvement_on: list[str] = field(
        default_factory=lambda: list(_DEFAULT.require_significant_improvement_on)
    )
    production_tolerance: float | None = _DEFAULT.production_tolerance
    trigger_test: str = _DEFAULT.trigger_test
    trigger_field_tolerance: float = _DEFAULT.trigger_field_tolerance
    rule: str = _DEFAULT.rule
    regression: str = _DEFAULT.regression

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
        if self.trigger_test not in TRIGGER_TESTS:
            raise PolicyError(
                f"trigger_test must be one of {list(TRIGGER_TESTS)}, got {self.trigger_test!r}"
            )
        if self.trigger_field_tolerance < 0:
            raise PolicyError(
                f"trigger_field_tolerance must be >= 0, got {self.trigger_field_tolerance}"
            )
        if self.rule not in EVIDENCE_RULES:
            raise PolicyError(f"rule must be one of {list(EVIDENCE_RULES)}, got {self.rule!r}")
        if self.regression not in REGRESSION_TESTS:
            raise PolicyError(
                f"regression must be one of {list(REGRESSION_TESTS)}, got {self.regression!r}"
            )
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

    @classmethod
    def from_settings(cls, settings: PromotionSettings) -> PromotionPolicy:
        """The policy of the ``[promotion]`` settings (``lib.settings``)."""
        return cls.from_dict(settings.policy_dict())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PromotionDecision:
    """``reasons`` / ``failed``: one sentence per rule; ``rules``: the same as data (each
    rule's check, label, pass and per-set figures: n, both figures, change, interval, test,
    p-values); ``rule``: the combination rule that was applied."""

    promote: bool
    reasons: list[str]
    failed: list[str] = field(default_factory=list)
    rule: str = _DEFAULT.rule
    rules: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pool(report: ComparisonReport | None, trigger_fields: list[str]) -> FieldComparison | None:
    """The trigger fields' pooled figure in ``report`` (a pool of one is that field)."""
    if report is None:
        return None
    pool = report.groups.get(TRIGGER_FIELDS)
    if pool is None and len(trigger_fields) == 1:
        pool = report.get(trigger_fields[0])
    return pool


def _reports(
    golden: ComparisonReport, production: ComparisonReport | None
) -> dict[str, ComparisonReport]:
    return {"golden": golden} | ({"production": production} if production is not None else {})


def _trigger_field_rules(
    policy: PromotionPolicy, production: ComparisonReport | None, trigger_fields: list[str]
) -> list[RuleResult]:
    """No trigger field may regress beyond ``trigger_field_tolerance`` on the production slice
    (the golden set is guarded by its overall figure and the critical fields)."""
    out = []
    for name in trigger_fields:
        comp = production.get(name) if production is not None else None
        if comp is None or comp.delta is None:
            out.append(note(f"trigger field {name!r} is not measured on its own on production"))
            continue
        out.append(_regression(policy, f"trigger field {name!r}", comp,
                               policy.trigger_field_tolerance, "production"))  # fmt: skip
    return out


def _regression(
    policy: PromotionPolicy, label: str, comp: FieldComparison | None, tol: float, where: str
) -> RuleResult:
    return regression_rule(
        label, comp, tol, where, alpha=policy.alpha, regression=policy.regression
    )


def decide(
    policy: PromotionPolicy,
    golden_report: ComparisonReport,
    production_report: ComparisonReport | None,
    trigger_fields: list[str],
    automation: tuple[float | None, float | None] | None = None,
    automation_tolerance: float = 0.05,
) -> PromotionDecision:
    """Apply the rules in the module docstring; promote only when every rule passes.

    ``automation``: the default's and the candidate's field automation rates at the target
    accuracy on the golden set (``lib.automation``); a drop beyond ``automation_tolerance``
    blocks the promotion (``rules.automation_rule``)."""
    reports = _reports(golden_report, production_report)
    results = [
        _regression(policy, f"overall {golden_report.metric}", golden_report.overall,
                    policy.golden_tolerance, "golden")
    ]  # fmt: skip
    for name, tol in sorted(policy.critical.items()):
        measured = [(w, r.get(name)) for w, r in reports.items() if r.get(name) is not None]
        if not measured:
            results.append(_regression(policy, f"critical {name!r}", None, tol, "golden"))
        for where, comp in measured:
            results.append(_regression(policy, f"critical {name!r}", comp, tol, where))

    pooled = policy.trigger_test == POOLED and TRIGGER_FIELDS in (
        policy.require_significant_improvement_on
    )
    required: list[str] = []
    for name in policy.require_significant_improvement_on:
        if name == TRIGGER_FIELDS and pooled:
            continue
        for f in trigger_fields if name == TRIGGER_FIELDS else [name]:
            if f not in required:
                required.append(f)
    if pooled and trigger_fields:
        label = f"the trigger fields together ({', '.join(trigger_fields)})"
        comps = {w: _pool(r, trigger_fields) for w, r in reports.items()}
        results.append(improvement_rule(label, comps, policy.alpha, policy.rule))
        results.extend(_trigger_field_rules(policy, production_report, trigger_fields))
    for name in required:
        comps = {w: r.get(name) for w, r in reports.items()}
        results.append(improvement_rule(repr(name), comps, policy.alpha, policy.rule))
    if policy.production_tolerance is not None:
        results.append(
            _regression(
                policy,
                f"overall {production_report.metric if production_report else 'figure'}",
                production_report.overall if production_report else None,
                policy.production_tolerance,
                "production",
            )
        )
    if not required and not (pooled and trigger_fields):
        results.append(note("no field requires a significant improvement"))
    if automation is not None:
        results.append(automation_rule(*automation, automation_tolerance))
    return PromotionDecision(
        promote=all(r.passed for r in results),
        reasons=[r.reason for r in results],
        failed=[r.reason for r in results if not r.passed],
        rule=policy.rule,
        rules=[r.to_dict() for r in results],
    )


DEFAULT_THRESHOLD_FLOOR = ThresholdSettings().floor  # [thresholds] floor (lib.defaults)


def rebase_thresholds(
    new_metrics: Mapping[str, float],
    margin: float = ThresholdSettings().margin,
    floor: float = DEFAULT_THRESHOLD_FLOOR,
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
