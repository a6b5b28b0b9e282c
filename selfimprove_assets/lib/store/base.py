"""What every part of the feedback store shares: the engine and its transactions, the errors,
and the helpers that turn rows into plain values."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.orm import Session, sessionmaker

from selfimprove_assets.lib.store.engine import READ_ONLY_OPTION
from selfimprove_assets.lib.store.outcomes import OUTCOME_KEYS
from selfimprove_assets.lib.store.tables import FeedbackRow

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Info = TypeVar("_Info", bound="DataclassInstance")

COUNTER_COLUMNS = ("committed", "corrected", *OUTCOME_KEYS)
NO_MODEL_VERSION = ""
"""``model_version`` of the feedback row of a model type that served nothing (the data did not
need it, e.g. no classifier for a one-type corpus): reviewed and committed like any other row,
so the verified values are kept, but never counted toward a model."""


class StoreError(Exception):
    """A request the store cannot honour; ``kind`` maps to an HTTP status in the API."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


class NotFound(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "not_found")


class Conflict(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "conflict")


class Database:
    """The engine the parts of the store share, and its two kinds of transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session in one transaction, committed on exit (rolled back on an error)."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A connection for reads only: on SQLite its transaction is a deferred one (a WAL
        snapshot that does not hold the write lock), so a long read never blocks a commit."""
        with self.engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as conn:
            yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


class StorePart:
    """One concern of the store (documents, commits, ...) over the shared ``Database``."""

    def __init__(self, db: Database) -> None:
        self._db = db


class Memo(dict[Hashable, Any]):
    """``memo[key]`` is ``fn(key)``, computed once per distinct key (C-speed lookups after)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Hashable) -> Any:
        value = self[key] = self.fn(key)
        return value


def as_utc(value: datetime | None) -> datetime | None:
    """A stored timestamp (UTC; naive where SQLite dropped the zone) with ``timezone.utc``.

    psycopg hands out the session's ``ZoneInfo``, which pandas converts ~10x slower (3 s of a
    curation's 500k rows) than the fixed UTC offset.
    """
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def core_table(model: Any) -> Table:
    """The Core table of a declarative model (``__table__`` is typed as a FromClause)."""
    return model.__table__


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dataclass_from_row(info: type[_Info], row: Any, **converted: Any) -> _Info:
    """``info`` (a dataclass whose fields are named after columns of ``row``'s table) with each
    field read from ``row``, except those given in ``converted`` (a JSON column copied, a
    missing count made 0)."""
    values = {f.name: getattr(row, f.name) for f in fields(info) if f.name not in converted}
    return info(**values, **converted)


def feedback_to_dict(row: FeedbackRow) -> dict[str, Any]:
    return {
        "feedback_id": row.id,
        "document_id": row.document_id,
        "model_type": row.model_type,
        "model_version": row.model_version,
        "predicted": row.predicted,
        "verified": row.verified,
        "reviewer": row.reviewer,
        "reviewed_at": row.reviewed_at,
        "committed_at": row.committed_at,
        "commit_id": row.commit_id,
        "corrected": row.corrected,
        "field_outcomes": row.field_outcomes or {},
        "retrained": row.retrained,
        "retrain_cycle": row.retrain_cycle,
    }
