"""From event columns to Avro: the Transaction and Label records of a batch, encoded column-wise.

`RecordEncoder` holds the vocabularies (customer ids, merchant ids, cities, instruments, ...) once
and maps `EventColumns` to `schemas.batch.BatchEncoder` columns, so a batch is encoded without a
Python loop per record. The Transaction record never carries label columns; the Label record does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from synfinance.producers import events as ev
from synfinance.producers.events import EventColumns
from synfinance.producers.ids import scenario_id, transaction_prefix
from synfinance.producers.world.categories import ATM_CATEGORY, ATM_MCC, CATEGORIES
from synfinance.producers.world.declines import APPROVED_RESPONSE_CODE, DECLINE_REASONS
from synfinance.producers.world.geography import CITY_NAMES, CITY_REGIONS, CITY_STATES, CITY_TIERS
from synfinance.schemas.batch import BatchEncoder, Column, FixedStrings, Vocab

if TYPE_CHECKING:
    from synfinance.producers.stream import World

ID_DIGITS = 8
PREFIX = 8  # "T" + the six-character stream id + "-"
ID_LENGTH = PREFIX + 2 * ID_DIGITS + 1
# "0000".."9999" as ASCII: an 8-digit number is two row lookups instead of eight divisions. Each 4-byte row is
# gathered as one little-endian uint32 into a field of _ID_LAYOUT (cheaper than gathering and copying byte rows).
_FOUR_DIGITS = np.array([list(f"{i:04d}".encode()) for i in range(10_000)], dtype=np.uint8)
_FOUR_DIGITS_U32 = _FOUR_DIGITS.view("<u4").reshape(-1)
# T<stream id>-<customer: high 4 digits, low 4>-<seq: high 4, low 4>
_ID_LAYOUT = np.dtype({"names": ["prefix", "customer_high", "customer_low", "dash", "seq_high", "seq_low"],
                       "formats": [f"S{PREFIX}", "<u4", "<u4", "u1", "<u4", "<u4"],
                       "offsets": [0, PREFIX, PREFIX + 4, PREFIX + ID_DIGITS, PREFIX + ID_DIGITS + 1,
                                   PREFIX + ID_DIGITS + 5],
                       "itemsize": ID_LENGTH})


def transaction_ids(customer: npt.NDArray[np.int64], seq: npt.NDArray[np.int64], sid: str) -> npt.NDArray[np.bytes_]:
    """`T<stream id>-<customer ordinal + 1, 8 digits>-<customer's own counter, 8 digits>`.

    Unique, the same whatever the number of shards or the rate, and never equal to an id of another stream.

    >>> transaction_ids(np.array([41]), np.array([7]), "7KQ2MX").tolist()
    [b'T7KQ2MX-00000042-00000007']
    """
    out = np.empty(len(customer), dtype=_ID_LAYOUT)
    out["prefix"], out["dash"] = transaction_prefix(sid), ord("-")
    for field, values in (("customer", customer + 1), ("seq", seq)):
        high, low = np.divmod(values % 100_000_000, 10_000)
        out[f"{field}_high"] = _FOUR_DIGITS_U32[high]
        out[f"{field}_low"] = _FOUR_DIGITS_U32[low]
    return out.view(f"S{ID_LENGTH}")


def _vocab(codes: npt.NDArray[np.int64], values: Sequence[str | None]) -> Vocab:
    return Vocab(codes, values)


class RecordEncoder:
    """Encodes batches of events as framed Transaction and Label records."""

    def __init__(self, world: World, transaction_prefix: bytes | None = None,
                 label_prefix: bytes | None = None) -> None:
        if not hasattr(world, "actors"):
            raise TypeError("RecordEncoder(world, ...) takes the stream's World (populations and fraud actors)")
        customers, merchants, actors = world.customers, world.merchants, world.actors
        self.customers, self.merchants = customers, merchants
        self.sid = customers.sid
        self.transactions = BatchEncoder("transaction", transaction_prefix)
        self.labels = BatchEncoder("label", label_prefix)
        m = len(merchants)
        self.merchant_ids: list[str | None] = [None, *merchants.ids]
        self.payees: list[str | None] = [None, *merchants.vpa, *customers.payee_vpas, *actors.mule_vpas,
                                         *merchants.vpa]
        self.payee_offset = 1 + m
        self.categories: list[str | None] = [None, *(c.name for c in CATEGORIES), ATM_CATEGORY]
        self.mccs: list[str | None] = [None, *(c.mcc for c in CATEGORIES), ATM_MCC]
        self.networks: list[str | None] = [None, *ev.CARD_NETWORKS]
        self.card_types: list[str | None] = [None, "DEBIT", "CREDIT"]
        self.devices: list[str | None] = [None, *customers.device_ids, *actors.device_ids]
        self.ips: list[str | None] = [None, *customers.device_ip, *actors.device_ips]
        self.terminals: list[str | None] = [None, *merchants.terminal_vocab]
        self.reasons: list[str | None] = [None, *(r.reason for r in DECLINE_REASONS)]
        self.codes: list[str | None] = [APPROVED_RESPONSE_CODE, *(r.response_code for r in DECLINE_REASONS)]
        self.fraud_types: list[str | None] = [None, *ev.FRAUD_TYPES]
        self.anomaly_types: list[str | None] = [None, *ev.ANOMALY_TYPES]
        self.currency: list[str | None] = ["INR"]
        self._network_of_instrument = customers.instrument_network
        self._category_code = np.concatenate([merchants.category, [-1]])  # index -1 -> no merchant

    def transaction_columns(self, e: EventColumns) -> dict[str, Column]:
        c = self.customers
        n = len(e)
        has_merchant = e.merchant >= 0
        is_card = (e.payment_mode == ev.DEBIT_CARD) | (e.payment_mode == ev.CREDIT_CARD)
        cash = e.transaction_type == ev.CASH_WITHDRAWAL
        category = np.where(has_merchant, self._category_code[e.merchant] + 1, 0)
        category[cash] = len(self.categories) - 1
        payee = np.where(e.payee >= 0, self.payee_offset + e.payee, 0)
        upi_p2m = has_merchant & (e.payment_mode == ev.UPI) & (e.payee < 0)  # a swapped QR names its own payee
        payee[upi_p2m] = 1 + e.merchant[upi_p2m]
        card_type = np.where(e.payment_mode == ev.DEBIT_CARD, 1, np.where(e.payment_mode == ev.CREDIT_CARD, 2, 0))
        network = np.where(is_card, self._network_of_instrument[e.instrument] + 1, 0)
        # one codes array per source column: BatchEncoder encodes neighbouring fields that share theirs as one
        device, reason = e.device + 1, e.decline_reason + 1
        return {
            "transaction_id": FixedStrings(transaction_ids(e.customer, e.seq, self.sid)),
            "event_time": e.time_us,
            "customer_id": _vocab(e.customer, c.ids),
            "merchant_id": _vocab(e.merchant + 1, self.merchant_ids),
            "payee_vpa": _vocab(payee, self.payees),
            "amount_paise": e.amount_paise,
            "currency": _vocab(np.zeros(n, dtype=np.int64), self.currency),
            "payment_mode": _vocab(e.payment_mode, ev.PAYMENT_MODES),
            "card_network": _vocab(network, self.networks),
            "card_type": _vocab(card_type, self.card_types),
            "card_bin": _vocab(e.instrument, c.instrument_bin),
            "masked_pan": _vocab(e.instrument, c.instrument_pan),
            "payer_vpa": _vocab(e.instrument, c.instrument_vpa),
            "instrument_id": _vocab(e.instrument, c.instrument_ids),
            "issuer_bank": _vocab(e.instrument, c.instrument_bank),
            "channel": _vocab(e.channel, ev.CHANNELS),
            "entry_mode": _vocab(e.entry_mode, ev.ENTRY_MODES),
            "transaction_type": _vocab(e.transaction_type, ev.TRANSACTION_TYPES),
            "merchant_category": _vocab(category, self.categories),
            "mcc": _vocab(category, self.mccs),
            "city": _vocab(e.city, CITY_NAMES),
            "state": _vocab(e.city, CITY_STATES),
            "region": _vocab(e.city, CITY_REGIONS),
            "city_tier": CITY_TIERS[e.city].astype(np.int64),
            "latitude": e.latitude,
            "longitude": e.longitude,
            "device_id": _vocab(device, self.devices),
            "terminal_id": _vocab(e.terminal + 1, self.terminals),
            "ip_address": _vocab(device, self.ips),
            "status": _vocab(e.status, ev.STATUSES),
            "decline_reason": _vocab(reason, self.reasons),
            "response_code": _vocab(reason, self.codes),
            "original_transaction_id": self._originals(e),
        }

    def _originals(self, e: EventColumns) -> FixedStrings:
        """The transaction_id of the purchase each refund gives back (same customer, its `original_seq`), else null."""
        linked = np.flatnonzero(e.original_seq >= 0)
        data = np.zeros(len(e), dtype=f"S{ID_LENGTH}")
        data[linked] = transaction_ids(e.customer[linked], e.original_seq[linked], self.sid)
        return FixedStrings(data, e.original_seq < 0)

    def label_columns(self, e: EventColumns, revision: bool = False) -> dict[str, Column]:
        """First labels (revision 0) of `e`, or with `revision` the revision-1 labels of rows that have one.
        A fraud that will be charged back is first labelled legitimate: the bank does not know yet."""
        known = (e.revision_delay_us < 0) | revision
        fraud_type = np.where(known, e.fraud_type, -1)
        scenario = np.where(known, e.scenario, -1)
        scenarios = np.unique(scenario[scenario >= 0])
        scenario_code = np.searchsorted(scenarios, scenario) + 1
        scenario_code[scenario < 0] = 0
        delay = e.revision_delay_us if revision else e.label_delay_us
        return {
            "transaction_id": FixedStrings(transaction_ids(e.customer, e.seq, self.sid)),
            "customer_id": _vocab(e.customer, self.customers.ids),
            "event_time": e.time_us,
            "is_fraud": fraud_type >= 0,
            "fraud_type": _vocab(fraud_type + 1, self.fraud_types),
            "scenario_id": _vocab(scenario_code, [None, *(scenario_id(self.sid, s) for s in scenarios.tolist())]),
            "is_anomaly": e.anomaly_type >= 0,
            "anomaly_type": _vocab(e.anomaly_type + 1, self.anomaly_types),
            "severity": e.severity,
            "label_time": e.time_us + delay,
            "revision": np.full(len(e), int(revision), dtype=np.int64),
        }

    def encode_transactions(self, e: EventColumns) -> list[bytes]:
        return self.transactions.encode(self.transaction_columns(e), len(e))

    def encode_labels(self, e: EventColumns) -> list[bytes]:
        """The first label of every row of `e`."""
        return self.labels.encode(self.label_columns(e), len(e))

    def encode_revisions(self, e: EventColumns) -> tuple[npt.NDArray[np.int64], list[bytes]]:
        """(row indices, revision labels) of the rows of `e` whose first label is revised later."""
        rows = np.flatnonzero(e.revision_delay_us >= 0)
        if not len(rows):
            return rows, []
        return rows, self.labels.encode(self.label_columns(e.take(rows), revision=True), len(rows))
