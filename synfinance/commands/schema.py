"""`synfinance schema show|register|check`: our Avro schemas and the schema registry.

`show` prints a schema with its fingerprint (and, with a registry, the id registered under its topic's
subject); `register` registers every topic's value schema (TopicNameStrategy, BACKWARD compatibility
where a subject has none); `check FILE` asks the registry whether a candidate `.avsc` may follow the
registered version of its subject (exit 1 if not), which is how a schema change is tested before it ships.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from synfinance.common.errors import UsageError
from synfinance.common.registry import SchemaRegistry, value_subject
from synfinance.common.settings import Settings, load_settings
from synfinance.console import make_console
from synfinance.schemas.codec import fingerprint, schema_json, schema_names
from synfinance.schemas.registry import DEFAULT_COMPATIBILITY, writer_codec

app = typer.Typer(help="Show our Avro schemas, register them, check a change against the registry.",
                  epilog="Example: synfinance schema check my-transaction.avsc", no_args_is_help=True)
console = make_console()


def _registry(settings: Settings, required: bool) -> SchemaRegistry | None:
    if settings.schema_registry_url:
        return SchemaRegistry(settings.schema_registry_url)
    if required:
        raise UsageError("no schema registry: set SYNFIN_SCHEMA_REGISTRY_URL (the local one: "
                         "`synfinance stack up --registry` then `eval \"$(synfinance stack env)\"`)")
    return None


def _topic_of(settings: Settings, name: str) -> str | None:
    """Our topic whose values are schema `name` (None for one no topic of ours carries: decisions)."""
    return next((topic for topic, schema in settings.topics.value_schemas().items() if schema == name), None)


@app.command()
def show(name: str = typer.Argument(..., help=f"One of: {', '.join(schema_names())}.")) -> None:
    """Print a schema (.avsc JSON), its CRC-64-AVRO fingerprint and, with a registry, its subject and id.

    Example: synfinance schema show transaction
    """
    if name not in schema_names():
        raise UsageError(f"unknown schema {name!r}; known: {', '.join(schema_names())}")
    settings = load_settings()
    print(json.dumps(schema_json(name), indent=2))
    console.print(f"fingerprint  {fingerprint(name).hex()} (single-object header c301{fingerprint(name).hex()})")
    registry = _registry(settings, required=False)
    topic = _topic_of(settings, name)
    if registry is not None and topic is None:
        console.print("subject      none: no topic of ours carries it (an engine's own topic does)")
    elif registry is not None:
        subject = value_subject(topic)
        latest = registry.latest(subject)
        registered = f"id {latest.schema_id}, version {latest.version}" if latest else "nothing registered"
        console.print(f"subject      {subject}: {registered}")


@app.command()
def register() -> None:
    """Register every topic's value schema under `<topic>-value` (what produce and process do at start).

    Example: synfinance schema register
    """
    settings = load_settings()
    registry = _registry(settings, required=True)
    assert registry is not None
    codec = writer_codec(registry, settings.topics.value_schemas())
    for topic, name in settings.topics.value_schemas().items():
        console.print(f"{value_subject(topic):<40} {name:<20} id {codec.confluent_id(name)}")


@app.command()
def check(
    candidate: Path = typer.Argument(..., help="A candidate .avsc file (a changed version of one of ours)."),
    topic: str | None = typer.Option(None, "--topic",
                                     help="The topic whose subject to check against (default: the topic "
                                          "of the schema with the candidate's record name)."),
) -> None:
    """Exit 0 if the registry accepts CANDIDATE as the next version of its subject, 1 if it is incompatible.

    Example: synfinance schema check my-transaction.avsc
    """
    settings = load_settings()
    registry = _registry(settings, required=True)
    assert registry is not None
    try:
        text = candidate.read_text(encoding="utf-8")
        parsed = json.loads(text)
    except OSError as error:
        raise UsageError(f"cannot read {candidate}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{candidate} is not JSON: {error}") from None
    if topic is None:
        full_name = f"{parsed.get('namespace', '')}.{parsed.get('name', '')}" if isinstance(parsed, dict) else ""
        ours = [name for name in schema_names()
                if f"{schema_json(name).get('namespace', '')}.{schema_json(name).get('name')}" == full_name]
        if not ours:
            raise UsageError(f"{candidate}: record {full_name!r} is none of ours; name the subject with --topic")
        topic = _topic_of(settings, ours[0])
        if topic is None:
            raise UsageError(f"{candidate}: no topic of ours carries {full_name!r}; name the subject with --topic")
    subject = value_subject(topic)
    if registry.compatibility(subject) is None:
        registry.set_compatibility(subject, DEFAULT_COMPATIBILITY)
    verdict = registry.is_compatible(subject, json.dumps(parsed, separators=(",", ":")))
    if verdict is None:
        raise UsageError(f"nothing is registered under {subject}: run `synfinance schema register` first")
    level = registry.compatibility(subject)
    if verdict:
        console.print(f"{candidate}: compatible with the latest {subject} ({level})")
        return
    console.print(f"{candidate}: NOT compatible with the latest {subject} ({level})")
    raise typer.Exit(1)
