"""Refund links: transactions.original_transaction_id, the purchase a refund gives back (null otherwise).

Upgrades in place: the column is nullable with no default (no table rewrite), so rows written before it
read as null. The view transactions_labelled selects ``t.*``, which PostgreSQL expands when the view is
created, so it is created again to show the column. Downgrading drops the column (and the links).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from sinks.schema): 0002's transactions_labelled, unchanged but for what t.* holds.
VIEW = """
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


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS transactions_labelled")
    op.add_column("transactions", sa.Column("original_transaction_id", sa.Text(), nullable=True))
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS transactions_labelled")
    op.drop_column("transactions", "original_transaction_id")
    op.execute(VIEW)
