"""What a study will cost, in closed form before anything is drawn or simulated: neurons, synapses, time, memory.

Time per brain is ``overhead + plain_steps * t_plain + learning_steps * t_learn`` with

- ``t_plain = 4e-5 s + 2.5e-11 s x synapses`` per step,
- ``t_learn = t_plain + 3e-5 s + 1.55e-10 s x synapses`` per step with a learner attached,
- ``overhead = 1 s`` per brain (building it; a fresh process also compiles the neuron update once),

constants fitted to whole studies at the reference size on one core of the
2-core development machine (one torch thread per worker, two workers): the
20 brains of ``experiments/exp22_eprop.yaml`` ran at about 14 s per e-prop
brain (28,800 plain + 49,500 learning steps, 1.29 M synapses), and the
brains of ``experiments/structure_x_learning.yaml`` without learning at
about 5 s (78,300 steps). The cost of a step grows with the
firing rate, which is not known before a run: small brains (tens of neurons
per region) fire faster and run up to about 4x slower than estimated.
Learning steps are costed as e-prop's, the slowest built-in rule; the
Hebbian rule costs little more than a plain step, so a Hebbian study runs
several times faster than its estimate. Steps come from each task's
:meth:`~encephagen.interfaces.CountsSteps.step_counts`; a task without it
counts as unknown. Memory per brain is the network's arrays
(:func:`encephagen.engine.build.estimate_bytes`) plus 8 bytes per synapse
for a learner's eligibility and snapshot.
"""

from __future__ import annotations

import attrs

from encephagen.interfaces import CountsSteps
from encephagen.study import Plan, cell_info

T_PLAIN = (4e-5, 2.5e-11)
T_LEARN = (3e-5, 9.5e-11)
OVERHEAD_S = 1.0
LEARNER_BYTES_PER_SYNAPSE = 8
#: Most steps one brain may run (about 28 h on one core at the reference size without learning).
MAX_STEPS_PER_BRAIN = 10**9


@attrs.frozen
class CellEstimate:
    """The cost of one brain of a cell.

    :ivar steps: ``(plain, learning)`` steps, or ``None`` when a task cannot say.
    :ivar seconds: estimated wall time of one brain on one core (s), or ``None``.
    :ivar bytes: estimated peak memory of one brain (bytes).
    """

    key: str
    neurons: int
    synapses: int
    steps: tuple[int, int] | None
    seconds: float | None
    bytes: int


def estimate_cell(plan: Plan, key: str) -> CellEstimate:
    """The estimate for one brain of cell ``key``."""
    from encephagen.engine.build import estimate_bytes

    cell = plan.cell(key)
    conn = plan.connectomes[key]
    info = cell_info(cell, conn)
    s = info["synapses"]
    rule = cell.study.learning_rule
    steps: tuple[int, int] | None = (0, 0)
    for task in cell.study.protocol:
        if not isinstance(task, CountsSteps) or steps is None:
            steps = None
            continue
        plain, learning = task.step_counts(rule is not None)
        steps = (steps[0] + plain, steps[1] + learning)
    seconds = None
    if steps is not None:
        t_plain = T_PLAIN[0] + T_PLAIN[1] * s
        t_learn = t_plain + T_LEARN[0] + T_LEARN[1] * s
        seconds = OVERHEAD_S + steps[0] * t_plain + steps[1] * t_learn
    brain = cell.study.brain
    mem = estimate_bytes(conn, brain.microcircuit, 1, brain.delays is not None)
    total = mem["host"] + mem["device"] + (LEARNER_BYTES_PER_SYNAPSE * s if rule is not None else 0)
    return CellEstimate(key, info["neurons"], s, steps, seconds, int(total))


def estimate(plan: Plan) -> list[CellEstimate]:
    """One :class:`CellEstimate` per cell, in order."""
    return [estimate_cell(plan, c.key) for c in plan.cells]


def _seconds(x: float) -> str:
    if x < 120:
        return f"{x:.0f} s"
    if x < 7200:
        return f"{x / 60:.0f} min"
    return f"{x / 3600:.1f} h"


def describe(plan: Plan, workers: int = 1) -> list[str]:
    """Lines for ``encephagen validate``: cells, brains, neurons and synapses per brain, time and memory."""
    from encephagen.engine.memory import format_bytes

    s = plan.study
    estimates = estimate(plan)
    lines = []
    shape = " x ".join([f"{len(s.conditions)} condition(s)", *(f"{len(v)} {f} level(s)" for f, v in s.factors.items())])
    lines.append(f"{shape} = {len(plan.cells)} cell(s) x {s.replicates} replicate(s) = {len(plan.replicates)} brains")
    for cell, e in zip(plan.cells, estimates):
        t = "time unknown (a task does not count its steps)" if e.seconds is None else f"~{_seconds(e.seconds)} per brain"
        lines.append(
            f"  {cell.label}: {e.neurons:,} neurons, ~{e.synapses:,} synapses, "
            f"{'?' if e.steps is None else f'{e.steps[0]:,} + {e.steps[1]:,} learning'} steps, {t}, ~{format_bytes(e.bytes)}"
        )
    known = [e.seconds for e in estimates]
    if all(x is not None for x in known):
        total = sum(x * s.replicates for x in known if x is not None)
        lines.append(
            f"estimate: ~{_seconds(total)} on one core"
            + (f", ~{_seconds(total / workers)} with {workers} workers" if workers > 1 else "")
            + f"; peak memory ~{format_bytes(max(e.bytes for e in estimates) * max(1, workers) * s.brain.batch)}"
            " (rough: the cost of a step grows with the firing rate; see encephagen.estimate)"
        )
    return lines


def check_fits(plan: Plan) -> None:
    """Refuse, before anything is allocated, a study one of whose brains cannot fit this machine's memory
    or would run more than :data:`MAX_STEPS_PER_BRAIN` steps.

    :raises ConfigError: at ``brain.neurons_per_region`` (memory) or at the
        protocol task with the most steps (and the cell, when a factor or
        condition sets what makes it too big).
    """
    import torch

    from encephagen.engine.memory import available_bytes, format_bytes
    from encephagen.errors import ConfigError
    from encephagen.replicate import task_labels

    have = available_bytes(torch.device("cpu"))
    for cell, e in zip(plan.cells, estimate(plan)):
        if e.steps is not None and sum(e.steps) > MAX_STEPS_PER_BRAIN:
            rule = cell.study.learning_rule is not None
            counts = [sum(t.step_counts(rule)) if isinstance(t, CountsSteps) else 0 for t in cell.study.protocol]
            i = max(range(len(counts)), key=counts.__getitem__)
            label = task_labels(cell.study.protocol)[i]
            where = "" if cell.study.protocol == plan.study.protocol else f" in cell {cell.key}"
            raise ConfigError.at(
                f"protocol[{i}]",
                f"one brain{where} would run {sum(e.steps):,} steps ({label}: {counts[i]:,}; ~{_seconds(e.seconds or 0)} "
                f"on one core), more than the {MAX_STEPS_PER_BRAIN:,} a brain may run; lower this task's steps or trials",
            )
        need = e.bytes * plan.study.brain.batch
        if have is not None and need > have:
            where = "" if cell.study.brain == plan.study.brain else f" (cell {cell.key})"
            raise ConfigError.at(
                "brain.neurons_per_region",
                f"one brain{where} of {e.neurons:,} neurons and ~{e.synapses:,} synapses needs about {format_bytes(need)} "
                f"of memory, more than the {format_bytes(have)} available; lower neurons_per_region, p_internal, "
                "p_between, coupling or batch",
            )
