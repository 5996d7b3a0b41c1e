"""From a study file to an execution plan: validation that needs no simulation.

:func:`prepare` reads the study, loads the connectome, checks that every
task finds the region groups it needs, draws each null model once to check
that it keeps the anatomy and its declared invariants, and lists the
replicates with their seeds. Everything here is cheap; nothing is simulated.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import attrs
import numpy as np

from encephagen.config import Study, load_study
from encephagen.connectome import Connectome
from encephagen.errors import ConfigError, EncephagenError
from encephagen.registry import Registry

#: Sub-streams of a replicate seed, one per use, so that adding a use never
#: shifts the numbers of another.
STREAMS: dict[str, int] = {"null_model": 0, "wiring": 1, "state": 2, "stimulus": 3, "learning": 4}


def replicate_seed(study_seed: int, condition: str, replicate: int) -> int:
    """The recorded seed of one replicate (a 63-bit integer).

    Derived from the study seed, the condition's name (not its position, so
    reordering conditions changes nothing) and the replicate index.
    """
    ss = np.random.SeedSequence(entropy=study_seed, spawn_key=(zlib.crc32(condition.encode()), replicate))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one use (see :data:`STREAMS`) of a replicate seed."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(STREAMS[stream],))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """A numpy generator for one use of a replicate seed."""
    return np.random.default_rng(stream_seed(seed, stream))


@attrs.frozen
class Replicate:
    """One brain to simulate."""

    condition: str
    index: int
    seed: int


@attrs.frozen
class Plan:
    """A validated study, its connectome and its replicates."""

    study: Study
    connectome: Connectome
    study_hash: str
    replicates: tuple[Replicate, ...]

    def condition(self, name: str):
        """The :class:`~encephagen.config.Condition` called ``name``."""
        return next(c for c in self.study.conditions if c.name == name)


def _load_connectome(study: Study) -> Connectome:
    try:
        return study.connectome.load()
    except EncephagenError as exc:
        raise exc.prefixed("connectome") from None


def check_conditions(study: Study, conn: Connectome) -> None:
    """Draw each null model once and refuse one that changes anything but the wiring."""
    from encephagen.invariants import check_invariants

    for i, cond in enumerate(study.conditions):
        if cond.null_model is None:
            continue
        field = f"conditions[{i}].null_model"
        try:
            surrogate = cond.null_model.randomize(conn, np.random.default_rng(0))
        except EncephagenError as exc:
            raise exc.prefixed(field) from None
        diffs = conn.anatomy_differences(surrogate)
        if diffs:
            raise ConfigError.at(
                field,
                f"null model {cond.null_model.name!r} changed {', '.join(diffs)} as well as the wiring; "
                "conditions may differ only in the wiring under test",
            )
        violations = check_invariants(cond.null_model, conn, surrogate)
        if violations:
            raise ConfigError.at(field, f"null model {cond.null_model.name!r} broke its declared invariants: {'; '.join(violations)}")


def check_groups(study: Study, conn: Connectome) -> None:
    """Every task's region groups exist in the connectome."""
    problems = []
    for i, task in enumerate(study.protocol):
        for g in task.required_groups():
            if g not in conn.groups:
                problems.append(
                    (
                        f"protocol[{i}]",
                        f"task {task.name!r} needs region group {g!r}, which connectome {conn.name!r} lacks "
                        f"(it has: {', '.join(sorted(conn.groups)) or 'none'}); define it under connectome.groups",
                    )
                )
    if problems:
        raise ConfigError(*problems)


def replicates_of(study: Study) -> tuple[Replicate, ...]:
    """Every (condition, replicate) with its seed, conditions in file order."""
    return tuple(
        Replicate(c.name, r, replicate_seed(study.seed, c.name, r)) for c in study.conditions for r in range(study.replicates)
    )


def prepare(path: str | Path, registry: Registry) -> Plan:
    """Validate a study file end to end without simulating.

    :raises ConfigError: for any problem in the file, its connectome or its groups.
    """
    study, digest = load_study(path, registry)
    return plan_for(study, digest)


def plan_for(study: Study, digest: str = "") -> Plan:
    """The plan of an already structured study (see :func:`prepare`)."""
    conn = _load_connectome(study)
    check_groups(study, conn)
    check_conditions(study, conn)
    return Plan(study=study, connectome=conn, study_hash=digest, replicates=replicates_of(study))

