"""`synfinance stack up|down|reset|status|env|fetch|kafka-tool` — the embedded local Kafka + PostgreSQL (+ schema
registry)."""

from __future__ import annotations

import os
import sys

import typer

from synfinance.common.errors import UsageError
from synfinance.console import make_console
from synfinance.stack import kafka, kafka_tools, registry
from synfinance.stack.launcher import LocalStack

app = typer.Typer(help="Start, stop and inspect the local Kafka broker and PostgreSQL server.",
                  epilog='Example: synfinance stack up && eval "$(synfinance stack env)"', no_args_is_help=True)
console = make_console()
KAFKA_VERSION_HELP = (f"Kafka release to run (default: ${kafka.VERSION_ENV}, else {kafka.default_version()}); "
                      "3.9.x stays selectable.")


@app.command()
def up(with_registry: bool = typer.Option(False, "--registry",
                                          help="Also start a Confluent-compatible schema registry."),
       kafka_version: str | None = typer.Option(None, "--kafka-version", help=KAFKA_VERSION_HELP),
       brokers: int | None = typer.Option(
           None, "--brokers", help="Kafka nodes: 1 (the default), or a KRaft cluster of up to 5 on loopback "
                                   "(topics replicated 3 times, min.insync.replicas 2).")) -> None:
    """Start Kafka and PostgreSQL (no-op for what already runs; what died restarts on its ports with its
    data) and print how to connect.

    Example: synfinance stack up --registry && eval "$(synfinance stack env)"
    """
    stack = LocalStack()
    state = stack.up(with_registry=with_registry, kafka_version=kafka_version, brokers=brokers,
                     report=console.print)
    bootstrap = ",".join(b.bootstrap for b in state.brokers)
    console.print(f"kafka     {f'{bootstrap} (Kafka {state.kafka.version})' if state.kafka else '-'}")
    console.print(f"postgres  {state.postgres.url if state.postgres else '-'}")
    if state.registry:
        console.print(f"registry  {state.registry.url}")
    console.print(f"state     {stack.state_file}")
    console.print("connect:  eval \"$(synfinance stack env)\"")


@app.command()
def down(keep: bool = typer.Option(False, "--keep", help="Keep the data: `up` restarts it in place.")) -> None:
    """Stop exactly the processes `up` started and remove their data (unless --keep: then `up` restarts them
    on their ports with their data).

    Example: synfinance stack down --keep
    """
    state = LocalStack().down(keep=keep)
    stopped = [name for name, proc in (("kafka", state.kafka), ("postgres", state.postgres),
                                       ("registry", state.registry)) if proc]
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def reset(yes: bool = typer.Option(False, "--yes", help="Confirm deleting every topic and row.")) -> None:
    """Stop the stack and delete all its data, including data `up` refuses to start over; `up` then
    starts an empty stack. Asks for confirmation on a terminal; elsewhere needs --yes.

    Example: synfinance stack reset --yes && synfinance stack up
    """
    stack = LocalStack()
    what = f"`stack reset` deletes every topic and row of the stack in {stack.state_dir}"
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"{what}: add --yes to confirm")
        if not typer.confirm(f"{what}. Go on?"):
            raise UsageError("reset cancelled: nothing deleted", exit_code=1)
    stack.reset()
    console.print(f"reset: deleted the data of the stack in {stack.state_dir}")


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
def fetch(with_registry: bool = typer.Option(False, "--registry", help="Also fetch the schema registry."),
          kafka_version: str | None = typer.Option(None, "--kafka-version", help=KAFKA_VERSION_HELP)) -> None:
    """Resolve the Kafka broker and tool jars from Maven Central into the cache (done by `up` when needed).

    Example: synfinance stack fetch --registry
    """
    version = kafka.selected_version(kafka_version)
    console.print(f"kafka {version} jars in {kafka.ensure_jars(version, quiet=False)}")
    if with_registry:
        console.print(f"schema registry {registry.APICURIO_VERSION} in {registry.ensure_registry(quiet=False).parent}")


@app.command("kafka-tool", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def kafka_tool(name: str = typer.Argument(..., help=f"One of: {', '.join(kafka_tools.TOOLS)}."),
               args: list[str] | None = typer.Argument(None, help="The tool's own arguments.")) -> None:
    """Run one of Kafka's standard tools (kafka-NAME.sh) on the stack's Kafka jars, against the running
    stack: its bootstrap server is added unless ARGS name one. Put `--` before a tool option that
    `synfinance` itself would take, such as --help.

    Example: synfinance stack kafka-tool consumer-groups --describe --all-groups
    """
    arguments = list(args or [])
    kafka_tools.check_name(name)  # an unknown NAME fails before anything else
    running = LocalStack().load().kafka
    if not kafka_tools.names_bootstrap(arguments):
        if running is None:
            raise UsageError("no local stack is up: start one with `synfinance stack up` "
                             "(or give the tool --bootstrap-server)", exit_code=1)
        if not kafka.running(running):  # else the tool would retry a dead address until its timeout
            raise UsageError("the local stack's Kafka is not running: `synfinance stack up` restarts it",
                             exit_code=1)
    version = running.version if running else kafka.selected_version()
    java = kafka.require_tool("java", "install Java 17 (Debian: apt-get install openjdk-17-jre-headless)")
    kafka.ensure_jars(version)
    command = kafka_tools.tool_command(java, name, version, arguments, running.bootstrap if running else None)
    os.execv(java, command)  # the tool's own exit code, signals and terminal, as kafka-NAME.sh gives them
