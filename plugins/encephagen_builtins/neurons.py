"""The neuron models this distribution registers (kind ``neuron_model``).

``lif`` is the reference model (spec section 3); ``alif`` adds an adaptive
threshold. Units: ms and mV (rest 0, threshold 20). One step, in order
(``dt`` = the network's step; ``N`` = all neurons of the batch):

1. ``i_syn += Poisson(bg) * j_eff``   background drive (drawn by the engine)
2. ``i_syn += external``              the task's input, mV per step
3. ``i_total = i_syn + i_nmda``
4. non-refractory: ``v += dt * (i_total - v + i_gap) / tau_m``; refractory keep ``v``
   (``i_gap = sum_j c_ij (v_j - v_i)``, the gap-junction current the engine
   computes from the potentials at the start of the step; absent, and not
   computed, on a network without gap junctions)
5. ``spike = (v >= threshold) & non-refractory``
6. learning rules see ``v`` (before reset) and the spikes
7. spiking: ``v = v_reset``, refractory for ``t_ref``
8. ``syn = W^T spike`` (the engine, with conduction delays if any)
9. ``i_syn = i_syn * exp(-dt/tau_syn) + syn``
10. NMDA groups: ``i_nmda = i_nmda * exp(-dt/tau_nmda) + nmda_ratio * syn``

The refractory clock counts whole steps: ``n_ref = ceil(t_ref/dt)`` (20 for
the reference). A spike sets it to ``n_ref`` and every step ends with
``max(clock - 1, 0)``, so a neuron that spikes at step ``s`` keeps its
potential during the ``n_ref - 1`` steps ``s+1 .. s+n_ref-1`` and integrates
again at ``s + n_ref`` -- exactly the spec's ``refrac -= dt`` clock in ms,
without its float round-off.

``pseudo_derivative(v) = max(0, 1 - |v - v_thr| / v_thr)`` is the
gamma-free base of the e-prop pseudo-derivative (the rule multiplies it by
its own ``gamma``). For ``alif`` it is taken at the fixed base threshold;
the e-prop rule's adaptive variant tracks the moving threshold itself.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

import attrs
import torch

from encephagen.engine.dynamics import Advanced, Const, State
from encephagen import validators as ev
from encephagen.errors import ConfigError, DataError


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _tau_map(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise TypeError(f"'tau_m_groups' must map region group names to tau_m in ms, got {value!r}")
    return dict(sorted(value.items()))


def _pos(*extra: Any) -> list[Any]:
    return [ev.finite, attrs.validators.gt(0.0), *extra]


def _group_mask(network: Any, groups: tuple[str, ...], field: str) -> torch.Tensor:
    """bool ``(N,)``: neurons of every brain inside any of ``groups``; a missing group is an error."""
    mask = torch.zeros(network.n_neurons, dtype=torch.bool, device=network.device)
    for g in groups:
        if g not in network.groups:
            have = ", ".join(sorted(network.groups)) or "none"
            raise DataError.at(
                f"brain.neuron.{field}",
                f"names region group {g!r}, which this connectome lacks (it has: {have}); "
                "add the group under connectome groups or remove it here",
            )
        mask |= network.group_mask(g)
    return mask


@attrs.frozen
class LIF:
    """Leaky integrate-and-fire neuron with AMPA-like and NMDA-like synaptic currents (spec section 3).

    :ivar tau_m: membrane time constant (ms).
    :ivar v_thr: spike threshold (mV above rest).
    :ivar v_reset: potential after a spike (mV).
    :ivar t_ref: refractory period (ms).
    :ivar tau_syn: decay of the fast synaptic current (ms).
    :ivar tau_nmda: decay of the slow NMDA current (ms).
    :ivar nmda_ratio: share of the recurrent input that also enters ``i_nmda``.
    :ivar nmda_groups: region groups whose neurons have the NMDA current.
    :ivar ext_rate_factor: background rate in units of the threshold rate
        ``nu_thr = v_thr / (j_eff * c_e * tau_m)`` (Brunel's calibration);
        0 switches the background off.
    :ivar tau_m_groups: region group -> its own ``tau_m`` (ms); a neuron in
        several listed groups takes the value of the group whose name sorts
        last. The background calibration keeps using the base ``tau_m``.
    """

    name: ClassVar[str] = "lif"
    default: ClassVar[str] = "default"  # the neuron model of a study that names none
    summary: ClassVar[str] = "Leaky integrate-and-fire with AMPA and NMDA currents and Poisson background (reference)."

    tau_m: float = attrs.field(default=20.0, validator=_pos())
    v_thr: float = attrs.field(default=20.0, validator=_pos())
    v_reset: float = attrs.field(default=0.0, validator=ev.finite)
    t_ref: float = attrs.field(default=2.0, validator=[ev.finite, attrs.validators.ge(0.0)])
    tau_syn: float = attrs.field(default=5.0, validator=_pos())
    tau_nmda: float = attrs.field(default=150.0, validator=_pos())
    nmda_ratio: float = attrs.field(default=0.3, validator=[ev.finite, attrs.validators.ge(0.0)])
    nmda_groups: tuple[str, ...] = attrs.field(default=("prefrontal",), converter=_groups, validator=ev.group_names)
    ext_rate_factor: float = attrs.field(default=3.5, validator=[ev.finite, attrs.validators.ge(0.0)])
    tau_m_groups: Mapping[str, float] = attrs.field(factory=dict, converter=_tau_map, validator=ev.group_numbers("a positive time constant in ms", positive=True), hash=False)

    def __attrs_post_init__(self) -> None:
        if self.v_reset >= self.v_thr:
            raise ValueError(f"'v_reset' ({self.v_reset}) must be below 'v_thr' ({self.v_thr})")

    def required_groups(self) -> dict[str, tuple[str, ...]]:
        """``{parameter: region groups}`` the model reads, checked against the connectome at validation."""
        return {"nmda_groups": self.nmda_groups, "tau_m_groups": tuple(self.tau_m_groups)}

    def pseudo_derivative(self, v: torch.Tensor) -> torch.Tensor:
        """``max(0, 1 - |v - v_thr| / v_thr)``: dimensionless, in ``[0, 1]``, shape of ``v`` (mV)."""
        return (1.0 - (v - self.v_thr).abs() / self.v_thr).clamp(min=0.0)

    def background_rate(self, network: Any) -> float:
        """Expected background spikes per neuron per step: ``c_e * nu_thr * ext_rate_factor * dt``.

        ``nu_thr = v_thr / (j_eff * c_e * tau_m)`` (per ms), so this is
        ``v_thr * ext_rate_factor * dt / (j_eff * tau_m)`` (0.175 for the reference).
        """
        micro = _microcircuit(network)
        nu_thr = self.v_thr / (micro.j_eff * micro.c_e * self.tau_m)
        return micro.c_e * nu_thr * self.ext_rate_factor * float(network.dt)

    def dynamics(self, network: Any) -> "LIFDynamics":
        """This model bound to ``network`` (per-neuron constants on its device)."""
        return LIFDynamics(self, network)


def _microcircuit(network: Any) -> Any:
    micro = getattr(network, "microcircuit", None)
    if micro is None:
        raise ConfigError.at("brain", "the neuron model needs a network built from a microcircuit (build_network)")
    return micro


class LIFDynamics:
    """:class:`LIF` on one network: state ``v, i_syn, i_nmda, refrac`` (float32 ``(N,)``)."""

    state_names: tuple[str, ...] = ("v", "i_syn", "i_nmda", "refrac")
    #: ``advance`` takes the gap-junction current (``gap=``, mV).
    gap_junctions: bool = True

    def __init__(self, model: LIF, network: Any) -> None:
        dt = float(network.dt)
        dev = network.device
        self.model = model
        self.n = network.n_neurons
        self.v_thr = float(model.v_thr)
        self.v_reset = float(model.v_reset)
        self.n_ref = float(math.ceil(model.t_ref / dt - 1e-9)) if model.t_ref > 0 else 0.0
        self.d_syn = math.exp(-dt / model.tau_syn)
        self.d_nmda = math.exp(-dt / model.tau_nmda)
        self.bg_rate = model.background_rate(network)
        self.bg_weight = float(_microcircuit(network).j_eff)
        nmda = _group_mask(network, model.nmda_groups, "nmda_groups")
        self.const: dict[str, torch.Tensor] = {
            "nmda": torch.where(nmda, model.nmda_ratio, 0.0).to(torch.float32).to(dev),
        }
        if model.tau_m_groups:
            tau = torch.full((self.n,), float(model.tau_m), dtype=torch.float64, device=dev)
            for g, t in model.tau_m_groups.items():
                tau[_group_mask(network, (g,), "tau_m_groups")] = float(t)
            self.const["k_m"] = (dt / tau).to(torch.float32)
            self.k_m: float | None = None
        else:
            self.k_m = dt / model.tau_m
        self.key: Hashable = (
            type(self).__qualname__, self.v_thr, self.v_reset, self.n_ref, self.d_syn, self.d_nmda, self.k_m
        )

    def init_state(self, u: torch.Tensor) -> State:
        """``v ~ Uniform(0, v_thr)``, everything else 0."""
        v = (u.to(torch.float64) * self.v_thr).to(torch.float32)
        z = torch.zeros_like(v)
        return {"v": v, "i_syn": z.clone(), "i_nmda": z.clone(), "refrac": z.clone()}

    def _integrate(
        self, s: State, c: Const, bg: torch.Tensor, ext: torch.Tensor | None, gap: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Steps 1-4: the new ``i_syn``, ``v`` and the non-refractory mask (``gap``: the gap-junction current, mV)."""
        i_syn = s["i_syn"] + bg
        if ext is not None:
            i_syn = i_syn + ext
        i_total = i_syn + s["i_nmda"]
        free = s["refrac"] <= 0.0
        k = c["k_m"] if self.k_m is None else self.k_m
        drive = i_total - s["v"]
        if gap is not None:
            drive = drive + gap
        v = torch.where(free, s["v"] + k * drive, s["v"])
        return i_syn, v, free

    def _reset(self, v: torch.Tensor, spike: torch.Tensor, refrac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step 7: reset and refractory clock."""
        v_new = torch.where(spike, self.v_reset, v)
        refrac = torch.clamp(torch.where(spike, self.n_ref, refrac) - 1.0, min=0.0)
        return v_new, refrac

    def advance(self, s: State, c: Const, bg: torch.Tensor, ext: torch.Tensor | None, gap: torch.Tensor | None = None) -> Advanced:
        """Steps 1-7 (see the module docstring)."""
        i_syn, v, free = self._integrate(s, c, bg, ext, gap)
        spike = (v >= self.v_thr) & free
        v_new, refrac = self._reset(v, spike, s["refrac"])
        return v, spike.to(torch.float32), {"v": v_new, "i_syn": i_syn, "i_nmda": s["i_nmda"], "refrac": refrac}

    def receive(self, s: State, c: Const, syn: torch.Tensor) -> State:
        """Steps 9-10."""
        out = dict(s)
        out["i_syn"] = s["i_syn"] * self.d_syn + syn
        out["i_nmda"] = s["i_nmda"] * self.d_nmda + c["nmda"] * syn
        return out


@attrs.frozen
class ALIF(LIF):
    """LIF with an adaptive threshold (Bellec et al. 2018 style).

    Threshold ``A = v_thr + beta_adapt * a``; after step 7,
    ``a = a * exp(-dt/tau_adapt) + spike``, so ``a`` counts recent spikes
    and each raises the threshold by ``beta_adapt`` mV, decaying with
    ``tau_adapt``. ``a`` starts at 0. ``beta`` and ``tau_a`` are read-only
    aliases that learning rules read.

    :ivar tau_adapt: decay of the adaptation (ms).
    :ivar beta_adapt: threshold increase per unit of adaptation (mV per spike).
    """

    name: ClassVar[str] = "alif"
    summary: ClassVar[str] = "LIF with a spike-triggered adaptive threshold (decays with tau_adapt)."

    tau_adapt: float = attrs.field(default=200.0, validator=_pos())
    beta_adapt: float = attrs.field(default=1.0, validator=[ev.finite, attrs.validators.ge(0.0)])

    @property
    def beta(self) -> float:
        """``beta_adapt`` (mV per unit of adaptation)."""
        return self.beta_adapt

    @property
    def tau_a(self) -> float:
        """``tau_adapt`` (ms)."""
        return self.tau_adapt

    def dynamics(self, network: Any) -> "ALIFDynamics":
        """This model bound to ``network``."""
        return ALIFDynamics(self, network)


class ALIFDynamics(LIFDynamics):
    """:class:`ALIF` on one network: the LIF state plus the adaptation ``a``."""

    state_names: tuple[str, ...] = ("v", "i_syn", "i_nmda", "refrac", "a")

    def __init__(self, model: ALIF, network: Any) -> None:
        super().__init__(model, network)
        self.beta = float(model.beta_adapt)
        self.rho = math.exp(-float(network.dt) / model.tau_adapt)
        self.key = (*self.key, self.beta, self.rho)

    def init_state(self, u: torch.Tensor) -> State:
        """The LIF state and ``a = 0``."""
        s = super().init_state(u)
        s["a"] = torch.zeros_like(s["v"])
        return s

    def advance(self, s: State, c: Const, bg: torch.Tensor, ext: torch.Tensor | None, gap: torch.Tensor | None = None) -> Advanced:
        """Steps 1-7 with threshold ``v_thr + beta * a``, then ``a = rho * a + spike``."""
        i_syn, v, free = self._integrate(s, c, bg, ext, gap)
        spike = (v >= self.v_thr + self.beta * s["a"]) & free
        v_new, refrac = self._reset(v, spike, s["refrac"])
        z = spike.to(torch.float32)
        a = s["a"] * self.rho + z
        return v, z, {"v": v_new, "i_syn": i_syn, "i_nmda": s["i_nmda"], "refrac": refrac, "a": a}


#: Registered by :func:`encephagen_builtins.encephagen_register_neuron_models`.
NEURON_MODELS: tuple[type, ...] = (LIF, ALIF)

__all__ = ["ALIF", "LIF", "NEURON_MODELS"]
