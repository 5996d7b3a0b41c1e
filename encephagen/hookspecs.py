"""Every hook of encephagen, documented.

A plugin is a module (or object) with functions marked
``@encephagen.hookimpl`` whose names match the specs below. Each registration
hook returns a list of component classes; every class carries a ``name``
class variable (its ``kind:`` in a study file) and is an ``attrs`` class whose
fields are its parameters. See :mod:`encephagen.interfaces` for what each kind
implements.

Hooks are collected, not raced: every plugin's classes are gathered into the
registry, and a name registered twice is an error that names both
distributions. Registration order never changes behaviour.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("encephagen")


# -- components -------------------------------------------------------------------


@hookspec
def encephagen_register_connectomes() -> list[type]:
    """Return connectome source classes.

    Each class implements :class:`~encephagen.interfaces.ConnectomeSource`:
    ``load() -> Connectome`` with weights read rows = sources.
    The caller adds every class to the registry under kind ``connectome``.
    """


@hookspec
def encephagen_register_null_models() -> list[type]:
    """Return null-model classes.

    Each class implements :class:`~encephagen.interfaces.NullModel`:
    ``randomize(connectome, rng) -> Connectome`` and declares the
    ``invariants`` it preserves (names in :data:`encephagen.invariants.INVARIANTS`).
    The caller adds every class to the registry under kind ``null_model``.
    """


@hookspec
def encephagen_register_neuron_models() -> list[type]:
    """Return neuron-model classes.

    Each class implements :class:`~encephagen.interfaces.NeuronModel`
    (time constants in ms, potentials in mV).
    The caller adds every class to the registry under kind ``neuron_model``.
    """


@hookspec
def encephagen_register_learning_rules() -> list[type]:
    """Return learning-rule classes.

    Each class implements :class:`~encephagen.interfaces.LearningRule`:
    ``bind(network) -> Learner``, a learner holding per-synapse state.
    The caller adds every class to the registry under kind ``learning_rule``.
    """


@hookspec
def encephagen_register_tasks() -> list[type]:
    """Return task classes.

    Each class implements :class:`~encephagen.interfaces.Task`:
    ``required_groups()`` and ``run(brain, context) -> metrics``.
    The caller adds every class to the registry under kind ``task``.
    """


# -- running studies ------------------------------------------------------------------


@hookspec
def encephagen_register_executors() -> list[type]:
    """Return executor classes.

    Each class implements :class:`~encephagen.interfaces.Executor`:
    ``map(fn, items)`` yields ``(item, result)`` pairs as replicates finish.
    The caller adds every class to the registry under kind ``executor``.
    """
