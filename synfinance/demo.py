"""`synfinance demo`: the whole pipeline on one machine, supervised, with one live dashboard.

Brings the local stack up unless SYNFIN_BOOTSTRAP_SERVERS and SYNFIN_DATABASE_URL point elsewhere,
creates the schema and topics, starts sink, processor and producer as child processes (each serving
/metrics on its own port), shows their figures once a second, and after the producer's run lets the
processor and sink drain to zero lag before stopping everything it started. The summary comes from
the sources of truth: the topic's end offsets (produced) and PostgreSQL (persisted, scored, alerted), and
the framing of the values as the topics hold them (with a schema registry: the Confluent wire format, and
a subject registered for every topic). It ends by evaluating the processor with `synfinance evaluate`
(`evaluate_processor`): the HTML report's recall and precision must be the summary's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from synfinance.common.kafka_logging import client_logging
from synfinance.common.registry import SchemaRegistry, value_subject
from synfinance.common.settings import Settings
from synfinance.processors.evaluation.scoreboard import Scoreboard
from synfinance.schemas.codec import CONFLUENT_MAGIC, SINGLE_OBJECT_MAGIC, Framing
from synfinance.stack.processes import free_port

PRODUCER, PROCESSOR, SINK = "producer", "processor", "sink"
GROUPS = {PROCESSOR: "synfin-processor", SINK: "synfin-sink"}
DRAIN_TIMEOUT_S = 300.0
# `--example-engine`: the reference engine of a checkout, publishing its decisions beside our processor's
EXAMPLE_ENGINE = Path(__file__).resolve().parents[1] / "examples" / "rules_engine.py"
EXAMPLE_DECISIONS = "synfin.demo.rules-decisions"
EXAMPLE_IDLE_S = 10.0


@dataclass
class DemoOptions:
    duration_s: float = 60.0
    rate: float = 2_000.0
    seed: int = 42
    customers: int = 10_000
    merchants: int = 2_000
    threshold: float = 0.5


@dataclass
class Component:
    name: str
    command: list[str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    last: dict[str, float] = field(default_factory=dict)

    def scrape(self) -> dict[str, float]:
        """Sum of each sample (name + sorted labels) from /metrics; the last good scrape on failure."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return self.last
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        self.last = samples
        return samples

    def total(self, prefix: str, **labels: str) -> float:
        """Sum of the samples named `prefix` whose labels include `labels`."""
        wanted = [f"{k}={v}" for k, v in labels.items()]
        return sum(value for key, value in self.last.items()
                   if key.split("{", 1)[0] == prefix and all(w in key for w in wanted))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "synfinance.cli", *args]


def components(options: DemoOptions, topic_transactions: str) -> list[Component]:
    ports = {name: free_port() for name in (PRODUCER, PROCESSOR, SINK)}
    # simulated time starting a little before now: the topics' time-based retention keeps it
    start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 2 * 3600))
    return [
        Component(SINK, _cli("sink", "--metrics-port", str(ports[SINK])), ports[SINK]),
        Component(PROCESSOR, _cli("process", "--web-port", str(ports[PROCESSOR]), "--threshold",
                                  str(options.threshold)), ports[PROCESSOR]),
        Component(PRODUCER, _cli("produce", "--seed", str(options.seed), "--start", start, "--rate", str(options.rate),
                                 "--duration",
                                 str(options.duration_s), "--customers", str(options.customers), "--merchants",
                                 str(options.merchants), "--metrics-port", str(ports[PRODUCER]), "--quiet"),
                  ports[PRODUCER]),
    ]


def dashboard(parts: dict[str, Component], started: float, phase: str, topic: str) -> Group:
    producer, processor, sink = parts[PRODUCER], parts[PROCESSOR], parts[SINK]
    table = Table(title=f"SynFinance demo — {phase} — {time.monotonic() - started:,.0f} s", expand=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("target rate (txn/s)", f"{producer.total('synfin_target_rate'):,.0f}")
    table.add_row("achieved rate (txn/s)", f"{producer.total('synfin_achieved_rate'):,.0f}")
    table.add_row("produced transactions", f"{producer.total('synfin_produced_total', topic=topic):,.0f}")
    table.add_row("scored", f"{processor.total('synfin_processed_total'):,.0f}")
    table.add_row("alerts", f"{processor.total('synfin_alerts_total'):,.0f}")
    table.add_row("labels learned", f"{processor.total('synfin_labels_learned_total'):,.0f}")
    table.add_row("prequential ROC-AUC / PR-AUC",
                  f"{processor.total('synfin_model_roc_auc'):.3f} / {processor.total('synfin_model_pr_auc'):.3f}")
    table.add_row("rows written (all tables)", f"{sink.total('synfin_sink_rows_written_total'):,.0f}")
    for name, group in GROUPS.items():
        table.add_row(f"lag {name} (records)", f"{sink.total('kafka_consumergroup_group_lag', group=group):,.0f}")
    return Group(table)


def _start(part: Component, env: dict[str, str], logs: Path) -> None:
    part.log = logs / f"{part.name}.log"
    with open(part.log, "wb") as out:
        part.process = subprocess.Popen(part.command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)


def _stop(part: Component, timeout: float = 30.0) -> int | None:
    """SIGTERM (graceful: flush, commit), SIGKILL if it hangs; the exit code, None if we killed it."""
    process = part.process
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None
    return process.returncode


def run_pipeline(options: DemoOptions, env: dict[str, str], logs: Path, console: Console,
                 topic_transactions: str) -> tuple[dict[str, Component], list[str]]:
    """Start, watch and stop the three components; returns them and the problems seen."""
    parts = {c.name: c for c in components(options, topic_transactions)}
    problems: list[str] = []
    started = time.monotonic()
    for part in parts.values():
        _start(part, env, logs)

    def refresh(phase: str) -> Group:
        for part in parts.values():
            part.scrape()
        return dashboard(parts, started, phase, topic_transactions)

    def died() -> list[str]:
        return [name for name, part in parts.items() if name != PRODUCER and part.process is not None
                and part.process.poll() is not None]

    with Live(refresh("producing"), console=console, refresh_per_second=2, transient=False) as live:
        producer = parts[PRODUCER].process
        assert producer is not None
        while producer.poll() is None and not died():
            time.sleep(1.0)
            live.update(refresh("producing"))
        if producer.returncode:
            problems.append(f"producer exited with code {producer.returncode} (see {parts[PRODUCER].log})")
        if not _drain(parts, lambda: live.update(refresh("draining")), died, GROUPS.values()):
            problems.append(f"processor and sink did not reach zero lag within {DRAIN_TIMEOUT_S:.0f} s")
        dead = died()
        # the processor flushes its last outputs when it stops: the sink then drains those too
        if _stop(parts[PROCESSOR]) not in (0, None) and PROCESSOR not in dead:
            problems.append(f"processor failed to stop cleanly (see {parts[PROCESSOR].log})")
        if not _drain(parts, lambda: live.update(refresh("draining outputs")), died, [GROUPS[SINK]]):
            problems.append(f"sink did not reach zero lag within {DRAIN_TIMEOUT_S:.0f} s")
        live.update(refresh("stopped"))
    if not console.is_terminal:  # off a terminal rich's Live ends its last frame without a line end
        console.line()
    for name in dead + [d for d in died() if d not in dead and d != PROCESSOR]:
        problems.append(f"{name} died with code {parts[name].process.returncode} (see {parts[name].log})")
    _stop(parts[SINK])
    return parts, problems


def _drain(parts: dict[str, Component], tick: Callable[[], None], died: Callable[[], list[str]],
           groups: Iterable[str]) -> bool:
    """Wait until the consumer groups have zero lag on three scrapes in a row (giving up if a consumer of
    theirs dies)."""
    groups = list(groups)
    consumers = [name for name, group in GROUPS.items() if group in groups] + [SINK]
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    zero_in_a_row = 0
    while time.monotonic() < deadline and not set(died()) & set(consumers):
        time.sleep(1.0)
        tick()
        sink = parts[SINK]
        lags = [sink.total("kafka_consumergroup_group_lag", group=g) for g in groups]
        seen = [any(f"group={g}," in key for key in sink.last) for g in groups]
        zero_in_a_row = zero_in_a_row + 1 if all(seen) and not any(lags) else 0
        if zero_in_a_row >= 3:
            return True
    return False


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def first_framings(kafka: dict[str, str], topics: Iterable[str], timeout_s: float = 30.0) -> dict[str, set[str]]:
    """topic -> the framings of the first record of each of its non-empty partitions (`Framing` values, or
    "unknown"); an empty topic maps to an empty set."""
    framings: dict[str, set[str]] = {}
    consumer = Consumer({**kafka, **client_logging(), "group.id": "synfin-demo-framing", "enable.auto.commit": False})
    try:
        for topic in topics:
            framings[topic] = set()
            starts = []
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    starts.append(TopicPartition(topic, p, low))
            if not starts:
                continue
            consumer.assign(starts)
            waiting, deadline = {tp.partition for tp in starts}, time.monotonic() + timeout_s
            while waiting and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error() is not None or message.partition() not in waiting:
                    continue
                waiting.discard(message.partition())
                framings[topic].add(_framing(message.value() or b""))
            if waiting:
                framings[topic].add("unknown")
    finally:
        consumer.close()
    return framings


def _framing(value: bytes) -> str:
    if value[:2] == SINGLE_OBJECT_MAGIC:
        return Framing.SINGLE_OBJECT.value
    if value[:1] == CONFLUENT_MAGIC:
        return Framing.CONFLUENT.value
    return "unknown"


def framing_report(kafka: dict[str, str], topics: Iterable[str], registry_url: str | None) -> tuple[str, list[str]]:
    """One line saying how the topics' values are framed, and the problems: every record checked must be in
    the Confluent wire format when the run had a registry (each topic's subject registered), single-object
    otherwise."""
    topics = list(topics)
    expected = Framing.CONFLUENT.value if registry_url else Framing.SINGLE_OBJECT.value
    framings = first_framings(kafka, topics)
    problems = [f"{topic}: values framed {', '.join(sorted(found))}, expected {expected}"
                for topic, found in framings.items() if found and found != {expected}]
    if not registry_url:
        return "Avro single-object (no schema registry)", problems
    subjects = set(SchemaRegistry(registry_url).subjects())
    missing = [value_subject(t) for t in topics if value_subject(t) not in subjects]
    problems += [f"subject {subject} not registered at {registry_url}" for subject in missing]
    return (f"Confluent wire format (00 + schema id), {len(topics) - len(missing)} of {len(topics)} subjects "
            f"registered at {registry_url}"), problems


def evaluate_processor(settings: Settings, out_dir: Path, threshold: float,
                       counts: dict[str, float]) -> tuple[Path, Scoreboard, list[str]]:
    """`synfinance evaluate` of our own processor (scores on the scored topic, alerts = declines): writes
    `evaluation.html` and `evaluation.json` to `out_dir`, and checks that the report's overall recall and
    precision are the summary's (computed in PostgreSQL from the alerts and the final labels)."""
    from synfinance.commands.evaluate import run_evaluation
    from synfinance.processors.evaluation.report import write_report

    topics = [settings.topics.scored, settings.topics.alerts]
    board = run_evaluation(settings, topics, group="synfin-demo-evaluate", threshold=threshold, until_lag_zero=True)
    report = out_dir / "evaluation.html"
    write_report(board, report, title=f"our processor ({' + '.join(topics)})")
    (out_dir / "evaluation.json").write_text(json.dumps(board.as_json(), indent=1), encoding="utf-8")
    recall = counts["frauds_alerted"] / counts["frauds"] if counts["frauds"] else 0.0
    precision = counts["alerts_fraud"] / counts["alerts"] if counts["alerts"] else 0.0
    ours = board.overall.at_decline
    problems = []
    if abs((ours.recall or 0.0) - recall) > 1e-12 or abs((ours.precision or 0.0) - precision) > 1e-12:
        problems.append(f"the evaluation report's recall {ours.recall} / precision {ours.precision} are not the "
                        f"summary's {recall} / {precision}")
    return report, board, problems


def start_example_engine(settings: Settings, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """`examples/rules_engine.py` on the transactions topic, alongside our processor, publishing to
    EXAMPLE_DECISIONS (created here: the brokers create no topic on their own). It stops once idle."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(settings.kafka_config())
    created = admin.create_topics([NewTopic(EXAMPLE_DECISIONS, settings.partitions, settings.replication_factor)])
    for future in created.values():
        try:
            future.result(30)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    with open(logs / "rules-engine.log", "wb") as out:
        return subprocess.Popen([sys.executable, str(EXAMPLE_ENGINE), EXAMPLE_DECISIONS, "--until-idle",
                                 str(EXAMPLE_IDLE_S)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def evaluate_example_engine(settings: Settings, engine: subprocess.Popen[bytes], out_dir: Path,
                            threshold: float) -> tuple[Path, Scoreboard, list[str]]:
    """Wait for the example engine to go idle, then `synfinance evaluate` its decisions into
    `rules-engine.html` (and `.json`) in `out_dir`; returns the report, its board and the problems seen."""
    from synfinance.commands.evaluate import run_evaluation
    from synfinance.processors.evaluation.report import write_report

    problems = []
    try:
        code = engine.wait(DRAIN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        engine.kill()
        engine.wait()
        problems.append(f"the example engine did not go idle within {DRAIN_TIMEOUT_S:.0f} s")
    else:
        if code:
            problems.append(f"the example engine exited with code {code} (see {out_dir / 'rules-engine.log'})")
    board = run_evaluation(settings, [EXAMPLE_DECISIONS], group="synfin-demo-evaluate-rules", threshold=threshold,
                           until_lag_zero=True)
    report = out_dir / "rules-engine.html"
    write_report(board, report, title=f"examples/rules_engine.py ({EXAMPLE_DECISIONS})")
    (out_dir / "rules-engine.json").write_text(json.dumps(board.as_json(), indent=1), encoding="utf-8")
    return report, board, problems
