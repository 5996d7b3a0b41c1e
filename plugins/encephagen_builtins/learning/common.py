"""Machinery shared by the built-in learning rules.

- :class:`SynapseChunks`: passes over the ``E`` synapses in row-aligned chunks
  that stay in cache.
- :func:`expand_rows`: the synapses of a set of presynaptic neurons (for the
  sparse, spike-driven part of a block flush).
- :class:`BlockFold`: the two passes of a block flush over the synapses (a
  small C loop on the CPU when a compiler is present, torch otherwise; the
  same floats either way).
- :class:`WeightWriter`: the reward (or error) driven weight update with its
  reward baseline, per-region reward scale ("dopamine map"), plastic-synapse
  selection and weight bounds.
- attrs validators and converters used by the rules' parameters.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from encephagen.engine.native import build as build_native
from encephagen.errors import ConfigError

#: Synapses per chunk of a pass over ``E`` (about 1 MiB of float32).
CHUNK = 1 << 18
#: dtypes that :meth:`SynapseChunks.pre` expands with numpy on the CPU (others use torch).
_NUMPY_DTYPES = frozenset({torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                           torch.float16, torch.float32, torch.float64})

PLASTIC_CHOICES = ("all", "excitatory", "between")
BASELINE_ORDERS = ("published", "textbook")


def coef(x: float, dtype: torch.dtype) -> float:
    """``x`` rounded to ``dtype`` (so that ``coef(a) + (1 - coef(a)) == 1`` exactly in ``dtype``)."""
    return float(torch.tensor(x, dtype=torch.float64).to(dtype).item())


def decay_pair(dt: float, tau: float, dtype: torch.dtype) -> tuple[float, float]:
    """``(a, 1 - a)`` with ``a = exp(-dt/tau)`` rounded to ``dtype``; the two sum to 1 exactly."""
    a = coef(math.exp(-dt / tau), dtype)
    return a, 1.0 - a


def inward(low: float, high: float, dtype: torch.dtype) -> tuple[float, float]:
    """``[low, high]`` rounded inward to values of ``dtype``, so a clamp in ``dtype`` never leaves it."""
    lo = torch.tensor(low, dtype=torch.float64).to(dtype)
    hi = torch.tensor(high, dtype=torch.float64).to(dtype)
    if float(lo) < low:
        lo = torch.nextafter(lo, torch.tensor(math.inf, dtype=dtype))
    if float(hi) > high:
        hi = torch.nextafter(hi, torch.tensor(-math.inf, dtype=dtype))
    return float(lo), float(hi)


# -- parameter validation ------------------------------------------------------------



def as_float_map(value: Any) -> Any:
    """attrs converter: a mapping becomes a plain ``dict`` (anything else is left for the validator)."""
    return dict(value) if isinstance(value, Mapping) else value



def bounds_ordered(inst: Any, low: str = "w_min", high: str = "w_max") -> None:
    """Raise ``ValueError`` unless ``inst.<low> < inst.<high>``."""
    lo, hi = getattr(inst, low), getattr(inst, high)
    if not lo < hi:
        raise ValueError(f"'{low}' ({lo}) must be below '{high}' ({hi})")


def network_constant(network: Any, field: str, *, zero_ok: bool = False) -> float:
    """A positive (or, with ``zero_ok``, non-negative) finite number read from ``network.neuron``.

    For example ``v_thr`` (mV), ``tau_m`` (ms), ``beta`` (mV).
    """
    value = getattr(network.neuron, field, None)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero_ok):
        kind = "non-negative" if zero_ok else "positive"
        raise ConfigError.at(
            "",
            f"this learning rule needs the neuron model's '{field}' as a {kind} number, "
            f"got {value!r} from {type(network.neuron).__name__}",
        )
    return float(value)


# -- passes over synapses ---------------------------------------------------------------


class SynapseChunks:
    """Row-aligned chunks of a CSR synapse list.

    Chunk ``(r0, r1, s0, s1)`` holds the synapses ``s0:s1`` of presynaptic
    neurons ``r0:r1``; a per-neuron vector ``x`` (``(N,)``) becomes its
    per-synapse presynaptic values with :meth:`pre`, which repeats ``x[i]``
    once per synapse of row ``i``. The presynaptic index itself is never
    stored (the network does not keep it either).
    """

    def __init__(self, row_ptr: torch.Tensor, post: torch.Tensor, size: int = CHUNK) -> None:
        self.row_ptr = row_ptr
        self.post = post
        #: ``row_ptr`` as numpy on the CPU (a view, no copy): ``np.repeat`` is the fastest expansion there.
        self._rp_np: np.ndarray | None = row_ptr.numpy() if row_ptr.device.type == "cpu" else None
        rp = row_ptr.tolist()
        n, e = len(rp) - 1, rp[-1]
        starts = torch.searchsorted(row_ptr, torch.arange(0, max(e, 1), size, device=row_ptr.device)).tolist()
        bounds = sorted(set(min(b, n) for b in starts) | {0, n})
        self.chunks: list[tuple[int, int, int, int]] = [
            (r0, r1, rp[r0], rp[r1]) for r0, r1 in zip(bounds[:-1], bounds[1:]) if rp[r1] > rp[r0]
        ]

    def pre(self, x: torch.Tensor, chunk: tuple[int, int, int, int]) -> torch.Tensor:
        """``x[pre[s0:s1]]`` for a per-neuron ``x``: a new ``(s1 - s0,)`` tensor of ``x``'s dtype and device."""
        r0, r1, s0, s1 = chunk
        if self._rp_np is not None and x.device.type == "cpu" and x.dtype in _NUMPY_DTYPES:
            degree = np.diff(self._rp_np[r0 : r1 + 1])
            return torch.from_numpy(np.repeat(x.detach().numpy()[r0:r1], degree))
        degree = self.row_ptr[r0 + 1 : r1 + 1] - self.row_ptr[r0:r1]
        return torch.repeat_interleave(x[r0:r1], degree, dim=0, output_size=s1 - s0)

    def post_of(self, chunk: tuple[int, int, int, int]) -> torch.Tensor:
        """``post[s0:s1]`` (int32)."""
        return self.post[chunk[2] : chunk[3]]


def expand_rows(row_ptr: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The synapses of presynaptic neurons ``rows`` (int64 ``(M,)``, repeats allowed).

    :returns: ``(synapse, owner)``, int64 ``(T,)`` each: ``synapse[t]`` is a
        synapse of neuron ``rows[owner[t]]``; every synapse of every listed
        neuron appears once per listing.
    """
    starts = row_ptr.index_select(0, rows)
    counts = row_ptr.index_select(0, rows + 1) - starts
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1]) if len(ends) else 0
    # owner: 0 for the first counts[0] entries, then 1, ...; a step at each row's first synapse.
    steps = torch.zeros(total + 1, dtype=torch.int64, device=rows.device)
    steps.index_add_(0, ends, torch.ones_like(ends))
    owner = torch.cumsum(steps[:total], 0)
    shift = (starts - (ends - counts)).index_select(0, owner)
    synapse = torch.arange(total, device=rows.device).add_(shift)
    return synapse, owner


_FOLD_SOURCE = r"""
#include <stdint.h>
#include <string.h>

/* Each loop comes twice: with a * b + c rounded twice, and with one fused multiply-add,
   whichever torch's own CPU kernels do on this machine (see _torch_fuses). */
#if defined(__x86_64__) || defined(__i386__)
#define FUSED_TARGET __attribute__((target("fma")))
int encephagen_fold_has_fma(void) { __builtin_cpu_init(); return __builtin_cpu_supports("fma"); }
#else
#define FUSED_TARGET
int encephagen_fold_has_fma(void) { return 1; }
#endif
#define PLAIN(a, b, c) ((a) * (b) + (c))
#define FUSED(a, b, c) __builtin_fmaf((a), (b), (c))

/* trace[s] = trace[s] * decay + pre[i] * at_post[post[s]] for every synapse s of every row i. */
#define DECAY_OUTER(NAME, ATTR, MADD)                                                         \
ATTR static void NAME(float *trace, const int64_t *row_ptr, const int32_t *post, int64_t n,  \
                      const float *pre, const float *at_post, float decay)                   \
{                                                                                            \
    for (int64_t i = 0; i < n; i++) {                                                        \
        const float a = pre[i];                                                              \
        const int64_t e1 = row_ptr[i + 1];                                                   \
        for (int64_t s = row_ptr[i]; s < e1; s++) {                                          \
            const float kept = trace[s] * decay;                                             \
            trace[s] = MADD(a, at_post[post[s]], kept);                                      \
        }                                                                                    \
    }                                                                                        \
}
DECAY_OUTER(decay_outer_plain, , PLAIN)
DECAY_OUTER(decay_outer_fused, FUSED_TARGET, FUSED)

void encephagen_decay_outer(float *trace, const int64_t *row_ptr, const int32_t *post, int64_t n,
                            const float *pre, const float *at_post, float decay, int fused)
{
    if (fused) decay_outer_fused(trace, row_ptr, post, n, pre, at_post, decay);
    else decay_outer_plain(trace, row_ptr, post, n, pre, at_post, decay);
}

/* For every z[k * n + i] != 0 (k < steps, in that order): trace[s] += q[k * n + post[s]] * scale
   over the synapses s of row i. */
#define SPIKE_ROWS(NAME, ATTR, MADD)                                                          \
ATTR static void NAME(float *trace, const int64_t *row_ptr, const int32_t *post, int64_t n,  \
                      const uint8_t *z, int64_t steps, const float *q, float scale)          \
{                                                                                            \
    for (int64_t k = 0; k < steps; k++) {                                                    \
        const uint8_t *zk = z + k * n;                                                       \
        const float *qk = q + k * n;                                                         \
        for (int64_t i = 0; i < n; ) {                                                       \
            if (i + 8 <= n) {                                                                \
                uint64_t word;                                                               \
                memcpy(&word, zk + i, 8);                                                    \
                if (word == 0) { i += 8; continue; }                                         \
            }                                                                                \
            if (zk[i]) {                                                                     \
                const int64_t e1 = row_ptr[i + 1];                                           \
                for (int64_t s = row_ptr[i]; s < e1; s++)                                    \
                    trace[s] = MADD(qk[post[s]], scale, trace[s]);                           \
            }                                                                                \
            i++;                                                                             \
        }                                                                                    \
    }                                                                                        \
}
SPIKE_ROWS(spike_rows_plain, , PLAIN)
SPIKE_ROWS(spike_rows_fused, FUSED_TARGET, FUSED)

void encephagen_spike_rows(float *trace, const int64_t *row_ptr, const int32_t *post, int64_t n,
                           const uint8_t *z, int64_t steps, const float *q, float scale, int fused)
{
    if (fused) spike_rows_fused(trace, row_ptr, post, n, z, steps, q, scale);
    else spike_rows_plain(trace, row_ptr, post, n, z, steps, q, scale);
}
"""
_P, _I64, _F32, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
_FOLD_FUNCTIONS = {
    "encephagen_fold_has_fma": (_INT, []),
    "encephagen_decay_outer": (None, [_P, _P, _P, _I64, _P, _P, _F32, _INT]),
    "encephagen_spike_rows": (None, [_P, _P, _P, _I64, _P, _I64, _P, _F32, _INT]),
}


def _torch_fuses() -> tuple[bool | None, bool | None]:
    """Whether torch's CPU ``addcmul_`` and ``index_add_(alpha=...)`` round ``a*b + c`` once (fused).

    ``a = b = 1 + 2^-23``, ``c = -(1 + 2^-22)``: rounded twice, ``a*b + c`` is
    0; fused it is ``2^-46``. Probed over 67 elements (vector body and scalar
    tail); ``None`` when they disagree (then the C loop cannot match).
    """
    a = torch.full((67,), 1.0 + 2.0**-23, dtype=torch.float32)
    c = -(1.0 + 2.0**-22)
    twice, once = 0.0, 2.0**-46

    def verdict(x: torch.Tensor) -> bool | None:
        v = x.double()
        if bool((v == once).all()):
            return True
        return False if bool((v == twice).all()) else None

    dense = verdict(torch.full((67,), c, dtype=torch.float32).addcmul_(a, a))
    spikes = verdict(torch.full((67,), c, dtype=torch.float32).index_add_(0, torch.arange(67), a, alpha=float(a[0])))
    return dense, spikes


_FUSES: tuple[bool | None, bool | None] | None = None


class BlockFold:
    """The two passes that fold a block of buffered steps into a per-synapse trace.

    - :meth:`decay_outer`: ``trace = decay * trace + pre[pre(s)] * at_post[post(s)]``
      over all synapses (the part every synapse gets);
    - :meth:`spike_rows`: for each buffered spike of neuron ``i`` at block step
      ``k``, ``trace[s] += scale * q[k, post(s)]`` over ``i``'s outgoing
      synapses (the part only the neurons that spiked get).

    On the CPU, for float32 traces, both run as one C loop each
    (:func:`encephagen.engine.native.build`) instead of a dozen torch passes;
    without a C compiler (or with ``ENCEPHAGEN_NO_NATIVE`` set) the torch path
    runs. The floats are the same either way: the C loops round every
    product and sum as the torch kernels do and add in the same order (tested).
    """

    def __init__(self, network: Any, chunks: SynapseChunks) -> None:
        global _FUSES
        self.net, self.chunks = network, chunks
        self.row_ptr = network.row_ptr.contiguous()
        self.post = network.post.contiguous()
        cpu = network.device.type == "cpu" and self.row_ptr.dtype == torch.int64 and self.post.dtype == torch.int32
        self.lib = build_native("fold", _FOLD_SOURCE, _FOLD_FUNCTIONS) if cpu else None
        #: Per pass, ``None`` (torch) or whether the C loop fuses its multiply-add.
        self.dense_fused: bool | None = None
        self.spike_fused: bool | None = None
        if self.lib is not None:
            if _FUSES is None:
                _FUSES = _torch_fuses()
            fma = bool(self.lib.encephagen_fold_has_fma())
            self.dense_fused, self.spike_fused = (f if f is not True or fma else None for f in _FUSES)

    def _native(self, *tensors: torch.Tensor) -> bool:
        return all(t.dtype in (torch.float32, torch.bool) and t.device.type == "cpu" and t.is_contiguous() for t in tensors)

    def decay_outer(self, trace: torch.Tensor, decay: float, pre: torch.Tensor, at_post: torch.Tensor) -> None:
        """``trace = decay * trace + pre[pre(s)] * at_post[post(s)]`` in place (``pre``, ``at_post``: ``(N,)``)."""
        if (self.dense_fused is not None and self._native(trace, pre, at_post)
                and trace.dtype == pre.dtype == at_post.dtype == torch.float32):
            self.lib.encephagen_decay_outer(trace.data_ptr(), self.row_ptr.data_ptr(), self.post.data_ptr(),
                                            pre.shape[0], pre.data_ptr(), at_post.data_ptr(), decay,
                                            int(self.dense_fused))
            return
        for ch in self.chunks.chunks:
            tc = trace[ch[2] : ch[3]]
            tc.mul_(decay).addcmul_(self.chunks.pre(pre, ch), at_post.index_select(0, self.chunks.post_of(ch)))

    def spike_rows(self, z: torch.Tensor, targets: Sequence[tuple[torch.Tensor, torch.Tensor]], scale: float = 1.0) -> None:
        """For every spike ``z[k, i]`` (bool ``(steps, N)``) and each ``(trace, q)`` of ``targets``
        (``q``: ``(steps, N)``): ``trace[s] += scale * q[k, post(s)]`` over neuron ``i``'s synapses."""
        steps, n = z.shape
        if (self.spike_fused is not None and z.dtype == torch.bool
                and all(self._native(z, t, q) and t.dtype == q.dtype == torch.float32 for t, q in targets)):
            for t, q in targets:
                self.lib.encephagen_spike_rows(t.data_ptr(), self.row_ptr.data_ptr(), self.post.data_ptr(), n,
                                               z.data_ptr(), steps, q.data_ptr(), scale, int(self.spike_fused))
            return
        when, rows = z.nonzero(as_tuple=True)
        if rows.numel() == 0:
            return
        syn, owner = expand_rows(self.net.row_ptr, rows)
        flat = when.index_select(0, owner).mul_(n).add_(self.net.post.index_select(0, syn))
        for t, q in targets:
            t.index_add_(0, syn, q.reshape(-1).index_select(0, flat), alpha=scale)


# -- the weight update ------------------------------------------------------------------


def weight_range(micro: Any, connectome: Any, plastic: str) -> tuple[float, float] | None:
    """The ``[min, max]`` weight (mV) of the synapses ``plastic`` selects in a brain of ``micro`` on ``connectome``.

    Closed form from the microcircuit (``engine/build.py``): internal excitatory
    synapses weigh ``j_eff``, inhibitory ones ``-j_inh`` (inhibitory neurons
    project within their region only), and a between-region synapse along an
    edge weighs ``j_eff * coupling * w`` for every edge that gets synapses.
    ``None`` when the selection holds no synapse. A cellular brain
    (:class:`~encephagen.engine.cellular.Cellular`) gives its own range.
    """
    if hasattr(micro, "weight_range"):
        return micro.weight_range(connectome, plastic)
    values: list[float] = []
    if micro.p_internal > 0 and plastic in ("all", "excitatory"):
        values.append(micro.j_eff)
        if plastic == "all" and micro.neurons_per_region > micro.n_exc:
            values.append(-micro.j_inh)
    p = micro.edge_probabilities(connectome)
    between = (micro.j_eff * micro.coupling) * np.asarray(connectome.between)[p > 0]
    if between.size:
        values += [float(between.min()), float(between.max())]
    return (min(values), max(values)) if values else None


def check_bounds(rule: Any, micro: Any, connectome: Any) -> None:
    """Refuse, before any simulation, a rule whose ``[w_min, w_max]`` would not hold the weights it makes plastic.

    The same check :class:`WeightWriter` makes on a built network, in closed form
    on the study's connectome (a null model that changes the weights is checked
    again on each brain when the rule binds).

    :raises ConfigError: at ``w_min`` (or ``w_max``), with the weights found and the way out.
    """
    found = weight_range(micro, connectome, rule.plastic)
    if found is None or (rule.w_min <= found[0] and found[1] <= rule.w_max):
        return
    field = "w_min" if found[0] < rule.w_min else "w_max"
    raise ConfigError.at(
        field,
        f"the {rule.plastic!r} plastic synapses of this brain weigh [{found[0]:g}, {found[1]:g}] mV "
        + (f"(j_eff = {micro.j_eff:g} at {micro.neurons_per_region} neurons per region)" if hasattr(micro, "p_internal")
           else f"({micro.mv_per_synapse:g} mV per synapse unit)")
        + ", outside [w_min, w_max] = "
        f"[{rule.w_min:g}, {rule.w_max:g}]; widen the bounds or restrict 'plastic'",
    )


class WeightWriter:
    """Writes ``W += lr * factor * trace`` on the plastic synapses, clamped to ``[w_min, w_max]``.

    ``factor`` is a number or a per-postsynaptic-neuron vector ``(N,)``.
    Synapses outside the ``plastic`` selection are never touched (not even
    clamped). The reward baseline lives here too.

    :param network: the :class:`~encephagen.engine.network.Network`.
    :param plastic: ``"all"``, ``"excitatory"`` (excitatory presynaptic
        neuron) or ``"between"`` (pre and post in different regions).
    :param reward_map: region group name -> reward scale for synapses onto
        that group's neurons; other neurons get ``reward_default``.
    """

    def __init__(
        self,
        network: Any,
        *,
        lr: float,
        w_min: float,
        w_max: float,
        plastic: str,
        reward_decay: float = 0.99,
        baseline_order: str = "published",
        reward_map: Mapping[str, float] | None = None,
        reward_default: float = 1.0,
    ) -> None:
        self.net = network
        self.lr = lr
        self.w_min, self.w_max = inward(w_min, w_max, network.weight.dtype)
        self.plastic = plastic
        self.decay, self.order = reward_decay, baseline_order
        self.chunks = SynapseChunks(network.row_ptr, network.post)
        dev = network.device
        if plastic == "excitatory":
            self._pre_flag = network.excitatory.to(dev, torch.bool)
        elif plastic == "between":
            # Global region index = neuron // npr (brains are laid out region by region).
            self._region = torch.arange(network.n_neurons, device=dev) // network.neurons_per_region
        self.region_scale = self._scale_vector(reward_map or {}, reward_default)
        #: Reward baseline per brain (float64, host).
        self.baseline = torch.zeros(network.n_brains, dtype=torch.float64)
        self._check_bounds()

    @classmethod
    def for_rule(cls, network: Any, rule: Any) -> "WeightWriter":
        """A writer with the parameters every reward-modulated rule carries
        (``lr``, bounds, ``plastic``, reward baseline and dopamine map)."""
        return cls(
            network,
            lr=rule.lr,
            w_min=rule.w_min,
            w_max=rule.w_max,
            plastic=rule.plastic,
            reward_decay=rule.reward_decay,
            baseline_order=rule.baseline_order,
            reward_map=rule.reward_map,
            reward_default=rule.reward_default,
        )

    # -- selection and scale
    def mask(self, chunk: tuple[int, int, int, int]) -> torch.Tensor | None:
        """bool ``(s1 - s0,)`` plastic synapses of a chunk, or ``None`` when all are plastic."""
        if self.plastic == "all":
            return None
        if self.plastic == "excitatory":
            return self.chunks.pre(self._pre_flag, chunk)
        post = self.chunks.post_of(chunk)
        return self.chunks.pre(self._region, chunk) != self._region.index_select(0, post)

    def _scale_vector(self, reward_map: Mapping[str, float], default: float) -> torch.Tensor | None:
        if not reward_map and default == 1.0:
            return None
        net = self.net
        scale = torch.full((net.n_neurons,), float(default), dtype=torch.float64, device=net.device)
        owner: dict[int, str] = {}
        for name, value in reward_map.items():
            if name not in net.groups:
                raise ConfigError.at(
                    f"reward_map.{name}",
                    f"unknown region group {name!r}; groups of this connectome: {', '.join(sorted(net.groups)) or 'none'}",
                )
            for r in net.groups[name]:
                if r in owner and owner[r] != name:
                    raise ConfigError.at(
                        "reward_map",
                        f"region {r} is in both groups {owner[r]!r} and {name!r}; give each region one reward scale",
                    )
                owner[r] = name
            scale[net.group_mask(name)] = float(value)
        return scale

    def _check_bounds(self) -> None:
        w = self.net.weight
        bad = 0
        lo, hi = math.inf, -math.inf
        for ch in self.chunks.chunks:
            wc = w[ch[2] : ch[3]]
            m = self.mask(ch)
            if m is not None:
                wc = wc[m]
            if wc.numel():
                lo, hi = min(lo, float(wc.min())), max(hi, float(wc.max()))
                bad += int(((wc < self.w_min) | (wc > self.w_max)).sum())
        if bad:
            raise ConfigError.at(
                "w_min",
                f"{bad} plastic synapses have weights outside [w_min, w_max] = [{self.w_min}, {self.w_max}] "
                f"(found [{lo:g}, {hi:g}] mV); widen the bounds or restrict 'plastic' so that the first "
                "update does not silently clamp them",
            )

    # -- reward
    def prediction_error(self, r: float | Sequence[float] | torch.Tensor) -> torch.Tensor:
        """``delta`` per brain (float64 ``(B,)``) for reward ``r``; updates the baseline.

        ``published``: ``baseline = d*baseline + (1-d)*r`` first, then
        ``delta = r - baseline``; ``textbook``: ``delta = r - baseline`` with
        the old baseline, then the update.
        """
        rr = torch.as_tensor(r, dtype=torch.float64).cpu().flatten()
        if rr.numel() == 1:
            rr = rr.expand(self.net.n_brains)
        if rr.numel() != self.net.n_brains or not bool(torch.isfinite(rr).all()):
            raise ValueError(
                f"reward must be one finite number or one per brain ({self.net.n_brains}), got {r!r}"
            )
        old = self.baseline
        new = self.decay * old + (1.0 - self.decay) * rr
        delta = rr - (new if self.order == "published" else old)
        self.baseline = new
        return delta

    def reward_factor(self, delta: torch.Tensor) -> float | torch.Tensor:
        """``delta`` (per brain) times the region scale, as a number or per-neuron vector."""
        uniform = bool((delta == delta[0]).all())
        if uniform and self.region_scale is None:
            return float(delta[0])
        per_neuron = delta.to(self.net.device)[self.net.brain_of()]
        if self.region_scale is not None:
            per_neuron = per_neuron * self.region_scale
        return per_neuron

    # -- the write
    def write(self, trace: torch.Tensor, factor: float | torch.Tensor) -> None:
        """``W = clamp(W + lr * factor[post] * trace, w_min, w_max)`` on plastic synapses, in place."""
        w = self.net.weight
        if isinstance(factor, torch.Tensor):
            f = (factor * self.lr).to(w.dtype)
        elif factor * self.lr == 0.0:
            return
        for ch in self.chunks.chunks:
            tc = trace[ch[2] : ch[3]].to(w.dtype)
            if isinstance(factor, torch.Tensor):
                self.write_chunk(ch, tc * f.index_select(0, self.chunks.post_of(ch)))
            else:
                self.write_chunk(ch, tc * (factor * self.lr))

    def write_chunk(self, chunk: tuple[int, int, int, int], update: torch.Tensor) -> None:
        """``W[s0:s1] = clamp(W + update, w_min, w_max)`` on the chunk's plastic synapses (``update`` is reused)."""
        wc = self.net.weight[chunk[2] : chunk[3]]
        new = update.add_(wc).clamp_(self.w_min, self.w_max)
        m = self.mask(chunk)
        wc.copy_(new if m is None else torch.where(m, new, wc))


def reward_snapshot_or_live(learner: Any, r: float | torch.Tensor, live: torch.Tensor) -> None:
    """Apply reward ``r`` to the learner's snapshot, or to its ``live`` trace when it keeps none.

    Shared by the reward-modulated rules: ``learner`` has ``snap`` (a tensor,
    or ``None`` for the continuous variant), ``_has_snapshot``, ``flush()``
    and ``writer`` (a :class:`WeightWriter`). ``W += lr * delta * scale[post] * trace``.
    """
    if learner.snap is not None:
        if not learner._has_snapshot:
            raise RuntimeError(
                "reward() before any snapshot(): call snapshot() at the end of the stimulus, "
                "or use variant 'continuous' to reward the live eligibility"
            )
        trace = learner.snap
    else:
        learner.flush()
        trace = live
    delta = learner.writer.prediction_error(r)
    learner.writer.write(trace, learner.writer.reward_factor(delta))
