"""Picklable stand-ins for the runner's tests: a fake replicate function, a test task, a registry.

Worker processes (``processes`` and ``dask`` executors) import this module by
name to unpickle what the tests send them, so everything here lives at
module level. Run as a script it is the driver of the kill-and-resume test:

    python runner_fakes.py STUDY OUT EXECUTOR SLEEP_S LOG [DIE_CONDITION DIE_INDEX]
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np

from encephagen.registry import Entry, Registry
from encephagen.results import ReplicateFailed, ReplicateResult

TASK = "warmup"
#: Added to every metric of a condition other than the reference ("connectome").
SHIFT = 1.0


def fake_values(condition: str, seed: int) -> dict[str, float]:
    """The metrics of one replicate: a deterministic function of its seed (and a shift per condition)."""
    rng = np.random.default_rng(seed)
    shift = 0.0 if condition == "connectome" else SHIFT
    return {"rate": float(rng.normal(5.0 + shift, 1.0)), "score": float(rng.uniform(0.0, 1.0) + 0.3 * shift)}


def fake_curve(condition: str, seed: int, points: int = 8) -> list[float]:
    """A learning curve ``1 - exp(-t / tau)`` plus seeded noise."""
    rng = np.random.default_rng(seed + 1)
    tau = 2.0 if condition == "connectome" else 4.0
    t = np.arange(points, dtype=float)
    return (1.0 - np.exp(-t / tau) + rng.normal(0.0, 0.05, points)).tolist()


@attrs.frozen
class FakeReplicate:
    """A replicate function: metrics from the seed, optionally slow, failing, or logging its calls.

    :ivar sleep: seconds to wait before returning.
    :ivar fail: ``(condition, index)`` of a replicate that raises.
    :ivar crash: raise a plain ``ValueError`` (a plugin bug) instead of ``ReplicateFailed``.
    :ivar log: a file that gets one ``condition index`` line per call.
    :ivar die: ``(condition, index)`` of a replicate whose worker process
        exits at once (as a segfault or an out-of-memory kill would).
    :ivar die_anywhere: let ``die`` end the study's own process too (a serial run).
    :ivar exits: ``(condition, index)`` of a replicate that calls ``sys.exit(4)``.
    :ivar oom: ``(condition, index)`` of a replicate that runs out of memory (``MemoryError``).
    """

    sleep: float = 0.0
    fail: tuple[str, int] | None = None
    crash: bool = False
    log: str | None = None
    die: tuple[str, int] | None = None
    die_anywhere: bool = False
    exits: tuple[str, int] | None = None
    oom: tuple[str, int] | None = None

    def __call__(self, study: Any, connectome: Any, replicate: Any) -> ReplicateResult:
        if self.log is not None:
            with open(self.log, "a", encoding="utf-8") as fh:
                fh.write(f"{replicate.condition} {replicate.index}\n")
        if self.die == (replicate.condition, replicate.index):
            if multiprocessing.parent_process() is None and not self.die_anywhere:
                raise RuntimeError("FakeReplicate(die=...) only exits worker processes")
            os._exit(3)
        if self.exits == (replicate.condition, replicate.index):
            sys.exit(4)
        if self.oom == (replicate.condition, replicate.index):
            raise MemoryError("cannot allocate 2.0 GiB")
        if self.sleep:
            time.sleep(self.sleep)
        if self.fail == (replicate.condition, replicate.index):
            if self.crash:
                raise ValueError("the test plugin broke")
            raise ReplicateFailed("activity exploded: mean rate 1e9 Hz")
        return ReplicateResult(
            condition=replicate.condition,
            replicate=replicate.index,
            seed=replicate.seed,
            metrics={TASK: fake_values(replicate.condition, replicate.seed)},
            series={TASK: {"curve": fake_curve(replicate.condition, replicate.seed)}},
            seconds=0.01 + (zlib.crc32(str(replicate.seed).encode()) % 100) / 1000,
        )


@attrs.frozen
class PlantedInteraction:
    """A replicate function whose condition effect on ``rate`` exists only at coupling 0.3 (an interaction).

    ``rate`` is N(5, 1) from the seed, plus 5 for a non-reference condition
    at ``brain.coupling`` 0.3; ``score`` has no effect at all.
    """

    def __call__(self, study: Any, connectome: Any, replicate: Any) -> ReplicateResult:
        rng = np.random.default_rng(replicate.seed)
        high = study.brain.microcircuit.coupling == 0.3
        effect = 5.0 if (high and replicate.condition != "connectome") else 0.0
        metrics = {"rate": float(rng.normal(5.0 + effect, 1.0)), "score": float(rng.uniform())}
        return ReplicateResult(replicate.condition, replicate.index, replicate.seed, {TASK: metrics})


@attrs.frozen
class Warmup:
    """A test task that needs no group (stands in for the real warm-up)."""

    name: ClassVar[str] = "warmup"
    steps: int = attrs.field(default=10, validator=attrs.validators.ge(0))

    def required_groups(self) -> tuple[str, ...]:
        return ()


@attrs.frozen
class Lif:
    """A test neuron model (stands in for the real LIF)."""

    name: ClassVar[str] = "lif"


def make_registry() -> Registry:
    """Built-in connectomes, null models and executors, plus a ``warmup`` task and ``lif`` neuron if missing."""
    from encephagen_builtins.connectomes import CONNECTOMES
    from encephagen_builtins.executors import EXECUTORS
    from encephagen_builtins.null_models import NULL_MODELS

    try:
        from encephagen.plugins import build_registry

        registry = build_registry()
    except (ImportError, AttributeError):  # sibling built-ins still being written
        registry = Registry()
        for kind, classes in (("connectome", CONNECTOMES), ("null_model", NULL_MODELS), ("executor", EXECUTORS)):
            for cls in classes:
                registry.add(Entry(kind, cls.name, cls, "encephagen", "test"))
    for kind, cls in (("task", Warmup), ("neuron_model", Lif)):
        if cls.name not in registry.names(kind):
            registry.add(Entry(kind, cls.name, cls, "test-dist", "1"))
    return registry


STUDY = """\
name: tiny
seed: {seed}
replicates: {replicates}
connectome: {{kind: synthetic, n_regions: 8}}
conditions:
  - {{name: connectome}}
  - {{name: rewired, null_model: {{kind: degree_preserving}}}}
protocol: [{{kind: warmup, steps: 10}}]
"""


#: The brains of the tests that really simulate: small enough for seconds, e-prop bounds wide enough for them.
#: Prepend ``name:``, append ``protocol:`` (and ``factors:``).
TINY_REAL = """\
seed: 7
replicates: 2
connectome: {kind: synthetic, n_regions: 10, density: 0.4, seed: 1}
brain: {neurons_per_region: 12, device: cpu}
conditions:
  - {name: connectome}
  - {name: rewired, null_model: {kind: degree_preserving}}
learning_rule: {kind: eprop, w_min: -200, w_max: 200}
"""

#: A short protocol for ``TINY_REAL``: a warm-up and two conditioning trials, each followed by a test.
TINY_CONDITIONING = (
    "  - {kind: warmup, steps: 200}\n"
    "  - {kind: conditioning, trials: 2, test_every: 1, cs_steps: 100, us_steps: 100, gap_steps: 50, test_baseline_steps: 100}\n"
)


def write_study(path: Path, replicates: int = 4, seed: int = 7) -> Path:
    """Write the tiny two-condition study file."""
    path.write_text(STUDY.format(seed=seed, replicates=replicates))
    return path


def main(argv: list[str]) -> int:
    """The kill-test driver: run a study with a slow fake replicate."""
    import signal

    from encephagen.runner import run_study

    # A shell starts background jobs with SIGINT ignored, and Python keeps it so; the signal tests
    # interrupt this driver as a terminal would a foreground run, so it takes Ctrl-C as one does.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    study, out, executor, sleep, log, *die = argv
    fake = FakeReplicate(sleep=float(sleep), log=log, die=(die[0], int(die[1])) if die else None, die_anywhere=True)
    try:
        run_study(Path(study), Path(out), make_registry(), executor=executor, verbosity=0, replicate_fn=fake)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    import runner_fakes  # noqa: PLW0406 - so that pickles name the module, not __main__

    sys.exit(runner_fakes.main(sys.argv[1:]))
