"""Idempotent batched writes: binary COPY, straight into the table or via ``INSERT ... ON CONFLICT``.

One ``write`` is one database transaction covering every table of a batch, so a batch lands whole or
not at all, and the caller commits Kafka offsets only after it returns. Replays are harmless: rows
go through a temporary staging table (no indexes, no WAL) and are inserted with ``ON CONFLICT (key)
DO NOTHING``; profiles (customers, merchants) use ``DO UPDATE ... WHERE updated_at`` is newer, after
``DISTINCT ON`` keeps the newest version within the batch (a statement may not update a row twice).

Most batches hold no row the table already has, and for the insert-only tables (transactions,
labels, scores, alerts) PostgreSQL does about half the work when the COPY goes straight into the
table. So a batch is first COPYed directly, under a savepoint; if any key is already there (a replay,
a re-sent record) the COPY fails as a whole on the unique index, is rolled back to the savepoint and
the batch takes the staging path above. After such a conflict the table's next few batches go
straight to the staging path, since a replay usually spans many batches.

A skipped row is either a true duplicate (a replay: silent) or another record under a stored key: the
staging path tells them apart (``sinks.conflicts``) and returns the latter in ``WriteResult.conflicts``
(for the dead-letter topic). A direct COPY that succeeded holds neither, so it checks nothing.

Failures are sorted, because each needs a different answer:

* the database is unreachable or went away (``OperationalError``, ``InterfaceError``):
  ``DatabaseUnavailable``, which the consumer's circuit breaker counts; the batch is retried whole;
* a row PostgreSQL refuses (``DataError``, ``IntegrityError``): the table's rows are bisected under
  savepoints until the refused rows are isolated; they come back in ``WriteResult.rejected`` (for the
  dead-letter topic) and every other row is written, so one bad record never blocks a partition;
* anything else (e.g. a missing table): raised as is, the sink stops.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from synfinance.sinks.conflicts import (
    ROW_COLUMN,
    Conflict,
    conflicts_from,
    details_sql,
    probe_sql,
    remove_stored_sql,
    within_batch_sql,
)
from synfinance.sinks.database import DEFAULT_SCHEMA, libpq_options
from synfinance.sinks.pgcopy import CopyRows
from synfinance.sinks.tables import TableSpec

__all__ = ["CopyWriter", "DatabaseUnavailable", "Rejected", "TableLoad", "WriteConflict", "WriteResult"]

_DIRECT_COOLDOWN = 20  # batches of a table that skip the direct COPY after one hit an existing key
_COPY_CHUNK = 1 << 20  # bytes handed to libpq per read; the default 8 KiB costs a Python call per 8 KiB
_CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)
_ROW_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError)


class DatabaseUnavailable(Exception):
    """The database could not be reached or dropped the connection; the whole batch can be retried."""


class WriteConflict(Exception):
    """The transaction was rolled back by a deadlock or serialization failure (concurrent batches
    replaying the same keys); retrying it is right, and says nothing about the database's health."""


@dataclass(frozen=True)
class TableLoad:
    """Rows for one table; ``rows.row(i)`` came from the caller's record ``i``."""

    spec: TableSpec
    rows: CopyRows


@dataclass(frozen=True)
class Rejected:
    """A row PostgreSQL refused: which load, which row, and why."""

    table: str
    row: int
    error_class: str
    message: str


@dataclass
class WriteResult:
    """Per table: rows staged, rows inserted or updated (the rest were already there, or conflicts);
    refused rows; rows that conflict with a stored record of their key (not written)."""

    staged: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def _stage(spec: TableSpec) -> sql.Identifier:
    return sql.Identifier(f"_stage_{spec.name}")


def _insert_sql(spec: TableSpec) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in spec.columns)
    key = sql.SQL(", ").join(sql.Identifier(k) for k in spec.key)
    table = sql.Identifier(spec.name)
    if not spec.newer_wins:
        return sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ({k}) DO NOTHING").format(
            t=table, c=columns, s=_stage(spec), k=key)
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c.name)) for c in spec.columns if c.name not in spec.key)
    return sql.SQL(
        "INSERT INTO {t} ({c}) SELECT DISTINCT ON ({k}) {c} FROM {s} ORDER BY {k}, updated_at DESC "
        "ON CONFLICT ({k}) DO UPDATE SET {u} WHERE {t}.updated_at < EXCLUDED.updated_at"
    ).format(t=table, c=columns, s=_stage(spec), k=key, u=updates)


def _copy_sql(spec: TableSpec, direct: bool = False) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in spec.columns)
    target = sql.Identifier(spec.name) if direct else _stage(spec)
    return sql.SQL("COPY {s} ({c}) FROM STDIN (FORMAT binary)").format(s=target, c=columns)


class CopyWriter:
    """Writes batches to the tables of one schema over one (re-established as needed) connection."""

    def __init__(self, dsn: str, schema: str = DEFAULT_SCHEMA, application_name: str = "synfinance-sink",
                 connect_timeout: int = 5) -> None:
        self._dsn = dsn
        self._schema = schema
        self._application_name = application_name
        self._connect_timeout = connect_timeout
        self._connection: Any = None
        self._staged: set[str] = set()
        self._cooldown: dict[str, int] = {}  # table -> batches left that skip the direct COPY
        # table -> a replay is under way (its last batch hit stored keys): probe them before the insert
        self._replaying: dict[str, bool] = {}
        self.direct_copies = self.direct_conflicts = 0

    def _connect(self) -> Any:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        self._staged.clear()
        try:
            # temp_buffers: a staging table of a large batch then stays in memory (must be set before
            # the session first touches a temporary table). jit: the planner prices a batch's probe of
            # stored rows (one index lookup per row) above jit_above_cost, and compiling it takes longer
            # (~150 ms) than the whole statement; nothing this session runs gains from JIT
            self._connection = psycopg2.connect(
                self._dsn, options=libpq_options(self._schema) + " -c temp_buffers=64MB -c jit=off",
                connect_timeout=self._connect_timeout, application_name=self._application_name)
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(_one_line(exc)) from exc
        return self._connection

    def _ensure_stages(self, connection: Any, specs: Sequence[TableSpec]) -> None:
        missing = [s for s in specs if s.name not in self._staged]
        if not missing:
            return
        with connection.cursor() as cursor:
            for spec in missing:
                # ROW_COLUMN numbers the rows of each COPY in order, so a conflict names its record
                cursor.execute(sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {s} (LIKE {t} INCLUDING DEFAULTS, "
                    "{r} bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DELETE ROWS"
                ).format(s=_stage(spec), t=sql.Identifier(spec.name), r=sql.Identifier(ROW_COLUMN)))
        connection.commit()  # a later rollback must not take the staging tables with it
        self._staged.update(s.name for s in missing)

    def write(self, loads: Sequence[TableLoad]) -> WriteResult:
        """Write every load in one transaction; raises ``DatabaseUnavailable`` if the database is away."""
        result = WriteResult()
        loads = [load for load in loads if len(load.rows)]
        if not loads:
            return result
        connection = self._connect()
        try:
            self._ensure_stages(connection, [load.spec for load in loads])
            with connection.cursor() as cursor:
                for load in loads:
                    written = self._load(cursor, load, 0, len(load.rows), result, bisecting=False)
                    result.staged[load.spec.name] = len(load.rows)
                    result.written[load.spec.name] = written
            connection.commit()
        except psycopg2.extensions.TransactionRollbackError as exc:  # an OperationalError, but not an outage
            connection.rollback()
            raise WriteConflict(_one_line(exc)) from exc
        except _CONNECTION_ERRORS as exc:
            self.close()
            raise DatabaseUnavailable(_one_line(exc)) from exc
        except BaseException:
            if not connection.closed:
                connection.rollback()
            raise
        return result

    def _load(self, cursor: Any, load: TableLoad, lo: int, hi: int, result: WriteResult, bisecting: bool) -> int:
        spec = load.spec
        if not bisecting and not spec.newer_wins and self._direct(cursor, load):
            return len(load.rows)
        cursor.execute("SAVEPOINT sink_load")
        try:
            if bisecting:  # earlier halves already went through the staging table
                cursor.execute(sql.SQL("TRUNCATE {s}").format(s=_stage(spec)))
            cursor.copy_expert(_copy_sql(spec), io.BytesIO(load.rows.stream(lo, hi)), size=_COPY_CHUNK)
            insert = self._insert_profiles if spec.newer_wins else self._insert_new
            conflicts, written = insert(cursor, spec, lo, hi)
            cursor.execute("RELEASE SAVEPOINT sink_load")
        except _ROW_ERRORS as exc:
            cursor.execute("ROLLBACK TO SAVEPOINT sink_load")
            if hi - lo == 1:
                result.rejected.append(Rejected(spec.name, lo, type(exc).__name__, _one_line(exc)))
                return 0
            mid = (lo + hi) // 2
            return (self._load(cursor, load, lo, mid, result, bisecting=True)
                    + self._load(cursor, load, mid, hi, result, bisecting=True))
        result.conflicts += conflicts
        return written

    def _compare(self, cursor: Any, spec: TableSpec, lo: int, hi: int) -> tuple[int, list[Conflict]]:
        """How many staged rows have their identity stored, and those of them that conflict."""
        cursor.execute(probe_sql(spec))
        stored, tids = cursor.fetchone()
        if not tids:
            return int(stored), []
        cursor.execute(details_sql(spec, hi - lo), (tids,))
        return int(stored), conflicts_from(spec, cursor.fetchall(), lo)

    def _insert_new(self, cursor: Any, spec: TableSpec, lo: int, hi: int) -> tuple[list[Conflict], int]:
        """Insert-only tables: the staged rows whose identity is not stored; (conflicts, written)."""
        n, stored, written = hi - lo, 0, 0
        conflicts: list[Conflict] = []
        probed = self._replaying.get(spec.name, False)
        if probed:  # a replay: this probe costs what the insert's ON CONFLICT lookups would have
            stored, conflicts = self._compare(cursor, spec, lo, hi)
            self._replaying[spec.name] = stored > 0
        if stored < n:
            cursor.execute(_insert_sql(spec))
            written = int(cursor.rowcount)
        if written < n - stored:  # skipped rows: stored keys (not probed), repeats, a concurrent batch's
            _, conflicts = self._compare(cursor, spec, lo, hi)  # all of them (stored rows do not change)
            if not probed:
                self._replaying[spec.name] = True
        return conflicts, written

    def _insert_profiles(self, cursor: Any, spec: TableSpec, lo: int, hi: int) -> tuple[list[Conflict], int]:
        """Customers, merchants: conflicts, then the newest version of each profile; (conflicts, written).

        The insert may replace a stored row by a newer version, after which the replaced one can no
        longer be compared: so the staged rows are compared first, with the stored row of their version
        and with the first staged row of their version, and leave the staging table if stored or
        conflicting."""
        cursor.execute(remove_stored_sql(spec, hi - lo))
        found = cursor.fetchall()
        conflicts = conflicts_from(spec, found, lo)
        left = hi - lo - next(int(count) for row, count, _, _ in found if row is None)
        cursor.execute(within_batch_sql(spec, hi - lo))
        repeated = cursor.fetchall()
        if repeated:
            cursor.execute(sql.SQL("DELETE FROM {s} WHERE {r} = ANY(%s)").format(
                s=_stage(spec), r=sql.Identifier(ROW_COLUMN)), ([int(f[0]) for f in repeated],))
            conflicts += conflicts_from(spec, repeated, lo)
            left -= len(repeated)
        cursor.execute(_insert_sql(spec))
        written = int(cursor.rowcount)
        if written < left:  # older versions, same-version repeats, or one a concurrent batch stored
            _, late = self._compare(cursor, spec, lo, hi)
            conflicts += late
        return conflicts, written

    def _direct(self, cursor: Any, load: TableLoad) -> bool:
        """COPY the whole load straight into its table; False (rolled back) if any row is refused."""
        name = load.spec.name
        if self._cooldown.get(name, 0) > 0:
            self._cooldown[name] -= 1
            return False
        cursor.execute("SAVEPOINT sink_direct")
        try:
            cursor.copy_expert(_copy_sql(load.spec, direct=True), io.BytesIO(load.rows.stream(0, len(load.rows))),
                               size=_COPY_CHUNK)
        except _ROW_ERRORS:  # a key already there (or a bad row): the staging path sorts it out
            cursor.execute("ROLLBACK TO SAVEPOINT sink_direct")
            self._cooldown[name] = _DIRECT_COOLDOWN
            self._replaying[name] = True
            self.direct_conflicts += 1
            return False
        cursor.execute("RELEASE SAVEPOINT sink_direct")
        self.direct_copies += 1
        return True

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg2.Error):
                self._connection.close()
            self._connection = None
        self._staged.clear()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
