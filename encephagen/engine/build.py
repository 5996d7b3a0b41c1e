"""Expanding a connectome into a spiking network (spec section 2).

Every region becomes ``npr`` neurons; the first ``n_exc = int(npr *
exc_ratio)`` of each region are excitatory. Synapses are drawn independently:

- within a region, neuron ``i -> j`` with probability ``p_internal``
  (excitatory sources never onto themselves), weight ``+j_eff`` from an
  excitatory and ``-j_inh`` from an inhibitory source;
- for every connectome edge ``src -> dst`` (``src != dst``, weight ``w > 0``)
  each excitatory neuron of ``src`` onto each neuron of ``dst`` with
  probability ``p = min(1, p_between * w * coupling)``, weight
  ``j_eff * w * coupling``; edges with ``p < 1e-6`` are skipped.

Sampling is vectorised and exact in distribution. A block of ``M`` cells
(possible synapses) with probability ``p`` is drawn either densely (one
uniform per cell, used when ``p >= 0.25``) or as a binomial count
``Binomial(M, p)`` followed by that many distinct cells chosen uniformly
(duplicates are redrawn; the procedure is invariant under permutations of
the cells, so the chosen set is a uniform subset of its size). Both give
independent Bernoulli(``p``) cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from encephagen.connectome import Connectome
from encephagen import validators as ev
from encephagen.engine.cellular import Cellular
from encephagen.engine.memory import available_bytes, format_bytes, resolve_device
from encephagen.engine.network import GapJunctions, Network, delay_dtype
from encephagen.errors import ConfigError, DataError

#: Edges whose connection probability is below this are skipped (spec section 2).
P_MIN = 1e-6
#: Blocks with at least this probability are drawn one uniform per cell.
_DENSE_P = 0.25
#: Cells drawn at once by the dense sampler (bounds its scratch memory).
_DENSE_CHUNK = 1 << 22


@attrs.frozen
class Microcircuit:
    """How one region becomes neurons and synapses (spec section 2).

    :ivar neurons_per_region: ``npr``, neurons per region.
    :ivar exc_ratio: fraction of excitatory neurons (``n_exc = int(npr * exc_ratio)``).
    :ivar p_internal: connection probability within a region.
    :ivar p_between: base connection probability along a connectome edge
        (multiplied by the edge weight and ``coupling``).
    :ivar coupling: ``g``, scales between-region probability and weight.
    :ivar j_exc: excitatory weight (mV) at 16 excitatory inputs; the effective
        weight is ``j_eff = j_exc * 16 / c_e``.
    :ivar g_inh: inhibitory weight relative to excitatory (``j_inh = g_inh * j_eff``).
    """

    neurons_per_region: int = attrs.field(default=200, validator=[ev.integer, attrs.validators.ge(1)])
    exc_ratio: float = attrs.field(default=0.8, validator=[ev.finite, attrs.validators.gt(0.0), attrs.validators.le(1.0)])
    p_internal: float = attrs.field(default=0.1, validator=ev.probability)
    p_between: float = attrs.field(default=0.02, validator=ev.probability)
    coupling: float = attrs.field(default=0.15, validator=[ev.finite, attrs.validators.ge(0.0)])
    j_exc: float = attrs.field(default=2.0, validator=[ev.finite, attrs.validators.gt(0.0)])
    g_inh: float = attrs.field(default=5.0, validator=[ev.finite, attrs.validators.ge(0.0)])

    summary: ClassVar[str] = "Regions expanded into excitatory/inhibitory neurons with random synapses."

    def __attrs_post_init__(self) -> None:
        if self.n_exc < 1:
            raise ValueError(
                f"'exc_ratio' {self.exc_ratio} with neurons_per_region {self.neurons_per_region} "
                "leaves no excitatory neuron; raise either"
            )

    @property
    def n_exc(self) -> int:
        """Excitatory neurons per region, ``int(npr * exc_ratio)``."""
        return int(self.neurons_per_region * self.exc_ratio)

    @property
    def c_e(self) -> int:
        """Expected excitatory inputs within a region, ``max(1, int(npr * exc_ratio * p_internal))``."""
        return max(1, int(self.neurons_per_region * self.exc_ratio * self.p_internal))

    @property
    def j_eff(self) -> float:
        """Effective excitatory weight (mV), ``j_exc * 16 / c_e``."""
        return self.j_exc * 16.0 / self.c_e

    @property
    def j_inh(self) -> float:
        """Inhibitory weight magnitude (mV), ``j_eff * g_inh``."""
        return self.j_eff * self.g_inh

    def edge_probabilities(self, connectome: Connectome) -> np.ndarray:
        """``(n, n)`` probability per excitatory-source cell along each edge (0 on the diagonal and below ``P_MIN``)."""
        p = np.minimum(1.0, self.p_between * connectome.between * self.coupling)
        p[p < P_MIN] = 0.0
        return p

    def expected_synapses(self, connectome: Connectome) -> tuple[float, float]:
        """Expected ``(internal, between)`` synapse counts of one brain."""
        npr, ne = self.neurons_per_region, self.n_exc
        internal = connectome.n_regions * (ne * (npr - 1) + (npr - ne) * npr) * self.p_internal
        between = float(self.edge_probabilities(connectome).sum()) * ne * npr
        return internal, between

    def expected_input(self, connectome: Connectome) -> tuple[float, float]:
        """Expected ``(internal, between)`` summed absolute synaptic weight (mV) of one brain.

        Internal: every region's ``p_internal`` times ``j_eff`` per excitatory
        and ``j_inh`` per inhibitory possible synapse; between: each edge's
        expected synapse count times its weight ``j_eff * coupling * w``.
        """
        npr, ne = self.neurons_per_region, self.n_exc
        internal = connectome.n_regions * self.p_internal * (ne * (npr - 1) * self.j_eff + (npr - ne) * npr * self.j_inh)
        per_edge = self.edge_probabilities(connectome) * (self.j_eff * self.coupling) * connectome.between
        return internal, float(per_edge.sum()) * ne * npr


def _shift_tolerance(inst: Any, att: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"'{att.name}' must be a Kolmogorov-Smirnov distance in [0, 1], or null to allow any shift, got {value!r}")


@attrs.frozen
class Delays:
    """Conduction delays between regions (none within a region).

    ``delay = round(length / velocity / dt)`` steps, with ``length`` the
    tract length or the distance between region centres (mm). Every
    between-region edge a brain uses needs a length: a tract length that was
    not measured (``NaN``; see ``connectome.missing_lengths``) or, with
    ``distances``, two regions at the same centre, make the brain refused
    rather than wired with zero delay.

    :ivar source: ``tract_lengths`` (the connectome's tract lengths) or
        ``distances`` (Euclidean distance between region centres).
    :ivar velocity: conduction velocity in mm/ms (3.0 is TVB's default).
    :ivar max_ms: refuse delays longer than this (ms); bounds the ring buffer.
    :ivar max_length_shift: how far a null model may move the length
        distribution of the between-region edges it uses from the
        connectome's: the Kolmogorov-Smirnov distance between the two (the
        largest gap between their cumulative distributions, 0 to 1). A
        condition above it is refused, because its delays would differ from
        the reference's as well as its wiring; ``null`` allows any shift (set
        it on a condition whose null model is meant to move edges, e.g.
        ``brain: {delays: {max_length_shift: null}}``). On the 96-region set
        every built-in null model stays below the default 0.1 (at most about
        0.09 over 50 draws); on the 66, 68, 76 and 192 sets only
        ``weight_shuffle`` and ``spatial`` do (the others reach 0.13-0.38).
    """

    source: str = attrs.field(default="tract_lengths", validator=attrs.validators.in_(("tract_lengths", "distances")))
    velocity: float = attrs.field(default=3.0, validator=[ev.finite, attrs.validators.gt(0.0)])
    max_ms: float = attrs.field(default=500.0, validator=[ev.finite, attrs.validators.gt(0.0)])
    max_length_shift: float | None = attrs.field(default=0.1, validator=_shift_tolerance)

    summary: ClassVar[str] = "Conduction delays from tract lengths or centre distances."

    def lengths(self, connectome: Connectome) -> np.ndarray:
        """``(n, n)`` path length in mm (rows = sources); ``NaN`` where a pair has none.

        A pair has none when its tract length was not measured, or (``distances``)
        when the two region centres coincide.
        """
        if self.source == "tract_lengths":
            if connectome.tract_lengths is None:
                raise DataError.at(
                    "brain.delays.source",
                    f"connectome {connectome.name!r} has no tract lengths; use source: distances or no delays",
                )
            return np.asarray(connectome.tract_lengths, dtype=np.float64)
        if connectome.positions is None:
            raise DataError.at(
                "brain.delays.source", f"connectome {connectome.name!r} has no region positions to measure distances"
            )
        d = connectome.distances()
        d[(d == 0) & ~np.eye(connectome.n_regions, dtype=bool)] = np.nan
        return d

    def missing(self, connectome: Connectome) -> tuple[str, str] | None:
        """``(field, message)`` when a between-region edge of ``connectome`` has no length, else ``None``."""
        bad = (connectome.between > 0) & np.isnan(self.lengths(connectome))
        if not bad.any():
            return None
        s, d = (int(x) for x in np.argwhere(bad)[0])
        c = connectome
        head = f"{int(bad.sum())} between-region edges of connectome {c.name!r} have no length (first {c.labels[s]} -> {c.labels[d]})"
        if self.source == "distances":
            return "brain.delays.source", f"{head}: their region centres coincide; use brain.delays.source: tract_lengths, or no delays"
        if c.positions is None:
            return "connectome.missing_lengths", f"{head}: their tract lengths were not measured and the connectome has no region centres to fill them from; use a source with those lengths, or no delays"
        if np.all(c.positions[s] == c.positions[d]):
            return "connectome.min_fill_mm", f"{head}: their tract lengths were not measured and their region centres coincide; set connectome.min_fill_mm to the length (mm) they should take, or use no delays"
        return "connectome.missing_lengths", f"{head}: their tract lengths were not measured; set connectome.missing_lengths: distances to fill them with the distance between region centres"

    def length_shift(self, original: Connectome, surrogate: Connectome) -> float:
        """Kolmogorov-Smirnov distance between the lengths (mm) of the between-region edges of the two connectomes."""
        from encephagen.invariants import ks_distance

        used = [self.lengths(c)[c.between > 0] for c in (original, surrogate)]
        return ks_distance(*(u[~np.isnan(u)] for u in used))

    def shift_problem(self, original: Connectome, surrogate: Connectome) -> str | None:
        """A line when ``surrogate``'s edge lengths moved beyond ``max_length_shift`` from ``original``'s, else ``None``."""
        if self.max_length_shift is None:
            return None
        shift = self.length_shift(original, surrogate)
        if shift <= self.max_length_shift:
            return None
        mean = [float(np.nanmean(self.lengths(c)[c.between > 0])) for c in (original, surrogate)]
        return (
            f"moves the length distribution of the between-region edges by a Kolmogorov-Smirnov distance of "
            f"{shift:.3f} (mean {mean[0]:.1f} -> {mean[1]:.1f} mm), above brain.delays.max_length_shift "
            f"{self.max_length_shift:g}, so its delays differ from the connectome's as well as its wiring; "
            "to compare them anyway, set brain: {delays: {max_length_shift: null}} on this condition"
        )

    def steps(self, connectome: Connectome, dt: float) -> np.ndarray:
        """``(n, n)`` int64 delay in steps, 0 on the diagonal.

        :raises DataError: when a between-region edge has no length (:meth:`missing`).
        """
        problem = self.missing(connectome)
        if problem is not None:
            raise DataError.at(*problem)
        ms = np.nan_to_num(self.lengths(connectome), nan=0.0) / self.velocity  # NaN only off the edges
        np.fill_diagonal(ms, 0.0)
        longest = float(ms[connectome.between > 0].max(initial=0.0))
        if longest > self.max_ms:
            raise ConfigError.at(
                "brain.delays.max_ms",
                f"the longest delay is {longest:.1f} ms (> {self.max_ms:g} ms); raise velocity or max_ms",
            )
        return np.rint(ms / dt).astype(np.int64)


# -- sampling ---------------------------------------------------------------------------


def _dense_cells(
    rng: np.random.Generator, p: np.ndarray, rows: int, cols: int, no_diag_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Independent Bernoulli cells of ``len(p)`` blocks ``(rows, cols)``, one uniform each.

    :param no_diag_rows: cells ``(i, i)`` with ``i < no_diag_rows`` are never set.
    :returns: ``(block, cell)`` int64 arrays in (block, cell) order; ``cell = i * cols + j``.
    """
    cells = rows * cols
    step = max(1, _DENSE_CHUNK // cells)
    blocks, found = [], []
    diag = np.arange(min(no_diag_rows, cols)) * (cols + 1)
    for k0 in range(0, len(p), step):
        pk = p[k0 : k0 + step]
        hit = rng.random((len(pk), cells)) < pk[:, None]
        if diag.size:
            hit[:, diag] = False
        b, c = np.nonzero(hit)
        blocks.append(b + k0)
        found.append(c)
    if not blocks:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(blocks).astype(np.int64), np.concatenate(found).astype(np.int64)


def _sparse_cells(rng: np.random.Generator, p: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent Bernoulli cells of ``len(p)`` blocks of ``cells`` each: a binomial count, then distinct cells.

    :returns: ``(block, cell)`` int64 arrays sorted by ``block * cells + cell``.
    """
    need = rng.binomial(cells, p).astype(np.int64)
    chosen = np.zeros(0, np.int64)  # keys block * cells + cell, sorted and unique
    while True:
        short = need - np.bincount(chosen // cells, minlength=len(p)) if chosen.size else need
        if not short.any():
            break
        block = np.repeat(np.arange(len(p), dtype=np.int64), short)
        new = np.sort(block * cells + rng.integers(0, cells, size=block.size))
        new = new[np.concatenate(([True], new[1:] != new[:-1]))]
        if chosen.size:
            pos = np.searchsorted(chosen, new)
            taken = (pos < chosen.size) & (chosen[np.minimum(pos, chosen.size - 1)] == new)
            new = new[~taken]
            chosen = np.insert(chosen, np.searchsorted(chosen, new), new)
        else:
            chosen = new
    return chosen // cells, chosen % cells


def _cells(
    rng: np.random.Generator, p: np.ndarray, rows: int, cols: int, no_diag_rows: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Bernoulli cells of blocks ``(rows, cols)``, dense or sparse by probability; ``(block, cell)``."""
    dense = p >= _DENSE_P
    out_b, out_c = [], []
    if dense.any():
        idx = np.flatnonzero(dense)
        b, c = _dense_cells(rng, p[idx], rows, cols, no_diag_rows)
        out_b.append(idx[b])
        out_c.append(c)
    if (~dense).any():
        idx = np.flatnonzero(~dense)
        if no_diag_rows:
            # Draw on the (rows*cols - no_diag_rows) allowed cells, then skip the diagonal.
            allowed = rows * cols - min(no_diag_rows, cols)
            b, c = _sparse_cells(rng, p[idx], allowed)
            c = _skip_diagonal(c, cols, min(no_diag_rows, cols))
        else:
            b, c = _sparse_cells(rng, p[idx], rows * cols)
        out_b.append(idx[b])
        out_c.append(c)
    return np.concatenate(out_b), np.concatenate(out_c)


def _skip_diagonal(c: np.ndarray, cols: int, k: int) -> np.ndarray:
    """Map indices over the cells that remain once ``(i, i)``, ``i < k``, are removed back to cell indices."""
    # Removed cells sit at i*(cols+1); cell index = c + (number of removed cells at or before it).
    removed = np.arange(k) * (cols + 1)
    shift = np.searchsorted(removed - np.arange(k), c, side="right")
    return c + shift


@attrs.frozen
class _Synapses:
    """One brain's synapses in CSR order (numpy, local neuron indices)."""

    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    delay: np.ndarray | None
    n_internal: int


def sample_synapses(
    connectome: Connectome, micro: Microcircuit, rng: np.random.Generator, delay_steps: np.ndarray | None = None
) -> _Synapses:
    """Draw one brain's synapses (numpy, CSR order: by pre, then post)."""
    R, npr, ne = connectome.n_regions, micro.neurons_per_region, micro.n_exc
    n = R * npr
    keys = []
    # Internal: one block per region, all npr source rows, no exc self-loops.
    if micro.p_internal > 0:
        b, c = _cells(rng, np.full(R, micro.p_internal), npr, npr, no_diag_rows=ne)
        pre = b * npr + c // npr
        keys.append(pre * n + b * npr + c % npr)
    n_internal = int(sum(k.size for k in keys))
    # Between: one block per edge, the n_exc excitatory source rows.
    p = micro.edge_probabilities(connectome)
    src, dst = np.nonzero(p)
    if src.size:
        b, c = _cells(rng, p[src, dst], ne, npr)
        keys.append((src[b] * npr + c // npr) * n + dst[b] * npr + c % npr)
    # The internal part is already sorted; numpy's stable sort (timsort for int64) uses such runs.
    key = np.sort(np.concatenate(keys), kind="stable") if keys else np.zeros(0, np.int64)
    pre, post = key // n, key % n
    rp, rq = pre // npr, post // npr
    table = (micro.j_eff * micro.coupling) * connectome.between
    np.fill_diagonal(table, micro.j_eff)
    weight = table[rp, rq]
    inh = (pre % npr) >= ne
    weight[inh] = -micro.j_inh
    delay = None if delay_steps is None else delay_steps[rp, rq]
    return _Synapses(pre, post, weight.astype(np.float32), delay, n_internal)


# -- networks ---------------------------------------------------------------------------


def _check_batch(connectomes: Sequence[Connectome]) -> None:
    if len(connectomes) == 0:
        raise ConfigError.at("brain.batch", "needs at least one brain")
    first = connectomes[0]
    for i, c in enumerate(connectomes[1:], start=1):
        if c.n_regions != first.n_regions:
            raise DataError.at(
                f"connectomes[{i}]", f"has {c.n_regions} regions, brain 0 has {first.n_regions}; a batch needs equal sizes"
            )
        if dict(c.groups) != dict(first.groups):
            raise DataError.at(f"connectomes[{i}].groups", "differ from brain 0's; a batch needs the same region groups")


def check_storage(connectome: Connectome, micro: Microcircuit | Cellular) -> None:
    """Refuse a sparse connectome under a microcircuit: only a cellular brain wires one (one neuron per node)."""
    if connectome.is_sparse and not isinstance(micro, Cellular):
        raise ConfigError.at(
            "brain.cellular",
            f"connectome {connectome.name!r} is stored sparse ({connectome.n_regions:,} neurons), which only a cellular brain "
            "wires (one neuron per node); add brain: {cellular: {}} or give a dense connectome",
        )


def estimate_bytes(
    connectome: Connectome, micro: Microcircuit, n_brains: int = 1, delays: bool = False, static_index: bool = False
) -> dict[str, int]:
    """Memory a batch will need, from expected synapse counts (before anything is drawn).

    :param static_index: include the fixed-shape propagation table (used on CUDA).

    :returns: ``{"host": bytes of numpy scratch while drawing, "device": bytes of tensors}``.
    :raises ConfigError: at ``brain.cellular`` for a sparse connectome under a microcircuit.
    """
    check_storage(connectome, micro)
    internal, between = micro.expected_synapses(connectome)
    e = (internal + between) * 1.05 + 64  # a few sigma above the mean
    n = connectome.n_regions * micro.neurons_per_region
    per_syn = 4 + 4 + (4 if delays else 0)  # post, weight, delay (int32 at most; usually narrower)
    if static_index:
        per_syn += 2 * 4 * 3  # the fixed-shape propagation table (rows padded to the widest, ~3x)
    device = n_brains * (e * per_syn + n * 64)
    # The largest dense scratch block and the int64 key arrays while sampling one brain.
    host = e * 8 * 6 + _DENSE_CHUNK * 9
    return {"host": int(host), "device": int(device)}


def _check_memory(estimate: Mapping[str, int], device: torch.device) -> None:
    for where, need in (("host", estimate["host"]), ("device", estimate["device"])):
        dev = torch.device("cpu") if where == "host" else device
        have = available_bytes(dev)
        if have is not None and need > have:
            raise ConfigError.at(
                "brain",
                f"this network needs about {format_bytes(need)} of {dev.type} memory but only {format_bytes(have)} "
                "is available; lower neurons_per_region, p_internal, p_between, coupling or batch",
            )


def build_batch(
    connectomes: Sequence[Connectome],
    micro: Microcircuit | Cellular,
    rngs: Sequence[np.random.Generator],
    neuron: Any,
    *,
    delays: Delays | None = None,
    dt: float = 0.1,
    device: str | torch.device = "auto",
) -> Network:
    """B brains (one connectome and one wiring generator each) as one block-diagonal :class:`Network`.

    :param connectomes: one per brain; equal region counts and groups.
    :param micro: the microcircuit parameters shared by all brains, or
        :class:`~encephagen.engine.cellular.Cellular` for one neuron per node
        (then nothing is drawn and ``rngs`` go unused).
    :param rngs: one seeded generator per brain; brain ``b`` is wired from
        ``rngs[b]`` alone, so it equals a single-brain build with that generator.
    :param neuron: the neuron model (stored on the network).
    :param delays: conduction delays, or ``None``.
    :param dt: step in ms.
    :param device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """
    _check_batch(connectomes)
    if len(rngs) != len(connectomes):
        raise ConfigError.at("rngs", f"needs one generator per brain: {len(connectomes)} brains, {len(rngs)} generators")
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError.at("dt", f"must be a positive number of ms, got {dt}")
    cellular = isinstance(micro, Cellular)
    if cellular and delays is not None:
        raise ConfigError.at(
            "brain.delays", "a cellular brain has no conduction delays yet (a neuron-level connectome carries no lengths); remove brain.delays"
        )
    dev = resolve_device(device)
    est = estimate_bytes(connectomes[0], micro, len(connectomes), delays is not None, dev.type != "cpu")
    _check_memory(est, dev)
    first = connectomes[0]
    n = first.n_regions * micro.neurons_per_region
    parts = []
    for c, rng in zip(connectomes, rngs):
        if cellular:
            parts.append(_Synapses(*micro.synapses(c), delay=None, n_internal=0))
            continue
        steps = delays.steps(c, dt) if delays is not None else None
        parts.append(sample_synapses(c, micro, rng, steps))
    post = np.concatenate([(s.post + b * n).astype(np.int32) for b, s in enumerate(parts)])
    weight = np.concatenate([s.weight for s in parts])
    n_total = n * len(parts)
    row_ptr = np.zeros(n_total + 1, np.int64)
    np.cumsum(np.concatenate([np.bincount(s.pre, minlength=n) for s in parts]), out=row_ptr[1:])
    gap = None
    if cellular:
        exc = np.concatenate([micro.signs(c) > 0 for c in connectomes])
        pairs = []
        for b, c in enumerate(connectomes):
            coupled = micro.gap_coupling(c)
            if coupled is not None:
                pairs.append((coupled[0] + b * n, coupled[1] + b * n, coupled[2]))
        if pairs:
            i, j, coupling = (np.concatenate(x) for x in zip(*pairs))
            gap = GapJunctions.from_pairs(n_total, i, j, coupling, device=dev)
    else:
        exc = (np.arange(n_total) % micro.neurons_per_region) < micro.n_exc
    delay = None
    if delays is not None:
        steps_all = np.concatenate([s.delay for s in parts])
        dtype = delay_dtype(int(steps_all.max(initial=0)))
        delay = torch.from_numpy(steps_all).to(dtype).to(dev)
    return Network(
        n_brains=len(parts),
        regions_per_brain=first.n_regions,
        neurons_per_region=micro.neurons_per_region,
        post=torch.from_numpy(post).to(dev),
        weight=torch.from_numpy(weight).to(dev),
        row_ptr=torch.from_numpy(row_ptr).to(dev),
        excitatory=torch.from_numpy(exc).to(dev),
        groups=dict(first.groups),
        neuron=neuron,
        dt=float(dt),
        microcircuit=micro,
        delay=delay,
        n_internal=tuple(s.n_internal for s in parts),
        gap=gap,
    )


def build_network(
    connectome: Connectome,
    micro: Microcircuit | Cellular,
    rng: np.random.Generator,
    neuron: Any,
    *,
    delays: Delays | None = None,
    dt: float = 0.1,
    device: str | torch.device = "auto",
) -> Network:
    """One brain as a :class:`Network` (``B = 1``); see :func:`build_batch`."""
    return build_batch([connectome], micro, [rng], neuron, delays=delays, dt=dt, device=device)
