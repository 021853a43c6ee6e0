"""Settings validation: bad values fail with one line naming the setting; secrets stay hidden."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from synfinance.common.errors import SynfinError
from synfinance.common.settings import load_settings


def test_defaults_are_the_spec_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("SYNFIN_"):
            monkeypatch.delenv(key)
    settings = load_settings()
    assert settings.topics.transactions == "synfin.transactions.v1"
    assert settings.topics.dlq == "synfin.dlq.v1"
    assert settings.partitions == 6


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SYNFIN_PARTITIONS", "zero", "SYNFIN_PARTITIONS"),
        ("SYNFIN_PARTITIONS", "0", "SYNFIN_PARTITIONS"),
        ("SYNFIN_BOOTSTRAP_SERVERS", "localhost", "SYNFIN_BOOTSTRAP_SERVERS"),
        ("SYNFIN_DATABASE_URL", "mysql://x", "SYNFIN_DATABASE_URL"),
        ("SYNFIN_TOPICS__LABELS", "bad topic!", "SYNFIN_TOPICS__LABELS"),
        ("SYNFIN_SECURITY_PROTOCOL", "TLS", "SYNFIN_SECURITY_PROTOCOL"),
    ],
)
def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                     named: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SynfinError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"invalid setting {named}:")
    assert "\n" not in message


def test_secrets_pass_through_but_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNFIN_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SYNFIN_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("SYNFIN_SASL_USERNAME", "alice")
    monkeypatch.setenv("SYNFIN_SASL_PASSWORD", "hunter2-secret")
    settings = load_settings()
    config = settings.kafka_config()
    assert config["sasl.password"] == "hunter2-secret"
    assert config["security.protocol"] == "SASL_SSL"
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in settings.model_dump_json()


def test_cli_exits_2_with_one_line_on_a_bad_setting() -> None:
    env = {**os.environ, "SYNFIN_PARTITIONS": "-3", "SYNFIN_SASL_PASSWORD": "hunter2-secret"}
    result = subprocess.run([sys.executable, "-m", "synfinance.cli", "settings"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == ["synfinance: error: invalid setting SYNFIN_PARTITIONS: "
                     "Input should be greater than or equal to 1"]


def test_cli_unknown_command_is_one_line_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "synfinance.cli", "stack", "sideways"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "synfinance: error: No such command 'sideways'. (see --help)"]
