"""A task and a neuron model written only against encephagen.interfaces and the documented engine calls.

The tests install it through a dist-info (its entry point registers both)
and import ``QuietRate`` directly to use it with the kit's fixtures.
"""

import math
from typing import ClassVar

import attrs
import torch

from encephagen import hookimpl
from encephagen.interfaces import TaskContext, TaskResult


@attrs.frozen
class QuietRate:
    """Runs the brain with background input only and reports each brain's mean rate (Hz)."""

    name: ClassVar[str] = "quiet_rate"
    steps: int = 200

    def required_groups(self) -> tuple[str, ...]:
        return ()

    def run(self, brain, context: TaskContext) -> TaskResult:
        rec = brain.run(self.steps)  # a Recording: region_rates() is (windows, brains, regions) spikes per neuron per step
        per_step = rec.region_rates().mean(dim=(0, 2))
        return {"rate_hz": (per_step * 1000.0 / float(brain.network.dt)).cpu().numpy()}


class _Dynamics:
    state_names = ("v", "refrac")

    def __init__(self, model, network):
        micro = network.microcircuit
        self.k = float(network.dt) / model.tau_m
        self.v_thr, self.n_ref = model.v_thr, float(math.ceil(model.t_ref / float(network.dt)))
        self.const = {}
        self.key = ("plain-if", self.k, self.v_thr, self.n_ref)
        self.bg_weight = float(micro.j_eff)
        self.bg_rate = model.v_thr * 1.2 * float(network.dt) / (micro.j_eff * model.tau_m)  # mean drive: 1.2 x threshold

    def init_state(self, u):
        v = (u.to(torch.float64) * self.v_thr).to(torch.float32)
        return {"v": v, "refrac": torch.zeros_like(v)}

    def advance(self, s, c, bg, ext):
        drive = bg if ext is None else bg + ext
        free = s["refrac"] <= 0.0
        v = torch.where(free, s["v"] + self.k * (-s["v"]) + drive, s["v"])
        spike = free & (v >= self.v_thr)
        v_after = torch.where(spike, 0.0, v)
        refrac = torch.clamp(torch.where(spike, self.n_ref, s["refrac"]) - 1.0, min=0.0)
        return v, spike.to(torch.float32), {"v": v_after, "refrac": refrac}

    def receive(self, s, c, syn):
        return {"v": s["v"] + syn, "refrac": s["refrac"]}


@attrs.frozen
class PlainIF:
    """A leaky integrate-and-fire neuron without synaptic currents (input jumps the membrane)."""

    name: ClassVar[str] = "plain_if"
    v_thr: float = 20.0
    tau_m: float = 20.0
    t_ref: float = 2.0

    def dynamics(self, network):
        return _Dynamics(self, network)

    def pseudo_derivative(self, v):
        return 0.3 * torch.clamp(1 - (v - self.v_thr).abs() / self.v_thr, min=0)


@hookimpl
def encephagen_register_tasks():
    return [QuietRate]


@hookimpl
def encephagen_register_neuron_models():
    return [PlainIF]
