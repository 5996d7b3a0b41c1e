"""attrs validators shared by the study schema, the engine and every component's parameters.

Each raises ``TypeError`` (wrong kind of value) or ``ValueError`` (out of range)
with the field's name in quotes, which the study loader turns into one line
naming the field (``tasks[0].steps: 'steps' must be ...``). A plugin author may
use them too::

    from encephagen import validators as ev

    rate: float = attrs.field(default=1.0, validator=[ev.finite, attrs.validators.gt(0.0)])
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

Validator = Callable[[Any, attrs.Attribute, Any], None]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def finite(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """A finite number (not a bool)."""
    if not _is_number(value):
        raise TypeError(f"'{att.name}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"'{att.name}' must be a finite number, got {value!r}")


def integer(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """An integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"'{att.name}' must be an integer, got {value!r}")


def at_least(low: int, why: str = "") -> Validator:
    """An integer ``>= low``; ``why`` is added to the message in parentheses."""
    reason = f" ({why})" if why else ""
    noun = "a positive integer" if low == 1 else f"an integer of at least {low}"

    def check(inst: Any, att: attrs.Attribute, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"'{att.name}' must be {noun}{reason}, got {value!r}")

    return check


positive_int = at_least(1)


def seed(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """A 64-bit seed: an integer in ``[0, 2**63)``."""
    integer(inst, att, value)
    if value < 0:
        raise ValueError(f"'{att.name}' must be >= 0, got {value}")
    if value >= 2**63:
        raise ValueError(f"'{att.name}' must be below 2**63 (a 64-bit seed), got {value}")


def non_negative(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """A finite number ``>= 0``."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"'{att.name}' must be finite and >= 0, got {value!r}")


def fraction(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """A share in ``(0, 1]``."""
    if not _is_number(value) or not 0.0 < value <= 1.0:
        raise ValueError(f"'{att.name}' must be in (0, 1], got {value!r}")


def probability(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """A probability in ``[0, 1]``."""
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"'{att.name}' must be a probability in [0, 1], got {value!r}")


def is_identifier(value: Any) -> bool:
    """Whether ``value`` is a short name of letters, digits, ``_``, ``-`` and ``.`` (a condition or factor name)."""
    return isinstance(value, str) and _NAME_RE.match(value) is not None


def identifier(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """A name that passes :func:`is_identifier`."""
    if not is_identifier(value):
        raise ValueError(f"'{att.name}' must be a short name of letters, digits, '_', '-', '.', got {value!r}")


def file_path(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """A non-empty path string."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"'{att.name}' must be a non-empty file path, got {value!r}")


def optional(check: Validator) -> Validator:
    """``None`` or a value that passes ``check``."""

    def run(inst: Any, att: attrs.Attribute, value: Any) -> None:
        if value is not None:
            check(inst, att, value)

    return run


def group_names(inst: Any, att: attrs.Attribute, value: Any) -> None:
    """A sequence of non-empty region group names."""
    for g in value:
        if not isinstance(g, str) or not g:
            raise TypeError(f"'{att.name}' must list region group names, got {g!r}")


def group_numbers(what: str = "a finite number", positive: bool = False) -> Validator:
    """A mapping ``{region group name: number}``; ``what`` names the number in the message."""

    def check(inst: Any, att: attrs.Attribute, value: Any) -> None:
        if not isinstance(value, Mapping):
            raise TypeError(f"'{att.name}' must be a mapping of region group name -> {what}, got {value!r}")
        for k, x in value.items():
            if not isinstance(k, str) or not k:
                raise TypeError(f"'{att.name}' keys must be region group names, got {k!r}")
            if not _is_number(x) or not math.isfinite(x) or (positive and x <= 0):
                raise ValueError(f"'{att.name}[{k}]' must be {what}, got {x!r}")

    return check
