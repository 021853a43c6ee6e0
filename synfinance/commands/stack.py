"""`synfinance stack up|down|status|env|fetch` — the embedded local Kafka + PostgreSQL (+ schema registry)."""

from __future__ import annotations

import typer

from synfinance.common.errors import UsageError
from synfinance.console import make_console
from synfinance.stack import kafka, registry
from synfinance.stack.launcher import LocalStack

app = typer.Typer(help="Start, stop and inspect the local Kafka broker and PostgreSQL server.",
                  epilog='Example: synfinance stack up && eval "$(synfinance stack env)"', no_args_is_help=True)
console = make_console()


@app.command()
def up(with_registry: bool = typer.Option(False, "--registry",
                                          help="Also start a Confluent-compatible schema registry.")) -> None:
    """Start Kafka and PostgreSQL (no-op for what already runs) and print how to connect.

    Example: synfinance stack up --registry && eval "$(synfinance stack env)"
    """
    stack = LocalStack()
    state = stack.up(with_registry=with_registry)
    console.print(f"kafka     {state.kafka.bootstrap if state.kafka else '-'}")
    console.print(f"postgres  {state.postgres.url if state.postgres else '-'}")
    if state.registry:
        console.print(f"registry  {state.registry.url}")
    console.print(f"state     {stack.state_file}")
    console.print("connect:  eval \"$(synfinance stack env)\"")


@app.command()
def down(keep: bool = typer.Option(False, "--keep", help="Keep the data directories.")) -> None:
    """Stop exactly the processes `up` started and remove their data (unless --keep).

    Example: synfinance stack down --keep
    """
    state = LocalStack().down(keep=keep)
    stopped = [name for name, proc in (("kafka", state.kafka), ("postgres", state.postgres),
                                       ("registry", state.registry)) if proc]
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status() -> None:
    """Say what runs and where.

    Example: synfinance stack status
    """
    for name, line in LocalStack().status().items():
        console.print(f"{name:<9} {line}")


@app.command()
def env() -> None:
    """Print `export SYNFIN_...` lines for the running stack; exit 1 when none is up.

    Example: eval "$(synfinance stack env)"
    """
    exports = LocalStack().load().exports()
    if not exports:
        raise UsageError("no local stack is up: start one with `synfinance stack up`", exit_code=1)
    for key, value in exports.items():
        print(f"export {key}={value}")


@app.command()
def fetch(with_registry: bool = typer.Option(False, "--registry", help="Also fetch the schema registry.")) -> None:
    """Resolve the Kafka broker jars from Maven Central into the cache (done by `up` when needed).

    Example: synfinance stack fetch --registry
    """
    console.print(f"kafka {kafka.kafka_version()} jars in {kafka.ensure_jars(quiet=False)}")
    if with_registry:
        console.print(f"schema registry {registry.APICURIO_VERSION} in {registry.ensure_registry(quiet=False).parent}")
