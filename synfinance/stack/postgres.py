"""A throwaway PostgreSQL cluster from the machine's server binaries (`initdb` + `pg_ctl`).

Debian keeps the server binaries in `/usr/lib/postgresql/<version>/bin`, off PATH. initdb refuses to
run as root, so as root the cluster is created and run as the `postgres` system user, in a data
directory that user owns outside the (possibly private) checkout. Only TCP on 127.0.0.1 is served,
with trust authentication: it is a local, disposable database.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from synfinance.common.errors import UsageError
from synfinance.stack.processes import free_port, runs, stop_pid, tail, wait_for

DB_USER = "synfin"
DB_NAME = "synfin"
SERVICE_USER = "postgres"


def server_bindir() -> Path:
    """`SYNFIN_PG_BIN`, else the newest /usr/lib/postgresql/<v>/bin, else initdb on PATH."""
    configured = os.environ.get("SYNFIN_PG_BIN")
    if configured:
        if not (Path(configured) / "initdb").exists():
            raise UsageError(f"SYNFIN_PG_BIN={configured} has no initdb in it")
        return Path(configured)
    candidates: list[str] = []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise UsageError("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                     "apt-get install postgresql (or set SYNFIN_PG_BIN to their directory)")


def preflight() -> None:
    """Fail early, naming what is missing, before anything is started."""
    server_bindir()
    _run_as()


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def _run_as() -> list[str]:
    """The command prefix that drops root (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise UsageError(f"running as root needs a '{SERVICE_USER}' system user for PostgreSQL: "
                         "apt-get install postgresql creates it") from None
    runuser = shutil.which("runuser") or next(
        (path for path in ("/usr/sbin/runuser", "/sbin/runuser") if Path(path).exists()), None)
    if not runuser:
        raise UsageError("running as root needs runuser (util-linux) to start PostgreSQL as 'postgres'")
    return [runuser, "-u", SERVICE_USER, "--"]


def cluster_home(state_dir: Path) -> Path:
    """Where the cluster lives: under the state dir, or under /tmp when it must belong to `postgres`
    (a checkout inside a 0700 directory would be unreachable for that user)."""
    if os.geteuid() != 0:
        return state_dir / "postgres"
    digest = hashlib.sha1(str(state_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"synfinance-pg-{digest}"


@dataclass
class PostgresProcess:
    pid: int
    port: int
    home: str

    @property
    def url(self) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"


def running(server: PostgresProcess) -> bool:
    """The postmaster runs (its pid, serving its own data directory: not a process that reused the pid)."""
    return runs(server.pid, str(Path(server.home) / "data"))


def _prepare_home(home: Path) -> None:
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, mode=0o700)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(home, entry.pw_uid, entry.pw_gid)


def start_postgres(state_dir: Path, timeout: float = 60.0) -> PostgresProcess:
    """initdb a fresh cluster, start it on a free loopback port, create the `synfin` database."""
    bindir = server_bindir()
    run_as = _run_as()
    home = cluster_home(state_dir)
    _prepare_home(home)
    data, log = home / "data", home / "server.log"
    init = subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", DB_USER, "--auth=trust",
         "-E", "UTF8", "--locale=C", "--no-sync"],
        capture_output=True, text=True,
    )
    if init.returncode != 0:
        last = init.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise UsageError(f"initdb failed: {last[0]}")
    port = free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200"
    started = subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
         "-t", str(int(timeout)), "start"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    if started.returncode != 0:
        raise UsageError(f"PostgreSQL did not start; log tail:\n{tail(log)}")
    pid = int((data / "postmaster.pid").read_text().split()[0])
    server = PostgresProcess(pid=pid, port=port, home=str(home))
    if not wait_for(lambda: postgres_answers(server.port, "postgres"), timeout):
        stop_postgres(server)
        raise UsageError(f"PostgreSQL did not answer SELECT 1; log tail:\n{tail(log)}")
    _create_database(port)
    return server


def _create_database(port: int) -> None:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname="postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DB_NAME}")
    finally:
        connection.close()


def postgres_answers(port: int, dbname: str = DB_NAME) -> bool:
    """True if `SELECT 1` succeeds on 127.0.0.1:port."""
    import psycopg2

    try:
        connection = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname=dbname,
                                      connect_timeout=2)
    except psycopg2.OperationalError:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    finally:
        connection.close()


def stop_postgres(server: PostgresProcess, remove: bool = True) -> None:
    """Fast shutdown of exactly the postmaster we started (SIGINT), then remove its files."""
    if running(server):
        stop_pid(server.pid, sig=signal.SIGINT, grace=30.0)
    if remove:
        shutil.rmtree(server.home, ignore_errors=True)


def stop_server(server: PostgresProcess, timeout: float = 60.0) -> None:
    """`pg_ctl stop -m fast` on the cluster, keeping its data (an outage, for resilience tests)."""
    data = Path(server.home) / "data"
    stopped = subprocess.run(
        [*_run_as(), str(server_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", str(int(timeout)),
         "stop"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if stopped.returncode != 0:
        raise UsageError(f"pg_ctl stop failed: {stopped.stderr.strip() or stopped.stdout.strip()}")


def start_server(server: PostgresProcess, timeout: float = 60.0) -> PostgresProcess:
    """Start a cluster `stop_server` stopped: same data directory, same user, and the same options
    (port included), which the postmaster recorded in `postmaster.opts` when `start_postgres` ran it.

    Returns the server with the new postmaster's pid (also updated in place, so a stack state holding
    it stays right).
    """
    home = Path(server.home)
    data, log = home / "data", home / "server.log"
    argv = shlex.split((data / "postmaster.opts").read_text())[1:]  # drop the postgres binary
    if "-D" in argv:
        at = argv.index("-D")
        del argv[at:at + 2]
    started = subprocess.run(
        [*_run_as(), str(server_bindir() / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", shlex.join(argv), "-w",
         "-t", str(int(timeout)), "start"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    if started.returncode != 0:
        raise UsageError(f"PostgreSQL did not restart; log tail:\n{tail(log)}")
    server.pid = int((data / "postmaster.pid").read_text().split()[0])
    if not wait_for(lambda: postgres_answers(server.port), timeout):
        raise UsageError(f"PostgreSQL restarted but does not answer; log tail:\n{tail(log)}")
    return server
