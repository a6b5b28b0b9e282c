"""Recovering a stuck retrain state by hand, on a real SQLite store."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from selfimprove_assets.lib.loop.cycle import NoDefaultModel, UnknownModelType, reset
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.lib.store.factories import stored_document


def stuck_store(url: str, n: int = 6) -> FeedbackStore:
    """Classifier v1 INPROGRESS with a cycle that claimed all ``n`` committed rows (what a run
    killed after curation leaves behind)."""
    store = FeedbackStore(url)
    store.models.register_version(
        model_type="classifier", version="1", registry_name="doc-classifier"
    )
    store.models.set_default(
        "classifier", "1", thresholds={"doc_type": 0.9}, state=RetrainState.IDLE
    )
    claim_rows(store, n)
    return store


def claim_rows(store: FeedbackStore, n: int) -> None:
    """Commit ``n`` reviewed documents for classifier v1 (the default) and let an INPROGRESS
    cycle claim them all."""
    ids = []
    for i in range(n):
        doc = stored_document(
            store, f"h{i}", [("classifier", "1", {"doc_type": "invoice", "confidence": 0.9})]
        )
        store.commits.set_review(doc, verified={"classifier": {"doc_type": "receipt"}})
        ids.append(doc)
    store.commits.commit_documents(ids)
    store.cycles.set_retrain_state("classifier", RetrainState.INPROGRESS, reason="curating")
    cycle = store.cycles.open_cycle("classifier", "1", {})
    rows = store.curation.committed_feedback("classifier", "1")
    assert len(rows) == n
    store.cycles.mark_retrained([r["feedback_id"] for r in rows], cycle.cycle_id)
    assert store.curation.committed_feedback("classifier", "1") == []


def test_reset_moves_inprogress_to_idle_and_releases_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = stuck_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with caplog.at_level(logging.INFO):
        result = reset(store, "classifier", "alice", "run killed by OOM")
    assert result.changed and result.previous_state == "INPROGRESS" and result.state == "IDLE"
    assert result.rows_released == 6
    default = store.models.get_default("classifier")
    assert default is not None and default.retrain_state == "IDLE"
    assert default.state_reason == "reset from INPROGRESS by alice: run killed by OOM"
    assert len(store.curation.committed_feedback("classifier", "1")) == 6
    cycle = store.cycles.current_cycle("classifier")
    assert cycle is not None and cycle.state == "FAILED" and cycle.cycle_id == result.cycle_id
    assert any("audit:" in r.message and "alice" in r.message for r in caplog.records)

    again = reset(store, "classifier", "alice")
    assert not again.changed and again.rows_released == 0
    assert again.previous_state == again.state == "IDLE"
    assert store.models.get_default("classifier").state_reason == default.state_reason  # type: ignore[union-attr]
    store.dispose()


@pytest.mark.parametrize("state", [RetrainState.TRIGGERED, RetrainState.FAILED])
def test_reset_from_triggered_or_failed(tmp_path: Path, state: RetrainState) -> None:
    store = stuck_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.cycles.set_retrain_state("classifier", state)
    result = reset(store, "classifier", "bob")
    assert result.changed and result.previous_state == state.value
    assert store.models.get_default("classifier").retrain_state == "IDLE"  # type: ignore[union-attr]
    assert len(store.curation.committed_feedback("classifier", "1")) == 6
    store.dispose()


def test_completed_state_is_left_alone(tmp_path: Path) -> None:
    store = stuck_store(f"sqlite:///{tmp_path / 'db.sqlite'}", n=2)
    cycle = store.cycles.current_cycle("classifier")
    assert cycle is not None
    store.cycles.update_cycle(cycle.cycle_id, cycle.attempt, state=RetrainState.COMPLETED)
    store.cycles.set_retrain_state("classifier", RetrainState.COMPLETED)
    result = reset(store, "classifier", "bob")
    assert not result.changed and result.state == "COMPLETED" and result.rows_released == 0
    store.dispose()


def test_unknown_type_and_missing_default_are_clear_errors(tmp_path: Path) -> None:
    store = stuck_store(f"sqlite:///{tmp_path / 'db.sqlite'}", n=1)
    with pytest.raises(UnknownModelType, match="unknown model type 'nope'"):
        reset(store, "nope", "bob")
    with pytest.raises(NoDefaultModel, match="no default extractor"):
        reset(store, "extractor", "bob")
    store.dispose()
