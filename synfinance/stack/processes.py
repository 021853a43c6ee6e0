"""Process and port plumbing shared by the Kafka and PostgreSQL launchers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int | None) -> bool:
    """True if `pid` names a running (not zombie) process."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # a zombie has exited; only its parent's wait() is missing
        return status.read_text().split(")", 1)[1].split()[0] != "Z"
    return True


def runs(pid: int | None, marker: str) -> bool:
    """True if `pid` is alive and its command line contains `marker` (its config or data path): the process
    we started, not another that took over its pid after it died (a reboot reuses pids)."""
    if not pid_alive(pid):
        return False
    if not Path("/proc/self").exists():
        return True  # no /proc (not Linux): a live pid is trusted
    for _ in range(20):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False  # exited meanwhile
        if cmdline:
            return marker in cmdline.replace(b"\0", b" ").decode(errors="replace")
        # empty: a process in the middle of exec (its new argv is not mapped yet) reads as ""
        time.sleep(0.01)
    return False


def stop_pid(pid: int | None, sig: signal.Signals = signal.SIGTERM, grace: float = 30.0) -> None:
    """Send `sig`, wait up to `grace` seconds, then SIGKILL. Reaps the child if it is ours."""
    if not pid_alive(pid):
        return
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    if not wait_for(lambda: not _reap_or_alive(pid), grace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _reap_or_alive(pid), 10.0)


def _reap_or_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return pid_alive(pid)


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `condition` until it is true or `timeout` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
