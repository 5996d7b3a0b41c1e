"""The ``encephagen`` command line.

Bad input (a malformed study file, an unknown plugin, a bad matrix) is printed
as one ``error: field: message`` line per problem on stderr, with exit code 2
and no traceback.

Exit codes of ``encephagen run``: 0 when every replicate finished; 3
(:data:`EXIT_INCOMPLETE`) when some failed or are still pending (lost by the
executor), with the counts and where the reasons are; 2 for bad input; 1
for an operating-system error (a full disk), one line; 130 when interrupted.
``encephagen plugins`` exits with 4 (:data:`EXIT_BROKEN_PLUGINS`) when a
plugin was left out, after listing why; every other command then warns in
one line and goes on with the plugins that work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from encephagen import __version__
from encephagen.errors import EncephagenError
from encephagen.interfaces import KINDS

if TYPE_CHECKING:
    from encephagen.study import Plan

EXIT_BAD_INPUT = 2
EXIT_INCOMPLETE = 3
EXIT_OS = 1
EXIT_BROKEN_PLUGINS = 4


_WARNED = False


def _wiring(plan: "Plan") -> str:
    """``tvb:connectivity_96 (96 regions)``, or every connectome the cells use when a factor or condition changes it."""
    used = {c.name: c for c in plan.connectomes.values()}
    if len(used) == 1:
        c = plan.connectome
        return f"{c.name} ({c.n_regions} {c.resolution})"
    sizes = sorted({c.n_regions for c in used.values()})
    span = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
    return f"{len(used)} connectomes ({', '.join(used)}; {span} {plan.connectome.resolution})"


def _registry(warn: bool = True):  # imported lazily so `--help` stays instant
    """The registry; plugins kept out get one warning line on stderr (``encephagen plugins`` gives the reasons)."""
    global _WARNED
    from encephagen.plugins import default_registry

    registry = default_registry()
    if warn and registry.broken and not _WARNED:
        _WARNED = True
        dists = sorted({b.distribution for b in registry.broken})
        print(
            f"warning: {len(registry.broken)} plugin problem(s) in {', '.join(dists)}; those parts are left out "
            "(`encephagen plugins` says why)",
            file=sys.stderr,
        )
    return registry


def cmd_validate(args: argparse.Namespace) -> int:
    from encephagen.config import apply_sets, load_yaml, parse_study, read_study_text
    from encephagen.estimate import describe
    from encephagen.study import plan_for

    registry = _registry()
    bad = 0
    for path in args.study:
        try:
            text = read_study_text(path)
            study = parse_study(apply_sets(load_yaml(text, f"study file {path!r}"), args.set), registry)
            plan = plan_for(study)
        except EncephagenError as exc:
            bad += 1
            where = f"{path}: " if len(args.study) > 1 else ""
            for line in exc.lines():
                print(f"error: {where}{line}", file=sys.stderr)
            continue
        print(f"{path}: valid. {len(study.conditions)} conditions x {study.replicates} replicates, {len(study.protocol)} tasks on {_wiring(plan)}")
        for line in describe(plan):
            print(f"  {line}")
    return EXIT_BAD_INPUT if bad else 0


def cmd_run(args: argparse.Namespace) -> int:
    from encephagen.runner import run_study

    out = Path(args.out) if args.out else Path("results") / Path(args.study).stem
    verbosity = -1 if args.quiet else args.verbose
    run_study(
        args.study, out, _registry(), executor=args.executor, workers=args.workers, verbosity=verbosity,
        retry_failed=args.retry_failed, sets=args.set,
    )
    from encephagen.store import STORE_NAME, Store

    with Store(out / STORE_NAME) as store:
        counts = store.counts()
        machine = store.retryable_failures()
    total = sum(counts.values())
    if counts["failed"] or counts["pending"] or counts["running"]:
        why = f" ({machine} for reasons of this machine, such as memory: the next run retries those)" if machine else ""
        parts = [f"{counts['failed']} failed{why}"] if counts["failed"] else []
        unfinished = counts["pending"] + counts["running"]
        parts += [f"{unfinished} not run (rerun the same command to run them)"] if unfinished else []
        print(
            f"incomplete: {' and '.join(parts)} of {total} replicates; the reasons are in {out / 'report.md'} "
            f"(Failed replicates); --retry-failed runs failed ones again",
            file=sys.stderr,
        )
        return EXIT_INCOMPLETE
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from encephagen.exports import regenerate_report, results_of

    path = regenerate_report(Path(args.dir))
    counts = results_of(Path(args.dir)).counts
    total, done = sum(counts.values()), counts["done"]
    missing = total - done
    more = ""
    if missing:
        parts = [f"{counts['failed']} failed"] if counts["failed"] else []
        parts += [f"{counts['pending'] + counts['running']} not run yet (rerun the study to resume)"] if counts["pending"] + counts["running"] else []
        more = f"; missing: {', '.join(parts)}"
    print(f"report written to {path} ({done} of {total} replicates finished{more})")
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from encephagen.scaffold import new_plugin

    root = new_plugin(args.kind, args.name, Path(args.dir))
    print(f"wrote {root}; next: pip install -e \"{root}[test]\" && python -m pytest {root / 'tests'}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    registry = _registry(warn=False)
    entries = registry.entries(args.kind)
    rows = [("kind", "name", "distribution", "version", "summary")]
    rows += [(e.kind, e.name, e.distribution, e.version, e.summary) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    if registry.broken:
        print(f"broken, left out ({len(registry.broken)}):", file=sys.stderr)
        for b in registry.broken:
            print(f"  {b.line()}", file=sys.stderr)
        print("(ENCEPHAGEN_DISABLE_PLUGINS=name,... leaves a distribution out without this message)", file=sys.stderr)
        return EXIT_BROKEN_PLUGINS
    return 0


def _load_connectome(spec: str):
    from encephagen.connectome_view import parse_source_spec

    kind, dataset = parse_source_spec(spec)
    registry = _registry()
    try:
        cls = registry.get("connectome", kind)
    except EncephagenError as exc:
        raise exc.prefixed("connectome") from None
    # KIND:X sets the source's `dataset` (tvb:connectivity_96) or `path` (file:weights.npy).
    fields = {a.name for a in attrs.fields(cls)}
    key = next((k for k in ("dataset", "path") if k in fields), None)
    if dataset is not None and key is None:
        raise EncephagenError.at("connectome", f"{kind!r} takes no dataset; write just {kind!r}")
    try:
        source = cls(**{key: dataset}) if dataset is not None else cls()
    except (TypeError, ValueError) as exc:
        msg = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        raise EncephagenError.at("connectome", msg) from None
    try:
        return source.load()
    except EncephagenError as exc:
        raise exc.prefixed("connectome") from None


def cmd_connectome_show(args: argparse.Namespace) -> int:
    from encephagen.connectome_view import describe

    print(describe(_load_connectome(args.source)))
    return 0


def _null_model(spec: str):
    """The null model of ``--null``: a name, or a YAML mapping as a study file's ``null_model:`` writes it."""
    from encephagen.config import load_yaml, structure_component

    value = load_yaml(spec, "the value of --null")
    try:
        return structure_component(value, "null_model", _registry())
    except EncephagenError as exc:
        raise exc.prefixed("--null") from None


def cmd_connectome_export(args: argparse.Namespace) -> int:
    import numpy as np

    from encephagen.connectome_view import SurrogateDraw, distance_csv, distance_rows, distance_text, export_npz

    if args.seed < 0:
        raise EncephagenError.at("--seed", f"must be a non-negative integer, got {args.seed}")
    conn = _load_connectome(args.source)
    out = Path(args.out)
    if not args.null:
        export_npz(conn, out)
        print(f"wrote {out}: {conn.n_regions} regions, {conn.n_edges} between-region edges ({conn.name})")
        return 0
    model = _null_model(args.null)
    try:
        surrogate = model.randomize(conn, np.random.default_rng(args.seed))
    except EncephagenError as exc:
        raise exc.prefixed("--null") from None
    draw = SurrogateDraw.of(model, conn, args.seed, surrogate)
    export_npz(surrogate, out, history=[draw])
    rows = distance_rows(conn.weights, surrogate.weights, draw)
    table = out.with_name(out.stem + ".distance.csv") if out.suffix == ".npz" else out.with_name(out.name + ".distance.csv")
    table.write_text(distance_csv(rows), encoding="utf-8")
    print(f"wrote {out}: {surrogate.n_regions} regions, {surrogate.n_edges} between-region edges ({conn.name} + {draw.step})")
    print(distance_text(rows))
    print(f"wrote {table}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and tests)."""
    p = argparse.ArgumentParser(
        prog="encephagen",
        description="Does brain wiring help a spiking network learn? Run connectome-vs-null-model studies.",
    )
    p.add_argument("--version", action="version", version=f"encephagen {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run a study file and write results, statistics and a report")
    r.add_argument("study", help="path of the study .yaml file")
    r.add_argument("--out", help="output directory (default: results/<study file name>)")
    r.add_argument("--executor", default=None, help="serial, processes or dask (default: the study's)")
    r.add_argument("--workers", type=int, default=None, help="worker processes for processes/dask")
    r.add_argument("--retry-failed", action="store_true", help="on resume, rerun replicates that failed before")
    r.add_argument(
        "--set", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="override a study-file value (repeatable), e.g. --set brain.coupling=0.2; recorded in the store and provenance",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    r.add_argument("-v", "--verbose", action="count", default=0, help="more output (repeat for more)")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser(
        "validate", help="check study files (connectomes, region groups, null models) and estimate their cost, without simulating"
    )
    v.add_argument("study", nargs="+", help="paths of study .yaml files")
    v.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value in every file (repeatable)")
    v.set_defaults(func=cmd_validate)

    rep = sub.add_parser("report", help="regenerate report.md/report.html from a results directory")
    rep.add_argument("dir", help="the --out directory of a run")
    rep.set_defaults(func=cmd_report)

    np_ = sub.add_parser("new-plugin", help="write a pip-installable plugin package whose tests pass as generated")
    np_.add_argument("kind", metavar="KIND", help="null_model, connectome, task, learning_rule, neuron_model or executor")
    np_.add_argument("name", metavar="NAME", help="the component's name (its kind: in study files), e.g. lattice")
    np_.add_argument("--dir", default=".", help="where to write encephagen-NAME/ (default: here)")
    np_.set_defaults(func=cmd_new_plugin)
    pl = sub.add_parser("plugins", help="list installed components")
    pl.add_argument("--kind", choices=KINDS, help="only this kind")
    pl.set_defaults(func=cmd_plugins)

    c = sub.add_parser("connectome", help="look at or export a connectome (or a null-model surrogate)")
    csub = c.add_subparsers(dest="connectome_command", metavar="ACTION")
    cs = csub.add_parser("show", help="print regions, edges, density, weights, orientation, groups, provenance")
    cs.add_argument("source", help="KIND[:DATASET], e.g. tvb:connectivity_96")
    cs.set_defaults(func=cmd_connectome_show)
    ce = csub.add_parser("export", help="write weights (rows = sources), labels, positions, tract lengths to .npz")
    ce.add_argument("source", help="KIND[:DATASET], e.g. tvb:connectivity_96")
    ce.add_argument(
        "--null", metavar="MODEL",
        help="apply this null model first: a name (degree_preserving) or, with parameters, what a study file's "
        "null_model: takes, e.g. '{kind: degree_preserving, swaps_per_edge: 20}'; also writes OUT's .distance.csv",
    )
    ce.add_argument("--seed", type=int, default=0, help="seed of the null-model draw: numpy.random.default_rng(SEED) (default 0)")
    ce.add_argument("--out", required=True, help="output .npz file")
    ce.set_defaults(func=cmd_connectome_export)
    c.set_defaults(func=lambda a: (c.print_help(), 2)[1])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``encephagen`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except EncephagenError as exc:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; finished replicates are kept in the store, rerun the same command to resume", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk, a file that vanished: the store keeps what was finished
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; finished replicates are kept in the store, rerun to resume", file=sys.stderr)
        return EXIT_OS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
