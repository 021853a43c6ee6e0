"""`synfinance validate PATH` as a user runs it: exit 0 on a clean dataset, 1 on a planted violation, 2 on bad
input, each with the report or one line; piped output keeps whole lines; --version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fastavro
import pytest

from synfinance.cli import main
from synfinance.producers.seeding import GENERATOR_VERSION


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset")
    assert main(["generate", "--seed", "42", "--events", "100000", "--out-dir", str(out), "--quiet"]) == 0
    return out


def test_a_default_dataset_passes_every_gate(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["validate", str(dataset), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["transactions"] == 100_000
    assert len(report["rules"]) >= 15 and len(report["targets"]) >= 30
    assert 0.018 < report["facts"]["fraud_rate"] < 0.022


def test_a_planted_violation_fails_with_exit_1(dataset: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with (dataset / "transactions.avro").open("rb") as handle:
        reader = fastavro.reader(handle)
        schema, records = reader.writer_schema, list(reader)
    upi = next(i for i, r in enumerate(records) if r["payment_mode"] == "UPI" and r["card_bin"] is None)
    records[upi]["card_bin"] = "400000"  # a card field on a UPI payment
    with (tmp_path / "transactions.avro").open("wb") as handle:
        fastavro.writer(handle, schema, records)
    (tmp_path / "labels.avro").write_bytes((dataset / "labels.avro").read_bytes())
    capsys.readouterr()
    assert main(["validate", str(tmp_path), "--json"]) == 1
    failed = [r for r in json.loads(capsys.readouterr().out)["rules"] if not r["passed"]]
    assert [(r["name"], r["violations"]) for r in failed] == [("card_fields_on_cards_only", 1)]


@pytest.mark.parametrize("argv", [["validate", "/no/such/dir"], ["validate"],
                                  ["validate", ".", "--topic", "t"], ["validate", ".", "--events", "0"]])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synfinance: error:"), lines


def test_piped_output_keeps_whole_lines(dataset: Path) -> None:
    """Through a pipe rich would cut tables at 80 columns (`synfin.custo…`): the report's lines stay whole."""
    run = subprocess.run([sys.executable, "-m", "synfinance.cli", "validate", str(dataset)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "COLUMNS": ""})
    assert run.returncode == 0, run.stderr
    assert "…" not in run.stdout and "\x1b[" not in run.stdout
    assert "Worldline India Digital Payments Report 2024 (catalogue)" in run.stdout


def test_version_names_the_generator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("synfinance ") and out.endswith(f"(generator version {GENERATOR_VERSION})")
