"""W3C trace context (`traceparent`) for records: make, check, re-parent, read the trace id — column-wise.

A traceparent is `<version>-<trace id>-<parent id>-<flags>`: 2, 32, 16 and 2 lowercase hex digits
(https://www.w3.org/TR/trace-context/#traceparent-header). The producer starts one trace per payment
(its labels share it); the processor gives the payment's ScoredTransaction and Alert the same trace id
and a new parent id, the id of its own step (`child_traceparents`); the sink stores the trace id
(`trace_ids`). A value that is not a valid traceparent (missing, wrong length, upper-case or non-hex
digits, version ff, an all-zero id) carries no trace: its outputs get none, its rows a NULL trace id.

Everything works on whole batches with numpy (the processor does ~15k records/s): per record there is
only the header lookup (`header_value`).

>>> parent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
>>> child = child_traceparents([parent, None, b"garbage"], np.random.default_rng(1))
>>> child[0][:36] == parent[:36], child[0][36:52] != parent[36:52], child[0][52:], child[1:]
(True, True, b'-01', [None, None])
>>> trace_ids([parent, b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01"]).tolist()
[b'0af7651916cd43dd8448eb211c80319c', b'']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["TRACE_HEADER", "child_traceparents", "header_value", "is_trace_id", "trace_ids", "traceparents"]

TRACE_HEADER = "traceparent"
LENGTH = 55  # a version-00 traceparent; later versions may append `-<more>`
_TRACE, _PARENT = slice(3, 35), slice(36, 52)
_DASHES = (2, 35, 52)

# byte -> its two lowercase hex digits, as one uint16: hex-encoding an (n, k) array is one gather
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)
_IS_HEX = np.zeros(256, dtype=bool)
_IS_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = True
_HEX_POSITIONS = np.array([i for i in range(LENGTH) if i not in _DASHES])
_TEMPLATE = np.frombuffer(b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01", dtype=np.uint8)
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def traceparents(rng: np.random.Generator, n: int) -> npt.NDArray[np.bytes_]:
    """`n` new traces: `00-<32 hex trace id>-<16 hex parent id>-01` (sampled), random.

    >>> t = traceparents(np.random.default_rng(1), 2)
    >>> [len(x) for x in t.tolist()], t[0][:3], t[0][35:36], t[0][52:]
    ([55, 55], b'00-', b'-', b'-01')
    """
    raw = np.frombuffer(rng.bytes(24 * n), dtype=np.uint8).reshape(n, 24)
    hexed = _HEX_PAIRS[raw].view(np.uint8).reshape(n, 48)
    out = np.empty((n, LENGTH), dtype=np.uint8)
    out[:] = _TEMPLATE
    out[:, _TRACE], out[:, _PARENT] = hexed[:, :32], hexed[:, 32:]
    return out.view(f"S{LENGTH}").reshape(n)


def header_value(headers: Sequence[tuple[str, bytes | None]] | None) -> bytes | None:
    """The traceparent among a record's headers (confluent-kafka's `Message.headers()`), or None."""
    if headers:
        for name, value in headers:
            if name == TRACE_HEADER:
                return value
    return None


def _parse(values: Sequence[bytes | None]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """The first 55 bytes of each value as an (n, 55) array, and which values are valid traceparents."""
    n = len(values)
    lengths = np.fromiter((len(v) if v is not None else 0 for v in values), dtype=np.int64, count=n)
    # numpy cuts longer values at 55 bytes; a later version's value goes on with '-' (not checked per
    # record: a value longer than 55 bytes with version 00 is rejected below, any other is rare)
    array = np.array([v if v is not None else b"" for v in values], dtype=f"S{LENGTH}")
    raw = array.view(np.uint8).reshape(n, LENGTH) if n else np.zeros((0, LENGTH), dtype=np.uint8)
    version = raw[:, :2]
    valid = (lengths >= LENGTH) & _IS_HEX[raw[:, _HEX_POSITIONS]].all(axis=1)
    valid &= (raw[:, list(_DASHES)] == ord("-")).all(axis=1)
    valid &= ~(version == ord("f")).all(axis=1)  # version ff is invalid
    is_00 = (version == ord("0")).all(axis=1)
    valid &= ~is_00 | (lengths == LENGTH)
    for i in np.flatnonzero(valid & (lengths > LENGTH)).tolist():  # later versions: '-' after the flags
        value = values[i]
        valid[i] = value is not None and value[LENGTH:LENGTH + 1] == b"-"
    valid &= (raw[:, _TRACE] != ord("0")).any(axis=1) & (raw[:, _PARENT] != ord("0")).any(axis=1)
    return raw, valid


def trace_ids(values: Sequence[bytes | None]) -> npt.NDArray[np.bytes_]:
    """The 32-hex-digit trace id of each value; b"" where it is not a valid traceparent."""
    raw, valid = _parse(values)
    ids = np.ascontiguousarray(raw[:, _TRACE]).view("S32").reshape(len(values))
    ids[~valid] = b""
    return ids


def child_traceparents(values: Sequence[bytes | None], rng: np.random.Generator) -> list[bytes | None]:
    """For each value, a version-00 traceparent of the same trace and flags with a new random parent id
    (the id of the step that read the record); None where the value is not a valid traceparent."""
    raw, valid = _parse(values)
    rows = np.flatnonzero(valid)
    out: list[bytes | None] = [None] * len(values)
    if not len(rows):
        return out
    child = raw[rows].copy()
    child[:, :2] = ord("0")
    # a zero parent id is invalid: redraw the (one in 2^64) all-zero ones
    spans = np.frombuffer(rng.bytes(8 * len(rows)), dtype=np.uint8).reshape(len(rows), 8)
    while (zero := ~spans.any(axis=1)).any():
        spans[zero] = np.frombuffer(rng.bytes(8 * int(zero.sum())), dtype=np.uint8).reshape(-1, 8)
    child[:, _PARENT] = _HEX_PAIRS[spans].view(np.uint8).reshape(len(rows), 16)
    for row, value in zip(rows.tolist(), child.view(f"S{LENGTH}").reshape(len(rows)).tolist(), strict=True):
        out[row] = value
    return out


def is_trace_id(text: str) -> bool:
    """A W3C trace id: 32 lowercase hex digits, not all zero.

    >>> is_trace_id("0af7651916cd43dd8448eb211c80319c"), is_trace_id("0" * 32), is_trace_id("XYZ")
    (True, False, False)
    """
    return bool(_TRACE_ID.fullmatch(text)) and text != "0" * 32
