"""Kafka's standard command-line tools (`kafka-topics.sh` and friends) run from the stack's jars.

`synfinance stack kafka-tool NAME ARGS...` runs the same Java main class as Kafka's `bin/kafka-NAME.sh`,
on the jars of the Kafka version the stack runs, with the stack's bootstrap server added unless ARGS
already name one. Only the console producer moved between 3.9 and 4.x; the table records where.
"""

from __future__ import annotations

from synfinance.common.errors import UsageError
from synfinance.stack.kafka import JAVA_HEAP, libs_dir, logging_options, major

# NAME -> the main class Kafka 4.x's bin/kafka-NAME.sh starts
TOOLS = {
    "topics": "org.apache.kafka.tools.TopicCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "configs": "org.apache.kafka.tools.ConfigCommand",
    "broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "transactions": "org.apache.kafka.tools.TransactionsCommand",
}
# where Kafka 3.x keeps a tool elsewhere (still in the Scala core jar)
TOOLS_3X = {
    "console-producer": "kafka.tools.ConsoleProducer",
    "configs": "kafka.admin.ConfigCommand",
    "broker-api-versions": "kafka.admin.BrokerApiVersionsCommand",
}
# an argument naming where to connect: given one, we add none
_BOOTSTRAP_FLAGS = ("--bootstrap-server", "--bootstrap-controller", "--broker-list")


def check_name(name: str) -> str:
    if name not in TOOLS:
        raise UsageError(f"unknown Kafka tool {name!r}: expected one of {', '.join(TOOLS)}")
    return name


def main_class(name: str, version: str) -> str:
    """The Java main class of tool `name` in Kafka `version`."""
    check_name(name)
    return (TOOLS_3X.get(name) if major(version) < 4 else None) or TOOLS[name]


def names_bootstrap(args: list[str]) -> bool:
    """True if `args` already say where to connect (a flag, or a `bootstrap.servers=` property)."""
    return any(arg.split("=", 1)[0] in _BOOTSTRAP_FLAGS or "bootstrap.servers=" in arg for arg in args)


def with_bootstrap(name: str, version: str, args: list[str], bootstrap: str) -> list[str]:
    """`args` with `bootstrap` added the way tool `name` of `version` takes it."""
    if names_bootstrap(args):
        return list(args)
    if name == "producer-perf-test" and major(version) < 4:  # 3.x's has no --bootstrap-server option
        if "--producer-props" in args:  # a second --producer-props would replace the user's, so extend it
            at = args.index("--producer-props") + 1
            return [*args[:at], f"bootstrap.servers={bootstrap}", *args[at:]]
        return [*args, "--producer-props", f"bootstrap.servers={bootstrap}"]
    return ["--bootstrap-server", bootstrap, *args]


def tool_command(java: str, name: str, version: str, args: list[str], bootstrap: str | None) -> list[str]:
    """The full `java ...` command line running tool `name` of Kafka `version` with `args`."""
    main = main_class(name, version)
    if bootstrap is not None:
        args = with_bootstrap(name, version, args, bootstrap)
    classpath = f"{libs_dir(version)}/*"
    return [java, JAVA_HEAP, "-Djava.awt.headless=true", *logging_options(version, tool=True),
            "-cp", classpath, main, *args]
