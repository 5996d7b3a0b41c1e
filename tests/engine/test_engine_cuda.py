"""The engine on a CUDA device (skipped without one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encephagen.engine import Brain, Delays, Microcircuit, Record, build_network
from encephagen_builtins.neurons import LIF

from engine_helpers import make_connectome

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _pair(delays: Delays | None = None, **kw: object) -> tuple[Brain, Brain]:
    c = make_connectome(8, seed=2)
    micro = Microcircuit(neurons_per_region=100)
    out = []
    for device in ("cpu", "cuda"):
        net = build_network(c, micro, np.random.default_rng(4), LIF(), delays=delays, device=device)
        out.append(Brain(net, np.random.default_rng(5), **kw))
    return out[0], out[1]


@pytest.mark.parametrize("delays", [None, Delays(velocity=5.0)])
def test_cuda_run_is_healthy_and_close_to_the_cpu_rate(delays: Delays | None) -> None:
    cpu, gpu = _pair(delays)
    assert torch.equal(cpu.network.post, gpu.network.post.cpu())  # wiring is drawn on the host
    assert torch.equal(cpu.state["v"], gpu.state["v"].cpu())  # so is the initial state
    r_cpu = cpu.run(3000, record=Record(window=1000))
    r_gpu = gpu.run(3000, record=Record(window=1000))
    assert r_gpu.region_counts.is_cuda and r_gpu.health.ok and gpu.static
    a, b = float(r_cpu.total_rate_hz()[0]), float(r_gpu.total_rate_hz()[0])
    assert a > 1.0 and abs(a - b) / a < 0.15  # different noise streams, same dynamics


def test_cuda_compiled_update_equals_cuda_eager() -> None:
    c = make_connectome(8, seed=2)
    net = build_network(c, Microcircuit(neurons_per_region=100), np.random.default_rng(4), LIF(), device="cuda")
    eager = Brain(net, np.random.default_rng(5), compile=False)
    compiled = Brain(net, np.random.default_rng(5), compile=True)
    # One step from the same state: the GPU compiler may fuse multiply-adds, so states agree to rounding.
    a = eager.run(1, record=Record(raster=range(net.n_neurons))).raster
    b = compiled.run(1, record=Record(raster=range(net.n_neurons))).raster
    assert compiled.compiled and torch.equal(a, b)
    for k in eager.state:
        assert torch.allclose(eager.state[k], compiled.state[k], rtol=1e-5, atol=1e-5)


def test_cuda_learner_and_batch() -> None:
    from encephagen.engine import build_batch

    c = make_connectome(8, seed=2)
    net = build_batch([c, c], Microcircuit(neurons_per_region=50), [np.random.default_rng(1), np.random.default_rng(2)],
                      LIF(), device="cuda")
    brain = Brain(net, [np.random.default_rng(3), np.random.default_rng(4)])
    seen = []

    class Probe:
        def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
            seen.append(z.sum())

    rec = brain.run(500, learner=Probe(), external=torch.zeros(net.neurons_per_brain, device="cuda"))
    assert len(seen) == 500 and rec.region_counts.shape == (1, 2, 8)
    assert int(torch.stack(seen).sum()) == int(rec.region_counts.sum())
