"""A real Confluent-compatible schema registry: Apicurio Registry from Maven Central, on the machine's Java.

Confluent's own registry is not on Maven Central; Apicurio's full distribution is
(`io.apicurio:apicurio-registry-app:<version>:tar.gz:all`), with in-memory storage and Confluent's REST
API under `/apis/ccompat/v7`. It is fetched once with Maven into `<cache>/apicurio/<version>` (a scratch
dir renamed when complete, so an interrupted fetch never looks cached) and started on a free loopback
port. Ready means the Confluent API answers. Storage is in memory: a restart forgets every schema
(writers register theirs again when they start).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from synfinance.common.errors import UsageError
from synfinance.stack.kafka import require_tool
from synfinance.stack.paths import cache_dir
from synfinance.stack.processes import free_port, port_open, runs, stop_pid, tail

APICURIO_VERSION = "2.6.13.Final"  # the newest 2.x: 3.x needs Java 21
_ARTIFACT = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"
_RUNNER = f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
JAVA_HEAP = "-Xmx256m"
CONFLUENT_API = "/apis/ccompat/v7"


@dataclass
class RegistryProcess:
    pid: int
    port: int
    log_dir: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{CONFLUENT_API}"


def running(registry: RegistryProcess) -> bool:
    """The registry's process runs (its pid, on its own port: not a process that reused the pid)."""
    return runs(registry.pid, f"-Dquarkus.http.port={registry.port}")


def registry_dir() -> Path:
    return cache_dir() / "apicurio" / APICURIO_VERSION


def _runner() -> Path | None:
    found = sorted(registry_dir().rglob(_RUNNER))
    return found[0] if found else None


def preflight() -> None:
    require_tool("java", "install Java 17 (Debian: apt-get install openjdk-17-jre-headless)")
    if _runner() is None:
        require_tool("mvn", "install Maven (Debian: apt-get install maven) to fetch the schema registry")


def ensure_registry(quiet: bool = True) -> Path:
    """The registry's runner jar, fetched with Maven (~142 MB) and unpacked on first use."""
    runner = _runner()
    if runner is not None:
        return runner
    preflight()
    target = registry_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="apicurio-", dir=target.parent))
    try:
        command = ["mvn", "-B", *(["-q"] if quiet else []), f"{_DEPENDENCY_PLUGIN}:copy",
                   f"-Dartifact={_ARTIFACT}", f"-DoutputDirectory={scratch}"]
        fetched = subprocess.run(command, capture_output=quiet, text=True, check=False)
        if fetched.returncode != 0:
            detail = (fetched.stdout or "").strip().splitlines()[-1:] if quiet else []
            raise UsageError(f"fetching the schema registry ({_ARTIFACT}) with Maven failed "
                             f"(exit {fetched.returncode}): {' '.join(detail) or 'see the output above'}")
        for archive in scratch.glob("*.tar.gz"):
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="data")
            archive.unlink()
        if not any(scratch.rglob(_RUNNER)):
            raise UsageError(f"the {_ARTIFACT} archive holds no {_RUNNER}")
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    runner = _runner()
    assert runner is not None
    return runner


def registry_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_registry(home: Path, port: int | None = None, timeout: float = 120.0) -> RegistryProcess:
    """Start Apicurio under `home` on a free port (or `port`, restarting); returns once its API answers."""
    runner = ensure_registry()
    log_dir = home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if port is not None and port_open(port):
        raise UsageError(f"cannot restart the schema registry on its port {port}: something else listens there")
    port = port or free_port()
    with open(log_dir / "registry.log", "ab") as log:
        process = subprocess.Popen(
            ["java", JAVA_HEAP, "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={port}",
             "-Dquarkus.log.level=WARN", "-jar", str(runner)],
            cwd=home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    registry = RegistryProcess(process.pid, port, str(log_dir))
    deadline = time.monotonic() + timeout
    while not registry_answers(registry.url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_pid(process.pid)
            why = "exited" if process.returncode is not None else f"did not answer within {timeout:.0f} s"
            raise UsageError(f"schema registry {why}; log tail:\n{tail(log_dir / 'registry.log')}")
        time.sleep(0.3)
    return registry


def stop_registry(registry: RegistryProcess) -> None:
    if running(registry):
        stop_pid(registry.pid, grace=15.0)
