"""The model table (``store.models``): registered versions and one default per type."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.store.repository import FeedbackStore, NotFound
from selfimprove_assets.lib.types import RetrainState


def test_model_table_default_and_state_machine(store_url: str) -> None:
    store = FeedbackStore(store_url)
    store.models.register_version(
        model_type="extractor", version="1", registry_name="entity-extractor"
    )
    store.models.register_version(
        model_type="extractor", version="2", registry_name="entity-extractor"
    )
    store.models.set_default("extractor", "1", thresholds={"mrn": 0.9}, state=RetrainState.IDLE)
    assert store.models.get_default("extractor").version == "1"  # type: ignore[union-attr]
    assert store.cycles.set_retrain_state(
        "extractor", RetrainState.TRIGGERED, expected=[RetrainState.IDLE, RetrainState.FAILED]
    )
    # a second trigger attempt loses the compare-and-set
    assert not store.cycles.set_retrain_state(
        "extractor", RetrainState.TRIGGERED, expected=[RetrainState.IDLE, RetrainState.FAILED]
    )
    store.models.set_default("extractor", "2", thresholds={"mrn": 0.93})
    defaults = [m for m in store.models.list_versions("extractor") if m.is_default]
    assert [m.version for m in defaults] == ["2"]
    assert defaults[0].retrain_state == "COMPLETED"
    with pytest.raises(NotFound):
        store.models.set_default("extractor", "9", thresholds={})
    store.dispose()
