"""From a study file to an execution plan: cells, replicates and their seeds, checked without simulating.

:func:`prepare` reads the study, loads every connectome its cells use,
checks that every task finds the region groups it needs, draws each null
model once to check that it keeps the anatomy and its declared invariants,
and lists the replicates of every cell with their seeds. Everything here is
cheap; nothing is simulated.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from encephagen.config import UNSET, Study, load_study
from encephagen.connectome import Connectome
from encephagen.design import Cell
from encephagen.errors import ConfigError, DataError, EncephagenError
from encephagen.interfaces import ChecksBrain, NamesGroups
from encephagen.registry import Registry

#: Sub-streams of a replicate seed, one per use, so that adding a use never
#: shifts the numbers of another.
STREAMS: dict[str, int] = {"null_model": 0, "wiring": 1, "state": 2, "stimulus": 3, "learning": 4}


def replicate_seed(study_seed: int, condition: str, replicate: int, levels: Sequence[tuple[str, str]] = ()) -> int:
    """The recorded seed of one replicate (a 63-bit integer).

    Derived from the study seed, the condition's name (not its position, so
    reordering conditions changes nothing), the cell's ``(factor, level)``
    names (in factor-name order, so reordering factors changes nothing) and
    the replicate index. Adding a replicate, a level or a condition therefore
    never changes the seed of an existing brain. Without factors the seed is
    that of a study without cells.
    """
    names = [zlib.crc32(f"{f}={lv}".encode()) for f, lv in sorted(levels)]
    ss = np.random.SeedSequence(entropy=study_seed, spawn_key=(zlib.crc32(condition.encode()), *names, replicate))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


#: How every seed of a study follows from the study seed (written into ``provenance.json``).
SEED_DERIVATION = (
    "replicate seed = encephagen.study.replicate_seed(study seed, condition, replicate index, the cell's "
    "(factor, level) pairs); each random use of a brain (wiring, null model, noise, task) draws from "
    "numpy.random.default_rng(encephagen.study.stream_seed(replicate seed, use))"
)


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one use (see :data:`STREAMS`) of a replicate seed."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(STREAMS[stream],))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """A numpy generator for one use of a replicate seed."""
    return np.random.default_rng(stream_seed(seed, stream))


@attrs.frozen
class Replicate:
    """One brain to simulate.

    :ivar condition: its condition's name.
    :ivar index: its index within the cell.
    :ivar seed: its recorded seed.
    :ivar cell: its cell's key (:attr:`encephagen.design.Cell.key`; the
        condition's name when the study has no factors).
    """

    condition: str
    index: int
    seed: int
    cell: str = attrs.field(default=attrs.Factory(lambda self: self.condition, takes_self=True))


@attrs.frozen
class Plan:
    """A validated study, its cells, the connectome of each cell, and the replicates."""

    study: Study
    connectomes: dict[str, Connectome] = attrs.field(eq=False)
    study_hash: str
    replicates: tuple[Replicate, ...]

    @property
    def cells(self) -> tuple[Cell, ...]:
        """The study's cells, in order."""
        return self.study.cells

    def cell(self, key: str) -> Cell:
        """The cell called ``key``."""
        return next(c for c in self.study.cells if c.key == key)

    @property
    def connectome(self) -> Connectome:
        """The first cell's connectome (the study's, unless that cell overrides it)."""
        return self.connectomes[self.study.cells[0].key]

    def condition(self, name: str):
        """The :class:`~encephagen.config.Condition` called ``name``."""
        return next(c for c in self.study.conditions if c.name == name)


def _load_connectomes(study: Study) -> dict[str, Connectome]:
    """Every cell's connectome, each distinct source loaded once."""
    loaded: dict[str, Connectome] = {}
    out = {}
    for cell in study.cells:
        spec = json.dumps(cell.document["connectome"], sort_keys=True, default=repr)
        if spec not in loaded:
            try:
                loaded[spec] = cell.study.connectome.load()
            except EncephagenError as exc:
                own = cell.study.connectome == study.connectome
                err = exc.prefixed("connectome")
                raise (err if own else type(err)(*[(f, f"{m} (cell {cell.key})") for f, m in err.problems])) from None
        out[cell.key] = loaded[spec]
    return out


def _null_field(study: Study, cell: Cell) -> str:
    """Where the study file sets a cell's null model: a factor level's, or its condition's."""
    for f, lv in reversed(cell.levels):
        if study.factors[f][lv].null_model is not UNSET:
            return f"factors.{f}.{lv}.null_model"
    i = next(j for j, c in enumerate(study.conditions) if c.name == cell.condition)
    return f"conditions[{i}].null_model"


def check_conditions(study: Study, connectomes: dict[str, Connectome]) -> None:
    """Draw each cell's null model once per connectome and refuse one that changes anything but the wiring.

    With delays, a cell is also refused when a between-region edge its brains
    use has no length, or when its null model moves the edges' length
    distribution beyond ``brain.delays.max_length_shift``.
    """
    from encephagen.invariants import check_invariants, rewires_gap_junctions

    done: set[tuple[str, int, str]] = set()
    for cell in study.cells:
        model, conn = cell.study.conditions[0].null_model, connectomes[cell.key]
        delays = cell.study.brain.delays
        if (repr(model), id(conn), repr(delays)) in done:
            continue
        done.add((repr(model), id(conn), repr(delays)))
        if model is None:
            problem = None if delays is None else delays.missing(conn)
            if problem is not None:
                own = cell.study.connectome == study.connectome and cell.study.brain == study.brain
                raise DataError.at(problem[0], problem[1] + ("" if own else f" (cell {cell.key})"))
            continue
        field = _null_field(study, cell)
        try:
            surrogate = model.randomize(conn, np.random.default_rng(0))
        except EncephagenError as exc:
            raise exc.prefixed(field) from None
        diffs = conn.anatomy_differences(surrogate, gap_junctions=not rewires_gap_junctions(model))
        if diffs:
            raise ConfigError.at(
                field,
                f"null model {model.name!r} changed {', '.join(diffs)} as well as the wiring; "
                "conditions may differ only in the wiring under test",
            )
        violations = check_invariants(model, conn, surrogate)
        if violations:
            raise ConfigError.at(field, f"null model {model.name!r} broke its declared invariants: {'; '.join(violations)}")
        if delays is not None:
            missing = delays.missing(surrogate)
            if missing is not None:
                raise ConfigError.at(field, f"null model {model.name!r} wires edges onto pairs without a length: {missing[1]}")
            shift = delays.shift_problem(conn, surrogate)
            if shift is not None:
                raise ConfigError.at(field, f"null model {model.name!r} {shift}")


def check_groups(study: Study, connectomes: dict[str, Connectome]) -> None:
    """Every task of every cell finds its region groups in that cell's connectome."""
    problems: list[tuple[str, str]] = []
    for cell in study.cells:
        conn = connectomes[cell.key]
        neuron = cell.study.brain.neuron
        needs = neuron.required_groups() if isinstance(neuron, NamesGroups) else {}
        for param, groups in needs.items():
            for g in groups:
                if g not in conn.groups:
                    problem = (
                        f"brain.neuron.{param}",
                        f"names region group {g!r}, which connectome {conn.name!r} lacks (it has: "
                        f"{', '.join(sorted(conn.groups)) or 'none'}); define it under connectome.groups or change {param}",
                    )
                    if problem not in problems:
                        problems.append(problem)
        for i, task in enumerate(cell.study.protocol):
            for g in task.required_groups():
                if g not in conn.groups:
                    own = cell.study.protocol == study.protocol and cell.study.connectome == study.connectome
                    where = f"protocol[{i}]" if own else f"protocol[{i}] (cell {cell.key})"
                    problem = (
                        where,
                        f"task {task.name!r} needs region group {g!r}, which connectome {conn.name!r} lacks "
                        f"(it has: {', '.join(sorted(conn.groups)) or 'none'}); define it under connectome.groups",
                    )
                    if problem not in problems:
                        problems.append(problem)
    if problems:
        raise ConfigError(*problems)


def replicates_of(study: Study) -> tuple[Replicate, ...]:
    """Every replicate of every cell with its seed: cells in order, then index."""
    return tuple(
        Replicate(cell.condition, r, replicate_seed(study.seed, cell.condition, r, cell.levels), cell.key)
        for cell in study.cells
        for r in range(study.replicates)
    )


def prepare(path: str | Path, registry: Registry) -> Plan:
    """Validate a study file end to end without simulating.

    :raises ConfigError: for any problem in the file, its connectome or its groups.
    """
    study, digest = load_study(path, registry)
    return plan_for(study, digest)


def plan_for(study: Study, digest: str = "") -> Plan:
    """The plan of an already structured study (see :func:`prepare`)."""
    from encephagen.estimate import check_fits

    connectomes = _load_connectomes(study)
    check_groups(study, connectomes)
    check_wiring(study, connectomes)
    check_conditions(study, connectomes)
    check_devices(study)
    check_rules(study, connectomes)
    plan = Plan(study=study, connectomes=connectomes, study_hash=digest, replicates=replicates_of(study))
    check_fits(plan)
    return plan


def check_wiring(study: Study, connectomes: dict[str, Connectome]) -> None:
    """A cellular brain (``brain.cellular``) needs a neuron-level connectome, and a sparse connectome a cellular
    brain; refused here, not in every replicate."""
    from encephagen.engine import Cellular
    from encephagen.engine.build import check_storage

    for cell in study.cells:
        micro, conn = cell.study.brain.microcircuit, connectomes[cell.key]
        try:
            if isinstance(micro, Cellular):
                micro.check(conn)
            else:
                check_storage(conn, micro)
        except EncephagenError as exc:
            own = cell.study.brain == study.brain and cell.study.connectome == study.connectome
            raise (exc if own else type(exc)(*[(f, f"{m} (cell {cell.key})") for f, m in exc.problems])) from None


def check_rules(study: Study, connectomes: dict[str, Connectome]) -> None:
    """A learning rule that can tell, from the brain's parameters, that it would refuse every brain
    (``check_brain(microcircuit, connectome)``, e.g. weight bounds that do not hold the weights) fails here."""
    seen: set[tuple[str, str, str]] = set()
    for cell in study.cells:
        rule, brain = cell.study.learning_rule, cell.study.brain
        key = (repr(rule), repr(brain.microcircuit), connectomes[cell.key].name)
        if not isinstance(rule, ChecksBrain) or key in seen:
            continue
        seen.add(key)
        try:
            rule.check_brain(brain.microcircuit, connectomes[cell.key])
        except EncephagenError as exc:
            err = exc.prefixed("learning_rule")
            own = rule == study.learning_rule and brain == study.brain
            raise (err if own else type(err)(*[(f, f"{m} (cell {cell.key})") for f, m in err.problems])) from None


def check_devices(study: Study) -> None:
    """A cell that asks for CUDA fails at validation on a machine without it, not in every replicate."""
    if any(cell.study.brain.device.startswith("cuda") for cell in study.cells):
        from encephagen.engine.memory import resolve_device

        resolve_device("cuda")



def parameters_of(component: Any) -> dict[str, Any]:
    """A component's parameters (its attrs fields, nested ones as mappings; ``{}`` for another class) as JSON values."""
    params = attrs.asdict(component) if attrs.has(type(component)) else {}
    return json.loads(json.dumps(params, default=repr))


def cell_info(cell: Cell, connectome: Connectome) -> dict[str, Any]:
    """What one brain of ``cell`` is: neurons, expected synapses, rule, tasks, connectome (closed form, nothing drawn).

    ``parameters`` holds every component's parameters with their defaults filled
    in: ``microcircuit``, ``neuron``, ``delays`` (``None`` without), ``learning_rule``
    (``None`` without) and ``protocol``, a ``{"task": label, "kind": name, "parameters": ...}`` per task.
    """
    from encephagen.design import labels

    brain = cell.study.brain
    micro = brain.microcircuit
    internal, between = micro.expected_synapses(connectome)
    rule = cell.study.learning_rule
    null = cell.study.conditions[0].null_model
    return {
        "connectome": connectome.name,
        "connectome_sha256": connectome.digest(),
        "null_model": null.name if null is not None else "",
        "regions": connectome.n_regions,
        "neurons_per_region": micro.neurons_per_region,
        "neurons": connectome.n_regions * micro.neurons_per_region,
        "synapses": int(round(internal + between)),
        "neuron": brain.neuron.name,
        "coupling": getattr(micro, "coupling", None),  # a cellular brain has none
        "delays": brain.delays is not None,
        "rule": rule.name if rule is not None else "none",
        "tasks": labels([t.name for t in cell.study.protocol]),
        "metrics": describe_metrics(cell.study.protocol),
        "parameters": {
            "microcircuit": parameters_of(micro),
            "neuron": {"kind": brain.neuron.name, "parameters": parameters_of(brain.neuron)},
            "delays": None if brain.delays is None else parameters_of(brain.delays),
            "learning_rule": None if rule is None else {"kind": rule.name, "parameters": parameters_of(rule)},
            "protocol": [
                {"task": label, "kind": t.name, "parameters": parameters_of(t)}
                for label, t in zip(labels([t.name for t in cell.study.protocol]), cell.study.protocol)
            ],
        },
    }


def describe_metrics(protocol: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """Task label -> the descriptions of its metrics and series (tasks that describe them only)."""
    from encephagen.design import labels
    from encephagen.interfaces import DescribesMetrics

    return {
        label: [m.as_dict() for m in task.metrics()]
        for label, task in zip(labels([t.name for t in protocol]), protocol)
        if isinstance(task, DescribesMetrics)
    }


def wiring_info(cell: Cell, connectome: Connectome) -> dict[str, Any]:
    """The between-region wiring of one brain of ``cell``, in expectation (closed form over its connection probabilities).

    ``between_share`` is the share of its synapses that join two regions,
    ``between_input_share`` their share of the summed absolute synaptic weight,
    ``filled_length_synapses`` how many of them lie on a pair whose tract length
    was filled (``connectome.missing_lengths``; ``None`` when delays do not use
    tract lengths). A null-model cell is described by its replicate 0's draw,
    the surrogate that brain is built from; a draw that fails leaves the keys out
    (the replicate then fails on its own).
    """
    from encephagen.engine import Cellular

    brain = cell.study.brain
    micro, delays, model = brain.microcircuit, brain.delays, cell.study.conditions[0].null_model
    if isinstance(micro, Cellular):
        return {}  # every synapse joins two nodes: there is no region-level share to report
    conn = connectome
    if model is not None:
        seed = replicate_seed(cell.study.seed, cell.condition, 0, cell.levels)
        try:
            conn = model.randomize(connectome, stream_rng(seed, "null_model"))
        except EncephagenError:
            return {}
    internal, between = micro.expected_synapses(conn)
    w_internal, w_between = micro.expected_input(conn)
    filled = None
    if delays is not None and delays.source == "tract_lengths":
        on_filled = micro.edge_probabilities(conn)[conn.filled_lengths] if conn.filled_lengths is not None else np.zeros(0)
        filled = float(on_filled.sum()) * micro.n_exc * micro.neurons_per_region
    options = getattr(cell.study.connectome, "options", None)
    return {
        "between_synapses": between,
        "between_share": between / (internal + between) if internal + between > 0 else None,
        "between_input_share": w_between / (w_internal + w_between) if w_internal + w_between > 0 else None,
        "filled_length_synapses": filled,
        "normalize": options.normalize if options is not None else "none",
    }
