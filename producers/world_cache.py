"""Built worlds kept on disk, so a run does not rebuild its populations every time it starts (and, through
the same functions, a population's encoded records and the stream's first chunk).

Building the default world (10,000 customers, 2,000 merchants) takes ~1.5 s; loading it from here ~50 ms.
A world is a pure function of its key (seed, population sizes, start, stream id) and of the generator's
code, so its file is named by a digest of the key and of the source of this package and of the schemas
and encoders: a changed generator never reads a world an older one built. The file starts with the
SHA-256 of its payload, checked before anything is read, and the payload is unpickled with the classes a
world is made of and nothing else (numpy's array reconstructors and the caller's own classes): a cache
file cannot run code. Writes go to a temporary file renamed into place, so concurrent runs never see half
a world, and only the `MAX_ENTRIES` most recently used files are kept. A cache that cannot be read is
rebuilt; one that cannot be written is skipped. `SYNFIN_WORLD_CACHE=off` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import platform
from collections.abc import Callable, Collection
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from synfinance.common.cache import cache_dir

T = TypeVar("T")

MAX_ENTRIES = 48  # a run keeps up to four: its world, both populations' records, its first chunk
MAX_BYTES = 512 * 2**20  # a bigger world is rebuilt each time rather than filling the disk
DIGEST_BYTES = 32
_NUMPY = frozenset({("numpy", "dtype"), ("numpy", "ndarray"), ("numpy._core.numeric", "_frombuffer"),
                    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.multiarray", "_reconstruct"),
                    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
                    ("numpy.core.multiarray", "scalar")})


def enabled() -> bool:
    return os.environ.get("SYNFIN_WORLD_CACHE", "on").strip().lower() not in ("off", "0", "false", "no")


@cache
def _code_digest() -> str:
    """SHA-256 over the generator's source and the encoders' (every .py and .avsc file of this package and of
    `synfinance.schemas`, in path order)."""
    import synfinance.schemas

    digest = hashlib.sha256()
    for root in (Path(__file__).resolve().parent, Path(synfinance.schemas.__file__).resolve().parent):
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".avsc")):
            digest.update(root.name.encode() + b"/" + path.relative_to(root).as_posix().encode() + b"\0"
                          + path.read_bytes() + b"\0")
    return digest.hexdigest()


def entry_path(key: dict[str, Any]) -> Path:
    """The cache file of `key` (a JSON-able mapping of what decides the world)."""
    named = {**key, "code": _code_digest(), "numpy": np.__version__, "python": platform.python_version()}
    name = hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()[:32]
    return cache_dir() / "worlds" / f"{name}.world"


class _Restricted(pickle.Unpickler):
    def __init__(self, payload: bytes, allowed: Collection[type]) -> None:
        super().__init__(io.BytesIO(payload))
        self._allowed = {(cls.__module__, cls.__qualname__) for cls in allowed}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY or (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a world")


def load(path: Path, allowed: Collection[type]) -> Any | None:
    """The object stored at `path`, or None if it is missing, altered or not made of `allowed` classes."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head, payload = data[:DIGEST_BYTES], data[DIGEST_BYTES:]
    if len(data) <= DIGEST_BYTES or hashlib.sha256(payload).digest() != head:
        return None
    try:
        value = _Restricted(payload, allowed).load()
    except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept by the pruning
    return value


def store(path: Path, value: Any) -> None:
    """Write `value` to `path` (atomically), then keep only the `MAX_ENTRIES` most recently used files."""
    payload = pickle.dumps(value, protocol=5)
    if len(payload) > MAX_BYTES:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        return
    _prune(path.parent)


def _prune(directory: Path) -> None:
    entries = []
    for entry in directory.glob("*.world"):
        with contextlib.suppress(OSError):  # another run may prune at the same time
            entries.append((entry.stat().st_mtime, entry.name, entry))
    for _, _, stale in sorted(entries, reverse=True)[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            stale.unlink()


def has_entry(key: dict[str, Any]) -> bool:
    return enabled() and entry_path(key).is_file()


def load_entry(key: dict[str, Any], allowed: Collection[type]) -> Any | None:
    """What the cache holds for `key` (None: nothing usable, or the cache is off)."""
    return load(entry_path(key), allowed) if enabled() else None


def store_entry(key: dict[str, Any], value: Any) -> None:
    if enabled():
        store(entry_path(key), value)


def cached(key: dict[str, Any], build: Callable[[], T], allowed: Collection[type]) -> T:
    """`build()`'s result for `key`: loaded from the cache when a run built it before, else built and
    stored. `allowed` lists every class the result is made of (the only ones a cache file may name)."""
    found = load_entry(key, allowed)
    if found is not None:
        return found  # type: ignore[no-any-return]
    value = build()
    store_entry(key, value)
    return value
