"""Fixtures the fault tests borrow: the processors' 20k-event dataset with its reference features."""

from tests.processors.conftest import dataset  # noqa: F401  (a fixture, used by name)
