"""A version's automation figures from the store: how much goes straight through, how right the
auto-accepted fields are by the QA sample, and the stratified live accuracy.

The figures are computed from the feedback rows of the version (``routed_predictions``), so a
version registered before straight-through processing shows nothing accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selfimprove_assets.lib.automation.measure import Stratum, qa_accuracy, stratified_accuracy
from selfimprove_assets.lib.store.outcomes import entity_key
from selfimprove_assets.lib.store.repository import FeedbackStore

ACCEPTED_FLAGS = ("auto_accepted", "qa_accepted")


def _fields(predicted: dict[str, Any]) -> list[dict[str, Any]]:
    """A prediction's fields: its entities, or its type (as the ``doc_type`` field)."""
    if "entities" in predicted:
        return [e for e in predicted.get("entities") or [] if isinstance(e, dict)]
    if predicted.get("doc_type") is None:
        return []
    return [{"label": "doc_type", **predicted}]


def _right(field: dict[str, Any], verified: dict[str, Any]) -> bool:
    if "entities" not in verified:
        return field.get("doc_type") == verified.get("doc_type")
    return any(entity_key(v) == entity_key(field) for v in verified.get("entities") or [])


def _estimate(e: Any) -> dict[str, Any]:
    return {"value": e.accuracy, "n": e.n, "lower": e.interval.lower, "upper": e.interval.upper}


def automation_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Automation rates (fields, documents), per-field QA accuracy of accepted fields with its
    Wilson interval, and the stratified accuracy of all fields over all traffic."""
    documents = len(rows)
    straight = sum(1 for r in rows if r["needs_review"] is False)
    n_fields = accepted = 0
    qa: dict[str, list[int]] = {}
    strata = {"review": [0, 0, 0], "qa": [0, 0, 0]}  # right, reviewed, traffic
    for row in rows:
        fields = _fields(row["predicted"])
        n_fields += len(fields)
        accepted += sum(1 for f in fields if any(f.get(k) for k in ACCEPTED_FLAGS))
        stratum = strata["review" if row["needs_review"] is not False else "qa"]
        stratum[2] += 1
        verified = row["verified"]
        if not row["committed"] or verified is None:
            continue
        for f in fields:
            if f.get("auto_accepted"):
                continue  # shown pre-confirmed: not evidence (the QA sample measures these)
            ok = _right(f, verified)
            stratum[0] += int(ok)
            stratum[1] += 1
            if row["qa_sample"] and f.get("qa_accepted"):
                counts = qa.setdefault(str(f.get("label")), [0, 0])
                counts[0] += int(ok)
                counts[1] += 1
    live = stratified_accuracy([Stratum(*v) for v in strata.values()])
    return {
        "documents": documents,
        "document_rate": straight / documents if documents else 0.0,
        "fields": n_fields,
        "field_rate": accepted / n_fields if n_fields else 0.0,
        "qa_accuracy": {k: _estimate(qa_accuracy(*v)) for k, v in sorted(qa.items())},
        "stratified_accuracy": _estimate(live),
    }


def version_automation(store: FeedbackStore, model_type: str, version: str) -> dict[str, Any]:
    return automation_summary(store.documents.routed_predictions(model_type, version))
