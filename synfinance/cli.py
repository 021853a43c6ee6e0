"""The `synfinance` command: assembles the sub-commands and turns user errors into one line + exit 2."""

from __future__ import annotations

import sys

import typer

import synfinance.commands.db as db
import synfinance.commands.sink as sink
from synfinance.commands import (
    demo,
    evaluate,
    generate,
    lag_exporter,
    process,
    produce,
    schema,
    stack,
    topics,
    validate,
)
from synfinance.common.errors import UsageError
from synfinance.common.settings import load_settings

app = typer.Typer(
    help="SynFinance Stream: seeded, rate-controlled Indian payments with labelled fraud on Kafka.",
    no_args_is_help=True,
    epilog='Example: synfinance stack up && eval "$(synfinance stack env)" && synfinance produce --events 10000',
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from synfinance.producers.seeding import GENERATOR_VERSION

        try:
            installed = version("synfinance")
        except PackageNotFoundError:
            installed = "unknown (not installed)"
        print(f"synfinance {installed} (generator version {GENERATOR_VERSION})")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the version (and the generator's) and exit.")) -> None:
    """SynFinance Stream: seeded, rate-controlled Indian payments with labelled fraud on Kafka."""


app.add_typer(stack.app, name="stack")
app.add_typer(topics.app, name="topics")
app.add_typer(schema.app, name="schema")
app.command("generate")(generate.generate)
app.add_typer(db.app, name="db")
app.command("sink")(sink.sink)
app.command("produce")(produce.produce)
app.command("process")(process.process)
app.command("demo")(demo.demo)
app.command("validate")(validate.validate)
app.command("evaluate")(evaluate.evaluate)
app.command("lag-exporter")(lag_exporter.lag_exporter)


@app.command("settings")
def show_settings() -> None:
    """Validate and print the effective settings (from SYNFIN_* variables and .env); secrets masked.

    Example: synfinance settings   (after eval "$(synfinance stack env)": the local stack's addresses)
    """
    print(load_settings().model_dump_json(indent=2))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 usage or setting error, 130 interrupted)."""
    try:
        result = app(args=argv, prog_name="synfinance", standalone_mode=False)
    except UsageError as error:
        print(f"synfinance: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("synfinance: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        # click's (vendored by typer) usage errors: bad option, unknown command, missing argument
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError" and context is not None:
            print(context.get_help(), file=sys.stderr)
            return 2
        if hasattr(error, "format_message") and hasattr(error, "exit_code"):
            print(f"synfinance: error: {error.format_message()} (see --help)", file=sys.stderr)
            return int(error.exit_code) if error.exit_code else 2
        if type(error).__name__ == "Abort":
            return 130
        raise
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
