"""A real SQLite store with classifier v1 as the default, and committed reviews of it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from selfimprove_assets.lib.loop import cycle
from selfimprove_assets.lib.store.repository import CycleInfo, FeedbackStore
from selfimprove_assets.lib.types import RetrainState


def start_cycle(
    store: FeedbackStore,
    *,
    run_id: str | None = None,
    trigger_tags: Mapping[str, str] | None = None,
    n_rows: int | None = None,
) -> CycleInfo:
    """Curation's part for classifier v1: INPROGRESS, then open (or re-open) the cycle on the
    first ``n_rows`` committed rows (all of them by default)."""
    cycle.begin(store, "classifier")
    rows = store.curation.committed_feedback("classifier", "1")[:n_rows]
    return cycle.start(
        store,
        "classifier",
        "1",
        trigger_tags=trigger_tags or {},
        run_id=run_id,
        feedback_ids=[r["feedback_id"] for r in rows],
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'store.db'}")
    store.models.register_version(
        model_type="classifier", version="1", registry_name="doc-classifier"
    )
    store.models.set_default(
        "classifier", "1", thresholds={"doc_type": 0.9}, state=RetrainState.IDLE
    )
    yield store
    store.dispose()
