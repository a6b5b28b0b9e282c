"""Reads of committed feedback for curation, the sensors and exports (nothing here writes)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, and_, cast, func, select, type_coerce

from selfimprove_assets.lib.kinds import document_type_kind
from selfimprove_assets.lib.store.base import (
    Memo,
    StorePart,
    as_utc,
    chunks,
    core_table,
    feedback_to_dict,
)
from selfimprove_assets.lib.store.tables import DocumentRow, FeedbackArchiveRow, FeedbackRow


class CurationReads(StorePart):
    """Committed feedback as curation, the sensors and the export read it."""

    def committed_feedback(
        self,
        model_type: str,
        version: str | None = None,
        *,
        include_retrained: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        with self._db.session() as s:
            query = select(FeedbackRow).where(
                FeedbackRow.model_type == model_type, FeedbackRow.committed_at.is_not(None)
            )
            if version is not None:
                query = query.where(FeedbackRow.model_version == version)
            if not include_retrained:
                query = query.where(FeedbackRow.retrained.is_(False))
            query = query.order_by(FeedbackRow.id)
            if limit is not None:
                query = query.limit(limit)
            return [feedback_to_dict(r) for r in s.scalars(query)]

    def verified_doc_types(self) -> dict[str, int]:
        """Committed documents per verified type (the classifier rows' reviews, every version,
        archived too): how the sensor sees a second type arrive."""
        counts: dict[str, int] = defaultdict(int)
        with self._db.read_connection() as conn:
            for table in (core_table(FeedbackRow), core_table(FeedbackArchiveRow)):
                doc_type = table.c.verified["doc_type"].as_string()
                query = (
                    select(doc_type, func.count())
                    .where(
                        table.c.model_type == document_type_kind().name,
                        table.c.committed_at.is_not(None),
                    )
                    .group_by(doc_type)
                )
                for value, n in conn.execute(query):
                    if value:
                        counts[str(value)] += int(n)
        return dict(counts)

    def curation_rows(self, model_type: str, version: str) -> list[dict[str, Any]]:
        """Committed, not yet retrained feedback of a version, flattened for curation.

        Each row carries the document's verified type (for the extractor, from the same
        document's classifier review) and its content hash as a fingerprint for near-duplicate
        checks. The database extracts ``doc_type`` from the JSON columns; ``field_outcomes``
        arrives as text and is decoded once per distinct value (29k among the monitor
        benchmark's 500k rows; fewer in production, where labels come sorted), so rows with
        equal outcomes share one dict: treat it as read-only. The same goes for timestamps (one
        per commit). Decoding every row was half of the time a curation spent reading its rows.
        ``committed_at`` is timezone-aware UTC on both backends.
        """
        fb = core_table(FeedbackRow)
        doc = core_table(DocumentRow)
        classifier = model_type == document_type_kind().name
        source = fb if classifier else fb.alias("cls")
        sqlite_db = self._db.dialect == "sqlite"
        committed_at_type = fb.c.committed_at.type
        columns: list[Any] = [
            fb.c.id,
            fb.c.document_id,
            fb.c.model_version,
            fb.c.reviewer,
            fb.c.corrected,
            cast(fb.c.field_outcomes, Text),
            # SQLite stores timestamps as text: parse each distinct one once, below.
            type_coerce(fb.c.committed_at, String) if sqlite_db else fb.c.committed_at,
            doc.c.content_hash,
            source.c.verified["doc_type"].as_string(),
        ]
        if classifier:  # the extractor's prediction holds no type, only (many) entities
            columns.append(fb.c.predicted["doc_type"].as_string())
        query = select(*columns).join(doc, doc.c.id == fb.c.document_id)
        if not classifier:
            query = query.outerjoin(
                source,
                and_(
                    source.c.document_id == fb.c.document_id,
                    source.c.model_type == document_type_kind().name,
                ),
            )
        query = query.where(
            fb.c.model_type == model_type,
            fb.c.model_version == version,
            fb.c.committed_at.is_not(None),
            fb.c.retrained.is_(False),
        ).order_by(fb.c.id)
        with self._db.read_connection() as conn:
            rows = conn.execute(query).all()
            impl = committed_at_type.dialect_impl(conn.dialect)
            parse_time = impl.result_processor(conn.dialect, None)
        outcomes = Memo(lambda text: json.loads(text) if text is not None else {})
        parse = parse_time if sqlite_db and parse_time is not None else None
        times = Memo(lambda v: as_utc(parse(v) if parse is not None else v))
        missing_type = None if classifier else "unknown"
        return [
            {
                "feedback_id": int(r[0]),
                "document_id": r[1],
                "model_version": r[2],
                "reviewer": r[3] or "unknown",
                "corrected": bool(r[4]),
                "predicted_doc_type": r[9] if classifier else None,
                "verified_doc_type": r[8] or missing_type,
                "field_outcomes": outcomes[r[5]],
                "retrained": False,
                "committed_at": times[r[6]],
                "fingerprint": r[7],
            }
            for r in rows
        ]

    def committed_reviews(
        self, *, since: datetime | None = None, model_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Every committed document with its verified metadata, live and archived feedback
        alike (rows a promoted model trained on move to the archive but stay committed).

        A document is listed when its ``model_type`` row (any row when None) is committed (at or
        after ``since``); each item carries every committed row of the document by model type.
        Ordered by first commit, then id.
        """
        doc = core_table(DocumentRow)
        by_doc: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        with self._db.read_connection() as conn:
            for table in (core_table(FeedbackRow), core_table(FeedbackArchiveRow)):
                query = select(
                    table.c.document_id,
                    table.c.model_type,
                    table.c.model_version,
                    table.c.verified,
                    table.c.reviewer,
                    table.c.committed_at,
                    table.c.commit_id,
                ).where(table.c.committed_at.is_not(None), table.c.verified.is_not(None))
                for row in conn.execute(query):
                    by_doc[row.document_id][row.model_type] = {
                        "model_version": row.model_version,
                        "verified": row.verified,
                        "reviewer": row.reviewer,
                        "committed_at": as_utc(row.committed_at),
                        "commit_id": row.commit_id,
                    }
            selected = []
            for doc_id, rows in by_doc.items():
                chosen = [rows[model_type]] if model_type else list(rows.values())
                if model_type and model_type not in rows:
                    continue
                if since is not None and not any(
                    r["committed_at"] is not None and r["committed_at"] >= since for r in chosen
                ):
                    continue
                selected.append(doc_id)
            docs = {}
            for chunk in chunks(selected, 500):
                for d in conn.execute(select(doc).where(doc.c.id.in_(chunk))):
                    docs[d.id] = d
        items = []
        for doc_id in selected:
            d = docs.get(doc_id)
            if d is None:
                continue
            rows = by_doc[doc_id]
            items.append(
                {
                    "id": d.id,
                    "external_id": d.external_id,
                    "filename": d.filename,
                    "media_type": d.media_type,
                    "content_hash": d.content_hash,
                    "page_count": d.page_count,
                    "blob_uri": d.blob_uri,
                    "pages_uri": d.pages_uri,
                    "created_at": as_utc(d.created_at),
                    "first_commit": min(r["commit_id"] or 0 for r in rows.values()),
                    "feedback": rows,
                }
            )
        items.sort(key=lambda item: (item["first_commit"], item["id"]))
        return items
