"""The study report: ``report.md``, a self-contained ``report.html`` and ``figures/``.

Everything here is a pure function of the store's contents (through
:class:`ReportInput`) and of ``connectomes.npz``, so ``encephagen report DIR``
rebuilds the same report from a finished (or interrupted) run. The report
is written as a list of blocks (headings, paragraphs, tables, images, code)
rendered twice: as Markdown with figures linked from ``figures/``, and as
HTML with the same figures embedded as base64 PNG. Figures are drawn with
matplotlib's Agg canvas under one fixed style (:func:`figure_style`), never
through pyplot, with constrained layout so that no label is cut off, and
written as PNG (and SVG, PDF: the study's ``report:`` section) with no dates,
so that a rerun writes the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from encephagen.analysis import Analysis, SummaryRow, smallest_p
from encephagen.connectome_view import DISTANCE_COLUMNS, SurrogateDraw, distance
from encephagen.graph_measures import RICH_CLUB_FRACTION
from encephagen.store import MetricRow, ReplicateRow, SeriesRow, StoredCell, StoredCondition, StoredStudy
#: Below this many values in a condition, bootstrap intervals are marked as unreliable.
SMALL_N = 5

# -- connectomes ---------------------------------------------------------------------------


@attrs.frozen
class ConnectomePanel:
    """The reference weights and one surrogate per null-model condition (rows = sources).

    :ivar reference_name: the reference condition's name.
    :ivar connectome: the connectome's name, e.g. ``tvb:connectivity_96``.
    :ivar reference: ``(n, n)`` weights.
    :ivar surrogates: condition -> (null model, ``(n, n)`` weights), in condition order.
    :ivar draws: condition -> how its surrogate was drawn (model, parameters,
        seed); empty in files written before draws were recorded.
    """

    reference_name: str
    connectome: str
    reference: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    surrogates: Mapping[str, tuple[str, np.ndarray]] = attrs.field(eq=False)
    draws: Mapping[str, SurrogateDraw] = attrs.field(factory=dict, eq=False)


def save_connectomes(panel: ConnectomePanel) -> bytes:
    """``panel`` as the bytes of an ``.npz`` file (no pickled objects)."""
    meta = {
        "reference_name": panel.reference_name,
        "connectome": panel.connectome,
        "surrogates": [[cond, model] for cond, (model, _) in panel.surrogates.items()],
        "draws": {cond: d.as_dict() for cond, d in panel.draws.items()},
    }
    arrays = {"meta": np.array(json.dumps(meta)), "reference": panel.reference}
    for i, (_, w) in enumerate(panel.surrogates.values()):
        arrays[f"surrogate_{i}"] = w
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_connectomes(path: str | Path) -> ConnectomePanel:
    """Read a file written from :func:`save_connectomes`."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        surrogates = {cond: (model, z[f"surrogate_{i}"]) for i, (cond, model) in enumerate(meta["surrogates"])}
        draws = {cond: SurrogateDraw.from_dict(d) for cond, d in meta.get("draws", {}).items()}
        return ConnectomePanel(meta["reference_name"], meta["connectome"], z["reference"], surrogates, draws)


def degrees(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Between-region ``(in_degree, out_degree)`` of a ``(n, n)`` matrix, rows = sources."""
    present = np.asarray(weights) != 0
    np.fill_diagonal(present, False)
    return present.sum(axis=0), present.sum(axis=1)


# -- the input -------------------------------------------------------------------------------


@attrs.frozen
class ReportInput:
    """Everything the report shows, as read from the store.

    :ivar provenance: what ``provenance.json`` holds: the store's entries (text),
        ``devices_used`` (a list) and ``seeds`` (``study``, ``derivation``, ``replicates``: cell -> seeds).
    """

    study: StoredStudy
    conditions: Sequence[StoredCondition]
    cells: Sequence[StoredCell]
    replicates: Sequence[ReplicateRow]
    metrics: Sequence[MetricRow]
    series: Sequence[SeriesRow]
    analysis: Analysis
    provenance: Mapping[str, Any]
    connectomes: ConnectomePanel | None

    @property
    def summary(self) -> Sequence[SummaryRow]:
        """The comparisons."""
        return self.analysis.comparisons


# -- figures ---------------------------------------------------------------------------------

#: rc settings of every report figure, over matplotlib's defaults (a user's matplotlibrc does not
#: apply, so every machine draws the same figure). DejaVu Sans ships with matplotlib and has U+2212,
#: the minus sign of negative tick labels; a fixed SVG hash salt keeps SVG ids the same on a rerun;
#: PDF text is TrueType (type 42), as journals ask (many refuse Type 3 fonts).
FIGURE_STYLE: Mapping[str, Any] = {
    "font.family": "DejaVu Sans",
    "axes.unicode_minus": True,
    "svg.hashsalt": "encephagen",
    "pdf.fonttype": 42,
}
#: Per format, the metadata left out so that a rerun writes the same bytes (dates, the software's name in PNG).
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


@contextmanager
def figure_style() -> Iterator[None]:
    """Build, draw and save report figures inside this: matplotlib's defaults plus :data:`FIGURE_STYLE`.

    The global rc settings are restored on exit; pyplot is never imported.
    """
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(FIGURE_STYLE)
        yield


def _figure(width: float, height: float) -> Any:
    """A ``width`` x ``height`` inch figure on an Agg canvas; its constrained layout makes room for every label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def fit(fig: Any) -> None:
    """Grow ``fig`` until everything it draws lies on its canvas.

    Constrained layout shrinks the axes to make room for tick labels, axis
    labels and notes, but gives up (leaving labels off the canvas) when they
    need more room than the figure has; then the figure grows by the overhang.
    """
    import warnings

    for _ in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "constrained_layout not applied": the figure grows below
            fig.draw_without_rendering()
        box = fig.get_tightbbox()  # inches, from the figure's lower left corner
        width, height = fig.get_size_inches()
        grow_w = max(0.0, -box.x0) + max(0.0, box.x1 - width)
        grow_h = max(0.0, -box.y0) + max(0.0, box.y1 - height)
        if grow_w < 0.01 and grow_h < 0.01:
            return
        fig.set_size_inches(width + grow_w + 0.1, height + grow_h + 0.1)


def save_figure(fig: Any, stem: Path, formats: Sequence[str] = ("png",), dpi: int = 100) -> list[Path]:
    """Write ``fig`` as ``stem.png`` (and ``stem.svg``, ``stem.pdf``, as ``formats`` say), after :func:`fit`.

    Call inside :func:`figure_style`. A rerun writes the same bytes.

    :param dpi: dots per inch of the PNG (and of the weight matrices inside the vector files).
    :returns: the paths written, in ``formats`` order.
    """
    fit(fig)
    paths = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"
        fig.savefig(path, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
        paths.append(path)
    return paths


def axis_label(name: str, unit: str) -> str:
    """``accuracy (1)``, ``rate_hz (Hz)``; the name alone for a metric without a unit."""
    return f"{name} ({unit})" if unit else name


def metric_figure(
    title: str,
    names: Sequence[str],
    values: Sequence[np.ndarray],
    *,
    ylabel: str = "",
    chance: Sequence[float | None] = (),
    notes: Sequence[str] = (),
) -> Any:
    """Every replicate's value by condition (or cell): a box per name with the points on top.

    Under each box: its name (a cell's ``rewired, rule=eprop`` one part per
    line), n, and its entry of ``notes`` (p and q against the reference).

    :param ylabel: the metric with its unit (:func:`axis_label`).
    :param chance: per name, the chance level (a dashed line over its box) or ``None``.
    """
    cells = any(", " in n for n in names)
    fig = _figure(1.6 + (1.4 if cells else 1.2) * len(names), 3.8)
    ax = fig.add_subplot()
    finite = [v[np.isfinite(v)] for v in values]
    ax.boxplot(finite, positions=range(len(names)), widths=0.5, showfliers=False)
    for i, v in enumerate(finite):
        ax.plot(i + np.linspace(-0.15, 0.15, v.size) if v.size > 1 else [i] * v.size, v, "o", ms=4, alpha=0.7)
    marks = [(i, c) for i, c in enumerate(chance) if c is not None]
    if marks:
        ax.hlines([c for _, c in marks], [i - 0.4 for i, _ in marks], [i + 0.4 for i, _ in marks], colors="grey", linestyles="--", lw=1, label="chance")
        ax.legend(fontsize=8)
    labels = [
        f"{n.replace(', ', chr(10))}\n(n={v.size})" + (f"\n{notes[i]}" if i < len(notes) and notes[i] else "")
        for i, (n, v) in enumerate(zip(names, finite))
    ]
    ax.set_xticks(range(len(names)), labels, fontsize=8 if cells else None)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig


def series_figure(
    title: str,
    names: Sequence[str],
    curves: Sequence[list[np.ndarray]],
    *,
    xlabel: str = "point in series",
    ylabel: str = "",
    chance: Sequence[float | None] = (),
) -> Any:
    """Mean +- sd (across replicates) of a series per condition; shorter series count where they exist.

    :param xlabel: what one point is (the series' ``Metric.x``).
    :param chance: per name, the chance level or ``None``: one grey dashed line when the
        names share it, else a dashed line in each name's colour.
    """
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    levels = {c for c, group in zip(chance, curves) if c is not None and group}
    for k, (name, group) in enumerate(zip(names, curves)):
        if not group:
            continue
        length = max(len(c) for c in group)
        stack = np.full((len(group), length), np.nan)
        for i, c in enumerate(group):
            stack[i, : len(c)] = c
        count = np.sum(np.isfinite(stack), axis=0)
        total = np.nansum(stack, axis=0)
        mean = np.divide(total, count, out=np.full(length, np.nan), where=count > 0)
        sq = np.nansum((stack - mean) ** 2, axis=0)
        sd = np.sqrt(np.divide(sq, count - 1, out=np.zeros(length), where=count > 1))
        x = np.arange(length)
        (line,) = ax.plot(x, mean, label=f"{name} (n={len(group)})")
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
        level = chance[k] if k < len(chance) else None
        if level is not None and len(levels) > 1:
            ax.axhline(level, color=line.get_color(), ls="--", lw=1, label=f"chance, {name}")
    if len(levels) == 1:
        ax.axhline(levels.pop(), color="grey", ls="--", lw=1, label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def connectome_figure(panel: ConnectomePanel) -> Any:
    """Weight matrices (rows = sources) and in/out-degree histograms of the reference and each surrogate."""
    mats = [(f"{panel.reference_name} ({panel.connectome})", panel.reference)]
    mats += [(f"{cond} ({model})", w) for cond, (model, w) in panel.surrogates.items()]
    fig = _figure(3.4 * len(mats) + 0.8, 6.6)
    axes = fig.subplots(2, len(mats), squeeze=False)
    vmin = min(0.0, *(float(np.min(w)) for _, w in mats))
    vmax = max(float(np.max(w)) for _, w in mats)
    vmax = vmax if vmax > vmin else vmin + 1.0
    all_deg = [d for _, w in mats for d in degrees(w)]
    bins = np.arange(0, max(int(d.max()) for d in all_deg) + 2) - 0.5
    for j, (title, w) in enumerate(mats):
        im = axes[0, j].imshow(w, cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
        axes[0, j].set_title(title, fontsize=9)
        axes[0, j].set_xlabel("target region")
        axes[0, j].set_ylabel("source region")
        din, dout = degrees(w)
        axes[1, j].hist(din, bins=bins, histtype="step", label="in-degree")
        axes[1, j].hist(dout, bins=bins, histtype="step", label="out-degree")
        axes[1, j].set_xlabel("degree (between-region edges)")
        axes[1, j].set_ylabel("regions")
        axes[1, j].yaxis.get_major_locator().set_params(integer=True)
        axes[1, j].legend(fontsize=8)
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.8, label="weight (the connectome's units)")
    return fig


def null_distance_blocks(panel: ConnectomePanel) -> list[Block]:
    """The "surrogate vs connectome" table: each surrogate's edge overlap and graph measures against the reference."""
    rows = []
    for cond, (model, w) in panel.surrogates.items():
        draw = panel.draws.get(cond)
        head = [cond, model, draw.parameters_text if draw else "not recorded", draw.seed if draw else "not recorded"]
        if (draw is not None and draw.connectome != panel.connectome) or w.shape != panel.reference.shape:
            other = draw.connectome if draw is not None else "another connectome"
            rows.append([*head, "-", f"not compared: drawn on {other}", "", "", ""])
            continue
        j, changes = distance(panel.reference, w)
        rows += [[*head, _fmt(j), m, _fmt(a), _fmt(b), _fmt(c, "+.4g")] for m, a, b, c in changes]
    if not rows:
        return []
    text = (
        f"Surrogate vs connectome ({panel.connectome}): jaccard is |A ∩ B| / |A ∪ B| of the directed between-region "
        "edge sets (1: the same edges; a surrogate with the same edge count that keeps a fraction f of them has "
        "f / (2 - f)). Then binary graph measures of the connectome and of the surrogate, and the change (surrogate - "
        "connectome): clustering (directed), path length (directed, over the pairs with a path), modularity Q "
        "(Newman's leading eigenvector, undirected) and the rich-club coefficient phi(k) (undirected; k puts at least "
        f"{RICH_CLUB_FRACTION:.0%} of the connectome's regions in the club). A null that moves only weights shows "
        "jaccard 1 and no change. seed is the generator seed of the draw: `encephagen connectome export SOURCE "
        "--null MODEL --seed SEED` draws the same surrogate."
    )
    return [("p", text), ("table", ["condition", *DISTANCE_COLUMNS], rows)]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


# -- blocks and their two renderings -------------------------------------------------------------

# A block is ("h", level, text) | ("p", text) | ("table", header, rows) | ("img", relpath, alt, width_px) | ("pre", text);
# an image's width is the CSS pixels it is shown at in the HTML (100 per inch of figure, whatever its dpi).
Block = tuple


def _fmt(x: float | None, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return format(x, spec)


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def _md_text(text: str) -> str:
    """Text that cannot open an HTML tag in Markdown (file names and error messages come from outside)."""
    return _TAG_START.sub("&lt;", str(text))


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``, so the text cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(blocks: Sequence[Block]) -> str:
    """Render blocks as GitHub-flavoured Markdown."""
    parts = []
    for b in blocks:
        if b[0] == "h":
            parts.append("#" * b[1] + " " + _md_text(b[2]))
        elif b[0] == "p":
            parts.append(_md_text(b[1]))
        elif b[0] == "table":
            header, rows = b[1], b[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            parts.append("\n".join(lines))
        elif b[0] == "img":
            parts.append(f"![{_md_cell(b[2])}]({b[1]})")
        elif b[0] == "pre":
            fence = _fence(b[1])
            parts.append(fence + "\n" + b[1].rstrip("\n") + "\n" + fence)
    return "\n\n".join(parts) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
img { max-width: 100%; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
"""


def to_html(blocks: Sequence[Block], title: str, root: Path) -> str:
    """Render blocks as one HTML page; images under ``root`` are embedded as base64 PNG."""
    esc = html.escape
    body = []
    for b in blocks:
        if b[0] == "h":
            body.append(f"<h{b[1]}>{esc(b[2])}</h{b[1]}>")
        elif b[0] == "p":
            body.append(f"<p>{esc(b[1])}</p>")
        elif b[0] == "table":
            head = "".join(f"<th>{esc(str(h))}</th>" for h in b[1])
            rows = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in r) + "</tr>" for r in b[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b[0] == "img":
            data = base64.b64encode((root / b[1]).read_bytes()).decode("ascii")
            width = f' width="{int(b[3])}"' if len(b) > 3 else ""
            body.append(f'<img alt="{esc(b[2])}"{width} src="data:image/png;base64,{data}">')
        elif b[0] == "pre":
            body.append(f"<pre>{esc(b[1])}</pre>")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{esc(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


# -- the report ------------------------------------------------------------------------------------


def _levels_text(levels: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{f}={lv}" for f, lv in levels) or "-"


def _param_text(params: Mapping[str, Any]) -> str:
    """``steps=200, cs_regions={"visual": 4}`` (``-`` without parameters)."""
    return ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in params.items()) or "-"


def _delays_text(info: Mapping[str, Any]) -> str:
    delays = dict(info.get("parameters") or {}).get("delays")
    if delays:
        return f"{delays.get('source')}, {delays.get('velocity')} mm/ms"
    return {True: "yes", False: "none"}.get(info.get("delays"), "?")


def _components(data: ReportInput) -> list[Block]:
    """Every component's parameters (defaults filled in), a row per distinct setting and the cells that use it."""
    if not any("parameters" in c.info for c in data.cells):
        return []
    used: dict[tuple[str, str, str], list[str]] = {}
    for c in data.cells:
        p = c.info.get("parameters")
        if p is None:
            continue
        rows = [("microcircuit", "-", p["microcircuit"]), ("neuron model", p["neuron"]["kind"], p["neuron"]["parameters"])]
        rows.append(("delays", "none", {}) if p["delays"] is None else ("delays", "-", p["delays"]))
        rule = p["learning_rule"]
        rows.append(("learning rule", "none", {}) if rule is None else ("learning rule", rule["kind"], rule["parameters"]))
        rows += [(f"task {t['task']}", t["kind"], t["parameters"]) for t in p["protocol"]]
        for role, kind, params in rows:
            used.setdefault((role, kind, _param_text(params)), []).append(c.label)
    n = len(data.cells)
    table = [[role, kind, text, "all" if len(cells) == n else "; ".join(cells)] for (role, kind, text), cells in used.items()]
    return [
        ("p", "Components: every parameter of each model and task as the brains ran it (defaults filled in; units as in "
              "the study-file reference: ms, mV, mm, Hz, steps of the simulation's dt), and the cells that use it."),
        ("table", ["component", "kind", "parameters", "cells"], table),
    ]  # fmt: skip


def _design(data: ReportInput) -> list[Block]:
    s = data.study
    factors = s.factors
    status: dict[str, dict[str, int]] = {c.key: {"done": 0, "failed": 0, "pending": 0, "running": 0} for c in data.cells}
    for r in data.replicates:
        status[r.cell][r.status] += 1
    ref = next(c.name for c in data.conditions if c.reference)
    null = {c.name: c.null_model for c in data.conditions}
    cell_rows, brain_rows = [], []
    for c in data.cells:
        info, st = c.info, status[c.key]
        cell_rows.append(
            [
                c.condition + (" (reference)" if c.condition == ref else ""),
                *(dict(c.levels).get(f, "") for f in factors),
                info.get("null_model", null.get(c.condition)) or "none (the connectome as is)",
                "; ".join(f"{p}={v}" for p, v in c.changes) or "-",
                s.replicates, st["done"], st["failed"], st["pending"] + st["running"],
            ]
        )  # fmt: skip
        brain_rows.append(
            [
                c.label, info.get("connectome", "?"), info.get("regions", "?"), info.get("neurons_per_region", "?"),
                info.get("neurons", "?"), info.get("synapses", "?"), info.get("neuron", "?"), info.get("coupling", "?"),
                _delays_text(info), info.get("rule", "?"), ", ".join(info.get("tasks", [])) or "?",
            ]
        )  # fmt: skip
    header = ["condition", *factors, "null model", "overrides", "planned", "done", "failed", "unfinished"]
    brain_header = ["cell", "connectome", "regions", "neurons per region", "neurons", "synapses (expected)", "neuron model", "coupling", "delays", "learning rule", "protocol"]
    tasks = list(dict.fromkeys(t for c in data.cells for t in c.info.get("tasks", [])))
    label = {c.key: c.label for c in data.cells}
    rep_rows = [[label.get(r.cell, r.cell), r.idx, r.seed, r.status, _fmt(r.seconds, ".1f"), r.device or ""] for r in data.replicates]
    shape = " x ".join([f"{len(data.conditions)} conditions", *(f"{len(v)} {f} levels" for f, v in factors.items())])
    text = (
        f"{shape} = {len(data.cells)} cells x {s.replicates} replicates, study seed {s.seed}, alpha {s.alpha:g}; "
        f"within every cell's factor levels each condition is compared with the reference {ref!r}. Each replicate's "
        "seed derives from the study seed, its condition's name, its cell's factor levels and its index. "
        f"Tasks: {', '.join(tasks) or 'none'}. Study file SHA-256 {s.hash}; store created {s.created}."
    )
    sets = s.options.get("sets") or []
    blocks: list[Block] = [("h", 2, "Design"), ("p", text)]
    if sets:
        blocks.append(("p", "Command-line overrides: " + "; ".join(f"--set {x}" for x in sets)))
    blocks += [
        ("p", "Cells: what each one changes from the study's defaults (overrides), and its replicates."),
        ("table", header, cell_rows),
        ("p", "Brains: one brain of each cell. neurons = regions x neurons per region; synapses is the expected "
              "number per brain (closed form from the connection probabilities); coupling scales the between-region connection probabilities and weights."),
        ("table", brain_header, brain_rows),
        *_components(data),
        ("p", "Replicates: the recorded seed of every brain (results.csv has it too), its status, time and device."),
        ("table", ["cell", "replicate", "seed", "status", "seconds", "device"], rep_rows),
    ]  # fmt: skip
    return blocks + _wiring(data)


def _wiring(data: ReportInput) -> list[Block]:
    """Per cell: how much of a brain's synaptic input comes from other regions, and how many of those synapses
    got a filled tract length (:func:`encephagen.study.wiring_info`); nothing for a store that predates them."""
    cells = [c for c in data.cells if "between_share" in c.info]
    if not cells:
        return []

    def share(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f} %"

    rows = []
    for c in cells:
        i = c.info
        filled = i.get("filled_length_synapses")
        between = i.get("between_synapses") or 0.0
        rows.append([
            c.label, i.get("normalize", "none"), f"{between:,.0f}", share(i.get("between_share")), share(i.get("between_input_share")),
            "no delays from tract lengths" if filled is None else f"{filled:,.0f} ({share(filled / between if between else None)})",
        ])  # fmt: skip
    text = (
        "Between-region wiring of one brain per cell, expected from its connection probabilities (a null-model "
        "cell's from its replicate 0's surrogate): synapses that join two regions, their share of all synapses and "
        "of the summed absolute synaptic weight (connectome.normalize scales it), and how many of them lie on a "
        "pair whose tract length was not measured and was filled from the distance between region centres "
        "(connectome.missing_lengths); their delays come from that distance."
    )
    header = ["cell", "normalize", "between-region synapses", "share of synapses", "share of input", "on filled lengths"]
    return [("p", text), ("table", header, rows)]


def _limits(data: ReportInput) -> list[Block]:
    """What the design can show at all: the smallest reachable p and q."""
    a = data.analysis
    alpha = data.study.alpha
    ns = [(s.comparison.n_ref, s.comparison.n_other) for s in a.comparisons if s.comparison.n_ref and s.comparison.n_other]
    planned = data.study.replicates
    n_ref, n_other = min(ns, key=lambda x: x[0] + x[1]) if ns else (planned, planned)
    p_min = smallest_p(n_ref, n_other)
    m = max(1, a.family_size)
    lines = [
        f"The smallest two-sided p an exact Mann-Whitney test can give at {n_ref} vs {n_other} brains is {p_min:.3g} "
        f"(2 / C({n_ref + n_other}, {n_ref}), without ties). The false-discovery-rate family holds {a.family_size} "
        f"test(s) ({', '.join(a.family)}); one result alone reaches at best q = {m} x {p_min:.3g} = {min(1.0, m * p_min):.3g}."
    ]
    if p_min >= alpha:
        lines.append(f"WARNING: no comparison of this design can reach p < {alpha:g}; add replicates.")
    elif m * p_min >= alpha:
        k = math.floor(m * p_min / alpha) + 1  # BH: the k-th smallest p reaches q = p * m / k
        lines.append(
            f"WARNING: no single comparison can reach q < {alpha:g}; a q below {alpha:g} needs at least {k} of the {m} tests "
            f"at the minimum p together. Add replicates or test fewer metrics for a design that can show one effect."
        )
    else:
        lines.append(f"A single comparison at the minimum p can reach q < {alpha:g}.")
    if a.interactions:
        perms = max(i.result.n_perm for i in a.interactions)
        if perms:
            lines.append(f"Interaction p-values are permutation p-values, at least 1 / ({perms} + 1) = {1 / (perms + 1):.2g}.")
    return [("p", " ".join(lines))]


def _results(data: ReportInput) -> list[Block]:
    alpha = data.study.alpha
    factors = data.study.factors
    ci = f"{(1 - alpha) * 100:g} % CI"
    rows = []
    small = False
    for r in data.summary:
        c = r.comparison
        mark = "†" if min(c.n_ref, c.n_other) < SMALL_N and math.isfinite(c.ci_low) else ""
        small = small or bool(mark)
        rows.append(
            [
                r.task, r.metric, *([_levels_text(r.levels)] if factors else []), f"{r.condition} vs {r.reference}", c.n_ref, c.n_other,
                f"{_fmt(c.mean_ref)} ± {_fmt(c.sd_ref, '.3g')}", f"{_fmt(c.mean_other)} ± {_fmt(c.sd_other, '.3g')}",
                _fmt(c.u, "g"), _fmt(c.p, ".3g"), _fmt(c.q, ".3g"), _fmt(c.d, ".3g"),
                f"[{_fmt(c.ci_low, '.3g')}, {_fmt(c.ci_high, '.3g')}]{mark}", c.direction, r.winner or "-",
                "" if r.power_n is None else r.power_n, r.note,
            ]
        )  # fmt: skip
    family = ", ".join(data.analysis.family)
    text = (
        "Per metric" + (" and combination of factor levels" if factors else "") + ", each condition against the reference: "
        "two-sided Mann-Whitney U (U of the condition), Benjamini-Hochberg q over one family of tests "
        f"({family}: every metric, cell and comparison of those kinds together), Cohen's d with population variances "
        f"(condition minus reference), and the {ci} of the difference in means (percentile bootstrap, 10,000 resamples "
        f"of each condition within itself). When q < {alpha:g} the winner is the better condition by the metric's "
        "direction (higher or lower is better, declared by its task); for a metric without a better direction it says "
        "\"differs\". power_n is the number of replicates per condition at which an exact Mann-Whitney test would find "
        f"the observed effect (Hedges' g) with 80 % power at p < {alpha:g} (simulated; a planning estimate, not evidence, "
        "and optimistic when the observed effect is inflated by a small sample). Only finished replicates count; n says how many."
    )
    if small:
        text += (
            f" † fewer than {SMALL_N} values in a condition: a percentile bootstrap interval is too narrow at this size "
            "(it can exclude 0 beside a p of 0.1-0.2); read the p-value, not the interval."
        )
    header = ["task", "metric", *(["levels"] if factors else []), "comparison", "n_ref", "n", "mean_ref ± sd", "mean ± sd", "U", "p", "q", "d", ci, "direction", "winner", "power_n", "note"]
    blocks: list[Block] = [("h", 2, "Results"), ("p", text), *_limits(data)]
    blocks.append(("table", header, rows) if rows else ("p", "No comparisons yet: they need finished replicates of at least two conditions."))
    if data.analysis.omnibus:
        names = [c.name for c in data.conditions]
        blocks += [
            ("h", 3, "Omnibus tests"),
            ("p", f"Kruskal-Wallis H across all {len(names)} conditions ({', '.join(names)}) per metric"
             + (" and combination of factor levels" if factors else "") + "; q only when omnibus tests are in the FDR family."),
            ("table", ["task", "metric", *(["levels"] if factors else []), "n", "H", "p", "q", "note"],
             [[o.task, o.metric, *([_levels_text(o.levels)] if factors else []), "/".join(map(str, o.n)), _fmt(o.h, ".4g"),
               _fmt(o.p, ".3g"), _fmt(o.q, ".3g"), o.note] for o in data.analysis.omnibus]),
        ]  # fmt: skip
    if factors:
        from encephagen.interaction import METHOD

        rows_i = [
            [i.task, i.metric, f"{i.condition} vs {i.reference}", i.factor,
             "; ".join(f"{lv}: {_fmt(e, '.3g')}" for lv, e in zip(i.levels, i.result.effects)),
             i.result.n, _fmt(i.result.statistic, ".3g"), f"{i.result.df1}, {i.result.df2}", _fmt(i.result.p, ".3g"),
             _fmt(i.q, ".3g"), "yes" if i.q < alpha else "-", i.result.note]
            for i in data.analysis.interactions
        ]  # fmt: skip
        blocks += [
            ("h", 3, "Interactions"),
            ("p", f"Does a condition's effect differ across a factor's levels? {METHOD}. Effects are differences in means "
             f"(condition minus reference) at each level. Interaction tests with q < {alpha:g} are marked."),
            ("table", ["task", "metric", "comparison", "factor", "effect by level", "n", "F", "df", "p", "q", "interaction", "note"], rows_i)
            if rows_i else ("p", "No interaction tests: they need a factor with two or more levels and finished replicates."),
        ]
    return blocks


def _meanings(data: ReportInput) -> list[Block]:
    """What each metric means: unit, direction, chance level, definition (from its task's description)."""
    from encephagen.interfaces import undeclared

    seen = sorted({(m.task, m.metric) for m in data.metrics})
    described = data.analysis.metrics
    rows = []
    for task, metric in seen:
        m = described.get((task, metric)) or undeclared(metric)
        rows.append([task, metric, m.unit or "-", m.direction, "-" if m.chance is None else f"{m.chance:.3g}", m.definition])
    series = sorted({(s.task, s.name) for s in data.series})
    rows += [
        [task, f"{name} (series)", m.unit or "-", m.direction, "-", f"{m.definition} One point per {m.x}." if m.x else m.definition]
        for task, name in series
        for m in [described.get((task, name)) or undeclared(name)]
    ]
    if not rows:
        return []
    return [
        ("h", 2, "What the metrics mean"),
        ("p", "As each task describes its metrics. direction: which value is better (none: a difference is reported, nobody "
              "wins); chance: the value expected without any structure or learning, drawn on the plots."),
        ("table", ["task", "metric", "unit", "direction", "chance", "definition"], rows),
    ]


def _learning(data: ReportInput) -> list[Block]:
    """Did learning move the metric at all? One line per change metric and cell."""
    rows = data.analysis.learning
    if not rows:
        return []
    label = {c.key: c.label for c in data.cells}
    alpha = data.study.alpha
    table = []
    for r in rows:
        if not math.isfinite(r.p):
            verdict = "no test (fewer than 2 values, or all 0)"
        elif r.p < alpha:
            verdict = f"learning moved it ({'up' if r.mean > 0 else 'down'})"
        else:
            verdict = "no evidence that learning moved it"
        table.append([r.task, r.metric, label.get(r.cell, r.cell), r.n, _fmt(r.mean, ".3g"), _fmt(r.p, ".3g"), verdict])
    return [
        ("h", 3, "Did it learn?"),
        ("p", "For every metric that is a change from before learning (the task's pre-learning test, e.g. cond_gain), within "
              f"each cell: a two-sided Wilcoxon signed-rank test of the replicates' changes against 0, p < {alpha:g} "
              "uncorrected (these tests are not in the FDR family). A difference between conditions says nothing about "
              "learning unless the change itself differs from 0."),
        ("table", ["task", "metric", "cell", "n", "mean change", "p", "verdict"], table),
    ]


def _diagnostics(data: ReportInput) -> list[Block]:
    """Diagnostics per cell (never compared) and every replicate whose flag says something was wrong."""
    from encephagen.interfaces import undeclared

    described = data.analysis.metrics
    diag = sorted({(m.task, m.metric) for m in data.metrics if (described.get((m.task, m.metric)) or undeclared(m.metric)).diagnostic})
    if not diag:
        return []
    label = {c.key: c.label for c in data.cells}
    values: dict[tuple[str, str, str], list[float]] = {}
    for m in data.metrics:
        if (m.task, m.metric) in diag:
            values.setdefault((m.cell, m.task, m.metric), []).append(m.value)
    table = []
    for (cell, task, metric), v in values.items():
        arr = np.asarray(v, dtype=np.float64)
        arr = arr[np.isfinite(arr)]
        table.append([label.get(cell, cell), task, metric, arr.size, _fmt(arr.mean(), ".3g") if arr.size else "-",
                      f"{_fmt(arr.min(), '.3g')} - {_fmt(arr.max(), '.3g')}" if arr.size else "-"])
    flagged = [
        [label.get(m.cell, m.cell), m.replicate, m.seed, m.task, m.metric, described[(m.task, m.metric)].definition]
        for m in data.metrics
        if (m.task, m.metric) in diag and described.get((m.task, m.metric)) is not None
        and described[(m.task, m.metric)].unit == "flag" and m.value == 0
    ]
    blocks: list[Block] = [
        ("h", 2, "Diagnostics"),
        ("p", "Values that describe the runs rather than the brains' performance (see the metrics table); they are never "
              "compared between conditions."),
        ("table", ["cell", "task", "metric", "n", "mean", "range"], table),
    ]
    if flagged:
        blocks += [
            ("p", f"WARNING: {len(flagged)} replicate(s) have a flag at 0. For `steady` this means the network was still "
                  "drifting when the warm-up ended, so every later phase was measured on a drift; "
                  "`warmup: {until_steady: true}` runs the warm-up until it is steady."),
            ("table", ["cell", "replicate", "seed", "task", "flag", "meaning when 1"], flagged),
        ]
    return blocks


def _failed(data: ReportInput) -> list[Block]:
    label = {c.key: c.label for c in data.cells}
    rows = [[label.get(r.cell, r.cell), r.idx, r.seed, r.error or ""] for r in data.replicates if r.status == "failed"]
    unfinished = sum(r.status in ("pending", "running") for r in data.replicates)
    blocks: list[Block] = [("h", 2, "Failed replicates")]
    if rows:
        blocks.append(("p", f"{len(rows)} replicate(s) failed; they are left out of the statistics."))
        blocks.append(("table", ["cell", "replicate", "seed", "reason"], rows))
    else:
        blocks.append(("p", "None."))
    if unfinished:
        blocks.append(("p", f"{unfinished} replicate(s) have not finished yet; rerun the study to resume."))
    return blocks


def forest_figure(title: str, rows: Sequence[SummaryRow], alpha: float) -> Any:
    """Cohen's d with its approximate CI for every comparison of one metric, a row per (comparison, factor levels).

    Right of each row: its p and, within the FDR family, its q.
    """
    from encephagen.stats import d_interval

    labels = [f"{r.condition} vs {r.reference}" + (f" | {_levels_text(r.levels)}" if r.levels else "") for r in rows]
    fig = _figure(6.0, 1.3 + 0.32 * len(rows))
    ax = fig.add_subplot()
    for y, r in enumerate(rows):
        c = r.comparison
        lo, hi = d_interval(c.d, c.n_ref, c.n_other, alpha)
        if math.isfinite(c.d):
            ax.errorbar([c.d], [y], xerr=[[c.d - lo], [hi - c.d]] if math.isfinite(lo) else None, fmt="o", color="k", ms=4, capsize=3)
        ax.annotate(_p_q(c.p, c.q, " "), xy=(1.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(f"Cohen's d (condition \N{MINUS SIGN} reference), {(1 - alpha) * 100:g} % CI (normal approximation)")
    ax.set_title(title, fontsize=10)
    return fig


def _p_q(p: float, q: float | None, sep: str) -> str:
    """``p=0.031 q=0.062``; no q outside the FDR family (NaN)."""
    has_q = q is not None and not math.isnan(q)
    return f"p={_fmt(p, '.2g')}" + (f"{sep}q={_fmt(q, '.2g')}" if has_q else "")


def _comparison_notes(data: ReportInput, task: str, metric: str) -> list[str]:
    """Per cell: p and q of its condition against the reference at the same factor levels ("reference" for the reference)."""
    ref = next(c.name for c in data.conditions if c.reference)
    found: dict[tuple[str, frozenset], str] = {}
    for r in data.summary:
        if (r.task, r.metric) != (task, metric) or ref not in (r.reference, r.condition):
            continue
        other = r.condition if r.reference == ref else r.reference
        found[(other, frozenset(r.levels))] = _p_q(r.comparison.p, r.comparison.q, "\n")
    return ["reference" if c.condition == ref else found.get((c.condition, frozenset(c.levels)), "") for c in data.cells]


def report_options(data: ReportInput) -> Any:
    """The study's ``report:`` section (:class:`encephagen.config.Report`; defaults for a store written before it)."""
    from encephagen.config import Report

    return Report(**dict(data.study.options.get("report") or {}))


def _figures(data: ReportInput, out: Path) -> list[Block]:
    from encephagen.analysis import cell_chance
    from encephagen.config import FIGURE_FORMATS
    from encephagen.interfaces import undeclared

    options = report_options(data)
    fig_dir = out / "figures"
    if fig_dir.is_symlink():  # never write (or delete) figures outside the output directory
        fig_dir.unlink()
    fig_dir.mkdir(exist_ok=True)
    for fmt in FIGURE_FORMATS:
        for old in fig_dir.glob(f"*.{fmt}"):
            old.unlink()

    def image(fig: Any, stem: str, alt: str) -> Block:
        save_figure(fig, out / "figures" / stem, options.formats, options.dpi)
        return ("img", f"figures/{stem}.png", alt, round(float(fig.get_size_inches()[0]) * 100))

    factors = data.study.factors
    groups = [c.key for c in data.cells]
    names = [c.label for c in data.cells]
    described = data.analysis.metrics
    chance = cell_chance(data.cells)
    blocks: list[Block] = [("h", 2, "Metrics by " + ("cell" if factors else "condition"))]
    vector = [f for f in options.formats if f != "png"]
    if vector:
        blocks.append(("p", f"Every figure is also in figures/ as {' and '.join(f.upper() for f in vector)} (same name)."))
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    for m in data.metrics:
        if not (described.get((m.task, m.metric)) or undeclared(m.metric)).diagnostic:  # diagnostics: their own table
            values.setdefault((m.task, m.metric), {}).setdefault(m.cell, []).append(m.value)
    if values:
        blocks.append(
            ("p", "Every finished replicate's value, a box per " + ("cell" if factors else "condition") + ". Under each box: "
             "n, and p (two-sided Mann-Whitney) and q (Benjamini-Hochberg, when in the FDR family) against the reference"
             + (" at the same factor levels" if factors else "") + ", as in the results table. Dashed: the chance level "
             "its task declares.")
        )  # fmt: skip
    with figure_style():
        for i, ((task, metric), by_cell) in enumerate(sorted(values.items())):
            m = described.get((task, metric)) or undeclared(metric)
            fig = metric_figure(
                f"{task}: {metric}", names, [np.asarray(by_cell.get(g, []), dtype=float) for g in groups],
                ylabel=axis_label(metric, m.unit), chance=[chance.get((g, task, metric)) for g in groups],
                notes=_comparison_notes(data, task, metric),
            )  # fmt: skip
            blocks.append(image(fig, f"metric_{i:02d}_{_slug(task)}_{_slug(metric)}", f"{task} {metric} by {'cell' if factors else 'condition'}"))
        if not values:
            blocks.append(("p", "No finished replicates yet."))
        forest: dict[tuple[str, str], list[SummaryRow]] = {}
        for r in data.summary:
            forest.setdefault((r.task, r.metric), []).append(r)
        if forest:
            blocks += [
                ("h", 2, "Effects (forest plots)"),
                ("p", "Per metric, Cohen's d of every comparison" + (" at every combination of factor levels" if factors else "")
                 + ", with an approximate CI (Hedges-Olkin normal approximation, rough at small n); p and q on the right."),
            ]  # fmt: skip
            for i, ((task, metric), rows) in enumerate(sorted(forest.items())):
                fig = forest_figure(f"{task}: {metric}", rows, data.study.alpha)
                blocks.append(image(fig, f"forest_{i:02d}_{_slug(task)}_{_slug(metric)}", f"{task} {metric} effects"))
        curves: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
        for s in data.series:
            curves.setdefault((s.task, s.name), {}).setdefault(s.cell, []).append(np.asarray(s.values, dtype=float))
        blocks.append(("h", 2, "Learning curves"))
        for i, ((task, name), by_cell) in enumerate(sorted(curves.items())):
            m = described.get((task, name)) or undeclared(name)
            fig = series_figure(
                f"{task}: {name} (mean ± sd across replicates)", names, [by_cell.get(g, []) for g in groups],
                xlabel=m.x or "point in series", ylabel=axis_label(name, m.unit), chance=[chance.get((g, task, name)) for g in groups],
            )  # fmt: skip
            blocks.append(image(fig, f"series_{i:02d}_{_slug(task)}_{_slug(name)}", f"{task} {name}"))
        if not curves:
            blocks.append(("p", "No series recorded."))
        blocks.append(("h", 2, "Connectomes"))
        if data.connectomes is not None:
            blocks.append(
                (
                    "p",
                    "Weights (rows = sources) and between-region in/out-degree distributions of the reference and of one "
                    "surrogate per null-model condition, drawn with the seed of that condition's first cell's replicate 0.",
                )
            )
            blocks.append(image(connectome_figure(data.connectomes), "connectomes", "connectome and surrogates"))
            blocks += null_distance_blocks(data.connectomes)
        else:
            blocks.append(("p", "connectomes.npz is missing from this directory (a study of a sparse connectome writes none: "
                                "its weight matrices are too large to draw); no connectome panel."))
    return blocks


def _provenance_rows(provenance: Mapping[str, Any]) -> list[list[str]]:
    """``provenance.json`` as key/value rows; the replicates' seeds are pointed to, not repeated."""
    rows = []
    for key, value in sorted(provenance.items()):
        if key == "seeds":
            rows += [
                ["seeds.study", str(value["study"])],
                ["seeds.derivation", value["derivation"]],
                ["seeds.replicates", "every replicate's seed: the replicates table under Design, results.csv (column "
                 "seed) and provenance.json (seeds.replicates: cell -> seeds in replicate order)"],
            ]  # fmt: skip
        elif isinstance(value, list):
            rows.append([key, ", ".join(map(str, value)) or "none"])
        else:
            rows.append([key, str(value)])
    return rows


def write_report(out: Path, data: ReportInput) -> Path:
    """Write ``figures/``, ``report.md`` and ``report.html`` into ``out``.

    :returns: the path of ``report.html``.
    """
    s = data.study
    done = sum(r.status == "done" for r in data.replicates)
    blocks: list[Block] = [
        ("h", 1, f"Study report: {s.name}"),
        ("p", f"{done} of {len(data.replicates)} replicates finished."),
    ]
    blocks += _design(data)
    blocks += _meanings(data)
    blocks += _results(data)
    blocks += _learning(data)
    blocks += _diagnostics(data)
    blocks += _failed(data)
    blocks += _figures(data, out)
    blocks += [
        ("h", 2, "Provenance"),
        ("table", ["key", "value"], _provenance_rows(data.provenance)),
        ("h", 2, "Study file"),
        ("pre", s.yaml),
    ]
    _write(out / "report.md", to_markdown(blocks))
    target = out / "report.html"
    _write(target, to_html(blocks, f"Study report: {s.name}", out))
    return target


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
