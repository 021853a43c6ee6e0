"""A client for a Confluent-compatible schema registry (Confluent, Apicurio's ccompat API, Karapace).

Only what SynFinance needs, over the standard library's HTTP: register a schema under a subject, set a
subject's compatibility, test a candidate against the latest version, read a subject's latest version,
and fetch a schema by id. Every call has a bounded timeout; every failure is a `RegistryError` with one
line naming the URL and what went wrong (the CLI prints it and exits 2).
Subjects follow Confluent's TopicNameStrategy: `<topic>-value`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from synfinance.common.errors import SynfinError

__all__ = ["RegisteredSchema", "RegistryError", "SchemaRegistry", "check_registry_url", "value_subject"]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(SynfinError):
    """The registry is unreachable, refused a request, or answered something unexpected."""


@dataclass(frozen=True)
class RegisteredSchema:
    schema_id: int
    version: int
    schema: str


def value_subject(topic: str) -> str:
    """The TopicNameStrategy subject of a topic's values."""
    return f"{topic}-value"


def check_registry_url(url: str) -> str:
    """`url` without a trailing slash, if it is an http(s) URL with a host; else ValueError."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL (expected e.g. http://127.0.0.1:8081)")
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        raise ValueError(f"{url!r}: {error}") from None
    return url.rstrip("/")


class SchemaRegistry:
    """The registry at `url` (a base URL; Apicurio's is `http://host:port/apis/ccompat/v7`)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = check_registry_url(url)
        self.timeout = timeout

    def subjects(self) -> list[str]:
        """Every subject (also the cheapest check that the registry answers)."""
        return list(self._call("GET", "/subjects"))

    def register(self, subject: str, schema: str) -> int:
        """Register `schema` (Avro JSON) under `subject`; the id (the existing one if already registered)."""
        answer = self._call("POST", f"/subjects/{_quote(subject)}/versions", {"schema": schema, "schemaType": "AVRO"})
        return int(answer["id"])

    def set_compatibility(self, subject: str, level: str = "BACKWARD") -> None:
        self._call("PUT", f"/config/{_quote(subject)}", {"compatibility": level})

    def compatibility(self, subject: str) -> str | None:
        """The subject's own compatibility level, or None if it has none set."""
        answer = self._call("GET", f"/config/{_quote(subject)}", missing_ok=True)
        if answer is None:
            return None
        return str(answer.get("compatibilityLevel") or answer.get("compatibility"))

    def is_compatible(self, subject: str, schema: str) -> bool | None:
        """Whether `schema` may follow the subject's latest version (None: the subject has no version yet)."""
        answer = self._call("POST", f"/compatibility/subjects/{_quote(subject)}/versions/latest",
                            {"schema": schema, "schemaType": "AVRO"}, missing_ok=True)
        return None if answer is None else bool(answer["is_compatible"])

    def latest(self, subject: str) -> RegisteredSchema | None:
        answer = self._call("GET", f"/subjects/{_quote(subject)}/versions/latest", missing_ok=True)
        if answer is None:
            return None
        return RegisteredSchema(int(answer["id"]), int(answer["version"]), str(answer["schema"]))

    def schema(self, schema_id: int) -> str | None:
        """The schema with this id, or None if the registry has none."""
        answer = self._call("GET", f"/schemas/ids/{int(schema_id)}", missing_ok=True)
        return None if answer is None else str(answer["schema"])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, missing_ok: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": _CONTENT_TYPE, "Accept": _CONTENT_TYPE})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            if missing_ok and error.code == 404:
                return None
            raise RegistryError(f"schema registry {self.url}: {method} {path} answered {error.code}: "
                                f"{_message(error)}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RegistryError(f"schema registry {self.url} unreachable ({reason}); is it running? "
                                "(SYNFIN_SCHEMA_REGISTRY_URL)") from None
        except json.JSONDecodeError:
            raise RegistryError(f"schema registry {self.url}: {method} {path} did not answer JSON: "
                                "is this a Confluent-compatible registry URL?") from None


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def _message(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read() or b"{}").get("message", "")
    except (json.JSONDecodeError, AttributeError):
        detail = ""
    return " ".join(str(detail or error.reason).split())[:300]
