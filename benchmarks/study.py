"""Wall time of whole studies on this machine.

Prints one JSON line per case:

- ``quick``: ``experiments/quick.yaml`` run end to end (the README's main job);
- ``exp22-projected``: one replicate of ``experiments/exp22_eprop.yaml`` at
  full size (19,200 neurons, the whole published protocol), each in a fresh
  process (compiling included), twice: with the learners' block flush in
  torch (the baseline: the path before the C loops, ``ENCEPHAGEN_NO_NATIVE=fold``)
  and with the C loops; prints both times, their ratio, whether the metrics
  are identical, and the whole study's serial time projected as that time x
  the study's replicate count;
- ``exp22-parallel``: the same brains of exp. 22 (``--brains`` per condition,
  default 2) run twice in this run, serially with torch's default threads
  (the baseline: the old default) and with the default executor (a process
  per usable core, one torch thread each); prints both wall times, their
  ratio, whether the results are identical, and the whole exp. 22 projected
  from the parallel rate.

Usage: ``python benchmarks/study.py [--cases quick,exp22-projected,exp22-parallel] [--out DIR] [--brains N]``

The one-brain runs use torch's default threads, as a user's first run does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
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


def one_brain() -> None:
    """Run replicate 0 of exp. 22 in this process and print its time and metrics (JSON)."""
    plan = prepare(ROOT / "experiments" / "exp22_eprop.yaml", default_registry())
    rep = plan.replicates[0]
    t0 = time.perf_counter()
    result = run_replicate(plan.cell(rep.cell).study, plan.connectomes[rep.cell], rep)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "replicates": len(plan.replicates), "device": result.device,
                      "metrics": result.metrics}, sort_keys=True))


def _one_brain_in_a_fresh_process(**env: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one-brain"], env={**os.environ, **env},
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def exp22_projected(out: Path) -> dict:
    base = _one_brain_in_a_fresh_process(ENCEPHAGEN_NO_NATIVE="fold")
    new = _one_brain_in_a_fresh_process()
    n = new["replicates"]
    return {
        "case": "exp22-projected",
        "baseline_torch_fold_s": round(base["wall_s"], 1),
        "one_replicate_s": round(new["wall_s"], 1),
        "speedup": round(base["wall_s"] / new["wall_s"], 2),
        "identical_metrics": base["metrics"] == new["metrics"],
        "replicates": n,
        "projected_serial_s": round(new["wall_s"] * n, 0),
        "device": new["device"],
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
    p.add_argument("--one-brain", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one_brain:
        one_brain()
        return
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="encephagen-bench-"))
    meta = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    for name in args.cases.split(","):
        result = CASES[name](out, args.brains) if name == "exp22-parallel" else CASES[name](out)
        print(json.dumps({**result, **meta}), flush=True)


if __name__ == "__main__":
    main()
