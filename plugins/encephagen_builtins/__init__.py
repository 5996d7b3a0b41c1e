"""The built-in plugins of encephagen.

They are registered through the same entry-point group (``encephagen``) that a
third-party distribution uses: this module is the entry point, and each hook
returns the component classes of one sibling module.
"""

from __future__ import annotations

from encephagen import hookimpl


@hookimpl
def encephagen_register_connectomes() -> list[type]:
    from encephagen_builtins.connectomes import CONNECTOMES

    return list(CONNECTOMES)


@hookimpl
def encephagen_register_null_models() -> list[type]:
    from encephagen_builtins.null_models import NULL_MODELS

    return list(NULL_MODELS)


@hookimpl
def encephagen_register_neuron_models() -> list[type]:
    from encephagen_builtins.neurons import NEURON_MODELS

    return list(NEURON_MODELS)


@hookimpl
def encephagen_register_learning_rules() -> list[type]:
    from encephagen_builtins.learning_rules import LEARNING_RULES

    return list(LEARNING_RULES)


@hookimpl
def encephagen_register_tasks() -> list[type]:
    from encephagen_builtins.tasks import TASKS

    return list(TASKS)


@hookimpl
def encephagen_register_executors() -> list[type]:
    from encephagen_builtins.executors import EXECUTORS

    return list(EXECUTORS)
