"""Bearer-token access with two roles.

Tokens come from ``SELFIMPROVE_API_TOKENS`` (through ``Settings.api_tokens``) as
``"tok1:reviewer:alice,tok2:admin:bob"`` (the ``:name`` part is optional: ``tok1:reviewer``
still works, and is recorded as ``reviewer-<position>``). A reviewer uploads, reviews, commits
and reads; an admin may also change model state and export. Tokens are compared in constant
time against *every* configured token (no early exit that would leak which prefix matched), and
are never logged or echoed.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from selfimprove_assets.api.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": "Bearer"}

# Declared so the OpenAPI schema documents the scheme; checking is done below (auto_error off,
# because FastAPI's own answers would not use our error shape).
bearer_scheme = HTTPBearer(auto_error=False, description="Bearer token with a role")


class Role(StrEnum):
    REVIEWER = "reviewer"
    ADMIN = "admin"


_RANK = {Role.REVIEWER: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who made a request: the role, and a name safe to store (never the token itself)."""

    role: Role
    name: str


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


class TokenTable:
    """The configured tokens; ``authenticate`` maps an Authorization header to a Principal."""

    def __init__(self, entries: list[tuple[bytes, Role, str | None]]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, spec: str) -> TokenTable:
        """Parse ``"tok1:reviewer:alice,tok2:admin"``; a malformed entry is a configuration error.

        An entry is ``token:role`` or ``token:role:name``. The name is the reviewer recorded on
        reviews and commits; without one the reviewer is ``<role>-<position>``, which changes
        when the list is reordered, so name every token whose reviews you keep.
        """
        roles = ", ".join(r.value for r in Role)
        entries: list[tuple[bytes, Role, str | None]] = []
        for index, raw in enumerate(p.strip() for p in spec.split(",")):
            if not raw:
                continue
            parts = [p.strip() for p in raw.split(":")]
            name: str | None = None
            if len(parts) >= 3 and parts[-2].lower() in {r.value for r in Role}:
                token, role, name = ":".join(parts[:-2]), parts[-2], parts[-1]
            elif len(parts) >= 2:
                token, role = ":".join(parts[:-1]), parts[-1]
            else:
                token = role = ""
            if not token:
                raise ValueError(
                    f"SELFIMPROVE_API_TOKENS entry {index + 1} is not 'token:role' or "
                    f"'token:role:name' (roles: {roles})"
                )
            try:
                parsed = Role(role.lower())
            except ValueError:
                raise ValueError(
                    f"SELFIMPROVE_API_TOKENS entry {index + 1} has unknown role {role!r} "
                    f"(roles: {roles})"
                ) from None
            if name is not None and not _NAME.match(name):
                raise ValueError(
                    f"SELFIMPROVE_API_TOKENS entry {index + 1} has an invalid reviewer name: "
                    "use 1-100 letters, digits, '.', '_', '@' or '-'"
                )
            entries.append((token.encode("utf-8"), parsed, name))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> Principal | None:
        candidate = token.encode("utf-8")
        found: tuple[int, Role, str | None] | None = None
        for index, (known, role, name) in enumerate(self._entries):
            # No break: the time taken does not depend on which entry (if any) matches.
            if hmac.compare_digest(candidate, known) and found is None:
                found = (index, role, name)
        if found is None:
            return None
        index, role, name = found
        return Principal(role=role, name=name or f"{role.value}-{index + 1}")

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise ApiError(
                401,
                "missing credentials: send 'Authorization: Bearer <token>'",
                headers=_CHALLENGE,
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "malformed Authorization header: expected 'Bearer <token>'",
                headers=_CHALLENGE,
            )
        principal = self.lookup(token)
        if principal is None:
            raise ApiError(
                401,
                "invalid token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return principal


def require(role: Role):  # noqa: ANN201 - returns a FastAPI dependency
    """A dependency that authenticates the request and checks the caller's role."""

    def dependency(
        request: Request,
        _credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    ) -> Principal:
        table: TokenTable = request.app.state.tokens
        principal = table.authenticate(request.headers.get("authorization"))
        if _RANK[principal.role] < _RANK[role]:
            raise ApiError(
                403, f"this action needs the {role.value} role; your token has {principal.role}"
            )
        return principal

    return dependency


_TOKEN_IN_QUERY = re.compile(r"(?i)((?:^|[?&])(?:token|access_token)=)[^&\s]*")


class RedactTokens(logging.Filter):
    """Blank ``?token=`` values (the review page accepts one) in access-log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = _TOKEN_IN_QUERY.sub(r"\1***", record.msg)
        return True


def install_log_redaction() -> None:
    """Attach ``RedactTokens`` to uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
