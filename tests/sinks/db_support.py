"""A throwaway database schema per test: created (migrated to head) on entry, dropped on exit; and the
one query helper the sink tests read the database with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg2

from synfinance.sinks import database


@contextlib.contextmanager
def scratch_schema(database_url: str, name: str, migrate: bool = True) -> Iterator[str]:
    """Schema `name`, migrated to head unless `migrate` is False (a test that migrates it itself)."""
    if migrate:
        engine = database.engine(database_url, name)
        database.upgrade(engine, name)
        engine.dispose()
    try:
        yield name
    finally:
        connection = psycopg2.connect(database_url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        connection.close()


def select(url: str, schema: str, sql: str) -> list[tuple[Any, ...]]:
    """Every row `sql` returns, on a connection of its own to `schema`."""
    connection = database.connect(url, schema)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()
