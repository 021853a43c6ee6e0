"""`synfinance validate PATH` as a user runs it: exit 0 on a clean dataset, 1 on a planted violation, 2 on bad
input, each with the report or one line."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pytest

from synfinance.cli import main


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
