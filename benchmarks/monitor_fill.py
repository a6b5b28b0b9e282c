"""The synthetic store of ``bench_monitor``: committed feedback at production size.

``rows / 2`` documents, each with a classifier row and an extractor row (the shape
``add_document`` + ``commit_documents`` leave), counters that agree with the rows, the commit
batches (``DOCS_PER_COMMIT`` documents each) and a default model row per type. ``populate``
bypasses ``commit_documents``: bulk executemany on SQLite, ``COPY`` on PostgreSQL, then
``VACUUM ANALYZE`` on PostgreSQL only.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

VERSION = "1"
TYPES = ["invoice", "lab_report", "prescription", "referral", "insurance_claim"]
LABELS = ["patient_name", "date_of_service", "total_amount", "provider", "member_id", "address"]
THRESHOLDS = {
    "classifier": {"doc_type": 0.95},
    "extractor": {"*": 0.9, "patient_name": 0.95, "total_amount": 0.95},
}
DOCS_PER_COMMIT = 1000
CHUNK_DOCS = 5000  # 10k feedback rows per executemany
REVIEWERS = 20
OUTLIER_REVIEWER = "reviewer-19"  # corrects far more often: the quality check should flag it
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)


def _entity(label: str, i: int, variant: str, confidence: bool) -> dict[str, Any]:
    entity: dict[str, Any] = {"label": label, "text": f"{label[:4]}-{i % 9973}{variant}", "page": 0}
    if confidence:
        entity["confidence"] = 0.9
    return entity


def generate(n_docs: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Documents with their two committed feedback rows and the counter deltas they bring."""
    rng = random.Random(seed)
    recent_hashes: list[str] = []
    for i in range(n_docs):
        commit_id = i // DOCS_PER_COMMIT + 1
        committed_at = BASE_TIME + timedelta(minutes=commit_id)
        reviewer = f"reviewer-{rng.randrange(REVIEWERS)}"
        outlier = reviewer == OUTLIER_REVIEWER
        # ~2% of documents are re-uploads of a recent one (same content hash): near-duplicates
        if recent_hashes and rng.random() < 0.02:
            content_hash = rng.choice(recent_hashes)
        else:
            content_hash = f"{rng.getrandbits(256):064x}"
            recent_hashes.append(content_hash)
            if len(recent_hashes) > 50:
                recent_hashes.pop(0)
        doc_id = f"{rng.getrandbits(128):032x}"

        predicted_type = rng.choice(TYPES)
        cls_corrected = rng.random() < (0.3 if outlier else 0.06)
        verified_type = (
            rng.choice([t for t in TYPES if t != predicted_type])
            if cls_corrected
            else predicted_type
        )
        cls_outcomes = {
            "doc_type": {"unchanged": int(not cls_corrected), "modified": int(cls_corrected)}
        }

        predicted_entities: list[dict[str, Any]] = []
        verified_entities: list[dict[str, Any]] = []
        ext_outcomes: dict[str, dict[str, int]] = {}
        for label in rng.sample(LABELS, rng.randint(3, 5)):
            r = rng.random()
            weak = label in ("patient_name", "total_amount")
            p_mod, p_add, p_rem = (0.06, 0.03, 0.02) if weak else (0.03, 0.015, 0.01)
            counts = {"unchanged": 0, "modified": 0, "added": 0, "removed": 0}
            if r < p_mod:
                counts["modified"] = 1
                predicted_entities.append(_entity(label, i, "x", True))
                verified_entities.append(_entity(label, i, "", False))
            elif r < p_mod + p_add:
                counts["added"] = 1
                verified_entities.append(_entity(label, i, "", False))
            elif r < p_mod + p_add + p_rem:
                counts["removed"] = 1
                predicted_entities.append(_entity(label, i, "", True))
            else:
                counts["unchanged"] = 1
                predicted_entities.append(_entity(label, i, "", True))
                verified_entities.append(_entity(label, i, "", False))
            ext_outcomes[label] = counts
        ext_corrected = any(
            c["modified"] + c["added"] + c["removed"] for c in ext_outcomes.values()
        )
        yield {
            "i": i,
            "doc_id": doc_id,
            "content_hash": content_hash,
            "commit_id": commit_id,
            "committed_at": committed_at,
            "reviewer": reviewer,
            "classifier": (
                {"doc_type": predicted_type, "confidence": 0.87},
                {"doc_type": verified_type},
                cls_corrected,
                cls_outcomes,
            ),
            "extractor": (
                {"entities": predicted_entities},
                {"entities": verified_entities},
                ext_corrected,
                ext_outcomes,
            ),
        }


def _rows_of(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Plain column dicts for ``documents`` and ``feedback_data`` (JSON as Python objects)."""
    doc_rows, fb_rows = [], []
    for d in docs:
        created = d["committed_at"] - timedelta(hours=2)
        doc_rows.append(
            {
                "id": d["doc_id"],
                "content_hash": d["content_hash"],
                "external_id": None,
                "filename": f"scan-{d['i']}.pdf",
                "media_type": "application/pdf",
                "size_bytes": 52_000,
                "page_count": 1,
                "ocr_pages": [],
                "pages_uri": f"pages/{d['doc_id']}.json",
                "blob_uri": f"blobs/{d['doc_id']}.pdf",
                "source": "api",
                "created_at": created,
            }
        )
        for k, model_type in enumerate(("classifier", "extractor")):
            predicted, verified, corrected, outcomes = d[model_type]
            fb_rows.append(
                {
                    "id": 2 * d["i"] + k + 1,
                    "document_id": d["doc_id"],
                    "model_type": model_type,
                    "model_version": VERSION,
                    "predicted": predicted,
                    "verified": verified,
                    "reviewer": d["reviewer"],
                    "reviewed_at": d["committed_at"] - timedelta(minutes=1),
                    "committed_at": d["committed_at"],
                    "commit_id": d["commit_id"],
                    "corrected": corrected,
                    "field_outcomes": outcomes,
                    "retrained": False,
                    "retrain_cycle": None,
                    "created_at": created,
                }
            )
    return doc_rows, fb_rows


def _add_counters(counters: dict[tuple[str, str], dict[str, int]], d: dict[str, Any]) -> None:
    for model_type in ("classifier", "extractor"):
        for fld, counts in d[model_type][3].items():
            acc = counters.setdefault(
                (model_type, fld),
                {
                    "committed": 0,
                    "corrected": 0,
                    "unchanged": 0,
                    "modified": 0,
                    "added": 0,
                    "removed": 0,
                },
            )
            acc["committed"] += 1
            acc["corrected"] += int(
                counts.get("modified", 0) + counts.get("added", 0) + counts.get("removed", 0) > 0
            )
            for key in ("unchanged", "modified", "added", "removed"):
                acc[key] += int(counts.get(key, 0))


def populate(url: str, n_rows: int) -> dict[str, Any]:
    """Fill an empty store; returns timings and the reference counts."""
    from sqlalchemy import insert, text

    from selfimprove_assets.lib.store.repository import FeedbackStore
    from selfimprove_assets.lib.store.tables import CommitRow, CounterRow, DocumentRow, FeedbackRow
    from selfimprove_assets.lib.types import RetrainState

    n_docs = n_rows // 2
    start = time.perf_counter()
    store = FeedbackStore(url)
    for model_type in ("classifier", "extractor"):
        store.models.register_version(
            model_type=model_type, version=VERSION, registry_name=f"doc-{model_type}"
        )
        store.models.set_default(
            model_type, VERSION, thresholds=THRESHOLDS[model_type], state=RetrainState.IDLE
        )
    counters: dict[tuple[str, str], dict[str, int]] = {}
    n_commits = (n_docs + DOCS_PER_COMMIT - 1) // DOCS_PER_COMMIT
    postgres = store.dialect == "postgresql"
    doc_cols = [c.name for c in DocumentRow.__table__.columns]
    fb_cols = [c.name for c in FeedbackRow.__table__.columns]
    chunk: list[dict[str, Any]] = []

    def flush(conn: Any) -> None:
        doc_rows, fb_rows = _rows_of(chunk)
        if postgres:
            cur = conn.cursor()
            with cur.copy(f"COPY documents ({', '.join(doc_cols)}) FROM STDIN") as cp:
                for r in doc_rows:
                    cp.write_row([_pg(r[c]) for c in doc_cols])
            with cur.copy(f"COPY feedback_data ({', '.join(fb_cols)}) FROM STDIN") as cp:
                for r in fb_rows:
                    cp.write_row([_pg(r[c]) for c in fb_cols])
        else:
            with store.engine.begin() as c:
                c.execute(insert(_table(DocumentRow)), doc_rows)
                c.execute(insert(_table(FeedbackRow)), fb_rows)
        chunk.clear()

    gen_time = 0.0
    raw = store.engine.raw_connection() if postgres else None
    pg = raw.driver_connection if raw is not None else None
    with store.engine.begin() as c:
        c.execute(
            insert(_table(CommitRow)),
            [
                {
                    "id": k + 1,
                    "created_at": BASE_TIME + timedelta(minutes=k + 1),
                    "committed_by": "bench",
                    "requested": DOCS_PER_COMMIT,
                    "committed": min(DOCS_PER_COMMIT, n_docs - k * DOCS_PER_COMMIT),
                }
                for k in range(n_commits)
            ],
        )
    t = time.perf_counter()
    for d in generate(n_docs):
        _add_counters(counters, d)
        chunk.append(d)
        if len(chunk) >= CHUNK_DOCS:
            gen_time += time.perf_counter() - t
            flush(pg)
            t = time.perf_counter()
    if chunk:
        flush(pg)
    if pg is not None and raw is not None:
        pg.commit()
        raw.close()
    with store.engine.begin() as c:
        c.execute(
            insert(_table(CounterRow)),
            [
                {
                    "model_type": mt,
                    "model_version": VERSION,
                    "field": fld,
                    **vals,
                    "last_commit_id": n_commits,
                }
                for (mt, fld), vals in sorted(counters.items())
            ],
        )
        if postgres:
            for table in ("commits", "feedback_data"):
                c.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    insert_done = time.perf_counter()
    if postgres:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    else:
        raw_sqlite = store.engine.raw_connection()
        raw_sqlite.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw_sqlite.close()
    total = time.perf_counter() - start
    with store.engine.connect() as c:
        n_fb = c.execute(
            text("SELECT count(*) FROM feedback_data WHERE committed_at IS NOT NULL")
        ).scalar()
        if postgres:
            size = c.execute(text("SELECT pg_database_size(current_database())")).scalar()
        else:
            db = store.engine.url.database or ""
            size = os.path.getsize(db)
    store.dispose()
    return {
        "documents": n_docs,
        "feedback_rows": int(n_fb or 0),
        "commits": n_commits,
        "populate_s": round(total, 2),
        "populate_generate_s": round(gen_time, 2),
        "populate_insert_s": round(insert_done - start - gen_time, 2),
        "populate_vacuum_s": round(total - (insert_done - start), 2),
        "db_mb": round(int(size or 0) / 1e6, 1),
        "counters": {f"{mt}/{fld}": v for (mt, fld), v in sorted(counters.items())},
    }


def _table(model: Any) -> Any:
    """The Core table of a declarative model (``__table__`` is typed as a FromClause)."""
    return model.__table__


def _pg(value: Any) -> Any:
    """COPY text values: JSON columns as their text, everything else as psycopg dumps it."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value
