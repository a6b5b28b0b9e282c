"""Property-based requests generated from the app's own OpenAPI schema (schemathesis).

Every operation is called with generated bodies, paths and uploads, positive and negative,
authenticated as an admin so the deeper code paths run. Nothing may answer 5xx, and every
response must match the status codes, content types and schemas the app publishes.

(schemathesis' pytest plugin, ``schema.parametrize``, does not work under pytest 9 yet, so the
operations are driven with hypothesis directly; the checks are schemathesis' own.)
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from selfimprove_assets_tests.api.conftest import ADMIN, ApiFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_operation_answers_5xx_or_breaks_its_schema(make_api: ApiFactory) -> None:
    api = make_api()
    api.upload()  # one real document, so id-shaped paths sometimes hit a row
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    results = list(schema.get_all_operations())
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) == len(results), "the app's OpenAPI schema has invalid operations"
    labels = {op.label for op in operations}
    assert "POST /v1/documents" in labels and "PUT /v1/documents/{document_id}/review" in labels
    calls: list[int] = []
    skipped: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=8,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=[
                    HealthCheck.too_slow,
                    HealthCheck.filter_too_much,
                    HealthCheck.data_too_large,
                ],
            )
            def run(case: schemathesis.Case) -> None:
                response = case.call_and_validate(headers=ADMIN, checks=CHECKS)
                calls.append(response.status_code)

            try:
                run()
            except Unsatisfiable:
                # No parameters to break (GET /health, GET /v1/models): nothing negative exists.
                assert mode is GenerationMode.NEGATIVE, operation.label
                skipped.append(operation.label)
    assert len(calls) >= 8 * len(operations)
    assert all(code < 500 for code in calls)
    assert len(skipped) <= 2, skipped
