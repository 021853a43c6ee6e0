"""Optional OpenTelemetry spans, one per batch: the processor's `score`, the sink's `persist`.

Off unless both hold: the extra is installed (`pip install 'synfinance[otel]'`) and
`OTEL_EXPORTER_OTLP_ENDPOINT` is set. Then `batch_tracer(service)` gives a `BatchTracer` whose spans go to
that endpoint by OTLP over HTTP, configured by the standard `OTEL_*` variables (`OTEL_SERVICE_NAME`
overrides the component's name). Otherwise it gives None and nothing changes: OpenTelemetry is not even
imported, and `batch_span(None, ...)` costs one call per batch.

A batch holds records of many traces, so its span is a root of its own that links to the traces of its
records (their `traceparent`s, at most `MAX_LINKS`: OpenTelemetry's default link limit): a backend finds
the batch that scored or stored a payment from the payment's trace id. Per-record spans would cost the
processor's loop more than its features do.

>>> with batch_span(None, "score", [b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]):
...     pass
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from synfinance.common.trace import trace_ids

__all__ = ["MAX_LINKS", "BatchTracer", "batch_span", "batch_tracer"]

log = logging.getLogger(__name__)

MAX_LINKS = 128
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"


class BatchTracer:
    """Spans per batch from one `TracerProvider` (its own: a library does not set the global one)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("synfinance")

    @contextlib.contextmanager
    def span(self, name: str, traceparents: Sequence[bytes | None], attributes: Mapping[str, Any]) -> Iterator[Any]:
        from opentelemetry.trace import Link, SpanContext, TraceFlags

        links = []
        ids = trace_ids(traceparents)
        for value, trace in zip(traceparents, ids.tolist(), strict=True):
            if trace and value is not None:
                context = SpanContext(int(trace, 16), int(value[36:52], 16), is_remote=True,
                                      trace_flags=TraceFlags(int(value[53:55], 16)))
                links.append(Link(context))
                if len(links) == MAX_LINKS:
                    break
        with self._tracer.start_as_current_span(name, links=links, attributes=dict(attributes)) as span:
            yield span

    def shutdown(self) -> None:
        """Export what is buffered and stop (the component's shutdown)."""
        self.provider.shutdown()


def batch_tracer(service: str) -> BatchTracer | None:
    """A tracer exporting to `OTEL_EXPORTER_OTLP_ENDPOINT`, or None when it is unset or the extra is missing."""
    if not os.environ.get(ENDPOINT):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("%s is set but OpenTelemetry is not installed (pip install 'synfinance[otel]'): no spans",
                    ENDPOINT)
        return None
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return BatchTracer(provider)


def batch_span(tracer: BatchTracer | None, name: str, traceparents: Sequence[bytes | None],
               **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """`tracer`'s span for one batch, or nothing when tracing is off."""
    if tracer is None:
        return contextlib.nullcontext()
    return tracer.span(name, traceparents, attributes)
