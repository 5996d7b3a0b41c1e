"""Three-factor STDP: pair-based STDP into an eligibility trace, gated by reward (Izhikevich 2007).

Per neuron, all-to-all spike traces (``d+ = exp(-dt/tau_plus)``,
``d- = exp(-dt/tau_minus)``)::

    x_i = d+ * x_i + z_i          (presynaptic)      0 <= x <= 1/(1 - d+)
    y_j = d- * y_j + z_j          (postsynaptic)     0 <= y <= 1/(1 - d-)

per synapse ``i -> j``, with the traces as they were before this step's spikes::

    c_ji = kappa * c_ji + a_plus * d+ x_i z_j - a_minus * d- y_j z_i      kappa = exp(-dt/tau_e)

A pre-before-post pair ``dt_pair`` ms apart adds ``a_plus * exp(-dt_pair/tau_plus)``;
post-before-pre subtracts ``a_minus * exp(-dt_pair/tau_minus)``; simultaneous
spikes add nothing. Rewards work as in e-prop: ``snapshot()`` copies ``c``;
``reward(r)`` writes ``W = clamp(W + lr * delta * scale[post] * snapshot)``.
The per-synapse update is folded in blocks like e-prop's (exact to rounding).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs
import torch
from attrs import validators as v

from encephagen import validators as ev
from encephagen_builtins.learning.common import (
    BASELINE_ORDERS,
    PLASTIC_CHOICES,
    WeightWriter,
    as_float_map,
    bounds_ordered,
    check_bounds,
    decay_pair,
    BlockFold,
    reward_snapshot_or_live,
)


@attrs.frozen
class ThreeFactorSTDP:
    """Reward-gated pair-based STDP with a decaying eligibility trace (Izhikevich 2007).

    :ivar lr: scale of the weight update (``W += lr * delta * c``).
    :ivar a_plus: eligibility added by a pre-before-post pair at zero lag (mV).
    :ivar a_minus: eligibility removed by a post-before-pre pair at zero lag (mV).
    :ivar tau_plus: presynaptic trace time constant (ms).
    :ivar tau_minus: postsynaptic trace time constant (ms).
    :ivar tau_e: eligibility time constant (ms).
    :ivar w_min: lower weight bound (mV).
    :ivar w_max: upper weight bound (mV).
    :ivar reward_decay: ``d`` of the reward baseline.
    :ivar baseline_order: ``published`` or ``textbook`` (see e-prop).
    :ivar variant: ``snapshot`` or ``continuous``.
    :ivar plastic: ``all``, ``excitatory`` or ``between``.
    :ivar reward_map: region group -> reward scale for synapses onto it.
    :ivar reward_default: reward scale for neurons in no listed group.
    :ivar block_steps: steps folded into the eligibility at once.
    """

    name: ClassVar[str] = "stdp3"
    summary: ClassVar[str] = "Three-factor STDP: pair STDP into an eligibility trace, gated by reward (Izhikevich 2007)."

    lr: float = attrs.field(default=1.0, validator=[ev.finite, v.ge(0.0)])
    a_plus: float = attrs.field(default=1e-4, validator=[ev.finite, v.ge(0.0)])
    a_minus: float = attrs.field(default=1.5e-4, validator=[ev.finite, v.ge(0.0)])
    tau_plus: float = attrs.field(default=20.0, validator=[ev.finite, v.gt(0.0)])
    tau_minus: float = attrs.field(default=20.0, validator=[ev.finite, v.gt(0.0)])
    tau_e: float = attrs.field(default=1000.0, validator=[ev.finite, v.gt(0.0)])
    w_min: float = attrs.field(default=-15.0, validator=ev.finite)
    w_max: float = attrs.field(default=15.0, validator=ev.finite)
    reward_decay: float = attrs.field(default=0.99, validator=[ev.finite, v.ge(0.0), v.lt(1.0)])
    baseline_order: Literal["published", "textbook"] = attrs.field(default="published", validator=v.in_(BASELINE_ORDERS))
    variant: Literal["snapshot", "continuous"] = attrs.field(default="snapshot", validator=v.in_(("snapshot", "continuous")))
    plastic: Literal["all", "excitatory", "between"] = attrs.field(default="all", validator=v.in_(PLASTIC_CHOICES))
    reward_map: Mapping[str, float] = attrs.field(factory=dict, converter=as_float_map, validator=ev.group_numbers())
    reward_default: float = attrs.field(default=1.0, validator=ev.finite)
    block_steps: int = attrs.field(default=32, validator=[v.instance_of(int), v.ge(1), v.le(4096)])

    def __attrs_post_init__(self) -> None:
        bounds_ordered(self)

    def check_brain(self, microcircuit: Any, connectome: Any) -> None:
        """Refuse, at validation, bounds that would not hold this brain's plastic weights (see ``check_bounds``)."""
        check_bounds(self, microcircuit, connectome)

    def bind(self, network: Any, generator: torch.Generator | None = None) -> "STDP3Learner":
        """A fresh learner on ``network`` (``generator`` is unused: the rule draws nothing)."""
        return STDP3Learner(self, network)


class STDP3Learner:
    """State of :class:`ThreeFactorSTDP`: traces ``x``, ``y`` (``N``), eligibility ``c`` and snapshot (``E``)."""

    def __init__(self, rule: ThreeFactorSTDP, network: Any) -> None:
        self.rule = rule
        self.net = network
        n, e, dt = network.n_neurons, network.n_synapses, float(network.dt)
        dev, dtype = network.device, network.weight.dtype
        self.d_plus, _ = decay_pair(dt, rule.tau_plus, dtype)
        self.d_minus, _ = decay_pair(dt, rule.tau_minus, dtype)
        self.kappa, _ = decay_pair(dt, rule.tau_e, dtype)
        self.writer = WeightWriter.for_rule(network, rule)
        self.chunks = self.writer.chunks
        self.fold = BlockFold(network, self.chunks)
        self.x = torch.zeros(n, dtype=dtype, device=dev)
        self.y = torch.zeros(n, dtype=dtype, device=dev)
        self.c = torch.zeros(e, dtype=dtype, device=dev)
        self.snap = torch.zeros(e, dtype=dtype, device=dev) if rule.variant == "snapshot" else None
        k = rule.block_steps
        self._z = torch.zeros(k, n, dtype=torch.bool, device=dev)
        self._ypre = torch.zeros(k, n, dtype=dtype, device=dev)
        self._x0 = torch.zeros(n, dtype=dtype, device=dev)
        self._k = 0
        self._has_snapshot = False

    def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
        """One step of spikes ``z`` (``(N,)``); the membrane ``v`` is not used."""
        n = self.x.shape[0]
        if z.shape != (n,):
            raise ValueError(f"on_step expects z of shape ({n},), got {tuple(z.shape)}")
        if self._k == self._z.shape[0]:
            self.flush()
        k = self._k
        if k == 0:
            self._x0.copy_(self.x)
        zk = self._z[k]
        zk.copy_(z)
        self.x.mul_(self.d_plus).add_(zk)
        self.y.mul_(self.d_minus)
        self._ypre[k].copy_(self.y)
        self.y.add_(zk)
        self._k = k + 1

    def flush(self) -> None:
        """Fold the buffered steps into ``c``.

        With ``g(s) = kappa^(K-1-s) z_post(s)`` and ``G(s) = sum_{u>s} d+^(u-s) g(u)``:
        ``c = kappa^K c + x0[pre] * (a_plus d+ (g(0) + G(0)))[post]`` plus, for each
        presynaptic spike at block step ``s``,
        ``(a_plus G(s) - a_minus kappa^(K-1-s) d- y(s-1))[post]``.
        """
        steps = self._k
        if steps == 0:
            return
        self._k = 0
        ap, am, dp = self.rule.a_plus, self.rule.a_minus, self.d_plus
        zf = self._z[:steps].to(self.x.dtype)
        q = self._ypre[:steps]
        g = torch.zeros_like(self.x)
        for s in range(steps - 1, -1, -1):
            w = self.kappa ** (steps - 1 - s)
            q[s].mul_(-am * w).add_(g, alpha=ap)
            g.mul_(dp).add_(zf[s], alpha=dp * w)
        g.mul_(ap)
        self.fold.decay_outer(self.c, self.kappa**steps, self._x0, g)
        self.fold.spike_rows(self._z[:steps], [(self.c, q)])

    def snapshot(self) -> None:
        """Copy ``c`` for the next :meth:`reward` (a no-op for variant ``continuous``)."""
        if self.snap is None:
            return
        self.flush()
        self.snap.copy_(self.c)
        self._has_snapshot = True

    def reward(self, r: float | torch.Tensor) -> None:
        """Apply reward ``r`` (one number, or one per brain): ``W += lr * delta * scale[post] * trace``."""
        reward_snapshot_or_live(self, r, self.c)

    def reset(self) -> None:
        """Zero every trace and the block buffer; weights and the reward baseline are kept."""
        self._k = 0
        self._has_snapshot = False
        for t in (self.x, self.y, self.c, self.snap, self._x0):
            if t is not None:
                t.zero_()

    def traces(self) -> dict[str, tuple[torch.Tensor, float, float]]:
        """Current state with its bounds: name -> ``(tensor, low, high)`` (flushes first)."""
        self.flush()
        xmax, ymax = 1.0 / (1.0 - self.d_plus), 1.0 / (1.0 - self.d_minus)
        lo = -self.rule.a_minus * self.d_minus * ymax / (1.0 - self.kappa)
        hi = self.rule.a_plus * self.d_plus * xmax / (1.0 - self.kappa)
        out = {"x": (self.x, 0.0, xmax), "y": (self.y, 0.0, ymax), "c": (self.c, lo, hi)}
        if self.snap is not None:
            out["snapshot"] = (self.snap, lo, hi)
        return out

    def state_bytes(self) -> dict[str, int]:
        """Bytes of learner state: ``per_synapse`` (arrays of length E) and ``per_neuron``."""
        size = lambda ts: sum(t.numel() * t.element_size() for t in ts if t is not None)  # noqa: E731
        return {"per_synapse": size([self.c, self.snap]), "per_neuron": size([self.x, self.y, self._z, self._ypre, self._x0])}
