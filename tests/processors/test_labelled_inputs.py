"""The compact keyed table and the labelled inputs kept for label revisions: lookups, precision, the log."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from synfinance.processors.keyed_chunks import KeyedChunks, key_of
from synfinance.processors.labelled_inputs import FLAG_FRAUD, FLAG_LEARNED, RECORD_ROWS, LabelledInputs
from synfinance.processors.model_input import COLUMNS, model_row


def test_keyed_chunks_find_the_newest_row_across_sealed_and_filling_chunks() -> None:
    table = KeyedChunks({"v": ("<i8", ())}, chunk_rows=4)
    ids = [f"T{i}" for i in range(10)]
    table.append(np.array([key_of(i) for i in ids]), v=np.arange(10))
    table.append(np.array([key_of("T3")]), v=np.array([99]))  # T3 again: the newer row wins
    assert [len(c.columns["v"]) for c in table.chunks] == [4, 4, 4] and len(table) == 11
    assert [int(table.find(key_of(i)).get("v")) for i in ids] == [0, 1, 2, 99, 4, 5, 6, 7, 8, 9]
    assert table.find(key_of("T10")) is None
    table.find(key_of("T5")).set("v", -5)
    assert int(table.find(key_of("T5")).get("v")) == -5
    assert table.pop_oldest() == 4 and len(table) == 7
    assert table.find(key_of("T0")) is None and int(table.find(key_of("T3")).get("v")) == 99


def rows_of(dataset: Any, n: int) -> np.ndarray:
    return np.array([model_row(dataset.reference[r["transaction_id"]], r) for r in dataset.transactions[:n]])


def test_inputs_keep_rows_to_float16_precision_and_z_scores_of_any_size(dataset: Any) -> None:
    rows = rows_of(dataset, 3_000)
    rows[7, COLUMNS.index("amount_zscore")] = 1.5e6  # beyond float16: kept in float32
    ids = [r["transaction_id"] for r in dataset.transactions[:3_000]]
    inputs = LabelledInputs(chunk_rows=1_024)
    inputs.add([(txn_id, r["event_time"], 0.5, FLAG_LEARNED, 0, row.tobytes())
                for txn_id, r, row in zip(ids, dataset.transactions, rows, strict=False)])
    back = np.array([inputs.find(txn_id).x() for txn_id in ids])
    assert np.allclose(back, rows, rtol=2**-11, atol=2**-24) and back[7, COLUMNS.index("amount_zscore")] == 1.5e6
    one_hot = [i for i, c in enumerate(COLUMNS) if "=" in c or c.startswith("txn_count")]
    assert np.array_equal(back[:, one_hot], rows[:, one_hot])  # flags and counts exact
    chunk = inputs.table.chunks[0]
    assert chunk.nbytes / chunk.capacity == 135  # bytes a row, index included


def test_the_log_rebuilds_the_inputs_and_tombstones_what_ages_out(dataset: Any) -> None:
    n = RECORD_ROWS + 500
    records, rows = dataset.transactions[:n], rows_of(dataset, n)
    ids, times = [r["transaction_id"] for r in records], [r["event_time"] for r in records]
    entries = [(txn_id, t, i / n, 0, 0, row.tobytes())
               for i, (txn_id, t, row) in enumerate(zip(ids, times, rows, strict=True))]
    inputs = LabelledInputs()
    inputs.add(entries[:1000])
    log = inputs.drain()
    inputs.add(entries[1000:])
    inputs.update(inputs.find(ids[3]), is_fraud=True, learned=True, revision=1)
    log += inputs.drain()
    assert [value is not None for _, value in log] == [True] * 3 and len({key for key, _ in log}) == 3
    assert all(len(value) < 1_000_000 for _, value in log if value is not None)  # under Kafka's message limit
    restored = LabelledInputs.restore(log)
    assert len(restored) == n
    held = restored.find(ids[3])
    assert (held.is_fraud, held.learned, held.revision, held.score) == (True, True, 1, 3 / n)
    assert np.array_equal(held.x(), inputs.find(ids[3]).x())
    # the first record ages out: it is tombstoned, and its rows are not restored any more
    cutoff = max(times[:1000]) + 1
    inputs.expire(cutoff)
    tombstones = inputs.drain()  # its rows, and the revision applied to one of them
    assert sorted(tombstones) == sorted([(log[0][0], None), (log[2][0], None)])
    again = LabelledInputs.restore(log + tombstones)
    assert len(again) == n - 1000 and again.find(ids[0]) is None and again.find(ids[3]) is None
    assert again.find(ids[-1]) is not None
    # a new record after a restore does not reuse a key
    again.add([("T-new", times[-1], 0.1, FLAG_FRAUD, 0, struct.pack(f"<{len(COLUMNS)}d", *rows[0]))])
    assert again.drain()[0][0] not in {key for key, _ in log}


def test_records_of_another_model_input_are_not_restored(dataset: Any) -> None:
    import pickle

    inputs = LabelledInputs()
    row = rows_of(dataset, 1)
    inputs.add([("T1", 1, 0.5, 0, 0, row.tobytes())])
    (key, value), = inputs.drain()
    assert value is not None
    body = pickle.loads(value)
    foreign = pickle.dumps((body[0], body[1] + 1, *body[2:]))
    assert len(LabelledInputs.restore([(key, value)])) == 1
    assert len(LabelledInputs.restore([(key, foreign)])) == 0
