"""Alembic environment: runs migrations for the URL set on the Config (SQLite or PostgreSQL).

On PostgreSQL the upgrade holds ``pg_advisory_lock(MIGRATION_LOCK)`` on its connection from
before Alembic reads the current revision until after it commits: processes that start at once
(the API, the Dagster webserver and daemon on an empty database) migrate one after the other,
and the later ones find the schema at head. On SQLite, ``BEGIN IMMEDIATE`` serializes them
(engine.py).
"""

from __future__ import annotations

from alembic import context

from selfimprove_assets.lib.store.engine import make_engine
from selfimprove_assets.lib.store.tables import Base

# The advisory lock's key (any bigint the database's other users do not take): "selfimpr".
MIGRATION_LOCK = 0x73656C66696D7072
config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                # a session lock: it outlives the transaction below, released explicitly
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
                connection.commit()
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            try:
                with context.begin_transaction():
                    context.run_migrations()
            finally:
                if postgres:
                    connection.rollback()  # a failed migration's transaction, if any
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
                    connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
