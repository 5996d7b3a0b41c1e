"""Progress inside a brain: which task each running brain is in, and how many of its steps are done.

A full-size brain takes tens of seconds, so a bar that moves only when a
brain finishes says little. While a study runs, every process that simulates
brains (this one, or a worker process of the same machine) writes one small
JSON file into a directory named by the environment variable
:data:`PROGRESS_ENV` (``OUT/.progress/``): the brains it runs, the current
task and its steps done and planned. The runner's terminal bar reads the
directory once a second. Nothing is written when the variable is unset (a
remote cluster worker, a replicate run by hand), and a file that cannot be
written is skipped: progress never fails a replicate.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

#: The environment variable naming the directory of progress files.
PROGRESS_ENV = "ENCEPHAGEN_PROGRESS_DIR"

#: Seconds between two writes of one process's file.
INTERVAL_S = 0.5


class Reporter:
    """What one process writes: the brains it runs, the task, steps done of planned.

    The file is written as soon as the brains start and removed when they end
    (finished, failed or interrupted), so a file left behind names brains whose
    process died under them (:func:`read_board` lists them on the next run).

    :param names: the brains simulated together (``rewired/coupling=low #3``).
    :param keys: their ``(cell, replicate index)`` pairs, in the same order.
    """

    def __init__(self, names: Sequence[str], keys: Sequence[tuple[str, int]] = ()) -> None:
        where = os.environ.get(PROGRESS_ENV)
        self.path = Path(where) / f"{os.getpid()}.json" if where else None
        self.names = list(names)
        self.keys = [[str(c), int(i)] for c, i in keys]
        self.task = ""
        self.done = self.planned = 0
        self._last = 0.0
        self._write(force=True)

    def start(self, task: str, planned: int) -> None:
        """A task begins: ``planned`` steps (0 when the task cannot say)."""
        self.task, self.done, self.planned = task, 0, planned
        self._write(force=True)

    def advance(self, steps: int) -> None:
        """``steps`` more steps done (written at most every :data:`INTERVAL_S`)."""
        self.done += steps
        self._write()

    def close(self) -> None:
        """The brains are done: remove the file."""
        if self.path is not None:
            with _best_effort():
                self.path.unlink(missing_ok=True)

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.path is None or (not force and now - self._last < INTERVAL_S):
            return
        self._last = now
        state = {"brains": self.names, "keys": self.keys, "task": self.task, "done": self.done, "planned": self.planned}
        tmp = self.path.with_suffix(".tmp")
        with _best_effort():
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, self.path)


_OPEN: Reporter | None = None


@contextlib.contextmanager
def reporting(replicates: Sequence[Any]) -> Iterator[Reporter]:
    """The reporter of the brains (replicates with ``cell`` and ``index``) this process runs now.

    The outermost caller opens it (the runner's :func:`encephagen.execution.execute`,
    or :func:`encephagen.replicate.run_replicates` called alone) and closes it
    at the end; inner callers get the same one.
    """
    global _OPEN
    if _OPEN is not None:
        yield _OPEN
        return
    rep = Reporter([f"{r.cell} #{r.index}" for r in replicates], [(r.cell, r.index) for r in replicates])
    _OPEN = rep
    try:
        yield rep
    finally:
        _OPEN = None
        rep.close()


def _best_effort() -> contextlib.AbstractContextManager[None]:
    """Progress is for the eye only: a file that cannot be written (a full disk, the run's directory removed
    under it) is skipped, so that progress never fails a replicate (tested)."""
    return contextlib.suppress(OSError)


def read_board(directory: Path, alive_only: bool = False) -> list[dict[str, Any]]:
    """Every process's state, oldest file first (files being replaced are skipped).

    :param alive_only: skip the files of processes that no longer exist (a
        worker that died mid-brain leaves its file behind).
    """
    out = []
    try:
        files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return out
    for f in files:
        if alive_only and not _alive(f.stem):
            continue
        try:
            state = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(state, dict):
            out.append(state)
    return out


def _alive(pid_text: str) -> bool:
    """Whether process ``pid_text`` exists (``True`` when that cannot be told)."""
    try:
        os.kill(int(pid_text), 0)
    except ValueError:
        return True
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours, or signals are not supported here
        return True
    return True


def orphaned_keys(directory: Path) -> list[tuple[str, int]]:
    """The ``(cell, index)`` of every brain named in a file left in ``directory`` (its process died under it)."""
    out: list[tuple[str, int]] = []
    for state in read_board(directory):
        for key in state.get("keys") or []:
            if isinstance(key, list) and len(key) == 2 and isinstance(key[0], str) and isinstance(key[1], int):
                out.append((key[0], key[1]))
    return out


def describe_board(states: Sequence[dict[str, Any]], width: int = 3) -> str:
    """One line for the bar: ``connectome #3: conditioning 12,000/49,500 | ...`` (at most ``width`` entries)."""
    parts = []
    for s in states[:width]:
        brains = s.get("brains") or ["?"]
        who = brains[0] + (f" +{len(brains) - 1}" if len(brains) > 1 else "")
        steps = f"{s.get('done', 0):,}/{s['planned']:,}" if s.get("planned") else f"{s.get('done', 0):,}"
        parts.append(f"{who}: {s.get('task', '')} {steps}")
    more = len(states) - width
    return " | ".join(parts) + (f" | +{more} more" if more > 0 else "")
