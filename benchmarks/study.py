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

- ``flywire-study``: a FlyWire-sized study through the command line: a
  synthetic edge list of 139,255 neurons and ``--synapses`` connections
  (default 50,000,000; uniformly random, counts 1-5, 80 % excitatory
  neurons) written as CSV, then ``encephagen run`` on it (held sparse): the
  wiring against ``weight_shuffle``, ``--brains`` brains each, a 500-step
  warm-up on a cellular brain; prints the time to write the list, the
  study's wall time and its peak memory (not part of the default cases).

Usage: ``python benchmarks/study.py [--cases quick,exp22-projected,exp22-parallel,flywire-study] [--out DIR] [--brains N]``

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


def flywire_study(out: Path, brains: int = 2, synapses: int = 50_000_000) -> dict:
    import resource

    import numpy as np
    import yaml

    n = 139_255
    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    edges = out / "flywire-scale.csv"
    t0 = time.perf_counter()
    key = np.sort(rng.integers(0, n * n, size=int(synapses * 1.002) + 1000))
    key = key[np.concatenate([[True], key[1:] != key[:-1]]) & (key // n != key % n)][:synapses]
    sign = np.where(rng.random(n) < 0.8, 1, -1)
    with open(edges, "w") as fh:
        fh.write("pre,post,weight,sign\n")
        for part in np.array_split(key, max(1, key.size // 2_000_000)):
            pre = part // n
            rows = np.stack([pre, part % n, rng.integers(1, 6, part.size), sign[pre]], axis=1)
            np.savetxt(fh, rows, fmt="%d", delimiter=",")
    write_s = time.perf_counter() - t0
    study = {
        "name": "flywire-scale", "seed": 1, "replicates": brains,
        "connectome": {"kind": "file", "path": str(edges), "format": "edges",
                       "groups": {"first": [str(i) for i in range(100)]}},
        "brain": {"neuron": {"kind": "lif", "nmda_groups": []}, "cellular": {"mv_per_synapse": 0.05}},
        "conditions": [{"name": "connectome"}, {"name": "shuffled", "null_model": {"kind": "weight_shuffle"}}],
        "protocol": [{"kind": "warmup", "steps": 500, "segment_steps": 250}],
    }
    path = out / "flywire-scale.yaml"
    path.write_text(yaml.safe_dump(study))
    t0 = time.perf_counter()
    rc = subprocess.call([sys.executable, "-m", "encephagen.cli", "run", str(path), "--out", str(out / "flywire"), "-q",
                          "--executor", "serial"])
    run_s = time.perf_counter() - t0
    return {
        "case": "flywire-study", "neurons": n, "synapses": int(key.size), "brains": 2 * brains, "exit_code": rc,
        "write_csv_s": round(write_s, 1), "csv_mb": round(edges.stat().st_size / 2**20, 1), "run_s": round(run_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


CASES = {"quick": quick, "exp22-projected": exp22_projected, "exp22-parallel": exp22_parallel, "flywire-study": flywire_study}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="quick,exp22-projected,exp22-parallel")
    p.add_argument("--out", default=None, help="where to write the runs (default: a temporary directory)")
    p.add_argument("--brains", type=int, default=2, help="exp22-parallel, flywire-study: brains per condition")
    p.add_argument("--synapses", type=int, default=50_000_000, help="flywire-study: connections in the edge list")
    p.add_argument("--one-brain", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one_brain:
        one_brain()
        return
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="encephagen-bench-"))
    meta = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    for name in args.cases.split(","):
        if name == "flywire-study":
            result = flywire_study(out, args.brains, args.synapses)
        else:
            result = CASES[name](out, args.brains) if name == "exp22-parallel" else CASES[name](out)
        print(json.dumps({**result, **meta}), flush=True)


if __name__ == "__main__":
    main()
