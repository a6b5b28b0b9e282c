"""What the API's routers share: path and query parameters, the token rules, and the
OpenAPI description of a route behind a token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi import Path as PathParam

from selfimprove_assets.api.auth import Role, require
from selfimprove_assets.api.schemas import NO_CONTROL_CHARS, ErrorOut

DocumentIdParam = Annotated[str, PathParam(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)]
PageParam = Annotated[int, PathParam(ge=0, le=100_000)]
ModelTypeQuery = Annotated[Literal["classifier", "extractor"] | None, Query()]
OffsetQuery = Annotated[int, Query(ge=0, le=10_000_000)]

REVIEWER = Depends(require(Role.REVIEWER))
ADMIN = Depends(require(Role.ADMIN))


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


def route(response_model: type, tag: str, *codes: int) -> dict[str, Any]:
    """The OpenAPI description of a route behind a token: what it answers, its tag, and its
    error answers (401 and 403 for a missing or weak token, besides ``codes``)."""
    return {
        "response_model": response_model,
        "tags": [tag],
        "responses": errors(*sorted({401, 403, *codes})),
    }
