"""Invariants of the feedback data, checked next to the assets they guard."""

from collections.abc import Callable

import dagster as dg
import pandas as pd

from selfimprove_assets.defs.resources import FeedbackStoreResource
from selfimprove_assets.lib.curation.quality import find_suspicious_feedback
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES


def build_feedback_checks(model_type: str) -> list[dg.AssetChecksDefinition]:
    asset = f"{model_type}_accuracy"

    @dg.asset_check(
        asset=asset,
        name="counters_equal_recount",
        description="Running counters equal a full recount of committed feedback rows.",
    )
    def _counters(store: FeedbackStoreResource) -> dg.AssetCheckResult:
        return _of_default(store, model_type, _counters_equal_recount)

    @dg.asset_check(
        asset=asset,
        name="no_row_archived_and_live",
        description="No feedback row is both in feedback_data and feedback_archive.",
    )
    def _overlap(store: FeedbackStoreResource) -> dg.AssetCheckResult:
        overlap = store.get().counters.archived_and_live_overlap()
        return dg.AssetCheckResult(passed=overlap == 0, metadata={"overlapping_rows": overlap})

    @dg.asset_check(
        asset=f"{model_type}_retraining_set",
        name="not_empty",
        description="A retraining set has feedback rows to learn from.",
        blocking=True,
    )
    def _not_empty(store: FeedbackStoreResource) -> dg.AssetCheckResult:
        cycle = store.get().cycles.current_cycle(model_type)
        if cycle is None:
            return dg.AssetCheckResult(passed=False, description="no retraining cycle recorded")
        rows = [
            r
            for r in store.get().curation.committed_feedback(
                model_type, cycle.parent_version, include_retrained=True
            )
            if r["retrain_cycle"] == cycle.cycle_id
        ]
        return dg.AssetCheckResult(
            passed=bool(rows), metadata={"cycle": cycle.cycle_id, "rows": len(rows)}
        )

    @dg.asset_check(
        asset=asset,
        name="suspicious_feedback",
        description="Feedback that contradicts peers (a reviewer correcting far more than the "
        "others, or a correction against the majority on identical documents). Such rows are "
        "left out of curation and listed here for a human.",
    )
    def _suspicious(store: FeedbackStoreResource) -> dg.AssetCheckResult:
        return _of_default(store, model_type, _suspicious_rows)

    return [_counters, _overlap, _not_empty, _suspicious]


def _of_default(
    store: FeedbackStoreResource,
    model_type: str,
    check: Callable[[FeedbackStore, str, str], dg.AssetCheckResult],
) -> dg.AssetCheckResult:
    """``check`` of the default version's feedback; it passes vacuously before there is one."""
    feedback = store.get()
    default = feedback.models.get_default(model_type)
    if default is None:
        return dg.AssetCheckResult(passed=True, description="no default yet")
    return check(feedback, model_type, default.version)


def _counters_equal_recount(
    feedback: FeedbackStore, model_type: str, version: str
) -> dg.AssetCheckResult:
    live = feedback.counters.live_counters(model_type, version)
    recount = feedback.counters.recount(model_type, version)
    diff = {
        f: {"counter": live.get(f), "recount": recount.get(f)}
        for f in set(live) | set(recount)
        if live.get(f) != recount.get(f)
    }
    return dg.AssetCheckResult(
        passed=not diff,
        metadata={"fields": len(live), "mismatches": dg.MetadataValue.json(diff)},
    )


def _suspicious_rows(feedback: FeedbackStore, model_type: str, version: str) -> dg.AssetCheckResult:
    rows = feedback.curation.curation_rows(model_type, version)
    if not rows:
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": 0})
    report = find_suspicious_feedback(pd.DataFrame(rows))
    by_id = {r["feedback_id"]: r for r in rows}
    listed = [
        f"| {fid} | {by_id[fid]['document_id']} | {by_id[fid]['reviewer']} | {reason} |"
        for fid, reason in sorted(report.flagged.items())[:50]
    ]
    table = "| feedback | document | reviewer | why |\n|---|---|---|---|\n" + "\n".join(listed)
    return dg.AssetCheckResult(
        passed=not report.flagged,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_checked": len(rows),
            "flagged": len(report.flagged),
            "flagged_rows": dg.MetadataValue.md(table if listed else "_none_"),
        },
    )


feedback_checks = [c for t in MODEL_TYPES for c in build_feedback_checks(t)]
