"""The files of a results directory, rebuilt from the store: CSV tables, provenance, the report.

::

    out/
      results.csv        one row per (condition, factor levels, replicate, task, metric)
      summary.csv        one row per (task, metric, factor levels, comparison)
      interactions.csv   one row per (task, metric, condition, factor); studies with factors
      omnibus.csv        one row per (task, metric, factor levels); studies with > 2 conditions
      provenance.json    versions, plugins, encephagen's revision, study hash, seeds, devices
      connectomes.npz    the reference weights and one surrogate per null-model condition
      report.md, report.html
      figures/           the report's figures as PNG (and SVG, PDF: the study's report.formats)

Every file is written through a temporary file, so a kill never leaves half
of one. Columns named after factors appear only in studies with factors, so a
study without them gives the same files as before factors existed.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from encephagen.analysis import Analysis, InteractionRow, OmnibusRow, SummaryRow, analyze
from encephagen.errors import ConfigError
from encephagen.store import STORE_NAME, MetricRow, Store
from encephagen.study import SEED_DERIVATION, Plan, stream_seed

CONNECTOMES_NAME = "connectomes.npz"

SUMMARY_COLUMNS = (
    "task", "metric", "reference", "condition", "n_ref", "n", "mean_ref", "sd_ref", "mean", "sd",
    "U", "p", "q", "d", "g", "ci_low", "ci_high", "direction", "winner", "power_n", "note",
)  # fmt: skip
INTERACTION_COLUMNS = (
    "task", "metric", "condition", "reference", "factor", "levels", "effects", "n", "F", "df1", "df2",
    "permutations", "p", "q", "note",
)  # fmt: skip


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` through a temporary file so a kill never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8", newline="")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _num(x: float | None) -> str:
    """A number for a CSV file: shortest exact repr, "nan", or "" for none."""
    return "" if x is None else repr(float(x))


def results_csv(rows: Sequence[MetricRow], factors: Sequence[str] = ()) -> str:
    """``results.csv``: one row per value, in cell order, then replicate, task, metric; a column per factor."""
    header = ("condition", *factors, "replicate", "seed", "task", "metric", "value")
    table = []
    for r in rows:
        by = dict(r.levels)
        table.append((r.condition, *(by.get(f, "") for f in factors), r.replicate, r.seed, r.task, r.metric, _num(r.value)))
    return _csv(header, table)


def summary_csv_row(row: SummaryRow, factors: Sequence[str] = ()) -> list[str]:
    """``row`` as the columns of :data:`SUMMARY_COLUMNS` (factor columns after ``metric``)."""
    c = row.comparison
    by = dict(row.levels)
    return [
        row.task, row.metric, *(by.get(f, "") for f in factors), row.reference, row.condition, str(c.n_ref), str(c.n_other),
        _num(c.mean_ref), _num(c.sd_ref), _num(c.mean_other), _num(c.sd_other),
        _num(c.u), _num(c.p), _num(c.q), _num(c.d), _num(c.g), _num(c.ci_low), _num(c.ci_high),
        c.direction, row.winner, "" if row.power_n is None else str(row.power_n), row.note,
    ]  # fmt: skip


def summary_csv(rows: Sequence[SummaryRow], factors: Sequence[str] = ()) -> str:
    """``summary.csv``: one row per (task, metric, factor levels, comparison)."""
    header = (*SUMMARY_COLUMNS[:2], *factors, *SUMMARY_COLUMNS[2:])
    return _csv(header, [summary_csv_row(s, factors) for s in rows])


def interaction_csv_row(row: InteractionRow) -> list[str]:
    """``row`` as the columns of :data:`INTERACTION_COLUMNS`."""
    r = row.result
    return [
        row.task, row.metric, row.condition, row.reference, row.factor, ";".join(row.levels),
        ";".join(_num(e) for e in r.effects), str(r.n), _num(r.statistic), str(r.df1), str(r.df2),
        str(r.n_perm), _num(r.p), _num(row.q), r.note,
    ]  # fmt: skip


def omnibus_csv(rows: Sequence[OmnibusRow], conditions: Sequence[str], factors: Sequence[str]) -> str:
    """``omnibus.csv``: Kruskal-Wallis across the conditions per (task, metric, factor levels)."""
    header = ("task", "metric", *factors, *(f"n_{c}" for c in conditions), "H", "p", "q", "note")
    table = []
    for o in rows:
        by = dict(o.levels)
        table.append([o.task, o.metric, *(by.get(f, "") for f in factors), *map(str, o.n), _num(o.h), _num(o.p), _num(o.q), o.note])
    return _csv(header, table)


@attrs.frozen
class StudyResults:
    """A finished (or interrupted) study's tables, as objects: what :func:`encephagen.run` returns.

    :ivar out: the output directory.
    :ivar results: every value of the finished replicates (:class:`~encephagen.store.MetricRow`).
    :ivar summary: the comparisons (:class:`~encephagen.analysis.SummaryRow`).
    :ivar interactions: the interaction tests (:class:`~encephagen.analysis.InteractionRow`).
    :ivar omnibus: the Kruskal-Wallis tests (:class:`~encephagen.analysis.OmnibusRow`).
    :ivar counts: replicates per status (``done``, ``failed``, ``pending``, ``running``).
    """

    out: Path
    results: list[MetricRow]
    summary: list[SummaryRow]
    interactions: list[InteractionRow]
    omnibus: list[OmnibusRow]
    counts: dict[str, int]

    @property
    def report(self) -> Path:
        """``report.html``."""
        return self.out / "report.html"

    def table(self, name: str) -> list[dict[str, str]]:
        """``results``, ``summary`` or ``interactions`` as rows with the CSV file's columns (strings), e.g. for pandas."""
        factors = list(dict.fromkeys(f for r in self.results for f, _ in r.levels))
        if name == "results":
            text = results_csv(self.results, factors)
        elif name == "summary":
            text = summary_csv(self.summary, factors)
        elif name == "interactions":
            text = _csv(INTERACTION_COLUMNS, [interaction_csv_row(i) for i in self.interactions])
        else:
            raise ValueError(f"table: expected results, summary or interactions, got {name!r}")
        return list(csv.DictReader(io.StringIO(text)))


RESULTS_FILE = "results.csv"


def results_of(out_dir: str | Path) -> StudyResults:
    """The tables of the study in ``out_dir``, read from its store and analysed (the CSV files are not read)."""
    out = Path(out_dir)
    stored, conditions, cells, replicates, metrics, _, _ = _read_store(out)
    analysis = _analyze(stored, conditions, cells, replicates, metrics)
    counts = {s: sum(r.status == s for r in replicates) for s in ("done", "failed", "pending", "running")}
    return StudyResults(out, metrics, analysis.comparisons, analysis.interactions, analysis.omnibus, counts)


def _read_store(out: Path) -> tuple:
    db = out / STORE_NAME
    if not db.is_file():
        raise ConfigError.at("", f"{out} holds no {STORE_NAME}; give the --out directory of `encephagen run`")
    with Store(db) as store:
        stored = store.study()
        if stored is None:
            raise ConfigError.at("", f"{db} holds no study yet; run one into {out} first")
        return stored, store.conditions(), store.cells(), store.replicates(), store.metric_rows(), store.series_rows(), store.provenance()


def _analyze(stored: Any, conditions: Any, cells: Any, replicates: Any, metrics: Any) -> Analysis:
    failed: dict[str, int] = {}
    for r in replicates:
        if r.status == "failed":
            failed[r.cell] = failed.get(r.cell, 0) + 1
    return analyze(
        conditions, cells, metrics, seed=stored.seed, alpha=stored.alpha, planned=stored.replicates,
        factors=stored.factors, statistics=stored.options.get("statistics"), failed=failed,
    )


#: Keys of the store's provenance that older versions wrote; :func:`seeds_provenance` replaces them.
_OLD_SEED_KEYS = ("study_seed", "replicate_seeds", "resumed_with.replicate_seeds")


def seeds_provenance(study_seed: int, cells: Sequence[Any], replicates: Sequence[Any]) -> dict[str, Any]:
    """The ``seeds`` entry of ``provenance.json``: the study seed, how every seed follows from it,
    and every replicate's seed by cell (in replicate order), as the store holds them now."""
    by_cell: dict[str, list[int]] = {c.key: [] for c in cells}
    for r in sorted(replicates, key=lambda r: r.idx):
        by_cell.setdefault(r.cell, []).append(int(r.seed))
    return {"study": int(study_seed), "derivation": SEED_DERIVATION, "replicates": by_cell}


def report_input(out_dir: str | Path) -> Any:
    """What the report of the study in ``out_dir`` shows (a :class:`~encephagen.report.ReportInput`), read from
    its store and ``connectomes.npz``; nothing is written. Its ``provenance`` is what ``provenance.json`` holds.

    :raises ConfigError: when ``out_dir`` holds no study store.
    """
    from encephagen.report import ReportInput, load_connectomes

    out = Path(out_dir)
    stored, conditions, cells, replicates, metrics, series, provenance = _read_store(out)
    devices = sorted({r.device for r in replicates if r.status == "done" and r.device})
    recorded = {k: v for k, v in provenance.items() if k not in _OLD_SEED_KEYS}
    return ReportInput(
        study=stored,
        conditions=conditions,
        cells=cells,
        replicates=replicates,
        metrics=metrics,
        series=series,
        analysis=_analyze(stored, conditions, cells, replicates, metrics),
        provenance={**recorded, "devices_used": devices, "seeds": seeds_provenance(stored.seed, cells, replicates)},
        connectomes=load_connectomes(out / CONNECTOMES_NAME) if (out / CONNECTOMES_NAME).is_file() else None,
    )


def regenerate_report(out_dir: str | Path) -> Path:
    """Rebuild every export and the report from the store and ``connectomes.npz``.

    :returns: the path of ``report.html``.
    :raises ConfigError: when ``out_dir`` holds no study store.
    """
    from encephagen.report import write_report

    out = Path(out_dir)
    data = report_input(out)
    analysis, conditions = data.analysis, data.conditions
    factors = data.study.factors
    write_atomic(out / RESULTS_FILE, results_csv(data.metrics, list(factors)))
    write_atomic(out / "summary.csv", summary_csv(analysis.comparisons, list(factors)))
    for name, wanted, text in (
        ("interactions.csv", bool(factors), lambda: _csv(INTERACTION_COLUMNS, [interaction_csv_row(i) for i in analysis.interactions])),
        ("omnibus.csv", len(conditions) > 2, lambda: omnibus_csv(analysis.omnibus, [c.name for c in conditions], list(factors))),
    ):
        if wanted:
            write_atomic(out / name, text())
        elif (out / name).exists():
            (out / name).unlink()
    write_atomic(out / "provenance.json", json.dumps(dict(data.provenance), indent=2, sort_keys=True) + "\n")
    return write_report(out, data)


def draw_connectome_panel(plan: Plan) -> Any:
    """The reference weights and one surrogate per null model the study's cells use.

    Each surrogate is drawn as the first cell with that null model draws
    its replicate 0: with ``stream_rng(seed, "null_model")`` of its seed
    (``default_rng(stream_seed(seed, "null_model"))``, the seed recorded in
    the panel's draws), on that cell's connectome. It is named after the
    condition (after the cell when the null model comes from a factor level).
    """
    from encephagen.connectome_view import SurrogateDraw
    from encephagen.report import ConnectomePanel

    surrogates: dict[str, tuple[str, np.ndarray]] = {}
    draws: dict[str, SurrogateDraw] = {}
    seen: set[str] = set()
    for rep in plan.replicates:
        cell = plan.cell(rep.cell)
        model = cell.study.conditions[0].null_model
        if rep.index != 0 or model is None or repr(model) in seen:
            continue
        seen.add(repr(model))
        own = plan.condition(rep.condition).null_model == model
        seed = stream_seed(rep.seed, "null_model")
        try:
            drawn = model.randomize(plan.connectomes[rep.cell], np.random.default_rng(seed))
        except Exception:  # noqa: BLE001 - a plugin's error fails that replicate with its reason; the panel goes without it
            continue
        name = rep.condition if own else cell.label
        surrogates[name] = (model.name, np.asarray(drawn.weights))
        draws[name] = SurrogateDraw.of(model, plan.connectomes[rep.cell], seed, drawn)
    return ConnectomePanel(
        reference_name=plan.study.reference_condition().name,
        connectome=plan.connectome.name,
        reference=np.asarray(plan.connectome.weights),
        surrogates=surrogates,
        draws=draws,
    )
