"""Generate the study-file reference (``docs/study-file.md``) and the metric reference (``docs/metrics.md``).

The first page lists every key of the study file and every parameter of every
installed component, with type, default and description, all read from the
attrs classes themselves, so the reference cannot drift from the code. The
second lists what every installed task's metrics mean, from the tasks' own
descriptions (:class:`~encephagen.interfaces.Metric`). Regenerate with
``python -m encephagen.docgen > docs/study-file.md`` and
``python -m encephagen.docgen metrics > docs/metrics.md``.
"""

from __future__ import annotations

import re
import sys
import typing
from typing import Any

import attrs

from encephagen.config import BrainSpec, Condition, Level, Report, Statistics, Study
from encephagen.interfaces import KIND_WORDS
from encephagen.preparation import ConnectomeOptions
from encephagen.registry import Registry

_IVAR = re.compile(r"^\s*:(?:ivar|param)\s+(\w+):\s*(.*)$")


def field_docs(cls: type) -> dict[str, str]:
    """``{field: description}`` from ``:ivar x:`` / ``:param x:`` lines of the class docstring."""
    out: dict[str, str] = {}
    for base in reversed(cls.__mro__[1:]):  # inherited fields keep their base class's description
        if attrs.has(base):
            out.update(field_docs(base))
    current = None
    for line in (cls.__doc__ or "").splitlines():
        m = _IVAR.match(line)
        if m:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current and line.strip() and not line.strip().startswith(":"):
            out[current] += " " + line.strip()
        else:
            current = None
    for a in attrs.fields(cls):
        if a.metadata.get("doc"):
            out[a.name] = a.metadata["doc"]
    return out


def _type_name(t: Any) -> str:
    if t is None:
        return ""
    if isinstance(t, str):
        return t
    origin = typing.get_origin(t)
    if origin is typing.Annotated:
        meta = typing.get_args(t)[1]
        return f"{KIND_WORDS.get(getattr(meta, 'kind', ''), 'component')} (`kind:` + parameters)"
    if origin is typing.Union or type(t).__name__ == "UnionType":
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + (" or null" if len(args) < len(typing.get_args(t)) else "")
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(t))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(t, "__name__", str(t))


def _default(a: attrs.Attribute) -> str:
    if a.default is attrs.NOTHING:
        return "required"
    if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
        try:
            value = a.default.factory()
        except TypeError:
            return "(computed)"
        return f"`{value!r}`" if not attrs.has(type(value)) else "defaults below"
    return f"`{a.default!r}`"


def fields_table(cls: type, skip: tuple[str, ...] = ()) -> list[str]:
    """Markdown table rows (key, type, default, description) of an attrs class."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for a in attrs.fields(cls):
        if a.name in skip or a.metadata.get("internal"):
            continue
        desc = docs.get(a.name, "").replace("|", "\\|")
        kind = a.metadata.get("type") or _type_name(hints.get(a.name, a.type))
        default = a.metadata.get("default") or _default(a)
        rows.append(f"| `{a.name}` | {kind} | {default} | {desc} |")
    return rows


def study_keys() -> dict[str, list[str]]:
    """Every key of the study file's own sections: ``{section: [keys]}``."""
    from encephagen.engine import Cellular, Delays, Microcircuit

    return {
        "study": [a.name for a in attrs.fields(Study) if not a.metadata.get("internal")],
        "conditions[]": [a.name for a in attrs.fields(Condition)],
        "factors": [a.name for a in attrs.fields(Level)],
        "statistics": [a.name for a in attrs.fields(Statistics)],
        "report": [a.name for a in attrs.fields(Report)],
        "brain": [a.name for a in attrs.fields(BrainSpec) if a.name != "microcircuit"] + ["cellular"] + [a.name for a in attrs.fields(Microcircuit)],
        "brain.delays": [a.name for a in attrs.fields(Delays)],
        "brain.cellular": [a.name for a in attrs.fields(Cellular)],
        "connectome": [a.name for a in attrs.fields(ConnectomeOptions)],
    }


def render(registry: Registry) -> str:
    """The whole reference page."""
    from encephagen.engine import Cellular, Delays, Microcircuit

    out = [
        "# Study file reference",
        "",
        "Generated from the schema by `python -m encephagen.docgen`; a test fails when",
        "this page and the code disagree. Units: time in ms, potentials in mV,",
        "distances in mm, rates in Hz unless a key says otherwise.",
        "",
        "A component (connectome, null model, neuron model, learning rule, task,",
        "executor) is written as a mapping with `kind:` naming it and its parameters",
        "beside it, e.g. `null_model: {kind: degree_preserving, swaps_per_edge: 10}`.",
        "A bare name (`neuron: lif`) selects a component with its default parameters.",
        "",
        "## Top level",
        "",
        *fields_table(Study),
        "",
        "## `connectome`",
        "",
        "Beside `kind:` and the source's own parameters (see the connectome sources",
        "below), every `connectome:` takes these keys. They are applied to the loaded",
        "connectome before any null model draws from it: missing tract lengths are",
        "filled first, then the weights are normalised. A source marks a tract",
        "length that was not measured as missing (`NaN`; the TVB data sets store",
        "0 there), never as a length of 0.",
        "",
        *fields_table(ConnectomeOptions),
        "",
        "## `conditions[]`",
        "",
        "The first condition (or the one named by `reference`) is the reference; every",
        "other condition is compared with it. Besides its null model a condition may",
        "override any part of the study: its keys are merged into the study's own",
        "(a mapping key by key; a component of another `kind:` replaces the study's;",
        "`null` means none, e.g. `learning_rule: null` for no learning; a list",
        "replaces the list; `protocol:` may also be `{task label: {parameter: value}}`).",
        "",
        *fields_table(Condition),
        "",
        "## `factors`",
        "",
        "`factors: {factor: {level: override}}`. Each level is merged like a",
        "condition's overrides (after the condition's), and every condition is",
        "run at every combination of levels: a cell. Each cell has `replicates`",
        "brains; a brain's seed derives from the study seed, its condition, its",
        "cell's level names and its index, so adding a level never changes an",
        "existing brain. Keys of one level:",
        "",
        *fields_table(Level),
        "",
        "## `statistics`",
        "",
        *fields_table(Statistics),
        "",
        "## `report`",
        "",
        "How the report writes its figures into `figures/`, e.g. `report: {formats: [png, svg, pdf], dpi: 300}`",
        "for a paper. The report shows the PNG; SVG and PDF are written beside it with the same name.",
        "",
        *fields_table(Report),
        "",
        "## `brain`",
        "",
        "The microcircuit keys sit directly under `brain:` beside `neuron`, `delays`,",
        "`device` and `batch`. A neuron-level connectome can instead be wired one",
        "spiking neuron per node with `cellular:` (see `brain.cellular`); then no",
        "microcircuit key may appear.",
        "",
        *fields_table(BrainSpec, skip=("microcircuit",)),
        "| `cellular` | Cellular (see `brain.cellular`) or null | `None` | one spiking neuron per node of a neuron-level connectome, in place of the microcircuit keys below |",
        *fields_table(Microcircuit)[2:],
        "",
        "## `brain.delays`",
        "",
        *fields_table(Delays),
        "",
        "## `brain.cellular`",
        "",
        "`brain: {cellular: {...}}` wires a neuron-level connectome (e.g. `kind: celegans`)",
        "as it is: one neuron per node, one synapse per connected pair, gap junctions as",
        "a coupling current (see docs/celegans.md). Nothing is drawn, so replicates differ",
        "only in their initial state, background noise and null-model draws.",
        "",
        *fields_table(Cellular),
        "",
    ]
    for kind in ("connectome", "null_model", "neuron_model", "learning_rule", "task", "executor"):
        out += [f"## Components: {KIND_WORDS[kind]}s (`kind:`)", ""]
        for e in registry.entries(kind):
            out += [f"### `{e.name}` ({e.provider})", "", e.summary, ""]
            if attrs.fields(e.cls):
                out += [*fields_table(e.cls), ""]
            else:
                out += ["No parameters.", ""]
    return "\n".join(out)


def _metric_rows(metrics: Any) -> list[str]:
    rows = ["| metric | unit | better | chance | definition |", "|---|---|---|---|---|"]
    for m in metrics:
        name = f"`{m.name}` (series; a point per {m.x})" if m.is_series else f"`{m.name}`"
        change = " A change from before learning: the report tests it against 0 in each cell." if m.change else ""
        chance = "-" if m.chance is None else f"{m.chance:.3g}"
        rows.append(f"| {name} | {m.unit} | {m.direction} | {chance} | {m.definition}{change} |")
    return rows


def render_metrics(registry: Registry) -> str:
    """The metric reference page: every installed task's metrics with its default parameters."""
    from encephagen.interfaces import DescribesMetrics

    out = [
        "# Metric reference",
        "",
        "Generated from the tasks' own descriptions by `python -m encephagen.docgen metrics`;",
        "a test fails when this page and the code disagree. Each task is shown with its",
        "default parameters (a definition or chance level that depends on a parameter,",
        "such as the number of patterns, follows it in a study). The report of every",
        "study shows the same table for the tasks it ran.",
        "",
        "- **better**: `higher` or `lower` is the better value, so the report's winner is the",
        "  better condition; `none`: the report says that conditions *differ* and names no",
        "  winner (a firing rate, a diversity measure).",
        "- **chance**: the value expected without structure or learning; the report flags",
        "  a condition whose mean is at or below it, and the plots draw it.",
        "- Rates inside task metrics are in spikes per neuron per step (1e4 Hz at dt = 0.1 ms).",
        "",
    ]
    for e in registry.entries("task"):
        out += [f"## `{e.name}` ({e.provider})", "", e.summary, ""]
        try:
            task = e.cls()
        except Exception as exc:  # a task without defaults: described once configured
            out += [f"Needs parameters to describe its metrics ({exc}).", ""]
            continue
        if not isinstance(task, DescribesMetrics):
            out += ["Does not describe its metrics: the report gives them direction `none` and no unit.", ""]
            continue
        out += [*_metric_rows(task.metrics()), ""]
        names = {m.name for m in task.metrics()}
        for a in attrs.fields(type(task)):
            if a.default is False:
                extra = [m for m in attrs.evolve(task, **{a.name: True}).metrics() if m.name not in names]
                if extra:
                    out += [f"With `{a.name}: true` also:", "", *_metric_rows(extra), ""]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    from encephagen.plugins import default_registry

    page = render_metrics if sys.argv[1:] == ["metrics"] else render
    sys.stdout.write(page(default_registry()))
