"""`synfinance validate`'s rules and targets: every rule holds on a 100k stream and catches its violation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from synfinance.producers.stream import TransactionStream
from synfinance.producers.validation import report as quality
from synfinance.producers.validation.columns import LABEL_NUMBERS, LABEL_TEXT, NUMBER_FIELDS, TEXT_FIELDS, Stream, Table
from synfinance.producers.validation.rules import RULES
from synfinance.schemas.codec import decode

Record = dict[str, Any]


def stream_of(transactions: list[Record], labels: list[Record]) -> Stream:
    return Stream.build(Table.from_records(transactions, TEXT_FIELDS, NUMBER_FIELDS),
                        Table.from_records(labels, LABEL_TEXT, LABEL_NUMBERS))


@pytest.fixture(scope="module")
def records(stream_100k: tuple[TransactionStream, list[bytes], list[bytes]]) -> tuple[list[Record], list[Record]]:
    _, transactions, labels = stream_100k
    return [decode(v) for v in transactions], [decode(v) for v in labels]


@pytest.fixture(scope="module")
def clean(records: tuple[list[Record], list[Record]]) -> Stream:
    return stream_of(*records)


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_every_rule_holds_on_100k_events(rule: Any, clean: Stream) -> None:
    assert clean.n == 100_000
    assert int(rule.violations(clean).sum()) == 0


def _first(rows: list[Record], **where: Any) -> int:
    return next(i for i, r in enumerate(rows) if all(r[k] == v for k, v in where.items()))


def _declined_card_online(t: list[Record]) -> int:
    return next(i for i, r in enumerate(t) if r["status"] == "DECLINED" and r["entry_mode"] == "CNP"
                and r["payment_mode"] in ("DEBIT_CARD", "CREDIT_CARD"))


def _latest_refund(t: list[Record]) -> int:
    return max((r["event_time"], i) for i, r in enumerate(t) if r["transaction_type"] == "REFUND")[1]


def _other_customers_purchase(t: list[Record], refund: int) -> int:
    return next(i for i, r in enumerate(t) if r["transaction_type"] == "PURCHASE" and r["status"] == "APPROVED"
                and r["customer_id"] != t[refund]["customer_id"] and r["event_time"] < t[refund]["event_time"])


def _original(t: list[Record], refund: int) -> int:
    return next(i for i, r in enumerate(t) if r["transaction_id"] == t[refund]["original_transaction_id"])


def _refunded_twice(t: list[Record]) -> None:
    refund = t[_latest_refund(t)]
    t.append({**refund, "transaction_id": refund["transaction_id"] + "-again", "event_time": refund["event_time"] + 1})


# ways to get a refund's link wrong: each is exactly one violation of refunds_follow_a_purchase
WRONG_LINKS: dict[str, Callable[[list[Record]], None]] = {
    "another_customers_purchase": lambda t: t[_latest_refund(t)].update(
        original_transaction_id=t[_other_customers_purchase(t, _latest_refund(t))]["transaction_id"]),
    "no_link": lambda t: t[_latest_refund(t)].update(original_transaction_id=None),
    "an_id_not_in_the_data": lambda t: t[_latest_refund(t)].update(original_transaction_id="T000000-00000000-00000000"),
    "a_link_on_a_purchase": lambda t: t[_first(t, transaction_type="PURCHASE")].update(
        original_transaction_id=t[_latest_refund(t)]["original_transaction_id"]),
    "refunded_twice": _refunded_twice,
    "before_its_purchase": lambda t: t[_latest_refund(t)].update(
        event_time=t[_original(t, _latest_refund(t))]["event_time"] - 1),
    "more_than_was_paid": lambda t: t[_latest_refund(t)].update(
        amount_paise=t[_original(t, _latest_refund(t))]["amount_paise"] + 1),
    "another_instrument": lambda t: t[_latest_refund(t)].update(instrument_id="I-someone-else"),
    "another_merchant": lambda t: t[_latest_refund(t)].update(
        merchant_id=next(r["merchant_id"] for r in t if r["merchant_id"] not in (
            None, t[_latest_refund(t)]["merchant_id"]))),
}


def _unrevised_fraud(labels: list[Record]) -> int:
    revised = {x["transaction_id"] for x in labels if x["revision"] > 0}
    return next(i for i, x in enumerate(labels) if x["is_fraud"] and x["transaction_id"] not in revised)


# rule -> a change that breaks it on one row (transactions and labels, changed in place)
PLANTED: dict[str, Callable[[list[Record], list[Record]], None]] = {
    "status_and_reason": lambda t, _: t[_first(t, status="APPROVED")].update(response_code="05"),
    "decline_reason_fits_the_payment": lambda t, _: t[_declined_card_online(t)].update(
        decline_reason="incorrect_pin", response_code="55"),
    "card_fields_on_cards_only": lambda t, _: t[_first(t, payment_mode="UPI")].update(card_bin="400000"),
    "card_number_fits_its_network": lambda t, _: t[_first(t, card_network="AMEX")].update(
        masked_pan=t[_first(t, card_network="AMEX")]["masked_pan"] + "1"),
    "vpas_on_upi_only": lambda t, _: t[_first(t, payment_mode="NET_BANKING")].update(payer_vpa="a.b@ybl"),
    "merchant_fields_agree": lambda t, _: t[_first(t, merchant_category="groceries")].update(mcc="5812"),
    "geography_agrees": lambda t, _: t[_first(t, city="Mumbai")].update(state="Gujarat"),
    "channel_and_entry_agree": lambda t, _: t[_first(t, entry_mode="CHIP")].update(channel="QR"),
    "where_it_happened": lambda t, _: t[_first(t, channel="ECOMMERCE")].update(ip_address=None),
    "amounts_within_limits": lambda t, _: t[_first(t, transaction_type="P2P_TRANSFER")].update(
        amount_paise=1_00_000_01),
    "amounts_written_as_paid": lambda t, _: t[_first(t, merchant_category="groceries")].update(
        amount_paise=t[_first(t, merchant_category="groceries")]["amount_paise"] + 1),
    "refunds_go_back": lambda t, _: t[_first(t, transaction_type="REFUND", payment_mode="UPI")].update(
        entry_mode="QR_SCAN", channel="QR"),
    "refunds_follow_a_purchase": lambda t, _: WRONG_LINKS["another_customers_purchase"](t),
    "one_first_label": lambda _, labels: labels.append(dict(labels[0])),
    "labels_are_whole": lambda _, labels: labels[_unrevised_fraud(labels)].update(fraud_type=None),
    "revisions_are_chargebacks": lambda _, labels: labels[_first(labels, revision=1)].update(
        label_time=labels[_first(labels, revision=1)]["event_time"] + 3_600_000_000),
}


def test_every_rule_has_a_planted_violation() -> None:
    assert set(PLANTED) == {r.name for r in RULES}


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_each_rule_catches_its_planted_violation(rule: Any, records: tuple[list[Record], list[Record]]) -> None:
    transactions, labels = copy.deepcopy(records[0][:30_000]), copy.deepcopy(records[1])
    PLANTED[rule.name](transactions, labels)
    planted = stream_of(transactions, labels)
    assert int(rule.violations(planted).sum()) == 1, rule.name
    assert not quality.build(planted).passed


def test_every_refund_names_its_purchase(clean: Stream) -> None:
    t = clean.transactions
    refunds = t.equals("transaction_type", "REFUND")
    assert int(refunds.sum()) > 300 and not t.null("original_transaction_id")[refunds].any()
    assert t.null("original_transaction_id")[~refunds].all()


@pytest.mark.parametrize("wrong", WRONG_LINKS, ids=list(WRONG_LINKS))
def test_a_wrong_refund_link_is_one_violation(wrong: str, records: tuple[list[Record], list[Record]]) -> None:
    transactions = copy.deepcopy(records[0][:30_000])
    WRONG_LINKS[wrong](transactions)
    rule = next(r for r in RULES if r.name == "refunds_follow_a_purchase")
    assert int(rule.violations(stream_of(transactions, records[1])).sum()) == 1


def test_the_report_counts_labels_and_fraud(clean: Stream) -> None:
    result = quality.build(clean)
    assert all(r.passed for r in result.rules)
    assert result.transactions == 100_000 and result.labels >= 100_000
    assert 0.018 < result.facts["fraud_rate"] < 0.022
    assert 4.0 < result.facts["first_label_delay_hours"]["median"] < 8.0


def test_a_month_scale_target_measures_a_whole_month_and_only_one() -> None:
    from datetime import datetime, timedelta, timezone

    from synfinance.producers.validation.targets import _diwali_month, _peak_lift

    ist = timezone(timedelta(hours=5, minutes=30))

    def stream(first_day: int, last_day: int) -> Stream:
        rows = []
        for day in range(first_day, last_day + 1):
            for k in range(20 if day == 18 else 10):
                moment = datetime(2025, 10, day, tzinfo=ist) + timedelta(minutes=1 + 60 * k)
                rows.append({"transaction_id": f"t{day}-{k}", "transaction_type": "PURCHASE", "event_time": moment})
        rows[-1]["event_time"] = datetime(2025, 10, 31, 23, 30, tzinfo=ist)  # the month's end is in the data
        return Stream.build(Table.from_records(rows, ("transaction_id", "transaction_type"), ("event_time",)),
                            Table.from_records([], LABEL_TEXT, LABEL_NUMBERS))

    assert _diwali_month(2025) == "2025-10"  # Diwali 2025: 20 October
    lift, _ = _peak_lift(_diwali_month)(stream(1, 31))
    assert lift == pytest.approx(20 / (320 / 31) - 1)
    lift, _ = _peak_lift(_diwali_month)(stream(2, 31))  # the 1st missing: not a whole month
    assert lift != lift  # NaN: reported n/a, not gated
