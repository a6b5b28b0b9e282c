from __future__ import annotations

from sqlalchemy import inspect

from selfimprove_assets.lib.store.engine import downgrade_schema, make_engine, upgrade_schema

TABLES = {
    "documents",
    "commits",
    "feedback_data",
    "feedback_archive",
    "models",
    "retrain_cycles",
    "feedback_counters",
}


def test_migrations_apply_from_empty_and_roll_back(store_url: str) -> None:
    upgrade_schema(store_url)
    engine = make_engine(store_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    upgrade_schema(store_url)  # idempotent
    downgrade_schema(store_url)
    assert not TABLES & set(inspect(engine).get_table_names())
    engine.dispose()


def test_queue_columns_are_back_filled_from_stored_predictions(store_url: str) -> None:
    """0002 adds the review queue's columns and fills them for documents stored before it."""
    from sqlalchemy import text

    upgrade_schema(store_url, "0001")
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO documents (id, content_hash, media_type, size_bytes, page_count, "
                "ocr_pages, pages_uri, blob_uri, source, created_at) VALUES "
                "('d1', 'h', 'application/pdf', 1, 1, '[]', 'p', 'b', 'api', CURRENT_TIMESTAMP)"
            )
        )
        for model_type, predicted in (
            ("classifier", '{"doc_type": "invoice", "confidence": 0.9}'),
            ("extractor", '{"entities": [{"label": "a", "confidence": 0.4}, {"label": "b"}]}'),
        ):
            conn.execute(
                text(
                    "INSERT INTO feedback_data (document_id, model_type, model_version, predicted, "
                    "retrained, created_at) VALUES ('d1', :t, '1', :p, false, CURRENT_TIMESTAMP)"
                ),
                {"t": model_type, "p": predicted},
            )
    upgrade_schema(store_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT predicted_doc_type, min_confidence FROM documents WHERE id = 'd1'")
        ).one()
    assert row.predicted_doc_type == "invoice" and row.min_confidence == 0.4
    downgrade_schema(store_url, "0001")
    assert "min_confidence" not in {c["name"] for c in inspect(engine).get_columns("documents")}
    engine.dispose()


def test_straight_through_columns_default_to_needing_review(store_url: str) -> None:
    """0003 adds needs_review (NULL for documents stored before it) and qa_sample (false)."""
    from sqlalchemy import text

    upgrade_schema(store_url, "0002")
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO documents (id, content_hash, media_type, size_bytes, page_count, "
                "ocr_pages, pages_uri, blob_uri, source, created_at) VALUES "
                "('d1', 'h', 'application/pdf', 1, 1, '[]', 'p', 'b', 'api', CURRENT_TIMESTAMP)"
            )
        )
    upgrade_schema(store_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT needs_review, qa_sample FROM documents WHERE id = 'd1'")
        ).one()
    assert row.needs_review is None and not row.qa_sample
    downgrade_schema(store_url, "0002")
    assert "qa_sample" not in {c["name"] for c in inspect(engine).get_columns("documents")}
    engine.dispose()
