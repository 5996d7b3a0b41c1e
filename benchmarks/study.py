"""Wall time of whole studies on this machine.

Prints one JSON line per case:

- ``quick``: ``experiments/quick.yaml`` run end to end (the README's main job);
- ``exp22-projected``: one replicate of ``experiments/exp22_eprop.yaml`` at
  full size (19,200 neurons, the whole published protocol), timed, and the
  whole study's time projected as that time x the study's replicate count.

Usage: ``python benchmarks/study.py [--cases quick,exp22-projected] [--out DIR]``
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


CASES = {"quick": quick, "exp22-projected": exp22_projected}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--out", default=None, help="where to write the runs (default: a temporary directory)")
    args = p.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="encephagen-bench-"))
    meta = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    for name in args.cases.split(","):
        print(json.dumps({**CASES[name](out), **meta}), flush=True)


if __name__ == "__main__":
    main()
