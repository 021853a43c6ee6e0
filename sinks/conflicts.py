"""Conflicting duplicates: a record whose identity is already stored, or repeated in its batch, with
other content.

Replays and redeliveries bring records the database already holds, byte for byte the same, and
``ON CONFLICT DO NOTHING`` rightly skips them. Two *different* records under one key (two producer runs
with different seeds writing the same transaction id, a processor bug) would be skipped just the same:
the stored one stays, the other vanishes. The sink does not let that pass silently: each such record
goes to the dead-letter topic with the reason (``Conflict.reason``) and is counted
(``synfin_sink_conflicts_total{table}``); the stored row stays as it is.

What "same" means is ``TableSpec.identity`` (the primary key; for profiles also ``updated_at``, since a
newer profile is a new version, not a duplicate) and ``TableSpec.compared`` (every other column but
the per-delivery stamps of the processor, ``processed_at``, ``processing_latency_ms`` and an alert's
``created_at``, which a re-processing changes, and ``trace_id``, which every producer run draws anew;
``ingested_at`` is the database's own).

Where they are looked for (``sinks.copy_writer``): a direct COPY into a table that succeeded cannot
hold one (the unique index refused any stored or repeated key), so the common path pays nothing. On the
staging path, staged rows carry their position in the COPY (``ROW_COLUMN``, an identity column of the
staging table), and ``probe_sql`` looks each one up (one index lookup of its identity, as a correlated
subquery, so the planner never hashes a whole table for it) and counts the stored ones; only the
conflicting rows are then described (``details_sql``). For the insert-only tables it runs:

* while a table is being replayed (the batch's direct COPY hit a stored key, or its previous staged
  batch held stored rows), before the insert, which is skipped when every row is stored: the probe
  replaces ON CONFLICT's own lookups, so a replay costs about what it did;
* and after the insert whenever it skipped more rows than the probe found stored (keys stored and
  not probed, a key repeated within the batch, one a concurrent batch just stored). The table then
  holds one record of each identity, the one already there or the first in COPY order (the insert
  reads the staging table from its first page), and a repeat is compared with it.

Profiles can replace a stored row within the insert (a newer version in the same batch), so for them
``remove_stored_sql`` compares first and takes the stored rows out of the staging table, and
``within_batch_sql`` finds rows that differ from the first staged row of their version, which leave it
too (once the insert has kept only the newest version, two older ones could no longer be compared).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from synfinance.sinks.tables import TableSpec

__all__ = ["ERROR_CLASS", "ROW_COLUMN", "Conflict", "conflicts_from", "details_sql", "probe_sql", "remove_stored_sql",
           "within_batch_sql"]

ERROR_CLASS = "ConflictingDuplicate"  # the dead letter's synfin-error-class
ROW_COLUMN = "_sink_row"  # staging tables only: the row's position in its COPY (1, 2, ... per session)


@dataclass(frozen=True)
class Conflict:
    """Row ``row`` of a table load has the identity of another record and other content."""

    table: str
    row: int
    key: str  # e.g. "(transaction_id, revision)=(T-1, 0)"
    columns: tuple[str, ...]  # the compared columns that differ

    @property
    def reason(self) -> str:
        """The dead letter's message."""
        return f"conflicting duplicate of {self.table} key {self.key}: differs in {', '.join(self.columns)}"


def _ident(alias: str, column: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(column))


def _same_identity(spec: TableSpec, left: str, right: str) -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("{} = {}").format(_ident(left, c), _ident(right, c)) for c in spec.identity)


def _parts(spec: TableSpec, copied: int) -> dict[str, sql.Composable]:
    """SQL pieces comparing a staged row ``s`` with a reference row ``r`` of its identity, after a COPY
    of ``copied`` rows."""
    stage = f"_stage_{spec.name}"
    return {
        "stage": sql.Identifier(stage),
        "table": sql.Identifier(spec.name),
        "row": sql.Identifier(ROW_COLUMN),
        # the COPY drew the row numbers currval - copied + 1 .. currval (rows may have left the table since)
        "position": sql.SQL("s.{} - currval(pg_get_serial_sequence({}, {})) + {}").format(
            sql.Identifier(ROW_COLUMN), sql.Literal(stage), sql.Literal(ROW_COLUMN), sql.Literal(copied - 1)),
        "same": _same_identity(spec, "s", "r"),
        "key": sql.SQL("ARRAY[{}]").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(_ident("s", c)) for c in spec.identity)),
        "differ": sql.SQL("({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(_ident("s", c) for c in spec.compared),
            sql.SQL(", ").join(_ident("r", c) for c in spec.compared)),
        "which": sql.SQL("array_remove(ARRAY[{}], NULL)").format(sql.SQL(", ").join(
            sql.SQL("CASE WHEN {} IS DISTINCT FROM {} THEN {} END").format(
                _ident("s", c), _ident("r", c), sql.Literal(c)) for c in spec.compared)),
    }


# Per staged row only the probe runs (is its identity stored, and is the stored row the same?): one
# index lookup, about what ON CONFLICT's own costs. Identity text and differing columns are worked out
# for the conflicting rows alone.
_CONFLICTING = ("SELECT s.{row}, {position}, {key}, (SELECT {which} FROM {table} r WHERE {same}) "
                "FROM {stage} s WHERE s.ctid = ANY(ARRAY(SELECT tid FROM probed WHERE differs))")
_PROBED = ("probed AS MATERIALIZED (SELECT s.ctid AS tid, (SELECT {differ} FROM {table} r WHERE {same}) AS differs "
           "FROM {stage} s)")


def remove_stored_sql(spec: TableSpec, copied: int) -> sql.Composed:
    """Delete the staged rows whose identity is stored. Returns (row number, position in the COPY,
    identity as text, differing columns) of those that differ from the stored row, then one row
    (NULL, rows deleted, NULL, NULL)."""
    return sql.SQL(
        "WITH " + _PROBED + ", "
        "gone AS (DELETE FROM {stage} WHERE ctid = ANY(ARRAY(SELECT tid FROM probed WHERE differs IS NOT NULL))) "
        + _CONFLICTING + " UNION ALL SELECT NULL, count(differs), NULL, NULL FROM probed"
    ).format(**_parts(spec, copied))


def probe_sql(spec: TableSpec) -> sql.Composed:
    """One pass over the staged rows: (how many have their identity stored, the ctids of those that
    differ from the stored row, or NULL if none)."""
    # OFFSET 0 keeps the subquery whole: flattened, each use of "differs" would run its lookup again
    return sql.SQL("SELECT count(differs), array_agg(tid) FILTER (WHERE differs) FROM ("
                   "SELECT s.ctid AS tid, (SELECT {differ} FROM {table} r WHERE {same}) AS differs FROM {stage} s "
                   "OFFSET 0) p").format(**_parts(spec, 1))


def details_sql(spec: TableSpec, copied: int) -> sql.Composed:
    """(row number, position, identity, differing columns) of the staged rows at the ctids given as the
    one parameter (from ``probe_sql``)."""
    return sql.SQL("SELECT s.{row}, {position}, {key}, (SELECT {which} FROM {table} r WHERE {same}) "
                   "FROM {stage} s WHERE s.ctid = ANY(%s::tid[])").format(**_parts(spec, copied))


def within_batch_sql(spec: TableSpec, copied: int) -> sql.Composed:
    """(row number, position, identity, differing columns) of the staged rows that differ from the first
    staged row of their identity."""
    identity = sql.SQL(", ").join(sql.Identifier(c) for c in spec.identity)
    return sql.SQL(
        "SELECT s.{row}, {position}, {key}, {which} FROM {stage} s "
        "JOIN (SELECT DISTINCT ON ({identity}) * FROM {stage} ORDER BY {identity}, {row}) r ON {same} "
        "WHERE {differ}"
    ).format(identity=identity, **_parts(spec, copied))


def conflicts_from(spec: TableSpec, found: Sequence[tuple[Any, ...]], offset: int) -> list[Conflict]:
    """``Conflict``s from the rows of one of the queries above, for a COPY of the load's rows from
    ``offset`` (the count row of ``remove_stored_sql`` is not one)."""
    names = ", ".join(spec.identity)
    return [Conflict(spec.name, offset + int(position), f"({names})=({', '.join(key)})", tuple(columns))
            for row, position, key, columns in found if row is not None]
