"""``POST /v1/models/{type}/reset``: admins recover a stuck retrain state."""

from __future__ import annotations

from selfimprove_assets_tests.api.conftest import ADMIN, REVIEWER, ApiFactory
from selfimprove_assets_tests.lib.loop.test_reset import claim_rows


def test_admin_resets_a_stuck_state_reviewer_cannot(make_api: ApiFactory) -> None:
    api = make_api()
    claim_rows(api.store, 5)
    assert api.store.models.get_default("classifier").retrain_state == "INPROGRESS"  # type: ignore[union-attr]

    denied = api.client.post("/v1/models/classifier/reset", headers=REVIEWER)
    assert denied.status_code == 403
    assert api.store.models.get_default("classifier").retrain_state == "INPROGRESS"  # type: ignore[union-attr]
    assert api.store.curation.committed_feedback("classifier", "1") == []

    response = api.client.post(
        "/v1/models/classifier/reset", json={"reason": "worker lost"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["previous_state"] == "INPROGRESS" and body["state"] == "IDLE"
    assert body["changed"] is True and body["rows_released"] == 5
    default = api.store.models.get_default("classifier")
    assert default is not None and default.retrain_state == "IDLE"
    assert "worker lost" in (default.state_reason or "")
    assert len(api.store.curation.committed_feedback("classifier", "1")) == 5

    again = api.client.post("/v1/models/classifier/reset", headers=ADMIN)
    assert again.status_code == 200
    assert again.json()["changed"] is False and again.json()["rows_released"] == 0


def test_reset_unknown_type_or_no_default_is_404(make_api: ApiFactory) -> None:
    api = make_api(defaults=False)
    assert api.client.post("/v1/models/nope/reset", headers=ADMIN).status_code == 404
    missing = api.client.post("/v1/models/classifier/reset", headers=ADMIN)
    assert missing.status_code == 404 and "no default classifier" in missing.text
