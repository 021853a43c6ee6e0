"""Records from blocks: every block scattered to each row's write position in one buffer, then sliced.

Records are laid out with some slack after each; field by field, each block is scattered to every row's
current write position, which then advances by that row's true length. A block's padding spills over the
next field's bytes, which are written afterwards, so each record ends up exact. Neighbouring fixed-width
blocks are joined into one first, to save scatters. Python touches each record once, to slice it out.
"""

from __future__ import annotations

import numpy as np

from synfinance.schemas.batch_blocks import Block, as_items

__all__ = ["assemble"]


def _merge_fixed_runs(blocks: list[Block], n: int) -> list[Block]:
    """Join runs of consecutive fixed-length blocks: copying a column is cheaper than a scatter."""
    merged: list[Block] = []
    run: list[Block] = []
    for block in [*blocks, None]:
        if block is not None and isinstance(block.lens, int):
            run.append(block)
            continue
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            width = sum(b.width for b in run)
            matrix = np.empty((n, width), dtype=np.uint8)
            col = 0
            for b in run:
                if b.items.ndim:
                    matrix[:, col : col + b.width] = b.items.view(np.uint8).reshape(n, b.width)
                else:
                    matrix[:, col : col + b.width] = np.frombuffer(b.items.tobytes(), dtype=np.uint8)
                col += b.width
            merged.append(Block(as_items(matrix), width, width))
        run = []
        if block is not None:
            merged.append(block)
    return merged


def assemble(blocks: list[Block], n: int) -> list[bytes]:
    blocks = _merge_fixed_runs(blocks, n)
    row_len = np.zeros(n, dtype=np.int64)
    for block in blocks:
        row_len += block.lens
    slack = max(block.width for block in blocks)  # room for the last field's padding to spill into
    stride = row_len + slack
    ends = np.cumsum(stride)
    starts = ends - stride
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    pos = starts.copy()
    for block in blocks:
        if block.width == 1:
            out[pos] = block.items.view(np.uint8) if block.items.ndim else block.items.tobytes()[0]
        else:
            # overlapping view: item j is the `width` bytes starting at out[j]
            view = np.ndarray(
                (out.size - block.width + 1,), dtype=block.items.dtype, buffer=out, strides=(1,)
            )
            view[pos] = block.items
        pos += block.lens
    buf = out.tobytes()
    return [buf[s:e] for s, e in zip(starts.tolist(), (starts + row_len).tolist(), strict=True)]
