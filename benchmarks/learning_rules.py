"""Speed and memory of the built-in learning rules on a reference-sized network.

A random CSR network with the reference model's size (19,200 neurons,
about 1.29M synapses), random membranes and about 70 spikes per step. For
each rule it times the learner's own work, ``on_step`` plus the amortised
block flush and one ``snapshot()``/``reward()`` per 500 steps, and, in the
same run, the unfused per-step e-prop update over all synapses (the
published implementation's cost), and e-prop and STDP with the block flush
in torch instead of the C loops (``[torch fold]``, the path before them).
Each timing is the fastest of ``--repeat`` runs. One JSON line per rule; ``--flush`` adds one line per way
of folding a block into the eligibility.

    python benchmarks/learning_rules.py [--steps 1000] [--threads 1] [--device cpu] [--flush]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import time
from collections.abc import Iterator

import attrs
import torch

from encephagen.engine.network import Network
from encephagen.testing.learning import StandInNeuron
from encephagen_builtins.learning import EProp, Hebbian, ThreeFactorSTDP


def reference_sized(n: int = 19_200, e: int = 1_290_000, seed: int = 0, device: str = "cpu") -> Network:
    """Random synapses, CSR order; 200 neurons per region, 80% excitatory, weights +-2 mV."""
    gen = torch.Generator().manual_seed(seed)
    key = torch.unique(torch.randint(0, n * n, (e,), generator=gen))
    pre, post = key // n, key % n
    row_ptr = torch.zeros(n + 1, dtype=torch.int64)
    row_ptr[1:] = torch.cumsum(torch.bincount(pre, minlength=n), 0)
    exc = (torch.arange(n) % 200) < 160
    weight = torch.where(exc[pre], 2.0, -2.0).float()
    net = Network(
        n_brains=1, regions_per_brain=n // 200, neurons_per_region=200,
        post=post.int(), weight=weight, row_ptr=row_ptr, excitatory=exc,
        groups={"amygdala": (0, 1)}, neuron=StandInNeuron(beta=1.0, tau_a=200.0), dt=0.1,
    )
    return attrs.evolve(net, **{k: getattr(net, k).to(device) for k in ("post", "weight", "row_ptr", "excitatory")})


def activity(net: Network, pool: int, spikes_per_step: float, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    n = net.n_neurons
    out = []
    for _ in range(pool):
        v = torch.rand(n, generator=gen) * 24.0
        z = (torch.rand(n, generator=gen) < spikes_per_step / n).float()
        out.append((v.to(net.device), z.to(net.device)))
    return out


@contextlib.contextmanager
def fold_in_torch(on: bool) -> Iterator[None]:
    """Learners bound inside fold their blocks with torch instead of the C loops (when ``on``)."""
    before = os.environ.get("ENCEPHAGEN_NO_NATIVE")
    if on:
        os.environ["ENCEPHAGEN_NO_NATIVE"] = "fold"
    try:
        yield
    finally:
        if on and before is None:
            del os.environ["ENCEPHAGEN_NO_NATIVE"]
        elif on:
            os.environ["ENCEPHAGEN_NO_NATIVE"] = before


def _sync(net: Network) -> None:
    if net.device.type == "cuda":
        torch.cuda.synchronize()


def time_learner(rule, net: Network, acts, steps: int, trial: int = 500) -> tuple[float, dict]:
    """Seconds per step of ``on_step`` + flushes + a snapshot and a reward every ``trial`` steps."""
    learner = rule.bind(net)
    windows = hasattr(learner, "begin_window")
    for v, z in acts[:40]:  # warm-up
        learner.on_step(v, z)
    _sync(net)
    t0 = time.perf_counter()
    for t in range(steps):
        if windows and t % trial == 0:
            learner.begin_window("cs" if (t // trial) % 2 == 0 else "us")
        v, z = acts[t % len(acts)]
        learner.on_step(v, z)
        if (t + 1) % trial == 0:
            if windows:
                learner.end_window()
                if (t // trial) % 2 == 1:
                    learner.reward(1.0)
            else:
                learner.snapshot()
                learner.reward(1.0)
    _sync(net)
    return (time.perf_counter() - t0) / steps, learner.state_bytes()


def time_naive(net: Network, acts, steps: int) -> float:
    """Seconds per step of the unfused per-step update ``e = kappa e + (1-kappa) psi[post] z_bar[pre]``
    (with a stored presynaptic index, as the published implementation had)."""
    alpha, kappa, gamma, v_thr = math.exp(-0.1 / 20), math.exp(-0.1 / 50), 0.5, 20.0
    pre, post = net.pre_index(), net.post.long()
    z_bar = torch.zeros(net.n_neurons, device=net.device)
    e_filt = torch.zeros(net.n_synapses, device=net.device)
    _sync(net)
    t0 = time.perf_counter()
    for t in range(steps):
        v, z = acts[t % len(acts)]
        z_bar = alpha * z_bar + (1 - alpha) * z
        psi = gamma * torch.clamp(1 - (v - v_thr).abs() / v_thr, min=0)
        e_filt = kappa * e_filt + (1 - kappa) * psi[post] * z_bar[pre]
    _sync(net)
    return (time.perf_counter() - t0) / steps


def time_flush_methods(net: Network, acts, block: int) -> list[dict]:
    """Seconds per step for three ways of folding one block of ``block`` steps into ``e_filt``."""
    n, e = net.n_neurons, net.n_synapses
    a = torch.stack([v for v, _ in acts[:block]]).div(40.0)  # stands in for the coefficients c_s psi(s)
    b = torch.stack([z for _, z in acts[:block]]).cumsum(0).clamp(max=1.0)  # stands in for z_bar(s)
    out = []
    e_filt = torch.zeros(e, device=net.device)
    pre = net.pre_index().int()  # gather_dot needs a stored index (4 bytes per synapse the network does not keep)

    def sampled_addmm() -> None:
        s = torch.sparse_csr_tensor(net.row_ptr, net.post, e_filt, (n, n), check_invariants=False)
        torch.sparse.sampled_addmm(s, b.T.contiguous(), a.contiguous(), beta=0.9)

    def gather_dot(chunk: int = 1 << 16) -> None:
        at, bt = a.T.contiguous(), b.T.contiguous()
        for s0 in range(0, e, chunk):
            p, q = pre[s0 : s0 + chunk], net.post[s0 : s0 + chunk]
            e_filt[s0 : s0 + chunk] = 0.9 * e_filt[s0 : s0 + chunk] + (bt[p] * at[q]).sum(1)

    rule = EProp(block_steps=block)
    learner = rule.bind(net)
    for v, z in acts[:block]:
        learner.on_step(v, z)

    def rank_one_plus_spikes() -> None:
        learner._k = block  # re-fold the same buffered block
        learner.flush()

    for name, fn in (("sampled_addmm", sampled_addmm), ("gather_dot", gather_dot), ("rank_one_plus_spikes", rank_one_plus_spikes)):
        try:
            fn()
            _sync(net)
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                _sync(net)
                best = min(best, time.perf_counter() - t0)
            out.append({"flush_method": name, "block_steps": block, "ms_per_step": round(1e3 * best / block, 4)})
        except (RuntimeError, NotImplementedError) as exc:
            out.append({"flush_method": name, "block_steps": block, "error": str(exc).splitlines()[0]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--naive-steps", type=int, default=60)
    ap.add_argument("--spikes", type=float, default=70.0, help="mean spikes per step")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3, help="timings per rule; the fastest is reported")
    ap.add_argument("--flush", action="store_true", help="also compare ways of folding a block")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = reference_sized(device=args.device)
    acts = activity(net, 64, args.spikes)
    naive = min(time_naive(net, acts, args.naive_steps) for _ in range(args.repeat))
    network_bytes = net.bytes_per_synapse()  # post, weight and row_ptr
    rules = {
        "eprop[torch fold]": EProp(),
        "eprop": EProp(),
        "eprop[snapshot_precision=half]": EProp(snapshot_precision="half"),
        "eprop[variant=continuous]": EProp(variant="continuous"),
        "eprop[block_steps=64]": EProp(block_steps=64),
        "eprop[adaptive]": EProp(adaptive=True),
        "hebbian": Hebbian(),
        "stdp3[torch fold]": ThreeFactorSTDP(),
        "stdp3": ThreeFactorSTDP(),
    }
    for label, rule in rules.items():
        with fold_in_torch("[torch fold]" in label):
            runs = [time_learner(rule, net, acts, args.steps) for _ in range(args.repeat)]
        sec, mem = min(r[0] for r in runs), runs[0][1]
        e = net.n_synapses
        print(json.dumps({
            "rule": label,
            "steps_per_s": round(1.0 / sec, 1),
            "ms_per_step": round(1e3 * sec, 4),
            "baseline_naive_steps_per_s": round(1.0 / naive, 1),
            "speedup_vs_naive": round(naive / sec, 1),
            "learner_bytes_per_synapse": round(mem["per_synapse"] / e, 2),
            "learner_per_neuron_bytes_per_synapse": round(mem["per_neuron"] / e, 2),
            "network_bytes_per_synapse": round(network_bytes, 2),
            "total_bytes_per_synapse": round(network_bytes + (mem["per_synapse"] + mem["per_neuron"]) / e, 2),
            "E": e, "N": net.n_neurons, "spikes_per_step": args.spikes, "threads": torch.get_num_threads(),
            "device": str(net.device),
        }))
    if args.flush:
        for block in (32, 64):
            for line in time_flush_methods(net, acts, block):
                print(json.dumps(line))


if __name__ == "__main__":
    main()
