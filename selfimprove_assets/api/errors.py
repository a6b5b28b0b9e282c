"""One error shape for the whole API: ``{"error": {"code": ..., "message": ...}}``.

Clients (the review page, ``selfimprove simulate``, outside tools) branch on ``code`` and show
``message``. A message never carries a stack trace or a server path: validation errors are
rewritten from pydantic's field locations, and anything unexpected becomes a generic 500 whose
details stay in the server log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from selfimprove_assets.lib.store.repository import StoreError

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}

_STORE_STATUS = {"not_found": 404, "conflict": 409, "invalid": 422}
RETRY_AFTER_SECONDS = 2


def store_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "the store cannot be reached now" (retry) not a bug.

    A dropped or refused connection, a server shutting down, a pool with no free connection,
    a lock or deadlock the database gave up on: all transient, all answered 503.
    """
    if isinstance(exc, PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return False


class ApiError(Exception):
    """An error the API answers deliberately, with a stable code and a message for people."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code or _CODES.get(status_code, "error")
        self.message = message
        self.headers = headers


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def _response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, details: Any = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def _validation_details(exc: RequestValidationError) -> list[dict[str, str]]:
    details = []
    for err in exc.errors():
        # pydantic messages name the field and the rule; the input value is left out on purpose
        # (it may be large, binary or secret).
        details.append({"field": _location(err.get("loc", ())), "message": str(err.get("msg", ""))})
    return details


def _internal_error(request: Request, exc: BaseException) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _response(
        500, "internal_error", "internal server error; the details are in the server log"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so that every error, expected or not, has the JSON shape above."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _response(exc.status_code, exc.code, exc.message, exc.headers)

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        status = _STORE_STATUS.get(exc.kind, 422)
        return _response(status, _CODES[status], str(exc))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if not store_unavailable(exc):
            return _internal_error(request, exc)
        # The statement and its parameters stay out of the log line and the answer (they may
        # hold reviewer data); the exception class and the driver's first line are enough.
        first_line = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
        logger.warning(
            "feedback store unavailable on %s %s: %s %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            first_line[0] if first_line else "",
        )
        return _response(
            503,
            "store_unavailable",
            "the feedback store is unavailable right now; nothing was acknowledged. Retry "
            "the same request shortly (commits are idempotent: a retry never counts twice)",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (
            exc.detail if isinstance(exc.detail, str) else _CODES.get(exc.status_code, "error")
        )
        code = _CODES.get(exc.status_code, "error")
        if exc.status_code == 400 and message == "There was an error parsing the body":
            message = "the request body could not be parsed: send UTF-8 JSON or multipart form data"
        return _response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(HTTPException)
    async def _fastapi_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return await _http_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return _response(422, "invalid_request", f"invalid request: {summary}", details=details)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request, exc)
