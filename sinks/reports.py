"""Canned read-only reports over the sink's tables (``synfinance db query``).

Each report is a fixed SQL text with bound parameters, run in a read-only transaction with a
statement timeout: ``db query`` lets a user look, never change, and never splices input into SQL.
Amounts are reported in rupees (paise / 100). A transaction's label is its latest revision (the view
``labels_latest``): a chargeback that revised a "legitimate" counts as fraud, and once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # SQLAlchemy loads when a report runs, not when the CLI lists the reports
    from sqlalchemy import Engine

__all__ = ["REPORTS", "Report", "ReportResult", "run_report"]


@dataclass(frozen=True)
class Report:
    """A named query: its SQL, what it answers, and its parameters with defaults."""

    name: str
    help: str
    sql: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class ReportResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


REPORTS: dict[str, Report] = {r.name: r for r in (
    Report(
        "fraud-by-type",
        "Labelled transactions per fraud type (legitimate ones as '-'): count, share, amount (INR).",
        """
        SELECT coalesce(l.fraud_type, '-') AS fraud_type,
               count(*) AS transactions,
               round(100.0 * count(*) / sum(count(*)) OVER (), 3) AS pct,
               round(sum(t.amount_paise) / 100.0, 2) AS amount_inr
        FROM labels_latest l
        JOIN transactions t ON t.transaction_id = l.transaction_id
        WHERE l.event_time >= coalesce(CAST(:since AS timestamptz), '-infinity')
        GROUP BY 1
        ORDER BY (coalesce(l.fraud_type, '-') = '-'), transactions DESC
        """,
        {"since": None},
    ),
    Report(
        "precision-at-k",
        "Per model: of its k highest-scored labelled transactions, how many were fraud.",
        # a model_version is MODEL/WORKER/LABELS_LEARNED: it changes with every learning step, so the
        # model is what precedes the first '/'; a transaction scored again (a restarted worker) counts
        # once, with its first score
        """
        WITH scores AS (
            SELECT DISTINCT ON (split_part(s.model_version, '/', 1), s.transaction_id)
                   split_part(s.model_version, '/', 1) AS model, s.model_version, s.transaction_id, s.score,
                   l.is_fraud
            FROM scored_transactions s
            JOIN labels_latest l ON l.transaction_id = s.transaction_id
            WHERE CAST(:model AS text) IS NULL OR split_part(s.model_version, '/', 1) = :model
            ORDER BY split_part(s.model_version, '/', 1), s.transaction_id, s.processed_at, s.model_version
        ), ranked AS (
            SELECT model, model_version, is_fraud,
                   row_number() OVER (PARTITION BY model ORDER BY score DESC, transaction_id) AS rank
            FROM scores
        )
        SELECT model, count(DISTINCT model_version) AS versions, count(*) AS k,
               count(*) FILTER (WHERE is_fraud) AS frauds,
               round(avg(CASE WHEN is_fraud THEN 1.0 ELSE 0.0 END), 4) AS precision
        FROM ranked
        WHERE rank <= :k
        GROUP BY model
        ORDER BY model
        """,
        {"k": 100, "model": None},
    ),
    Report(
        "top-merchants",
        "Merchants with the most fraudulent labelled transactions, with their fraud rate.",
        """
        SELECT t.merchant_id, m.name, m.category,
               count(*) FILTER (WHERE l.is_fraud) AS frauds,
               count(*) AS transactions,
               round(100.0 * count(*) FILTER (WHERE l.is_fraud) / count(*), 2) AS fraud_pct,
               round(sum(t.amount_paise) FILTER (WHERE l.is_fraud) / 100.0, 2) AS fraud_amount_inr
        FROM transactions t
        JOIN labels_latest l ON l.transaction_id = t.transaction_id
        LEFT JOIN merchants m ON m.merchant_id = t.merchant_id
        WHERE t.merchant_id IS NOT NULL
          AND t.event_time >= coalesce(CAST(:since AS timestamptz), '-infinity')
        GROUP BY t.merchant_id, m.name, m.category
        HAVING count(*) FILTER (WHERE l.is_fraud) > 0
        ORDER BY frauds DESC, t.merchant_id
        LIMIT :limit
        """,
        {"limit": 10, "since": None},
    ),
    Report(
        "trace",
        "One trace's path (--trace TRACE_ID): its rows in every table, the producer's records first "
        "(the transaction, its label revisions), then the processor's (the score, the alert).",
        # no index on trace_id (it would slow every insert of the sink): each table is scanned once
        """
        SELECT 0 AS step, 'customers' AS "table", customer_id AS record, CAST(NULL AS text) AS transaction_id,
               updated_at AS at, concat(name, ', ', home_city) AS detail, ingested_at
        FROM customers WHERE trace_id = :trace
        UNION ALL
        SELECT 0, 'merchants', merchant_id, NULL, updated_at, concat(name, ', ', category), ingested_at
        FROM merchants WHERE trace_id = :trace
        UNION ALL
        SELECT 1, 'transactions', transaction_id, transaction_id, event_time,
               concat(payment_mode, ' ', round(amount_paise / 100.0, 2), ' INR, ', status), ingested_at
        FROM transactions WHERE trace_id = :trace
        UNION ALL
        SELECT 2, 'labels', 'revision ' || revision, transaction_id, label_time,
               CASE WHEN is_fraud THEN concat('fraud: ', fraud_type)
                    WHEN is_anomaly THEN concat('legitimate, anomaly: ', anomaly_type)
                    ELSE 'legitimate' END, ingested_at
        FROM labels WHERE trace_id = :trace
        UNION ALL
        SELECT 3, 'scored_transactions', model_version, transaction_id, processed_at,
               concat('score ', round(CAST(score AS numeric), 4)), ingested_at
        FROM scored_transactions WHERE trace_id = :trace
        UNION ALL
        SELECT 4, 'alerts', alert_id, transaction_id, created_at,
               concat('score ', round(CAST(score AS numeric), 4), ' >= ', threshold), ingested_at
        FROM alerts WHERE trace_id = :trace
        ORDER BY step, at, record
        """,
        {"trace": None},
    ),
)}


def run_report(db: Engine, name: str, params: Mapping[str, Any] | None = None,
               timeout_ms: int = 60_000) -> ReportResult:
    """Run report ``name`` with ``params`` (unknown names raise KeyError) read-only."""
    from sqlalchemy import text

    report = REPORTS[name]
    given = dict(params or {})
    unknown = sorted(set(given) - set(report.params))
    if unknown:
        raise KeyError(f"report {name} takes no parameter {', '.join(unknown)}")
    bound = {**report.params, **given}
    with db.connect() as connection, connection.begin():
        connection.execute(text("SET TRANSACTION READ ONLY"))
        connection.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(timeout_ms)})
        result = connection.execute(text(report.sql), bound)
        return ReportResult(list(result.keys()), [tuple(row) for row in result])
