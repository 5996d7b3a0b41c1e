"""E-prop against calculus: the exact gradient where e-prop is exact, and how close it is elsewhere.

1. One layer of LIF (or ALIF) neurons, input entering the membrane directly
   (``v_t = alpha v_{t-1} + (1-alpha) W x_t - v_thr sg(z_{t-1})``, reset by
   subtraction with its derivative stopped, no refractory period), a readout
   ``y_t = kappa y_{t-1} + (1-kappa) W_out z_t`` and the loss
   ``E = 1/2 sum_t |y_t - y*_t|^2``. Here e-prop's
   ``sum_t L_t e_filt_t`` with ``L = W_out^T (y - y*)`` IS the gradient
   through time, with the pseudo-derivative as the spike's surrogate.
2. The reference neuron (filtered synaptic current, one-step synaptic
   delay, reset to zero, refractoriness, recurrent synapses): e-prop drops
   terms; the cosine similarity with the true surrogate gradient is measured.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from encephagen.testing.learning import StandInNeuron, copy_network, network_from_synapses
from encephagen_builtins.learning import EProp

F64 = torch.float64


class Spike(torch.autograd.Function):
    """Heaviside forward; ``gamma * max(0, 1 - |x|/v_thr)`` backward (``x = v - threshold``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, gamma: float, v_thr: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.gamma, ctx.v_thr = gamma, v_thr
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * ctx.gamma * torch.clamp(1 - x.abs() / ctx.v_thr, min=0), None, None


def _layer(n_in: int, n_out: int, seed: int, beta: float | None, tau_a: float | None, dt: float):
    """Inputs 0..n_in-1 project to every output neuron n_in..n_in+n_out-1."""
    rng = np.random.default_rng(seed)
    pre, post = np.meshgrid(np.arange(n_in), np.arange(n_in, n_in + n_out), indexing="ij")
    weight = rng.normal(10.0, 4.0, pre.size)
    neuron = StandInNeuron(v_thr=20.0, tau_m=20.0, beta=beta, tau_a=tau_a)
    net = network_from_synapses(
        pre.ravel(), post.ravel(), weight, regions_per_brain=1, neurons_per_region=n_in + n_out,
        neuron=neuron, dt=dt, dtype=F64,
    )
    return net, rng


def _run_eprop(rule: EProp, net, feedback: torch.Tensor, vs, zs, ys, targets) -> torch.Tensor:
    """Feed the recorded forward pass to the learner; returns ``-(W_after - W_before) / lr``."""
    w0 = net.weight.clone()
    learner = rule.bind(net)
    learner.set_feedback(feedback)
    for v, z, y, y_star in zip(vs, zs, ys, targets):
        learner.on_step(v, z)
        learner.error(y, y_star)
    return -(net.weight - w0) / rule.lr


def exact_layer_case(adaptive: bool, seed: int = 0) -> dict:
    """Forward pass of the exact one-layer case and its autograd gradient (per synapse, CSR order)."""
    n_in, n_out, n_read, steps, dt = 12, 5, 3, 300, 1.0
    gamma, tau_e, beta, tau_a = 0.5, 30.0, (1.2 if adaptive else None), (150.0 if adaptive else None)
    net, rng = _layer(n_in, n_out, seed, beta, tau_a, dt)
    alpha, kappa = math.exp(-dt / 20.0), math.exp(-dt / tau_e)
    rho = math.exp(-dt / tau_a) if adaptive else 0.0
    x = torch.from_numpy(rng.random((steps, n_in)) < 0.2).to(F64)
    w_out = torch.from_numpy(rng.normal(0, 1, (n_read, n_out)))
    target = torch.from_numpy(rng.random((steps, n_read)) * 0.05)
    # W[j, i] from the CSR list (pre = input i, post = n_in + j).
    w = torch.zeros(n_out, n_in, dtype=F64)
    w[net.post.long() - n_in, net.pre_index()] = net.weight
    w.requires_grad_(True)

    v = torch.zeros(n_out, dtype=F64)
    a = torch.zeros(n_out, dtype=F64)
    z_prev = torch.zeros(n_out, dtype=F64)
    y = torch.zeros(n_read, dtype=F64)
    loss = torch.zeros((), dtype=F64)
    vs, zs, ys = [], [], []
    for t in range(steps):
        v = alpha * v + (1 - alpha) * (w @ x[t]) - 20.0 * z_prev.detach()
        thr = 20.0 + (beta * a if adaptive else 0.0)
        z = Spike.apply(v - thr, gamma, 20.0)
        y = kappa * y + (1 - kappa) * (w_out @ z)
        loss = loss + 0.5 * ((y - target[t]) ** 2).sum()
        if adaptive:
            a = rho * a + z
        z_prev = z
        vs.append(torch.cat([torch.zeros(n_in, dtype=F64), v.detach()]))
        zs.append(torch.cat([x[t], z.detach()]))
        ys.append(y.detach())
    (grad,) = torch.autograd.grad(loss, w)
    feedback = torch.zeros(n_in + n_out, n_read, dtype=F64)
    feedback[n_in:] = w_out.T
    return {
        "net": net, "vs": vs, "zs": zs, "ys": ys, "targets": target, "feedback": feedback,
        "g_auto": grad[net.post.long() - n_in, net.pre_index()],
        "spikes": int(torch.stack(zs)[:, n_in:].sum()), "gamma": gamma, "tau_e": tau_e,
    }


def _eprop_gradient(case: dict, adaptive: bool) -> torch.Tensor:
    rule = EProp(variant="supervised", lr=1.0, gamma=case["gamma"], tau_e=case["tau_e"], w_min=-1e9, w_max=1e9, adaptive=adaptive)
    net = copy_network(case["net"])
    if not adaptive:
        net.neuron = StandInNeuron(v_thr=20.0, tau_m=20.0)
    return _run_eprop(rule, net, case["feedback"], case["vs"], case["zs"], case["ys"], case["targets"])


@pytest.mark.parametrize("adaptive", [False, True], ids=["lif", "alif"])
def test_eprop_equals_bptt_where_exact(adaptive: bool) -> None:
    case = exact_layer_case(adaptive)
    g_auto = case["g_auto"]
    g_eprop = _eprop_gradient(case, adaptive)
    assert case["spikes"] > 20, "the example must spike to exercise the surrogate"
    assert float(g_auto.norm()) > 0
    rel = float((g_eprop - g_auto).norm() / g_auto.norm())
    assert rel < 1e-5, f"relative error {rel:.2e}"
    torch.testing.assert_close(g_eprop, g_auto, rtol=1e-5, atol=1e-8 * float(g_auto.abs().max()))


def test_alif_gradient_needs_the_adaptation_trace() -> None:
    """On the ALIF layer, the LIF rule (no adaptation trace) misses the gradient; the ALIF rule does not."""
    case = exact_layer_case(True)
    g_auto = case["g_auto"]
    rel = {a: float((_eprop_gradient(case, a) - g_auto).norm() / g_auto.norm()) for a in (False, True)}
    assert rel[True] < 1e-5 and rel[False] > 1e-2, rel


# -- the reference neuron -----------------------------------------------------------------


def reference_neuron_gradients(
    seed: int = 0, steps: int = 600, *, recurrent: bool = True, recurrent_scale: float = 1.0, reset_derivative: bool = True, refractory: bool = True
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(e-prop gradient, autograd gradient, spikes) on a small network of reference neurons.

    Dynamics of spec section 3 (no NMDA): ``v += dt (i_syn - v)/tau_m`` while
    not refractory, spike at ``v >= v_thr``, reset to 0, 2 ms refractoriness,
    ``i_syn`` filtered with ``tau_syn = 5`` ms and receiving this step's
    spikes for the next step, fixed background Poisson input; 20 input
    neurons and 20 neurons with recurrent synapses (p = 0.2, weights
    ``N(0.5, 2^2) * recurrent_scale`` mV). Loss and readout as in the exact
    case. The flags switch off one dropped term at a time:
    ``recurrent=False`` removes the recurrent synapses, ``reset_derivative=False``
    makes the reset ``v - sg(v z)`` (so it no longer zeroes dv/dW),
    ``refractory=False`` removes the refractory period.
    """
    dt, tau_m, v_thr, t_ref, tau_syn, gamma, tau_e = 0.1, 20.0, 20.0, 2.0, 5.0, 0.5, 50.0
    n_in, n_rec, n_read = 20, 20, 3
    rng = np.random.default_rng(seed)
    pre, post, wv = [], [], []
    for i in range(n_in + n_rec):
        for j in range(n_in, n_in + n_rec):
            if i != j and rng.random() < (0.5 if i < n_in else 0.2):
                weight = rng.normal(4.0, 1.5) if i < n_in else rng.normal(0.5, 2.0) * recurrent_scale
                if i < n_in or recurrent:  # the same draws either way: only the recurrent synapses go
                    pre.append(i)
                    post.append(j)
                    wv.append(weight)
    neuron = StandInNeuron(v_thr=v_thr, tau_m=tau_m)
    net = network_from_synapses(
        np.array(pre), np.array(post), np.array(wv), regions_per_brain=1, neurons_per_region=n_in + n_rec,
        neuron=neuron, dt=dt, dtype=F64,
    )
    x = torch.from_numpy(rng.random((steps, n_in)) < 0.02).to(F64)
    background = torch.from_numpy(rng.poisson(0.175, (steps, n_rec)) * 2.0).to(F64)
    w_out = torch.from_numpy(rng.normal(0, 1, (n_read, n_rec)))
    target = torch.from_numpy(rng.random((steps, n_read)) * 0.05)
    kappa, syn_decay = math.exp(-dt / tau_e), math.exp(-dt / tau_syn)
    w = net.weight.clone().requires_grad_(True)
    pre_t, post_t = net.pre_index(), net.post.long() - n_in

    v = torch.from_numpy(rng.uniform(0, v_thr, n_rec))
    i_syn = torch.zeros(n_rec, dtype=F64)
    refrac = torch.zeros(n_rec, dtype=F64)
    y = torch.zeros(n_read, dtype=F64)
    loss = torch.zeros((), dtype=F64)
    vs, zs, ys = [], [], []
    for t in range(steps):
        i_syn = i_syn + background[t]
        free = (refrac <= 0).to(F64)
        v = free * (v + dt * (i_syn - v) / tau_m) + (1 - free) * v
        z = Spike.apply(v - v_thr, gamma, v_thr) * free
        vs.append(torch.cat([torch.zeros(n_in, dtype=F64), v.detach()]))
        zs.append(torch.cat([x[t], z.detach()]))
        y = kappa * y + (1 - kappa) * (w_out @ z)
        loss = loss + 0.5 * ((y - target[t]) ** 2).sum()
        ys.append(y.detach())
        zd = z.detach()
        v = v * (1 - zd) if reset_derivative else v - (v * zd).detach()  # reset to v_reset = 0
        if refractory:
            refrac = torch.clamp(torch.where(zd > 0, torch.full_like(refrac, t_ref), refrac) - dt, min=0)
        spikes = torch.cat([x[t], z])
        syn = torch.zeros(n_rec, dtype=F64).index_add(0, post_t, w * spikes[pre_t])
        i_syn = i_syn * syn_decay + syn
    (g_auto,) = torch.autograd.grad(loss, w)

    feedback = torch.zeros(n_in + n_rec, n_read, dtype=F64)
    feedback[n_in:] = w_out.T
    rule = EProp(variant="supervised", lr=1.0, gamma=gamma, tau_e=tau_e, w_min=-1e9, w_max=1e9)
    g_eprop = _run_eprop(rule, net, feedback, vs, zs, ys, target)
    return g_eprop, g_auto, int(torch.stack(zs)[:, n_in:].sum())


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_reference_neuron_cosine_is_measured() -> None:
    """Prints the cosine similarity; asserts only that both gradients are real (no threshold on their agreement)."""
    cosines = []
    for seed in range(3):
        g_eprop, g_auto, spikes = reference_neuron_gradients(seed)
        assert spikes > 10, "the example must spike"
        assert bool(torch.isfinite(g_eprop).all() and torch.isfinite(g_auto).all())
        assert float(g_eprop.norm()) > 0 and float(g_auto.norm()) > 0
        cosines.append(_cosine(g_eprop, g_auto))
    print(f"reference neuron: cosine(e-prop, BPTT) per seed = {[round(c, 3) for c in cosines]}")


def test_supervised_update_reduces_the_error() -> None:
    """Random feedback B (seeded); the readout goes through B^T, so L = B (y - y*) is a descent direction."""
    n_in, n_out, steps, dt, gamma, tau_e = 10, 4, 200, 1.0, 0.5, 30.0
    net, rng = _layer(n_in, n_out, 3, None, None, dt)
    alpha, kappa = math.exp(-dt / 20.0), math.exp(-dt / tau_e)
    x = torch.from_numpy(rng.random((steps, n_in)) < 0.2).to(F64)
    rule = EProp(variant="supervised", lr=LR_SUPERVISED, gamma=gamma, tau_e=tau_e, w_min=-1e9, w_max=1e9)
    learner = rule.bind(net, generator=torch.Generator().manual_seed(11))
    w0 = net.weight.clone()
    learner.error(torch.zeros(2), torch.zeros(2))  # draws B (N x 2); a zero error changes nothing
    assert torch.equal(net.weight, w0)
    readout = learner.feedback[n_in:].T.clone()  # (2, n_out)
    target = torch.tensor([0.003, -0.002], dtype=F64)

    def trial(update: bool) -> float:
        v, z, y, loss = torch.zeros(n_out, dtype=F64), torch.zeros(n_out, dtype=F64), torch.zeros(2, dtype=F64), 0.0
        learner.reset()
        w = torch.zeros(n_out, n_in, dtype=F64)
        w[net.post.long() - n_in, net.pre_index()] = net.weight
        for t in range(steps):
            v = alpha * v + (1 - alpha) * (w @ x[t]) - 20.0 * z
            z = (v >= 20.0).to(F64)
            y = kappa * y + (1 - kappa) * (readout @ z)
            loss += 0.5 * float(((y - target) ** 2).sum())
            if update:
                learner.on_step(torch.cat([torch.zeros(n_in, dtype=F64), v]), torch.cat([x[t], z]))
                learner.error(y, target)
        return loss

    losses = [trial(update=False)]
    for _ in range(4):
        trial(update=True)
        losses.append(trial(update=False))
    print("supervised loss per epoch", [round(x, 6) for x in losses])
    assert losses[-1] < 0.8 * losses[0], f"loss per epoch {losses}"


LR_SUPERVISED = 2e5


if __name__ == "__main__":
    # The table in docs/learning_rules.md: cosine(e-prop, BPTT) with one dropped term removed at a time.
    settings = {
        "reference neuron, recurrent weights x1": {},
        "recurrent weights x0.3": {"recurrent_scale": 0.3},
        "recurrent weights x0.1": {"recurrent_scale": 0.1},
        "recurrent weights x0.05": {"recurrent_scale": 0.05},
        "no recurrent synapses": {"recurrent": False},
        "... and reset derivative stopped": {"recurrent": False, "reset_derivative": False},
        "... and no refractory period": {"recurrent": False, "reset_derivative": False, "refractory": False},
    }
    for label, kw in settings.items():
        runs = [reference_neuron_gradients(seed, **kw) for seed in range(5)]
        cos = [_cosine(g, a) for g, a, _ in runs]
        ratio = np.median([float(a.norm() / g.norm()) for g, a, _ in runs])
        print(f"{label:40s} cosine mean {np.mean(cos):+.3f} per seed {[round(c, 3) for c in cos]}; |BPTT|/|e-prop| {ratio:.3g}")
