"""The results store of one study: a SQLite file, ``study.sqlite``, in the output directory.

Tables:

- ``studies``: the study's name, the SHA-256 of its file, the file's text,
  when the store was created, the study seed, replicates per cell, alpha,
  and the design (factors and their levels, statistics options, command-line
  overrides) as JSON;
- ``conditions``: name, position in the file, null model (``""`` for none),
  whether it is the reference;
- ``cells``: key, condition, position, the ``(factor, level)`` pairs, what
  the cell changes from the study's defaults, its fingerprint (what makes its
  brains, see :mod:`encephagen.design`) and a JSON summary (neurons,
  synapses, rule, tasks);
- ``replicates``: one row per (cell, idx) with its condition, seed and status
  (``pending``, ``running``, ``done``, ``failed``), start and finish times
  (ISO 8601, UTC), wall seconds, device, and for a failure the reason
  (``error``), the traceback (``detail``) and whether the failure was the
  machine's (``retryable``: out of memory, no GPU; the next run retries it);
- ``metrics``: one value per (cell, replicate, task, metric);
- ``series``: one JSON list per (cell, replicate, task, name);
- ``provenance``: key/value text;
- ``deaths``: per (cell, idx), how many runs died (their process gone
  without a word) while that replicate ran, and when last.

The database runs in WAL mode and every finished replicate is committed in
one transaction (its status, metrics and series together), so killing the
process at any moment loses at most the replicates in flight and never
leaves a half-written replicate behind. NaN metric values are stored as NULL.
A study grows in place (:meth:`Store.grow`): new cells and replicates are
added as pending, finished ones are never touched.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import attrs

from encephagen.errors import ConfigError
from encephagen.results import ReplicateResult

STORE_NAME = "study.sqlite"
STATUSES = ("pending", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    name TEXT NOT NULL, hash TEXT NOT NULL, yaml TEXT NOT NULL, created TEXT NOT NULL,
    seed INTEGER NOT NULL, replicates INTEGER NOT NULL, alpha REAL NOT NULL, design TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conditions (
    name TEXT PRIMARY KEY, position INTEGER NOT NULL, null_model TEXT NOT NULL, reference INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, condition TEXT NOT NULL REFERENCES conditions(name), position INTEGER NOT NULL,
    levels TEXT NOT NULL, changes TEXT NOT NULL, fingerprint TEXT NOT NULL, info TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replicates (
    cell TEXT NOT NULL REFERENCES cells(key), idx INTEGER NOT NULL, condition TEXT NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    started TEXT, finished TEXT, seconds REAL, device TEXT, error TEXT, detail TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cell, idx)
);
CREATE TABLE IF NOT EXISTS metrics (
    cell TEXT NOT NULL, replicate INTEGER NOT NULL, task TEXT NOT NULL, metric TEXT NOT NULL, value REAL,
    PRIMARY KEY (cell, replicate, task, metric)
);
CREATE TABLE IF NOT EXISTS series (
    cell TEXT NOT NULL, replicate INTEGER NOT NULL, task TEXT NOT NULL, name TEXT NOT NULL,
    values_json TEXT NOT NULL,
    PRIMARY KEY (cell, replicate, task, name)
);
CREATE TABLE IF NOT EXISTS provenance (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deaths (
    cell TEXT NOT NULL, idx INTEGER NOT NULL, count INTEGER NOT NULL, last TEXT NOT NULL, PRIMARY KEY (cell, idx)
);
"""


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@attrs.frozen
class StoredStudy:
    """The ``studies`` row."""

    name: str
    hash: str
    yaml: str
    created: str
    seed: int
    replicates: int
    alpha: float
    design: str = "{}"

    @property
    def factors(self) -> dict[str, list[str]]:
        """``{factor: [level, ...]}`` in file order (empty without factors)."""
        return dict(json.loads(self.design).get("factors", {}))

    @property
    def options(self) -> dict[str, object]:
        """The design JSON: ``factors``, ``statistics``, ``report`` (figure options), ``sets`` (command-line overrides)."""
        return dict(json.loads(self.design))


@attrs.frozen
class StoredCondition:
    """A ``conditions`` row; ``null_model`` is ``""`` for the connectome as is."""

    name: str
    position: int
    null_model: str
    reference: bool


@attrs.frozen
class StoredCell:
    """A ``cells`` row.

    :ivar levels: ``(factor, level)`` pairs in file order.
    :ivar changes: ``(path, value)`` where the cell differs from the study's defaults.
    :ivar info: what one brain is (:func:`encephagen.study.cell_info`): ``connectome``, ``regions``,
        ``neurons_per_region``, ``neurons``, ``synapses`` (expected), ``neuron``, ``rule``, ``delays``,
        ``tasks``, ``metrics`` and ``parameters`` (every component's; absent in stores written before it).
    """

    key: str
    condition: str
    position: int
    levels: tuple[tuple[str, str], ...]
    changes: tuple[tuple[str, str], ...]
    fingerprint: str
    info: dict = attrs.field(factory=dict, eq=False)

    @property
    def label(self) -> str:
        """``rewired, coupling=low``."""
        return ", ".join([self.condition, *(f"{f}={lv}" for f, lv in self.levels)])


def _self_condition(self: object) -> str:
    return self.condition  # type: ignore[attr-defined]


@attrs.frozen
class ReplicateRow:
    """A ``replicates`` row."""

    condition: str
    idx: int
    seed: int
    status: str
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    device: str | None = None
    error: str | None = None
    detail: str | None = None
    cell: str = attrs.field(default=attrs.Factory(_self_condition, takes_self=True))


@attrs.frozen
class MetricRow:
    """One value of a finished replicate (``value`` NaN when it was NaN).

    :ivar levels: the cell's ``(factor, level)`` pairs.
    """

    condition: str
    replicate: int
    seed: int
    task: str
    metric: str
    value: float
    cell: str = attrs.field(default=attrs.Factory(_self_condition, takes_self=True))
    levels: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class SeriesRow:
    """One series of a finished replicate."""

    condition: str
    replicate: int
    task: str
    name: str
    values: tuple[float, ...]
    cell: str = attrs.field(default=attrs.Factory(_self_condition, takes_self=True))


class Store:
    """A study's SQLite store; use as a context manager, or call :meth:`close`.

    :param path: the database file, created (with its tables) when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            old = [r[1] for r in self._db.execute("PRAGMA table_info(replicates)")]
        except sqlite3.DatabaseError as exc:  # a truncated or foreign file, a read-only directory
            raise ConfigError.at(
                "--out", f"{self.path} cannot be used as a study store ({exc}); run into a new --out directory"
            ) from None
        if old and "cell" not in old:
            self._db.close()
            raise ConfigError.at(
                "--out",
                f"{self.path} was written by an earlier encephagen (a store without cells); "
                "run the study into a new --out directory",
            )
        self._db.executescript(_SCHEMA)
        if old and "retryable" not in old:  # a store of the release before retryable failures
            self._db.execute("ALTER TABLE replicates ADD COLUMN retryable INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        """Close the connection (committed data is already on disk)."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- the study ------------------------------------------------------------------

    def study(self) -> StoredStudy | None:
        """The stored study, or ``None`` for a new store."""
        row = self._db.execute("SELECT name, hash, yaml, created, seed, replicates, alpha, design FROM studies").fetchone()
        return StoredStudy(*row) if row else None

    def create(
        self,
        study: StoredStudy,
        conditions: Sequence[StoredCondition],
        cells: Sequence[StoredCell],
        replicates: Iterable[tuple[str, int, str, int]],
    ) -> None:
        """Record a new study with every replicate ``(cell, idx, condition, seed)`` pending, in one transaction."""
        with self._transaction() as db:
            if db.execute("SELECT COUNT(*) FROM studies").fetchone()[0]:
                raise RuntimeError(f"{self.path} already holds a study")
            db.execute("INSERT INTO studies VALUES (?, ?, ?, ?, ?, ?, ?, ?)", attrs.astuple(study))
            self._add(db, conditions, cells, replicates)

    def grow(
        self,
        study: StoredStudy,
        conditions: Sequence[StoredCondition],
        cells: Sequence[StoredCell],
        replicates: Iterable[tuple[str, int, str, int]],
    ) -> int:
        """Make the store hold a grown study: its row replaced, every condition and cell
        inserted or repositioned, the replicates it lacks added as pending.

        Finished replicates are never touched; the caller has checked that
        no stored cell changed (:mod:`encephagen.design` fingerprints).

        :returns: how many replicates were added.
        """
        with self._transaction() as db:
            db.execute("DELETE FROM studies")
            db.execute("INSERT INTO studies VALUES (?, ?, ?, ?, ?, ?, ?, ?)", attrs.astuple(study))
            before = db.execute("SELECT COUNT(*) FROM replicates").fetchone()[0]
            self._add(db, conditions, cells, replicates)
            return db.execute("SELECT COUNT(*) FROM replicates").fetchone()[0] - before

    @staticmethod
    def _add(
        db: sqlite3.Connection,
        conditions: Sequence[StoredCondition],
        cells: Sequence[StoredCell],
        replicates: Iterable[tuple[str, int, str, int]],
    ) -> None:
        db.executemany(
            "INSERT INTO conditions VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
            "position = excluded.position, reference = excluded.reference",
            [(c.name, c.position, c.null_model, int(c.reference)) for c in conditions],
        )
        db.executemany(
            "INSERT INTO cells VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "position = excluded.position, levels = excluded.levels, changes = excluded.changes, info = excluded.info",
            [
                (c.key, c.condition, c.position, json.dumps(c.levels), json.dumps(c.changes), c.fingerprint, json.dumps(c.info))
                for c in cells
            ],
        )
        db.executemany(
            "INSERT OR IGNORE INTO replicates (cell, idx, condition, seed, status) VALUES (?, ?, ?, ?, 'pending')",
            list(replicates),
        )

    def conditions(self) -> list[StoredCondition]:
        """The conditions in file order."""
        rows = self._db.execute("SELECT name, position, null_model, reference FROM conditions ORDER BY position")
        return [StoredCondition(n, p, m, bool(r)) for n, p, m, r in rows]

    def cells(self) -> list[StoredCell]:
        """The cells in order (conditions, then factor levels, in file order)."""
        rows = self._db.execute("SELECT key, condition, position, levels, changes, fingerprint, info FROM cells ORDER BY position")
        return [
            StoredCell(k, c, p, tuple(tuple(x) for x in json.loads(lv)), tuple(tuple(x) for x in json.loads(ch)), f, json.loads(i))
            for k, c, p, lv, ch, f, i in rows
        ]

    # -- replicates -------------------------------------------------------------------

    def replicates(self, status: str | None = None) -> list[ReplicateRow]:
        """Replicates (of one status), in condition order then index."""
        sql = (
            "SELECT r.condition, r.idx, r.seed, r.status, r.started, r.finished, r.seconds, r.device, r.error, r.detail, r.cell "
            "FROM replicates r JOIN cells c ON c.key = r.cell"
        )
        args: tuple = ()
        if status is not None:
            sql += " WHERE r.status = ?"
            args = (status,)
        rows = self._db.execute(sql + " ORDER BY c.position, r.idx", args)
        return [ReplicateRow(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Number of replicates per status (every status present, 0 when none)."""
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self._db.execute("SELECT status, COUNT(*) FROM replicates GROUP BY status"):
            out[status] = n
        return out

    def retryable_failures(self) -> int:
        """How many failed replicates failed for the machine's reasons (the next run retries them)."""
        return self._db.execute("SELECT COUNT(*) FROM replicates WHERE status = 'failed' AND retryable = 1").fetchone()[0]

    def reset_unfinished(self, retry_failed: bool = False) -> int:
        """Put ``running`` replicates (those in flight when a run died) and retryable failures back to pending.

        :param retry_failed: also put every other ``failed`` replicate back to pending.
        :returns: how many replicates were reset.
        """
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE replicates SET status = 'pending', started = NULL, finished = NULL, seconds = NULL, "
                "device = NULL, error = NULL, detail = NULL, retryable = 0 "
                "WHERE status = 'running' OR (status = 'failed' AND (retryable = 1 OR ?))",
                (int(retry_failed),),
            )
            return cur.rowcount

    def mark(self, keys: Iterable[tuple[str, int]], status: str) -> None:
        """Set replicates ``(cell, idx)`` to ``running`` (handed to the executor) or back to ``pending``.

        Any values and outcome fields they had are dropped with the old status.
        """
        if status not in ("pending", "running"):
            raise ValueError(f"mark() sets 'pending' or 'running', not {status!r}; use record_done/record_failed")
        with self._transaction() as db:
            for key in keys:
                self._clear(db, key)
                self._set_status(db, key, status, None, None, None, None, None, None)

    def record_done(self, cell: str, result: ReplicateResult, started: str, finished: str) -> None:
        """Store a finished replicate of ``cell``: status, metrics and series in one transaction."""
        key = (cell, result.replicate)
        metrics = [
            (*key, task, metric, None if math.isnan(value) else float(value))
            for task, values in result.metrics.items()
            for metric, value in values.items()
        ]
        series = [
            (*key, task, name, json.dumps([float(x) for x in values]))
            for task, named in result.series.items()
            for name, values in named.items()
        ]
        with self._transaction() as db:
            self._clear(db, key)
            db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", metrics)
            db.executemany("INSERT INTO series VALUES (?, ?, ?, ?, ?)", series)
            self._set_status(db, key, "done", started, finished, result.seconds, result.device, None, None)
            db.execute("DELETE FROM deaths WHERE cell = ? AND idx = ?", key)

    def record_failed(
        self,
        cell: str,
        idx: int,
        error: str,
        detail: str = "",
        started: str | None = None,
        finished: str | None = None,
        seconds: float | None = None,
        device: str | None = None,
        retryable: bool = False,
    ) -> None:
        """Mark a replicate of ``cell`` failed with its reason (and traceback in ``detail``);
        ``retryable``: the machine's failure, which the next run tries again."""
        with self._transaction() as db:
            self._clear(db, (cell, idx))
            self._set_status(db, (cell, idx), "failed", started, finished or utc_now(), seconds, device, error, detail)
            db.execute("UPDATE replicates SET retryable = ? WHERE cell = ? AND idx = ?", (int(retryable), cell, idx))
            db.execute("DELETE FROM deaths WHERE cell = ? AND idx = ?", (cell, idx))

    def record_deaths(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Count one more run that died while each of these (pending or running) replicates ran.

        :returns: each known key's count so far (keys of finished or unknown replicates are skipped).
        """
        out: dict[tuple[str, int], int] = {}
        with self._transaction() as db:
            for key in dict.fromkeys(keys):
                row = db.execute("SELECT status FROM replicates WHERE cell = ? AND idx = ?", key).fetchone()
                if row is None or row[0] not in ("pending", "running"):
                    continue
                db.execute(
                    "INSERT INTO deaths VALUES (?, ?, 1, ?) ON CONFLICT (cell, idx) DO UPDATE SET count = count + 1, "
                    "last = excluded.last", (*key, utc_now()),
                )
                out[key] = db.execute("SELECT count FROM deaths WHERE cell = ? AND idx = ?", key).fetchone()[0]
        return out

    @staticmethod
    def _clear(db: sqlite3.Connection, key: tuple[str, int]) -> None:
        db.execute("DELETE FROM metrics WHERE cell = ? AND replicate = ?", key)
        db.execute("DELETE FROM series WHERE cell = ? AND replicate = ?", key)

    @staticmethod
    def _set_status(db: sqlite3.Connection, key: tuple[str, int], status: str, *values: object) -> None:
        cur = db.execute(
            "UPDATE replicates SET status = ?, started = ?, finished = ?, seconds = ?, device = ?, error = ?, detail = ?, "
            "retryable = 0 WHERE cell = ? AND idx = ?",
            (status, *values, *key),
        )
        if cur.rowcount != 1:
            raise KeyError(f"no replicate {key[0]!r} #{key[1]} in the store")

    # -- results ---------------------------------------------------------------------

    def metric_rows(self) -> list[MetricRow]:
        """Every metric value of the finished replicates, sorted by cell
        position, replicate, task, metric."""
        rows = self._db.execute(
            "SELECT r.condition, m.replicate, r.seed, m.task, m.metric, m.value, m.cell, c.levels FROM metrics m "
            "JOIN replicates r ON r.cell = m.cell AND r.idx = m.replicate "
            "JOIN cells c ON c.key = m.cell WHERE r.status = 'done' "
            "ORDER BY c.position, m.replicate, m.task, m.metric"
        )
        return [
            MetricRow(c, i, s, t, m, math.nan if v is None else float(v), k, tuple(tuple(x) for x in json.loads(lv)))
            for c, i, s, t, m, v, k, lv in rows
        ]

    def series_rows(self) -> list[SeriesRow]:
        """Every series of the finished replicates, sorted like :meth:`metric_rows`."""
        rows = self._db.execute(
            "SELECT r.condition, s.replicate, s.task, s.name, s.values_json, s.cell FROM series s "
            "JOIN replicates r ON r.cell = s.cell AND r.idx = s.replicate "
            "JOIN cells c ON c.key = s.cell WHERE r.status = 'done' "
            "ORDER BY c.position, s.replicate, s.task, s.name"
        )
        return [SeriesRow(c, i, t, n, tuple(json.loads(v)), k) for c, i, t, n, v, k in rows]

    # -- provenance ------------------------------------------------------------------

    def provenance(self) -> dict[str, str]:
        """Every provenance entry, sorted by key."""
        return dict(self._db.execute("SELECT key, value FROM provenance ORDER BY key").fetchall())

    def set_provenance(self, entries: Mapping[str, str]) -> None:
        """Add or replace provenance entries in one transaction."""
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO provenance VALUES (?, ?)", [(k, str(v)) for k, v in entries.items()])
