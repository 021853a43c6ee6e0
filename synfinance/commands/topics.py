"""`synfinance topics create|list` — the SPEC §2 topics, created with explicit configs and checked."""

from __future__ import annotations

import typer
from rich.table import Table

from synfinance.common.settings import load_settings
from synfinance.console import make_console
from synfinance.producers.topics import describe_topics, ensure_topics, mismatch, spec_for_settings

app = typer.Typer(help="Create and inspect the Kafka topics (names and partitions from SYNFIN_* settings).",
                  epilog="Example: synfinance topics create && synfinance topics list", no_args_is_help=True)
console = make_console()


@app.command()
def create(
    partitions: int | None = typer.Option(
        None, "--partitions", help="Partitions per topic [SYNFIN_PARTITIONS]."),
    replication_factor: int | None = typer.Option(
        None, "--replication-factor", help="Replicas per partition [SYNFIN_REPLICATION_FACTOR]."),
) -> None:
    """Create the missing topics; check that existing ones have the expected partitions and configs.

    Example: synfinance topics create --partitions 12
    """
    given = {"partitions": partitions, "replication_factor": replication_factor}
    overrides = {key: value for key, value in given.items() if value is not None}
    settings = load_settings(**overrides)
    for line in ensure_topics(settings.kafka_config(), spec_for_settings(settings)):
        console.print(line)


@app.command("list")
def list_topics() -> None:
    """Show each topic as the broker has it, and whether it matches what `create` would make.

    Example: synfinance topics list
    """
    settings = load_settings()
    specs = spec_for_settings(settings)
    actual = describe_topics(settings.kafka_config(), [spec.name for spec in specs])
    table = Table("topic", "partitions", "replication", "cleanup.policy", "retention.ms", "status",
                  box=None, pad_edge=False)
    for spec in specs:
        found = actual[spec.name]
        if found is None:
            table.add_row(spec.name, "-", "-", "-", "-", "missing (run `synfinance topics create`)")
            continue
        problem = mismatch(spec, found)
        table.add_row(spec.name, str(found.partitions), str(found.replication_factor),
                      found.config.get("cleanup.policy", "?"), found.config.get("retention.ms", "?"),
                      "ok" if problem is None else problem.removeprefix(f"topic {spec.name} "))
    console.print(table)
