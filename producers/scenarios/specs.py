"""The one table of fraud scenario parameters: mix weight, size, span, and how the truth comes out.

`weight` is the type's share of fraudulent TRANSACTIONS (not of scenarios): the engine divides it by
`mean_events` to schedule scenario starts, so the realised per-type mix follows the weights.
`chargeback_share` is the share of the type's labels that arrive as disputes 30-90 days later; the
rest arrive within hours (victim or bank report). `needs` names the instrument a victim must hold
("new_credit": a credit card on an account opened within the year before the stream starts).

>>> round(sum(s.weight for s in SCENARIOS), 6)
1.0
>>> [s.name for s in SCENARIOS][:3]
['card_testing', 'card_cloning', 'account_takeover']
"""

from __future__ import annotations

from dataclasses import dataclass

from synfinance.producers.events import FRAUD_TYPES


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    name: str
    weight: float            # share of fraudulent transactions
    mean_events: float       # expected transactions per scenario (planners draw around it)
    needs: str               # "card", "credit", "new_credit", "upi" or "any"
    chargeback_share: float  # labels that come as chargebacks (30-90 days) instead of within hours
    signal: str              # the signal it leaves, in one sentence
    span_days: float = 3.0   # the longest a scenario lasts from its start (how far back the warm-up plans it)


# mean_events must match what the planner in planners.py draws (tests check the realised mix).
SCENARIOS: tuple[ScenarioSpec, ...] = (
    ScenarioSpec("card_testing", 0.11, 9.5, "card", 0.2,
                 "5-12 sub-INR 100 card-not-present attempts within minutes, many declined, then one large purchase"),
    ScenarioSpec("card_cloning", 0.09, 3.5, "card", 0.6,
                 "card-present swipes far from where the card was just used: implied travel faster than a plane"),
    ScenarioSpec("account_takeover", 0.09, 3.0, "any", 0.3,
                 "a never-seen device in another city, often at night, then high-value online purchases"),
    ScenarioSpec("sim_swap", 0.08, 3.5, "upi", 0.1,
                 "a new device, then rapid UPI transfers to payees the customer never paid before"),
    ScenarioSpec("upi_collect_scam", 0.11, 2.0, "upi", 0.1,
                 "collect requests approved on the customer's own phone, paying new payees unusual sums"),
    ScenarioSpec("mule_ring", 0.09, 11.3, "upi", 0.0,
                 "many victims pay a few mule accounts, which forward most of it onward within minutes"),
    ScenarioSpec("merchant_collusion", 0.06, 2.0, "card", 0.5,
                 "round, just-under-threshold amounts at one of a few colluding merchants, from many cards"),
    ScenarioSpec("stolen_card", 0.08, 3.5, "card", 0.5,
                 "a quiet card suddenly used at cash-like merchants and ATMs for large sums within hours"),
    ScenarioSpec("bust_out", 0.05, 6.0, "credit", 0.7,
                 "a credit card maxed out in a burst of large purchases over a day or two"),
    ScenarioSpec("synthetic_identity", 0.05, 8.0, "new_credit", 0.7,
                 "a months-old account whose credit card spends more every few days, then is maxed out and abandoned",
                 span_days=30.0),
    ScenarioSpec("friendly_fraud", 0.05, 1.0, "any", 1.0,
                 "an ordinary-looking online purchase the customer disputes weeks later: almost no signal"),
    ScenarioSpec("refund_abuse", 0.04, 3.0, "any", 0.4,
                 "online purchases refunded in full hours to days later, again and again", span_days=14.0),
    ScenarioSpec("qr_code_swap", 0.05, 1.5, "upi", 0.1,
                 "a QR payment at a shop whose payee VPA is not the shop's: mostly a fraudster's shop account"),
    ScenarioSpec("transaction_replay", 0.05, 1.6, "any", 0.2,
                 "exact duplicates of a recent payment (same merchant and amount) seconds to minutes later"),
)

SPEC_BY_NAME = {s.name: s for s in SCENARIOS}
FRAUD_CODE = {name: code for code, name in enumerate(FRAUD_TYPES)}
assert all(s.name in FRAUD_CODE for s in SCENARIOS)
