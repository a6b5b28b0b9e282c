"""The feedback store: one engine, and one part per concern over it. Nothing else in selfimprove
writes SQL.

=================  =====================  ==================================================
attribute          class (module)         what it owns
=================  =====================  ==================================================
``documents``      ``DocumentStore``      documents with their predictions, the review queue
``commits``        ``CommitStore``        reviews and ``commit_documents`` (counters in step)
``counters``       ``CounterStore``       counters, their recount, counts for the sensors
``curation``       ``CurationReads``      committed feedback as curation and export read it
``models``         ``ModelTable``         registered versions and the default
``cycles``         ``CycleStore``         retrain state, cycles and the rows they claim
=================  =====================  ==================================================

Every part runs its transactions through the shared ``Database`` (``base.py``); the errors and
result types are importable from here as well as from their modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from selfimprove_assets.lib.store.base import (
    COUNTER_COLUMNS,
    NO_MODEL_VERSION,
    Conflict,
    Database,
    NotFound,
    StoreError,
    feedback_to_dict,
)
from selfimprove_assets.lib.store.commits import CommitResult, CommitStore
from selfimprove_assets.lib.store.counters import CounterStore
from selfimprove_assets.lib.store.curation import CurationReads
from selfimprove_assets.lib.store.cycles import CycleInfo, CycleStore
from selfimprove_assets.lib.store.documents import DocumentStore
from selfimprove_assets.lib.store.engine import make_engine, upgrade_schema
from selfimprove_assets.lib.store.model_table import ModelInfo, ModelTable

__all__ = [
    "COUNTER_COLUMNS",
    "NO_MODEL_VERSION",
    "CommitResult",
    "Conflict",
    "CycleInfo",
    "FeedbackStore",
    "ModelInfo",
    "NotFound",
    "StoreError",
    "feedback_to_dict",
]


class FeedbackStore:
    """Owns the engine (migrated on creation unless told not to) and exposes the store's parts:
    ``documents``, ``commits``, ``counters``, ``curation``, ``models`` and ``cycles``."""

    def __init__(self, url: str, *, migrate: bool = True, engine: Engine | None = None) -> None:
        self.url = url
        if migrate:
            upgrade_schema(url)
        self.engine = engine or make_engine(url)
        self.db = Database(self.engine)
        self.documents = DocumentStore(self.db)
        self.commits = CommitStore(self.db)
        self.counters = CounterStore(self.db)
        self.curation = CurationReads(self.db)
        self.models = ModelTable(self.db)
        self.cycles = CycleStore(self.db)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session in one transaction (for tests and maintenance scripts)."""
        with self.db.session() as session:
            yield session

    @property
    def dialect(self) -> str:
        return self.db.dialect
