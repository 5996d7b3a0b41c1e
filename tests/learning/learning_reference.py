"""Independent per-step implementations (float64, one dense pass over E per step).

They follow the equations of docs/learning_rules.md line by line and share
no code with the plugins, so the block-folded learners can be checked
against them.
"""

from __future__ import annotations

import math

import torch

from encephagen.engine.network import Network


class StepEProp:
    """E-prop traces updated every step over all synapses (LIF, or ALIF when ``beta`` is given)."""

    def __init__(self, net: Network, gamma: float, tau_e: float, beta: float = 0.0, tau_a: float | None = None) -> None:
        n, e = net.n_neurons, net.n_synapses
        self.pre, self.post = net.pre_index(), net.post.long()
        self.v_thr, self.gamma, self.beta = float(net.neuron.v_thr), gamma, beta
        self.alpha = math.exp(-net.dt / float(net.neuron.tau_m))
        self.kappa = math.exp(-net.dt / tau_e)
        self.rho = math.exp(-net.dt / tau_a) if tau_a else 0.0
        f64 = torch.float64
        self.z_bar, self.a = torch.zeros(n, dtype=f64), torch.zeros(n, dtype=f64)
        self.e_filt, self.eps = torch.zeros(e, dtype=f64), torch.zeros(e, dtype=f64)

    def step(self, v: torch.Tensor, z: torch.Tensor) -> None:
        v, z = v.double(), z.double()
        self.z_bar = self.alpha * self.z_bar + (1 - self.alpha) * z
        thr = self.v_thr + self.beta * self.a
        psi = self.gamma * torch.clamp(1 - (v - thr).abs() / self.v_thr, min=0)
        p, zb = psi[self.post], self.z_bar[self.pre]
        e = p * (zb - self.beta * self.eps)
        self.e_filt = self.kappa * self.e_filt + (1 - self.kappa) * e
        self.eps = (self.rho - self.beta * p) * self.eps + p * zb
        self.a = self.rho * self.a + z


class StepSTDP:
    """Three-factor STDP eligibility updated every step over all synapses."""

    def __init__(self, net: Network, a_plus: float, a_minus: float, tau_plus: float, tau_minus: float, tau_e: float) -> None:
        n, e = net.n_neurons, net.n_synapses
        self.pre, self.post = net.pre_index(), net.post.long()
        self.ap, self.am = a_plus, a_minus
        self.dp, self.dm = math.exp(-net.dt / tau_plus), math.exp(-net.dt / tau_minus)
        self.kappa = math.exp(-net.dt / tau_e)
        self.x, self.y = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
        self.c = torch.zeros(e, dtype=torch.float64)

    def step(self, z: torch.Tensor) -> None:
        z = z.double()
        ltp = self.ap * self.dp * self.x[self.pre] * z[self.post]
        ltd = self.am * self.dm * self.y[self.post] * z[self.pre]
        self.c = self.kappa * self.c + ltp - ltd
        self.x = self.dp * self.x + z
        self.y = self.dm * self.y + z
