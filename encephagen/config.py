"""The study file: schema (attrs) and loading (cattrs).

A study file is YAML read with ``yaml.safe_load``. Each component is chosen by
``kind:``, and the other keys of its mapping are the fields of that
component's own attrs class, so a component validates its own parameters::

    name: eprop-connectome-vs-rewired
    seed: 2026
    replicates: 10
    connectome: {kind: tvb, dataset: connectivity_96}
    brain: {neuron: {kind: lif}, neurons_per_region: 200, coupling: 0.15}
    conditions:
      - {name: connectome}
      - {name: rewired, null_model: {kind: degree_preserving}}
    learning_rule: {kind: eprop, lr: 0.1, tau_e: 50}
    protocol:
      - {kind: warmup, steps: 3000}
      - {kind: conditioning, trials: 30}

Every problem is reported as ``field.path: message`` through
:class:`~encephagen.errors.ConfigError`; ``docs/study-file.md`` documents each key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, MutableSequence, Sequence
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import attrs
import cattrs
import yaml
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from encephagen.errors import ConfigError, EncephagenError
from encephagen import validators as ev
from encephagen.interfaces import KIND_WORDS
from encephagen.registry import Registry, close_matches


@attrs.frozen
class Kind:
    """Marks a field (``Annotated[Any, Kind("null_model")]``) as a component chosen by ``kind:``."""

    kind: str


class _Unset:
    """The value of an override key the study file does not set (``null`` is a value: "none")."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "unset"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"


#: An override key that is not set.
UNSET = _Unset()

#: The keys a condition or a factor level may override, in the order they are merged.
OVERRIDE_KEYS = ("connectome", "brain", "learning_rule", "protocol")


def _override(what: str) -> Any:
    return attrs.field(default=UNSET, metadata={"type": f"partial {what} (merged into the study's)", "default": "not set"})


@attrs.frozen
class Condition:
    """One arm of the comparison: the connectome as is, a null model of it, or any other override.

    Every key but ``name`` and ``null_model`` is a partial study section that
    is deep-merged into the study's own (see :mod:`encephagen.design`): a
    mapping merges key by key, a component with another ``kind:`` replaces
    the study's, ``null`` means none (``learning_rule: null``: no learning),
    a list replaces the whole list.

    :ivar name: label used in tables and plots.
    :ivar null_model: the null model that rewires the connectome for this
        condition, or ``None`` for the connectome itself.
    :ivar connectome: another connectome source, or parameters of the study's.
    :ivar brain: ``brain`` keys this condition changes (``coupling``, ``neuron``, ``delays``, ...).
    :ivar learning_rule: another rule, parameters of the study's, or ``null`` for no learning.
    :ivar protocol: a whole new task list, or ``{task label: {parameter: value}}`` for
        parameters of the study's tasks (labels as in results: ``conditioning``, ``warmup#2``).
    """

    name: str = attrs.field(validator=ev.identifier)
    null_model: Annotated[Any, Kind("null_model")] | None = None
    connectome: Any = _override("connectome")
    brain: Any = _override("brain")
    learning_rule: Any = _override("learning_rule")
    protocol: Any = _override("protocol")


@attrs.frozen
class Level:
    """One level of a factor: a partial study override, merged like a condition's.

    :ivar null_model: the null model of every condition at this level (it
        replaces the condition's), or ``null`` for the connectome as is; not
        set: each condition keeps its own. With it the wiring can be a factor
        and, say, the learning rule the conditions.
    :ivar connectome: another connectome source, or parameters of the study's.
    :ivar brain: ``brain`` keys this level changes.
    :ivar learning_rule: another rule, its parameters, or ``null`` for no learning.
    :ivar protocol: a new task list, or ``{task label: {parameter: value}}``.
    """

    null_model: Any = attrs.field(default=UNSET, metadata={"type": "null model (`kind:` + parameters) or null", "default": "not set"})
    connectome: Any = _override("connectome")
    brain: Any = _override("brain")
    learning_rule: Any = _override("learning_rule")
    protocol: Any = _override("protocol")


#: Test families a study may put under one Benjamini-Hochberg correction.
FAMILIES = ("comparisons", "omnibus", "interactions")


def _families(inst: Any, att: attrs.Attribute, value: list[str]) -> None:
    bad = [f for f in value if f not in FAMILIES]
    if bad or not value:
        raise ValueError(f"'{att.name}' lists test kinds among {', '.join(FAMILIES)} (at least one), got {value!r}")


@attrs.frozen
class Statistics:
    """Which comparisons a study makes and which of them share one false-discovery-rate family.

    :ivar comparisons: ``reference`` (every condition against the reference) or
        ``all_pairs`` (every pair of conditions), within each cell of the factors.
    :ivar fdr_family: the test kinds corrected together by Benjamini-Hochberg
        (``comparisons``, ``omnibus``, ``interactions``); the others are reported
        with their p-value and no q.
    :ivar permutations: permutations of the interaction test (p >= 1 / (permutations + 1)).
    """

    comparisons: str = attrs.field(default="reference", validator=attrs.validators.in_(("reference", "all_pairs")))
    fdr_family: list[str] = attrs.field(factory=lambda: ["comparisons", "interactions"], validator=_families)
    permutations: int = attrs.field(default=9999, validator=[attrs.validators.ge(99), attrs.validators.le(1_000_000)])


#: The figure file formats the report can write (``report.formats``).
FIGURE_FORMATS = ("png", "svg", "pdf")


def _formats(inst: Any, att: attrs.Attribute, value: list[str]) -> None:
    bad = [f for f in value if f not in FIGURE_FORMATS]
    if bad:
        raise ValueError(f"'{att.name}' lists figure formats among {', '.join(FIGURE_FORMATS)}, got {bad[0]!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"'{att.name}' names a format twice: {value!r}")
    if "png" not in value:
        raise ValueError(f"'{att.name}' must include png (report.html embeds the PNG figures), e.g. [png, svg, pdf]; got {value!r}")


@attrs.frozen
class Report:
    """How the report writes its figures.

    :ivar formats: the files written per figure into ``figures/``: ``png`` (always:
        the report shows it), ``svg`` and ``pdf`` (vector, text as TrueType in the PDF).
    :ivar dpi: dots per inch of the PNG files (and of the weight matrices inside the
        vector files); the figures' size in inches stays the same.
    """

    formats: list[str] = attrs.field(factory=lambda: ["png"], validator=_formats)
    dpi: int = attrs.field(default=100, validator=[ev.at_least(50, "dots per inch"), attrs.validators.le(1200)])


@attrs.frozen
class BrainSpec:
    """How regions become neurons, and how neurons are simulated.

    In the study file the :class:`~encephagen.engine.build.Microcircuit` keys
    (``neurons_per_region``, ``coupling``, ...) sit directly under ``brain``
    beside ``neuron``, ``delays``, ``device`` and ``batch``; or, for a
    neuron-level connectome, ``cellular: {...}`` (the
    :class:`~encephagen.engine.cellular.Cellular` keys) wires one neuron per
    node instead, and then no microcircuit key may appear.

    :ivar neuron: the neuron model (default ``lif``).
    :ivar microcircuit: neurons per region, connection probabilities, weights
        (a :class:`~encephagen.engine.build.Microcircuit`), or the
        :class:`~encephagen.engine.cellular.Cellular` wiring the study's
        ``brain.cellular`` gives.
    :ivar delays: conduction delays, or ``None`` for none.
    :ivar device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    :ivar batch: brains of one condition simulated together as one network
        (fills a GPU; on a CPU it saves nothing). Results do not depend on it.
    """

    neuron: Annotated[Any, Kind("neuron_model")]
    microcircuit: Any = attrs.field(metadata={"type": "Microcircuit (keys below)"})
    delays: Any = attrs.field(default=None, metadata={"type": "Delays (see `brain.delays`) or null"})
    device: str = attrs.field(default="auto", validator=attrs.validators.in_(("auto", "cpu", "cuda")))
    batch: int = attrs.field(default=1, validator=ev.positive_int)


@attrs.frozen
class Study:
    """A whole comparison study.

    :ivar name: a short name, used in reports.
    :ivar seed: the study seed; every replicate's seed derives from it.
    :ivar replicates: brains per cell (per condition when there are no factors).
    :ivar connectome: the connectome source, with the study's options for it
        (missing tract lengths, weight normalisation; see `connectome`).
    :ivar brain: microcircuit, neuron model, delays, device.
    :ivar conditions: the first one (or ``reference``) is the reference.
    :ivar factors: named axes crossed with the conditions and with each other:
        ``{factor: {level: partial override}}``; a cell is a condition with one
        level of every factor.
    :ivar learning_rule: the rule tasks attach during learning phases.
    :ivar protocol: tasks run in order on the same brain.
    :ivar reference: name of the reference condition (default: the first).
    :ivar alpha: significance level for winners and power estimates.
    :ivar statistics: comparisons, the false-discovery-rate family, permutations.
    :ivar report: the figures' file formats and resolution.
    :ivar executor: how replicates run (``serial`` when absent); the command
        line's ``--executor`` overrides it.
    """

    name: str = attrs.field(validator=ev.identifier)
    connectome: Annotated[Any, Kind("connectome")]
    conditions: list[Condition] = attrs.field(validator=attrs.validators.min_len(1))
    protocol: list[Annotated[Any, Kind("task")]] = attrs.field(validator=attrs.validators.min_len(1))
    replicates: int = attrs.field(default=10, validator=ev.positive_int)
    seed: int = attrs.field(default=0, validator=ev.seed)
    brain: BrainSpec = attrs.field(default=None, metadata={"type": "Brain (see `brain`)", "default": "all defaults"})
    factors: dict[str, dict[str, Level]] = attrs.field(
        factory=dict, metadata={"type": "mapping of factor -> level -> override (see `factors`)", "default": "none"}
    )
    learning_rule: Annotated[Any, Kind("learning_rule")] | None = None
    reference: str | None = None
    alpha: float = attrs.field(default=0.05, validator=[attrs.validators.gt(0.0), attrs.validators.lt(1.0)])
    statistics: Statistics = attrs.field(factory=Statistics, metadata={"type": "Statistics (see `statistics`)", "default": "defaults below"})
    report: Report = attrs.field(factory=Report, metadata={"type": "Report (see `report`)", "default": "defaults below"})
    executor: Annotated[Any, Kind("executor")] | None = None
    cells: tuple[Any, ...] = attrs.field(default=(), eq=False, repr=False, metadata={"internal": True})

    def reference_condition(self) -> Condition:
        """The condition every other one is compared with."""
        if self.reference is None:
            return self.conditions[0]
        return next(c for c in self.conditions if c.name == self.reference)


class _KindProblem(Exception):
    """Raised inside structuring; carries the sub-path and message."""

    def __init__(self, sub: str, message: str) -> None:
        super().__init__(message)
        self.sub = sub
        self.message = message


def _strict_scalar_hooks(conv: cattrs.Converter) -> None:
    def s_int(v: Any, _: type) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                return int(v)
            raise TypeError(f"expected an integer, got {v!r}")
        return v

    def s_float(v: Any, _: type) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"expected a number, got {v!r}")
        return float(v)

    def s_bool(v: Any, _: type) -> bool:
        if not isinstance(v, bool):
            raise TypeError(f"expected true or false, got {v!r}")
        return v

    def s_str(v: Any, _: type) -> str:
        if not isinstance(v, str):
            raise TypeError(f"expected a string, got {v!r}")
        return v

    def is_sequence(t: Any) -> bool:
        return get_origin(t) in (list, tuple, Sequence, MutableSequence) and not (
            get_origin(t) is tuple and (len(get_args(t)) != 2 or get_args(t)[1] is not Ellipsis)
        )

    def s_sequence(v: Any, t: Any) -> Any:
        if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, (list, tuple)):
            raise TypeError(f"expected a list, got {v!r}")
        item = get_args(t)[0] if get_args(t) else Any
        values, errors = [], []
        for i, x in enumerate(v):
            try:
                values.append(x if item is Any else conv.structure(x, item))
            except Exception as exc:  # noqa: BLE001 - re-raised with its index, as cattrs does
                exc.__notes__ = [*getattr(exc, "__notes__", []), IterableValidationNote(f"Structuring {t} @ index {i}", i, item)]
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {t!r}", errors, t)
        return tuple(values) if get_origin(t) is tuple else values

    conv.register_structure_hook_func(is_sequence, s_sequence)
    conv.register_structure_hook(int, s_int)
    conv.register_structure_hook(float, s_float)
    conv.register_structure_hook(bool, s_bool)
    conv.register_structure_hook(str, s_str)


def _kind_of(t: Any) -> str | None:
    if get_origin(t) is Annotated:
        for meta in get_args(t)[1:]:
            if isinstance(meta, Kind):
                return meta.kind
    return None


def make_converter(registry: Registry) -> cattrs.Converter:
    """A converter that structures study files against ``registry``."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    _strict_scalar_hooks(conv)

    def structure_component(value: Any, t: Any) -> Any:
        kind = _kind_of(t)
        assert kind is not None
        word = KIND_WORDS[kind]
        if isinstance(value, str):  # shorthand: `neuron: lif`
            value = {"kind": value}
        if not isinstance(value, Mapping):
            raise _KindProblem("", f"expected a mapping with 'kind:' naming a {word}, got {value!r}")
        if "kind" not in value:
            raise _KindProblem("", f"missing 'kind:' (available {word}s: {', '.join(registry.names(kind))})")
        name = value["kind"]
        if not isinstance(name, str):
            raise _KindProblem("kind", f"expected the name of a {word}, got {name!r}")
        try:
            cls = registry.get(kind, name)
        except EncephagenError as exc:
            raise _KindProblem("kind", exc.problems[0][1]) from None
        params = {k: v for k, v in value.items() if k != "kind"}
        if kind == "connectome":
            return _prepared_source(conv, cls, params)
        return conv.structure(params, cls)

    conv.register_structure_hook_func(lambda t: _kind_of(t) is not None, structure_component)

    brain_keys = {"neuron", "delays", "device", "batch", "cellular"}
    brain_fields = cattrs.gen.make_dict_structure_fn(BrainSpec, conv, _cattrs_forbid_extra_keys=True)

    def structure_brain(value: Any, _: type) -> BrainSpec:
        from encephagen.engine import Cellular, Delays, Microcircuit

        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping, got {value!r}")
        own = {k: v for k, v in value.items() if k in brain_keys}
        own.setdefault("neuron", {"kind": registry.default("neuron_model").name})
        delays = own.pop("delays", None)
        cellular = own.pop("cellular", None)
        brain = brain_fields({**own, "microcircuit": None}, BrainSpec)
        # The microcircuit keys sit directly under `brain:`; structure them
        # (or `cellular:`, and `delays:`) with the engine's own classes.
        errors: list[Exception] = []
        micro = delays_value = None
        micro_keys = {k: v for k, v in value.items() if k not in brain_keys}
        if cellular is not None:
            for key in micro_keys:
                exc = ValueError("is a microcircuit key, but this brain is cellular (brain.cellular wires one neuron per node); remove one of them")
                exc.__notes__ = [AttributeValidationNote(f"Structuring {key}", key, Any)]
                errors.append(exc)
            if delays is not None:
                exc = ValueError("a cellular brain has no conduction delays yet (a neuron-level connectome carries no lengths); remove brain.delays")
                exc.__notes__ = [AttributeValidationNote("Structuring delays", "delays", Delays)]
                errors.append(exc)
                delays = None
            try:
                micro = conv.structure(cellular, Cellular)
            except Exception as exc:  # noqa: BLE001 - collected and re-raised below
                exc.__notes__ = [*getattr(exc, "__notes__", []), AttributeValidationNote("Structuring cellular", "cellular", Cellular)]
                errors.append(exc)
        else:
            try:
                micro = conv.structure(micro_keys, Microcircuit)
            except ClassValidationError as exc:  # its fields are brain's fields
                errors.extend(exc.exceptions)
            except Exception as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)
        if delays is not None:
            try:
                delays_value = conv.structure(delays, Delays)
            except Exception as exc:  # noqa: BLE001
                exc.__notes__ = [*getattr(exc, "__notes__", []), AttributeValidationNote("Structuring delays", "delays", Delays)]
                errors.append(exc)
        if errors:
            raise ClassValidationError("While structuring BrainSpec", errors, BrainSpec)
        return attrs.evolve(brain, microcircuit=micro, delays=delays_value)

    conv.register_structure_hook(BrainSpec, structure_brain)
    return conv


def _prepared_source(conv: cattrs.Converter, cls: type, params: Mapping[str, Any]) -> Any:
    """A connectome source with the study's options for it (:mod:`encephagen.preparation`), both structured."""
    from encephagen.preparation import OPTION_KEYS, ConnectomeOptions, PreparedSource, split_options

    errors: list[Exception] = []
    parts = []
    for part, target in zip(split_options(params), (cls, ConnectomeOptions)):
        try:
            parts.append(conv.structure(part, target))
        except ClassValidationError as exc:
            errors.extend(exc.exceptions)
        except Exception as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)
    for exc in errors:
        if isinstance(exc, ForbiddenExtraKeysError):
            exc.also_allowed = OPTION_KEYS  # type: ignore[attr-defined]
    if errors:
        raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
    return PreparedSource(*parts)


_FIELD_IN_MESSAGE = re.compile(r"^'(\w+)' (.*)$", re.S)


def _format(exc: BaseException, _type: Any) -> str:
    """Message for one leaf error; a ``\\x1f`` separates an extra sub-path."""
    if isinstance(exc, _KindProblem):
        return f"{exc.sub}\x1f{exc.message}"
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = [a.name for a in attrs.fields(exc.cl) if not a.metadata.get("internal")] if attrs.has(exc.cl) else []
        if exc.cl.__name__ == "Microcircuit":  # its keys sit under `brain:` with BrainSpec's own
            allowed = [a.name for a in attrs.fields(BrainSpec) if a.name != "microcircuit"] + ["cellular"] + allowed
        allowed += list(getattr(exc, "also_allowed", ()))  # a connectome source's: the study's options beside its own
        parts = []
        for key in sorted(exc.extra_fields):
            hint = close_matches(key, allowed)[:1]
            parts.append(f"unknown key {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
        return "\x1f" + "; ".join(parts) + f" (allowed: {', '.join(allowed) or 'none'})"
    if isinstance(exc, KeyError):
        return "\x1fis required but missing"
    if isinstance(exc, EncephagenError):
        return "\x1f" + "; ".join(exc.lines())
    # attrs validators put the message first and the attribute after it.
    msg = (exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)).strip() or type(exc).__name__
    m = _FIELD_IN_MESSAGE.match(msg)
    if m:  # attrs validators name the field: "'x' must be > 0: -1"
        return f"{m.group(1)}\x1f{m.group(2)}"
    return "\x1f" + msg


def _problems(exc: BaseException) -> list[tuple[str, str]]:
    out = []
    for line in cattrs.transform_error(exc, path="$", format_exception=_format):
        text, _, path = line.rpartition(" @ ")
        sub, _, message = text.partition("\x1f")
        path = path[2:] if path.startswith("$.") else path[1:]
        path = re.sub(r"\['([^'\]]*)'\]", r".\1", path).lstrip(".")  # mapping keys: factors['c'] -> factors.c
        if sub:
            path = f"{path}.{sub}" if path else sub
        out.append((path, message))
    return out


#: results.csv columns that a factor may not be named after.
RESERVED_NAMES = ("condition", "replicate", "seed", "task", "metric", "value", "cell")


def _check_design(study: Study) -> list[tuple[str, str]]:
    problems = []
    seen: dict[str, int] = {}
    for i, c in enumerate(study.conditions):
        if c.name in seen:
            problems.append((f"conditions[{i}].name", f"duplicate condition name {c.name!r} (also conditions[{seen[c.name]}])"))
        seen.setdefault(c.name, i)
    if study.reference is not None and study.reference not in seen:
        problems.append(("reference", f"no condition named {study.reference!r} (conditions: {', '.join(seen)})"))
    for factor, levels in study.factors.items():
        for what, name in [("factor", factor), *(("level", lv) for lv in levels)]:
            if not ev.is_identifier(name):
                problems.append((f"factors.{factor}", f"{what} name {name!r} must be letters, digits, '_', '-', '.'"))
        if factor in RESERVED_NAMES:
            problems.append((f"factors.{factor}", f"a factor may not be called {factor!r} (a results.csv column); rename it"))
        if not levels:
            problems.append((f"factors.{factor}", "needs at least one level: {level name: {override}}"))
    return problems


def parse_study(data: Any, registry: Registry) -> Study:
    """Structure a parsed YAML document into a :class:`Study`, its cells resolved.

    Every condition and factor level is merged into the study's defaults and
    structured again (see :func:`encephagen.design.cells_of`), so an override
    is validated with its own field path (``conditions[2].learning_rule.lr``).

    :raises ConfigError: one problem per bad field, paths like ``conditions[1].null_model.kind``.
    """
    if data is None:
        raise ConfigError.at("", "the study file is empty; it needs at least name, connectome, conditions and protocol")
    if not isinstance(data, Mapping):
        raise ConfigError.at("", f"the study file must be a mapping of keys (name, connectome, ...), got a {type(data).__name__}")
    if "cells" in data:
        raise ConfigError.at("", "unknown key 'cells' (cells are made from conditions x factors; write factors:)")
    conv = make_converter(registry)
    data = dict(data)
    if data.get("brain") is None:
        data["brain"] = {}
    try:
        study = conv.structure(data, Study)
    except (ClassValidationError, IterableValidationError) as exc:
        raise ConfigError(*_problems(exc)) from None
    except (TypeError, ValueError, _KindProblem) as exc:
        raise ConfigError(*_problems(exc)) from None
    problems = _check_design(study)
    if problems:
        raise ConfigError(*problems)
    from encephagen.design import cells_of

    return attrs.evolve(study, cells=cells_of(study, data, lambda doc, cls: _structure(conv, doc, cls)))


def _structure(conv: cattrs.Converter, value: Any, cls: Any) -> Any:
    """``conv.structure`` with its errors as one :class:`ConfigError` (paths relative to ``value``)."""
    try:
        return conv.structure(value, cls)
    except (ClassValidationError, IterableValidationError, TypeError, ValueError, _KindProblem) as exc:
        raise ConfigError(*_problems(exc)) from None


def structure_component(value: Any, kind: str, registry: Registry) -> Any:
    """One component from what a study file would write for it: a name, or a mapping with ``kind:`` and parameters.

    ``structure_component({"kind": "degree_preserving", "swaps_per_edge": 20}, "null_model", registry)``.

    :raises ConfigError: one problem per bad field, paths relative to ``value`` (``kind``, ``swaps_per_edge``).
    """
    return _structure(make_converter(registry), value, Annotated[Any, Kind(kind)])


#: Limits on a study file, checked before any object is built (a study file is a page of YAML, not data).
MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_SCALAR = 4096
MAX_INT_DIGITS = 19  # 2**63 has 19 digits: seeds and counts fit a signed 64-bit integer


def read_study_text(path: str | Path) -> str:
    """The text of a study file; clear errors for a missing file, a directory, a device or a FIFO, a huge file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError.at("", f"study file {str(p)!r} does not exist")
    if p.is_dir():
        raise ConfigError.at("", f"{str(p)!r} is a directory; give the path of a study .yaml file")
    if not p.is_file():
        raise ConfigError.at("", f"{str(p)!r} is not a regular file (a device, a FIFO?); give the path of a study .yaml file")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ConfigError.at("", f"study file {str(p)!r} is larger than {MAX_BYTES:,} bytes; a study file is a page of YAML")
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.at("", f"cannot read study file {str(p)!r}: {exc}") from None


class _Refused(yaml.MarkedYAMLError):
    """A document over one of the limits (reported like a YAML syntax error, with its line)."""


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` with limits: nesting depth, nodes after alias expansion, scalar length, integer size,
    and mappings whose keys are unique strings."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_nodes(node)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[str, Any] = {}
        for key, _ in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key, yaml.ScalarNode) or key.tag != "tag:yaml.org,2002:str":
                raise _Refused(None, None, f"a key must be a name, got {key.value!r} ({key.tag.rsplit(':', 1)[-1]}); quote it", key.start_mark)
            if key.value in seen:
                raise _Refused(None, None, f"duplicate key {key.value!r} (also at line {seen[key.value].line + 1})", key.start_mark)
            seen[key.value] = key.start_mark
        return super().construct_mapping(node, deep)


def _check_nodes(root: Any) -> None:
    """Refuse a document whose alias expansion, scalars or integers exceed the limits (one pass, memoised)."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > MAX_SCALAR:
                raise _Refused(None, None, f"a value of {len(node.value):,} characters (at most {MAX_SCALAR:,})", node.start_mark)
            if node.tag == "tag:yaml.org,2002:int" and len(node.value.lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
                raise _Refused(None, None, f"an integer of more than {MAX_INT_DIGITS} digits", node.start_mark)
            n = 1
        elif isinstance(node, yaml.SequenceNode):
            n = 1 + sum(size(x) for x in node.value)
        else:
            n = 1 + sum(size(k) + size(v) for k, v in node.value)
        if n > MAX_NODES:
            raise _Refused(None, None, f"more than {MAX_NODES:,} values once its aliases are expanded", node.start_mark)
        sizes[id(node)] = n
        return n

    size(root)


def load_yaml(text: str, source: str = "study file") -> Any:
    """Parse YAML safely, within the limits above; one-line errors that give the line and column."""
    if len(text) > MAX_BYTES:
        raise ConfigError.at("", f"{source} is larger than {MAX_BYTES:,} characters; a study file is a page of YAML")
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        mark = exc.problem_mark
        raise ConfigError.at("", f"{source} is refused at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError.at("", f"{source} is not valid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError.at("", f"{source} is not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def load_study(path: str | Path, registry: Registry) -> tuple[Study, str]:
    """Read, parse and structure a study file.

    :returns: the study and the SHA-256 of the file's text (recorded in the store).
    """
    text = read_study_text(path)
    study = parse_study(load_yaml(text, f"study file {str(path)!r}"), registry)
    return study, hashlib.sha256(text.encode("utf-8")).hexdigest()


_SET_PART = re.compile(r"([A-Za-z0-9_.\-#]+?)((?:\[\d+\])*)$")


def apply_sets(data: Any, sets: Sequence[str]) -> Any:
    """The document with ``key.path=value`` overrides applied (``encephagen run --set``).

    A path is dotted keys with ``[i]`` list indices (``brain.coupling``,
    ``conditions[1].null_model.kind``, ``factors.coupling.high.brain.coupling``);
    the value is read as YAML (``0.2``, ``null``, ``{kind: hebbian}``).
    Missing mappings on the way are created.

    :raises ConfigError: at ``--set`` for a malformed override.
    """
    if not sets:
        return data
    import copy

    doc = copy.deepcopy(data) if data is not None else {}
    for item in sets:
        field = f"--set {item}"
        path, eq, raw = item.partition("=")
        if not eq or not path.strip():
            raise ConfigError.at(field, "expected key.path=value, e.g. --set brain.coupling=0.2")
        value = load_yaml(raw, f"the value of --set {path}")
        steps: list[str | int] = []
        for part in path.strip().split("."):
            m = _SET_PART.match(part)
            if not m:
                raise ConfigError.at(field, f"{part!r} is not a key (letters, digits, '_', '-', optionally [index])")
            steps.append(m.group(1))
            steps += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
        if not isinstance(doc, dict):
            raise ConfigError.at(field, "the study file is not a mapping")
        node: Any = doc
        for step, nxt in zip(steps, steps[1:]):
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    raise ConfigError.at(field, f"index [{step}] is out of range")
                node = node[step]
            else:
                if not isinstance(node, dict):
                    raise ConfigError.at(field, f"{step!r} is inside a value that is not a mapping")
                if node.get(step) is None:
                    node[step] = [] if isinstance(nxt, int) else {}
                node = node[step]
        last = steps[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise ConfigError.at(field, f"index [{last}] is out of range")
        elif not isinstance(node, dict):
            raise ConfigError.at(field, f"{last!r} is inside a value that is not a mapping")
        node[last] = value
    return doc
