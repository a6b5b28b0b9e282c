"""Documents and the review queue: a document is stored with the record of which model
versions predicted it, and listed for reviewers by state, type, version or confidence."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import func, or_, select

from selfimprove_assets.lib.kinds import entity_level_types
from selfimprove_assets.lib.store.base import (
    NotFound,
    StoreError,
    StorePart,
    as_utc,
    core_table,
    feedback_to_dict,
)
from selfimprove_assets.lib.store.tables import CommitRow, CounterRow, DocumentRow, FeedbackRow

QUEUE_STATUSES = ("unreviewed", "reviewed", "committed")
# which documents the queue shows: those a reviewer must see (needing review, or drawn for QA),
# the straight-through ones nobody needs to see, or all
QUEUE_VIEWS = ("review", "straight_through", "all")
QUEUE_ORDERS = ("created", "newest", "confidence")


class NewDocument(TypedDict, total=False):
    """The columns a caller gives for a new document (``add_document``); ``filename`` and
    ``external_id`` default to None, ``source`` to ``"api"`` (the table's defaults)."""

    content_hash: Required[str]
    media_type: Required[str]
    size_bytes: Required[int]
    page_count: Required[int]
    pages_uri: Required[str]
    blob_uri: Required[str]
    filename: str | None
    external_id: str | None
    source: str
    needs_review: bool | None
    qa_sample: bool


def _queue_columns(
    predictions: Sequence[tuple[str, str, dict[str, Any]]],
) -> tuple[str | None, float | None]:
    """The predicted type and the least confidence of a document's predictions (for the
    review queue): the classifier's confidence and every predicted entity's."""
    doc_type: str | None = None
    values: list[float] = []
    for _model_type, _version, predicted in predictions:
        if isinstance(predicted.get("doc_type"), str):  # only a document-level kind's holds it
            doc_type = str(predicted["doc_type"])[:100]
        confidence = predicted.get("confidence")
        if isinstance(confidence, int | float):
            values.append(float(confidence))
        for entity in predicted.get("entities") or []:
            if isinstance(entity, dict) and isinstance(entity.get("confidence"), int | float):
                values.append(float(entity["confidence"]))
    return doc_type, (min(values) if values else None)


class DocumentStore(StorePart):
    """Documents with their predictions' feedback rows, and the review queue over them."""

    def add_document(
        self,
        *,
        ocr_pages: Sequence[int] = (),
        document_id: str | None = None,
        predictions: Sequence[tuple[str, str, dict[str, Any]]] = (),
        **columns: Unpack[NewDocument],
    ) -> str:
        """Insert a document and, in the same transaction, one feedback row per prediction.

        ``columns`` are stored as given; ``predictions`` holds ``(model_type, model_version,
        predicted)`` tuples, so a document never exists without the record of which versions
        predicted it.
        """
        doc_id = document_id or uuid.uuid4().hex
        doc_type, least = _queue_columns(predictions)
        with self._db.session() as s:
            s.add(
                DocumentRow(
                    id=doc_id,
                    ocr_pages=list(ocr_pages),
                    predicted_doc_type=doc_type,
                    min_confidence=least,
                    **columns,
                )
            )
            s.flush()
            for model_type, version, predicted in predictions:
                s.add(
                    FeedbackRow(
                        document_id=doc_id,
                        model_type=model_type,
                        model_version=version,
                        predicted=predicted,
                    )
                )
        return doc_id

    def get_document(self, document_id: str) -> dict[str, Any]:
        with self._db.session() as s:
            doc = s.get(DocumentRow, document_id)
            if doc is None:
                raise NotFound(f"document {document_id!r} does not exist")
            rows = s.scalars(select(FeedbackRow).where(FeedbackRow.document_id == document_id))
            feedback = {r.model_type: feedback_to_dict(r) for r in rows}
            commit_ids = {f["commit_id"] for f in feedback.values() if f["commit_id"] is not None}
            if commit_ids:
                by_commit = {
                    row.id: row.committed_by
                    for row in s.execute(
                        select(CommitRow.id, CommitRow.committed_by).where(
                            CommitRow.id.in_(commit_ids)
                        )
                    )
                }
                for f in feedback.values():
                    f["committed_by"] = by_commit.get(f["commit_id"])
            return {
                "id": doc.id,
                "content_hash": doc.content_hash,
                "external_id": doc.external_id,
                "filename": doc.filename,
                "media_type": doc.media_type,
                "size_bytes": doc.size_bytes,
                "page_count": doc.page_count,
                "ocr_pages": list(doc.ocr_pages or []),
                "pages_uri": doc.pages_uri,
                "blob_uri": doc.blob_uri,
                "source": doc.source,
                "created_at": doc.created_at,
                "needs_review": doc.needs_review,
                "qa_sample": bool(doc.qa_sample),
                "feedback": feedback,
            }

    def count_documents(self) -> int:
        with self._db.session() as s:
            return int(s.scalar(select(func.count()).select_from(DocumentRow)) or 0)

    def list_documents(
        self,
        *,
        status: str | None = None,
        doc_type: str | None = None,
        model_version: str | None = None,
        model_type: str | None = None,
        since: datetime | None = None,
        order: str = "created",
        limit: int = 50,
        offset: int = 0,
        view: str = "all",
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of the review queue and the number of documents that match in all.

        ``status`` is ``unreviewed`` (some prediction not reviewed yet), ``reviewed`` (all
        reviewed, not all committed) or ``committed``; ``doc_type`` filters the predicted type,
        ``model_version`` (optionally of one ``model_type``) the versions that predicted;
        ``since`` keeps documents uploaded at or after it. ``order`` is ``created`` (oldest
        first: a queue), ``newest`` or ``confidence`` (least certain prediction first; documents
        without a confidence last). ``view`` is ``review`` (documents that need review, or
        were drawn for QA: what reviewers work), ``straight_through`` (the others) or ``all``.
        Each item carries its feedback rows' review state.
        """
        if view not in QUEUE_VIEWS:
            raise StoreError(f"unknown view {view!r}: use {', '.join(QUEUE_VIEWS)}")
        if status not in (None, *QUEUE_STATUSES):
            raise StoreError(f"unknown status {status!r}: use {', '.join(QUEUE_STATUSES)}")
        if order not in QUEUE_ORDERS:
            raise StoreError(f"unknown order {order!r}: use {', '.join(QUEUE_ORDERS)}")
        doc = core_table(DocumentRow)
        fb = core_table(FeedbackRow)

        def rows_where(*conditions: Any) -> Any:
            return select(fb.c.id).where(fb.c.document_id == doc.c.id, *conditions).exists()

        conditions: list[Any] = []
        to_review = or_(doc.c.needs_review.is_(None), doc.c.needs_review, doc.c.qa_sample)
        if view == "review":
            conditions.append(to_review)
        elif view == "straight_through":
            conditions.append(~to_review)
        if status == "unreviewed":
            conditions.append(rows_where(fb.c.reviewed_at.is_(None)))
        elif status == "reviewed":
            conditions.append(~rows_where(fb.c.reviewed_at.is_(None)))
            conditions.append(rows_where(fb.c.committed_at.is_(None)))
        elif status == "committed":
            conditions.append(~rows_where(fb.c.committed_at.is_(None)))
        if doc_type is not None:
            conditions.append(doc.c.predicted_doc_type == doc_type)
        if model_version is not None:
            version_match = [fb.c.model_version == model_version]
            if model_type is not None:
                version_match.append(fb.c.model_type == model_type)
            conditions.append(rows_where(*version_match))
        if since is not None:
            conditions.append(doc.c.created_at >= since)
        ordering: list[Any]
        if order == "confidence":
            ordering = [
                doc.c.min_confidence.is_(None),
                doc.c.min_confidence.asc(),
                doc.c.created_at.asc(),
                doc.c.id.asc(),
            ]
        elif order == "newest":
            ordering = [doc.c.created_at.desc(), doc.c.id.desc()]
        else:
            ordering = [doc.c.created_at.asc(), doc.c.id.asc()]
        with self._db.read_connection() as conn:
            total = int(conn.scalar(select(func.count()).select_from(doc).where(*conditions)) or 0)
            docs = conn.execute(
                select(
                    doc.c.id,
                    doc.c.external_id,
                    doc.c.filename,
                    doc.c.media_type,
                    doc.c.page_count,
                    doc.c.created_at,
                    doc.c.predicted_doc_type,
                    doc.c.min_confidence,
                    doc.c.needs_review,
                    doc.c.qa_sample,
                )
                .where(*conditions)
                .order_by(*ordering)
                .limit(limit)
                .offset(offset)
            ).all()
            ids = [d.id for d in docs]
            feedback: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
            if ids:
                for row in conn.execute(
                    select(
                        fb.c.document_id,
                        fb.c.model_type,
                        fb.c.model_version,
                        fb.c.reviewer,
                        fb.c.reviewed_at,
                        fb.c.committed_at,
                    ).where(fb.c.document_id.in_(ids))
                ):
                    feedback[row.document_id][row.model_type] = {
                        "model_version": row.model_version,
                        "reviewer": row.reviewer,
                        "reviewed_at": as_utc(row.reviewed_at),
                        "committed_at": as_utc(row.committed_at),
                    }
        items = []
        for d in docs:
            rows = feedback.get(d.id, {})
            if rows and all(r["committed_at"] is not None for r in rows.values()):
                state = "committed"
            elif not rows:  # every row archived after a retrain: committed long ago
                state = "committed"
            elif all(r["reviewed_at"] is not None for r in rows.values()):
                state = "reviewed"
            else:
                state = "unreviewed"
            items.append(
                {
                    "id": d.id,
                    "external_id": d.external_id,
                    "filename": d.filename,
                    "media_type": d.media_type,
                    "page_count": d.page_count,
                    "created_at": as_utc(d.created_at),
                    "predicted_doc_type": d.predicted_doc_type,
                    "min_confidence": d.min_confidence,
                    "needs_review": d.needs_review is not False or bool(d.qa_sample),
                    "qa_sample": bool(d.qa_sample),
                    "status": state,
                    "feedback": rows,
                }
            )
        return total, items

    def routed_predictions(self, model_type: str, version: str) -> list[dict[str, Any]]:
        """Each document ``version`` of ``model_type`` predicted, with its routing
        (``needs_review``, ``qa_sample``), its ``predicted`` and ``verified`` JSON and whether it
        is committed: what the automation figures (``lib.automation.report``) come from."""
        doc = core_table(DocumentRow)
        fb = core_table(FeedbackRow)
        with self._db.read_connection() as conn:
            rows = conn.execute(
                select(
                    doc.c.needs_review,
                    doc.c.qa_sample,
                    fb.c.predicted,
                    fb.c.verified,
                    fb.c.committed_at,
                ).where(
                    fb.c.document_id == doc.c.id,
                    fb.c.model_type == model_type,
                    fb.c.model_version == version,
                )
            ).all()
        return [
            {
                "needs_review": r.needs_review,
                "qa_sample": bool(r.qa_sample),
                "predicted": r.predicted or {},
                "verified": r.verified,
                "committed": r.committed_at is not None,
            }
            for r in rows
        ]

    def known_labels(self) -> dict[str, list[str]]:
        """Types and entity labels the store has seen: predicted types, and every field the
        counters hold (labels predicted or used by reviewers in committed documents)."""
        doc = core_table(DocumentRow)
        counters = core_table(CounterRow)
        with self._db.read_connection() as conn:
            types = conn.scalars(
                select(doc.c.predicted_doc_type)
                .where(doc.c.predicted_doc_type.is_not(None))
                .distinct()
            ).all()
            labels = conn.scalars(
                select(counters.c.field)
                .where(counters.c.model_type.in_(entity_level_types()))
                .distinct()
            ).all()
        return {"doc_types": sorted(set(types)), "labels": sorted(set(labels))}
