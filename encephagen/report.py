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

from encephagen.stats import Comparison
from encephagen.store import MetricRow, ReplicateRow, SeriesRow, StoredCondition, StoredStudy

SUMMARY_COLUMNS = (
    "task", "metric", "reference", "condition", "n_ref", "n", "mean_ref", "sd_ref", "mean", "sd",
    "U", "p", "q", "d", "g", "ci_low", "ci_high", "winner", "power_n", "note",
)  # fmt: skip


@attrs.frozen
class SummaryRow:
    """One comparison of ``condition`` with ``reference`` on one metric.

    :ivar comparison: the :class:`~encephagen.stats.Comparison` (q set).
    :ivar power_n: replicates per condition for 80 % power at the observed d
        (``None`` without a finite, non-zero d).
    :ivar note: special cases and failed replicates.
    """

    task: str
    metric: str
    reference: str
    condition: str
    comparison: Comparison
    power_n: int | None
    note: str

    @property
    def winner(self) -> str:
        """The name of the winning condition ("" when no difference is significant)."""
        return {"other": self.condition, "reference": self.reference}.get(self.comparison.winner, "")


def _num(x: float | None) -> str:
    """A number for a CSV file: shortest exact repr, "nan", or "" for none."""
    return "" if x is None else repr(float(x))


def summary_csv_row(row: SummaryRow) -> list[str]:
    """``row`` as the columns of :data:`SUMMARY_COLUMNS`."""
    c = row.comparison
    return [
        row.task, row.metric, row.reference, row.condition, str(c.n_ref), str(c.n_other),
        _num(c.mean_ref), _num(c.sd_ref), _num(c.mean_other), _num(c.sd_other),
        _num(c.u), _num(c.p), _num(c.q), _num(c.d), _num(c.g), _num(c.ci_low), _num(c.ci_high),
        row.winner, "" if row.power_n is None else str(row.power_n), row.note,
    ]  # fmt: skip


# -- connectomes ---------------------------------------------------------------------------


@attrs.frozen
class ConnectomePanel:
    """The reference weights and one surrogate per null-model condition (rows = sources).

    :ivar reference_name: the reference condition's name.
    :ivar connectome: the connectome's name, e.g. ``tvb:connectivity_96``.
    :ivar reference: ``(n, n)`` weights.
    :ivar surrogates: condition -> (null model, ``(n, n)`` weights), in condition order.
    """

    reference_name: str
    connectome: str
    reference: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    surrogates: Mapping[str, tuple[str, np.ndarray]] = attrs.field(eq=False)


def save_connectomes(panel: ConnectomePanel) -> bytes:
    """``panel`` as the bytes of an ``.npz`` file (no pickled objects)."""
    meta = {
        "reference_name": panel.reference_name,
        "connectome": panel.connectome,
        "surrogates": [[cond, model] for cond, (model, _) in panel.surrogates.items()],
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
        return ConnectomePanel(meta["reference_name"], meta["connectome"], z["reference"], surrogates)


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
    replicates: Sequence[ReplicateRow]
    metrics: Sequence[MetricRow]
    series: Sequence[SeriesRow]
    summary: Sequence[SummaryRow]
    provenance: Mapping[str, str]
    connectomes: ConnectomePanel | None


# -- figures ---------------------------------------------------------------------------------


def _figure(width: float, height: float, **margins: float) -> Any:
    """A figure with fixed margins (fractions); a layout engine would cost a second draw."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(**margins)
    return fig


def _save(fig: Any, path: Path) -> None:
    fig.savefig(path, format="png", metadata={"Software": None})


def metric_figure(path: Path, title: str, names: Sequence[str], values: Sequence[np.ndarray]) -> None:
    """Every replicate's value by condition: a box per condition with the points on top."""
    fig = _figure(1.6 + 1.2 * len(names), 3.6, left=0.18, right=0.95, bottom=0.17, top=0.9)
    ax = fig.add_subplot()
    finite = [v[np.isfinite(v)] for v in values]
    ax.boxplot(finite, positions=range(len(names)), widths=0.5, showfliers=False)
    for i, v in enumerate(finite):
        ax.plot(i + np.linspace(-0.15, 0.15, v.size) if v.size > 1 else [i] * v.size, v, "o", ms=4, alpha=0.7)
    ax.set_xticks(range(len(names)), [f"{n}\n(n={v.size})" for n, v in zip(names, finite)])
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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


# -- blocks and their two renderings -------------------------------------------------------------

# A block is ("h", level, text) | ("p", text) | ("table", header, rows) | ("img", relpath, alt) | ("pre", text).
Block = tuple


def _fmt(x: float | None, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return format(x, spec)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    """Render blocks as GitHub-flavoured Markdown."""
    parts = []
    for b in blocks:
        if b[0] == "h":
            parts.append("#" * b[1] + " " + b[2])
        elif b[0] == "p":
            parts.append(b[1])
        elif b[0] == "table":
            header, rows = b[1], b[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            parts.append("\n".join(lines))
        elif b[0] == "img":
            parts.append(f"![{b[2]}]({b[1]})")
        elif b[0] == "pre":
            parts.append("```\n" + b[1].rstrip("\n") + "\n```")
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


def _design(data: ReportInput) -> list[Block]:
    s = data.study
    status: dict[str, dict[str, int]] = {c.name: {"done": 0, "failed": 0, "pending": 0, "running": 0} for c in data.conditions}
    for r in data.replicates:
        status[r.condition][r.status] += 1
    ref = next(c.name for c in data.conditions if c.reference)
    cond_rows = [
        [
            c.name + (" (reference)" if c.reference else ""),
            c.null_model or "none (the connectome as is)",
            s.replicates,
            status[c.name]["done"],
            status[c.name]["failed"],
            status[c.name]["pending"] + status[c.name]["running"],
        ]
        for c in data.conditions
    ]
    rep_rows = [
        [r.condition, r.idx, r.seed, r.status, _fmt(r.seconds, ".1f"), r.device or ""] for r in data.replicates
    ]
    return [
        ("h", 2, "Design"),
        (
            "p",
            f"{len(data.conditions)} conditions x {s.replicates} replicates, study seed {s.seed}, alpha {s.alpha:g}; "
            f"every condition is compared with the reference {ref!r}. Each replicate's seed derives from the study "
            f"seed, its condition's name and its index. Study file SHA-256 {s.hash}; store created {s.created}.",
        ),
        ("table", ["condition", "null model", "planned", "done", "failed", "unfinished"], cond_rows),
        ("table", ["condition", "replicate", "seed", "status", "seconds", "device"], rep_rows),
    ]


def _results(data: ReportInput) -> list[Block]:
    alpha = data.study.alpha
    ci = f"{(1 - alpha) * 100:g} % CI"
    rows = []
    for r in data.summary:
        c = r.comparison
        rows.append(
            [
                r.task, r.metric, f"{r.condition} vs {r.reference}", c.n_ref, c.n_other,
                f"{_fmt(c.mean_ref)} ± {_fmt(c.sd_ref, '.3g')}", f"{_fmt(c.mean_other)} ± {_fmt(c.sd_other, '.3g')}",
                _fmt(c.u, "g"), _fmt(c.p, ".3g"), _fmt(c.q, ".3g"), _fmt(c.d, ".3g"),
                f"[{_fmt(c.ci_low, '.3g')}, {_fmt(c.ci_high, '.3g')}]", r.winner or "-",
                "" if r.power_n is None else r.power_n, r.note,
            ]
        )  # fmt: skip
    text = (
        "Per metric, each condition against the reference: two-sided Mann-Whitney U (U of the condition), "
        "Benjamini-Hochberg q over all metrics and comparisons together, Cohen's d with population variances "
        f"(condition minus reference), and the bootstrap {ci} of the difference in means. A winner is named when "
        f"q < {alpha:g}. power_n is the number of replicates per condition that would detect the observed d with "
        "80 % power (a planning estimate, not evidence). Only finished replicates count; n says how many."
    )
    header = ["task", "metric", "comparison", "n_ref", "n", "mean_ref ± sd", "mean ± sd", "U", "p", "q", "d", ci, "winner", "power_n", "note"]
    return [("h", 2, "Results"), ("p", text), ("table", header, rows) if rows else ("p", "No comparisons yet: they need finished replicates of at least two conditions.")]


def _failed(data: ReportInput) -> list[Block]:
    rows = [[r.condition, r.idx, r.seed, r.error or ""] for r in data.replicates if r.status == "failed"]
    unfinished = sum(r.status in ("pending", "running") for r in data.replicates)
    blocks: list[Block] = [("h", 2, "Failed replicates")]
    if rows:
        blocks.append(("p", f"{len(rows)} replicate(s) failed; they are left out of the statistics."))
        blocks.append(("table", ["condition", "replicate", "seed", "reason"], rows))
    else:
        blocks.append(("p", "None."))
    if unfinished:
        blocks.append(("p", f"{unfinished} replicate(s) have not finished yet; rerun the study to resume."))
    return blocks


def _figures(data: ReportInput, out: Path) -> list[Block]:
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    for old in fig_dir.glob("*.png"):
        old.unlink()
    names = [c.name for c in data.conditions]
    blocks: list[Block] = [("h", 2, "Metrics by condition")]
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    for m in data.metrics:
        values.setdefault((m.task, m.metric), {}).setdefault(m.condition, []).append(m.value)
    for i, ((task, metric), by_cond) in enumerate(sorted(values.items())):
        rel = f"figures/metric_{i:02d}_{_slug(task)}_{_slug(metric)}.png"
        metric_figure(out / rel, f"{task}: {metric}", names, [np.asarray(by_cond.get(n, []), dtype=float) for n in names])
        blocks.append(("img", rel, f"{task} {metric} by condition"))
    if not values:
        blocks.append(("p", "No finished replicates yet."))
    curves: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
    for s in data.series:
        curves.setdefault((s.task, s.name), {}).setdefault(s.condition, []).append(np.asarray(s.values, dtype=float))
    blocks.append(("h", 2, "Learning curves"))
    for i, ((task, name), by_cond) in enumerate(sorted(curves.items())):
        rel = f"figures/series_{i:02d}_{_slug(task)}_{_slug(name)}.png"
        series_figure(out / rel, f"{task}: {name} (mean ± sd across replicates)", names, [by_cond.get(n, []) for n in names])
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
                "surrogate per null-model condition, drawn with the seed of that condition's replicate 0.",
            )
        )
        blocks.append(("img", "figures/connectomes.png", "connectome and surrogates"))
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
    blocks += _results(data)
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
