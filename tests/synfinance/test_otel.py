"""synfinance.common.otel: spans per batch only with the extra and an OTLP endpoint; on a real broker and
database, the processor's `score` and the sink's `persist` spans reach an OTLP/HTTP receiver."""

from __future__ import annotations

import gzip
import http.server
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

from synfinance.common.otel import MAX_LINKS, BatchTracer, batch_span, batch_tracer
from synfinance.common.trace import TRACE_HEADER, traceparents
from synfinance.stack.processes import free_port

GOOD = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_no_endpoint_no_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert batch_tracer("synfinance-test") is None
    with batch_span(None, "score", [GOOD]) as span:
        assert span is None


def test_an_endpoint_without_the_extra_is_a_warning_not_an_error(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)  # not installed
    with caplog.at_level(logging.WARNING):
        assert batch_tracer("synfinance-test") is None
    assert "synfinance[otel]" in caplog.text


def test_a_batch_span_links_to_the_valid_traces_of_its_records() -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = BatchTracer(provider)
    with batch_span(tracer, "score", [GOOD, None, b"garbage", GOOD.replace(b"-01", b"-00")], size=4):
        pass
    many = traceparents(np.random.default_rng(), MAX_LINKS + 10).tolist()
    with batch_span(tracer, "persist", many):
        pass
    tracer.shutdown()
    score, persist = exporter.get_finished_spans()
    assert score.name == "score" and dict(score.attributes or {}) == {"size": 4}
    assert [(link.context.trace_id, link.context.span_id, int(link.context.trace_flags)) for link in score.links] == [
        (int(GOOD[3:35], 16), int(GOOD[36:52], 16), 1), (int(GOOD[3:35], 16), int(GOOD[36:52], 16), 0)]
    assert [f"{link.context.trace_id:032x}".encode() for link in persist.links] == [v[3:35] for v in many[:MAX_LINKS]]
    assert score.context.trace_id != int(GOOD[3:35], 16)  # a batch is a root of its own, linked to its records


class _Receiver(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps every request body it is sent."""

    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    _Receiver.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Receiver.bodies
    server.shutdown()


def _spans(bodies: list[bytes]) -> list[tuple[str, str, dict[str, Any], list[bytes]]]:
    """(service, span name, attributes, linked trace ids as hex) of every span received."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    out = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value.int_value or a.value.string_value for a in span.attributes}
                    out.append((service, span.name, attributes, [link.trace_id.hex().encode() for link in span.links]))
    return out


@pytest.mark.integration
def test_the_processor_and_the_sink_export_a_span_per_batch(kafka_bootstrap: str, database_url: str,
                                                          receiver: tuple[str, list[bytes]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    from tests.processors.conftest import build_dataset
    from tests.processors.kafka_support import create_topics, publish, start_processor, topic_names
    from tests.sinks.db_support import scratch_schema

    endpoint, bodies = receiver
    dataset = build_dataset(events=3_000)
    run = uuid.uuid4().hex[:8]
    topics = topic_names(f"otel-{run}")
    create_topics(kafka_bootstrap, topics)
    sent = traceparents(np.random.default_rng(), len(dataset.transactions)).tolist()
    publish(kafka_bootstrap, topics, dataset, headers={
        t["transaction_id"]: [(TRACE_HEADER, value)] for t, value in zip(dataset.transactions, sent, strict=True)})
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)  # the processor and sink subprocesses inherit it
    assert start_processor(kafka_bootstrap, topics, f"processor-otel-{run}", "--stop-when-idle", "3").wait(240) == 0
    with scratch_schema(database_url, f"otel_{run}") as schema:
        env = {**os.environ, "SYNFIN_BOOTSTRAP_SERVERS": kafka_bootstrap, "SYNFIN_DATABASE_URL": database_url,
               **{f"SYNFIN_TOPICS__{field.upper()}": name for field, name in topics.model_dump().items()}}
        sink = subprocess.run([sys.executable, "-m", "synfinance.cli", "sink", "--group", f"sink-otel-{run}",
                               "--schema", schema, "--topics", "transactions,scored", "--metrics-port",
                               str(free_port()), "--stop-when-idle", "2"],
                              env=env, capture_output=True, text=True, timeout=240)
        assert sink.returncode == 0, sink.stdout + sink.stderr
    spans = _spans(bodies)
    ours = {value[3:35] for value in sent}
    score = [s for s in spans if s[:2] == ("synfinance-processor", "score")]
    persist = [s for s in spans if s[:2] == ("synfinance-sink", "persist")]
    assert {(service, name) for service, name, _, _ in spans} == {("synfinance-processor", "score"),
                                                                  ("synfinance-sink", "persist")}
    assert sum(attributes["messaging.batch.message_count"] for _, _, attributes, _ in score) == len(sent)
    assert sum(attributes["synfin.rows"] for _, _, attributes, _ in persist) == 2 * len(sent)  # txns + scores
    links = [trace for _, _, _, traces in score + persist for trace in traces]
    assert links and set(links) <= ours
