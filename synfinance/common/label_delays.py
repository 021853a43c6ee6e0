"""How late a label may come (SPEC §4): the bound the producer draws chargebacks within and the processor
keeps pending features and labelled inputs for, defined once so the two cannot drift apart.

>>> MAX_LABEL_DELAY_US // DAY_US == CHARGEBACK_MAX_DAYS
True
"""

from __future__ import annotations

from synfinance.common.units import DAY_US

CHARGEBACK_MIN_DAYS, CHARGEBACK_MAX_DAYS = 30, 90  # a chargeback revises a fraud first labelled legitimate
MAX_LABEL_DELAY_US = CHARGEBACK_MAX_DAYS * DAY_US  # the latest any label of the default delays comes
