"""The SQLite store inserts a batch as multi-row statements of power-of-two sizes: every
row lands once, exactly, whatever the batch size, and duplicates are still ignored."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore, _chunks
from persistence.stores.timeseries import ReadingRow


def _rows(n: int, first_seq: int = 0) -> list[ReadingRow]:
    rng = random.Random(n)
    return [
        ReadingRow(
            "p",
            "s",
            f"d{i % 3}",
            first_seq + i,
            "energy_export",
            1_700_000_000_000 + i,
            rng.random() * 1e6,
            "cumulative",
            None if i % 2 else 900.0,
            rng.random(),
            "kWh",
            bool(i % 5 == 0),
            1_700_000_000_123,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 500, 1023, 1024, 1025, 2500, 5000])
def test_chunks_cover_every_row_once_in_order(n: int) -> None:
    chunks = _chunks(n)
    assert [start for start, _ in chunks] == [
        sum(s for _, s in chunks[:k]) for k in range(len(chunks))
    ]
    assert sum(size for _, size in chunks) == n
    assert all(size & (size - 1) == 0 and size <= 1024 for _, size in chunks)
    sizes = [size for _, size in chunks]
    assert sizes == sorted(sizes, reverse=True)  # largest first: few statement shapes


@pytest.mark.parametrize("chunk_max", [1024, 4, 1])
def test_insert_stores_each_row_exactly_and_ignores_duplicates(
    tmp_path: Path, chunk_max: int
) -> None:
    store = SQLiteTimeSeriesStore(tmp_path / "r.sqlite", synchronous="OFF")
    store._chunk_max = chunk_max  # as a library with a low parameter limit would set it
    try:
        rows = _rows(2531)
        assert store.insert(rows[:1500]) == 1500
        # A redelivery overlapping what is stored, in another order, with a repeat.
        again = rows[1000:] + rows[1200:1210]
        random.Random(1).shuffle(again)
        assert store.insert(again) == len(rows) - 1500
        assert store.count() == len(rows)
        stored = sorted(store.query("p"), key=lambda r: r.seq)
        assert stored == rows  # every column, floats bit for bit, booleans back as bool
    finally:
        store.close()


@pytest.mark.parametrize(
    "seqs",
    [
        list(range(100, 400)),  # dense, in order: one range per device
        list(range(0, 3000, 7)),  # sparse: IN lists
        [5, 2**53, 10**12],  # far apart: never a range scan over everything between
        [*range(0, 1400), 2**40],  # mostly dense with one outlier: chunked IN lists
    ],
)
def test_existing_finds_exactly_the_stored_identities(tmp_path: Path, seqs: list[int]) -> None:
    store = SQLiteTimeSeriesStore(tmp_path / "r.sqlite", synchronous="OFF")
    try:
        stored = [r._replace(seq=s) for r, s in zip(_rows(len(seqs)), seqs, strict=True)]
        store.insert(stored[::2])  # every other one is stored
        # Asked: every row's identity, another quantity of each, a device with none.
        asked = [r.identity for r in stored]
        asked += [(r.project, r.device, r.seq, "power") for r in stored]
        asked += [("p", "d-none", s, "energy_export") for s in seqs]
        found = store.existing(asked)
        assert found == {r.identity: r.value for r in stored[::2]}
    finally:
        store.close()
