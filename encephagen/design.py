"""The cells of a study: conditions crossed with factor levels, each a full study of its own.

A study file holds defaults (``connectome``, ``brain``, ``learning_rule``,
``protocol``), conditions, and optionally ``factors``::

    conditions:
      - {name: connectome}
      - {name: rewired, null_model: {kind: degree_preserving}}
      - {name: no_learning, learning_rule: null}
    factors:
      coupling:
        low:  {brain: {coupling: 0.10}}
        high: {brain: {coupling: 0.30}}

A **cell** is one condition with one level of every factor (here 3 x 2 = 6
cells). Its document is the study's defaults with the condition's overrides
and then each level's overrides deep-merged in (:func:`merge`):

- a mapping merges key by key (``brain: {coupling: 0.3}`` keeps every other
  ``brain`` key);
- a component whose ``kind:`` differs from the default's replaces it whole
  (``learning_rule: {kind: hebbian}`` drops e-prop's ``lr``); with the same
  ``kind:`` (or none) its parameters merge;
- ``null`` is a value: ``learning_rule: null`` is "no learning",
  ``brain: {delays: null}`` "no delays";
- a list replaces the whole list, except that ``protocol:`` may also be a
  mapping ``{task label: {parameter: value}}`` that changes parameters of
  the study's tasks (labels as in the results: ``conditioning``, ``warmup#2``).

Each cell's document is structured with the same schema as the study, so an
override's mistake is reported at its own place in the file
(``conditions[2].learning_rule.lr: ...``, ``factors.coupling.high.brain.coupling: ...``).
The cell's **fingerprint** hashes everything that makes its brains (the study
seed, connectome, brain, learning rule, protocol, null model; not
``brain.batch``, which never changes a number): a resumed study may add
replicates, levels or conditions, and refuses a change to a finished cell.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import attrs

from encephagen.config import OVERRIDE_KEYS, UNSET, BrainSpec, Kind, Study
from encephagen.errors import ConfigError, EncephagenError

#: The most brains (cells x replicates) a study may plan.
MAX_BRAINS = 1_000_000

#: ``structure(document, cls)``: structures a section, raising :class:`ConfigError` with relative paths.
Structure = Callable[[Any, Any], Any]

_NULL_MODEL = Annotated[Any, Kind("null_model")] | None
_TYPES: dict[str, Any] = {
    "connectome": Annotated[Any, Kind("connectome")],
    "brain": BrainSpec,
    "learning_rule": Annotated[Any, Kind("learning_rule")] | None,
    "protocol": list[Annotated[Any, Kind("task")]],
}


def labels(names: Sequence[str]) -> list[str]:
    """One label per task name: the name, with ``#i`` (1-based) when a protocol repeats it."""
    totals = Counter(names)
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if totals[n] == 1 else f"{n}#{seen[n]}")
    return out


@attrs.frozen
class Cell:
    """One condition at one level of every factor.

    :ivar key: the store's name of the cell: the condition, then
        ``/factor=level`` per factor in name order (``rewired/coupling=low``).
    :ivar condition: the condition's name.
    :ivar levels: ``(factor, level)`` per factor, in file order.
    :ivar study: the study as this cell runs it: its own connectome, brain,
        learning rule and protocol, its one condition (with the cell's null
        model), no factors.
    :ivar changes: ``(path, value)`` where the cell differs from the study's defaults.
    :ivar document: the merged sections that make its brains.
    :ivar fingerprint: SHA-256 of ``document`` and the study seed.
    """

    key: str
    condition: str
    levels: tuple[tuple[str, str], ...]
    study: Study = attrs.field(eq=False, repr=False)
    changes: tuple[tuple[str, str], ...]
    document: Mapping[str, Any] = attrs.field(eq=False, repr=False)
    fingerprint: str

    @property
    def label(self) -> str:
        """For tables and plots: ``rewired, coupling=low``."""
        return ", ".join([self.condition, *(f"{f}={lv}" for f, lv in self.levels)])


def cell_key(condition: str, levels: Sequence[tuple[str, str]]) -> str:
    """The store's name of a cell (independent of the order factors are written in)."""
    return condition + "".join(f"/{f}={lv}" for f, lv in sorted(levels))


# -- merging -----------------------------------------------------------------------------


def _kind(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return value.get("kind")
    return None


def merge(base: Any, override: Any, where: str, path: str, origins: dict[str, str]) -> Any:
    """``override`` deep-merged into ``base`` (see the module docstring).

    :param where: the override's place in the study file (for error messages).
    :param path: the merged value's place in the cell document.
    :param origins: filled with ``{document path: study-file path}`` for every value the override set.
    """
    if override is UNSET:
        return base
    if isinstance(override, Mapping) and isinstance(base, (Mapping, str)):
        if "kind" in override and override["kind"] != _kind(base):
            origins[path] = where
            return dict(override)
        out = dict(base) if isinstance(base, Mapping) else {"kind": base}
        for k, v in override.items():
            out[k] = merge(out[k], v, f"{where}.{k}", f"{path}.{k}", origins) if k in out else _set(v, f"{where}.{k}", f"{path}.{k}", origins)
        return out
    return _set(override, where, path, origins)


def _set(value: Any, where: str, path: str, origins: dict[str, str]) -> Any:
    origins[path] = where
    return value


def merge_protocol(base: list[Any], override: Any, where: str, origins: dict[str, str]) -> list[Any]:
    """A protocol override: a whole list, or ``{task label: partial task}``."""
    if override is UNSET:
        return base
    if isinstance(override, list):
        return _set(list(override), where, "protocol", origins)
    if not isinstance(override, Mapping):
        raise ConfigError.at(where, f"expected a list of tasks or a mapping {{task label: {{parameter: value}}}}, got {override!r}")
    names = labels([str(_kind(t)) for t in base])
    out = list(base)
    for label, change in override.items():
        if label not in names:
            raise ConfigError.at(f"{where}.{label}", f"no task labelled {label!r} in the protocol (labels: {', '.join(names)})")
        i = names.index(label)
        out[i] = merge(out[i], change, f"{where}.{label}", f"protocol[{i}]", origins)
    return out


def _origin(path: str, origins: Mapping[str, str]) -> str | None:
    """The study-file path of a document path: through the longest overridden prefix."""
    best = None
    for p in origins:
        if (path == p or path.startswith((p + ".", p + "["))) and (best is None or len(p) > len(best)):
            best = p
    return None if best is None else origins[best] + path[len(best):]


#: Marks a key that one side of :func:`differences` lacks.
MISSING = object()


def short(value: Any) -> str:
    """A value as compact JSON, cut at 60 characters."""
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(old: Any, new: Any, path: str = "", whole_components: bool = False) -> list[tuple[str, Any, Any]]:
    """``(path, old value, new value)`` wherever two parsed YAML documents differ (:data:`MISSING` for an absent key).

    :param whole_components: a component whose ``kind:`` changed is one difference, not one per parameter.
    """
    if isinstance(old, Mapping) and isinstance(new, Mapping) and not (whole_components and _kind(old) != _kind(new)):
        out = []
        for k in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{k}" if path else str(k)
            out += differences(old.get(k, MISSING), new.get(k, MISSING), sub, whole_components)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{path}[{i}]", whole_components)]
    return [] if old == new else [(path, old, new)]


def changes(base: Any, new: Any) -> list[tuple[str, str]]:
    """``(path, new value)`` wherever ``new`` differs from ``base`` (a replaced component counts once)."""
    return [(p, "removed" if b is MISSING else short(b)) for p, _, b in differences(base, new, whole_components=True)]


# -- cells -------------------------------------------------------------------------------


def _overrides(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in OVERRIDE_KEYS}


def fingerprint(seed: int, document: Mapping[str, Any]) -> str:
    """SHA-256 of what makes a cell's brains (``brain.batch`` left out: it changes no number)."""
    doc = dict(document)
    doc["brain"] = {k: v for k, v in dict(doc.get("brain") or {}).items() if k != "batch"}
    text = json.dumps({"seed": seed, **doc}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _resolve(
    study: Study,
    defaults: Mapping[str, Any],
    parts: Sequence[tuple[str, Mapping[str, Any]]],
    structure: Structure,
    context: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge ``parts`` (``(where, overrides)``) into ``defaults``; structure each section.

    :returns: the merged document and the structured sections.
    :raises ConfigError: with each problem at its place in the study file.
    """
    origins: dict[str, str] = {}
    doc = dict(defaults)
    for where, over in parts:
        for key in OVERRIDE_KEYS:
            if key == "protocol":
                doc[key] = merge_protocol(doc[key], over[key], f"{where}.protocol", origins)
            else:
                doc[key] = merge(doc[key], over[key], f"{where}.{key}", key, origins)
    structured, problems = {}, []
    for key in OVERRIDE_KEYS:
        value = doc[key]
        if key == "brain" and value is None:
            value = {}
        if key in origins or any(p.startswith((key + ".", key + "[")) for p in origins):
            try:
                structured[key] = structure(value, _TYPES[key])
            except EncephagenError as exc:
                for sub, message in exc.problems:
                    full = f"{key}.{sub}" if sub and not sub.startswith("[") else f"{key}{sub}"
                    at = _origin(full, origins)
                    problems.append((at, message) if at else (full, f"{message} (in {context})"))
        else:
            structured[key] = getattr(study, key)
    if "protocol" in structured and not structured["protocol"]:
        problems.append((_origin("protocol", origins) or "protocol", "needs at least one task"))
    if problems:
        raise ConfigError(*problems)
    return doc, structured


def cells_of(study: Study, data: Mapping[str, Any], structure: Structure) -> tuple[Cell, ...]:
    """Every cell of ``study`` (conditions in file order, then factor levels in file order).

    :param data: the study file's parsed document (the defaults are merged as written).
    :param structure: structures one section (see :data:`Structure`).
    :raises ConfigError: an override that does not structure, at its place in the file.
    """
    defaults = {k: data.get(k) for k in OVERRIDE_KEYS}
    defaults["brain"] = data.get("brain") or {}
    raw_conditions = data.get("conditions") or []
    conds = [(f"conditions[{i}]", c) for i, c in enumerate(study.conditions)]
    levels = [[(f"factors.{f}.{lv}", f, lv, spec) for lv, spec in lvs.items()] for f, lvs in study.factors.items()]
    n_cells = len(conds) * math.prod(len(axis) for axis in levels)
    if n_cells * study.replicates > MAX_BRAINS:
        raise ConfigError.at(
            "factors" if levels else "replicates",
            f"{n_cells:,} cells x {study.replicates:,} replicates is more than {MAX_BRAINS:,} brains; "
            "use fewer levels, conditions or replicates",
        )
    # Each override alone first, so that a mistake is reported once, at its place.
    problems: list[tuple[str, str]] = []
    for where, over in [*((w, c) for w, c in conds), *((w, spec) for axis in levels for w, _, _, spec in axis)]:
        try:
            _resolve(study, defaults, [(where, _overrides(over))], structure, where)
        except ConfigError as exc:
            problems += [p for p in exc.problems if p not in problems]
    nulls = {}  # a level's null model, structured once
    for axis in levels:
        for w, _, _, spec in axis:
            if spec.null_model is not UNSET:
                try:
                    nulls[w] = structure(spec.null_model, _NULL_MODEL)
                except EncephagenError as exc:
                    problems += [p for p in exc.prefixed(f"{w}.null_model").problems if p not in problems]
    if problems:
        raise ConfigError(*problems)
    cells = []
    for (where, cond), raw in zip(conds, raw_conditions):
        for combo in itertools.product(*levels) if levels else [()]:
            parts = [(where, _overrides(cond)), *((w, _overrides(spec)) for w, _, _, spec in combo)]
            named = tuple((f, lv) for _, f, lv, _ in combo)
            key = cell_key(cond.name, named)
            doc, sections = _resolve(study, defaults, parts, structure, f"cell {key}")
            null = raw.get("null_model") if isinstance(raw, Mapping) else None
            null_model = cond.null_model
            for w, _, _, spec in combo:  # a level's null model replaces the condition's
                if spec.null_model is not UNSET:
                    null, null_model = spec.null_model, nulls[w]
            document = {**doc, "null_model": null}
            own = attrs.evolve(cond, null_model=null_model, **dict.fromkeys(OVERRIDE_KEYS, UNSET))
            cell_study = attrs.evolve(study, conditions=[own], factors={}, cells=(), **sections)
            cells.append(
                Cell(
                    key=key,
                    condition=cond.name,
                    levels=named,
                    study=cell_study,
                    changes=tuple(changes(defaults, doc)),
                    document=document,
                    fingerprint=fingerprint(study.seed, document),
                )
            )
    return tuple(cells)

