"""Alembic environment: migrates ``sinks.schema.metadata`` on the connection ``sinks.migrate`` passes.

Run through ``synfinance db init`` (which sets the search_path to the target schema); the ``alembic``
command line also works, reading the database URL from ``SYNFIN_DATABASE_URL``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from synfinance.sinks.schema import metadata

config = context.config


def _run_offline() -> None:
    from synfinance.common.settings import load_settings

    context.configure(url=load_settings().database_dsn(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    from synfinance.common.settings import load_settings

    engine = create_engine(load_settings().database_dsn())
    with engine.connect() as own_connection:
        context.configure(connection=own_connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
