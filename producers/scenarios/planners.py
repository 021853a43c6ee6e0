"""One planner per fraud type: each states the signal it leaves and adds its transactions to a RowBuilder.

A planner gets a `Plan` (`producers.scenarios.plan`: victim, start time, the victim's own fraud generator,
the actors) and decides only what the fraud decides; every other field is derived by `fields.assemble`.
Amounts are in rupees. Mule rings are planned by the engine from a ring's generator (`plan_mule_ring`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from synfinance.common.units import DAY_US, HOUR_US, MINUTE_US, SECOND_US
from synfinance.producers import anomalies, prices
from synfinance.producers import events as ev
from synfinance.producers.customers import Customers
from synfinance.producers.labels import LabelDelays
from synfinance.producers.refunds import REFUND_WINDOW_US
from synfinance.producers.scenarios.actors import FraudActors
from synfinance.producers.scenarios.plan import Plan, choose
from synfinance.producers.scenarios.rows import RowBuilder, card_mode
from synfinance.producers.scenarios.specs import FRAUD_CODE, SPEC_BY_NAME
from synfinance.producers.world.categories import CATEGORY_NAMES
from synfinance.producers.world.geography import CITY_COST, NEARBY

SECOND, MINUTE, HOUR, DAY = SECOND_US, MINUTE_US, HOUR_US, DAY_US
REMOTE_ACCESS_SHARE = 0.5  # account takeovers run through a remote-access app on the victim's own phone
FRAUD_SHOP_QR_SHARE = 0.75  # swapped QR codes that pay a fraudster's shop account rather than a personal one
# just under round limits, and price points that ordinary online checkouts reach too
THRESHOLD_AMOUNTS = (4_999.0, 9_999.0, 19_999.0, 24_999.0, 49_999.0, 99_999.0)


def card_testing(p: Plan) -> None:
    """5-12 tiny card-not-present attempts within minutes, many declined, then one large purchase."""
    mode = card_mode(p.customers, p.victim)
    # card numbers bought online are tested from anywhere: the IP's city is as often the cardholder's own
    city = p.home if p.rng.random() < 0.5 else p.far_city(p.home, 300.0)
    device, t = p.fraud_device(), p.start_us
    for _ in range(int(p.rng.integers(5, 13))):
        t += int(p.rng.uniform(5, 50) * SECOND)
        p.emit("card_testing", time_us=t, ttype=ev.PURCHASE, mode=mode,
               amount_inr=p.price("digital_goods", city, 0.02, 0.25), city=city, online=True,
               merchant=p.merchant("digital_goods", city, True), device=device,
               declined=bool(p.rng.random() < 0.4), entry=ev.CNP)
    t += int(p.rng.uniform(1, 8) * MINUTE)
    p.emit("card_testing", time_us=t, ttype=ev.PURCHASE, mode=mode, amount_inr=p.price("electronics", city, 1.2, 3.0),
           city=city, online=True, merchant=p.merchant("electronics", city, True), device=device,
           declined=bool(p.rng.random() < 0.25), entry=ev.CNP)


def card_cloning(p: Plan) -> None:
    """Card-present swipes far from where the card was just used: implied travel faster than a plane."""
    mode = card_mode(p.customers, p.victim)
    first = p.far_city(p.home)
    second = p.far_city(first)
    t = p.start_us
    for i in range(int(p.rng.integers(2, 6))):
        city = (first, second)[i % 2]  # cloned track data is sold to cashers in several cities at once
        t += int(p.rng.uniform(5, 40) * MINUTE)
        merchant = p.merchant(str(choose(p.rng, ["electronics", "jewellery", "fuel", "fashion"])), city, False,
                              strict=False)
        category = CATEGORY_NAMES[int(p.merchants.category[merchant])]  # the shop the city had
        p.emit("card_cloning", time_us=t, ttype=ev.PURCHASE, mode=mode, amount_inr=p.price(category, city, 1.2, 3.0),
               city=city, merchant=merchant,
               entry=ev.SWIPE if p.rng.random() < 0.85 else ev.CONTACTLESS, declined=bool(p.rng.random() < 0.1))


def account_takeover(p: Plan) -> None:
    """High-value online purchases, often at night: from a never-seen device in another city, or from the
    customer's own phone at home through a remote-access (screen-sharing) app."""
    remote = p.rng.random() < REMOTE_ACCESS_SHARE
    city, device = (p.home, -1) if remote else (p.far_city(p.home, 500.0), p.fraud_device())
    t = p.night(p.start_us) if p.rng.random() < 0.4 else p.start_us
    for _ in range(int(p.rng.integers(2, 5))):
        t += int(p.rng.uniform(3, 45) * MINUTE)
        category = str(choose(p.rng, ["electronics", "jewellery", "travel", "ecommerce"]))
        p.emit("account_takeover", time_us=t, ttype=ev.PURCHASE, mode=p.online_mode(),
               amount_inr=p.price(category, city, 1.5, 4.0), city=city, online=True,
               merchant=p.merchant(category, city, True), device=p.rows.own_device(p.victim, t) if remote else device,
               declined=bool(p.rng.random() < 0.15))


def sim_swap(p: Plan) -> None:
    """A new device, then rapid UPI transfers to payees the customer never paid before."""
    city = p.home if p.rng.random() < 0.5 else p.far_city(p.home, 300.0)  # the fraudster may be local
    device = p.fraud_device()
    t = p.night(p.start_us) if p.rng.random() < 0.5 else p.start_us
    for _ in range(int(p.rng.integers(2, 6))):
        t += int(p.rng.uniform(2, 20) * MINUTE)
        p.emit("sim_swap", time_us=t, ttype=ev.P2P_TRANSFER, mode=ev.UPI, amount_inr=p.transfer(2.0, 6.0), city=city,
               payee=p.fraud_payee(), device=device, entry=ev.UPI_INTENT, declined=bool(p.rng.random() < 0.1))


def upi_collect_scam(p: Plan) -> None:
    """Collect requests approved on the customer's own phone, paying new payees unusual sums."""
    payee, t = p.fraud_payee(), p.start_us
    for _ in range(int(p.rng.integers(1, 4))):
        t += int(p.rng.uniform(10, 180) * MINUTE)
        p.emit("upi_collect_scam", time_us=t, ttype=ev.P2P_TRANSFER, mode=ev.UPI, amount_inr=p.transfer(1.5, 5.0),
               city=p.home, payee=payee, device=p.rows.own_device(p.victim, t), entry=ev.UPI_COLLECT)


def merchant_collusion(p: Plan) -> None:
    """Price-point amounts just under round thresholds at one of a few colluding merchants, from many cards."""
    mode = card_mode(p.customers, p.victim, prefer_credit=True)
    merchant = int(choose(p.rng, p.actors.colluders))
    city = int(p.merchants.city[merchant])
    t = p.start_us
    for _ in range(int(p.rng.integers(1, 4))):
        t += int(p.rng.uniform(0.5, 24) * HOUR)
        p.emit("merchant_collusion", time_us=t, ttype=ev.PURCHASE, mode=mode,
               amount_inr=float(choose(p.rng, THRESHOLD_AMOUNTS)), city=city,
               online=bool(p.merchants.is_online[merchant]), merchant=merchant, entry=ev.CNP,
               device=p.fraud_device())


def stolen_card(p: Plan) -> None:
    """A quiet card suddenly used at cash-like merchants and ATMs for large sums within hours."""
    mode = card_mode(p.customers, p.victim)
    nearby = NEARBY[p.home]
    city = int(nearby[int(p.rng.integers(len(nearby)))]) if nearby and p.rng.random() < 0.5 else p.home
    t = p.start_us
    for _ in range(int(p.rng.integers(2, 6))):
        t += int(p.rng.uniform(10, 90) * MINUTE)
        if mode == ev.DEBIT_CARD and p.rng.random() < 0.5:
            p.emit("stolen_card", time_us=t, ttype=ev.CASH_WITHDRAWAL, mode=mode,
                   amount_inr=p.transfer(3.0, 8.0), city=city, declined=bool(p.rng.random() < 0.2))
        else:
            shops = [c for c in ("jewellery", "electronics", "cash_like") if p.has_merchant(c, city)]
            category = str(choose(p.rng, shops or ["jewellery", "electronics", "cash_like"]))
            merchant, category = p.shop(category, city, False)
            p.emit("stolen_card", time_us=t, ttype=ev.PURCHASE, mode=mode, amount_inr=p.price(category, city, 1.2, 3.0),
                   city=city, merchant=merchant, online=bool(p.merchants.is_online[merchant]),
                   entry=ev.CNP if p.merchants.is_online[merchant] else ev.CHIP,
                   device=p.fraud_device() if p.merchants.is_online[merchant] else -1)


def bust_out(p: Plan) -> None:
    """A credit card maxed out in a burst of large purchases over a day or two."""
    t = p.start_us
    for _ in range(int(p.rng.integers(4, 9))):
        t += int(p.rng.uniform(1, 8) * HOUR)
        category = str(choose(p.rng, ["electronics", "jewellery", "travel", "fashion"]))
        online = bool(p.rng.random() < 0.5)
        merchant, category = p.shop(category, p.home, online)
        online = bool(p.merchants.is_online[merchant])
        p.emit("bust_out", time_us=t, ttype=ev.PURCHASE, mode=ev.CREDIT_CARD,
               amount_inr=p.price(category, p.home, 2.0, 5.0), city=p.home, merchant=merchant, online=online,
               device=p.rows.own_device(p.victim, t) if online else -1)


def synthetic_identity(p: Plan) -> None:
    """A new account's credit card used modestly, then faster and bigger within weeks, then maxed out and
    abandoned (the identity was never a real person)."""
    t, growth = p.start_us, 1.0
    for _ in range(int(p.rng.integers(4, 8))):
        t += int(p.rng.uniform(1, 4) * DAY)
        category = str(choose(p.rng, ["ecommerce", "fashion", "electronics", "groceries"]))
        merchant, category = p.shop(category, p.home, category != "groceries")
        online = bool(p.merchants.is_online[merchant])
        p.emit("synthetic_identity", time_us=t, ttype=ev.PURCHASE, mode=ev.CREDIT_CARD,
               amount_inr=p.price(category, p.home, 0.8 * growth, 1.2 * growth), city=p.home, merchant=merchant,
               online=online, device=p.rows.own_device(p.victim, t) if online else -1)
        growth *= 1.5
    for _ in range(int(p.rng.integers(2, 4))):
        t += int(p.rng.uniform(0.5, 6) * HOUR)
        category = str(choose(p.rng, ["electronics", "jewellery", "travel"]))
        merchant, category = p.shop(category, p.home, True)
        p.emit("synthetic_identity", time_us=t, ttype=ev.PURCHASE, mode=ev.CREDIT_CARD,
               amount_inr=p.price(category, p.home, 3.0, 8.0), city=p.home, merchant=merchant,
               online=bool(p.merchants.is_online[merchant]), device=p.rows.own_device(p.victim, t))


def friendly_fraud(p: Plan) -> None:
    """An ordinary online purchase, as the customer would make it, disputed weeks later: almost no signal."""
    category = p.category()
    merchant, category = p.shop(category, p.home, True)
    online = bool(p.merchants.is_online[merchant])
    p.emit("friendly_fraud", time_us=p.start_us, ttype=ev.PURCHASE, mode=p.online_mode() if online else
           int(p.customers.pick_mode(np.array([p.victim]), np.array([False]), p.rng.random(1))[0]),
           amount_inr=p.price(category, p.home, 0.8, 2.0), city=p.home, online=online, merchant=merchant,
           device=p.rows.own_device(p.victim, p.start_us) if online else -1)


def refund_abuse(p: Plan) -> None:
    """Purchases at online merchants refunded in full hours to days later, again and again (the goods kept)."""
    mode, t = p.online_mode(), p.start_us
    for _ in range(int(p.rng.integers(2, 5))):
        t += int(p.rng.uniform(4, 48) * HOUR)
        category = str(choose(p.rng, ["ecommerce", "fashion"]))
        merchant, category = p.shop(category, p.home, True)
        purchase = {"mode": mode, "amount_inr": p.price(category, p.home, 1.0, 2.5), "city": p.home, "online": True,
                    "merchant": merchant}
        p.rows.add(customer=p.victim, time_us=t, ttype=ev.PURCHASE, device=p.rows.own_device(p.victim, t), u=p.u3(),
                   label_delay_us=p.legit_delay(), **purchase)  # type: ignore[arg-type]
        refunded = t + int(p.rng.uniform(2, REFUND_WINDOW_US / HOUR) * HOUR)
        p.emit("refund_abuse", time_us=refunded, ttype=ev.REFUND, device=p.rows.own_device(p.victim, refunded),
               original_time_us=t, **purchase)


def qr_code_swap(p: Plan) -> None:
    """A QR payment at a shop whose payee VPA is not the shop's."""
    category = str(choose(p.rng, ["groceries", "food_dining", "fuel", "healthcare"]))
    merchant, category = p.shop(category, p.home, False, strict=False)  # a shop with a QR code, of any kind if need be
    if p.merchants.is_online[merchant]:
        return  # no shop in the victim's city: nothing to swap
    # mostly a fraudster's shop account (a QR code to look at like any shop's), else a personal account
    shops = p.actors.fraud_shops[p.actors.fraud_shops != merchant]
    use_shop = p.rng.random() < FRAUD_SHOP_QR_SHARE and len(shops) > 0
    payee = p.rows.shop_payee(int(choose(p.rng, shops))) if use_shop else p.fraud_payee()
    t = p.start_us
    for _ in range(1 + int(p.rng.random() < 0.5)):
        t += int(p.rng.uniform(1, 120) * MINUTE)
        p.emit("qr_code_swap", time_us=t, ttype=ev.PURCHASE, mode=ev.UPI,
               amount_inr=p.price(category, p.home, 0.7, 1.5), city=int(p.merchants.city[merchant]), merchant=merchant,
               payee=payee, online=bool(p.merchants.is_online[merchant]), device=p.rows.own_device(p.victim, t),
               entry=ev.QR_SCAN)


def transaction_replay(p: Plan) -> None:
    """Exact duplicates of a recent payment (same merchant and amount) seconds to minutes later."""
    rows = p.anchor_rows
    purchases = [i for i in p.anchors.tolist() if rows["merchant"][i] >= 0 and rows["time_us"][i] <= p.start_us
                 and rows["transaction_type"][i] == ev.PURCHASE]
    if purchases:
        i = purchases[-1]
        base = {"ttype": ev.PURCHASE, "mode": int(rows["payment_mode"][i]), "amount_inr": rows["amount_paise"][i] / 100,
                "city": int(rows["city"][i]), "merchant": int(rows["merchant"][i]),
                "online": bool(p.merchants.is_online[rows["merchant"][i]]), "device": int(rows["device"][i]),
                "entry": int(rows["entry_mode"][i])}
        t = int(rows["time_us"][i])
    else:  # no recent purchase to replay: the replayed original is an ordinary (unlabelled) purchase
        merchant = p.merchant("ecommerce", p.home, True)
        mode, t = p.online_mode(), p.start_us
        base = {"ttype": ev.PURCHASE, "mode": mode, "amount_inr": p.price("ecommerce", p.home, 1.0, 1.0),
                "city": p.home, "merchant": merchant, "online": True, "device": p.rows.own_device(p.victim, t),
                "entry": -1}
        p.rows.add(customer=p.victim, time_us=t, u=p.u3(), label_delay_us=p.legit_delay(), **base)  # type: ignore[arg-type]
    for _ in range(1 + int(p.rng.random() < 0.4) + int(p.rng.random() < 0.2)):
        t += int(p.rng.uniform(5, 120) * SECOND)
        p.emit("transaction_replay", time_us=t, **base)


def velocity_burst(p: Plan) -> None:
    """Legitimate: 3-8 small online purchases within minutes on the customer's own phone (recharges, in-game
    items, tickets for a group), some declined for funds: what card testing looks like, without the fraud."""
    holds = p.customers.holds[p.victim]
    modes = [m for m in (ev.UPI, ev.DEBIT_CARD, ev.CREDIT_CARD, ev.WALLET) if holds[m]]
    mode, t = int(choose(p.rng, modes)), p.start_us
    category = str(choose(p.rng, ["digital_goods", "telecom", "entertainment"]))
    merchant, category = p.shop(category, p.home, True)
    n = int(p.rng.integers(3, 9))
    for _ in range(n):
        t += int(p.rng.uniform(10, 120) * SECOND)
        device = p.rows.own_device(p.victim, t)
        p.rows.add(customer=p.victim, time_us=t, ttype=ev.PURCHASE, mode=mode,
                   amount_inr=p.price(category, p.home, 0.05, 1.0), city=p.home, online=True, merchant=merchant,
                   device=device, declined=bool(p.rng.random() < 0.2), label_delay_us=p.legit_delay(),
                   anomaly_type=anomalies.VELOCITY, severity=round(0.3 + 0.7 * n / 8, 4), u=p.u3())


PLANNERS: dict[str, Callable[[Plan], None]] = {
    "card_testing": card_testing, "card_cloning": card_cloning, "account_takeover": account_takeover,
    "sim_swap": sim_swap, "upi_collect_scam": upi_collect_scam, "merchant_collusion": merchant_collusion,
    "stolen_card": stolen_card, "bust_out": bust_out, "friendly_fraud": friendly_fraud,
    "refund_abuse": refund_abuse, "qr_code_swap": qr_code_swap, "transaction_replay": transaction_replay,
    "synthetic_identity": synthetic_identity,
}
assert set(PLANNERS) | {"mule_ring"} == set(SPEC_BY_NAME)


def plan_mule_ring(rows: RowBuilder, customers: Customers, actors: FraudActors, ring: int, rng: np.random.Generator,
                   start_us: int, scenario: int, victims: npt.NDArray[np.int64], delays: LabelDelays) -> None:
    """Many victims pay a few mule accounts, which forward most of it onward within minutes."""
    mules = actors.rings[ring]
    code = FRAUD_CODE["mule_ring"]
    inbound: dict[int, list[tuple[int, float]]] = {int(m): [] for m in mules}
    t = start_us

    def add(customer: int, time_us: int, amount: float, payee: int, entry: int) -> None:
        first, revision = delays.fraud("mule_ring", rng)
        rows.add(customer=customer, time_us=time_us, ttype=ev.P2P_TRANSFER, mode=ev.UPI, amount_inr=amount,
                 city=int(customers.home_city[customer]), payee=payee, device=rows.own_device(customer, time_us),
                 entry=entry, fraud_type=code, scenario=scenario, label_delay_us=first, revision_delay_us=revision,
                 u=tuple(rng.random(3).tolist()))  # type: ignore[arg-type]

    for victim in victims.tolist():
        t += int(rng.uniform(0.5, 6) * HOUR)
        mule = int(mules[int(rng.integers(len(mules)))])
        u1, u2, shift = rng.random(3).tolist()
        amount = prices.rupees_one(-1, u1, u2, float(customers.amount_scale[victim]),
                                   float(CITY_COST[customers.home_city[victim]])) * (2.0 + 4.0 * shift)
        add(victim, t, amount, rows.customer_payee(mule), ev.UPI_COLLECT if rng.random() < 0.5 else ev.UPI_INTENT)
        inbound[mule].append((t, amount))
    for mule, received in inbound.items():
        # forward every two receipts as one transfer, minutes after the second, keeping a small cut
        for i in range(0, len(received), 2):
            chunk = received[i:i + 2]
            t_out = chunk[-1][0] + int(rng.uniform(3, 30) * MINUTE)
            add(mule, t_out, sum(a for _, a in chunk) * float(rng.uniform(0.9, 0.98)),
                int(choose(rng, actors.fraud_payees)), ev.UPI_INTENT)
