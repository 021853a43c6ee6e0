"""What the fault tests share: starting a component as its own process, stopping what is left, and reporting
how long a recovery took (`pytest -s -m faults tests/faults` prints the lines bench/RESULTS.md records)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def cli(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`synfinance ARGS` in a process of its own, its output into `log`."""
    return subprocess.Popen([sys.executable, "-m", "synfinance.cli", *args], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop(*processes: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM whatever still runs (SIGKILL after a minute)."""
    for process in processes:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def report_recovery(fault: str, what: str, seconds: float) -> None:
    """One line per measured recovery: the fault, what came back, and how many seconds after."""
    print(f"\nrecovery | {fault} | {what} | {seconds:.1f} s")
