"""The promotion policy's rules, one function each: a regression judged with its sample, and an
improvement shown on the golden set, the production slice or both.

Each rule returns a :class:`RuleResult`: whether it passed, the sentence the UI and the alert
show (the test, its p-value, the interval and the sample size), and the same figures as data
(``to_dict``) so that a benchmark or a report can print them without parsing the sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from selfimprove_assets.lib.evaluation.compare import FieldComparison

SIGNIFICANT = "significant"
EITHER, BOTH = "either", "both"
SETS = ("golden", "production")
_WHERE = {"golden": "the golden set", "production": "the production slice"}


@dataclass(frozen=True)
class RuleResult:
    passed: bool
    reason: str
    check: str  # "regression", "improvement" or "note"
    label: str
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)  # dataset -> figures

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "check": self.check,
            "label": self.label,
            "reason": self.reason,
            "figures": self.figures,
        }


def note(text: str) -> RuleResult:
    return RuleResult(True, f"note: {text}", "note", "")


def figures(comp: FieldComparison) -> dict[str, Any]:
    """The figures of one comparison a reason cites, as plain values."""
    return {
        "metric": comp.metric,
        "n": comp.n,
        "default": comp.default,
        "candidate": comp.candidate,
        "delta": comp.delta,
        "delta_ci": list(comp.delta_ci),
        "p_better": comp.p_value,
        "p_worse": comp.p_worse,
        "test": comp.test,
    }


def _measured(comp: FieldComparison | None) -> bool:
    return not (
        comp is None or comp.delta is None or comp.default is None or comp.candidate is None
    )


def _fmt(c: FieldComparison) -> str:
    return f"{c.default:.3f} -> {c.candidate:.3f} (n={c.n})"


def _ci(c: FieldComparison) -> str:
    lo, hi = c.delta_ci
    if lo is None or hi is None:
        return ""
    return f", interval of the change [{lo:+.3f}, {hi:+.3f}]"


def regression_rule(
    label: str,
    comp: FieldComparison | None,
    tolerance: float,
    where: str,
    *,
    alpha: float,
    regression: str,
) -> RuleResult:
    """A drop beyond ``tolerance`` fails; with ``regression == "significant"`` only when the
    one-sided paired test says the candidate is worse (``p_worse < alpha``): a point drop on a
    dozen entities is noise until the test says otherwise."""
    if not _measured(comp):
        return RuleResult(False, f"FAIL {label}: not measured on the {where} set", "regression",
                          label)  # fmt: skip
    assert comp is not None and comp.delta is not None
    head = (
        f"{label}: {comp.metric} {_fmt(comp)} on the {where} set, change {comp.delta:+.3f} "
        f"(allowed drop {tolerance:.3f})"
    )
    data = {where: figures(comp)}
    if comp.delta >= -tolerance:
        return RuleResult(True, f"PASS {head}", "regression", label, data)
    if regression != SIGNIFICANT or comp.p_worse is None:
        return RuleResult(False, f"FAIL {head}", "regression", label, data)
    test = f"{comp.test} p(worse)={comp.p_worse:.3g}"
    if comp.p_worse < alpha:
        why = f"a significant regression: {test} < alpha {alpha:g}{_ci(comp)}"
        return RuleResult(False, f"FAIL {head}, {why}", "regression", label, data)
    why = f"not a significant regression on n={comp.n}: {test} >= alpha {alpha:g}{_ci(comp)}"
    return RuleResult(True, f"PASS {head}, {why}", "regression", label, data)


def _gain(comp: FieldComparison | None, alpha: float) -> tuple[bool, str]:
    if not _measured(comp) or comp is None or comp.p_value is None or comp.delta is None:
        return False, "not measured"
    ok = comp.delta > 0 and comp.p_value < alpha
    return ok, (
        f"{comp.metric} {_fmt(comp)}, change {comp.delta:+.3f}, p={comp.p_value:.3g} "
        f"({comp.test}) vs alpha {alpha:g}"
    )


def improvement_rule(
    label: str, comps: Mapping[str, FieldComparison | None], alpha: float, rule: str
) -> RuleResult:
    """A significant gain (one-sided paired test, ``p < alpha``) where ``rule`` asks for one:
    ``either`` set, ``both``, or only ``production`` / ``golden``."""
    sets = list(SETS) if rule in (EITHER, BOTH) else [rule]
    results = {s: _gain(comps.get(s), alpha) for s in sets}
    data = {s: figures(c) for s in sets if (c := comps.get(s)) is not None and _measured(c)}
    name = f"improvement on {label}"
    if all(text == "not measured" for _, text in results.values()):
        where = " or ".join(_WHERE[s] for s in sets)
        return RuleResult(False, f"FAIL {name}: not measured on {where}", "improvement", label)
    passed = (
        any(ok for ok, _ in results.values())
        if rule == EITHER
        else all(ok for ok, _ in results.values())
    )
    shown = {EITHER: "on the golden set or the production slice", BOTH: "on both sets"}
    where = shown[rule] if rule in shown else f"on {_WHERE[rule]}"
    parts = "; ".join(f"{s}: {text}" for s, (_, text) in results.items())
    reason = (
        f"{'PASS' if passed else 'FAIL'} {name}: significant gain {where} (rule {rule!r}): {parts}"
    )
    return RuleResult(passed, reason, "improvement", label, data)


def automation_rule(default: float | None, candidate: float | None, tolerance: float) -> RuleResult:
    """The candidate may not auto-accept a smaller share of the golden set's fields, at the
    target accuracy, than the default by more than ``tolerance``. Unmeasured (either model
    without cut-offs): a note, not a block, since an older default accepts nothing."""
    label = "automation rate"
    if default is None or candidate is None:
        return note("automation rate not compared (a version without cut-offs)")
    figs = {"golden": {"metric": "field automation rate", "default": default,
                       "candidate": candidate, "delta": candidate - default,
                       "tolerance": tolerance}}  # fmt: skip
    change = f"{default:.3f} -> {candidate:.3f} on the golden set (tolerance {tolerance:.3f})"
    if candidate < default - tolerance:
        return RuleResult(False, f"FAIL automation rate falls: {change}", "regression", label, figs)
    return RuleResult(True, f"PASS automation rate holds: {change}", "regression", label, figs)
