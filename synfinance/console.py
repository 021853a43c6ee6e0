"""The one way the CLI makes a rich Console: full-width lines when piped (rich would cut them at 80
columns), terminal features only on a terminal."""

from __future__ import annotations

from rich.console import Console

PIPED_WIDTH = 200  # columns when stdout/stderr is a file or a pipe: tables stay whole in logs


def make_console(stderr: bool = False, width: int | None = None) -> Console:
    probe = Console(stderr=stderr)
    return Console(stderr=stderr, highlight=False, width=width or (None if probe.is_terminal else PIPED_WIDTH))
