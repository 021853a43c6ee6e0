"""Label revisions: labels keep every revision of a transaction's label, keyed (transaction_id, revision);
the view labels_latest shows the highest revision of each, and transactions_labelled joins that one.

Upgrades a 0001 schema in place: its labels were all first labels, so they become revision 0 (a
constant default: no table rewrite; the default is dropped afterwards, since every record supplies
its revision). Downgrading keeps each transaction's latest revision only: 0001 has room for one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from sinks.schema): a later change to a view is a new revision.
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

# 0001's view, which the downgrade restores
VIEW_0001 = """
CREATE VIEW transactions_labelled AS
SELECT t.*,
       l.is_fraud, l.fraud_type, l.scenario_id, l.is_anomaly, l.anomaly_type, l.severity, l.label_time,
       s.score, s.model_version, s.processed_at AS scored_at
FROM transactions t
LEFT JOIN labels l ON l.transaction_id = t.transaction_id
LEFT JOIN LATERAL (
    SELECT sc.score, sc.model_version, sc.processed_at
    FROM scored_transactions sc
    WHERE sc.transaction_id = t.transaction_id
    ORDER BY sc.processed_at DESC, sc.model_version DESC
    LIMIT 1
) s ON true
"""


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS transactions_labelled")  # its columns change: not CREATE OR REPLACE
    op.add_column("labels", sa.Column("revision", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.alter_column("labels", "revision", server_default=None)
    op.drop_constraint("pk_labels", "labels", type_="primary")
    op.create_primary_key("pk_labels", "labels", ["transaction_id", "revision"])
    op.execute(VIEWS)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS transactions_labelled")
    op.execute("DROP VIEW IF EXISTS labels_latest")
    op.execute("DELETE FROM labels l WHERE EXISTS (SELECT 1 FROM labels later "
               "WHERE later.transaction_id = l.transaction_id AND later.revision > l.revision)")
    op.drop_constraint("pk_labels", "labels", type_="primary")
    op.create_primary_key("pk_labels", "labels", ["transaction_id"])
    op.drop_column("labels", "revision")
    op.execute(VIEW_0001)
