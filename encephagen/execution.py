"""Execution: one replicate (or one batch of a cell's replicates) in a worker, never raising.

A worker gets a :class:`CellWork` (or :class:`BatchWork`): the study and
connectome of every cell, and runs the replicates it is handed, sending back
an :class:`Outcome` per replicate, a result or the one-line reason it failed.
The executor itself (``serial``, ``processes``, ``dask``, a plugin) is chosen
by :func:`resolve_executor`; :class:`Progress` shows the run on the terminal.
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from encephagen.config import Study
from encephagen.connectome import Connectome
from encephagen.errors import ConfigError, EncephagenError
from encephagen.progress import reporting
from encephagen.registry import Registry
from encephagen.results import ReplicateFailed, ReplicateResult
from encephagen.store import utc_now
from encephagen.study import Replicate

#: ``replicate_fn(study, connectome, replicate) -> ReplicateResult``; ``study`` is the replicate's cell's.
ReplicateFn = Callable[[Study, Connectome, Replicate], ReplicateResult]


def default_replicate(study: Study, connectome: Connectome, replicate: Replicate) -> ReplicateResult:
    """Simulate one replicate with :func:`encephagen.replicate.run_replicate` (imported on first use)."""
    from encephagen.replicate import run_replicate

    return run_replicate(study, connectome, replicate)


# -- one replicate, in the worker ------------------------------------------------------


@attrs.frozen
class Outcome:
    """What a worker sends back for one replicate: a result, or the reason it failed.

    :ivar error: one line (empty when the replicate finished).
    :ivar detail: the traceback of a failure (empty otherwise).
    :ivar started: ISO 8601 UTC time the replicate started in the worker.
    :ivar seconds: wall time in the worker (s).
    :ivar retryable: the failure is the machine's, not the replicate's (see
        :func:`environment_failure`); the next run tries it again.
    """

    replicate: Replicate
    result: ReplicateResult | None
    error: str
    detail: str
    started: str
    finished: str
    seconds: float
    retryable: bool = False


def environment_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says this machine could not run the replicate:
    out of memory (host or GPU), a GPU that is missing or failed, a full disk. Such a failure is not the
    replicate's: it is stored as failed but retryable, and the next run tries it again."""
    import errno

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.ENOMEM, errno.EDQUOT):
            return True
        if isinstance(exc, (RuntimeError, AssertionError)) and any(
            m in text for m in ("CUDA error", "CUDA out of memory", "no CUDA GPUs are available",
                                "Torch not compiled with CUDA enabled", "Found no NVIDIA driver")
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _invalid_result(result: Any, replicate: Replicate) -> str:
    """Why ``result`` cannot be stored for ``replicate`` ("" when it can)."""
    if not isinstance(result, ReplicateResult):
        return f"the replicate function returned {type(result).__name__}, not a ReplicateResult"
    got = (result.condition, result.replicate, result.seed)
    want = (replicate.condition, replicate.index, replicate.seed)
    if got != want:
        return f"the replicate function returned the result of (condition, replicate, seed) = {got}, expected {want}"
    for task, values in result.metrics.items():
        for metric, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                return f"metric {task}.{metric} is {value!r}, not a number"
            if math.isinf(value):
                return f"metric {task}.{metric} is infinite"
    for task, named in result.series.items():
        for name, values in named.items():
            try:
                arr = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                return f"series {task}.{name} is not a list of numbers"
            if arr.ndim != 1:
                return f"series {task}.{name} has shape {arr.shape}, expected a 1-D list"
    return ""


def _where(exc: BaseException) -> str:
    """``(at file:line in function)`` of the innermost frame of ``exc``, or ""."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"(at {Path(last.filename).name}:{last.lineno} in {last.name})"


def reason(exc: BaseException) -> str:
    """One line: the exception and where it was raised."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
    where = _where(exc)
    return f"{text} {where}" if where else text


def execute(replicate_fn: ReplicateFn, study: Study, connectome: Connectome, replicate: Replicate) -> Outcome:
    """Run one replicate and never raise: a failure comes back as an :class:`Outcome` with its reason.

    :class:`~encephagen.results.ReplicateFailed` gives its own reason; any
    other exception (a plugin's bug) gives its type, message and location.
    """
    started = utc_now()
    t0 = time.perf_counter()
    result: ReplicateResult | None = None
    error = detail = ""
    retryable = False
    try:
        with reporting([replicate]):  # its file names the replicate until it ends (see encephagen.progress)
            result = replicate_fn(study, connectome, replicate)
        error = _invalid_result(result, replicate)
    except ReplicateFailed as exc:
        error, detail, retryable = exc.reason, traceback.format_exc(), environment_failure(exc)
    except SystemExit as exc:  # a plugin that calls sys.exit() fails its replicate, not the study
        error, detail = f"the replicate called sys.exit({exc.code!r}) {_where(exc)}", traceback.format_exc()
    except Exception as exc:  # noqa: BLE001 - any plugin error fails this replicate only
        error, detail, retryable = reason(exc), traceback.format_exc(), environment_failure(exc)
    seconds = time.perf_counter() - t0
    if error:
        result = None
    elif result is not None and not result.seconds:
        result = attrs.evolve(result, seconds=seconds)
    return Outcome(replicate, result, error, detail, started, utc_now(), seconds, retryable)


def execute_batch(study: Study, connectome: Connectome, replicates: tuple[Replicate, ...]) -> list[Outcome]:
    """Run replicates of one cell as one batch (:func:`encephagen.replicate.run_replicates`); never raise.

    A failure fails every replicate of the batch, with the same reason.
    """
    from encephagen.replicate import run_replicates

    started = utc_now()
    t0 = time.perf_counter()
    results: list[ReplicateResult | None] = [None] * len(replicates)
    errors = [""] * len(replicates)
    detail = ""
    retryable = False
    try:
        with reporting(replicates):
            results = list(run_replicates(study, connectome, replicates))
        errors = [_invalid_result(res, rep) for res, rep in zip(results, replicates)]
    except ReplicateFailed as exc:
        errors, detail, retryable = [exc.reason] * len(replicates), traceback.format_exc(), environment_failure(exc)
    except SystemExit as exc:
        errors, detail = [f"the replicate called sys.exit({exc.code!r}) {_where(exc)}"] * len(replicates), traceback.format_exc()
    except Exception as exc:  # noqa: BLE001 - any plugin error fails this batch only
        errors, detail, retryable = [reason(exc)] * len(replicates), traceback.format_exc(), environment_failure(exc)
    seconds = (time.perf_counter() - t0) / len(replicates)
    finished = utc_now()
    return [
        Outcome(rep, None if err else res, err, detail if err else "", started, finished, seconds, bool(err) and retryable)
        for rep, res, err in zip(replicates, results, errors)
    ]


def batches_of(replicates: Sequence[Replicate], size: int) -> list[tuple[Replicate, ...]]:
    """The replicates in groups of at most ``size``, each of one cell, interleaved across cells.

    Groups are formed within each cell (in the given order), then taken one
    per cell in turn: group 0 of every cell, then group 1, ... With ``size``
    1 that is replicate 0 of every cell, then replicate 1, ..., so any prefix
    of a run (an interrupted one) is a balanced design.
    """
    by_cell: dict[str, list[tuple[Replicate, ...]]] = {}
    for rep in replicates:
        groups = by_cell.setdefault(rep.cell, [])
        if groups and len(groups[-1]) < size:
            groups[-1] = (*groups[-1], rep)
        else:
            groups.append((rep,))
    rounds = max((len(g) for g in by_cell.values()), default=0)
    return [g[i] for i in range(rounds) for g in by_cell.values() if i < len(g)]


def outcomes(executor: Any, work: Callable[[Any], Any], items: Sequence[Any], batched: bool) -> Iterator[tuple[Replicate, Any]]:
    """``(replicate, outcome)`` pairs as they finish; a batch the executor lost loses each of its replicates."""
    for item, outcome in executor.map(work, items):
        if not batched:
            yield item, outcome
        elif isinstance(outcome, list):
            yield from zip(item, outcome)
        else:
            yield from ((rep, outcome) for rep in item)


@attrs.frozen
class CellWork:
    """``work(replicate) -> Outcome`` for an executor: :func:`execute` with the replicate's cell.

    :ivar cells: cell key -> (the cell's study, its connectome).
    """

    fn: ReplicateFn
    cells: Mapping[str, tuple[Study, Connectome]]

    def __call__(self, replicate: Replicate) -> Outcome:
        study, connectome = self.cells[replicate.cell]
        return execute(self.fn, study, connectome, replicate)


@attrs.frozen
class BatchWork:
    """``work(batch) -> [Outcome]``: :func:`execute_batch` with the batch's cell."""

    cells: Mapping[str, tuple[Study, Connectome]]

    def __call__(self, replicates: tuple[Replicate, ...]) -> list[Outcome]:
        study, connectome = self.cells[replicates[0].cell]
        return execute_batch(study, connectome, replicates)


# -- executors ---------------------------------------------------------------------------


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_workers(brains: int, peak_bytes: int = 0, available: int | None = None) -> int:
    """Worker processes for a study that names no executor: one per usable core, at most one per brain,
    and no more than the available memory holds at ``peak_bytes`` per worker (with a fifth kept free)."""
    n = min(usable_cores(), max(1, brains))
    if peak_bytes > 0 and available is not None:
        n = min(n, max(1, int(available * 0.8) // peak_bytes))
    return n


def resolve_executor(
    study: Study, registry: Registry, name: str | None, workers: int | None, *, brains: int = 1, peak_bytes: int = 0
) -> Any:
    """The executor to use: ``name`` (command line), else the study's, else the default.

    ``workers`` overrides the executor's ``workers``; given without any
    executor it selects the registry's ``parallel`` executor (the built-in
    ``processes``). The default for a study of more than one brain
    (``brains``, those left to run) on a machine with more than one usable
    core is that executor with :func:`default_workers` workers (one torch
    thread each; ``peak_bytes``, one brain's estimated peak memory, caps them
    by the available memory); otherwise the ``in-process`` one (``serial``).
    """
    if name is None and study.executor is not None:
        if workers is None:
            return study.executor
        if "workers" not in attrs.fields_dict(type(study.executor)):
            raise ConfigError.at("--workers", f"executor {study.executor.name!r} takes no workers")
        try:
            return attrs.evolve(study.executor, workers=workers)
        except (TypeError, ValueError) as exc:
            raise ConfigError.at("--workers", str(exc)) from None
    if name is None and workers is None:
        from encephagen.engine.memory import available_bytes

        import torch

        n = default_workers(brains, peak_bytes, available_bytes(torch.device("cpu")))
        name, workers = (registry.default("executor", "parallel").name, n) if n > 1 else (registry.default("executor", "in-process").name, None)
    elif name is None:
        name = registry.default("executor", "parallel").name
    try:
        cls = registry.get("executor", name)
    except EncephagenError as exc:
        raise exc.prefixed("--executor") from None
    params: dict[str, Any] = {}
    if workers is not None:
        if "workers" not in attrs.fields_dict(cls):
            with_workers = [e.name for e in registry.entries("executor") if "workers" in attrs.fields_dict(e.cls)]
            raise ConfigError.at("--workers", f"executor {name!r} takes no workers; use {' or '.join(with_workers) or 'another executor'}")
        params["workers"] = workers
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError.at("--workers", str(exc)) from None


# -- progress ----------------------------------------------------------------------------


class Progress:
    """A tqdm bar on a terminal; otherwise one line per finished replicate (none when quiet).

    :param board: a directory of :mod:`encephagen.progress` files; on a
        terminal the bar shows, once a second, the task and steps of every
        brain running (in this process or in worker processes).
    """

    def __init__(self, name: str, total: int, already: int, verbosity: int, board: Path | None = None) -> None:
        import threading

        from tqdm import tqdm

        self.total = total
        self.count = already
        self.verbosity = verbosity
        self.stream = sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = tqdm(
            total=total, initial=already, desc=name, unit="replicate", file=self.stream,
            disable=not tty or verbosity < 0, dynamic_ncols=True,
        )
        self._stop = threading.Event()
        self._watcher = None
        if board is not None and not self.bar.disable:
            self._watcher = threading.Thread(target=self._watch, args=(board,), daemon=True)
            self._watcher.start()

    def _watch(self, board: Path) -> None:
        from encephagen.progress import describe_board, read_board

        while not self._stop.wait(1.0):
            states = read_board(board, alive_only=True)
            if states:
                self.bar.set_postfix_str(describe_board(states))

    def say(self, text: str, error: bool = False) -> None:
        """Print a line (an error prints even when quiet)."""
        if self.verbosity < 0 and not error:
            return
        if self.bar.disable:
            print(text, file=self.stream, flush=True)
        else:
            self.bar.write(text, file=self.stream)

    def finished(self, outcome: Outcome) -> None:
        self.count += 1
        rep = outcome.replicate
        where = f"{rep.cell} #{rep.index}"
        self.bar.set_postfix_str(f"last: {where}", refresh=False)
        self.bar.update(1)
        if outcome.error:
            self.say(f"[{self.count}/{self.total}] {where} failed after {outcome.seconds:.1f} s: {outcome.error}", error=True)
            if self.verbosity >= 1 and outcome.detail:
                self.say(outcome.detail.rstrip(), error=True)
        elif self.bar.disable:
            seconds = outcome.result.seconds if outcome.result is not None else outcome.seconds
            self.say(f"[{self.count}/{self.total}] {where} done in {seconds:.1f} s")

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)
        self.bar.close()
