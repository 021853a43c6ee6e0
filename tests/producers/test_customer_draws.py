"""The draw layout of a customer's profile (`producers.customer_draws.ProfileDraw`)."""

from __future__ import annotations

from collections import Counter

from synfinance.producers.customer_draws import ProfileDraw
from synfinance.producers.events import CREDIT_CARD, DEBIT_CARD, PAYMENT_MODES


def _read() -> list[int]:
    """Every index build_customers reads, one entry per purpose."""
    d = ProfileDraw
    repeated = {d.PHONE_OS: 3, d.PHONE_IP_A: 3, d.PHONE_IP_B: 3, d.PHONE_IP_C: 3, d.HOLDS: len(PAYMENT_MODES)}
    per_card = (d.CARD_PRODUCT, d.CARD_BIN, d.CARD_LAST_FOUR)
    single = [v for k, v in vars(d).items() if k.isupper() and k != "COUNT" and v not in repeated and v not in per_card]
    return [*single, *(base + i for base, n in repeated.items() for i in range(n)),
            *(base + mode for base in per_card for mode in (DEBIT_CARD, CREDIT_CARD))]


def test_each_purpose_has_its_own_uniform_but_the_documented_one() -> None:
    read = _read()
    assert all(0 <= i < ProfileDraw.COUNT for i in read)
    shared = {i for i, n in Counter(read).items() if n > 1}
    assert shared == {ProfileDraw.VPA_HANDLE} == {ProfileDraw.CARD_LAST_FOUR + CREDIT_CARD}
    assert set(range(ProfileDraw.COUNT)) - set(read) == {36, 47}  # never read: CARD_PRODUCT + UPI, the spare
