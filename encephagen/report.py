"""The study report: ``report.md``, a self-contained ``report.html`` and ``figures/``.

Everything here is a pure function of the store's contents (through
:class:`ReportInput`) and of ``connectomes.npz``, so ``encephagen report DIR``
rebuilds the same report from a finished (or interrupted) run. The report
is written as a list of blocks (headings, paragraphs, tables, images, code)
rendered twice: as Markdown with figures linked from ``figures/``, and as
HTML with the same figures embedded as base64 PNG. Figures are drawn with
matplotlib's Agg canvas without touching pyplot's global state.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
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
    """Everything the report shows, as read from the store."""

    study: StoredStudy
    conditions: Sequence[StoredCondition]
    cells: Sequence[StoredCell]
    replicates: Sequence[ReplicateRow]
    metrics: Sequence[MetricRow]
    series: Sequence[SeriesRow]
    analysis: Analysis
    provenance: Mapping[str, str]
    connectomes: ConnectomePanel | None

    @property
    def summary(self) -> Sequence[SummaryRow]:
        """The comparisons."""
        return self.analysis.comparisons


# -- figures ---------------------------------------------------------------------------------


def _figure(width: float, height: float, **margins: float) -> Any:
    """A figure with fixed margins (fractions); a layout engine would cost a second draw."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(**margins)
    return fig


def _save(fig: Any, path: Path) -> None:
    """PNG, cropped to what was drawn (long tick labels are never cut off by the fixed margins)."""
    fig.savefig(path, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)


def metric_figure(path: Path, title: str, names: Sequence[str], values: Sequence[np.ndarray]) -> None:
    """Every replicate's value by condition (or cell): a box per name with the points on top.

    A cell's label (``rewired, rule=eprop``) is written one part per line.
    """
    cells = any(", " in n for n in names)
    fig = _figure(1.6 + (1.4 if cells else 1.2) * len(names), 3.6, left=0.18, right=0.95, bottom=0.17, top=0.9)
    ax = fig.add_subplot()
    finite = [v[np.isfinite(v)] for v in values]
    ax.boxplot(finite, positions=range(len(names)), widths=0.5, showfliers=False)
    for i, v in enumerate(finite):
        ax.plot(i + np.linspace(-0.15, 0.15, v.size) if v.size > 1 else [i] * v.size, v, "o", ms=4, alpha=0.7)
    ax.set_xticks(range(len(names)), [f"{n.replace(', ', chr(10))}\n(n={v.size})" for n, v in zip(names, finite)], fontsize=8 if cells else None)
    ax.set_title(title)
    _save(fig, path)


def series_figure(path: Path, title: str, names: Sequence[str], curves: Sequence[list[np.ndarray]]) -> None:
    """Mean +- sd (across replicates) of a series per condition; shorter series count where they exist."""
    fig = _figure(6.0, 3.6, left=0.1, right=0.97, bottom=0.14, top=0.9)
    ax = fig.add_subplot()
    for name, group in zip(names, curves):
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
    ax.set_xlabel("point in series")
    ax.set_title(title)
    ax.legend()
    _save(fig, path)


def connectome_figure(path: Path, panel: ConnectomePanel) -> None:
    """Weight matrices (rows = sources) and in/out-degree histograms of the reference and each surrogate."""
    mats = [(f"{panel.reference_name} ({panel.connectome})", panel.reference)]
    mats += [(f"{cond} ({model})", w) for cond, (model, w) in panel.surrogates.items()]
    fig = _figure(3.4 * len(mats) + 0.6, 6.4, left=0.1, right=0.95, bottom=0.08, top=0.95, wspace=0.4, hspace=0.3)
    axes = fig.subplots(2, len(mats), squeeze=False)
    vmax = max(float(np.max(w)) for _, w in mats) or 1.0
    all_deg = [d for _, w in mats for d in degrees(w)]
    bins = np.arange(0, max(int(d.max()) for d in all_deg) + 2) - 0.5
    for j, (title, w) in enumerate(mats):
        im = axes[0, j].imshow(w, cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
        axes[0, j].set_title(title, fontsize=9)
        axes[0, j].set_xlabel("target region")
        axes[0, j].set_ylabel("source region")
        din, dout = degrees(w)
        axes[1, j].hist(din, bins=bins, histtype="step", label="in-degree")
        axes[1, j].hist(dout, bins=bins, histtype="step", label="out-degree")
        axes[1, j].set_xlabel("degree (between-region edges)")
        axes[1, j].set_ylabel("regions")
        axes[1, j].legend(fontsize=8)
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.8, label="weight")
    _save(fig, path)


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

# A block is ("h", level, text) | ("p", text) | ("table", header, rows) | ("img", relpath, alt) | ("pre", text).
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
            body.append(f'<img alt="{esc(b[2])}" src="data:image/png;base64,{data}">')
        elif b[0] == "pre":
            body.append(f"<pre>{esc(b[1])}</pre>")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{esc(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


# -- the report ------------------------------------------------------------------------------------


def _levels_text(levels: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{f}={lv}" for f, lv in levels) or "-"


def _design(data: ReportInput) -> list[Block]:
    s = data.study
    factors = s.factors
    status: dict[str, dict[str, int]] = {c.key: {"done": 0, "failed": 0, "pending": 0, "running": 0} for c in data.cells}
    for r in data.replicates:
        status[r.cell][r.status] += 1
    ref = next(c.name for c in data.conditions if c.reference)
    null = {c.name: c.null_model for c in data.conditions}
    cell_rows = []
    for c in data.cells:
        info, st = c.info, status[c.key]
        cell_rows.append(
            [
                c.condition + (" (reference)" if c.condition == ref else ""),
                *(dict(c.levels).get(f, "") for f in factors),
                info.get("null_model", null.get(c.condition)) or "none (the connectome as is)",
                "; ".join(f"{p}={v}" for p, v in c.changes) or "-",
                f"{info.get('neurons', '?')} ({info.get('regions', '?')} x {info.get('neurons_per_region', '?')})",
                info.get("synapses", "?"),
                info.get("rule", "?"),
                s.replicates, st["done"], st["failed"], st["pending"] + st["running"],
            ]
        )  # fmt: skip
    header = ["condition", *factors, "null model", "overrides", "neurons per brain", "synapses (expected)", "rule", "planned", "done", "failed", "unfinished"]
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
        ("p", "Cells: what each one changes from the study's defaults (overrides), its brain and its rule."),
        ("table", header, cell_rows),
        ("table", ["cell", "replicate", "seed", "status", "seconds", "device"], rep_rows),
    ]
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


def forest_figure(path: Path, title: str, rows: Sequence[SummaryRow], alpha: float) -> None:
    """Cohen's d with its approximate CI for every comparison of one metric, a row per (comparison, factor levels)."""
    from encephagen.stats import d_interval

    labels = [f"{r.condition} vs {r.reference}" + (f" | {_levels_text(r.levels)}" if r.levels else "") for r in rows]
    height = 1.2 + 0.32 * len(rows)
    # The row labels stand left of the axes; the saved figure is cropped to include them (see _save).
    fig = _figure(5.5, height, left=0.02, right=0.82, bottom=0.6 / height + 0.05, top=1 - 0.45 / height)
    ax = fig.add_subplot()
    for y, r in enumerate(rows):
        c = r.comparison
        lo, hi = d_interval(c.d, c.n_ref, c.n_other, alpha)
        if math.isfinite(c.d):
            ax.errorbar([c.d], [y], xerr=[[c.d - lo], [hi - c.d]] if math.isfinite(lo) else None, fmt="o", color="k", ms=4, capsize=3)
        q = c.q if c.q is not None and not math.isnan(c.q) else None
        note = f"p={_fmt(c.p, '.2g')}" + (f" q={_fmt(q, '.2g')}" if q is not None else "")
        ax.annotate(note, xy=(1.02, y), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(f"Cohen's d (condition - reference), {(1 - alpha) * 100:g} % CI (normal approximation)")
    ax.set_title(title, fontsize=10)
    _save(fig, path)


def _figures(data: ReportInput, out: Path) -> list[Block]:
    fig_dir = out / "figures"
    if fig_dir.is_symlink():  # never write (or delete) figures outside the output directory
        fig_dir.unlink()
    fig_dir.mkdir(exist_ok=True)
    for old in fig_dir.glob("*.png"):
        old.unlink()
    factors = data.study.factors
    groups = [c.key for c in data.cells]
    names = [c.label for c in data.cells]
    blocks: list[Block] = [("h", 2, "Metrics by " + ("cell" if factors else "condition"))]
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    for m in data.metrics:
        values.setdefault((m.task, m.metric), {}).setdefault(m.cell, []).append(m.value)
    for i, ((task, metric), by_cell) in enumerate(sorted(values.items())):
        rel = f"figures/metric_{i:02d}_{_slug(task)}_{_slug(metric)}.png"
        metric_figure(out / rel, f"{task}: {metric}", names, [np.asarray(by_cell.get(g, []), dtype=float) for g in groups])
        blocks.append(("img", rel, f"{task} {metric} by {'cell' if factors else 'condition'}"))
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
        ]
        for i, ((task, metric), rows) in enumerate(sorted(forest.items())):
            rel = f"figures/forest_{i:02d}_{_slug(task)}_{_slug(metric)}.png"
            forest_figure(out / rel, f"{task}: {metric}", rows, data.study.alpha)
            blocks.append(("img", rel, f"{task} {metric} effects"))
    curves: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
    for s in data.series:
        curves.setdefault((s.task, s.name), {}).setdefault(s.cell, []).append(np.asarray(s.values, dtype=float))
    blocks.append(("h", 2, "Learning curves"))
    for i, ((task, name), by_cell) in enumerate(sorted(curves.items())):
        rel = f"figures/series_{i:02d}_{_slug(task)}_{_slug(name)}.png"
        series_figure(out / rel, f"{task}: {name} (mean ± sd across replicates)", names, [by_cell.get(g, []) for g in groups])
        blocks.append(("img", rel, f"{task} {name}"))
    if not curves:
        blocks.append(("p", "No series recorded."))
    blocks.append(("h", 2, "Connectomes"))
    if data.connectomes is not None:
        connectome_figure(out / "figures/connectomes.png", data.connectomes)
        blocks.append(
            (
                "p",
                "Weights (rows = sources) and between-region in/out-degree distributions of the reference and of one "
                "surrogate per null-model condition, drawn with the seed of that condition's first cell's replicate 0.",
            )
        )
        blocks.append(("img", "figures/connectomes.png", "connectome and surrogates"))
        blocks += null_distance_blocks(data.connectomes)
    else:
        blocks.append(("p", "connectomes.npz is missing from this directory; no connectome panel."))
    return blocks


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
        ("table", ["key", "value"], [[k, v] for k, v in sorted(data.provenance.items())]),
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
