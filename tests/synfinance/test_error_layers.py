"""Components say what went wrong in domain errors; only the shell chooses exit codes (`UsageError`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from synfinance.cli import main
from synfinance.common.errors import Conflict, InvalidInput, SynfinError, Unreachable, UsageError

ROOT = Path(__file__).resolve().parents[2]
BELOW_THE_SHELL = ["producers", "processors", "sinks", "schemas", "synfinance/common"]


def _names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}


def test_no_component_or_shared_module_uses_the_shells_usage_error() -> None:
    offenders = [str(path.relative_to(ROOT)) for folder in BELOW_THE_SHELL
                 for path in sorted((ROOT / folder).rglob("*.py"))
                 if path.name != "errors.py" and "UsageError" in _names(path)]
    assert offenders == []


@pytest.mark.parametrize("error", [InvalidInput, Unreachable, Conflict])
def test_the_cli_prints_a_domain_error_as_one_line_and_exits_2(error: type[SynfinError],
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def failing_app(_command: str | None) -> object:
        def run(**_kwargs: object) -> None:
            raise error("the topic transactions has 4 partitions, expected 6")
        return run

    monkeypatch.setattr("synfinance.cli.build_app", failing_app)
    assert main(["topics", "create"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "synfinance: error: the topic transactions has 4 partitions, expected 6"]


def test_the_shell_chooses_another_exit_code_with_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_app(_command: str | None) -> object:
        def run(**_kwargs: object) -> None:
            raise UsageError("no local stack is up", exit_code=1)
        return run

    monkeypatch.setattr("synfinance.cli.build_app", failing_app)
    assert main(["stack", "env"]) == 1
