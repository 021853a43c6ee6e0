"""Every docstring example in the installed packages runs and holds (`make test` runs them all: the examples
are documentation, and a stale one misleads the reader it was written for)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("synfinance", "synfinance.producers", "synfinance.processors", "synfinance.schemas", "synfinance.sinks")
# Alembic's migration scripts import `alembic.context`, which exists only while Alembic runs them
SKIPPED = (".migrations",)


def modules() -> list[str]:
    names: set[str] = set()
    for root in PACKAGES:
        package = importlib.import_module(root)
        names.add(root)
        names.update(info.name for info in pkgutil.walk_packages(package.__path__, f"{root}.")
                     if not any(part in info.name for part in SKIPPED))
    return sorted(names)


MODULES = modules()


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_a_module_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail"


def test_the_packages_examples_are_all_found() -> None:
    # the sub-packages are installed from their own folders (setuptools package-dir): walking `synfinance`
    # alone would find only its own few examples
    attempted = sum(doctest.testmod(importlib.import_module(name), report=False).attempted for name in MODULES)
    assert attempted >= 160
    assert {"synfinance.producers.ids", "synfinance.processors.risk", "synfinance.sinks.pgcopy"} <= set(MODULES)
