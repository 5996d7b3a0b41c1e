"""The step loop: a :class:`Brain` holds a network and its neuron state and runs it.

One step (see ``docs/engine.md``): the neuron model's ``advance`` (steps
1-7, with a fresh Poisson background count per neuron), the learner's
``on_step(v_before_reset, spikes)`` (step 6), event-driven propagation of
the spikes through their CSR rows into a ring buffer of future synaptic
input (step 8; slot ``(t + delay) mod D``), and the model's ``receive``
(steps 9-10). ``receive`` of step ``t`` and ``advance`` of step ``t + 1``
run as one fused kernel.

Randomness: brain ``b`` draws its initial potentials and its background
noise from its own generator ``rngs[b]``, so a batch of ``B`` brains gives
bit-for-bit the spikes of ``B`` single-brain runs with the same generators
(on the CPU). The background count of a neuron is the inverse CDF of
Poisson(``bg``) at a 24-bit uniform integer (:func:`~encephagen.engine.dynamics.poisson_thresholds`).
On the CPU the integers are bits of the raw output of the numpy bit
generator (see :class:`_Noise`); on CUDA they come from a ``torch.Generator``
seeded from it.

Nothing inside the step loop waits for the device: counts accumulate on
the device, and health (finite state, no spike-list overflow, finite
external input) is checked once at the end of every :meth:`Brain.run`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
import torch

from encephagen.engine.dynamics import Dynamics, poisson_thresholds
from encephagen.engine.kernels import Fused, fuse
from encephagen.engine.memory import available_bytes, format_bytes
from encephagen.engine.native import library as native_library
from encephagen.engine.network import DELAY_DTYPES, Network
from encephagen.errors import ConfigError, DataError, EncephagenError

#: Per-neuron int32 spike counts are flushed to int64 at least this often.
_FLUSH_STEPS = 1 << 30
#: Noise is drawn in chunks of about this many bytes.
_NOISE_CHUNK_BYTES = 1 << 22
#: Uncompiled updates of at most this many neurons draw the background count with ``bucketize``.
_BUCKETIZE_MAX = 1024
#: ``compile="auto"`` compiles the neuron update for networks of at least this many neurons.
AUTO_COMPILE_NEURONS = 4096


class SimulationError(EncephagenError):
    """A run produced an unusable state (non-finite or exploding values, spike-list overflow)."""


External = torch.Tensor | float | Callable[[int], "torch.Tensor | None"] | None


def _indices(x: Any) -> tuple[int, ...] | None:
    return None if x is None else tuple(int(i) for i in x)


@attrs.frozen
class Record:
    """What :meth:`Brain.run` records (all accumulated on the device).

    :ivar window: steps per window of the per-region spike counts; ``None``
        makes the whole run one window.
    :ivar neurons: also count spikes per neuron over the whole run.
    :ivar raster: global indices of neurons whose every spike is kept
        (``(steps, k)`` bool), or ``None``.
    """

    window: int | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.gt(0)))
    neurons: bool = False
    raster: Sequence[int] | None = attrs.field(default=None, converter=_indices)


@attrs.frozen(eq=False)
class Health:
    """State checks after a run.

    :ivar finite: every state value and every external input was finite.
    :ivar max_abs_v: largest ``|v|`` (mV).
    :ivar max_abs_current: largest ``|i_syn| + |i_nmda|`` (mV).
    :ivar peak_spikes: most spikes in one step (CUDA only; -1 on the CPU).
    :ivar problems: human-readable problems; empty when healthy.
    """

    finite: bool
    max_abs_v: float
    max_abs_current: float
    peak_spikes: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No problems."""
        return not self.problems


@attrs.frozen(eq=False)
class Recording:
    """Spike counts of one :meth:`Brain.run`.

    :ivar steps: steps run.
    :ivar window: steps per window.
    :ivar window_steps: int64 ``(W,)`` steps in each window (the last may be short), on the CPU.
    :ivar region_counts: int64 ``(W, B, R)`` spikes per window, brain and region.
    :ivar neuron_counts: int64 ``(B, n)`` spikes per neuron over the run, or ``None``.
    :ivar raster: bool ``(steps, k)``, or ``None``.
    :ivar raster_index: int64 ``(k,)`` the recorded neurons (global indices), or ``None``.
    :ivar neurons_per_region: ``npr``.
    :ivar dt: step in ms.
    :ivar health: the checks after the run.
    """

    steps: int
    window: int
    window_steps: torch.Tensor
    region_counts: torch.Tensor
    neuron_counts: torch.Tensor | None
    raster: torch.Tensor | None
    raster_index: torch.Tensor | None
    neurons_per_region: int
    dt: float
    health: Health

    def region_rates(self) -> torch.Tensor:
        """float64 ``(W, B, R)``: spikes per neuron per step in each window."""
        steps = self.window_steps.to(self.region_counts.device, torch.float64).view(-1, 1, 1)
        return self.region_counts.to(torch.float64) / (steps * self.neurons_per_region)

    def region_rates_hz(self) -> torch.Tensor:
        """float64 ``(W, B, R)``: firing rate in Hz."""
        return self.region_rates() * (1000.0 / self.dt)

    def group_rates(self, regions: Sequence[int]) -> torch.Tensor:
        """float64 ``(W, B)``: spikes per neuron per step over the given regions."""
        idx = torch.as_tensor(list(regions), device=self.region_counts.device)
        counts = self.region_counts.index_select(2, idx).sum(2).to(torch.float64)
        steps = self.window_steps.to(counts.device, torch.float64).view(-1, 1)
        return counts / (steps * len(idx) * self.neurons_per_region)

    def total_rate_hz(self) -> torch.Tensor:
        """float64 ``(B,)``: mean firing rate of each brain over the whole run (Hz)."""
        counts = self.region_counts.sum((0, 2)).to(torch.float64)
        n = self.region_counts.shape[2] * self.neurons_per_region
        return counts / (n * self.steps) * (1000.0 / self.dt)


# -- noise ------------------------------------------------------------------------------


class _Noise:
    """Per-brain streams of 24-bit uniform integers as float32, drawn in chunks of ``(steps, N)``.

    On the CPU, brain ``b``'s step ``t`` uses raw 64-bit draws ``t * h ..
    (t+1) * h - 1`` of its bit generator (``h = ceil(n/2)``): each draw is
    split into two 32-bit halves, one per neuron, of which the low 24 bits
    are kept. The mapping does not depend on how steps are split into runs.
    On CUDA each brain has a ``torch.Generator`` seeded from its numpy generator.
    """

    def __init__(self, rngs: Sequence[np.random.Generator], n: int, device: torch.device) -> None:
        self.n, self.b, self.device = n, len(rngs), device
        self.half = (n + 1) // 2  # raw 64-bit draws per brain per step
        self.chunk_steps = max(1, _NOISE_CHUNK_BYTES // (4 * n * len(rngs)))
        self.bits = [r.bit_generator for r in rngs] if device.type == "cpu" else []
        self.gens: list[torch.Generator] = []
        if device.type != "cpu":
            for r in rngs:
                g = torch.Generator(device=device)
                g.manual_seed(int(r.integers(0, 2**63 - 1)))
                self.gens.append(g)
        self.buf: torch.Tensor | None = None
        self.pos = 0

    def _draw(self) -> np.ndarray:
        s, n = self.chunk_steps, self.n
        out = np.empty((s, self.b * n), np.float32)
        for b, bg in enumerate(self.bits):
            raw = bg.random_raw(s * self.half).view(np.int32).reshape(s, 2 * self.half)[:, :n]
            np.bitwise_and(raw, 0xFFFFFF, out=raw)
            out[:, b * n : (b + 1) * n] = raw
        return out

    def _fill(self) -> None:
        if self.bits:
            self.buf = torch.from_numpy(self._draw())
        else:
            buf = torch.empty((self.chunk_steps, self.b * self.n), dtype=torch.float32, device=self.device)
            for b, g in enumerate(self.gens):
                buf[:, b * self.n : (b + 1) * self.n].random_(0, 1 << 24, generator=g)
            self.buf = buf
        self.pos = 0

    def next(self) -> torch.Tensor:
        """The ``(N,)`` uniform integers (as float32) of the next step."""
        if self.buf is None or self.pos == self.buf.shape[0]:
            self._fill()
        assert self.buf is not None
        row = self.buf[self.pos]
        self.pos += 1
        return row


def _poisson_count(u: torch.Tensor, thresholds: Sequence[float], table: torch.Tensor | None = None) -> torch.Tensor:
    """Background spike count per neuron: ``sum_k [u >= T_k]``, ``u`` a uniform integer in ``[0, 2^24)`` (float32).

    With ``table`` (the thresholds as a float32 tensor) one ``bucketize``
    gives the same count, which is faster when not compiled.
    """
    if table is not None:
        return torch.bucketize(u, table, right=True).to(torch.float32)
    count = (u >= thresholds[0]).to(torch.float32)
    for t in thresholds[1:]:
        count = count + (u >= t).to(torch.float32)
    return count


def _make_step(dyn: Dynamics, thresholds: Sequence[float], receive: bool, advance: bool, learn: bool,
               eager: bool = False, device: torch.device | str = "cpu", n_neurons: int = 0) -> Callable[..., None]:
    """The fused update. Arguments, all ``(N,)``:

    ``rnd, ext, syn, zu8_out, v_out, z_out, *state, *const``; the state and
    the outputs are written in place (``v_out`` and ``z_out`` only when
    ``learn``: the potential before reset and the spikes as float32), and a
    consumed ``syn`` (a ring-buffer slot) is zeroed for reuse. ``eager``
    picks the formulation with fewer operations for uncompiled execution.
    """
    names = tuple(dyn.state_names)
    # bucketize saves operations on tiny networks; on large ones it is slower than the comparisons.
    table = None
    if eager and thresholds and n_neurons <= _BUCKETIZE_MAX:
        table = torch.tensor(thresholds, dtype=torch.float32, device=device)
    cnames = tuple(dyn.const)
    ns = len(names)
    weight = float(dyn.bg_weight)

    def step(rnd: torch.Tensor, ext: torch.Tensor, syn: torch.Tensor, zu8_out: torch.Tensor,
             v_out: torch.Tensor, z_out: torch.Tensor, *rest: torch.Tensor) -> None:
        state = dict(zip(names, rest[:ns]))
        const = dict(zip(cnames, rest[ns:]))
        s = state
        if receive:
            s = dyn.receive(state, const, syn)
            if eager:
                syn.zero_()
            else:
                syn.copy_(torch.zeros_like(syn))
        if advance:
            bg = _poisson_count(rnd, thresholds, table) * weight if thresholds else torch.zeros_like(ext)
            v_pre, z, s = dyn.advance(s, const, bg, ext)
            zu8_out.copy_(z.to(torch.uint8))
            if learn:
                v_out.copy_(v_pre)
                z_out.copy_(z)
        for name in names:
            if s[name] is not state[name]:
                state[name].copy_(s[name])

    return step


# -- propagation ------------------------------------------------------------------------


class _CpuPropagation:
    """Event-driven: the CSR rows of the spiking neurons, found with numpy, summed with ``index_add_``."""

    def __init__(self, net: Network, slots: int, counts: torch.Tensor) -> None:
        self.net = net
        self.row_ptr = net.row_ptr.numpy()
        self.degree = np.diff(self.row_ptr)
        self.post = net.post.numpy()
        self.delay = None if net.delay is None else net.delay.numpy()
        self.width = net.n_neurons + 1
        self.slots = slots
        self.counts = counts.numpy()
        self.log: list[np.ndarray] = []
        self.arange = np.arange(int(self.degree.max(initial=0)) * 128 + 1, dtype=np.int64)
        self._w: torch.Tensor | None = None
        self._w_np: np.ndarray | None = None

    def sync_counts(self) -> None:
        """Add the logged spikes to the per-neuron counts."""
        if self.log:
            spk = np.concatenate(self.log)
            self.log.clear()
            self.counts[: self.width - 1] += np.bincount(spk, minlength=self.width - 1).astype(self.counts.dtype)

    def _weights(self) -> np.ndarray:
        w = self.net.weight
        if w is not self._w:
            self._w, self._w_np = w, w.detach().numpy()
        assert self._w_np is not None
        return self._w_np

    def __call__(self, spikes: np.ndarray, ring_flat: torch.Tensor, t: int) -> None:
        """Count the spikes (bool ``(N,)``) and add their outgoing weights into the ring at step ``t``."""
        spk = np.flatnonzero(spikes)
        if spk.size == 0:
            return
        self.log.append(spk)
        if len(self.log) >= 4096:
            self.sync_counts()
        start = self.row_ptr[spk]
        count = self.degree[spk]
        total = int(count.sum())
        if total == 0:
            return
        # Synapse ids start[k] .. start[k] + count[k] - 1 of every spike k, in CSR order.
        ends = np.cumsum(count)
        ar = self.arange if total <= self.arange.size else np.arange(total, dtype=np.int64)
        idx = np.repeat(start - ends + count, count) + ar[:total]
        target = self.post[idx].astype(np.int64)
        if self.delay is not None:
            target += ((t + self.delay[idx].astype(np.int64)) % self.slots) * self.width
        elif self.slots > 1:
            target = target + (t % self.slots) * self.width
        ring_flat.index_add_(0, torch.from_numpy(target), torch.from_numpy(self._weights()[idx]))


class _NativePropagation:
    """The same walk as :class:`_CpuPropagation` in one C loop (:mod:`encephagen.engine.native`)."""

    def __init__(
        self, net: Network, slots: int, counts: torch.Tensor, zu8: torch.Tensor, ring: torch.Tensor, lib: Any
    ) -> None:
        self.net, self.slots, self.width = net, slots, net.n_neurons + 1
        self.fn = lib.encephagen_propagate
        self._keep = (net.row_ptr.contiguous(), net.post.contiguous(), None if net.delay is None else net.delay.contiguous())
        self.head = (zu8.data_ptr(), net.n_neurons, self._keep[0].data_ptr(), self._keep[1].data_ptr())
        self.delay_ptr = None if self._keep[2] is None else self._keep[2].data_ptr()
        self.delay_bytes = 0 if self._keep[2] is None else self._keep[2].element_size()
        self.ring_ptr, self.counts_ptr = ring.data_ptr(), counts.data_ptr()
        self._w: torch.Tensor | None = None
        self._w_ptr = 0

    def sync_counts(self) -> None:
        """Counts are written as the spikes come; nothing to do."""

    def __call__(self, spikes: np.ndarray, ring_flat: torch.Tensor, t: int) -> None:
        """Count the spikes and add their outgoing weights into the ring at step ``t``."""
        w = self.net.weight
        if w is not self._w:
            usable = w.dtype == torch.float32 and w.is_contiguous() and w.device.type == "cpu"
            if not usable or w.numel() != self.net.n_synapses:
                raise ConfigError.at("network.weight", "must stay a contiguous float32 CPU tensor of one weight per synapse")
            self._w, self._w_ptr = w, w.data_ptr()
        self.fn(*self.head, self._w_ptr, self.delay_ptr, self.delay_bytes, self.ring_ptr, self.width, self.slots, t,
                self.counts_ptr)


class _StaticPropagation:
    """Fixed shapes, no host sync: up to ``capacity`` spikes per step through a padded row table.

    Row ``i`` of the table lists neuron ``i``'s synapses (padded with synapse
    0 aimed at the dummy target ``N``); row ``N`` is all padding, and
    ``nonzero_static`` fills unused spike slots with ``N``.
    """

    def __init__(self, net: Network, slots: int, capacity: int, counts: torch.Tensor) -> None:
        n, dev = net.n_neurons, net.device
        self.net, self.slots, self.width, self.capacity, self.counts = net, slots, n + 1, capacity, counts
        row_ptr = net.row_ptr.to("cpu").numpy()
        deg = np.diff(row_ptr)
        d = max(1, int(deg.max(initial=0)))
        rows = np.repeat(np.arange(n, dtype=np.int64), deg)
        col = np.arange(rows.size, dtype=np.int64) - row_ptr[rows]
        ids = np.zeros((n + 1, d), np.int64)
        ids[rows, col] = np.arange(rows.size)
        post = net.post.to("cpu").numpy().astype(np.int64)
        delay = np.zeros(rows.size, np.int64) if net.delay is None else net.delay.to("cpu").numpy().astype(np.int64)
        tgt = np.full((n + 1, d), n, np.int64)
        tgt[rows, col] = delay * self.width + post
        big = slots * self.width >= 2**31
        self.ids = torch.from_numpy(ids.astype(np.int32)).to(dev)
        self.tgt = torch.from_numpy(tgt if big else tgt.astype(np.int32)).to(dev)
        self.ones = torch.ones(capacity, dtype=counts.dtype, device=dev)
        net._cache["propagation"] = (self.ids, self.tgt)

    def sync_counts(self) -> None:
        """Counts are added on the device as the spikes come; nothing to do."""

    def __call__(self, zu8: torch.Tensor, ring_flat: torch.Tensor, t: int) -> None:
        """Count the spikes (uint8 ``(N,)``) and add their outgoing weights into the ring at step ``t``."""
        spk = torch.nonzero_static(zu8, size=self.capacity, fill_value=self.width - 1).view(-1)
        self.counts.index_add_(0, spk, self.ones)
        w = self.net.weight.index_select(0, self.ids.index_select(0, spk).view(-1))
        tgt = self.tgt.index_select(0, spk).view(-1).to(torch.int64)
        if self.slots > 1:
            tgt = torch.remainder(tgt + (t % self.slots) * self.width, self.slots * self.width)
        ring_flat.index_add_(0, tgt, w)


# -- the brain ---------------------------------------------------------------------------


def _check_structure(net: Network) -> None:
    """The synapse layout the propagation relies on (indices in range, CSR consistent)."""
    n, e = net.n_neurons, net.n_synapses
    rp = net.row_ptr
    if rp.dtype != torch.int64 or rp.shape != (n + 1,) or int(rp[0]) != 0 or bool((rp[1:] < rp[:-1]).any()):
        raise DataError.at("network.row_ptr", f"must be int64, non-decreasing from 0, with {n + 1} entries")
    post = net.post
    if post.dtype != torch.int32 or post.shape != (e,) or (e and (int(post.min()) < 0 or int(post.max()) >= n)):
        raise DataError.at("network.post", f"must be int32 holding {e} neuron indices in 0..{n - 1}")
    if int(rp[-1]) != e:
        raise DataError.at("network.row_ptr", f"must end at the number of synapses ({e}), got {int(rp[-1])}")
    if net.weight.shape != (e,) or net.weight.dtype != torch.float32:
        raise DataError.at("network.weight", f"must be float32 of shape ({e},)")
    delay = net.delay
    if delay is not None and (delay.dtype not in DELAY_DTYPES or delay.shape != (e,) or (e and int(delay.min()) < 0)):
        raise DataError.at("network.delay", f"must hold {e} non-negative step counts as uint8, int16 or int32")


def _generators(rngs: np.random.Generator | Sequence[np.random.Generator], b: int) -> list[np.random.Generator]:
    if isinstance(rngs, np.random.Generator):
        rngs = [rngs]
    rngs = list(rngs)
    if len(rngs) != b or not all(isinstance(r, np.random.Generator) for r in rngs):
        raise ConfigError.at("rngs", f"needs one numpy Generator per brain ({b}), got {len(rngs)} items")
    return rngs


class Brain:
    """A network with neuron state, run step by step.

    :param network: the (batched) network; its ``neuron`` field is the model.
    :param rngs: one seeded ``numpy.random.Generator`` per brain: initial
        potentials, then background noise. The brain owns them from here on.
    :param compile: ``"auto"`` (compile the neuron update for networks of at
        least :data:`AUTO_COMPILE_NEURONS` neurons, fall back to eager on
        failure), ``True`` (always, fail loudly) or ``False``.
    :param spike_capacity: spikes per step the fixed-shape propagation
        handles (used on CUDA; default ``max(4096, N // 8)``, at most ``N``).
        A step with more spikes makes the run fail with :class:`SimulationError`;
        ``N`` is always exact.
    :param static: force the fixed-shape propagation (default: on CUDA only).
    :param native: on the CPU, propagate with the compiled C loop of
        :mod:`encephagen.engine.native` (default: when a C compiler is
        available) instead of numpy; the results are identical.
    :param explosion_mV: a run whose ``|v|`` or synaptic currents exceed this is unhealthy.

    :ivar state: neuron state, name -> float32 ``(N,)`` (``v`` in mV first).
    :ivar t: steps simulated so far.
    """

    def __init__(
        self,
        network: Network,
        rngs: np.random.Generator | Sequence[np.random.Generator],
        *,
        compile: bool | str = "auto",
        spike_capacity: int | None = None,
        static: bool | None = None,
        native: bool | None = None,
        explosion_mV: float = 1e6,
    ) -> None:
        if network.neuron is None or not hasattr(network.neuron, "dynamics"):
            raise ConfigError.at("brain.neuron", f"{type(network.neuron).__name__} has no dynamics(network) method")
        if compile not in (True, False, "auto"):
            raise ConfigError.at("compile", f"must be true, false or 'auto', got {compile!r}")
        _check_structure(network)
        self.network = network
        self.device = network.device
        rngs = _generators(rngs, network.n_brains)
        self.dyn: Dynamics = network.neuron.dynamics(network)
        n = network.neurons_per_brain
        N = self.n_neurons = network.n_neurons
        u = np.concatenate([r.random(n) for r in rngs])
        self.state = {k: v.to(self.device) for k, v in self.dyn.init_state(torch.from_numpy(u)).items()}
        self.const = dict(self.dyn.const)
        self.thresholds = poisson_thresholds(self.dyn.bg_rate)
        self.noise = _Noise(rngs, n, self.device) if self.thresholds else None
        self.slots = network.max_delay + 1
        need = 4 * (self.slots * (N + 1) + (len(self.dyn.state_names) + 8) * N)
        have = available_bytes(self.device)
        if have is not None and need > have:
            raise ConfigError.at(
                "brain", f"the simulation state needs {format_bytes(need)} of {self.device.type} memory "
                f"({self.slots} delay slots x {N} neurons) but only {format_bytes(have)} is available; "
                "lower neurons_per_region or batch, or raise the conduction velocity",
            )
        self.ring = torch.zeros(self.slots, N + 1, dtype=torch.float32, device=self.device)
        self.ring_flat = self.ring.view(-1)
        self._syn_views = [self.ring[k][:N] for k in range(self.slots)]
        self.t = 0
        f32 = dict(dtype=torch.float32, device=self.device)
        self.v_out = torch.zeros(N, **f32)
        self.z_out = torch.zeros(N, **f32)
        self.zu8 = torch.zeros(N, dtype=torch.uint8, device=self.device)
        self.counts = torch.zeros(N + 1, dtype=torch.int32, device=self.device)  # [N] is a dummy slot
        self.zeros = torch.zeros(N, **f32)
        self.idle_rnd = torch.zeros(N, **f32)
        self.explosion_mV = float(explosion_mV)
        use_static = self.device.type != "cpu" if static is None else bool(static)
        if use_static:
            cap = spike_capacity if spike_capacity is not None else min(N, max(4096, N // 8))
            if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or not 1 <= cap <= N:
                raise ConfigError.at("spike_capacity", f"must be an integer between 1 and {N}, got {cap!r}")
            self._prop: Any = _StaticPropagation(network, self.slots, int(cap), self.counts)
            self._zb_np = None
        else:
            lib = native_library() if native is not False else None
            if native and lib is None:
                raise ConfigError.at("native", "no C compiler is available to build the propagation loop")
            if lib is not None:
                self._prop = _NativePropagation(network, self.slots, self.counts, self.zu8, self.ring, lib)
            else:
                self._prop = _CpuPropagation(network, self.slots, self.counts)
            self._zb_np = self.zu8.numpy().view(np.bool_)
        self.static = use_static
        self._peak = torch.zeros((), dtype=torch.int64, device=self.device)
        self._compile = compile
        self._kernels: dict[str, Fused] = {}
        self._broken = ""

    # -- kernels ----------------------------------------------------------------------
    def _args(self, rnd: torch.Tensor, ext: torch.Tensor, syn: torch.Tensor) -> list[torch.Tensor]:
        return [rnd, ext, syn, self.zu8, self.v_out, self.z_out,
                *(self.state[k] for k in self.dyn.state_names), *self.const.values()]

    def kernel(self, name: str) -> Fused:
        """One form of the fused update, compiled on first use.

        ``first`` (steps 1-7), ``step`` (steps 9-10 of the previous step,
        then 1-7) and ``last`` (steps 9-10); with the suffix ``+learn`` the
        form also writes ``v`` before reset and the float spikes for a learner.
        """
        if name not in self._kernels:
            base, _, learn = name.partition("+")
            rec, adv = {"first": (False, True), "step": (True, True), "last": (True, False)}[base]
            mode = self._compile
            if mode == "auto" and self.n_neurons < AUTO_COMPILE_NEURONS:
                mode = False
            args = self._args(self.idle_rnd, self.zeros, self.zeros)
            eager = _make_step(self.dyn, self.thresholds, rec, adv, bool(learn), eager=True,
                               device=self.device, n_neurons=self.n_neurons)
            if mode is False:
                self._kernels[name] = Fused(eager, compiled=False, reason="compilation switched off")
            else:
                fn = _make_step(self.dyn, self.thresholds, rec, adv, bool(learn), device=self.device)
                key = ("encephagen-step", name, self.dyn.key, self.thresholds, float(self.dyn.bg_weight), tuple(self.const))
                self._kernels[name] = fuse(fn, args, key, mode, fallback=eager)
        return self._kernels[name]

    @property
    def compiled(self) -> bool:
        """Whether every form of the update used so far runs compiled."""
        return bool(self._kernels) and all(k.compiled for k in self._kernels.values())

    @property
    def compile_seconds(self) -> float:
        """Time spent compiling the forms used so far (s)."""
        return sum(k.seconds for k in self._kernels.values())

    # -- external input ---------------------------------------------------------------
    def _as_input(self, x: Any, where: str) -> torch.Tensor:
        N, n = self.n_neurons, self.network.neurons_per_brain
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            if not math.isfinite(x):
                raise DataError.at(where, f"must be finite, got {x}")
            return torch.full((N,), float(x), dtype=torch.float32, device=self.device)
        if not isinstance(x, torch.Tensor):
            raise DataError.at(
                where, f"must be a tensor of shape ({N},) in mV per step, a number, or a callable; got {type(x).__name__}"
            )
        if x.shape == (n,) and N != n:
            x = x.repeat(self.network.n_brains)
        if x.shape != (N,):
            raise DataError.at(where, f"must have shape ({N},) (or ({n},) for every brain), got {tuple(x.shape)}")
        x = x.to(device=self.device, dtype=torch.float32).contiguous()
        if any(x.untyped_storage().data_ptr() == t.untyped_storage().data_ptr() for t in self.state.values()):
            x = x.clone()  # never alias the state the kernel writes
        return x

    # -- running -----------------------------------------------------------------------
    def run(
        self,
        steps: int,
        external: External = None,
        learner: Any = None,
        record: Record | None = None,
        *,
        check: bool = True,
    ) -> Recording:
        """Advance ``steps`` steps.

        :param steps: number of steps (``dt`` each), ``>= 0``.
        :param external: input in mV per step added to ``i_syn`` (step 2):
            ``None``, a number, a tensor ``(N,)`` (or ``(n,)``, the same for
            every brain), or a callable ``f(i) -> tensor | None`` for step
            ``i`` of this run (keep its tensors precomputed; it runs on the host
            every step).
        :param learner: an object with ``on_step(v, z)``, called at step 6 with
            the potential before reset (mV) and the spikes (float32 0/1), both
            ``(N,)`` buffers that are overwritten at the next step.
        :param record: what to count (default: per-region counts over the whole run).
        :param check: raise :class:`SimulationError` if the run left an unhealthy state.
        :returns: the counts, with :class:`Health`.
        """
        if self._broken:
            raise SimulationError.at(
                "simulation", f"a previous run of this brain was interrupted ({self._broken}); its state is "
                "mid-step, so build a new Brain",
            )
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ConfigError.at("steps", f"must be a non-negative integer, got {steps!r}")
        if learner is not None and not callable(getattr(learner, "on_step", None)):
            raise ConfigError.at("learner", f"{type(learner).__name__} has no on_step(v, z) method")
        steps = int(steps)
        record = record or Record()
        fixed: torch.Tensor | None = None
        schedule: Callable[[int], Any] | None = None
        if external is None:
            fixed = self.zeros
        elif callable(external) and not isinstance(external, torch.Tensor):
            schedule = external
        else:
            fixed = self._as_input(external, "external")
            if not bool(torch.isfinite(fixed).all()):
                raise DataError.at("external", "contains NaN or infinite values")
        window = record.window or max(steps, 1)
        n_windows = max(1, -(-steps // window))
        B, R, npr = self.network.n_brains, self.network.regions_per_brain, self.network.neurons_per_region
        region_counts = torch.zeros(n_windows, B, R, dtype=torch.int64, device=self.device)
        neuron_counts = torch.zeros(self.n_neurons, dtype=torch.int64, device=self.device) if record.neurons else None
        raster_index = raster = None
        if record.raster is not None:
            raster_index = torch.as_tensor(record.raster, dtype=torch.int64, device=self.device)
            if raster_index.numel() and (int(raster_index.min()) < 0 or int(raster_index.max()) >= self.n_neurons):
                raise ConfigError.at("record.raster", f"neuron indices must lie in 0..{self.n_neurons - 1}")
            raster = torch.zeros(steps, raster_index.numel(), dtype=torch.uint8, device=self.device)
        ext_sum = torch.zeros((), dtype=torch.float32, device=self.device) if schedule is not None else None
        window_steps = torch.tensor([min(window, steps - w * window) for w in range(n_windows)], dtype=torch.int64)
        counts = self.counts[: self.n_neurons]

        def flush(w: int) -> None:
            self._prop.sync_counts()
            region_counts[w] += counts.view(B, R, npr).sum(-1, dtype=torch.int64)
            if neuron_counts is not None:
                neuron_counts.add_(counts)
            self.counts.zero_()

        self.counts.zero_()
        if steps:
            suffix = "+learn" if learner is not None else ""
            kernels = (self.kernel("first" + suffix).fn, self.kernel("step" + suffix).fn, self.kernel("last").fn)
            try:
                with torch.no_grad():
                    self._loop(steps, kernels, fixed, schedule, learner, window, flush, raster, raster_index, ext_sum)
            except BaseException as exc:
                # A step may be half done (input pending in the ring buffer): refuse to go on from here.
                self._broken = f"{type(exc).__name__} at step {self.t}"
                raise
        health = self.health(ext_sum)
        rec = Recording(
            steps=steps,
            window=window,
            window_steps=window_steps,
            region_counts=region_counts,
            neuron_counts=None if neuron_counts is None else neuron_counts.view(B, -1),
            raster=None if raster is None else raster.bool(),
            raster_index=raster_index,
            neurons_per_region=npr,
            dt=float(self.network.dt),
            health=health,
        )
        if check and not health.ok:
            raise SimulationError.at("simulation", "; ".join(health.problems))
        return rec

    def _loop(self, steps: int, kernels: tuple[Callable[..., Any], ...], fixed: torch.Tensor | None,
              schedule: Callable[[int], Any] | None, learner: Any, window: int, flush: Callable[[int], None],
              raster: torch.Tensor | None, raster_index: torch.Tensor | None, ext_sum: torch.Tensor | None) -> None:
        first, step_fn, last = kernels
        noise, slots, syn = self.noise, self.slots, self._syn_views
        tail = [self.zu8, self.v_out, self.z_out, *(self.state[n] for n in self.dyn.state_names), *self.const.values()]
        prop, zb_np, zu8, ring_flat, idle = self._prop, self._zb_np, self.zu8, self.ring_flat, self.idle_rnd
        on_step = learner.on_step if learner is not None else None
        ext = fixed
        since_flush = 0
        t = self.t
        for i in range(steps):
            rnd = noise.next() if noise is not None else idle
            if schedule is not None:
                x = schedule(i)
                ext = self.zeros if x is None else self._as_input(x, f"external({i})")
                assert ext_sum is not None
                ext_sum.add_(ext.sum())
            if i == 0:
                first(rnd, ext, syn[(t - 1) % slots], *tail)
            else:
                k = (t - 1) % slots
                step_fn(rnd, ext, syn[k], *tail)
            if on_step is not None:
                on_step(self.v_out, self.z_out)
            if raster is not None:
                torch.index_select(zu8, 0, raster_index, out=raster[i])
            if zb_np is not None:
                prop(zb_np, ring_flat, t)
            else:
                self._peak = torch.maximum(self._peak, zu8.sum(dtype=torch.int64))
                prop(zu8, ring_flat, t)
            t += 1
            self.t = t
            since_flush += 1
            if (i + 1) % window == 0 or i + 1 == steps or since_flush >= _FLUSH_STEPS:
                flush(i // window)
                since_flush = 0
        k = (t - 1) % slots
        last(idle, self.zeros, syn[k], *tail)

    def health(self, ext_sum: torch.Tensor | None = None) -> Health:
        """Check the state now (one device sync)."""
        v = self.state["v"]
        cur = torch.zeros_like(v)
        for name, x in self.state.items():
            if name.startswith("i_"):
                cur = cur + x.abs()
        parts = [v.abs().max(), cur.max(), self._peak.to(torch.float32)]
        finite = [torch.isfinite(t).all() for t in self.state.values()]
        if ext_sum is not None:
            finite.append(torch.isfinite(ext_sum))
        vals = torch.stack([*(p.to(torch.float64) for p in parts), *(f.to(torch.float64) for f in finite)]).cpu().tolist()
        max_v, max_c, peak = vals[0], vals[1], int(vals[2])
        ok_state = all(x == 1.0 for x in vals[3 : 3 + len(self.state)])
        ok_ext = ext_sum is None or vals[-1] == 1.0
        problems = []
        if not ok_ext:
            problems.append("the external input returned NaN or infinite values during this run")
        if not ok_state:
            bad = [n for n, x in zip(self.state, vals[3:]) if x != 1.0]
            problems.append(f"the neuron state ({', '.join(bad)}) became NaN or infinite")
        elif max(max_v, max_c) > self.explosion_mV:
            problems.append(
                f"the network exploded (|v| up to {max_v:.3g} mV, synaptic current up to {max_c:.3g} mV, "
                f"limit {self.explosion_mV:g}); lower coupling, j_exc or the learning rate"
            )
        if self.static and peak > self._prop.capacity:
            problems.append(
                f"{peak} neurons spiked in one step, more than spike_capacity = {self._prop.capacity}; "
                "spikes beyond it were not propagated, so this run is invalid: raise spike_capacity"
            )
        return Health(finite=ok_state and ok_ext, max_abs_v=max_v, max_abs_current=max_c,
                      peak_spikes=peak if self.static else -1, problems=tuple(problems))
