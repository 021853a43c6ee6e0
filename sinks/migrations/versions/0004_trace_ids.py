"""Trace ids: a nullable ``trace_id`` column on every table, the W3C trace id of each record's ``traceparent``.

Upgrades in place: the columns are nullable with no default (no table rewrite), so rows written before
them read as null. The views select ``l.*`` and ``t.*``, which PostgreSQL expands when a view is created,
so both are created again to show the column. Downgrading drops the columns (and the trace ids).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("customers", "merchants", "transactions", "labels", "scored_transactions", "alerts")

# Frozen here (not imported from sinks.schema): 0002's views, unchanged but for what l.* and t.* hold.
VIEWS = """
CREATE VIEW labels_latest AS
SELECT l.*
FROM labels l
WHERE NOT EXISTS (
    SELECT 1 FROM labels later
    WHERE later.transaction_id = l.transaction_id AND later.revision > l.revision
);
CREATE VIEW transactions_labelled AS
SELECT t.*,
       l.is_fraud, l.fraud_type, l.scenario_id, l.is_anomaly, l.anomaly_type, l.severity, l.label_time,
       l.revision AS label_revision,
       s.score, s.model_version, s.processed_at AS scored_at
FROM transactions t
LEFT JOIN labels_latest l ON l.transaction_id = t.transaction_id
LEFT JOIN LATERAL (
    SELECT sc.score, sc.model_version, sc.processed_at
    FROM scored_transactions sc
    WHERE sc.transaction_id = t.transaction_id
    ORDER BY sc.processed_at DESC, sc.model_version DESC
    LIMIT 1
) s ON true;
"""


def _drop_views() -> None:
    op.execute("DROP VIEW IF EXISTS transactions_labelled")
    op.execute("DROP VIEW IF EXISTS labels_latest")


def upgrade() -> None:
    _drop_views()
    for table in TABLES:
        op.add_column(table, sa.Column("trace_id", sa.Text(), nullable=True))
    op.execute(VIEWS)


def downgrade() -> None:
    _drop_views()
    for table in TABLES:
        op.drop_column(table, "trace_id")
    op.execute(VIEWS)
