"""The contract of each component kind, checked when a plugin registers its classes.

:data:`REQUIRED` lists, per kind, the methods a component class must define
and the arguments each must accept (after ``self``); :func:`check_component`
refuses a class that breaks it with one line that says what to write
instead. The checks read the class only (its attributes and the signatures
of its methods); nothing is instantiated or called. The conformance kit
(:mod:`encephagen.testing`) checks behaviour.

:func:`per_brain` checks what a task's ``run`` returned against
:data:`encephagen.interfaces.TaskResult`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from encephagen.interfaces import DEFAULT_ROLES, KINDS

#: kind -> method -> the argument names it is called with (positionally, after ``self``).
REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "connectome": {"load": ()},
    "null_model": {"randomize": ("connectome", "rng")},
    "neuron_model": {"dynamics": ("network",)},
    "learning_rule": {"bind": ("network", "generator")},
    "task": {"required_groups": (), "run": ("brain", "context")},
    "executor": {"map": ("fn", "items")},
}

#: kind -> class attributes (or attrs fields) it must carry, with what they mean.
REQUIRED_ATTRIBUTES: dict[str, dict[str, str]] = {
    "null_model": {"invariants": "a tuple of the invariant names it preserves (see encephagen.invariants.INVARIANTS)"},
    "neuron_model": {
        "v_thr": "the threshold above rest (mV)",
        "tau_m": "the membrane time constant (ms)",
        "t_ref": "the refractory period (ms)",
    },
}


def _accepts(cls: type, method: str, args: tuple[str, ...]) -> str:
    """Why ``cls.<method>`` cannot be called on an instance with ``args``, or ""."""
    try:
        sig = inspect.signature(getattr(cls, method))
    except (TypeError, ValueError):
        return ""  # a builtin or C method: its signature cannot be read, so it is trusted
    params = list(sig.parameters.values())
    if not isinstance(inspect.getattr_static(cls, method), (staticmethod, classmethod)):
        params = params[1:]  # self
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return ""
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    extra_kw = [p for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if len(required) > len(args) or len(positional) < len(args) or extra_kw:
        return f"takes ({', '.join(p.name for p in params)})"
    return ""


def component_problem(kind: str, cls: Any) -> str:
    """What is wrong with ``cls`` as a component of ``kind`` (one line saying the fix), or "" when nothing is."""
    from encephagen.invariants import INVARIANTS

    if kind not in KINDS:
        return f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}"
    if not isinstance(cls, type):
        return f"{cls!r} is not a class; a registration hook returns a list of component classes"
    if not attrs.has(cls):
        return "is not an attrs class; decorate it with @attrs.frozen (its fields are its parameters)"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        return "has no class variable `name`; add `name: ClassVar[str] = \"...\"` (its kind: in study files)"
    if name in {a.name for a in attrs.fields(cls)}:
        return "`name` is a parameter; declare it as `name: ClassVar[str] = ...`"
    for method, args in REQUIRED[kind].items():
        fn = getattr(cls, method, None)
        want = f"def {method}(self{''.join(', ' + a for a in args)})"
        if fn is None or not callable(fn):
            return f"has no method {method}(); a {kind.replace('_', ' ')} defines `{want}`"
        why = _accepts(cls, method, args)
        if why:
            default = " (generator may default to None)" if method == "bind" else ""
            return f"{method}() {why}, but it is called as `{want}`{default}"
    fields = {a.name for a in attrs.fields(cls)}
    for attr, meaning in REQUIRED_ATTRIBUTES.get(kind, {}).items():
        if attr not in fields and not hasattr(cls, attr):
            return f"has no `{attr}`: {meaning}"
    if kind == "null_model":
        declared = getattr(cls, "invariants", ())
        if isinstance(declared, str) or not isinstance(declared, (tuple, list)):
            return f"`invariants` is {declared!r}; make it a tuple of names, e.g. ('n_edges',)"
        unknown = [n for n in declared if n not in INVARIANTS]
        if unknown:
            return f"declares unknown invariants {unknown}; known: {', '.join(INVARIANTS)}"
    role = vars(cls).get("default")
    if role is not None and role not in DEFAULT_ROLES.get(kind, ()):
        roles = DEFAULT_ROLES.get(kind, ())
        return f"`default = {role!r}` is not a role of its kind ({', '.join(map(repr, roles)) or 'none'})"
    return ""


def per_brain(task: str, out: Any, n_brains: int) -> list[dict[str, float]]:
    """One ``{metric: value}`` per brain from what task ``task``'s ``run`` returned.

    :raises ValueError: with one line naming the task and metric, when ``out``
        is not a mapping of metric name -> one number per brain (a plain number
        is accepted for a batch of one brain).
    """
    if not isinstance(out, Mapping):
        raise ValueError(f"task {task!r} returned {type(out).__name__}, not a mapping of metric name -> values")
    rows: list[dict[str, float]] = [{} for _ in range(n_brains)]
    for metric, value in out.items():
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"task {task!r} returned a metric named {metric!r}; name metrics with strings")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"task {task!r}: metric {metric!r} is {value!r}, not numbers") from None
        if arr.ndim == 0 and n_brains == 1:
            arr = arr.reshape(1)
        if arr.shape != (n_brains,):
            raise ValueError(
                f"task {task!r}: metric {metric!r} has shape {arr.shape}; return one value per brain "
                f"(a sequence of {n_brains}, in the order of the batch)"
            )
        for b in range(n_brains):
            rows[b][metric] = float(arr[b])
    return rows
