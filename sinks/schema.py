"""The PostgreSQL schema the sink writes: SQLAlchemy 2.0 metadata, one table per Avro record type.

Columns carry the Avro field names (ScoredTransaction's nested ``features`` are flattened) so the
sink maps records to rows by name (``sinks.tables``); timestamps are ``timestamptz``, money stays
in integer paise, enum symbols are ``text`` (a symbol added to a schema, which Avro evolution allows,
then needs no migration). There are no foreign keys on purpose: topics are consumed in parallel, so a
label or score may land before its transaction, and a stream sink must not reject it for that.

Every table has a primary key on the record's identity, which is what makes the sink idempotent:
``INSERT ... ON CONFLICT`` on that key turns redeliveries into no-ops. ``ingested_at`` records when a row
first landed (freshness), and is the one column the sink does not supply. ``trace_id`` is the W3C trace id
of the record's ``traceparent`` header (NULL without a valid one): a transaction's rows in every table
share it (``synfinance db query --trace``). A column whose ``info`` says ``per_delivery`` differs between
deliveries of one record and nowhere else: a wall-clock stamp of the processing that made it, or the trace
id (random per producer run and processing): the sink leaves it out when it tells an identical redelivery
from a conflicting record under the same key (``sinks.conflicts``).

Labels keep their history: the key is (transaction_id, revision), every revision a row. A later label
with a higher revision replaces an earlier one as the truth (a chargeback after a "legitimate"), so
readers use the view ``labels_latest`` (the highest revision of each transaction, whatever order the
revisions arrived in), never ``labels`` itself, unless they want the history. The view
``transactions_labelled`` joins each transaction with that latest label and its latest score.
Versioned by Alembic (``sinks/migrations``); ``tests/sinks/test_schema.py`` checks the migrations
build exactly this metadata and these views.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "LABELS_VIEW_NAME",
    "VIEW_NAME",
    "alerts",
    "create_view_sql",
    "customers",
    "drop_view_sql",
    "labels",
    "merchants",
    "metadata",
    "scored_transactions",
    "transactions",
]

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})


def _time(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _ingested_at() -> Column[object]:
    return Column("ingested_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _text(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, Text, nullable=nullable)


def _per_delivery(name: str, type_: DateTime | Double) -> Column[object]:
    """A wall-clock stamp of the processing, not of the event: differs on every re-processing."""
    return Column(name, type_, nullable=False, info={"per_delivery": True})


def _trace_id() -> Column[object]:
    """The trace id of the record's `traceparent` header (added by migration 0004, so it is the last column)."""
    return Column("trace_id", Text, nullable=True, info={"per_delivery": True, "header": "traceparent"})


customers = Table(
    "customers", metadata,
    Column("customer_id", Text, primary_key=True),
    _text("name"), Column("age", Integer, nullable=False), _text("gender"), _text("occupation"), _text("segment"),
    Column("monthly_income_paise", BigInteger, nullable=False),
    _text("home_city"), _text("home_state"), _text("home_region"),
    Column("home_city_tier", Integer, nullable=False),
    Column("home_latitude", Double, nullable=False), Column("home_longitude", Double, nullable=False),
    Column("devices", JSONB, nullable=False), Column("instruments", JSONB, nullable=False),
    Column("monthly_txn_rate", Double, nullable=False), Column("amount_scale", Double, nullable=False),
    Column("active_hours", ARRAY(Integer), nullable=False),
    Column("travel_propensity", Double, nullable=False), _text("credit_score_band"),
    Column("account_open_date", Date, nullable=False),
    _time("updated_at"), _ingested_at(), _trace_id(),
)

merchants = Table(
    "merchants", metadata,
    Column("merchant_id", Text, primary_key=True),
    _text("name"), _text("category"), _text("subcategory"), _text("mcc"),
    _text("city"), _text("state"), _text("region"), Column("city_tier", Integer, nullable=False),
    Column("latitude", Double, nullable=False), Column("longitude", Double, nullable=False),
    Column("is_online", Boolean, nullable=False), Column("is_chain", Boolean, nullable=False),
    _text("acquirer_bank"), _text("risk_tier"), Column("terminal_ids", ARRAY(Text), nullable=False),
    _text("vpa"), _time("updated_at"), _ingested_at(), _trace_id(),
)

transactions = Table(
    "transactions", metadata,
    Column("transaction_id", Text, primary_key=True),
    _time("event_time"), _text("customer_id"), _text("merchant_id", True), _text("payee_vpa", True),
    Column("amount_paise", BigInteger, nullable=False), _text("currency"),
    _text("payment_mode"), _text("card_network", True), _text("card_type", True), _text("card_bin", True),
    _text("masked_pan", True), _text("payer_vpa", True), _text("instrument_id"), _text("issuer_bank"),
    _text("channel"), _text("entry_mode"), _text("transaction_type"),
    _text("merchant_category", True), _text("mcc", True),
    _text("city"), _text("state"), _text("region"), Column("city_tier", Integer, nullable=False),
    Column("latitude", Double, nullable=False), Column("longitude", Double, nullable=False),
    _text("device_id", True), _text("terminal_id", True), _text("ip_address", True),
    _text("status"), _text("decline_reason", True), _text("response_code"),
    _text("original_transaction_id", True),  # a refund's purchase (added by migration 0003)
    _ingested_at(), _trace_id(),
    Index(None, "customer_id", "event_time"),
    # person-to-person transfers (~30%) have no merchant: leaving them out makes every insert cheaper
    Index(None, "merchant_id", "event_time", postgresql_where=text("merchant_id IS NOT NULL")),
)

labels = Table(
    "labels", metadata,
    # the history of a transaction's labels: one row per revision (0 first, then 1, 2, ...)
    Column("transaction_id", Text, primary_key=True),
    _text("customer_id"), _time("event_time"),
    Column("is_fraud", Boolean, nullable=False), _text("fraud_type", True), _text("scenario_id", True),
    Column("is_anomaly", Boolean, nullable=False), _text("anomaly_type", True),
    Column("severity", Double, nullable=False), _time("label_time"),
    Column("revision", Integer, primary_key=True),
    _ingested_at(), _trace_id(),
    # fraud reports read only the few fraudulent rows: a partial index stays small
    Index("ix_labels_fraud", "fraud_type", "event_time", postgresql_where=text("is_fraud")),
)

scored_transactions = Table(
    "scored_transactions", metadata,
    # one score per transaction and model version: a re-scoring by a restarted worker is a duplicate
    Column("transaction_id", Text, primary_key=True),
    Column("model_version", Text, primary_key=True),
    _text("customer_id"), _time("event_time"), Column("amount_paise", BigInteger, nullable=False),
    Column("txn_count_5m", Integer, nullable=False), Column("txn_count_1h", Integer, nullable=False),
    Column("txn_count_24h", Integer, nullable=False),
    Column("amount_sum_1h_paise", BigInteger, nullable=False),
    Column("amount_sum_24h_paise", BigInteger, nullable=False),
    Column("amount_zscore", Double, nullable=False),
    Column("distinct_merchants_1h", Integer, nullable=False), Column("distinct_devices_24h", Integer, nullable=False),
    Column("distinct_cities_24h", Integer, nullable=False),
    Column("seconds_since_prev", Double), Column("km_from_prev", Double), Column("speed_kmh_from_prev", Double),
    Column("km_from_home", Double, nullable=False),
    Column("is_new_device", Boolean, nullable=False), Column("is_new_merchant", Boolean, nullable=False),
    Column("declines_1h", Integer, nullable=False), Column("small_txns_1h", Integer, nullable=False),
    Column("hour_of_day", Integer, nullable=False), Column("is_night", Boolean, nullable=False),
    Column("is_weekend", Boolean, nullable=False), Column("merchant_fraud_rate", Double, nullable=False),
    Column("score", Double, nullable=False),
    _per_delivery("processed_at", DateTime(timezone=True)), _per_delivery("processing_latency_ms", Double()),
    _ingested_at(), _trace_id(),
    Index(None, "model_version", "score"),  # precision@k: the top-k scores of a model version
)

alerts = Table(
    "alerts", metadata,
    Column("alert_id", Text, primary_key=True),
    _text("transaction_id"), _text("customer_id"), _time("event_time"),
    Column("score", Double, nullable=False), Column("threshold", Double, nullable=False), _text("model_version"),
    Column("reasons", ARRAY(Text), nullable=False), _per_delivery("created_at", DateTime(timezone=True)),
    _ingested_at(), _trace_id(),
    Index(None, "customer_id", "event_time"),
)

LABELS_VIEW_NAME = "labels_latest"
VIEW_NAME = "transactions_labelled"

# the highest revision of each transaction's labels; an anti-join, so a filter on the view (is_fraud,
# event_time) still reaches the labels' indexes
_LABELS_VIEW_BODY = """
SELECT l.*
FROM labels l
WHERE NOT EXISTS (
    SELECT 1 FROM labels later
    WHERE later.transaction_id = l.transaction_id AND later.revision > l.revision
)
"""

# LEFT JOINs: a transaction shows before its label or score arrives (labels come hours to weeks later)
_VIEW_BODY = """
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
) s ON true
"""


def create_view_sql() -> str:
    """DDL of the views, in dependency order (unqualified: they land in the first schema on the
    search_path)."""
    return "".join(f"CREATE VIEW {name} AS{body.rstrip()};\n"
                   for name, body in ((LABELS_VIEW_NAME, _LABELS_VIEW_BODY), (VIEW_NAME, _VIEW_BODY)))


def drop_view_sql() -> str:
    return f"DROP VIEW IF EXISTS {VIEW_NAME};\nDROP VIEW IF EXISTS {LABELS_VIEW_NAME};\n"
