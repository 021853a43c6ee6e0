"""The cache of built worlds (`producers.world_cache`): a loaded world is the built one, byte for byte and
record for record; an altered file or one naming any other class is never used; the cache stays bounded."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest

from synfinance.producers import world_cache
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream, World, world_key

CONFIG = StreamConfig(seed=23, customers=300, merchants=80)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNFIN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SYNFIN_WORLD_CACHE", raising=False)
    return tmp_path / "worlds"


def first_records(world: World, events: int = 3_000) -> list[bytes]:
    stream = TransactionStream(CONFIG, world)
    batch = next(stream.batches(events))
    encoder = RecordEncoder(world)
    return encoder.encode_transactions(batch) + encoder.encode_labels(batch)


def test_a_cached_world_is_the_built_one(cache_dir: Path) -> None:
    built = World(CONFIG)
    stored = World.cached(CONFIG)  # a miss: built and stored
    assert [p.name for p in cache_dir.iterdir()] == [world_cache.entry_path(world_key(CONFIG)).name]
    loaded = World.cached(CONFIG)  # a hit
    assert pickle.dumps(loaded, protocol=5) == pickle.dumps(built, protocol=5) == pickle.dumps(stored, protocol=5)
    assert first_records(loaded) == first_records(built)
    # another shard of the same stream shares the world; another seed does not
    assert World.cached(StreamConfig(seed=23, customers=300, merchants=80, shard=(1, 2))).sid == built.sid
    World.cached(StreamConfig(seed=24, customers=300, merchants=80))
    assert len(list(cache_dir.glob("*.world"))) == 2


def test_an_altered_file_is_rebuilt_not_read(cache_dir: Path) -> None:
    World.cached(CONFIG)
    path = world_cache.entry_path(world_key(CONFIG))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert world_cache.load(path, (World,)) is None
    assert first_records(World.cached(CONFIG)) == first_records(World(CONFIG))
    assert path.read_bytes() != bytes(data)  # rewritten


class Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, ("echo pwned > /dev/null",)


def test_a_file_naming_any_other_class_is_refused_even_with_a_valid_digest(cache_dir: Path) -> None:
    path = world_cache.entry_path(world_key(CONFIG))
    path.parent.mkdir(parents=True)
    payload = pickle.dumps(Exploit(), protocol=5)
    path.write_bytes(hashlib.sha256(payload).digest() + payload)
    assert world_cache.load(path, (World,)) is None
    assert isinstance(World.cached(CONFIG), World)  # rebuilt over it


def test_only_the_most_recently_used_worlds_are_kept(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(world_cache, "MAX_ENTRIES", 2)
    for n in range(3):
        world_cache.cached({"n": n}, lambda n=n: [n], allowed=())
        os.utime(world_cache.entry_path({"n": n}), (1_000 + n, 1_000 + n))
    world_cache.cached({"n": 0}, lambda: [0], allowed=())  # n=0 was pruned: built again, now the newest
    kept = {p.name for p in cache_dir.glob("*.world")}
    assert kept == {world_cache.entry_path({"n": n}).name for n in (0, 2)}


def test_off_builds_every_time_and_writes_nothing(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNFIN_WORLD_CACHE", "off")
    calls: list[int] = []
    assert world_cache.cached({"k": 1}, lambda: calls.append(1) or [1], allowed=()) == [1]
    assert world_cache.cached({"k": 1}, lambda: calls.append(1) or [1], allowed=()) == [1]
    assert calls == [1, 1] and not cache_dir.exists()


def test_a_run_from_a_warm_cache_sends_the_same_records(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold (nothing cached), then warm (the world, the population's records and the first chunk come from the
    cache; the generator's own first chunk is not sent again), then with the cache off: the same records."""
    import synfinance.producers.producer as producer
    from synfinance.producers.chunks import ChunkPlan, head_key
    from synfinance.producers.rates import Constant, Max
    from tests.producers.test_producer import contract, produce_run

    heads: list[object] = []
    monkeypatch.setattr(producer, "cached_head", lambda plan: heads.append(world_cache.load(
        world_cache.entry_path(head_key(plan) or {}), (producer.Chunk,))) or heads[-1])
    world = World.cached(StreamConfig(seed=11, customers=400, merchants=60))
    cold_run, cold = produce_run(world, Constant(1_000), events=12_345)
    assert heads == [None]
    assert world_cache.entry_path(head_key(ChunkPlan(cold_run.config.stream, world, 12_345)) or {}).is_file()
    before = len(list(cache_dir.glob("*.world")))
    _, warm = produce_run(world, Constant(1_000), events=12_345)
    assert heads[-1] is not None and len(heads[-1]) == 10_000  # type: ignore[arg-type]
    assert len(list(cache_dir.glob("*.world"))) == before  # all of it read, nothing new written
    _, fast = produce_run(world, Max(), events=12_345)  # at max a cached head would be a blink and a stall
    monkeypatch.setenv("SYNFIN_WORLD_CACHE", "off")
    _, off = produce_run(World(StreamConfig(seed=11, customers=400, merchants=60)), Constant(1_000), events=12_345)
    assert len(cold["t"]) == 12_345
    for topic in "cmtl":
        assert contract(warm[topic]) == contract(cold[topic]) == contract(off[topic]) == contract(fast[topic]), topic
