"""One replicate: draw the condition's wiring, build the brain, run the protocol.

Every random draw comes from the replicate's recorded seed, through one
sub-stream per use (:data:`encephagen.study.STREAMS`): the null-model draw,
the microcircuit wiring, the initial state and background noise, the
stimulus patterns and the learning rule's own draws (e.g. the supervised
feedback matrix). The same seed therefore gives the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from encephagen.config import Study
from encephagen.connectome import Connectome
from encephagen.design import labels
from encephagen.errors import EncephagenError
from encephagen.contract import per_brain
from encephagen.interfaces import CountsSteps, TaskContext
from encephagen.progress import reporting
from encephagen.results import ReplicateFailed, ReplicateResult
from encephagen.study import Replicate, stream_rng, stream_seed

#: A run whose mean rate exceeds this share of the refractory-limited maximum is "exploded".
SATURATION = 0.9


def task_labels(protocol: Sequence[Any]) -> list[str]:
    """One label per task: its name, with ``#i`` (1-based) when a protocol repeats it."""
    return labels([t.name for t in protocol])


class WatchedBrain:
    """A :class:`~encephagen.engine.simulate.Brain` whose runs are checked for saturation.

    Every :meth:`run` is followed by one check of the recorded counts (one
    host synchronisation per run, none per step): a brain whose neurons fire
    at more than :data:`SATURATION` of the maximum rate ``1 / t_ref`` is
    reported as exploded.
    """

    def __init__(self, brain: Any, max_rate_per_step: float, names: Sequence[str], reporter: Any = None) -> None:
        self.brain = brain
        self.network = brain.network
        self.limit = SATURATION * max_rate_per_step
        self.names = list(names)
        self.reporter = reporter

    def run(self, steps: int, external: Any = None, learner: Any = None, record: Any = None) -> Any:
        """Run, then check that every brain's activity stayed below saturation."""
        rec = self.brain.run(steps, external=external, learner=learner, record=record)
        if self.reporter is not None:
            self.reporter.advance(steps)
        if steps > 0:
            net = self.network
            rate = rec.region_counts.sum(dim=(0, 2)).double().cpu().numpy() / (net.neurons_per_brain * steps)
            bad = [f"{self.names[b]} at {r * 1000.0 / net.dt:.0f} Hz" for b, r in enumerate(rate) if r > self.limit]
            if bad:
                raise ReplicateFailed(
                    f"activity exploded ({', '.join(bad)} mean rate, above {SATURATION:.0%} of the refractory-limited maximum)"
                )
        return rec


def run_replicate(study: Study, connectome: Connectome, replicate: Replicate) -> ReplicateResult:
    """Simulate one brain of one condition through the whole protocol (see :func:`run_replicates`)."""
    return run_replicates(study, connectome, [replicate])[0]


def run_replicates(study: Study, connectome: Connectome, replicates: Sequence[Replicate]) -> list[ReplicateResult]:
    """Simulate brains of one cell together, as one batched network, through the whole protocol.

    Each brain draws its null model, wiring, state, noise and stimuli from
    its own replicate seed, so a brain gives the same numbers alone or in a
    batch. The learning rule's own draws (the supervised variant's feedback
    matrix) come from the first replicate's seed.

    :param study: the study as the replicates' cell runs it (:attr:`encephagen.design.Cell.study`).
    :param connectome: the cell's connectome (before any null model).
    :param replicates: replicates of one cell.
    :raises ReplicateFailed: exploding activity, non-finite state, or a plugin's
        error; it fails every brain of the batch.
    """
    t0 = time.perf_counter()
    names = [f"{r.cell} #{r.index}" for r in replicates]
    if len({r.cell for r in replicates}) != 1:
        raise ValueError(f"a batch holds replicates of one cell, got {names}")
    condition = next(c for c in study.conditions if c.name == replicates[0].condition)
    seeds = [r.seed for r in replicates]
    with reporting(replicates) as reporter:
        network, metrics, series = _simulate(study, connectome, condition, seeds, names, reporter)
    seconds = (time.perf_counter() - t0) / len(seeds)
    return [
        ReplicateResult(
            condition=r.condition, replicate=r.index, seed=r.seed, metrics=metrics[b], series=series[b],
            seconds=seconds, device=str(network.device),
        )
        for b, r in enumerate(replicates)
    ]


def _simulate(
    study: Study, connectome: Connectome, condition: Any, seeds: list[int], names: list[str], reporter: Any
) -> tuple[Any, list[dict[str, dict[str, float]]], list[dict[str, dict[str, list[float]]]]]:
    """Build the batch of ``seeds`` and run the protocol: ``(network, metrics, series)`` per brain."""
    from encephagen.engine import build_batch
    from encephagen.engine.simulate import Brain

    try:
        conns = [connectome] * len(seeds)
        if condition.null_model is not None:
            conns = [_draw(condition.null_model, connectome, stream_rng(s, "null_model"), study.brain.delays) for s in seeds]
        spec = study.brain
        network = build_batch(
            conns, spec.microcircuit, [stream_rng(s, "wiring") for s in seeds], spec.neuron,
            delays=spec.delays, device=spec.device,
        )
        t_ref = float(spec.neuron.t_ref)  # declared by every neuron model (encephagen.interfaces.NeuronModel)
        brain = WatchedBrain(
            Brain(network, [stream_rng(s, "state") for s in seeds]),
            max_rate_per_step=network.dt / max(t_ref, network.dt),
            names=names,
            reporter=reporter,
        )
        ctx = TaskContext(
            learning_rule=_seeded_rule(study.learning_rule, seeds[0]),
            stimulus_rngs=[stream_rng(s, "stimulus") for s in seeds],
        )
        metrics: list[dict[str, dict[str, float]]] = [{} for _ in seeds]
        series: list[dict[str, dict[str, list[float]]]] = [{} for _ in seeds]
        for label, task in zip(task_labels(study.protocol), study.protocol):
            ctx.series = {}
            reporter.start(label, sum(task.step_counts(study.learning_rule is not None)) if isinstance(task, CountsSteps) else 0)
            try:
                rows = per_brain(label, task.run(brain, ctx), len(seeds))
            except ValueError as exc:
                raise ReplicateFailed(str(exc)) from None
            for b in range(len(seeds)):
                metrics[b][label] = rows[b]
                if ctx.series:
                    series[b][label] = {k: np.asarray(v)[b].astype(float).tolist() for k, v in ctx.series.items()}
    except ReplicateFailed:
        raise
    except EncephagenError as exc:
        raise ReplicateFailed("; ".join(exc.lines())) from exc
    return network, metrics, series


def _draw(model: Any, connectome: Connectome, rng: np.random.Generator, delays: Any = None) -> Connectome:
    """One null-model draw, checked as validation checks the first: a draw that changes the anatomy, breaks
    the model's declared invariants, moves the edge lengths beyond ``delays.max_length_shift`` (with delays)
    or is not a connectome fails this replicate (validation drew only one)."""
    from encephagen.invariants import check_invariants, rewires_gap_junctions

    drawn = model.randomize(connectome, rng)
    if not isinstance(drawn, Connectome):
        raise ReplicateFailed(f"null model {model.name!r} returned {type(drawn).__name__}, not a Connectome")
    diffs = connectome.anatomy_differences(drawn, gap_junctions=not rewires_gap_junctions(model))
    if diffs:
        raise ReplicateFailed(f"null model {model.name!r} changed {', '.join(diffs)} in this replicate's draw, not only the wiring")
    violations = check_invariants(model, connectome, drawn)
    if violations:
        raise ReplicateFailed(f"null model {model.name!r} broke its declared invariants in this replicate's draw: {'; '.join(violations)}")
    shift = None if delays is None else delays.shift_problem(connectome, drawn)
    if shift is not None:
        raise ReplicateFailed(f"null model {model.name!r} in this replicate's draw {shift}")
    return drawn


class _SeededRule:
    """A learning rule whose every ``bind`` gets its own generator from the replicate seed."""

    def __init__(self, rule: Any, seed: int) -> None:
        self.rule = rule
        self.generator = torch.Generator().manual_seed(stream_seed(seed, "learning"))
        self.name = rule.name

    def bind(self, network: Any) -> Any:
        return self.rule.bind(network, self.generator)


def _seeded_rule(rule: Any, seed: int) -> Any:
    return None if rule is None else _SeededRule(rule, seed)
