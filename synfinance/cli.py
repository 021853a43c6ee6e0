"""The `synfinance` command: assembles the sub-commands and turns user errors into one line + exit 2."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import typer

from synfinance.common.errors import SynfinError

# name -> (module, attribute, a group of sub-commands?), in `--help` order. A run imports the module of the
# command it runs, not all of them (every command pays its imports at start-up: producers, processors,
# sinks and the demo together take ~0.5 s).
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "stack": ("synfinance.commands.stack", "app", True),
    "topics": ("synfinance.commands.topics", "app", True),
    "schema": ("synfinance.commands.schema", "app", True),
    "generate": ("synfinance.commands.generate", "generate", False),
    "db": ("synfinance.commands.db", "app", True),
    "sink": ("synfinance.commands.sink", "sink", False),
    "produce": ("synfinance.commands.produce", "produce", False),
    "ctl": ("synfinance.commands.ctl", "app", True),
    "process": ("synfinance.commands.process", "process", False),
    "demo": ("synfinance.commands.demo", "demo", False),
    "validate": ("synfinance.commands.validate", "validate", False),
    "evaluate": ("synfinance.commands.evaluate", "evaluate", False),
    "lag-exporter": ("synfinance.commands.lag_exporter", "lag_exporter", False),
}


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


def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the version (and the generator's) and exit.")) -> None:
    """SynFinance Stream: seeded, rate-controlled Indian payments with labelled fraud on Kafka."""


def show_settings() -> None:
    """Validate and print the effective settings (from SYNFIN_* variables and .env); secrets masked.

    Example: synfinance settings   (after eval "$(synfinance stack env)": the local stack's addresses)
    """
    from synfinance.common.settings import load_settings

    print(load_settings().model_dump_json(indent=2))


def build_app(only: str | None = None) -> typer.Typer:
    """The `synfinance` command with every sub-command, or with `only` that one (what a run needs)."""
    app = typer.Typer(
        help="SynFinance Stream: seeded, rate-controlled Indian payments with labelled fraud on Kafka.",
        no_args_is_help=True,
        epilog='Example: synfinance stack up && eval "$(synfinance stack env)" && synfinance produce --events 10000',
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_options)
    for name, (module, attribute, group) in COMMANDS.items():
        if only is None or name == only:
            target = getattr(importlib.import_module(module), attribute)
            if group:
                app.add_typer(target, name=name)
            else:
                app.command(name)(target)
    if only is None or only == "settings":
        app.command("settings")(show_settings)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # every command, as `--help` lists them
        return build_app()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 usage or setting error, 130 interrupted)."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args and (args[0] in COMMANDS or args[0] == "settings") else None
    try:
        result = build_app(command)(args=args, prog_name="synfinance", standalone_mode=False)
    except SynfinError as error:
        from synfinance.common.logs import error_line  # as JSON once a command chose json logs

        error_line(str(error), **getattr(error, "context", {}))
        return error.exit_code
    except KeyboardInterrupt:
        from synfinance.common.logs import error_line

        error_line("interrupted", logging.WARNING, prefix="")
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
