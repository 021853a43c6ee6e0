"""Avro's zigzag varints (int and long), one value at a time and vectorised over numpy columns, for the
column-wise batch encoder (`schemas.batch`) and the container-file writer.

>>> zigzag_varint(-1), zigzag_varint(150)
(b'\\x01', b'\\xac\\x02')
>>> matrix, lengths = varints(np.array([0, -1, 150, 1 << 40]))
>>> [bytes(row[:n]) for row, n in zip(matrix, lengths)] == [zigzag_varint(v) for v in (0, -1, 150, 1 << 40)]
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["varints", "zigzag_varint"]

_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def zigzag_varint(value: int) -> bytes:
    """Avro's encoding of an int/long: zigzag, then little-endian base-128 varint."""
    z = ((value << 1) ^ (value >> 63)) & 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised zigzag varints: an (n, w) uint8 matrix, left-aligned, and the per-row lengths."""
    v = np.ascontiguousarray(values, dtype=np.int64)
    zz = (v.view(np.uint64) << np.uint64(1)) ^ (v >> np.int64(63)).view(np.uint64)
    top = int(zz.max()) if len(zz) else 0
    if len(zz) and top < 1 << 56 and _HAS_BITWISE_COUNT:
        return _short_varints(zz, max(1, -(-top.bit_length() // 7)))
    lens = np.searchsorted(_VARINT_LIMITS, zz, side="right") + 1
    width = int(lens.max())
    groups = zz[:, None] >> np.arange(0, 7 * width, 7, dtype=np.uint64)
    matrix = groups.astype(np.uint8)  # the cast keeps the low byte
    matrix &= 0x7F
    matrix |= (groups > 0x7F).view(np.uint8) << 7  # continuation bit while higher groups remain
    return matrix, lens


_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")  # numpy >= 2.0
_U = np.uint64


def _short_varints(zz: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """`varints` of zigzagged values below 2**56 (at most 8 groups of 7 bits, e.g. timestamps in µs), with
    ~15 whole-array operations on one uint64 per value instead of an (n, width) uint64 matrix: each group is
    moved to its own byte of a little-endian word, which then is the varint, continuation bits added."""
    n = len(zz)
    if width == 1:  # below 128: the value is its own byte
        return zz.astype(np.uint8).reshape(n, 1), np.ones(n, dtype=np.int64)
    # bits 7j..7j+6 to byte j by halvings: 28-bit halves to 32-bit ones, 14-bit quarters to 16, 7 bits to 8
    # (a step is a no-op when no value has bits above its lower part)
    word = zz
    if width > 4:
        word = (word & _U(0x0FFF_FFFF)) | ((word & _U(0x0FFF_FFFF << 28)) << _U(4))
    if width > 2:
        word = (word & _U(0x0000_3FFF_0000_3FFF)) | ((word & _U(0x0FFF_C000_0FFF_C000)) << _U(2))
    word = (word & _U(0x007F_007F_007F_007F)) | ((word & _U(0x3F80_3F80_3F80_3F80)) << _U(1))
    # the high bit of each byte set iff that group (<= 0x7F, so no carry) is nonzero, then OR-ed into every
    # lower byte: set bits = bytes up to the highest nonzero group (the length), and shifted down one byte,
    # exactly the continuation bits
    flags = (word + _U(0x7F7F_7F7F_7F7F_7F7F)) & _U(0x8080_8080_8080_8080)
    for shift, above in ((8, 1), (16, 2), (32, 4)):
        if width > above:
            flags |= flags >> _U(shift)
    lens = np.maximum(np.bitwise_count(flags), 1).astype(np.int64)
    word |= flags >> _U(8)
    matrix = word.astype("<u8", copy=False).view(np.uint8).reshape(n, 8)[:, :width]
    return np.ascontiguousarray(matrix), lens
