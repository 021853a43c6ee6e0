"""Connections to the sink's database schema, and its Alembic migrations.

Everything the sink owns lives in one PostgreSQL schema (``public`` unless told otherwise), chosen by
putting it first on the connection's ``search_path``: SQL and migrations stay unqualified, and tests
or side-by-side deployments get a schema each. ``upgrade`` is what ``synfinance db init`` runs:
``alembic upgrade head`` on a connection we pass, creating the schema first if needed; ``downgrade``
is its reverse (tests of the migrations use both).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg2
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text

from synfinance.common.errors import InvalidInput

__all__ = ["DEFAULT_SCHEMA", "check_schema_name", "connect", "current_revision", "downgrade", "engine",
           "head_revision", "libpq_options", "upgrade"]

DEFAULT_SCHEMA = "public"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_schema_name(name: str) -> str:
    """A plain lower-case identifier (no quoting needed anywhere), else `InvalidInput`."""
    if not _SCHEMA_NAME.fullmatch(name):
        raise InvalidInput(f"--schema {name!r}: use a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 chars)")
    return name


def libpq_options(schema: str, read_only: bool = False) -> str:
    """The libpq ``options`` string that selects ``schema`` (and a read-only session if asked)."""
    options = f"-c search_path={check_schema_name(schema)}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    return options


def connect(dsn: str, schema: str = DEFAULT_SCHEMA, connect_timeout: int = 5,
            application_name: str = "synfinance") -> Any:
    """A psycopg2 connection working in ``schema``."""
    return psycopg2.connect(dsn, options=libpq_options(schema), connect_timeout=connect_timeout,
                            application_name=application_name)


def engine(dsn: str, schema: str = DEFAULT_SCHEMA, read_only: bool = False) -> Engine:
    """A SQLAlchemy engine whose connections work in ``schema``."""
    # SQLAlchemy 2.1 defaults postgresql:// to psycopg 3; the project ships psycopg2
    url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg2://", dsn)
    return create_engine(url, connect_args={"options": libpq_options(schema, read_only), "connect_timeout": 5,
                                            "application_name": "synfinance"})


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision in ``sinks/migrations``."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Engine) -> str | None:
    """The revision the schema is at (None: never migrated)."""
    with db.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(db: Engine, schema: str, target: str = "head") -> str:
    """Create ``schema`` if missing and migrate it to ``target`` (head: the newest); returns the revision."""
    with db.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {check_schema_name(schema)}"))
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, target)
    return head_revision() if target == "head" else target


def downgrade(db: Engine, schema: str, target: str) -> None:
    """Migrate ``schema`` back to revision ``target`` (what each revision's ``downgrade`` says it keeps)."""
    check_schema_name(schema)
    with db.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.downgrade(config, target)
