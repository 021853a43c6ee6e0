"""Our HTTP servers listen on loopback unless SYNFIN_BIND_HOST says otherwise (read from /proc/net/tcp, as
`ss -ltn` does)."""

from __future__ import annotations

from pathlib import Path

from synfinance.commands.produce import Metrics
from synfinance.sinks.metrics import MetricsServer, SinkMetrics
from synfinance.stack.processes import free_port

LISTEN = "0A"


def listening_address(port: int) -> str:
    """The local address of the TCP socket listening on `port` (IPv4), as a dotted quad."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == LISTEN and int(hex_port, 16) == port:
            return ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
    raise AssertionError(f"nothing listens on {port}")


def test_the_sink_metrics_server_listens_on_loopback() -> None:
    port = free_port()
    server = MetricsServer(SinkMetrics(), port, alive=lambda: True, ready=lambda: True)
    try:
        assert listening_address(port) == "127.0.0.1"
    finally:
        server.close()


def test_the_producer_metrics_server_listens_where_it_is_told() -> None:
    loopback, everywhere = free_port(), free_port()
    Metrics(loopback)
    Metrics(everywhere, "0.0.0.0")
    assert listening_address(loopback) == "127.0.0.1"
    assert listening_address(everywhere) == "0.0.0.0"
