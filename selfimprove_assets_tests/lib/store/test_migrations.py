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
