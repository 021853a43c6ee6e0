"""Initial schema: customers, merchants, transactions, labels, scored_transactions, alerts, their
indexes, and the transactions_labelled view.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from sinks.schema): a later change to the view is a new revision.
VIEW = """
CREATE OR REPLACE VIEW transactions_labelled AS
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
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Text(), nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("reasons", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_customer_id_event_time"), "alerts", ["customer_id", "event_time"], unique=False)
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("age", sa.Integer(), nullable=False),
        sa.Column("gender", sa.Text(), nullable=False),
        sa.Column("occupation", sa.Text(), nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("monthly_income_paise", sa.BigInteger(), nullable=False),
        sa.Column("home_city", sa.Text(), nullable=False),
        sa.Column("home_state", sa.Text(), nullable=False),
        sa.Column("home_region", sa.Text(), nullable=False),
        sa.Column("home_city_tier", sa.Integer(), nullable=False),
        sa.Column("home_latitude", sa.Double(), nullable=False),
        sa.Column("home_longitude", sa.Double(), nullable=False),
        sa.Column("devices", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("instruments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("monthly_txn_rate", sa.Double(), nullable=False),
        sa.Column("amount_scale", sa.Double(), nullable=False),
        sa.Column("active_hours", sa.ARRAY(sa.Integer()), nullable=False),
        sa.Column("travel_propensity", sa.Double(), nullable=False),
        sa.Column("credit_score_band", sa.Text(), nullable=False),
        sa.Column("account_open_date", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "labels",
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_fraud", sa.Boolean(), nullable=False),
        sa.Column("fraud_type", sa.Text(), nullable=True),
        sa.Column("scenario_id", sa.Text(), nullable=True),
        sa.Column("is_anomaly", sa.Boolean(), nullable=False),
        sa.Column("anomaly_type", sa.Text(), nullable=True),
        sa.Column("severity", sa.Double(), nullable=False),
        sa.Column("label_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_labels")),
    )
    op.create_index(
        "ix_labels_fraud", "labels", ["fraud_type", "event_time"], unique=False, postgresql_where=sa.text("is_fraud")
    )
    op.create_table(
        "merchants",
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("subcategory", sa.Text(), nullable=False),
        sa.Column("mcc", sa.Text(), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("city_tier", sa.Integer(), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("is_online", sa.Boolean(), nullable=False),
        sa.Column("is_chain", sa.Boolean(), nullable=False),
        sa.Column("acquirer_bank", sa.Text(), nullable=False),
        sa.Column("risk_tier", sa.Text(), nullable=False),
        sa.Column("terminal_ids", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("vpa", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_merchants")),
    )
    op.create_table(
        "scored_transactions",
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("txn_count_5m", sa.Integer(), nullable=False),
        sa.Column("txn_count_1h", sa.Integer(), nullable=False),
        sa.Column("txn_count_24h", sa.Integer(), nullable=False),
        sa.Column("amount_sum_1h_paise", sa.BigInteger(), nullable=False),
        sa.Column("amount_sum_24h_paise", sa.BigInteger(), nullable=False),
        sa.Column("amount_zscore", sa.Double(), nullable=False),
        sa.Column("distinct_merchants_1h", sa.Integer(), nullable=False),
        sa.Column("distinct_devices_24h", sa.Integer(), nullable=False),
        sa.Column("distinct_cities_24h", sa.Integer(), nullable=False),
        sa.Column("seconds_since_prev", sa.Double(), nullable=True),
        sa.Column("km_from_prev", sa.Double(), nullable=True),
        sa.Column("speed_kmh_from_prev", sa.Double(), nullable=True),
        sa.Column("km_from_home", sa.Double(), nullable=False),
        sa.Column("is_new_device", sa.Boolean(), nullable=False),
        sa.Column("is_new_merchant", sa.Boolean(), nullable=False),
        sa.Column("declines_1h", sa.Integer(), nullable=False),
        sa.Column("small_txns_1h", sa.Integer(), nullable=False),
        sa.Column("hour_of_day", sa.Integer(), nullable=False),
        sa.Column("is_night", sa.Boolean(), nullable=False),
        sa.Column("is_weekend", sa.Boolean(), nullable=False),
        sa.Column("merchant_fraud_rate", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processing_latency_ms", sa.Double(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", "model_version", name=op.f("pk_scored_transactions")),
    )
    op.create_index(
        op.f("ix_scored_transactions_model_version_score"),
        "scored_transactions",
        ["model_version", "score"],
        unique=False,
    )
    op.create_table(
        "transactions",
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=True),
        sa.Column("payee_vpa", sa.Text(), nullable=True),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("payment_mode", sa.Text(), nullable=False),
        sa.Column("card_network", sa.Text(), nullable=True),
        sa.Column("card_type", sa.Text(), nullable=True),
        sa.Column("card_bin", sa.Text(), nullable=True),
        sa.Column("masked_pan", sa.Text(), nullable=True),
        sa.Column("payer_vpa", sa.Text(), nullable=True),
        sa.Column("instrument_id", sa.Text(), nullable=False),
        sa.Column("issuer_bank", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("entry_mode", sa.Text(), nullable=False),
        sa.Column("transaction_type", sa.Text(), nullable=False),
        sa.Column("merchant_category", sa.Text(), nullable=True),
        sa.Column("mcc", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("city_tier", sa.Integer(), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=True),
        sa.Column("terminal_id", sa.Text(), nullable=True),
        sa.Column("ip_address", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("response_code", sa.Text(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_transactions")),
    )
    op.create_index(
        op.f("ix_transactions_customer_id_event_time"), "transactions", ["customer_id", "event_time"], unique=False
    )
    op.create_index(
        op.f("ix_transactions_merchant_id_event_time"),
        "transactions",
        ["merchant_id", "event_time"],
        unique=False,
        postgresql_where=sa.text("merchant_id IS NOT NULL"),
    )
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS transactions_labelled")
    op.drop_index(op.f("ix_transactions_merchant_id_event_time"), table_name="transactions")
    op.drop_index(op.f("ix_transactions_customer_id_event_time"), table_name="transactions")
    op.drop_table("transactions")
    op.drop_index(op.f("ix_scored_transactions_model_version_score"), table_name="scored_transactions")
    op.drop_table("scored_transactions")
    op.drop_table("merchants")
    op.drop_index("ix_labels_fraud", table_name="labels", postgresql_where=sa.text("is_fraud"))
    op.drop_table("labels")
    op.drop_table("customers")
    op.drop_index(op.f("ix_alerts_customer_id_event_time"), table_name="alerts")
    op.drop_table("alerts")
