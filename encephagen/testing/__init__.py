"""The conformance kit: checks a third-party plugin runs in its own test suite.

Modelled on scikit-learn's ``check_estimator``: many small ``check_*``
functions, each asserting one property of the contract, and
:func:`parametrize_with_checks`, which runs every check of every kind on the
components given. See ``docs/plugin-guide.md``.
"""

from encephagen.testing.checks import (
    check_component_class,
    check_connectome_source,
    check_null_model_invariants,
    check_null_model_keeps_anatomy,
    check_null_model_pure,
    check_null_model_seeded,
    null_model_checks,
)
from encephagen.testing.kit import (
    all_checks,
    checks_for_kind,
    parametrize_with_checks,
    tiny_brain,
    task_groups,
    tiny_connectome,
)
from encephagen.testing.learning import check_learning_rule, learning_rule_checks, small_network

__all__ = [
    "check_component_class",
    "check_connectome_source",
    "check_null_model_invariants",
    "check_null_model_keeps_anatomy",
    "check_null_model_pure",
    "check_null_model_seeded",
    "null_model_checks",
    "check_learning_rule",
    "learning_rule_checks",
    "small_network",
    "all_checks",
    "checks_for_kind",
    "parametrize_with_checks",
    "tiny_brain",
    "task_groups",
    "tiny_connectome",
]
