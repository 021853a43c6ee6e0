"""A record schema's leaf fields, flattened: what the column-wise encoder and decoder both walk.

Nested records become dotted names ("features.is_night"), named types are resolved through the parsed
schema's `__named_schemas`, and `{"type": "long", "logicalType": ...}` wrappers become the primitive.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

AVRO_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class FieldKind(enum.Enum):
    """The Avro types a leaf field of the column-wise encoder and decoder can have."""

    LONG = "long"
    INT = "int"
    BOOLEAN = "boolean"
    DOUBLE = "double"
    STRING = "string"
    ENUM = "enum"


# the kinds an Avro primitive type name stands for
PRIMITIVE_KINDS = {kind.value: kind for kind in FieldKind if kind is not FieldKind.ENUM}


def resolver(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """A function resolving a field type: named type -> its definition, wrapped primitive -> the name."""
    named: dict[str, Any] = schema.get("__named_schemas", {})

    def resolve(type_: Any) -> Any:
        if isinstance(type_, str) and type_ not in AVRO_PRIMITIVES and type_ in named:
            return named[type_]
        if isinstance(type_, dict) and type_.get("type") in AVRO_PRIMITIVES:
            return type_["type"]
        return type_

    return resolve


def leaf_fields(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(dotted name, resolved type) of every non-record field, in schema (= wire) order."""
    resolve = resolver(schema)
    out: list[tuple[str, Any]] = []

    def collect(record: dict[str, Any], prefix: str) -> None:
        for field in record["fields"]:
            name = prefix + field["name"]
            type_ = resolve(field["type"])
            if isinstance(type_, dict) and type_.get("type") == "record":
                collect(type_, name + ".")
            else:
                out.append((name, type_))

    collect(schema, "")
    return out


def nullable(type_: Any, resolve: Callable[[Any], Any], where: str, who: str) -> tuple[int, Any] | None:
    """For a ["null", T] union: (index of the null branch, resolved T); None for any other type."""
    if not isinstance(type_, list):
        return None
    branches = [resolve(b) for b in type_]
    if len(branches) != 2 or "null" not in branches:
        raise TypeError(f'{where}: only ["null", T] unions are supported by {who}')
    null_index = branches.index("null")
    return null_index, branches[1 - null_index]
