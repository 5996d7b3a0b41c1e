"""Run a study: cells x replicates -> store -> statistics -> report.

:func:`run_study` validates the study file, opens (or resumes, or grows) the
store in the output directory, hands the unfinished replicates to an
executor, commits each one as it finishes, then rewrites the exports and the
report (:func:`encephagen.exports.regenerate_report`). The pieces live in
their own modules: the plan of cells and seeds in :mod:`encephagen.study`
and :mod:`encephagen.design`, execution in :mod:`encephagen.execution`,
statistics in :mod:`encephagen.analysis`, files in :mod:`encephagen.exports`,
provenance in :mod:`encephagen.provenance`.

Resuming and growing. Rerunning into the same directory skips the replicates
that are done and runs those that are pending or were running when an
earlier run died. Failed replicates stay failed (a replicate's failure
follows from its seed) unless ``retry_failed`` is set; a replicate lost to
the executor itself goes back to pending. The study file may have changed
in ways that leave every finished brain as it is: more ``replicates``, new
factor levels, new conditions, another executor, other statistics options,
comments. Then only the new brains run. A change that would alter a
finished cell (its connectome, brain, learning rule, protocol, null model or
the study seed; see the cells' fingerprints) or drop one is refused, with
what changed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from encephagen.config import apply_sets, load_yaml, parse_study, read_study_text
from encephagen.design import MISSING, differences, short
from encephagen.errors import ConfigError
from encephagen.execution import (
    BatchWork,
    CellWork,
    Outcome,
    Progress,
    ReplicateFn,
    batches_of,
    default_replicate,
    outcomes,
    reason,
    resolve_executor,
)
from encephagen.exports import CONNECTOMES_NAME, draw_connectome_panel, regenerate_report, write_atomic
from encephagen.provenance import environment_provenance
from encephagen.registry import Registry
from encephagen.results import WorkerDied
from encephagen.store import STORE_NAME, StoredCell, StoredCondition, StoredStudy, Store, utc_now
from encephagen.study import Plan, Replicate, cell_info, plan_for, wiring_info

__all__ = ["regenerate_report", "run_study", "study_changed_error"]


def _differences(old: Any, new: Any) -> list[tuple[str, str]]:
    """``(path, what changed)`` between two parsed YAML documents."""
    out = []
    for path, a, b in differences(old, new):
        if a is MISSING:
            out.append((path, f"added ({short(b)})"))
        elif b is MISSING:
            out.append((path, f"removed (was {short(a)})"))
        else:
            out.append((path, f"was {short(a)}, now {short(b)}"))
    return out


def _stored_document(stored: StoredStudy) -> Any:
    return apply_sets(load_yaml(stored.yaml, "stored study file"), stored.options.get("sets", []))


def study_changed_error(out_dir: Path, stored: StoredStudy, document: Any, text: str, why: str) -> ConfigError:
    """The error for a study whose change would alter (or drop) brains already in ``out_dir``.

    :param document: the new effective document (the file with ``--set`` applied).
    :param why: which finished cells the change touches.
    """
    head = (
        "",
        f"{out_dir} holds results of a different version of study {stored.name!r}: {why}. Run the changed "
        f"study with a new --out directory, or delete {out_dir} to start over.",
    )
    changes = [c for c in _differences(_stored_document(stored), document) if not c[0].startswith("executor")]
    if not changes:  # same content, other text
        lines = [
            ln
            for ln in difflib.unified_diff(stored.yaml.splitlines(), text.splitlines(), n=0, lineterm="")
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
        ]
        changes = [("", f"changed line: {ln.strip()}") for ln in lines]
    more = len(changes) - 10
    changes = changes[:10] + ([("", f"... and {more} more change(s)")] if more > 0 else [])
    return ConfigError(head, *changes)


def _refuse_changes(out: Path, stored: StoredStudy, stored_cells: Sequence[StoredCell], plan: Plan, document: Any, text: str) -> None:
    """Raise when the plan would alter or drop a cell that ``out`` already holds, or shrink it."""
    new = {c.key: c.fingerprint for c in plan.cells}
    changed = [c.key for c in stored_cells if c.key in new and new[c.key] != c.fingerprint]
    dropped = [c.key for c in stored_cells if c.key not in new]
    why = []
    if changed:
        why.append(f"the brains of cell(s) {', '.join(changed)} would change")
    if dropped:
        why.append(f"cell(s) {', '.join(dropped)} would be dropped")
    if plan.study.replicates < stored.replicates:
        why.append(f"replicates would shrink from {stored.replicates} to {plan.study.replicates} (a study grows, it does not shrink)")
    if why:
        raise study_changed_error(out, stored, document, text, "; ".join(why))


def _refuse_changed_data(out: Path, stored_cells: Sequence[StoredCell], plan: Plan) -> None:
    """Raise when a cell's connectome data (a file the study reads, say) changed since ``out`` was created."""
    data = {c.key: plan.connectomes[c.key].digest() for c in plan.cells}
    for c in stored_cells:
        was = c.info.get("connectome_sha256")
        if c.key in data and was is not None and was != data[c.key]:
            raise ConfigError.at(
                "connectome",
                f"the connectome data changed since {out} was created (cell {c.key}: SHA-256 was {was[:12]}, "
                f"now {data[c.key][:12]}), and its finished brains were built from the old data; restore the "
                "data, or run into a new --out directory",
            )


def _stored_design(plan: Plan, text: str, digest: str, sets: Sequence[str], created: str) -> tuple[StoredStudy, list, list, list]:
    """The store's rows for ``plan``: study, conditions, cells, replicates."""
    study = plan.study
    design = {
        "factors": {f: list(levels) for f, levels in study.factors.items()},
        "statistics": attrs.asdict(study.statistics),
        "report": attrs.asdict(study.report),
        "sets": list(sets),
    }
    row = StoredStudy(study.name, digest, text, created, study.seed, study.replicates, study.alpha, json.dumps(design))
    ref = study.reference_condition().name
    conditions = [
        StoredCondition(c.name, i, c.null_model.name if c.null_model is not None else "", c.name == ref)
        for i, c in enumerate(study.conditions)
    ]
    cells = []
    for i, c in enumerate(plan.cells):
        conn = plan.connectomes[c.key]
        cells.append(StoredCell(c.key, c.condition, i, c.levels, c.changes, c.fingerprint, cell_info(c, conn) | wiring_info(c, conn)))
    replicates = [(r.cell, r.index, r.condition, r.seed) for r in plan.replicates]
    return row, conditions, cells, replicates


def _open_store(out: Path, plan: Plan, document: Any, text: str, sets: Sequence[str], progress_say: Callable[[str], None]) -> Store:
    """The store of ``out``: created for a new study, grown for a grown one, refused for a changed one."""
    store = Store(out / STORE_NAME)
    try:
        stored = store.study()
        if stored is None:
            store.create(*_stored_design(plan, text, plan.study_hash, sets, utc_now()))
        else:
            _refuse_changed_data(out, store.cells(), plan)
        if stored is not None and stored.hash != plan.study_hash:
            _refuse_changes(out, stored, store.cells(), plan, document, text)
            added = store.grow(*_stored_design(plan, text, plan.study_hash, sets, stored.created))
            if added:
                progress_say(f"the study grew: {added} new replicate(s) to run; finished ones are kept")
    except BaseException:
        store.close()
        raise
    return store


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Create ``out`` and hold ``out/.lock`` for the run: a second run into the same directory is refused."""
    import fcntl

    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / ".lock", "a+")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise ConfigError.at("--out", f"cannot write into {out}: {exc.strerror or exc}") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError.at("--out", f"another run is writing into {out}; wait for it, or use another --out directory") from None
        yield


@contextmanager
def _progress_board(out: Path) -> Iterator[tuple[Path, list[tuple[str, int]]]]:
    """``OUT/.progress/``, emptied, named in the environment that worker processes inherit (see encephagen.progress),
    and the replicates named in files an earlier run left there (its process died while they ran)."""
    import os
    import shutil

    from encephagen.progress import PROGRESS_ENV, orphaned_keys

    board = out / ".progress"
    orphans = orphaned_keys(board)
    shutil.rmtree(board, ignore_errors=True)
    board.mkdir(exist_ok=True)
    previous = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = str(board)
    try:
        yield board, orphans
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = previous
        shutil.rmtree(board, ignore_errors=True)


#: Runs that may die under a replicate before it is marked failed (the first may be a kill from outside).
DEATHS_TO_FAIL = 2


def _count_deaths(store: Store, orphans: list[tuple[str, int]], say: Callable[[str], None]) -> None:
    """Replicates in flight when an earlier run's process died: a note the first time, failed the second."""
    for (cell, idx), n in store.record_deaths(orphans).items():
        if n >= DEATHS_TO_FAIL:
            store.record_failed(
                cell, idx,
                f"the run's process died without a word while this replicate ran, {n} runs in a row (it may call "
                "os._exit, crash the interpreter, or exhaust memory); marked failed so the others can run: run it "
                "alone with --executor processes to see why, then --retry-failed",
            )
            say(f"note: {cell} #{idx} was running each time the last {n} runs died; it is marked failed")
        else:
            say(
                f"note: the last run ended without a word while {cell} #{idx} ran (killed, or the replicate ended "
                "its process); it runs again, and is marked failed if that run dies under it too"
            )


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While a study runs in the main thread, SIGTERM (a Slurm time limit, ``kill``) stops it as Ctrl-C does:
    workers are stopped, finished replicates are kept, and the run can be resumed."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _picklable(obj: Any) -> bool:
    """Whether ``obj`` can reach a worker process: it pickles, and names nothing of ``__main__`` (a notebook's
    or a script's own classes and functions, which a spawned worker cannot import)."""
    import pickle

    try:
        data = pickle.dumps(obj)
    except Exception:  # noqa: BLE001 - pickling raises many types (PicklingError, AttributeError, TypeError)
        return False
    return b"__main__" not in data


def _peak_bytes(plan: Plan) -> int:
    """The estimated peak memory of one worker: its largest brain times the batch."""
    from encephagen.estimate import estimate

    return max(e.bytes for e in estimate(plan)) * plan.study.brain.batch


def _record_provenance(store: Store, current: dict[str, str], progress: Progress) -> None:
    """First run: record the environment. Resume: record what differs as ``resumed_with.<key>``."""
    stored = store.provenance()
    if not stored:
        store.set_provenance(current)
        return
    changed = {f"resumed_with.{k}": v for k, v in current.items() if stored.get(k) != v}
    if changed:
        store.set_provenance(changed)
        keys = ", ".join(k.removeprefix("resumed_with.") for k in changed)
        progress.say(f"note: resuming in a different environment or study version ({keys}); recorded in the provenance")


def run_study(
    study_path: str | Path | Mapping[str, Any],
    out_dir: str | Path,
    registry: Registry,
    *,
    executor: str | None = None,
    workers: int | None = None,
    verbosity: int = 0,
    replicate_fn: ReplicateFn | None = None,
    retry_failed: bool = False,
    sets: Sequence[str] = (),
) -> Path:
    """Run (or resume, or grow) a study and write its results, statistics and report.

    :param study_path: the study ``.yaml`` file, or the study as a mapping (what the file would hold).
    :param out_dir: the output directory (created when missing).
    :param registry: the components available (see :mod:`encephagen.plugins`).
    :param executor: ``serial``, ``processes``, ``dask`` or another registered
        executor; ``None`` uses the study's ``executor:`` (default ``serial``).
    :param workers: worker processes (``processes`` when no executor is named).
    :param verbosity: -1 errors only, 0 progress, 1+ also tracebacks and resume details.
    :param replicate_fn: simulates one replicate (default
        :func:`encephagen.replicate.run_replicate`); must be picklable for
        parallel executors. Without it, a study with ``brain.batch`` > 1 runs
        that many brains of a cell as one batch
        (:func:`encephagen.replicate.run_replicates`).
    :param retry_failed: run failed replicates again.
    :param sets: ``key.path=value`` overrides applied to the study file
        (:func:`encephagen.config.apply_sets`); recorded in the store and the provenance.
    :returns: ``out_dir``.
    :raises ConfigError: a bad study file, or one whose change would alter results already in ``out_dir``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError.at("--out", f"{out} is a file; give a directory for the results")
    if isinstance(study_path, Mapping):  # a study written in Python (a notebook)
        import yaml

        try:
            text = yaml.safe_dump(dict(study_path), sort_keys=False)
        except yaml.YAMLError as exc:
            raise ConfigError.at("", f"the study mapping holds a value YAML cannot write (plain str, int, float, bool, list, dict only): {exc}") from None
        source = "study"
    else:
        text = read_study_text(study_path)
        source = f"study file {str(study_path)!r}"
    document = apply_sets(load_yaml(text, source), sets)
    study = parse_study(document, registry)
    digest = hashlib.sha256("\n".join([text, *sets]).encode("utf-8")).hexdigest()
    plan = plan_for(study, digest)  # cheap: nothing is simulated before the store is checked
    chosen = resolve_executor(study, registry, executor, workers, brains=len(plan.replicates), peak_bytes=_peak_bytes(plan))
    defaulted = executor is None and workers is None and study.executor is None
    fn = replicate_fn or default_replicate

    messages: list[str] = []
    with _locked(out), _sigterm_interrupts(), _progress_board(out) as (board, orphans):
        store = _open_store(out, plan, document, text, sets, messages.append)
        progress: Progress | None = None
        lost: list[tuple[Replicate, str]] = []
        try:
            _count_deaths(store, orphans, messages.append)
            reset = store.reset_unfinished(retry_failed=retry_failed)
            counts = store.counts()
            todo_keys = {(r.cell, r.idx) for r in store.replicates("pending")}
            todo = [r for r in plan.replicates if (r.cell, r.index) in todo_keys]
            total = len(plan.replicates)
            progress = Progress(study.name, total, total - len(todo), verbosity, board)
            for m in messages:
                progress.say(m)
            _record_provenance(store, environment_provenance(plan, registry, chosen, tuple(sets)), progress)
            if not (out / CONNECTOMES_NAME).is_file() and not plan.connectome.is_sparse:  # a sparse one is too large to draw
                from encephagen.report import save_connectomes

                write_atomic(out / CONNECTOMES_NAME, save_connectomes(draw_connectome_panel(plan)))
            if verbosity >= 1:
                progress.say(
                    f"{study.name}: {len(plan.cells)} cell(s), {total} replicates, {counts['done']} done, {counts['failed']} failed"
                    f"{' (kept; retry_failed reruns them)' if counts['failed'] else ''}, {len(todo)} to run "
                    f"({reset} reset to pending) with {chosen!r}"
                )
            if todo:
                store.mark([(r.cell, r.index) for r in todo], "running")
                cells = {c.key: (c.study, plan.connectomes[c.key]) for c in plan.cells}
                batched = study.brain.batch > 1 and replicate_fn is None
                work: Callable[[Any], Any] = BatchWork(cells) if batched else CellWork(fn, cells)
                groups = batches_of(todo, study.brain.batch if batched else 1)  # interleaved across cells
                items: Sequence[Any] = groups if batched else [g[0] for g in groups]
                in_process = registry.default("executor", "in-process")
                if defaulted and type(chosen) is not in_process.cls and not _picklable(work):
                    progress.say(
                        "note: running serially: the replicate function or a component cannot be sent to worker "
                        "processes (defined in a notebook or a script?); put it in a module to run in parallel"
                    )
                    chosen = in_process.cls()
                for rep, outcome in outcomes(chosen, work, items, batched):
                    if isinstance(outcome, WorkerDied):  # the replicate took its worker process with it
                        outcome = Outcome(rep, None, outcome.reason, "", utc_now(), utc_now(), 0.0)
                    if not isinstance(outcome, Outcome):  # the executor lost it, not the replicate
                        lost.append((rep, reason(outcome) if isinstance(outcome, BaseException) else repr(outcome)))
                        store.mark([(rep.cell, rep.index)], "pending")
                        continue
                    if outcome.error:
                        store.record_failed(
                            rep.cell, rep.index, outcome.error, outcome.detail,
                            outcome.started, outcome.finished, outcome.seconds, retryable=outcome.retryable,
                        )
                    else:
                        assert outcome.result is not None
                        store.record_done(rep.cell, outcome.result, outcome.started, outcome.finished)
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
