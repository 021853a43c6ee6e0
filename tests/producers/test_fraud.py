"""Fraud and anomaly injection (SPEC §4): rates, mixes, labels, and each scenario's signature in the data.

A transaction's truth is its final label (the highest revision): frauds charged back are first labelled
legitimate, so every test of what a fraud looks like joins the transactions with their final labels.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pytest

from synfinance.producers import anomalies
from synfinance.producers.events import ANOMALY_TYPES, CREDIT_CARD, FRAUD_TYPES, EventColumns
from synfinance.producers.prices import CATEGORY_MEDIAN, PAISE_CATEGORIES, PRICE_POINT_CATEGORIES, price_point
from synfinance.producers.scenarios.engine import ANCHOR_COLUMNS, NEW_ACCOUNT_DAYS, eligible
from synfinance.producers.scenarios.plan import CATEGORY, Plan
from synfinance.producers.scenarios.planners import THRESHOLD_AMOUNTS, synthetic_identity
from synfinance.producers.scenarios.rows import RowBuilder
from synfinance.producers.scenarios.specs import SCENARIOS, SPEC_BY_NAME
from synfinance.producers.stream import StreamConfig, TransactionStream, World
from synfinance.producers.timeline import BLOCK_US
from synfinance.producers.world.geography import CITY_COST, city_index, haversine_km
from synfinance.schemas.codec import schema_json
from synfinance.seeded_stream import final_labels
from tests.producers.stream_support import (
    customer_ordinal,
    encoded_stream,
    scenario_block,
)

LABEL_FIELDS = {"is_fraud", "fraud_type", "scenario_id", "is_anomaly", "anomaly_type", "severity", "label_time",
                "revision"}
DAY_US, HOUR_US, MINUTE_US = 86_400_000_000, 3_600_000_000, 60_000_000
Rows = list[dict[str, Any]]
# How each planner (producers/scenarios/planners.py) shifts the price model: the victim's price for the category in
# that city times a factor drawn from [low, high). A retune of a planner is a change of this table.
SHIFTS = {"card_testing probe": (0.02, 0.3), "card_testing purchase": (1.2, 3.0), "card_cloning": (1.2, 3.0),
          "account_takeover": (1.5, 4.0), "stolen_card": (1.2, 3.0), "bust_out": (2.0, 5.0),
          "friendly_fraud": (0.8, 2.0), "qr_code_swap": (0.7, 1.5),
          "synthetic_identity first": (0.8, 1.2), "synthetic_identity max-out": (3.0, 8.0)}
SYNTHETIC_GROWTH = 1.5  # each of a synthetic identity's purchases before the max-out is shifted 1.5x the last


def generate(events: int, **options: Any) -> tuple[TransactionStream, Rows, Rows]:
    """(stream, transactions, labels: every first label then the revisions), decoded."""
    encoded = encoded_stream(StreamConfig(seed=21, customers=6_000, merchants=1_200, **options), events)
    return encoded.stream, encoded.decoded_transactions(), encoded.decoded_labels()


def realised_rate(labels: Rows) -> float:
    """Transactions whose final label says fraud, over all transactions."""
    final = final_labels(labels)
    return sum(label["is_fraud"] for label in final.values()) / len(final)


@pytest.fixture(scope="module")
def at_2pct() -> tuple[TransactionStream, Rows, Rows]:
    return generate(300_000, fraud_rate=0.02, anomaly_rate=0.02)


@pytest.fixture(scope="module")
def joined(at_2pct: tuple[TransactionStream, Rows, Rows]) -> Rows:
    """Each transaction with its final label."""
    _, transactions, labels = at_2pct
    final = final_labels(labels)
    assert list(final) == [t["transaction_id"] for t in transactions]
    return [{**t, **final[t["transaction_id"]]} for t in transactions]


@pytest.fixture(scope="module")
def world(at_2pct: tuple[TransactionStream, Rows, Rows]) -> World:
    return at_2pct[0].world


def scenarios_of(joined: Rows, fraud_type: str) -> dict[str, Rows]:
    """The complete scenarios of a type, each in event-time order: planned in the stream's own blocks (not in a
    warm-up block before the start, whose scenarios the stream shows only from the start on), and started at
    least the type's longest span before the data ends, so none is cut off at either end."""
    cutoff = joined[-1]["event_time"] - SPEC_BY_NAME[fraud_type].span_days * DAY_US
    groups: dict[str, Rows] = defaultdict(list)
    for row in joined:
        if row["fraud_type"] == fraud_type:
            groups[row["scenario_id"]].append(row)
    complete = {key: sorted(rows, key=lambda r: r["event_time"]) for key, rows in groups.items()
                if scenario_block(key) >= 0 and rows[0]["event_time"] < cutoff}
    assert len(complete) >= 5, f"too few {fraud_type} scenarios to check"
    return complete


def rows_of(joined: Rows, fraud_type: str) -> Rows:
    return [r for r in joined if r["fraud_type"] == fraud_type]


def price_ratio(row: dict[str, Any], world: World) -> float:
    """A purchase's amount over the median price the price model gives its customer for its category in its
    city (the customer's ticket scale times the city's cost of living): ~1 for legitimate purchases, a
    fraud's shift for the fraud's."""
    k = customer_ordinal(row["customer_id"])
    median = (CATEGORY_MEDIAN[CATEGORY[row["merchant_category"]]] * 100 * world.customers.amount_scale[k]
              * CITY_COST[city_index(row["city"])])
    return float(row["amount_paise"] / median)


def assert_shifted(rows: Rows, world: World, shift: str) -> None:
    """The median price ratio of these purchases lies within the planner's shift range (the price model's
    own spread is symmetric in log, so it moves the median little; legitimate purchases sit at ~1)."""
    low, high = SHIFTS[shift]
    assert len(rows) >= 40, shift
    median = statistics.median(price_ratio(r, world) for r in rows)
    assert low <= median <= high, (shift, median)


def test_legitimate_purchases_cost_what_the_price_model_says(joined: Rows, world: World) -> None:
    purchases = [r for r in joined if not r["is_fraud"] and not r["is_anomaly"] and r["transaction_type"] == "PURCHASE"]
    assert 0.9 <= statistics.median(price_ratio(r, world) for r in purchases[::10]) <= 1.15


def test_transaction_schema_has_no_label_field() -> None:
    names = {field["name"] for field in schema_json("transaction")["fields"]}
    assert not names & LABEL_FIELDS
    assert {field["name"] for field in schema_json("label")["fields"]} >= LABEL_FIELDS


def test_realised_rates_within_10_percent_at_half_a_percent() -> None:
    _, transactions, labels = generate(300_000, fraud_rate=0.005, anomaly_rate=0.01)
    assert len(labels) > len(transactions) == 300_000  # revisions too
    realised = realised_rate(labels)
    assert abs(realised / 0.005 - 1) < 0.10, realised
    final = final_labels(labels).values()
    anomalies_ = sum(label["is_anomaly"] for label in final) / len(transactions)
    assert abs(anomalies_ / 0.01 - 1) < 0.10, anomalies_


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_the_fraud_rate_is_level_from_the_first_event(seed: int) -> None:
    """The first 50,000 events of the default stream (a day and a half): within 10% of 2% already, thanks to
    the scenarios planned in the weeks before the start."""
    encoded = encoded_stream(StreamConfig(seed=seed), 50_000)
    labels = encoded.decoded_labels()
    realised = realised_rate(labels)
    assert abs(realised / 0.02 - 1) < 0.10, realised
    assert realised == pytest.approx(float((encoded.events.fraud_type >= 0).mean()), abs=1e-12)


def test_rates_and_mix_at_2_percent(joined: Rows) -> None:
    n = len(joined)
    frauds = [row for row in joined if row["is_fraud"]]
    assert abs(len(frauds) / n / 0.02 - 1) < 0.10
    assert abs(sum(row["is_anomaly"] for row in joined) / n / 0.02 - 1) < 0.10
    mix = Counter(row["fraud_type"] for row in frauds)
    assert set(mix) == set(FRAUD_TYPES) == {spec.name for spec in SCENARIOS}  # synthetic_identity included
    for spec in SCENARIOS:
        share = mix[spec.name] / len(frauds)
        assert abs(share / spec.weight - 1) <= 0.25, (spec.name, share, spec.weight)
    kinds = Counter(row["anomaly_type"] for row in joined if row["is_anomaly"])
    total = sum(kinds.values())
    velocity = getattr(anomalies, "VELOCITY_SHARE", 0.0)
    expected = {kind: weight * (1 - velocity) for kind, weight in anomalies.KIND_WEIGHTS.items()}
    if velocity:
        expected["velocity"] = velocity
    assert set(expected) == set(ANOMALY_TYPES)
    for kind, share in expected.items():
        assert abs(kinds[kind] / total / share - 1) <= 0.25, (kind, kinds)


def test_every_label_has_exactly_one_type(at_2pct: tuple[TransactionStream, Rows, Rows], joined: Rows) -> None:
    for row in joined:
        if row["is_fraud"]:
            assert row["fraud_type"] in FRAUD_TYPES and row["scenario_id"] is not None
            assert "combined" not in row["fraud_type"].lower()
            assert not row["is_anomaly"]
        else:
            assert row["fraud_type"] is None and row["scenario_id"] is None
        if row["is_anomaly"]:
            assert row["anomaly_type"] in ANOMALY_TYPES and 0.0 < row["severity"] <= 1.0
        else:
            assert row["anomaly_type"] is None and row["severity"] == 0.0
        assert row["label_time"] >= row["event_time"]
    # first labels: a fraud is either reported as what it is, or (to be charged back) looks legitimate
    _, _, labels = at_2pct
    for label in labels[:len(joined)]:
        assert label["is_fraud"] == (label["fraud_type"] is not None) == (label["scenario_id"] is not None)


def test_chargebacks_follow_each_types_share(at_2pct: tuple[TransactionStream, Rows, Rows], joined: Rows) -> None:
    _, _, labels = at_2pct
    n = len(joined)
    revisions = labels[n:]
    assert revisions and all(r["revision"] == 1 and r["is_fraud"] for r in revisions)
    assert all(30 * DAY_US <= r["label_time"] - r["event_time"] <= 90 * DAY_US for r in revisions)
    frauds = Counter(row["fraud_type"] for row in joined if row["is_fraud"])
    charged_back = Counter(r["fraud_type"] for r in revisions)
    for spec in SCENARIOS:
        p, count = spec.chargeback_share, frauds[spec.name]
        if p in (0.0, 1.0):  # mule rings are never disputed; friendly fraud always is
            assert charged_back[spec.name] == p * count, spec.name
        else:
            assert abs(charged_back[spec.name] / count - p) <= 4 * (p * (1 - p) / count) ** 0.5, spec.name
    first = {label["transaction_id"]: label for label in labels[:n]}
    assert all(not first[r["transaction_id"]]["is_fraud"] for r in revisions)
    # the rest of the frauds were reported in their first label, hours to days after the event
    reported = [first[row["transaction_id"]] for row in joined if row["is_fraud"]
                and first[row["transaction_id"]]["is_fraud"]]
    assert len(reported) + len(revisions) == sum(frauds.values())
    assert all(10 * MINUTE_US <= r["label_time"] - r["event_time"] <= 7 * DAY_US for r in reported)


def test_card_testing_signature(joined: Rows, world: World) -> None:
    for rows in scenarios_of(joined, "card_testing").values():
        *probes, large = rows
        assert 5 <= len(probes) <= 12
        assert all(r["merchant_category"] == "digital_goods" for r in probes)
        assert large["merchant_category"] == "electronics"
        assert {r["entry_mode"] for r in rows} == {"CNP"}
        assert len({r["instrument_id"] for r in rows}) == len({r["device_id"] for r in rows}) == 1
        assert large["event_time"] - probes[0]["event_time"] <= 12 * 50_000_000 + 8 * MINUTE_US
        assert large["amount_paise"] > max(r["amount_paise"] for r in probes)
    # probes at a fraction of a digital-goods price, the purchase a multiple of an electronics one: tiny and
    # large for the customer, not fixed rupee bands (some probes cost more than 100, some purchases < 15,000)
    probes = [r for r in rows_of(joined, "card_testing") if r["merchant_category"] == "digital_goods"]
    larges = [r for r in rows_of(joined, "card_testing") if r["merchant_category"] == "electronics"]
    assert 0.2 < sum(r["status"] == "DECLINED" for r in probes) / len(probes) < 0.8  # many declined
    assert_shifted(probes, world, "card_testing probe")
    assert_shifted(larges, world, "card_testing purchase")
    assert any(r["amount_paise"] >= 100_00 for r in probes) and any(r["amount_paise"] < 15_000_00 for r in larges)


def test_card_cloning_signature(joined: Rows, world: World) -> None:
    for rows in scenarios_of(joined, "card_cloning").values():
        assert len(rows) >= 2 and len({r["instrument_id"] for r in rows}) == 1
        assert all(r["entry_mode"] in {"SWIPE", "CONTACTLESS"} and r["channel"] == "POS" for r in rows)
        speeds = [float(haversine_km(a["latitude"], a["longitude"], b["latitude"], b["longitude"]))
                  / ((b["event_time"] - a["event_time"]) / 3.6e9) for a, b in itertools.pairwise(rows)]
        assert max(speeds) > 800.0
    planned = [r for r in rows_of(joined, "card_cloning")
               if r["merchant_category"] in {"electronics", "jewellery", "fuel", "fashion"}]
    assert_shifted(planned, world, "card_cloning")


def test_account_takeover_signature(joined: Rows, world: World) -> None:
    """A fraudster's phone in a city at least 500 km away, or (remote access) the customer's own phone at home;
    high-value online purchases, 2-6x what the customer would pay."""
    customers, actors = world.customers, world.actors
    fraudster_phones = set(actors.device_ids)
    variants: Counter[str] = Counter()
    for rows in scenarios_of(joined, "account_takeover").values():
        k = customer_ordinal(rows[0]["customer_id"])
        own = customers.record(k, 0)
        kinds = set()
        for r in rows:
            assert r["channel"] in {"ECOMMERCE", "IN_APP"}
            phone = customers.device_ids[int(customers.phone_at(np.array([k]), np.array([r["event_time"]]))[0])]
            if r["device_id"] in fraudster_phones:
                assert r["city"] != own["home_city"]
                kinds.add("fraudster")
            else:
                assert r["device_id"] == phone and r["city"] == own["home_city"]
                kinds.add("remote")
        assert len(kinds) == 1
        variants.update(kinds)
    assert variants["fraudster"] >= 5
    amounts = rows_of(joined, "account_takeover")
    assert_shifted(amounts, world, "account_takeover")


def test_sim_swap_and_collect_scam_pay_new_payees(joined: Rows, world: World) -> None:
    customers, actors = world.customers, world.actors
    accounts = {customers.payee_vpas[i] for i in actors.fraud_payees.tolist()}
    fraudster_phones = set(actors.device_ids)
    for fraud_type, entry in (("sim_swap", "UPI_INTENT"), ("upi_collect_scam", "UPI_COLLECT")):
        for rows in scenarios_of(joined, fraud_type).values():
            k = customer_ordinal(rows[0]["customer_id"])
            start, count = int(customers.payee_start[k]), int(customers.payee_count[k])
            contacts = set(customers.payee_vpas[start:start + count])
            for r in rows:
                assert r["transaction_type"] == "P2P_TRANSFER" and r["payment_mode"] == "UPI"
                assert r["entry_mode"] == entry and r["payee_vpa"] not in contacts and r["payee_vpa"] in accounts
                if fraud_type == "sim_swap":  # the fraudster's phone with the victim's SIM
                    assert r["device_id"] in fraudster_phones
                else:  # approved by the victim on the phone they use at that time
                    phone = customers.phone_at(np.array([k]), np.array([r["event_time"]]))[0]
                    assert r["device_id"] == customers.device_ids[int(phone)]


def test_mule_ring_signature(joined: Rows) -> None:
    for rows in scenarios_of(joined, "mule_ring").values():
        mule_vpas = {r["payer_vpa"] for r in rows if r["payer_vpa"] in {x["payee_vpa"] for x in rows}}
        inbound = [r for r in rows if r["payee_vpa"] in mule_vpas]
        outbound = [r for r in rows if r["payer_vpa"] in mule_vpas]
        assert len({r["customer_id"] for r in inbound}) >= 3 and len(mule_vpas) <= 3
        assert len(inbound) + len(outbound) == len(rows)
        for out in outbound:
            mule, when = out["payer_vpa"], out["event_time"]
            received = [r for r in inbound if r["payee_vpa"] == mule and r["event_time"] < when]
            sent = [o for o in outbound if o["payer_vpa"] == mule and o["event_time"] <= when]
            # forwarded within minutes of the latest receipt, never more than came in
            assert 0 < out["event_time"] - max(r["event_time"] for r in received) <= 30 * 60_000_000
            assert sum(o["amount_paise"] for o in sent) <= sum(r["amount_paise"] for r in received)


def test_merchant_collusion_signature(joined: Rows) -> None:
    rows = [r for group in scenarios_of(joined, "merchant_collusion").values() for r in group]
    assert {r["amount_paise"] / 100 for r in rows} <= set(THRESHOLD_AMOUNTS)
    by_merchant: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_merchant[r["merchant_id"]].add(r["instrument_id"])
    assert len(by_merchant) <= 12
    assert max(len(cards) for cards in by_merchant.values()) >= 3


def test_stolen_card_and_bust_out_signatures(joined: Rows, world: World) -> None:
    for rows in scenarios_of(joined, "stolen_card").values():
        for r in rows:
            assert r["transaction_type"] == "CASH_WITHDRAWAL" or r["merchant_category"] in {
                "jewellery", "electronics", "cash_like"}
            assert r["card_type"] is not None
        assert rows[-1]["event_time"] - rows[0]["event_time"] <= 5 * 90 * MINUTE_US
    stolen = rows_of(joined, "stolen_card")
    cash = [r["amount_paise"] for r in stolen if r["transaction_type"] == "CASH_WITHDRAWAL"]
    purchases = [r for r in stolen if r["transaction_type"] == "PURCHASE"]
    assert len(cash) > 20 and all(a % 100_00 == 0 and 100_00 <= a <= 10_000_00 for a in cash)  # notes, ATM cap
    assert_shifted(purchases, world, "stolen_card")
    assert any(r["amount_paise"] < 8_000_00 for r in purchases)  # no fixed floor
    for rows in scenarios_of(joined, "bust_out").values():
        assert 4 <= len(rows) <= 8 and all(r["payment_mode"] == "CREDIT_CARD" for r in rows)
        assert len({r["instrument_id"] for r in rows}) == 1
        assert rows[-1]["event_time"] - rows[0]["event_time"] <= 8 * 8 * HOUR_US
    assert_shifted(rows_of(joined, "bust_out"), world, "bust_out")


def test_refund_abuse_refunds_a_purchase_in_full(joined: Rows, at_2pct: tuple[TransactionStream, Rows, Rows]) -> None:
    """Each fraudulent refund follows a legitimate purchase at the same merchant, with the same instrument and
    amount, 2-72 hours before: the goods are kept, the money comes back."""
    refunds = rows_of(joined, "refund_abuse")
    assert len(refunds) > 50 and all(r["transaction_type"] == "REFUND" and r["channel"] != "POS" for r in refunds)
    # 2-4 purchases 4-48 h apart, each refunded 2-72 h later: a scenario's refunds lie within 11 days of its first
    scenarios: dict[str, Rows] = defaultdict(list)
    for r in refunds:
        if scenario_block(r["scenario_id"]) >= 0:
            scenarios[r["scenario_id"]].append(r)
    assert max(map(len, scenarios.values())) <= 4
    complete = [rows for rows in scenarios.values() if rows[0]["event_time"] < joined[-1]["event_time"] - 11 * DAY_US]
    assert len(complete) >= 5 and all(len(rows) >= 2 for rows in complete)
    assert all(rows[-1]["event_time"] - rows[0]["event_time"] <= 11 * DAY_US for rows in scenarios.values())
    # each names its purchase, which the stream holds (a warm-up scenario's refund of a purchase before the start
    # is left out with it): made 2-72 h before, at that merchant, with that instrument and amount, unlabelled
    by_id = {x["transaction_id"]: x for x in joined}
    for r in refunds:
        x = by_id[r["original_transaction_id"]]
        assert x["transaction_type"] == "PURCHASE" and x["customer_id"] == r["customer_id"] and not x["is_fraud"]
        assert (x["merchant_id"], x["instrument_id"], x["amount_paise"]) == (
            r["merchant_id"], r["instrument_id"], r["amount_paise"])
        assert 2 * HOUR_US <= r["event_time"] - x["event_time"] <= 72 * HOUR_US
    assert len({r["original_transaction_id"] for r in refunds}) == len(refunds)
    # some refunds fall in the block after their purchase's (blocks are 7 days from the start)
    boundaries = [at_2pct[0].config.start_us + k * BLOCK_US for k in range(1, 4)]
    assert any(by_id[r["original_transaction_id"]]["event_time"] < b <= r["event_time"]
               for r in refunds for b in boundaries)


def test_qr_code_swap_signature(joined: Rows, world: World) -> None:
    merchant_vpa = dict(zip(world.merchants.ids, world.merchants.vpa, strict=True))
    """A swapped QR pays a fraudster's shop account (~75%) or a personal account, never the shop's own VPA."""
    accounts = {world.customers.payee_vpas[i] for i in world.actors.fraud_payees.tolist()}
    shops = {world.merchants.vpa[j] for j in world.actors.fraud_shops.tolist()}
    paid = Counter()
    for rows in scenarios_of(joined, "qr_code_swap").values():
        for r in rows:
            assert r["entry_mode"] == "QR_SCAN" and r["merchant_id"] is not None
            assert r["payee_vpa"] != merchant_vpa[r["merchant_id"]]
            paid["shop" if r["payee_vpa"] in shops else "person" if r["payee_vpa"] in accounts else "other"] += 1
    assert paid["other"] == 0 and 0.6 < paid["shop"] / (paid["shop"] + paid["person"]) < 0.9, paid
    assert_shifted(rows_of(joined, "qr_code_swap"), world, "qr_code_swap")


def test_transaction_replay_duplicates_a_payment_exactly(joined: Rows) -> None:
    """Each replay has the merchant and amount of one of the customer's payments seconds to minutes before."""
    by_customer: dict[str, Rows] = defaultdict(list)
    for r in joined:
        by_customer[r["customer_id"]].append(r)
    replays = [r for rows in scenarios_of(joined, "transaction_replay").values() for r in rows]
    unmatched = [r["transaction_id"] for r in replays
                 if not [x for x in by_customer[r["customer_id"]] if x["merchant_id"] == r["merchant_id"]
                         and x["amount_paise"] == r["amount_paise"] and 0 < r["event_time"] - x["event_time"] <= 360e6]]
    assert len(replays) > 100 and not unmatched, unmatched


def test_friendly_fraud_is_an_ordinary_purchase_disputed_later(joined: Rows, world: World) -> None:
    rows = rows_of(joined, "friendly_fraud")
    assert len(rows) > 100 and all(r["transaction_type"] == "PURCHASE" for r in rows)
    assert all(r["revision"] == 1 for r in rows)  # every one is a chargeback
    assert_shifted(rows, world, "friendly_fraud")


def test_synthetic_identities_are_new_accounts_with_a_credit_card(joined: Rows, world: World) -> None:
    customers = world.customers
    start_day = world.config.start_us // DAY_US
    rows = rows_of(joined, "synthetic_identity")
    assert len(rows) > 100
    for r in rows:
        k = customer_ordinal(r["customer_id"])
        assert r["payment_mode"] == "CREDIT_CARD" and r["transaction_type"] == "PURCHASE"
        assert start_day - NEW_ACCOUNT_DAYS <= customers.open_day[k] <= start_day
    assert (customers.open_day >= start_day - NEW_ACCOUNT_DAYS).mean() < 0.3  # new accounts are the few


def test_synthetic_identity_spends_more_and_more_then_maxes_out(world: World) -> None:
    """The planner on its own, for 150 eligible customers: 4-7 purchases days apart, each shifted
    SYNTHETIC_GROWTH times the last (relative to the price model), then 2-3 within hours, shifted far more."""
    customers, config = world.customers, world.config
    victims = np.flatnonzero(eligible(customers, "new_credit", config.start_us // DAY_US))[:150]
    assert len(victims) == 150
    empty = EventColumns.empty()
    anchors = {name: getattr(empty, name) for name in ANCHOR_COLUMNS}
    growth: dict[int, list[float]] = defaultdict(list)
    max_out: list[float] = []
    for victim in victims.tolist():
        builder = RowBuilder(customers, world.merchants)
        synthetic_identity(Plan(customers, world.merchants, world.pools, world.actors, builder,
                                np.random.default_rng(victim), victim, config.start_us, 1, config.delays,
                                np.arange(0), anchors))
        e = builder.build()
        assert (e.payment_mode == CREDIT_CARD).all() and (e.customer == victim).all()
        gaps = np.diff(e.time_us)
        days_apart = int((gaps >= DAY_US).sum())
        assert 4 <= days_apart + 1 <= 7 and (gaps[:days_apart] <= 4 * DAY_US).all()
        assert 2 <= len(e) - days_apart - 1 <= 3 and (gaps[days_apart:] <= 6 * HOUR_US).all()
        median = (CATEGORY_MEDIAN[world.merchants.category[e.merchant]] * 100 * customers.amount_scale[victim]
                  * CITY_COST[customers.home_city[victim]])
        ratio = (e.amount_paise / median).tolist()
        for step, value in enumerate(ratio[:days_apart + 1]):
            growth[step].append(value)
        max_out += ratio[days_apart + 1:]
    medians = [statistics.median(growth[step]) for step in range(4)]
    low, high = SHIFTS["synthetic_identity first"]
    assert low <= medians[0] <= high * 1.05, medians  # * 1.05: price points round up
    for step in range(1, 4):
        assert medians[step] / medians[0] == pytest.approx(SYNTHETIC_GROWTH ** step, rel=0.3), medians
    low, high = SHIFTS["synthetic_identity max-out"]
    assert low <= statistics.median(max_out) <= high


def test_amounts_are_written_as_their_kind_of_payment_writes_them(joined: Rows, world: World) -> None:
    """Price points online (whole rupees ending in 9; which ones exactly: the price-point test), whole rupees at
    shops, paise on bills and fuel, round P2P sums up to 1 lakh, ATM notes up to 10,000: for frauds exactly as
    for everyone else (a refund as the purchase it gives back: a shop's refund sent by app stays whole rupees)."""
    online = online_merchants(world)

    def kind(r: dict[str, Any]) -> str:
        if r["transaction_type"] == "P2P_TRANSFER":
            return "p2p"
        if r["transaction_type"] == "CASH_WITHDRAWAL":
            return "atm"
        if r["merchant_category"] in PAISE_CATEGORIES:
            return "paise"
        if r["merchant_id"] in online and r["merchant_category"] in PRICE_POINT_CATEGORIES:
            return "price point"
        return "whole rupees"

    rule = {
        "p2p": lambda a: a % (10_00 if a < 1_000_00 else 100_00) == 0 and 10_00 <= a <= 1_00_000_00,
        "atm": lambda a: a % 100_00 == 0 and 100_00 <= a <= 10_000_00,
        "paise": lambda a: a >= 100,
        "price point": lambda a: a % 100 == 0 and a // 100 % 10 == 9,
        "whole rupees": lambda a: a % 100 == 0 and a >= 100,
    }
    for is_fraud in (True, False):
        rows = [r for r in joined if r["is_fraud"] == is_fraud]
        counts = Counter(kind(r) for r in rows)
        assert set(counts) == set(rule), (is_fraud, counts)
        bad = [(kind(r), r["amount_paise"], r["fraud_type"]) for r in rows if not rule[kind(r)](r["amount_paise"])]
        assert not bad, (is_fraud, bad[:10])
        paise = [r["amount_paise"] for r in rows if kind(r) == "paise"]
        assert any(a % 100 for a in paise)  # bills really are in paise


def test_legitimate_customers_change_phones_and_pay_new_people(joined: Rows, world: World) -> None:
    """What fraud does, legitimate customers do too, at realistic rates: a device the bank has not seen (a new
    phone after a switch, a borrowed one) and P2P to someone they never paid before."""
    customers = world.customers
    legit = [r for r in joined if not r["is_fraud"]]
    device_row = {d: i for i, d in enumerate(customers.device_ids)}
    unseen = 0
    with_device = [r for r in legit if r["device_id"] is not None]
    switched = 0
    for r in with_device:
        k = customer_ordinal(r["customer_id"])
        slot = device_row[r["device_id"]] - int(customers.device_start[k])
        count = int(customers.device_count[k])
        assert 0 <= slot <= count + 1  # always one of the customer's own: registered, the new phone, another
        unseen += slot >= count
        # the new phone replaces the first one from the day of the switch on
        after = r["event_time"] >= int(customers.new_phone_us[k])
        assert (slot != 0 or not after) and (slot != count or after), (r["transaction_id"], slot, count)
        switched += slot == count
    assert 0.003 < unseen / len(with_device) < 0.2 and switched > 100
    p2p = [r for r in legit if r["transaction_type"] == "P2P_TRANSFER"]
    new = 0
    for r in p2p:
        k = customer_ordinal(r["customer_id"])
        start, count = int(customers.payee_start[k]), int(customers.payee_count[k])
        new += r["payee_vpa"] not in customers.payee_vpas[start:start + count]
    assert new / len(p2p) == pytest.approx(0.12, abs=0.015)



def is_price_point(rupees: int) -> bool:
    """producers/prices.py: ..9 below 100, ..49 / ..99 below 1,000, ..99 below 10,000, ..499 / ..999 above."""
    if rupees < 100:
        return rupees % 10 == 9
    if rupees < 1_000:
        return rupees % 50 == 49
    return rupees % 100 == 99 if rupees < 10_000 else rupees % 500 == 499


def online_merchants(world: World) -> set[str]:
    return {m for m, online in zip(world.merchants.ids, world.merchants.is_online.tolist(), strict=True) if online}


def test_online_prices_are_the_documented_price_points(joined: Rows, world: World) -> None:
    """Every online checkout amount is a price point of its range, and a price point stays itself when written
    again (a replayed payment keeps its amount). Prices just under a range's end (99.01-99.99, 999.01-999.99,
    9,999.01-9,999.99) must go up to that range's next point (149, 1,099, 10,499), not a point of the range
    below (109, 1,049, 10,099)."""
    points = price_point(np.array([99_00, 99_50, 100_00, 999_50, 1_234_00, 9_999_50, 10_000_00]))
    assert (points // 100).tolist() == [99, 149, 149, 1_099, 1_299, 10_499, 10_499]
    assert (price_point(points) == points).all()
    shops = online_merchants(world)
    online = [r["amount_paise"] for r in joined if r["merchant_id"] in shops
              and r["merchant_category"] in PRICE_POINT_CATEGORIES]
    assert len(online) > 50_000
    assert Counter(a // 100 for a in online if a % 100 or not is_price_point(a // 100)) == Counter()
