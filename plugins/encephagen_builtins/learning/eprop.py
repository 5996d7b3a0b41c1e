"""E-prop (Bellec et al. 2020), reward-modulated, as in the reference model (spec section 4).

Every step, with ``v`` the membrane (mV, before reset) and ``z`` the spikes::

    z_bar   = alpha * z_bar + (1 - alpha) * z            alpha = exp(-dt/tau_m)
    psi_j   = gamma * max(0, 1 - |v_j - A_j| / v_thr)     A_j = v_thr (+ beta * a_j if adaptive)
    e_ji    = psi_j * z_bar_i                            (- beta * psi_j * eps_ji if adaptive)
    e_filt  = kappa * e_filt + (1 - kappa) * e_ji          kappa = exp(-dt/tau_e)

``snapshot()`` copies ``e_filt``; ``reward(r)`` computes the prediction error
``delta`` against a running baseline and writes
``W = clamp(W + lr * delta * snapshot, w_min, w_max)`` on the plastic synapses.

The per-synapse update is not done every step. The learner buffers the
per-neuron quantities of up to ``block_steps`` steps and folds the block into
``e_filt`` at once (:meth:`EPropLearner.flush`): because
``z_bar_i(s) = alpha^(s+1) z_bar_i(start) + (1-alpha) * sum over i's spikes``,
the block's contribution is one rank-one term over all synapses plus a sparse
term over the outgoing synapses of the neurons that spiked. This is exact (up
to rounding) and touches the synapse arrays once per block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs
import torch
from attrs import validators as v

from encephagen.errors import ConfigError
from encephagen import validators as ev
from encephagen_builtins.learning.common import (
    BASELINE_ORDERS,
    PLASTIC_CHOICES,
    BlockFold,
    WeightWriter,
    as_float_map,
    bounds_ordered,
    check_bounds,
    coef,
    decay_pair,
    network_constant,
    reward_snapshot_or_live,
)

VARIANTS = ("snapshot", "continuous", "supervised")


@attrs.frozen
class EProp:
    """Reward-modulated e-prop with eligibility snapshots (Bellec et al. 2020).

    :ivar lr: learning rate (mV per unit of ``delta * eligibility``).
    :ivar tau_e: eligibility filter time constant (ms).
    :ivar gamma: pseudo-derivative dampening (dimensionless, ``psi <= gamma``).
    :ivar w_min: lower weight bound (mV).
    :ivar w_max: upper weight bound (mV).
    :ivar reward_decay: ``d`` of the reward baseline ``b = d*b + (1-d)*r``.
    :ivar baseline_order: ``published`` (baseline updated before
        ``delta = r - b``) or ``textbook`` (``delta = r - b_old``).
    :ivar variant: ``snapshot`` (reward uses the last snapshot),
        ``continuous`` (reward uses the live trace; ``snapshot()`` does
        nothing) or ``supervised`` (:meth:`EPropLearner.error` with a fixed
        random feedback matrix; ``reward()`` is refused).
    :ivar adaptive: use the ALIF eligibility with the adaptation trace; the
        neuron model must carry ``beta`` (mV) and ``tau_a`` (ms).
    :ivar plastic: ``all``, ``excitatory`` (excitatory presynaptic neuron) or
        ``between`` (between-region synapses only).
    :ivar reward_map: region group -> reward scale for synapses onto it.
    :ivar reward_default: reward scale for neurons in no listed group.
    :ivar feedback_std: std of the supervised feedback matrix entries.
    :ivar feedback_seed: seed of the feedback matrix when no generator is given.
    :ivar snapshot_precision: ``full`` (the network's dtype) or ``half``
        (float16: 2 bytes per synapse instead of 4).
    :ivar block_steps: steps folded into the eligibility at once (speed and
        memory only; results equal to rounding).
    """

    name: ClassVar[str] = "eprop"
    summary: ClassVar[str] = "Reward-modulated e-prop with eligibility snapshots (Bellec et al. 2020)."

    lr: float = attrs.field(default=0.1, validator=[ev.finite, v.ge(0.0)])
    tau_e: float = attrs.field(default=50.0, validator=[ev.finite, v.gt(0.0)])
    gamma: float = attrs.field(default=0.5, validator=[ev.finite, v.gt(0.0)])
    w_min: float = attrs.field(default=-15.0, validator=ev.finite)
    w_max: float = attrs.field(default=15.0, validator=ev.finite)
    reward_decay: float = attrs.field(default=0.99, validator=[ev.finite, v.ge(0.0), v.lt(1.0)])
    baseline_order: Literal["published", "textbook"] = attrs.field(default="published", validator=v.in_(BASELINE_ORDERS))
    variant: Literal["snapshot", "continuous", "supervised"] = attrs.field(default="snapshot", validator=v.in_(VARIANTS))
    adaptive: bool = attrs.field(default=False, validator=v.instance_of(bool))
    plastic: Literal["all", "excitatory", "between"] = attrs.field(default="all", validator=v.in_(PLASTIC_CHOICES))
    reward_map: Mapping[str, float] = attrs.field(factory=dict, converter=as_float_map, validator=ev.group_numbers())
    reward_default: float = attrs.field(default=1.0, validator=ev.finite)
    feedback_std: float = attrs.field(default=0.01, validator=[ev.finite, v.gt(0.0)])
    feedback_seed: int = attrs.field(default=0, validator=[v.instance_of(int), v.ge(0)])
    snapshot_precision: Literal["full", "half"] = attrs.field(default="full", validator=v.in_(("full", "half")))
    block_steps: int = attrs.field(default=32, validator=[v.instance_of(int), v.ge(1), v.le(4096)])

    def __attrs_post_init__(self) -> None:
        bounds_ordered(self)

    def check_brain(self, microcircuit: Any, connectome: Any) -> None:
        """Refuse, at validation, bounds that would not hold this brain's plastic weights (see ``check_bounds``)."""
        check_bounds(self, microcircuit, connectome)

    def bind(self, network: Any, generator: torch.Generator | None = None) -> "EPropLearner":
        """A fresh learner on ``network``; ``generator`` draws the supervised feedback matrix."""
        return EPropLearner(self, network, generator)


class EPropLearner:
    """The state of :class:`EProp` on one network.

    Per synapse (``E``): ``e_filt``; ``snapshot`` (variant ``snapshot``);
    ``eps`` (adaptive). Per neuron (``N``): ``z_bar``; ``a`` (adaptive);
    block buffers ``(block_steps, N)`` of ``psi`` (float) and spikes (bool).
    All float state has the network's dtype and device.
    """

    def __init__(self, rule: EProp, network: Any, generator: torch.Generator | None = None) -> None:
        self.rule = rule
        self.net = network
        n, dt = network.n_neurons, float(network.dt)
        dev, dtype = network.device, network.weight.dtype
        self.dtype = dtype
        self.v_thr = network_constant(network, "v_thr")
        self.alpha, self.c_alpha = decay_pair(dt, network_constant(network, "tau_m"), dtype)
        self.kappa, self.c_kappa = decay_pair(dt, rule.tau_e, dtype)
        self.gamma = coef(rule.gamma, dtype)
        self.slope = coef(rule.gamma / self.v_thr, dtype)
        self.writer = WeightWriter.for_rule(network, rule)
        self.chunks = self.writer.chunks
        self.fold = BlockFold(network, self.chunks)
        if rule.adaptive:
            self.beta = network_constant(network, "beta", zero_ok=True)
            self.rho, _ = decay_pair(dt, network_constant(network, "tau_a"), dtype)
            m_worst = max(self.rho, abs(self.rho - self.beta * self.gamma))
            if m_worst >= 1.0:
                raise ConfigError.at(
                    "adaptive",
                    f"with beta*gamma = {self.beta * self.gamma:g} >= 1 + rho = {1 + self.rho:g} the adaptation "
                    "eligibility grows without bound; lower gamma or the neuron's beta",
                )
            #: Bound of ``|eps|``: ``gamma / (1 - max|rho - beta*psi|)``.
            self.eps_bound = self.gamma / (1.0 - m_worst)
        e = network.n_synapses
        self.z_bar = torch.zeros(n, dtype=dtype, device=dev)
        self.e_filt = torch.zeros(e, dtype=dtype, device=dev)
        self.snap: torch.Tensor | None = None
        if rule.variant == "snapshot":
            sdtype = torch.float16 if rule.snapshot_precision == "half" else dtype
            self.snap = torch.zeros(e, dtype=sdtype, device=dev)
        self.a = torch.zeros(n, dtype=dtype, device=dev) if rule.adaptive else None
        self.eps = torch.zeros(e, dtype=dtype, device=dev) if rule.adaptive else None
        k = rule.block_steps
        self._psi = torch.zeros(k, n, dtype=dtype, device=dev)
        self._psi2 = torch.zeros(k, n, dtype=dtype, device=dev) if rule.adaptive else None
        self._z = torch.zeros(k, n, dtype=torch.bool, device=dev)
        self._zb0 = torch.zeros(n, dtype=dtype, device=dev)
        self._k = 0
        self._has_snapshot = False
        self._generator = generator
        self.feedback: torch.Tensor | None = None

    # -- the engine's call ----------------------------------------------------------
    def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
        """One step: membrane ``v`` (mV, ``(N,)``, before reset) and spikes ``z`` (``(N,)``, 0/1 or bool)."""
        n = self.z_bar.shape[0]
        if v.shape != (n,) or z.shape != (n,):
            raise ValueError(f"on_step expects v and z of shape ({n},), got {tuple(v.shape)} and {tuple(z.shape)}")
        if self._k == self._z.shape[0]:
            self.flush()
        k = self._k
        if k == 0:
            self._zb0.copy_(self.z_bar)
        zk = self._z[k]
        zk.copy_(z)
        self.z_bar.mul_(self.alpha).add_(zk, alpha=self.c_alpha)
        psi = self._psi[k]
        torch.sub(v, self.v_thr, out=psi)  # v - A, A = v_thr (+ beta a)
        if self.a is not None:
            psi.sub_(self.a, alpha=self.beta)
            self.a.mul_(self.rho).add_(zk)
        psi.abs_().mul_(-self.slope).add_(self.gamma).clamp_(min=0.0)
        self._k = k + 1

    # -- block flush ----------------------------------------------------------------
    def flush(self) -> None:
        """Fold the buffered steps into ``e_filt`` (and ``eps``); a no-op when none are buffered."""
        steps = self._k
        if steps == 0:
            return
        self._k = 0
        c = [self.c_kappa * self.kappa ** (steps - 1 - s) for s in range(steps)]
        if self.a is None:
            q = self._fold_lif(steps, c)
            self._dense_pass(self.kappa**steps, q[0] * self.alpha)
            self._spike_pass(steps, [(self.e_filt, q)])
        else:
            qe, qa, g0, m_tot = self._fold_alif(steps, c)
            self._dense_pass_alif(self.kappa**steps, qe[0] * self.alpha, qa[0] * self.alpha, g0, m_tot)
            self._spike_pass(steps, [(self.e_filt, qe), (self.eps, qa)])

    def _fold_lif(self, steps: int, c: list[float]) -> torch.Tensor:
        """Overwrite the psi buffer with ``Q(s) = sum_{u>=s} alpha^(u-s) c_u psi(u)``."""
        q = self._psi[:steps]
        q[steps - 1].mul_(c[steps - 1])
        for s in range(steps - 2, -1, -1):
            q[s].mul_(c[s]).add_(q[s + 1], alpha=self.alpha)
        return q

    def _fold_alif(self, steps: int, c: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Backward pass for the ALIF block (see docs/learning_rules.md, "block flush").

        With ``m(s) = rho - beta psi(s)``: ``H(u) = c_{u+1} psi(u+1) + m(u+1) H(u+1)``,
        ``Mk(u) = m(u+1) Mk(u+1)``; the coefficient of ``z_bar(u)`` is
        ``c_u psi(u) - beta psi(u) H(u)`` in ``e_filt`` and ``Mk(u) psi(u)`` in ``eps``.
        """
        qe, qa = self._psi[:steps], self._psi2[:steps]
        h = torch.zeros_like(self.z_bar)
        mk = torch.ones_like(self.z_bar)
        m = torch.empty_like(self.z_bar)
        for u in range(steps - 1, -1, -1):
            p = qe[u]
            torch.mul(p, -self.beta, out=m).add_(self.rho)
            torch.mul(mk, p, out=qa[u])
            h_new = torch.mul(m, h).add_(p, alpha=c[u])
            p.mul_(torch.mul(h, -self.beta).add_(c[u]))
            h = h_new
            mk.mul_(m)
            if u < steps - 1:
                p.add_(qe[u + 1], alpha=self.alpha)
                qa[u].add_(qa[u + 1], alpha=self.alpha)
        return qe, qa, h, mk

    def _dense_pass(self, decay: float, p_post: torch.Tensor) -> None:
        """``e_filt = decay * e_filt + zb0[pre] * p_post[post]``."""
        self.fold.decay_outer(self.e_filt, decay, self._zb0, p_post)

    def _dense_pass_alif(
        self, decay: float, pe: torch.Tensor, pa: torch.Tensor, g0: torch.Tensor, m_tot: torch.Tensor
    ) -> None:
        """``e_filt = decay e_filt - beta g0[post] eps0 + zb0[pre] pe[post]``; ``eps = m_tot[post] eps0 + zb0[pre] pa[post]``."""
        for ch in self.chunks.chunks:
            s0, s1 = ch[2], ch[3]
            post = self.chunks.post_of(ch)
            zb = self.chunks.pre(self._zb0, ch)
            ec, ac = self.e_filt[s0:s1], self.eps[s0:s1]
            ec.mul_(decay).addcmul_(g0.index_select(0, post), ac, value=-self.beta)
            ec.addcmul_(zb, pe.index_select(0, post))
            ac.mul_(m_tot.index_select(0, post)).addcmul_(zb, pa.index_select(0, post))

    def _spike_pass(self, steps: int, targets: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Add ``(1-alpha) * Q(s)[post]`` to the outgoing synapses of every neuron that spiked at block step ``s``."""
        self.fold.spike_rows(self._z[:steps], targets, self.c_alpha)

    # -- the task's calls -------------------------------------------------------------
    def snapshot(self) -> None:
        """Copy ``e_filt`` for the next :meth:`reward` (variant ``snapshot``; a no-op for the others)."""
        if self.snap is None:
            return
        self.flush()
        self.snap.copy_(self.e_filt)
        self._has_snapshot = True

    def reward(self, r: float | torch.Tensor) -> None:
        """Apply reward ``r`` (one number, or one per brain): ``W += lr * delta * scale[post] * trace``."""
        if self.rule.variant == "supervised":
            raise RuntimeError("e-prop variant 'supervised' learns from error(y, y_target), not from reward(r)")
        reward_snapshot_or_live(self, r, self.e_filt)

    def set_feedback(self, feedback: torch.Tensor) -> None:
        """Use ``feedback`` (``(N, n_out)``) as the supervised feedback matrix ``B``."""
        n = self.z_bar.shape[0]
        if feedback.ndim != 2 or feedback.shape[0] != n:
            raise ValueError(f"feedback must have shape ({n}, n_out), got {tuple(feedback.shape)}")
        self.feedback = feedback.to(self.net.device, self.dtype).clone()

    def error(self, y: torch.Tensor, y_target: torch.Tensor) -> torch.Tensor:
        """Supervised step: ``L = B (y - y_target)``, ``W -= lr * L[post] * e_filt``.

        :param y: readout, ``(n_out,)`` or ``(n_brains, n_out)``.
        :param y_target: its target, same shape.
        :returns: the learning signal ``L`` (``(N,)``).

        ``B`` is drawn on the first call (``N(0, feedback_std^2)``) from the
        generator given to ``bind`` or, without one, from a generator seeded
        with ``feedback_seed``; :meth:`set_feedback` replaces it.
        """
        if self.rule.variant != "supervised":
            raise RuntimeError(f"error() needs e-prop variant 'supervised', this learner is {self.rule.variant!r}")
        b = self.net.n_brains
        err = (torch.as_tensor(y) - torch.as_tensor(y_target)).to(self.net.device, self.dtype).reshape(b, -1)
        if self.feedback is None:
            gen = self._generator
            if gen is None:
                gen = torch.Generator(device="cpu").manual_seed(self.rule.feedback_seed)
            fb = torch.randn(self.z_bar.shape[0], err.shape[1], generator=gen, dtype=torch.float64, device=gen.device)
            self.feedback = (fb * self.rule.feedback_std).to(self.net.device, self.dtype)
        if self.feedback.shape[1] != err.shape[1]:
            raise ValueError(f"y has {err.shape[1]} outputs per brain, the feedback matrix {self.feedback.shape[1]}")
        signal = (self.feedback * err[self.net.brain_of()]).sum(1)
        self.flush()
        self.writer.write(self.e_filt, -signal)
        return signal

    def reset(self) -> None:
        """Zero every trace and the block buffer; weights and the reward baseline are kept."""
        self._k = 0
        self._has_snapshot = False
        for t in (self.z_bar, self.e_filt, self.snap, self.a, self.eps, self._zb0):
            if t is not None:
                t.zero_()

    # -- inspection -------------------------------------------------------------------
    def pending_psi(self) -> torch.Tensor:
        """``psi`` (``(k, N)``) of the ``k`` steps buffered since the last flush, oldest first."""
        return self._psi[: self._k]

    def traces(self) -> dict[str, tuple[torch.Tensor, float, float]]:
        """Current state with its bounds: name -> ``(tensor, low, high)`` (flushes first)."""
        self.flush()
        g = self.gamma
        out: dict[str, tuple[torch.Tensor, float, float]] = {"z_bar": (self.z_bar, 0.0, 1.0)}
        if self.a is None:
            out["e_filt"] = (self.e_filt, 0.0, g)
            if self.snap is not None:
                out["snapshot"] = (self.snap, 0.0, g)
        else:
            eb = self.eps_bound
            out["a"] = (self.a, 0.0, 1.0 / (1.0 - self.rho))
            out["eps"] = (self.eps, -eb, eb)
            lo, hi = -self.beta * g * eb, g + self.beta * g * eb
            out["e_filt"] = (self.e_filt, lo, hi)
            if self.snap is not None:
                out["snapshot"] = (self.snap, lo, hi)
        return out

    def state_bytes(self) -> dict[str, int]:
        """Bytes of learner state: ``per_synapse`` (arrays of length E) and ``per_neuron`` (everything else)."""
        syn = [self.e_filt, self.snap, self.eps]
        neu = [self.z_bar, self.a, self._psi, self._psi2, self._z, self._zb0, self.feedback]
        size = lambda ts: sum(t.numel() * t.element_size() for t in ts if t is not None)  # noqa: E731
        return {"per_synapse": size(syn), "per_neuron": size(neu)}
