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
generator (see :class:`~encephagen.engine.noise.Noise`); on CUDA they come from a ``torch.Generator``
seeded from it.

Nothing inside the step loop waits for the device: counts accumulate on
the device, and health (finite state, no spike-list overflow, finite
external input) is checked once at the end of every :meth:`Brain.run`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from encephagen.engine.dynamics import Dynamics, poisson_thresholds
from encephagen.engine.kernels import Fused, fuse
from encephagen.engine.memory import available_bytes, format_bytes
from encephagen.engine.native import library as native_library
from encephagen.engine.network import DELAY_DTYPES, Network
from encephagen.engine.noise import Noise, poisson_count
from encephagen.engine.propagation import CpuPropagation, NativePropagation, StaticPropagation
from encephagen.engine.recording import Health, Record, Recording
from encephagen.errors import ConfigError, DataError, EncephagenError

#: Per-neuron int32 spike counts are flushed to int64 at least this often.
_FLUSH_STEPS = 1 << 30


#: Uncompiled updates of at most this many neurons draw the background count with ``bucketize``.
_BUCKETIZE_MAX = 1024


#: ``compile="auto"`` compiles the neuron update for networks of at least this many neurons.
AUTO_COMPILE_NEURONS = 4096


class SimulationError(EncephagenError):
    """A run produced an unusable state (non-finite or exploding values, spike-list overflow)."""


External = torch.Tensor | float | Callable[[int], "torch.Tensor | None"] | None


def _make_step(dyn: Dynamics, thresholds: Sequence[float], receive: bool, advance: bool, learn: bool,
               eager: bool = False, device: torch.device | str = "cpu", n_neurons: int = 0,
               gap: bool = False) -> Callable[..., None]:
    """The fused update. Arguments, all ``(N,)``:

    ``rnd, ext, syn, zu8_out, v_out, z_out, *state, *const`` and, with
    ``gap``, the gap-junction current last (mV, passed to ``dyn.advance`` as
    ``gap=``); the state and the outputs are written in place (``v_out`` and
    ``z_out`` only when ``learn``: the potential before reset and the spikes
    as float32), and a consumed ``syn`` (a ring-buffer slot) is zeroed for
    reuse. ``eager`` picks the formulation with fewer operations for
    uncompiled execution.
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
        const = dict(zip(cnames, rest[ns : ns + len(cnames)]))
        s = state
        if receive:
            s = dyn.receive(state, const, syn)
            if eager:
                syn.zero_()
            else:
                syn.copy_(torch.zeros_like(syn))
        if advance:
            bg = poisson_count(rnd, thresholds, table) * weight if thresholds else torch.zeros_like(ext)
            if gap:
                v_pre, z, s = dyn.advance(s, const, bg, ext, gap=rest[-1])
            else:
                v_pre, z, s = dyn.advance(s, const, bg, ext)
            zu8_out.copy_(z.to(torch.uint8))
            if learn:
                v_out.copy_(v_pre)
                z_out.copy_(z)
        for name in names:
            if s[name] is not state[name]:
                state[name].copy_(s[name])

    return step


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
    g = net.gap
    if g is not None:
        m = g.n_entries
        gp = g.row_ptr
        if (gp.dtype != torch.int64 or gp.shape != (n + 1,) or int(gp[0]) != 0 or int(gp[-1]) != m
                or bool((gp[1:] < gp[:-1]).any()) or g.post.dtype != torch.int32 or g.post.shape != (m,)
                or g.coupling.dtype != torch.float32 or g.coupling.shape != (m,)
                or (m and (int(g.post.min()) < 0 or int(g.post.max()) >= n))):
            raise DataError.at("network.gap", f"must be CSR gap junctions over {n} neurons (int64 row_ptr, int32 post, float32 coupling)")
        rows = g.rows()
        if m and (not bool(torch.isfinite(g.coupling).all()) or bool((g.coupling <= 0).any()) or bool((rows == g.post.long()).any())):
            raise DataError.at("network.gap", "couplings must be finite and > 0, and no neuron may be coupled to itself")
        fwd = rows * n + g.post.long()
        back = g.post.long() * n + rows
        order_f, order_b = torch.argsort(fwd), torch.argsort(back)
        if not (torch.equal(fwd[order_f], back[order_b]) and torch.equal(g.coupling[order_f], g.coupling[order_b])):
            raise DataError.at("network.gap", "must be symmetric: every pair i -> j needs j -> i with the same coupling")
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
        if network.gap is not None and not getattr(self.dyn, "gap_junctions", False):
            raise ConfigError.at(
                "brain.neuron",
                f"{getattr(network.neuron, 'name', type(network.neuron).__name__)!r} does not take a gap-junction current "
                "(its dynamics lack gap_junctions = True), but this network has gap junctions; use lif or alif, "
                "or leave the gap junctions out (connectome synapses: chemical)",
            )
        n = network.neurons_per_brain
        N = self.n_neurons = network.n_neurons
        u = np.concatenate([r.random(n) for r in rngs])
        self.state = {k: v.to(self.device) for k, v in self.dyn.init_state(torch.from_numpy(u)).items()}
        self.const = dict(self.dyn.const)
        self.thresholds = poisson_thresholds(self.dyn.bg_rate)
        self.noise = Noise(rngs, n, self.device) if self.thresholds else None
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
        gap = network.gap
        #: The gap-junction current of the coming step (mV), or ``None`` without gap junctions.
        self.gap_in = torch.zeros(N, **f32) if gap is not None else None
        if gap is not None:
            self._gap_rows = gap.rows()
            self._gap_cols = gap.post.long()
            self._gap_flux = torch.zeros(gap.n_entries, **f32)
        self.explosion_mV = float(explosion_mV)
        use_static = self.device.type != "cpu" if static is None else bool(static)
        if use_static:
            cap = spike_capacity if spike_capacity is not None else min(N, max(4096, N // 8))
            if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or not 1 <= cap <= N:
                raise ConfigError.at("spike_capacity", f"must be an integer between 1 and {N}, got {cap!r}")
            self._prop: Any = StaticPropagation(network, self.slots, int(cap), self.counts)
            self._zb_np = None
        else:
            lib = native_library() if native is not False else None
            if native and lib is None:
                raise ConfigError.at("native", "no C compiler is available to build the propagation loop")
            if lib is not None:
                self._prop = NativePropagation(network, self.slots, self.counts, self.zu8, self.ring, lib)
            else:
                self._prop = CpuPropagation(network, self.slots, self.counts)
            self._zb_np = self.zu8.numpy().view(np.bool_)
        self.static = use_static
        self._peak = torch.zeros((), dtype=torch.int64, device=self.device)
        self._compile = compile
        self._kernels: dict[str, Fused] = {}
        self._broken = ""

    # -- kernels ----------------------------------------------------------------------
    def _args(self, rnd: torch.Tensor, ext: torch.Tensor, syn: torch.Tensor) -> list[torch.Tensor]:
        return [rnd, ext, syn, *self._tail()]

    def _tail(self) -> list[torch.Tensor]:
        """The fused update's arguments after ``rnd, ext, syn`` (see :func:`_make_step`)."""
        gap = [] if self.gap_in is None else [self.gap_in]
        return [self.zu8, self.v_out, self.z_out, *(self.state[k] for k in self.dyn.state_names), *self.const.values(), *gap]

    def _couple(self) -> None:
        """``gap_in = sum_j c_ij (v_j - v_i)`` from the current potentials (mV): each pair's two entries are exact negatives."""
        assert self.gap_in is not None
        v = self.state["v"]
        flux = self._gap_flux
        torch.sub(v.index_select(0, self._gap_cols), v.index_select(0, self._gap_rows), out=flux)
        flux.mul_(self.network.gap.coupling)
        self.gap_in.zero_()
        self.gap_in.index_add_(0, self._gap_rows, flux)

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
            gap = self.gap_in is not None
            eager = _make_step(self.dyn, self.thresholds, rec, adv, bool(learn), eager=True,
                               device=self.device, n_neurons=self.n_neurons, gap=gap)
            if mode is False:
                self._kernels[name] = Fused(eager, compiled=False, reason="compilation switched off")
            else:
                fn = _make_step(self.dyn, self.thresholds, rec, adv, bool(learn), device=self.device, gap=gap)
                key = ("encephagen-step", name, self.dyn.key, self.thresholds, float(self.dyn.bg_weight), tuple(self.const), gap)
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
        tail = self._tail()
        couple = self._couple if self.gap_in is not None else None
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
            if couple is not None:
                couple()
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
