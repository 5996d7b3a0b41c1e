"""Speed and memory of the simulation engine on the reference brain.

Prints one JSON line per case::

    python benchmarks/engine.py                                   # all cases
    python benchmarks/engine.py --cases reference-plain --steps 3000
    python benchmarks/engine.py --device cuda --threads 0

Cases: ``reference-plain`` (96 regions x 200 neurons, no learning),
``reference-eager`` (the same without the compiled neuron update),
``reference-delays`` (conduction delays from tract lengths at 3 mm/ms),
``reference-eprop`` (the e-prop rule attached), ``reference-eprop-delays``
(both), ``reference-stdp3`` and ``reference-hebbian`` (those rules attached;
the Hebbian rule counts spikes in an open CS window), ``npr500`` (500 neurons per region) and
``batch10`` (10 reference brains in one pass), and ``flywire-scale``: a
synthetic cellular brain the size of the adult fly's whole-brain connectome
(139,255 neurons, 50,000,000 synapses with uniformly random partners, 80 %
excitatory neurons at 0.1 mV, 20 % inhibitory at -0.5 mV, built by
``encephagen.engine.network_from_edges``; ``--synapses`` scales it down).
Each case runs in its own process so that ``peak_rss_mb`` is its own.
Rates are measured over the timed steps, after ``--warmup`` steps (which
include compiling the neuron update; ``compile_s`` reports that part).

Memory: ``bytes_per_synapse`` is the network's synapse arrays and indices
(``network_bytes_per_synapse``) plus the learner's per-synapse arrays
(``learner_bytes_per_synapse``); the learner's per-neuron buffers, divided
by the synapse count, are reported apart (``learner_per_neuron_bytes_per_synapse``).
"""

from __future__ import annotations

import argparse
import importlib.resources
import io
import json
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CASES = ("reference-plain", "reference-eager", "reference-delays", "reference-eprop", "reference-eprop-delays",
         "reference-stdp3", "reference-hebbian", "npr500", "batch10", "flywire-scale")

#: The flywire-scale case: neurons of the FlyWire whole-brain connectome (Dorkenwald et al. 2024).
FLYWIRE_NEURONS = 139_255

#: Cases with a learning rule attached: case -> the rule's class in encephagen_builtins.learning_rules.
RULES = {"reference-eprop": "EProp", "reference-eprop-delays": "EProp", "reference-stdp3": "ThreeFactorSTDP",
         "reference-hebbian": "Hebbian"}


def reference_connectome() -> Any:
    """The 96-region set read rows = sources, as the published code did."""
    try:
        from encephagen_builtins.connectomes import TvbConnectome
    except ImportError:
        return _own_loader()
    return TvbConnectome(dataset="connectivity_96", orientation="published").load()


def _own_loader() -> Any:
    from encephagen.connectome import Connectome, groups_by_substring
    from encephagen_builtins.connectomes import REFERENCE_GROUPS

    path = importlib.resources.files("tvb_data").joinpath("connectivity", "connectivity_96.zip")
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as z:
        weights = np.loadtxt(io.BytesIO(z.read("weights.txt")))
        rows = [line.split() for line in z.read("centres.txt").decode().splitlines() if line.strip()]
        tracts = np.loadtxt(io.BytesIO(z.read("tract_lengths.txt")))
    labels = [r[0] for r in rows]
    return Connectome(
        weights=weights,
        labels=labels,
        positions=np.array([[float(x) for x in r[1:4]] for r in rows]),
        tract_lengths=tracts,
        groups=groups_by_substring(labels, REFERENCE_GROUPS),
        orientation="as published: rows=sources",
        name="tvb:connectivity_96",
    )


def flywire_scale(synapses: int, device: str) -> tuple[Any, float, dict[str, Any]]:
    """The synthetic ``flywire-scale`` brain: ``(network, build seconds, what was built)``.

    ``synapses`` distinct ordered pairs ``pre != post`` drawn uniformly (seed 0);
    neuron ``i`` is excitatory with probability 0.8.
    """
    from encephagen.engine import Cellular, network_from_edges
    from encephagen_builtins.neurons import LIF

    n = FLYWIRE_NEURONS
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    key = np.sort(rng.integers(0, n * n, size=int(synapses * 1.002) + 1000))
    key = key[np.concatenate([[True], key[1:] != key[:-1]]) & (key // n != key % n)]  # distinct pairs, no autapse
    if key.size > synapses:  # drop the surplus at random, keeping the order
        key = np.delete(key, rng.choice(key.size, key.size - synapses, replace=False))
    exc = rng.random(n) < 0.8
    pre, post = key // n, key % n
    del key
    weight = np.where(exc[pre], 0.1, -0.5)
    draw_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    net = network_from_edges(n, pre, post, weight, exc, LIF(nmda_groups=()), cellular=Cellular(), device=device)
    build_s = time.perf_counter() - t0
    del pre, post, weight
    return net, build_s, {"draw_s": round(draw_s, 2)}


def _rss_mb() -> float:
    """Resident memory now (MB), from /proc/self/status (Linux); elsewhere the peak so far."""
    status = Path("/proc/self/status")
    now = [int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS:")] if status.is_file() else []
    kb = now[0] if now else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024, 1)


def run_case(case: str, steps: int, warmup: int, device: str, synapses: int = 50_000_000) -> dict[str, Any] | None:
    from encephagen.engine import Delays, Microcircuit, build_batch
    from encephagen_builtins.neurons import LIF

    if case == "flywire-scale":
        net, build_s, extra = flywire_scale(synapses, device)
        return _measure(case, net, None, build_s, steps, warmup, compile=True, extra=extra)
    connectome = reference_connectome()
    micro = Microcircuit(neurons_per_region=500) if case == "npr500" else Microcircuit()
    n_brains = 10 if case == "batch10" else 1
    delays = Delays(source="tract_lengths") if case in ("reference-delays", "reference-eprop-delays") else None
    learner_rule = None
    if case in RULES:
        import encephagen_builtins.learning_rules as rules

        learner_rule = getattr(rules, RULES[case])()
    t0 = time.perf_counter()
    net = build_batch(
        [connectome] * n_brains, micro, [np.random.default_rng(s) for s in range(n_brains)], LIF(),
        delays=delays, device=device,
    )
    build_s = time.perf_counter() - t0
    learner = learner_rule.bind(net) if learner_rule is not None else None
    return _measure(case, net, learner, build_s, steps, warmup, compile=case != "reference-eager")


def _measure(
    case: str, net: Any, learner: Any, build_s: float, steps: int, warmup: int, *, compile: bool, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    from encephagen.engine import Brain

    brain = Brain(net, [np.random.default_rng(100 + s) for s in range(net.n_brains)], compile=compile)
    if hasattr(learner, "begin_window"):  # the Hebbian rule counts spikes inside a window
        learner.begin_window("cs")
    t0 = time.perf_counter()
    brain.run(warmup, learner=learner)
    warm_s = time.perf_counter() - t0
    if net.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    rec = brain.run(steps, learner=learner, record=_record(neurons=True))
    if net.device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    counts = rec.neuron_counts.to("cpu", torch.float64).view(-1)
    exc = net.excitatory.to("cpu")
    hz = 1000.0 / (float(net.dt) * steps)
    e = max(1, net.n_synapses)
    learner_bytes = learner.state_bytes() if learner is not None else {"per_synapse": 0, "per_neuron": 0}
    return {
        "case": case,
        "build_s": round(build_s, 4),
        "steps_per_s": round(steps / elapsed, 1),
        "rate_hz": round(float(counts.mean()) * hz, 3),
        "rate_exc_hz": round(float(counts[exc].mean()) * hz, 3),
        "rate_inh_hz": round(float(counts[~exc].mean()) * hz, 3),
        "neurons": net.n_neurons,
        "synapses": net.n_synapses,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": str(net.device),
        "bytes_per_synapse": round(net.bytes_per_synapse() + learner_bytes["per_synapse"] / e, 2),
        "network_bytes_per_synapse": round(net.bytes_per_synapse(), 2),
        "learner_bytes_per_synapse": round(learner_bytes["per_synapse"] / e, 2),
        "learner_per_neuron_bytes_per_synapse": round(learner_bytes["per_neuron"] / e, 2),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if net.device.type == "cuda" else None,
        "compiled": brain.compiled,
        "compile_s": round(brain.compile_seconds, 2),
        "warmup_s": round(warm_s, 2),
        "network_mb": round(sum(net.memory_bytes().values()) / 2**20, 1),
        "rss_after_run_mb": _rss_mb(),
        "steps": steps,
        "threads": torch.get_num_threads(),
        **(extra or {}),
    }


def _record(neurons: bool) -> Any:
    from encephagen.engine import Record

    return Record(neurons=neurons)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    ap.add_argument("--steps", type=int, default=2000, help="timed steps per case")
    ap.add_argument("--warmup", type=int, default=3000, help="untimed steps first (compilation, settling)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0 = leave the default)")
    ap.add_argument("--synapses", type=int, default=50_000_000, help="synapses of the flywire-scale case")
    ap.add_argument("--in-process", action="store_true", help="run the cases in this process")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if len(cases) > 1 and not args.in_process:
        rc = 0
        for case in cases:
            cmd = [sys.executable, __file__, "--cases", case, "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--device", args.device, "--threads", str(args.threads), "--synapses", str(args.synapses), "--in-process"]
            rc |= subprocess.call(cmd)
        return rc
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for case in cases:
        out = run_case(case, args.steps, args.warmup, args.device, args.synapses)
        if out is not None:
            print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
