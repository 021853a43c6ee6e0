"""`synfinance validate PATH | --topic NAME` — the quality report of a dataset or of the topics.

Exit 0 when every consistency rule and calibration target passes, 1 when one fails, 2 on bad input (a
missing path, a topic that does not exist). `--json` prints the report as JSON on stdout, `--markdown` the
calibration table the README shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from confluent_kafka import KafkaException
from rich.table import Table

from synfinance.common.errors import UsageError, broker_unreachable
from synfinance.common.settings import load_settings
from synfinance.console import make_console
from synfinance.producers.validation import report as quality
from synfinance.producers.validation.columns import Stream, read_dataset, read_topics
from synfinance.producers.validation.topic_reader import TopicMissing
from synfinance.schemas.registry import read_through_url

console = make_console()


def _load(path: Path | None, topic: str | None, events: int | None) -> Stream:
    if (path is None) == (topic is None):
        raise UsageError("give a dataset directory (PATH) or --topic NAME, not both")
    if events is not None and events < 1:
        raise UsageError(f"--events must be >= 1 (got {events})")
    if path is not None:
        missing = [name for name in ("transactions.avro", "labels.avro") if not (path / name).is_file()]
        if missing:
            raise UsageError(f"{path} is not a dataset directory: no {missing[0]} (write one with "
                             "`synfinance generate --format avro`)")
        return read_dataset(path, events)
    settings = load_settings()
    read_through_url(settings.schema_registry_url)
    try:
        return read_topics(settings.bootstrap_servers, str(topic), settings.topics.labels, events)
    except (TopicMissing, TimeoutError) as error:
        raise UsageError(str(error)) from None
    except KafkaException as error:
        raise broker_unreachable(settings.bootstrap_servers, error.args[0].str()) from None


def validate(
    path: Path | None = typer.Argument(None, help="A dataset directory written by `synfinance generate`."),
    topic: str | None = typer.Option(None, "--topic", help="A transactions topic (labels: SYNFIN_TOPICS__LABELS)."),
    events: int | None = typer.Option(None, "--events", help="Read the first N transactions only."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the calibration targets as a Markdown table."),
) -> int:
    """Check a dataset or topic: consistency rules, calibration to the cited figures, fraud and labels.

    Example: synfinance validate out/   or   synfinance validate --topic synfin.transactions.v1 --json
    """
    result = quality.build(_load(path, topic, events))
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return 0 if result.passed else 1
    if markdown:
        print("| target | cited | measured | source | verdict |\n|---|---|---|---|---|")
        for t in result.targets:
            print(f"| {t.name} | {t.cited:g} | {_measured(t.measured)} | {t.source} | {t.verdict} |")
        broken = [r.name for r in result.rules if not r.passed]
        print(f"\n{len(result.rules) - len(broken)} of {len(result.rules)} consistency rules hold"
              + (f"; failing: {', '.join(broken)}" if broken else "") + f" ({result.transactions:,} transactions).")
        return 0 if result.passed else 1
    rules = Table("rule", "what must hold", "violations", "verdict", box=None, pad_edge=False)
    for r in result.rules:
        rules.add_row(r.name, r.statement, f"{r.violations:,}", "PASS" if r.passed else "FAIL")
    targets = Table("target", "cited", "measured", "source", "verdict", box=None, pad_edge=False)
    for t in result.targets:
        targets.add_row(t.name, f"{t.cited:g}", _measured(t.measured), t.source, t.verdict)
    console.print(f"{result.transactions:,} transactions, {result.labels:,} labels")
    console.print(rules)
    console.print(targets)
    for name, value in result.facts.items():
        console.print(f"{name}: {value}")
    failed = sum(not r.passed for r in result.rules) + sum(not t.passed for t in result.targets)
    console.print("all gates pass" if result.passed else f"{failed} gates fail")
    return 0 if result.passed else 1


def _measured(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
