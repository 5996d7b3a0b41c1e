"""Wall time of whole studies on this machine.

Prints one JSON line per case:

- ``quick``: ``experiments/quick.yaml`` run end to end (the README's main job);
- ``exp22-projected``: one replicate of ``experiments/exp22_eprop.yaml`` at
  full size (19,200 neurons, the whole published protocol), timed, and the
  whole study's time projected as that time x the study's replicate count;
- ``exp22-parallel``: the same brains of exp. 22 (``--brains`` per condition,
  default 2) run twice in this run, serially with torch's default threads
  (the baseline: the old default) and with the default executor (a process
  per usable core, one torch thread each); prints both wall times, their
  ratio, whether the results are identical, and the whole exp. 22 projected
  from the parallel rate.

Usage: ``python benchmarks/study.py [--cases quick,exp22-projected,exp22-parallel] [--out DIR] [--brains N]``
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from encephagen.plugins import default_registry
from encephagen.replicate import run_replicate
from encephagen.runner import run_study
from encephagen.study import prepare

ROOT = Path(__file__).parents[1]


def quick(out: Path) -> dict:
    t0 = time.perf_counter()
    run_study(ROOT / "experiments" / "quick.yaml", out / "quick", default_registry(), verbosity=-1)
    plan = prepare(ROOT / "experiments" / "quick.yaml", default_registry())
    return {"case": "quick", "wall_s": round(time.perf_counter() - t0, 1), "brains": len(plan.replicates)}


def exp22_projected(out: Path) -> dict:
    plan = prepare(ROOT / "experiments" / "exp22_eprop.yaml", default_registry())
    rep = plan.replicates[0]
    t0 = time.perf_counter()
    result = run_replicate(plan.cell(rep.cell).study, plan.connectomes[rep.cell], rep)
    one = time.perf_counter() - t0
    n = len(plan.replicates)
    return {
        "case": "exp22-projected",
        "one_replicate_s": round(one, 1),
        "replicates": n,
        "projected_serial_s": round(one * n, 0),
        "projected_serial_h": round(one * n / 3600, 2),
        "device": result.device,
        "published_gpu_h": 2.0,
    }


def exp22_parallel(out: Path, brains: int = 2) -> dict:
    from encephagen.execution import usable_cores

    study = ROOT / "experiments" / "exp22_eprop.yaml"
    full = len(prepare(study, default_registry()).replicates)
    sets = [f"replicates={brains}"]
    times = {}
    for label, executor in (("serial", "serial"), ("parallel", None)):
        t0 = time.perf_counter()
        run_study(study, out / f"exp22-{label}", default_registry(), executor=executor, verbosity=-1, sets=sets)
        times[label] = time.perf_counter() - t0
    same = (out / "exp22-serial" / "results.csv").read_bytes() == (out / "exp22-parallel" / "results.csv").read_bytes()
    n = 2 * brains
    return {
        "case": "exp22-parallel",
        "brains": n,
        "cores": usable_cores(),
        "serial_s": round(times["serial"], 1),
        "parallel_s": round(times["parallel"], 1),
        "speedup": round(times["serial"] / times["parallel"], 2),
        "identical_results": same,
        "projected_exp22_parallel_min": round(times["parallel"] / n * full / 60, 1),
    }


CASES = {"quick": quick, "exp22-projected": exp22_projected, "exp22-parallel": exp22_parallel}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--out", default=None, help="where to write the runs (default: a temporary directory)")
    p.add_argument("--brains", type=int, default=2, help="exp22-parallel: brains per condition")
    args = p.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="encephagen-bench-"))
    meta = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    for name in args.cases.split(","):
        result = CASES[name](out, args.brains) if name == "exp22-parallel" else CASES[name](out)
        print(json.dumps({**result, **meta}), flush=True)


if __name__ == "__main__":
    main()
