"""Which Kafka the local stack runs (4.x by default, 3.9 selectable), the refusal to switch a stack's version
in place, and `synfinance stack kafka-tool` running Kafka's own tools against the running broker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from synfinance.common.errors import UsageError
from synfinance.stack import kafka, kafka_tools
from synfinance.stack.launcher import LocalStack

KAFKA_3 = "3.9.1"


def synfinance(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "synfinance.cli", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=300)


def saved_stack(state_dir: Path, version: str | None) -> Path:
    """A stack.json as `up` writes it, for a broker that is not running (nothing is started)."""
    broker = {"pid": 999_999_999, "port": 1, "controller_port": 2, "data_dir": "d", "log_dir": "l"}
    if version is not None:
        broker["version"] = version
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "stack.json").write_text(json.dumps({"kafka": broker, "postgres": None, "registry": None}))
    return state_dir / "stack.json"


def test_the_default_is_the_kafka_4_release_pinned_in_pom_xml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kafka.VERSION_ENV, raising=False)
    pinned = re.search(r"<kafka\.version>(.+)</kafka\.version>", (kafka.KAFKA_DIR / "pom.xml").read_text())
    assert pinned is not None and pinned.group(1).startswith("4.")
    assert kafka.selected_version() == kafka.default_version() == pinned.group(1)
    compose = (Path(__file__).parents[2] / "docker-compose.yml").read_text()
    assert f"image: apache/kafka:{pinned.group(1)}" in compose  # Docker users get the same release


def test_the_environment_selects_3_9_and_an_option_beats_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kafka.VERSION_ENV, KAFKA_3)
    assert kafka.selected_version() == KAFKA_3
    assert kafka.selected_version("4.1.1") == "4.1.1"
    assert kafka.POMS[kafka.major(KAFKA_3)].name == "pom-kafka3.xml"
    assert kafka.POMS[kafka.major(kafka.default_version())].name == "pom.xml"


@pytest.mark.parametrize("bad", ["5.0.0", "2.8.2", "latest", "3.9", "4.4.0-rc1"])
def test_a_version_that_is_no_3_or_4_release_is_one_clear_line(bad: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=re.escape(f"Kafka version {bad!r}: expected a 3.x or 4.x release")):
        kafka.check_version(bad)
    result = synfinance("stack", "up", "--kafka-version", bad, env={"SYNFIN_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"synfinance: error: Kafka version {bad!r}: expected a 3.x or 4.x release such as "
        f"{kafka.default_version()} or 3.9.1"]
    assert not (tmp_path / "stack.json").exists()


def test_a_stack_keeps_its_version_and_refuses_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kafka.VERSION_ENV, raising=False)
    stack = LocalStack(tmp_path)
    assert stack.kafka_version() == kafka.default_version()  # no stack yet: the default
    state_file = saved_stack(tmp_path, KAFKA_3)
    assert stack.kafka_version() == KAFKA_3  # nothing asked for: the stack's own
    assert stack.kafka_version(KAFKA_3) == KAFKA_3
    refusal = (f"the local stack in {tmp_path.resolve()} runs Kafka 3.9.1, not 4.4.0; its data cannot switch "
               "versions: `synfinance stack down` first, then `up`")
    with pytest.raises(UsageError, match=f"^{re.escape(refusal)}$"):
        stack.kafka_version("4.4.0")
    monkeypatch.setenv(kafka.VERSION_ENV, "4.4.0")
    with pytest.raises(UsageError, match=f"^{re.escape(refusal)}$"):
        stack.up()
    assert json.loads(state_file.read_text())["kafka"]["version"] == KAFKA_3  # untouched


def test_up_refuses_to_switch_with_one_line_and_starts_nothing(tmp_path: Path) -> None:
    state_file = saved_stack(tmp_path, kafka.default_version())
    before = state_file.read_text()
    result = synfinance("stack", "up", "--kafka-version", KAFKA_3, env={"SYNFIN_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"synfinance: error: the local stack in {tmp_path.resolve()} runs Kafka {kafka.default_version()}, "
        f"not {KAFKA_3}; its data cannot switch versions: `synfinance stack down` first, then `up`"]
    assert state_file.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.json"]  # no kafka/ or postgres/ started


def test_a_stack_saved_before_versions_were_recorded_ran_3_9_1(tmp_path: Path) -> None:
    saved_stack(tmp_path, None)
    assert LocalStack(tmp_path).load().kafka.version == "3.9.1"


@pytest.mark.parametrize("version", [kafka.default_version(), KAFKA_3])
def test_every_tool_main_class_is_in_that_versions_jars(version: str) -> None:
    libs = kafka.ensure_jars(version)  # fetched by Maven the first time
    classes: set[str] = set()
    for jar in libs.glob("kafka*.jar"):
        with zipfile.ZipFile(jar) as archive:
            classes.update(name.removesuffix(".class").replace("/", ".") for name in archive.namelist()
                           if name.endswith(".class"))
    missing = {name: kafka_tools.main_class(name, version) for name in kafka_tools.TOOLS
               if kafka_tools.main_class(name, version) not in classes}
    assert missing == {}
    assert "kafka.tools.StorageTool" in classes  # the storage format step of start_kafka


def test_the_console_producer_moved_in_kafka_4() -> None:
    assert kafka_tools.main_class("console-producer", KAFKA_3) == "kafka.tools.ConsoleProducer"
    assert kafka_tools.main_class("console-producer", "4.4.0") == "org.apache.kafka.tools.ConsoleProducer"
    assert kafka_tools.main_class("topics", KAFKA_3) == kafka_tools.main_class("topics", "4.4.0")


def test_the_bootstrap_server_is_added_unless_the_arguments_name_one() -> None:
    at = "127.0.0.1:9"
    assert kafka_tools.with_bootstrap("topics", "4.4.0", ["--list"], at) == ["--bootstrap-server", at, "--list"]
    given = ["--bootstrap-server=h:1", "--list"]
    assert kafka_tools.with_bootstrap("topics", "4.4.0", given, at) == given
    quorum = ["--bootstrap-controller", "h:2", "describe", "--status"]
    assert kafka_tools.with_bootstrap("metadata-quorum", "4.4.0", quorum, at) == quorum
    # 3.x's producer-perf-test has no --bootstrap-server: the address goes into its --producer-props
    perf = ["--topic", "t", "--num-records", "5"]
    assert kafka_tools.with_bootstrap("producer-perf-test", KAFKA_3, perf, at) == [
        *perf, "--producer-props", f"bootstrap.servers={at}"]
    assert kafka_tools.with_bootstrap("producer-perf-test", KAFKA_3, ["--producer-props", "acks=1"], at) == [
        "--producer-props", f"bootstrap.servers={at}", "acks=1"]
    assert kafka_tools.with_bootstrap("producer-perf-test", "4.4.0", perf, at) == ["--bootstrap-server", at, *perf]


def test_the_tool_runs_on_the_versions_jars_with_the_tools_logging() -> None:
    command = kafka_tools.tool_command("/usr/bin/java", "get-offsets", KAFKA_3, ["--topic", "t"], "h:1")
    assert command == ["/usr/bin/java", kafka.JAVA_HEAP, "-Djava.awt.headless=true",
                       f"-Dlog4j.configuration=file:{kafka.KAFKA_DIR / 'tools-log4j.properties'}",
                       "-cp", f"{kafka.libs_dir(KAFKA_3)}/*", "org.apache.kafka.tools.GetOffsetShell",
                       "--bootstrap-server", "h:1", "--topic", "t"]
    assert kafka.logging_options("4.4.0", tool=True) == [
        f"-Dlog4j2.configurationFile={kafka.KAFKA_DIR / 'tools-log4j2.properties'}"]


def test_an_unknown_tool_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = synfinance("stack", "kafka-tool", "topicz", "--list", env={"SYNFIN_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"synfinance: error: unknown Kafka tool 'topicz': expected one of {', '.join(kafka_tools.TOOLS)}"]


def test_a_tool_without_a_stack_or_an_address_exits_1(tmp_path: Path) -> None:
    result = synfinance("stack", "kafka-tool", "topics", "--list", env={"SYNFIN_STATE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["synfinance: error: no local stack is up: start one with "
                                          "`synfinance stack up` (or give the tool --bootstrap-server)"]


def test_a_tool_on_a_stack_whose_broker_died_exits_1(tmp_path: Path) -> None:
    saved_stack(tmp_path, kafka.default_version())  # its pid is no process
    result = synfinance("stack", "kafka-tool", "topics", "--list", env={"SYNFIN_STATE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["synfinance: error: the local stack's Kafka is not running: "
                                          "`synfinance stack up` restarts it"]


def tool_on_test_broker(synfin_stack, kafka_bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`stack kafka-tool` against the session's broker: on the embedded stack with the address left to it
    (the point of the command), on an external or Docker broker with --bootstrap-server given."""
    if embedded(synfin_stack):
        return synfinance("stack", "kafka-tool", *args, env={"SYNFIN_STATE_DIR": str(synfin_stack.state_dir)})
    return synfinance("stack", "kafka-tool", args[0], "--bootstrap-server", kafka_bootstrap, *args[1:])


def embedded(synfin_stack) -> bool:
    return synfin_stack.backend == "local" and not os.environ.get("SYNFIN_BOOTSTRAP_SERVERS")


@pytest.mark.integration
def test_the_session_broker_runs_the_selected_version(synfin_stack, kafka_bootstrap: str) -> None:
    """`SYNFIN_KAFKA_VERSION=3.9.1 make test` really runs the suite on 3.9.1: the broker's own log says so."""
    if not embedded(synfin_stack):
        pytest.skip("an external or Docker broker: not the embedded stack's to check")
    broker = LocalStack(synfin_stack.state_dir).load().kafka
    assert broker is not None and broker.bootstrap == kafka_bootstrap
    assert broker.version == kafka.selected_version()
    started = (Path(broker.log_dir) / "server.log").read_text()
    assert f"Kafka version: {broker.version}" in started


@pytest.mark.integration
def test_kafka_tools_list_topics_and_describe_a_group(synfin_stack, kafka_bootstrap: str) -> None:
    topic, group = f"test.tools.{uuid.uuid4().hex[:8]}", f"g-tools-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})  # held: a dropped client fails the future
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(7):
        producer.produce(topic, value=str(i).encode(), partition=i % 2)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 1)], asynchronous=False)
    consumer.close()

    listed = tool_on_test_broker(synfin_stack, kafka_bootstrap, "topics", "--list")
    assert listed.returncode == 0, listed.stderr
    assert topic in listed.stdout.splitlines()

    described = tool_on_test_broker(synfin_stack, kafka_bootstrap, "consumer-groups", "--describe",
                                    "--group", group)
    assert described.returncode == 0, described.stderr
    rows = sorted(line.split()[:6] for line in described.stdout.splitlines() if line.startswith(group))
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG: partition 1 holds 3 records, 1 consumed
    assert rows == [[group, topic, "0", "4", "4", "0"], [group, topic, "1", "1", "3", "2"]]

    missing = tool_on_test_broker(synfin_stack, kafka_bootstrap, "topics", "--describe", "--topic",
                                  f"{topic}.absent")
    assert missing.returncode == 1  # the tool's own exit code comes back
    assert "does not exist" in missing.stderr


@pytest.mark.integration
def test_the_broker_accepts_event_times_far_from_the_wall_clock(kafka_bootstrap: str) -> None:
    """Simulated event time can be months ahead of or years behind now; Kafka 4 would refuse a record
    stamped over an hour ahead without log.message.timestamp.after.max.ms in server.properties."""
    topic = f"test.eventtime.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})  # held: a dropped client fails the future
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    now_ms = int(time.time() * 1000)
    stamps = [now_ms + 90 * 86_400_000, now_ms - 5 * 365 * 86_400_000]
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for stamp in stamps:
        producer.produce(topic, value=b"x", timestamp=stamp,
                         on_delivery=lambda error, _m: errors.append(str(error)) if error else None)
    assert producer.flush(30) == 0
    assert errors == []
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"g-{topic}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        received = consumer.consume(num_messages=2, timeout=30)
    finally:
        consumer.close()
    assert [message.timestamp()[1] for message in received] == stamps
