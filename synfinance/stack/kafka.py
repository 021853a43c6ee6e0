"""A real Apache Kafka broker (single-node KRaft) run on the machine's Java from Maven-resolved jars.

The jars come from Maven Central through `infra/kafka/pom.xml` (Kafka 4.x, the default) or
`infra/kafka/pom-kafka3.xml` (Kafka 3.x) and are cached outside git in `<cache>/kafka/<version>/libs`;
the broker is the same `kafka.Kafka` main class the official scripts start. The version is
`SYNFIN_KAFKA_VERSION` (or `stack up --kafka-version`), else the one pinned in pom.xml. Ready means a
metadata request answers, not merely that the port is open.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

from synfinance.common.errors import UsageError
from synfinance.stack.paths import INFRA_DIR, cache_dir
from synfinance.stack.processes import free_port, port_open, runs, stop_pid, tail

KAFKA_DIR = INFRA_DIR / "kafka"
POM = KAFKA_DIR / "pom.xml"  # Kafka 4.x; its <kafka.version> is the default version
POMS = {3: KAFKA_DIR / "pom-kafka3.xml", 4: POM}
VERSION_ENV = "SYNFIN_KAFKA_VERSION"
JAVA_HEAP = "-Xmx512m"
# Stacks saved before the version was recorded all ran the 3.9.1 that pom.xml pinned then.
UNRECORDED_VERSION = "3.9.1"
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def default_version() -> str:
    """The broker version pinned in infra/kafka/pom.xml (the one place the default is written)."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not match:
        raise UsageError(f"{POM} has no <kafka.version> property")
    return match.group(1)


def check_version(version: str) -> str:
    """`version` if it names a Kafka release this stack can run (3.x or 4.x, as `X.Y.Z`)."""
    match = _VERSION.fullmatch(version)
    if not match or int(match.group(1)) not in POMS:
        raise UsageError(f"Kafka version {version!r}: expected a 3.x or 4.x release such as "
                         f"{default_version()} or 3.9.1")
    return version


def requested_version(explicit: str | None = None) -> str | None:
    """The version asked for: `explicit` (a command-line option), else `SYNFIN_KAFKA_VERSION`, else None."""
    wanted = explicit or os.environ.get(VERSION_ENV) or None
    return check_version(wanted) if wanted else None


def selected_version(explicit: str | None = None) -> str:
    """The version asked for, else the default."""
    return requested_version(explicit) or default_version()


def major(version: str) -> int:
    return int(check_version(version).split(".")[0])


def libs_dir(version: str) -> Path:
    return cache_dir() / "kafka" / version / "libs"


def _fetched(version: str) -> bool:
    """Both the broker's and the tools' jars are there (caches made before the tools were fetched lack them)."""
    libs = libs_dir(version)
    return all((libs / f"{artifact}-{version}.jar").exists() for artifact in ("kafka_2.13", "kafka-tools"))


def require_tool(name: str, how: str) -> str:
    path = shutil.which(name)
    if not path:
        raise UsageError(f"{name} not found on PATH: {how}")
    return path


def ensure_jars(version: str, quiet: bool = True) -> Path:
    """Resolve the broker and tool jars of `version` with Maven once; later calls reuse the cache."""
    libs = libs_dir(version)
    if _fetched(version):
        return libs
    mvn = require_tool("mvn", "install Maven (Debian: apt-get install maven) to fetch the Kafka jars")
    libs.parent.mkdir(parents=True, exist_ok=True)
    # resolve into a scratch dir and rename, so an interrupted fetch never looks like a complete cache
    scratch = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    command = [mvn, "-B", "-f", str(POMS[major(version)]), "dependency:copy-dependencies",
               f"-Dkafka.version={version}", "-DincludeScope=runtime", f"-DoutputDirectory={scratch}"]
    if quiet:
        command.insert(1, "-q")
    result = subprocess.run(command, capture_output=quiet, text=True)
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):  # a version Maven does not have leaves no empty dir behind
            libs.parent.rmdir()
        raise UsageError(f"fetching the Kafka {version} jars with Maven failed (exit {result.returncode}): "
                         f"{_maven_error(result.stdout) if quiet else 'see the output above'}")
    if libs.exists():
        shutil.rmtree(libs)
    scratch.rename(libs)
    return libs


def _maven_error(output: str | None) -> str:
    """Maven's first [ERROR] line without its colour codes (its last line is often only a reset code)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in (output or "").splitlines()]
    errors = [line.removeprefix("[ERROR]").strip() for line in lines if line.startswith("[ERROR]")]
    return next((line for line in errors if line), None) or next((line for line in reversed(lines) if line),
                                                                 "no output")


def preflight(version: str) -> None:
    """Fail early, naming the missing tool, before anything is started."""
    require_tool("java", "install Java 17 (Debian: apt-get install openjdk-17-jre-headless)")
    if not _fetched(version):
        require_tool("mvn", "install Maven (Debian: apt-get install maven) to fetch the Kafka jars")


def logging_options(version: str, tool: bool = False) -> list[str]:
    """JVM options pointing Kafka's logging at our config: log4j 2 from 4.0 on, reload4j (log4j 1) before.
    The tools' config sends warnings to stderr only, never into the broker's server.log."""
    if major(version) >= 4:
        name = "tools-log4j2.properties" if tool else "log4j2.properties"
        return [f"-Dlog4j2.configurationFile={KAFKA_DIR / name}"]
    name = "tools-log4j.properties" if tool else "log4j.properties"
    return [f"-Dlog4j.configuration=file:{KAFKA_DIR / name}"]


@dataclass
class KafkaProcess:
    pid: int
    port: int
    controller_port: int
    data_dir: str
    log_dir: str
    version: str = UNRECORDED_VERSION
    node_id: int = 1

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config(self) -> str:
        """The node's server.properties, which its command line names."""
        return str(Path(self.data_dir).parent / "server.properties")


def running(broker: KafkaProcess) -> bool:
    """The node's process runs (its pid, with its own config: not a process that reused the pid)."""
    return runs(broker.pid, broker.config)


def _cluster_id() -> str:
    """16 random bytes as URL-safe base64 without padding (22 chars), as KRaft expects. Like Kafka's
    own Uuid.randomUuid, never one starting with '-': the storage tool would parse it as an option."""
    while True:
        candidate = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def start_kafka(home: Path, version: str, timeout: float = 120.0,
                ports: tuple[int, int] | None = None) -> KafkaProcess:
    """One node (`start_cluster` with one node, its data in `home/data`)."""
    return start_cluster(home, version, 1, timeout, [ports] if ports is not None else None)[0]


def node_homes(home: Path, nodes: int) -> list[Path]:
    """Where each node keeps its config, data and logs: `home` itself for one node."""
    return [home] if nodes == 1 else [home / f"node-{i}" for i in range(1, nodes + 1)]


def start_cluster(home: Path, version: str, nodes: int, timeout: float = 120.0,
                  ports: list[tuple[int, int]] | None = None, only: set[int] | None = None) -> list[KafkaProcess]:
    """Format storage (unless formatted: a restart keeps every topic) and start `nodes` Kafka `version`
    nodes, each broker and controller of one KRaft quorum, under `home` on free ports, or on `ports`
    ((broker, controller) per node) when they restart; returns once every broker is registered. A cluster
    replicates every topic three times (two-node clusters twice) and needs two replicas for a write.
    `only` (node ids; with `ports`) restarts just those nodes of a running cluster, and returns just them."""
    java = require_tool("java", "install Java 17 (Debian: apt-get install openjdk-17-jre-headless)")
    libs = ensure_jars(version)
    starting = set(range(1, nodes + 1)) if only is None else only
    if ports is not None:
        taken = [p for i, pair in enumerate(ports, start=1) if i in starting for p in pair if port_open(p)]
        if taken:
            raise UsageError(f"cannot restart Kafka on its port {taken[0]}: something else listens there now "
                             "(stop it, or `synfinance stack reset --yes` deletes the stack's data)")
    else:
        chosen: list[int] = []
        while len(chosen) < 2 * nodes:
            port = free_port()
            if port not in chosen:
                chosen.append(port)
        ports = [(chosen[2 * i], chosen[2 * i + 1]) for i in range(nodes)]
    voters = ",".join(f"{i}@127.0.0.1:{controller}" for i, (_, controller) in enumerate(ports, start=1))
    replication = min(nodes, 3)
    template = Template((KAFKA_DIR / "server.properties.template").read_text())
    classpath = f"{libs}/*"
    cluster_id = _cluster_id()
    brokers, processes = [], []
    for node_id, (node_home, (port, controller_port)) in enumerate(zip(node_homes(home, nodes), ports,
                                                                          strict=True), start=1):
        if node_id not in starting:
            continue
        data_dir, log_dir = node_home / "data", node_home / "logs"
        data_dir.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(parents=True, exist_ok=True)
        config = node_home / "server.properties"
        config.write_text(template.substitute(node_id=node_id, voters=voters, port=port,
                                              controller_port=controller_port, data_dir=data_dir,
                                              replication=replication, min_isr=min(replication, 2)))
        if not (data_dir / "meta.properties").exists():  # formatted storage is a restart's: keep it
            formatted = subprocess.run(
                [java, *logging_options(version, tool=True), "-cp", classpath, "kafka.tools.StorageTool",
                 "format", "-t", cluster_id, "-c", str(config), "--ignore-formatted"],
                capture_output=True, text=True,
            )
            if formatted.returncode != 0:
                last = (formatted.stderr or formatted.stdout).strip().splitlines()[-1:] or ["(no output)"]
                raise UsageError(f"Kafka storage format failed: {last[0]}")
        with open(log_dir / "stdout.log", "ab") as stdout:
            process = subprocess.Popen(
                [java, "-Xms256m", JAVA_HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
                 *logging_options(version),
                 f"-Dkafka.logs.dir={log_dir}", "-cp", classpath, "kafka.Kafka", str(config)],
                stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the launching shell must not kill the broker mid-write
            )
        processes.append(process)
        brokers.append(KafkaProcess(process.pid, port, controller_port, str(data_dir), str(log_dir), version,
                                    node_id))
    deadline = time.monotonic() + timeout
    while not all(kafka_answers(b.bootstrap, brokers=nodes) for b in brokers):
        dead = next((b for b, p in zip(brokers, processes, strict=True) if p.poll() is not None), None)
        if dead is not None or time.monotonic() > deadline:
            for b in brokers:
                stop_pid(b.pid)
            why = (f"did not answer within {timeout:.0f} s" if dead is None
                   else "exited" if nodes == 1 else f"node {dead.node_id} exited")
            log = Path((dead or brokers[0]).log_dir) / "server.log"
            raise UsageError(f"Kafka broker {why}; log tail:\n{tail(log)}")
        time.sleep(0.3)
    return brokers


def kafka_answers(bootstrap: str, timeout: float = 2.0, brokers: int = 1) -> bool:
    """True if a metadata request to `bootstrap` succeeds and at least `brokers` brokers are registered."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 1000,
                         "logger": _PROBE_LOGGER})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return len(metadata.brokers) >= brokers


# librdkafka logs connection refusals while we poll a starting broker; they are expected, so drop them
_PROBE_LOGGER = logging.getLogger("synfinance.stack.kafka_probe")
_PROBE_LOGGER.addHandler(logging.NullHandler())
_PROBE_LOGGER.propagate = False


def stop_kafka(broker: KafkaProcess) -> None:
    """Controlled shutdown (SIGTERM), then SIGKILL if it hangs."""
    if running(broker):
        stop_pid(broker.pid, grace=30.0)
