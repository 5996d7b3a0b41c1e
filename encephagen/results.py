"""What one replicate produces, and the error that marks it failed."""

from __future__ import annotations

import attrs


@attrs.frozen
class ReplicateResult:
    """Metrics and time series of one brain.

    :ivar condition: the condition's name.
    :ivar replicate: replicate index within the condition.
    :ivar seed: the replicate's recorded seed.
    :ivar metrics: ``{task_label: {metric: value}}``; a task label is the
        task's name, with ``#i`` appended when a protocol repeats a task.
    :ivar series: ``{task_label: {series_name: [values]}}``, e.g. a learning curve.
    :ivar seconds: wall time of the replicate.
    :ivar device: where it ran (``cpu``, ``cuda:0``).
    """

    condition: str
    replicate: int
    seed: int
    metrics: dict[str, dict[str, float]]
    series: dict[str, dict[str, list[float]]] = attrs.field(factory=dict)
    seconds: float = 0.0
    device: str = "cpu"


class ReplicateFailed(Exception):
    """A replicate could not finish (exploding activity, a plugin error); the study goes on.

    :param reason: one line for the store and the report.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WorkerDied(ReplicateFailed):
    """An executor's report that a replicate's own worker process died with it (``os._exit``, a segfault,
    the out-of-memory killer), found by running it alone: the replicate failed, not the executor.

    An executor yields it in place of the result; the runner records the replicate as failed with the reason.
    """
