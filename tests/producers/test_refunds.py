"""`refunds.link`: a refund's purchase found by (customer, time as generated), in its block or the last one's end."""

from __future__ import annotations

import numpy as np

from synfinance.producers import events as ev
from synfinance.producers import refunds
from synfinance.producers.events import EventColumns

START = 1_700_000_000_000_000
END = START + 7 * 86_400_000_000


def table(**columns: list[int]) -> EventColumns:
    """Rows of a block with the given columns (the rest 0, the refund columns -1 where not given)."""
    n = len(next(iter(columns.values())))
    empty = EventColumns.empty()
    base = {name: np.zeros(n, dtype=getattr(empty, name).dtype) for name in empty.__dataclass_fields__}
    base["original_time_us"] = np.full(n, -1, dtype=np.int64)
    base["original_seq"] = np.full(n, -1, dtype=np.int64)
    return EventColumns(**{**base, **{k: np.array(v, dtype=np.int64) for k, v in columns.items()}})


def test_equal_times_take_the_purchase_that_fits_and_the_carry_reaches_back() -> None:
    p, r = ev.PURCHASE, ev.REFUND
    # customer 3: a P2P and a purchase at the same microsecond, the refund of the purchase; customer 5: a purchase
    # late in the block, refunded in the next
    rows = table(customer=[3, 3, 3, 5], time_us=[START + 10, START + 10, START + 99, END - 3_600_000_000],
                 transaction_type=[ev.P2P_TRANSFER, p, r, p], merchant=[-1, 7, 7, 8], instrument=[18, 18, 18, 30],
                 amount_paise=[500, 500, 400, 900], original_time_us=[-1, -1, START + 10, -1])
    seq = np.array([0, 1, 2, 0])
    carried = refunds.link(rows, None, rows.customer, rows.time_us, seq, refunds.Purchases.empty(), START, END)
    assert rows.original_seq.tolist() == [-1, -1, 1, -1]
    assert carried.customer.tolist() == [5] and carried.seq.tolist() == [0]  # the only purchase of the last 72 h

    later = table(customer=[5, 5], time_us=[END + 5, END + 9], transaction_type=[r, r], merchant=[8, 8],
                  instrument=[30, 30], amount_paise=[900, 901], original_time_us=[END - 3_600_000_000] * 2)
    refunds.link(later, None, later.customer, later.time_us, np.array([1, 2]), carried, END, END + END - START)
    assert later.original_seq.tolist() == [0, -1]  # more than was paid: not that purchase's refund
