"""Child process for test_faust_on_broker: a Faust worker (Kafka through aiokafka) whose agent reads a topic
as raw bytes in a consumer group, writes `partition offset value` per event to OUT (Faust takes over
stdout), and stops after N events.

Run: python -m tests.processors.faust_counter BOOTSTRAP TOPIC GROUP N OUT
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile


def main(bootstrap: str, topic: str, group: str, events: int, out: str) -> None:
    import faust

    app = faust.App(group, broker=f"kafka://{bootstrap}", web_enabled=False, topic_partitions=2,
                    consumer_auto_offset_reset="earliest", broker_commit_every=1,
                    datadir=tempfile.mkdtemp(prefix="faust-counter-"))  # not `<group>-data` in the cwd
    source = app.topic(topic, value_serializer="raw", key_serializer="raw")
    seen = {"n": 0}
    lines = open(out, "w", buffering=1)  # noqa: SIM115 (open until the worker exits)

    @app.agent(source)
    async def count(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            lines.write(f"{event.message.partition} {event.message.offset} {event.value.decode()}\n")
            seen["n"] += 1
            if seen["n"] == events:
                asyncio.get_running_loop().call_later(3.0, os.kill, os.getpid(), signal.SIGTERM)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    bootstrap, topic, group, events, out = sys.argv[1:6]
    sys.argv = sys.argv[:1]  # Faust's Worker reads the command line too
    main(bootstrap, topic, group, int(events), out)
