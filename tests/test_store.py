"""The SQLite store: schema, one transaction per replicate, resume states."""

from __future__ import annotations

import math
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encephagen.results import ReplicateResult
from encephagen.store import STATUSES, StoredCell, StoredCondition, StoredStudy, Store

KEYS = [("connectome", 0), ("connectome", 1), ("rewired", 0), ("rewired", 1)]


def _new(path: Path) -> Store:
    store = Store(path)
    store.create(
        StoredStudy("s", "abc", "name: s\n", "2026-01-01T00:00:00.000+00:00", 7, 2, 0.05),
        [StoredCondition("connectome", 0, "", True), StoredCondition("rewired", 1, "degree_preserving", False)],
        [StoredCell("connectome", "connectome", 0, (), (), "f0"), StoredCell("rewired", "rewired", 1, (), (), "f1")],
        [(c, i, c, 1000 * (c == "rewired") + i) for c, i in KEYS],
    )
    return store


def _result(condition: str, idx: int, value: float = 1.5) -> ReplicateResult:
    return ReplicateResult(
        condition=condition,
        replicate=idx,
        seed=1000 * (condition == "rewired") + idx,
        metrics={"warmup": {"rate": value, "cv": float("nan")}},
        series={"warmup": {"curve": [0.0, 0.5, 1.0]}},
        seconds=2.5,
        device="cpu",
    )


def _count(store: Store, table: str) -> int:
    return store._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_new_store_is_wal_with_every_replicate_pending(tmp_path: Path) -> None:
    with _new(tmp_path / "s.sqlite") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.counts() == {"pending": 4, "running": 0, "done": 0, "failed": 0}
        assert [(r.condition, r.idx, r.seed) for r in store.replicates()] == [(c, i, 1000 * (c == "rewired") + i) for c, i in KEYS]
        assert store.study().seed == 7 and [c.name for c in store.conditions()] == ["connectome", "rewired"]
        with pytest.raises(RuntimeError, match="already holds a study"):
            store.create(store.study(), [], [], [])


def test_done_replicate_round_trips_metrics_series_and_nan(tmp_path: Path) -> None:
    with _new(tmp_path / "s.sqlite") as store:
        store.record_done("rewired", _result("rewired", 1), "t0", "t1")
        rows = store.metric_rows()
        assert [(r.condition, r.replicate, r.seed, r.task, r.metric) for r in rows] == [
            ("rewired", 1, 1001, "warmup", "cv"),
            ("rewired", 1, 1001, "warmup", "rate"),
        ]
        assert math.isnan(rows[0].value) and rows[1].value == 1.5
        assert store._db.execute("SELECT value FROM metrics WHERE metric = 'cv'").fetchone()[0] is None
        assert [s.values for s in store.series_rows()] == [(0.0, 0.5, 1.0)]
        row = store.replicates("done")[0]
        assert (row.condition, row.idx, row.started, row.finished, row.seconds, row.device) == ("rewired", 1, "t0", "t1", 2.5, "cpu")


def test_a_failing_record_leaves_nothing_behind(tmp_path: Path) -> None:
    with _new(tmp_path / "s.sqlite") as store:
        ghost = _result("rewired", 9)  # no such replicate: the status update fails after the inserts
        with pytest.raises(KeyError, match="no replicate"):
            store.record_done("rewired", ghost, "t0", "t1")
        assert _count(store, "metrics") == 0 and _count(store, "series") == 0
        assert store.counts()["pending"] == 4


def test_failed_replicate_keeps_its_reason_and_drops_old_values(tmp_path: Path) -> None:
    with _new(tmp_path / "s.sqlite") as store:
        store.record_done("connectome", _result("connectome", 0), "t0", "t1")
        store.record_failed("connectome", 0, "activity exploded", "Traceback ...", seconds=0.5)
        row = store.replicates("failed")[0]
        assert (row.error, row.detail, row.seconds) == ("activity exploded", "Traceback ...", 0.5)
        assert store.metric_rows() == [] and _count(store, "metrics") == 0


def test_reset_puts_running_back_and_keeps_failed_unless_asked(tmp_path: Path) -> None:
    with _new(tmp_path / "s.sqlite") as store:
        store.mark(KEYS, "running")
        store.record_done("connectome", _result("connectome", 0), "t0", "t1")
        store.record_failed("connectome", 1, "boom")
        assert store.reset_unfinished() == 2
        assert store.counts() == {"pending": 2, "running": 0, "done": 1, "failed": 1}
        assert store.reset_unfinished(retry_failed=True) == 1
        assert store.counts() == {"pending": 3, "running": 0, "done": 1, "failed": 0}
        assert store.replicates("pending")[0].error is None
        with pytest.raises(ValueError, match="record_done"):
            store.mark(KEYS[:1], "done")


def test_a_second_connection_sees_only_committed_replicates(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with _new(path) as store:
        reader = sqlite3.connect(path)
        store._db.execute("BEGIN IMMEDIATE")
        store._db.execute("INSERT INTO metrics VALUES ('connectome', 0, 'warmup', 'rate', 1.0)")
        assert reader.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 0  # not committed yet
        store._db.execute("ROLLBACK")
        store.record_done("connectome", _result("connectome", 0), "t0", "t1")
        assert reader.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 2
        reader.close()


def test_provenance_is_sorted_and_replaceable(tmp_path: Path) -> None:
    with _new(tmp_path / "s.sqlite") as store:
        store.set_provenance({"torch": "2.0", "numpy": "1.0"})
        store.set_provenance({"torch": "2.1"})
        assert store.provenance() == {"numpy": "1.0", "torch": "2.1"}


_OPS = st.lists(
    st.tuples(st.sampled_from(["done", "failed", "running", "reset", "retry"]), st.sampled_from(KEYS)), max_size=20
)


@settings(max_examples=30, deadline=None)
@given(ops=_OPS)
def test_any_sequence_of_operations_keeps_the_store_consistent(ops: list[tuple[str, tuple[str, int]]]) -> None:
    """Every replicate has one status; values exist exactly for the done ones."""
    with tempfile.TemporaryDirectory() as tmp, _new(Path(tmp) / "s.sqlite") as store:
        for op, (cond, idx) in ops:
            if op == "done":
                store.record_done(cond, _result(cond, idx, value=float(idx)), "t0", "t1")
            elif op == "failed":
                store.record_failed(cond, idx, "boom")
            elif op == "running":
                store.mark([(cond, idx)], "running")
            else:
                store.reset_unfinished(retry_failed=op == "retry")
        counts = store.counts()
        assert sum(counts.values()) == len(KEYS) and set(counts) == set(STATUSES)
        done = {(r.condition, r.idx) for r in store.replicates("done")}
        assert {(r[0], r[1]) for r in store._db.execute("SELECT cell, replicate FROM metrics")} == done
        assert {(r[0], r[1]) for r in store._db.execute("SELECT cell, replicate FROM series")} == done
        assert _count(store, "metrics") == 2 * len(done)


def test_a_store_grows_without_touching_finished_replicates(tmp_path: Path) -> None:
    with _new(tmp_path / "s.sqlite") as store:
        store.record_done("connectome", _result("connectome", 0), "t0", "t1")
        before = store.metric_rows()
        grown = StoredStudy("s", "def", "name: s\n", "2026-01-01T00:00:00.000+00:00", 7, 3, 0.05)
        cells = [
            StoredCell("connectome", "connectome", 0, (), (), "f0"),
            StoredCell("extra", "extra", 1, (), (), "f2"),
            StoredCell("rewired", "rewired", 2, (), (), "f1"),
        ]
        conds = [StoredCondition("connectome", 0, "", True), StoredCondition("extra", 1, "", False), StoredCondition("rewired", 2, "x", False)]
        reps = [(c.key, i, c.condition, 5000 + i) for c in cells for i in range(3)]
        assert store.grow(grown, conds, cells, reps) == 5  # 3 of the new cell, 1 more of each old one
        assert repr(store.metric_rows()) == repr(before) and store.study().replicates == 3
        assert [c.key for c in store.cells()] == ["connectome", "extra", "rewired"]
        seeds = {(r.cell, r.idx): r.seed for r in store.replicates()}
        assert seeds[("connectome", 0)] == 0 and seeds[("connectome", 2)] == 5002  # old rows keep their seeds
        assert store.grow(grown, conds, cells, reps) == 0


def test_a_store_from_before_cells_is_refused_with_one_line(tmp_path: Path) -> None:
    from encephagen.errors import ConfigError

    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.execute("CREATE TABLE replicates (condition TEXT, idx INTEGER, seed INTEGER, status TEXT)")
    db.close()
    with pytest.raises(ConfigError, match="earlier encephagen"):
        Store(tmp_path / "old.sqlite")
