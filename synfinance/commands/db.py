"""`synfinance db init|status|query` — the sink's PostgreSQL schema: migrate, inspect, report."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from synfinance.common.errors import UsageError
from synfinance.common.settings import load_settings
from synfinance.console import make_console
from synfinance.sinks.reports import REPORTS

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.exc import OperationalError

# SQLAlchemy, Alembic and psycopg2 load inside the commands: other commands start without them
DEFAULT_SCHEMA = "public"

app = typer.Typer(help="Create, inspect and query the sink's PostgreSQL tables (URL from SYNFIN_DATABASE_URL).",
                  epilog="Example: synfinance db init && synfinance db query fraud-by-type", no_args_is_help=True)
console = make_console()

SCHEMA_OPTION = typer.Option(DEFAULT_SCHEMA, "--schema", help="PostgreSQL schema holding the tables.")


def _engine(db_schema: str, read_only: bool = False) -> Engine:
    from synfinance.sinks import database

    settings = load_settings()
    database.check_schema_name(db_schema)
    return database.engine(settings.database_dsn(), db_schema, read_only=read_only)


def _unreachable(error: OperationalError) -> UsageError:
    first = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    return UsageError(f"database unreachable ({first}); check SYNFIN_DATABASE_URL or run `synfinance stack up`")


@app.command()
def init(db_schema: str = SCHEMA_OPTION) -> None:
    """Create the schema if needed and migrate it to the newest revision (alembic upgrade head).

    Example: synfinance db init --schema public
    """
    from sqlalchemy.exc import OperationalError

    from synfinance.sinks import database

    engine = _engine(db_schema)
    try:
        revision = database.upgrade(engine, db_schema)
    except OperationalError as error:
        raise _unreachable(error) from None
    finally:
        engine.dispose()
    console.print(f"schema {db_schema}: at revision {revision} (head)")


@app.command()
def status(db_schema: str = SCHEMA_OPTION) -> None:
    """Show the schema's revision and the row count of every table (and of labels_latest).

    Example: synfinance db status
    """
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from synfinance.sinks import database, schema

    engine = _engine(db_schema, read_only=True)
    try:
        current = database.current_revision(engine)
        head = database.head_revision()
        console.print(f"schema    {db_schema}")
        state = "up to date" if current == head else "behind: run `synfinance db init`"
        console.print(f"revision  {current or 'none'} (head {head}, {state})")
        if current is None:
            return
        table = Table("table", "rows", box=None, pad_edge=False)
        with engine.connect() as connection:
            # labels holds every revision; the view (at head) has one row per labelled transaction
            views = [schema.LABELS_VIEW_NAME] if current == head else []
            for name in [*schema.metadata.tables, *views]:
                count = connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                table.add_row(name, f"{count:,}")
        console.print(table)
    except OperationalError as error:
        raise _unreachable(error) from None
    finally:
        engine.dispose()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _trace_id(text: str) -> str:
    """The trace id the user gave (32 hex digits, or a whole traceparent), lower-cased; UsageError if neither."""
    from synfinance.common.trace import is_trace_id, trace_ids

    value = text.strip().lower()
    if len(value) >= 55 and value.isascii():  # a traceparent header value, pasted whole
        value = trace_ids([value.encode()])[0].decode()
    if not is_trace_id(value):
        raise UsageError(f"--trace {text!r}: expected a W3C trace id, 32 hex digits (not all zero)")
    return value


def _report_name(report: str | None, trace: str | None) -> str:
    if trace is not None:
        if report not in (None, "trace"):
            raise UsageError(f"--trace shows one trace's path and takes no report (got {report!r})")
        return "trace"
    if report is None:
        raise UsageError(f"name a report (one of: {', '.join(REPORTS)}) or give --trace TRACE_ID")
    if report == "trace":
        raise UsageError("the trace report needs --trace TRACE_ID")
    if report not in REPORTS:
        raise UsageError(f"unknown report {report!r}; one of: {', '.join(REPORTS)}")
    return report


@app.command()
def query(
    report: str | None = typer.Argument(None, help=f"One of: {', '.join(REPORTS)} (see above)."),
    db_schema: str = SCHEMA_OPTION,
    k: int = typer.Option(100, "--k", min=1, help="precision-at-k: how many top scores per model."),
    model: str | None = typer.Option(None, "--model",
                                     help="precision-at-k: one model only (model_version up to its first '/')."),
    limit: int = typer.Option(10, "--limit", min=1, help="top-merchants: how many."),
    since: datetime | None = typer.Option(None, "--since", help="fraud-by-type, top-merchants: event time from."),
    trace: str | None = typer.Option(None, "--trace", help="Show one trace's path: the rows of every table "
                                     "whose trace_id is this (32 hex digits, as in a traceparent header)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per row instead of a table."),
) -> None:
    """Run a canned read-only report (parameters are bound, never spliced into SQL).

    Reports: fraud-by-type (labelled transactions per fraud type: count, share, amount); precision-at-k (per
    model, of its --k highest-scored labelled transactions how many were fraud); top-merchants (the --limit
    merchants with the most frauds, and their fraud rate); trace (--trace TRACE_ID, the report name may be left out: a
    payment's rows in every table, in pipeline order: transaction, labels, score, alert).

    Example: synfinance db query precision-at-k --k 500
    Example: synfinance db query --trace 4bf92f3577b34da6a3ce929d0e0e4736
    """
    from sqlalchemy.exc import OperationalError

    from synfinance.sinks import database
    from synfinance.sinks.reports import run_report

    report = _report_name(report, trace)
    offered = {"k": k, "model": model, "limit": limit, "since": since,
               "trace": None if trace is None else _trace_id(trace)}
    params = {name: value for name, value in offered.items() if name in REPORTS[report].params}
    engine = _engine(db_schema, read_only=True)
    try:
        if database.current_revision(engine) is None:
            raise UsageError(f"schema {db_schema} has no tables; run `synfinance db init --schema {db_schema}`")
        result = run_report(engine, report, params)
    except OperationalError as error:
        raise _unreachable(error) from None
    finally:
        engine.dispose()
    if as_json:
        for row in result.rows:
            print(json.dumps({c: _plain(v) for c, v in zip(result.columns, row, strict=True)}))
        return
    table = Table(*result.columns, box=None, pad_edge=False)
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
    console.print(f"{len(result.rows)} rows")
