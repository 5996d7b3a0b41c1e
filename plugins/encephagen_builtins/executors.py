"""Built-in executors: how the replicates of a study are run.

- ``serial``: one after another in this process.
- ``processes``: a pool of local worker processes started with ``spawn`` (or
  ``forkserver``), never ``fork``: a forked child inherits PyTorch's thread
  pools and CUDA state, which can hang or crash it. Each worker runs torch
  with ``threads`` threads (default 1): a pool of workers that each start as
  many threads as the machine has cores runs slower than one process alone.
  It is the default for a study of more than one brain on a machine with
  more than one core (see :func:`encephagen.execution.resolve_executor`).
- ``dask``: a ``dask.distributed`` cluster, either a local one or an existing
  scheduler given by its address (for example one that ``dask-jobqueue``
  started on a Slurm cluster). Needs the optional extra ``encephagen[dask]``.

Every executor yields ``(item, result_or_exception)`` as each item finishes,
in completion order; the runner stores each result as it arrives, so the
order never changes the numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar

import attrs
from attrs import validators as v

from encephagen.errors import ConfigError
from encephagen.execution import usable_cores
from encephagen.results import WorkerDied

_WORKERS = v.optional([v.instance_of(int), v.ge(1)])


def _pool_size(workers: int | None, n_items: int) -> int:
    """``workers`` (default: the usable cores), never more than there are items."""
    return max(1, min(workers or usable_cores(), n_items))


def limit_threads(threads: int) -> None:
    """Run torch (and the BLAS/OpenMP pools it uses) with ``threads`` threads in this process."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


#: Seconds between two looks of a worker at its parent process.
PARENT_POLL_S = 0.5


def start_worker(threads: int) -> None:
    """A pool worker's start: :func:`limit_threads`, and a watch that ends this process when its parent is gone.

    Without the watch, killing the study's process (``kill -9``, an
    out-of-memory kill) would leave its workers computing brains nobody
    stores until each finishes; with it they end within a second.
    """
    import threading
    import time

    limit_threads(threads)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="encephagen-parent-watch", daemon=True).start()


@attrs.frozen
class Serial:
    """Runs every replicate in this process, one after another."""

    name: ClassVar[str] = "serial"
    default: ClassVar[str] = "in-process"
    summary: ClassVar[str] = "One replicate after another in this process (the default on one core or for one brain)."

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, fn(item))`` in order; an exception is yielded in place of the result."""
        for item in items:
            try:
                result = fn(item)
            except Exception as exc:  # noqa: BLE001 - yielded, the runner records it
                result = exc
            yield item, result


@attrs.frozen
class Processes:
    """Runs replicates in a pool of local worker processes.

    :ivar workers: processes in the pool (default: the usable cores).
    :ivar start_method: ``spawn`` or ``forkserver``; ``fork`` is refused
        because a forked PyTorch process can deadlock.
    :ivar threads: torch threads per worker process.
    """

    name: ClassVar[str] = "processes"
    default: ClassVar[str] = "parallel"
    summary: ClassVar[str] = "A pool of local worker processes (spawn/forkserver, safe with PyTorch), one torch thread each."

    workers: int | None = attrs.field(default=None, validator=_WORKERS)
    start_method: str = attrs.field(default="spawn", validator=v.in_(("spawn", "forkserver")))
    threads: int = attrs.field(default=1, validator=[v.instance_of(int), v.ge(1)])

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
        """Submit every item to the pool; yield ``(item, result_or_exception)`` as each completes.

        When a worker dies, the pool breaks and every item in flight is lost; those items then run
        again one at a time, each alone in a fresh worker, and the one whose worker dies again is
        yielded with :class:`~encephagen.results.WorkerDied`. The others finish normally.
        """
        items = list(items)
        if not items:
            return
        broken: list[Any] = []
        for item, result in self._run(fn, items, _pool_size(self.workers, len(items))):
            if isinstance(result, BrokenProcessPool):
                broken.append(item)  # a worker died: this item, or another one in flight beside it
            else:
                yield item, result
        # Run each item the broken pool took with it alone, so only the one that kills its process fails.
        alone = [(item, result) for item in broken for _, result in self._run(fn, [item], 1)]
        if len(alone) > 1 and all(isinstance(r, BrokenProcessPool) for _, r in alone):
            # Every worker died, even alone: the workers cannot start, which is not the replicates' fault.
            lost = BrokenProcessPool(
                "every worker process died, even running one replicate alone: the workers cannot start (a script "
                "that starts a study needs `if __name__ == '__main__':`, which worker processes re-run), or run "
                "with --executor serial"
            )
            yield from ((item, lost) for item, _ in alone)
            return
        for item, result in alone:
            if isinstance(result, BrokenProcessPool):
                result = WorkerDied(
                    "the replicate's worker process died while running it (it called os._exit, crashed, or was "
                    "killed for memory); it was run alone to be sure"
                )
            yield item, result

    def _run(self, fn: Callable[[Any], Any], items: list[Any], workers: int) -> Iterator[tuple[Any, Any]]:
        """One pool for ``items``; ``(item, result_or_exception)`` as each completes."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context(self.start_method)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=start_worker, initargs=(self.threads,))
        try:
            futures = {pool.submit(fn, item): item for item in items}
            for fut in as_completed(futures):
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker that died (BrokenProcessPool)
                    result = exc
                yield futures[fut], result
        except BaseException:
            # Ctrl-C, SIGTERM, or the caller stopped early: stop within seconds, not when the running
            # replicates finish, and leave no worker behind (the runner puts them back to pending).
            workers = list(getattr(pool, "_processes", {}).values())  # the pool has no public handle on them
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in workers:
                proc.terminate()
            for proc in workers:
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
            raise
        pool.shutdown(wait=True)


@attrs.frozen
class Dask:
    """Runs replicates on a ``dask.distributed`` cluster.

    :ivar address: a scheduler address such as ``tcp://host:8786`` (for
        example one started by ``dask-jobqueue`` on Slurm); ``None`` starts a
        local cluster for the duration of the study.
    :ivar workers: worker processes of the local cluster (default: the usable
        cores), one thread each; ignored with ``address``.
    :ivar threads: torch threads per worker of the local cluster.
    """

    name: ClassVar[str] = "dask"
    summary: ClassVar[str] = "A dask.distributed cluster: a local one, or an existing scheduler (e.g. dask-jobqueue on Slurm)."

    address: str | None = attrs.field(default=None, validator=v.optional(v.instance_of(str)))
    workers: int | None = attrs.field(default=None, validator=_WORKERS)
    threads: int = attrs.field(default=1, validator=[v.instance_of(int), v.ge(1)])

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
        """Submit every item to the cluster; yield ``(item, result_or_exception)`` as each completes."""
        try:
            from dask.distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ConfigError.at(
                "executor", "the dask executor needs dask.distributed, which is not installed: pip install encephagen[dask]"
            ) from None
        import logging

        items = list(items)
        if not items:
            return
        cluster = None
        if self.address is None:
            cluster = LocalCluster(
                n_workers=_pool_size(self.workers, len(items)),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
            client.run(limit_threads, self.threads)
        else:
            try:
                client = Client(self.address, timeout="30s")
            except OSError as exc:
                raise ConfigError.at("executor.address", f"cannot reach the dask scheduler at {self.address!r}: {exc}") from None
        futures: dict[Any, Any] = {}
        try:
            futures = {client.submit(fn, item, pure=False): item for item in items}
            for fut in as_completed(list(futures)):
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a killed worker
                    result = exc
                yield futures[fut], result
        finally:
            if futures:  # the caller stopped early: drop what is still queued
                client.cancel(list(futures))
            client.close()
            if cluster is not None:
                cluster.close()


EXECUTORS: tuple[type, ...] = (Serial, Processes, Dask)
