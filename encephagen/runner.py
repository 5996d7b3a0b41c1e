"""Run a study: conditions x replicates -> store -> statistics -> report.

:func:`run_study` validates the study file, opens (or resumes) the store in
the output directory, hands the unfinished replicates to an executor, commits
each one as it finishes, then writes the exports and the report::

    out/
      study.sqlite      the store (see encephagen.store)
      results.csv       one row per (condition, replicate, task, metric)
      summary.csv       one row per (task, metric, condition vs reference)
      provenance.json   versions, plugins, git revision, study hash, devices
      connectomes.npz   the reference weights and one surrogate per null model
      report.md, report.html, figures/

Resuming. Rerunning the same study file into the same directory skips the
replicates that are done and runs those that are pending or were running when
an earlier run died. Failed replicates stay failed (a replicate's failure
follows from its seed, so a rerun would fail again) unless ``retry_failed``
is set. A replicate lost to the executor itself (a worker process that died,
a lost cluster worker) is not a failure of the replicate: it goes back to
pending and the next run picks it up. A study file that changed since the
store was created is refused, with the changed keys and how to start fresh;
only a change of ``executor:`` alone is accepted.
"""

from __future__ import annotations

import csv
import difflib
import functools
import hashlib
import importlib.metadata
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from encephagen import __version__
from encephagen.config import Study, load_yaml, parse_study, read_study_text
from encephagen.connectome import Connectome
from encephagen.errors import ConfigError, EncephagenError
from encephagen.registry import Registry
from encephagen.results import ReplicateFailed, ReplicateResult
from encephagen.store import (
    STORE_NAME,
    MetricRow,
    StoredCondition,
    StoredStudy,
    Store,
    utc_now,
)
from encephagen.study import Plan, Replicate, plan_for, stream_rng

if TYPE_CHECKING:  # statistics and plotting load lazily: worker processes import this module
    from encephagen.report import ConnectomePanel, SummaryRow

#: ``replicate_fn(study, connectome, replicate) -> ReplicateResult``.
ReplicateFn = Callable[[Study, Connectome, Replicate], ReplicateResult]

RESULTS_COLUMNS = ("condition", "replicate", "seed", "task", "metric", "value")
CONNECTOMES_NAME = "connectomes.npz"


def default_replicate(study: Study, connectome: Connectome, replicate: Replicate) -> ReplicateResult:
    """Simulate one replicate with :func:`encephagen.replicate.run_replicate` (imported on first use)."""
    from encephagen.replicate import run_replicate

    return run_replicate(study, connectome, replicate)


# -- one replicate, in the worker -------------------------------------------------------


@attrs.frozen
class Outcome:
    """What a worker sends back for one replicate: a result, or the reason it failed.

    :ivar error: one line (empty when the replicate finished).
    :ivar detail: the traceback of a failure (empty otherwise).
    :ivar started: ISO 8601 UTC time the replicate started in the worker.
    :ivar seconds: wall time in the worker (s).
    """

    replicate: Replicate
    result: ReplicateResult | None
    error: str
    detail: str
    started: str
    finished: str
    seconds: float


def _invalid_result(result: Any, replicate: Replicate) -> str:
    """Why ``result`` cannot be stored for ``replicate`` ("" when it can)."""
    if not isinstance(result, ReplicateResult):
        return f"the replicate function returned {type(result).__name__}, not a ReplicateResult"
    got = (result.condition, result.replicate, result.seed)
    want = (replicate.condition, replicate.index, replicate.seed)
    if got != want:
        return f"the replicate function returned the result of (condition, replicate, seed) = {got}, expected {want}"
    for task, values in result.metrics.items():
        for metric, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                return f"metric {task}.{metric} is {value!r}, not a number"
            if math.isinf(value):
                return f"metric {task}.{metric} is infinite"
    for task, named in result.series.items():
        for name, values in named.items():
            try:
                arr = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                return f"series {task}.{name} is not a list of numbers"
            if arr.ndim != 1:
                return f"series {task}.{name} has shape {arr.shape}, expected a 1-D list"
    return ""


def _reason(exc: BaseException) -> str:
    """One line: the exception and where it was raised."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return text


def execute(replicate_fn: ReplicateFn, study: Study, connectome: Connectome, replicate: Replicate) -> Outcome:
    """Run one replicate and never raise: a failure comes back as an :class:`Outcome` with its reason.

    :class:`~encephagen.results.ReplicateFailed` gives its own reason; any
    other exception (a plugin's bug) gives its type, message and location.
    """
    started = utc_now()
    t0 = time.perf_counter()
    result: ReplicateResult | None = None
    error = detail = ""
    try:
        result = replicate_fn(study, connectome, replicate)
        error = _invalid_result(result, replicate)
    except ReplicateFailed as exc:
        error, detail = exc.reason, traceback.format_exc()
    except Exception as exc:  # noqa: BLE001 - any plugin error fails this replicate only
        error, detail = _reason(exc), traceback.format_exc()
    seconds = time.perf_counter() - t0
    if error:
        result = None
    elif result is not None and not result.seconds:
        result = attrs.evolve(result, seconds=seconds)
    return Outcome(replicate, result, error, detail, started, utc_now(), seconds)


def execute_batch(study: Study, connectome: Connectome, replicates: tuple[Replicate, ...]) -> list[Outcome]:
    """Run replicates of one condition as one batch (:func:`encephagen.replicate.run_replicates`); never raise.

    A failure fails every replicate of the batch, with the same reason.
    """
    from encephagen.replicate import run_replicates

    started = utc_now()
    t0 = time.perf_counter()
    results: list[ReplicateResult | None] = [None] * len(replicates)
    errors = [""] * len(replicates)
    detail = ""
    try:
        results = list(run_replicates(study, connectome, replicates))
        errors = [_invalid_result(res, rep) for res, rep in zip(results, replicates)]
    except ReplicateFailed as exc:
        errors, detail = [exc.reason] * len(replicates), traceback.format_exc()
    except Exception as exc:  # noqa: BLE001 - any plugin error fails this batch only
        errors, detail = [_reason(exc)] * len(replicates), traceback.format_exc()
    seconds = (time.perf_counter() - t0) / len(replicates)
    finished = utc_now()
    return [
        Outcome(rep, None if err else res, err, detail if err else "", started, finished, seconds)
        for rep, res, err in zip(replicates, results, errors)
    ]


def batches_of(replicates: Sequence[Replicate], size: int) -> list[tuple[Replicate, ...]]:
    """Consecutive groups of at most ``size`` replicates, each of one condition."""
    out: list[tuple[Replicate, ...]] = []
    for rep in replicates:
        if out and len(out[-1]) < size and out[-1][0].condition == rep.condition:
            out[-1] = (*out[-1], rep)
        else:
            out.append((rep,))
    return out


def _outcomes(executor: Any, work: Callable[[Any], Any], items: Sequence[Any], batched: bool) -> Iterator[tuple[Replicate, Any]]:
    """``(replicate, outcome)`` pairs as they finish; a batch the executor lost loses each of its replicates."""
    for item, outcome in executor.map(work, items):
        if not batched:
            yield item, outcome
        elif isinstance(outcome, list):
            yield from zip(item, outcome)
        else:
            yield from ((rep, outcome) for rep in item)


# -- executors ---------------------------------------------------------------------------


def resolve_executor(study: Study, registry: Registry, name: str | None, workers: int | None) -> Any:
    """The executor to use: ``name`` (command line), else the study's, else ``serial``.

    ``workers`` overrides the executor's ``workers``; given without any
    executor it selects ``processes``.
    """
    if name is None and study.executor is not None:
        if workers is None:
            return study.executor
        if "workers" not in attrs.fields_dict(type(study.executor)):
            raise ConfigError.at("--workers", f"executor {study.executor.name!r} takes no workers")
        try:
            return attrs.evolve(study.executor, workers=workers)
        except (TypeError, ValueError) as exc:
            raise ConfigError.at("--workers", str(exc)) from None
    if name is None:
        name = "serial" if workers is None else "processes"
    try:
        cls = registry.get("executor", name)
    except EncephagenError as exc:
        raise exc.prefixed("--executor") from None
    params: dict[str, Any] = {}
    if workers is not None:
        if "workers" not in attrs.fields_dict(cls):
            raise ConfigError.at("--workers", f"executor {name!r} takes no workers; use processes or dask")
        params["workers"] = workers
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError.at("--workers", str(exc)) from None


# -- provenance ------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_revision(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def components_of(study: Study, executor: Any) -> list[tuple[str, str]]:
    """Every ``(kind, name)`` of component the study uses, the executor included."""
    used = [("connectome", study.connectome.name)]
    used += [("null_model", c.null_model.name) for c in study.conditions if c.null_model is not None]
    brain = study.brain
    if brain is not None and getattr(brain, "neuron", None) is not None:
        used.append(("neuron_model", brain.neuron.name))
    if study.learning_rule is not None:
        used.append(("learning_rule", study.learning_rule.name))
    used += [("task", t.name) for t in study.protocol]
    used.append(("executor", executor.name))
    return list(dict.fromkeys(used))


def environment_provenance(plan: Plan, registry: Registry, executor: Any) -> dict[str, str]:
    """Versions, plugin providers, git revision, study hash and device of this run."""
    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "encephagen": __version__,
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "study_hash": plan.study_hash,
        "connectome": f"{plan.connectome.name} ({plan.connectome.n_regions} regions, {plan.connectome.n_edges} edges)",
        "device": getattr(plan.study.brain, "device", "auto"),
        "executor": repr(executor),
    }
    for kind, name in components_of(plan.study, executor):
        try:
            out[f"plugin.{kind}.{name}"] = registry.entry(kind, name).provider
        except EncephagenError:  # a component built outside the registry
            out[f"plugin.{kind}.{name}"] = "unregistered"
    rev = _git_revision(Path.cwd())
    if rev:
        out["git_revision"] = rev
    return out


# -- the study file against the store ---------------------------------------------------


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _differences(old: Any, new: Any, path: str = "") -> list[tuple[str, str]]:
    """``(path, what changed)`` between two parsed YAML documents."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append((sub, f"removed (was {_short(old[key])})"))
            elif key not in old:
                out.append((sub, f"added ({_short(new[key])})"))
            else:
                out += _differences(old[key], new[key], sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in _differences(a, b, f"{path}[{i}]")]
    if old != new:
        return [(path, f"was {_short(old)}, now {_short(new)}")]
    return []


def study_changed_error(out_dir: Path, stored: StoredStudy, text: str, digest: str) -> ConfigError:
    """The error for a study file that differs from the one stored in ``out_dir``."""
    head = (
        "",
        f"{out_dir} holds results of a different version of study {stored.name!r}: the study file changed "
        f"(stored SHA-256 {stored.hash[:12]}, now {digest[:12]}). Run the changed study with a new --out "
        f"directory, or delete {out_dir} to start over.",
    )
    changes = _differences(load_yaml(stored.yaml, "stored study file"), load_yaml(text))
    if not changes:  # same content, other text: comments or layout
        lines = [
            ln
            for ln in difflib.unified_diff(stored.yaml.splitlines(), text.splitlines(), n=0, lineterm="")
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
        ]
        changes = [("", f"changed line: {ln.strip()}") for ln in lines]
    more = len(changes) - 10
    changes = changes[:10] + ([("", f"... and {more} more change(s)")] if more > 0 else [])
    return ConfigError(head, *changes)


# -- statistics ----------------------------------------------------------------------------


def stats_rng(study_seed: int, task: str, metric: str, condition: str) -> np.random.Generator:
    """The bootstrap generator of one comparison, derived from the study seed and its names only."""
    key = tuple(zlib.crc32(s.encode()) for s in ("statistics", task, metric, condition))
    return np.random.default_rng(np.random.SeedSequence(entropy=study_seed, spawn_key=key))


def summarize(
    conditions: Sequence[StoredCondition],
    rows: Sequence[MetricRow],
    *,
    seed: int,
    alpha: float,
    planned: int,
    failed: Mapping[str, int] | None = None,
) -> list[SummaryRow]:
    """Every non-reference condition vs the reference, per (task, metric).

    :func:`encephagen.stats.compare` on the finished replicates (NaN values
    dropped), then Benjamini-Hochberg q over all metrics and comparisons
    together; ``power_n`` is :func:`encephagen.stats.power_replicates` at the
    observed d. Rows are sorted by task, metric, then condition order.
    """
    from encephagen.report import SummaryRow
    from encephagen.stats import compare, fdr_adjust, power_replicates

    failed = failed or {}
    reference = next(c.name for c in conditions if c.reference)
    values: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        values.setdefault((r.task, r.metric, r.condition), []).append(r.value)
    keys = sorted({(r.task, r.metric) for r in rows})
    pending: list[tuple[str, str, str, Any]] = []
    for task, metric in keys:
        ref = np.asarray(values.get((task, metric, reference), []), dtype=np.float64)
        for cond in conditions:
            if cond.name == reference:
                continue
            other = np.asarray(values.get((task, metric, cond.name), []), dtype=np.float64)
            comp = compare(ref, other, rng=stats_rng(seed, task, metric, cond.name), alpha=alpha)
            pending.append((task, metric, cond.name, comp))
    adjusted = fdr_adjust([p[3] for p in pending])
    out = []
    for (task, metric, name, _), comp in zip(pending, adjusted):
        notes = [comp.note] if comp.note else []
        for who in (reference, name):
            if failed.get(who):
                notes.append(f"{who}: {failed[who]} of {planned} replicates failed")
        out.append(
            SummaryRow(
                task=task,
                metric=metric,
                reference=reference,
                condition=name,
                comparison=comp,
                power_n=power_replicates(comp.d, alpha) if math.isfinite(comp.d) else None,
                note="; ".join(notes),
            )
        )
    return out


# -- exports -----------------------------------------------------------------------------


def _write_atomic(path: Path, data: str | bytes) -> None:
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


def _number(x: float) -> str:
    return repr(float(x))


def results_csv(rows: Sequence[MetricRow]) -> str:
    """``results.csv``: one row per value, sorted by condition order, replicate, task, metric."""
    return _csv(RESULTS_COLUMNS, [(r.condition, r.replicate, r.seed, r.task, r.metric, _number(r.value)) for r in rows])


def regenerate_report(out_dir: str | Path) -> Path:
    """Rebuild every export and the report from the store and ``connectomes.npz``.

    Writes ``results.csv``, ``summary.csv``, ``provenance.json``,
    ``report.md``, ``report.html`` and ``figures/``.

    :returns: the path of ``report.html``.
    :raises ConfigError: when ``out_dir`` holds no study store.
    """
    from encephagen.report import SUMMARY_COLUMNS, ReportInput, load_connectomes, summary_csv_row, write_report

    out = Path(out_dir)
    db = out / STORE_NAME
    if not db.is_file():
        raise ConfigError.at("", f"{out} holds no {STORE_NAME}; give the --out directory of `encephagen run`")
    with Store(db) as store:
        stored = store.study()
        if stored is None:
            raise ConfigError.at("", f"{db} holds no study yet; run one into {out} first")
        conditions = store.conditions()
        replicates = store.replicates()
        metrics = store.metric_rows()
        series = store.series_rows()
        provenance = store.provenance()
    failed: dict[str, int] = {}
    for r in replicates:
        if r.status == "failed":
            failed[r.condition] = failed.get(r.condition, 0) + 1
    summary = summarize(conditions, metrics, seed=stored.seed, alpha=stored.alpha, planned=stored.replicates, failed=failed)
    devices = sorted({r.device for r in replicates if r.status == "done" and r.device})
    _write_atomic(out / "results.csv", results_csv(metrics))
    _write_atomic(out / "summary.csv", _csv(SUMMARY_COLUMNS, [summary_csv_row(s) for s in summary]))
    _write_atomic(
        out / "provenance.json",
        json.dumps({**provenance, "devices_used": devices}, indent=2, sort_keys=True) + "\n",
    )
    panel = load_connectomes(out / CONNECTOMES_NAME) if (out / CONNECTOMES_NAME).is_file() else None
    data = ReportInput(
        study=stored,
        conditions=conditions,
        replicates=replicates,
        metrics=metrics,
        series=series,
        summary=summary,
        provenance={**provenance, "devices_used": ", ".join(devices) or "none"},
        connectomes=panel,
    )
    return write_report(out, data)


def draw_connectome_panel(plan: Plan) -> ConnectomePanel:
    """The reference weights and one surrogate per null-model condition.

    Each surrogate is drawn as that condition's replicate 0 draws it: with
    ``stream_rng(seed, "null_model")`` of its seed.
    """
    from encephagen.report import ConnectomePanel

    surrogates: dict[str, tuple[str, np.ndarray]] = {}
    for rep in plan.replicates:
        cond = plan.condition(rep.condition)
        if rep.index != 0 or cond.null_model is None:
            continue
        try:
            drawn = cond.null_model.randomize(plan.connectome, stream_rng(rep.seed, "null_model"))
        except EncephagenError:  # that replicate fails with the same reason; the panel goes without it
            continue
        surrogates[cond.name] = (cond.null_model.name, np.asarray(drawn.weights))
    return ConnectomePanel(
        reference_name=plan.study.reference_condition().name,
        connectome=plan.connectome.name,
        reference=np.asarray(plan.connectome.weights),
        surrogates=surrogates,
    )


# -- progress ----------------------------------------------------------------------------


class _Progress:
    """A tqdm bar on a terminal; otherwise one line per finished replicate (none when quiet)."""

    def __init__(self, name: str, total: int, already: int, verbosity: int) -> None:
        from tqdm import tqdm

        self.total = total
        self.count = already
        self.verbosity = verbosity
        self.stream = sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = tqdm(
            total=total, initial=already, desc=name, unit="replicate", file=self.stream,
            disable=not tty or verbosity < 0, dynamic_ncols=True,
        )

    def say(self, text: str, error: bool = False) -> None:
        """Print a line (an error prints even when quiet)."""
        if self.verbosity < 0 and not error:
            return
        if self.bar.disable:
            print(text, file=self.stream, flush=True)
        else:
            self.bar.write(text, file=self.stream)

    def finished(self, outcome: Outcome) -> None:
        self.count += 1
        rep = outcome.replicate
        where = f"{rep.condition} #{rep.index}"
        self.bar.set_postfix_str(f"last: {where}", refresh=False)
        self.bar.update(1)
        if outcome.error:
            self.say(f"[{self.count}/{self.total}] {where} failed after {outcome.seconds:.1f} s: {outcome.error}", error=True)
            if self.verbosity >= 1 and outcome.detail:
                self.say(outcome.detail.rstrip(), error=True)
        elif self.bar.disable:
            seconds = outcome.result.seconds if outcome.result is not None else outcome.seconds
            self.say(f"[{self.count}/{self.total}] {where} done in {seconds:.1f} s")

    def close(self) -> None:
        self.bar.close()


# -- the study --------------------------------------------------------------------------


def _refuse_changed(out: Path, text: str, digest: str) -> None:
    """Raise when ``out`` holds the store of another version of the study file.

    A change confined to ``executor:`` is let through: where replicates run
    never changes their numbers, and a cluster's scheduler address changes
    from one job to the next. The new file's hash lands in the provenance
    as ``resumed_with.study_hash``.
    """
    if not (out / STORE_NAME).is_file():
        return
    with Store(out / STORE_NAME) as store:
        stored = store.study()
    if stored is None or stored.hash == digest:
        return
    changes = _differences(load_yaml(stored.yaml, "stored study file"), load_yaml(text))
    if changes and all(path == "executor" or path.startswith("executor.") for path, _ in changes):
        return
    raise study_changed_error(out, stored, text, digest)


def _open_store(out: Path, plan: Plan, text: str) -> Store:
    """The store of ``out``; a new one is filled with the study and its pending replicates."""
    out.mkdir(parents=True, exist_ok=True)
    store = Store(out / STORE_NAME)
    if store.study() is None:
        study = plan.study
        ref = study.reference_condition().name
        store.create(
            StoredStudy(study.name, plan.study_hash, text, utc_now(), study.seed, study.replicates, study.alpha),
            [
                StoredCondition(c.name, i, c.null_model.name if c.null_model is not None else "", c.name == ref)
                for i, c in enumerate(study.conditions)
            ],
            [(r.condition, r.index, r.seed) for r in plan.replicates],
        )
    return store


def _record_provenance(store: Store, current: dict[str, str], progress: _Progress) -> None:
    """First run: record the environment. Resume: record what differs as ``resumed_with.<key>``."""
    stored = store.provenance()
    if not stored:
        store.set_provenance(current)
        return
    changed = {f"resumed_with.{k}": v for k, v in current.items() if stored.get(k) != v}
    if changed:
        store.set_provenance(changed)
        keys = ", ".join(k.removeprefix("resumed_with.") for k in changed)
        progress.say(f"note: resuming in a different environment ({keys}); recorded in the provenance")


def run_study(
    study_path: str | Path,
    out_dir: str | Path,
    registry: Registry,
    *,
    executor: str | None = None,
    workers: int | None = None,
    verbosity: int = 0,
    replicate_fn: ReplicateFn | None = None,
    retry_failed: bool = False,
) -> Path:
    """Run (or resume) a study and write its results, statistics and report.

    :param study_path: the study ``.yaml`` file.
    :param out_dir: the output directory (created when missing).
    :param registry: the components available (see :mod:`encephagen.plugins`).
    :param executor: ``serial``, ``processes``, ``dask`` or another registered
        executor; ``None`` uses the study's ``executor:`` (default ``serial``).
    :param workers: worker processes (``processes`` when no executor is named).
    :param verbosity: -1 errors only, 0 progress, 1+ also tracebacks and resume details.
    :param replicate_fn: simulates one replicate (default
        :func:`encephagen.replicate.run_replicate`); must be picklable for
        parallel executors. Without it, a study with ``brain.batch`` > 1 runs
        that many brains of a condition as one batch
        (:func:`encephagen.replicate.run_replicates`).
    :param retry_failed: run failed replicates again.
    :returns: ``out_dir``.
    :raises ConfigError: a bad study file, or one that changed since ``out_dir`` was created.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError.at("--out", f"{out} is a file; give a directory for the results")
    text = read_study_text(study_path)
    study = parse_study(load_yaml(text, f"study file {str(study_path)!r}"), registry)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    _refuse_changed(out, text, digest)  # before any expensive work
    chosen = resolve_executor(study, registry, executor, workers)
    plan = plan_for(study, digest)
    fn = replicate_fn or default_replicate

    store = _open_store(out, plan, text)
    progress: _Progress | None = None
    lost: list[tuple[Replicate, str]] = []
    try:
        reset = store.reset_unfinished(retry_failed=retry_failed)
        counts = store.counts()
        todo_keys = {(r.condition, r.idx) for r in store.replicates("pending")}
        todo = [r for r in plan.replicates if (r.condition, r.index) in todo_keys]
        total = len(plan.replicates)
        progress = _Progress(study.name, total, total - len(todo), verbosity)
        _record_provenance(store, environment_provenance(plan, registry, chosen), progress)
        if not (out / CONNECTOMES_NAME).is_file():
            from encephagen.report import save_connectomes

            _write_atomic(out / CONNECTOMES_NAME, save_connectomes(draw_connectome_panel(plan)))
        if verbosity >= 1:
            progress.say(
                f"{study.name}: {total} replicates, {counts['done']} done, {counts['failed']} failed"
                f"{' (kept; retry_failed reruns them)' if counts['failed'] else ''}, {len(todo)} to run "
                f"({reset} reset to pending) with {chosen!r}"
            )
        if todo:
            store.mark([(r.condition, r.index) for r in todo], "running")
            batched = study.brain.batch > 1 and replicate_fn is None
            if batched:
                work: Callable[[Any], Any] = functools.partial(execute_batch, plan.study, plan.connectome)
                items: Sequence[Any] = batches_of(todo, study.brain.batch)
            else:
                work, items = functools.partial(execute, fn, plan.study, plan.connectome), todo
            for rep, outcome in _outcomes(chosen, work, items, batched):
                if not isinstance(outcome, Outcome):  # the executor lost it, not the replicate
                    lost.append((rep, _reason(outcome) if isinstance(outcome, BaseException) else repr(outcome)))
                    store.mark([(rep.condition, rep.index)], "pending")
                    continue
                if outcome.error:
                    store.record_failed(
                        rep.condition, rep.index, outcome.error, outcome.detail,
                        outcome.started, outcome.finished, outcome.seconds,
                    )
                else:
                    assert outcome.result is not None
                    store.record_done(outcome.result, outcome.started, outcome.finished)
                progress.finished(outcome)
    finally:
        if progress is not None:
            progress.close()
        store.close()
    if lost and progress is not None:
        progress.say(
            f"{len(lost)} replicate(s) were lost by the executor ({lost[0][1]}); "
            "they are pending again: rerun the same command to run them",
            error=True,
        )
    report = regenerate_report(out)
    if verbosity >= 0:
        print(f"results in {out} (report: {report})", file=sys.stderr)
    return out
