"""Confluent framing through a schema registry: register what a component writes, name what it reads.

A writer calls `writer_codec` once at start: each schema it writes is registered under its topic's
TopicNameStrategy subject (`<topic>-value`; BACKWARD compatibility is set on a subject that has no level
of its own) and the ids come back as a `Codec` that frames values as ``00`` + id (cached for the run: no
per-record lookup). A reader calls `read_through`: a Confluent id it has not seen is fetched from the
registry once and named by matching the registry's schema to ours (same Parsing Canonical Form), so
readers may start before writers and need no configuration of ids. Single-object values stay readable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from synfinance.common.registry import SchemaRegistry, value_subject
from synfinance.schemas.codec import Codec, name_of_schema, resolve_confluent_ids, schema_json

__all__ = ["DEFAULT_COMPATIBILITY", "read_through", "read_through_url", "schema_text", "writer_codec"]

DEFAULT_COMPATIBILITY = "BACKWARD"


def schema_text(name: str) -> str:
    """The schema as registered: the .avsc file's JSON (docs included), compact."""
    return json.dumps(schema_json(name), separators=(",", ":"))


def writer_codec(registry: SchemaRegistry, writes: Mapping[str, str]) -> Codec:
    """Register `writes` (topic -> schema name) and return the codec that frames them with their ids."""
    ids: dict[str, int] = {}
    for topic, name in writes.items():
        subject = value_subject(topic)
        if registry.compatibility(subject) is None:
            registry.set_compatibility(subject, DEFAULT_COMPATIBILITY)
        schema_id = registry.register(subject, schema_text(name))
        if ids.setdefault(name, schema_id) != schema_id:
            raise ValueError(f"the registry gave schema {name!r} two ids ({ids[name]}, {schema_id})")
    return Codec(ids)


def read_through(registry: SchemaRegistry) -> None:
    """Name unseen Confluent ids in this process by asking `registry` (once per id)."""

    def name_of(schema_id: int) -> str | None:
        text = registry.schema(schema_id)
        return None if text is None else name_of_schema(text)

    resolve_confluent_ids(name_of)


def read_through_url(url: str | None) -> None:
    """`read_through` the registry at `url`, checking first that it answers; nothing if `url` is None."""
    if url:
        registry = SchemaRegistry(url)
        registry.subjects()
        read_through(registry)
