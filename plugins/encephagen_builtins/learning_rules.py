"""The learning rules this distribution registers (kind ``learning_rule``)."""

from __future__ import annotations

from encephagen_builtins.learning import EProp, Hebbian, ThreeFactorSTDP

#: Registered by :func:`encephagen_builtins.encephagen_register_learning_rules`.
LEARNING_RULES: tuple[type, ...] = (EProp, Hebbian, ThreeFactorSTDP)

__all__ = ["LEARNING_RULES", "EProp", "Hebbian", "ThreeFactorSTDP"]
