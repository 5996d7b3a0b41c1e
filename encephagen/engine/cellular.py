"""Cellular brains: every node of a neuron-level connectome is one spiking neuron.

No node is expanded into a population and nothing is drawn: the wiring is
the connectome's.

- one chemical synapse per connected ordered pair ``pre -> post``
  (``pre != post``; autapses on the diagonal are left out, as self-loops are
  for regions), weight ``sign(pre) * mv_per_synapse * n`` mV with ``n`` the
  connectome's weight (its synapse count, or whatever unit the data set
  counts in) and ``sign(pre)`` the presynaptic neuron's sign (an unknown sign
  is ``unknown_sign``);
- gap junctions: coupling ``c_ij = g_gap * n_ij`` for ``n_ij`` junctions
  (``docs/engine.md``, "Gap junctions");
- background: the neuron model's Brunel-style drive with ``j_eff = j_bg``
  (for ``lif``: ``bg = v_thr * ext_rate_factor * dt / (j_bg * tau_m)``
  spikes of ``j_bg`` mV per neuron per step, whose mean drive alone holds
  ``i_syn`` near ``v_thr * ext_rate_factor * tau_syn / tau_m`` mV).

In a :class:`~encephagen.engine.network.Network` a cellular brain has one
neuron per region (``neurons_per_region = 1``), so region groups, per-region
counts and tasks address neurons unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from encephagen import validators as ev
from encephagen.connectome import Connectome
from encephagen.engine.memory import resolve_device
from encephagen.engine.network import GapJunctions, Network, sum_repeats
from encephagen.errors import ConfigError, DataError

_SIGN = {"excitatory": 1, "inhibitory": -1}


@attrs.frozen
class Cellular:
    """A neuron-level connectome wired as it is, one spiking neuron per node.

    :ivar mv_per_synapse: mV added to the target's synaptic current per
        presynaptic spike, per unit of connectome weight (per synapse for a
        synapse count); the sign comes from the presynaptic neuron.
    :ivar g_gap: coupling per gap junction, in units of the membrane's leak
        conductance (dimensionless); 0 leaves the gap junctions out.
    :ivar unknown_sign: how a neuron of unknown sign (``0`` in the
        connectome's ``signs``, e.g. glutamatergic with ``glutamate: unknown``)
        is wired: ``excitatory`` or ``inhibitory``.
    :ivar j_bg: mV per background spike (the background rate follows from it
        and the neuron model's ``ext_rate_factor``; see ``docs/celegans.md``).
    """

    mv_per_synapse: float = attrs.field(default=0.5, validator=[ev.finite, attrs.validators.gt(0.0)])
    g_gap: float = attrs.field(default=0.03, validator=[ev.finite, attrs.validators.ge(0.0)])
    unknown_sign: str = attrs.field(default="excitatory", validator=attrs.validators.in_(tuple(_SIGN)))
    j_bg: float = attrs.field(default=8.0, validator=[ev.finite, attrs.validators.gt(0.0)])

    summary: ClassVar[str] = "One spiking neuron per node of a neuron-level connectome; synapses and gap junctions as counted."
    #: One neuron per node.
    neurons_per_region: ClassVar[int] = 1

    @property
    def j_eff(self) -> float:
        """The background spike weight (mV), ``j_bg``: what the neuron model's background calibration reads."""
        return self.j_bg

    @property
    def c_e(self) -> int:
        """1: the calibration's ``c_e`` cancels (``bg = c_e * nu_thr * ...`` with ``nu_thr`` proportional to ``1 / c_e``)."""
        return 1

    def check(self, connectome: Connectome) -> None:
        """Refuse a connectome whose nodes are not neurons."""
        if connectome.resolution != "neurons":
            raise DataError.at(
                "brain.cellular",
                f"wires one neuron per node, but connectome {connectome.name!r} is a graph of {connectome.resolution}; "
                "use a neuron-level connectome (e.g. kind: celegans) or the microcircuit keys instead",
            )

    def signs(self, connectome: Connectome) -> np.ndarray:
        """``(n,)`` int8: each neuron's sign, ``1`` or ``-1`` (an unknown sign made ``unknown_sign``)."""
        s = np.zeros(connectome.n_regions, np.int8) if connectome.signs is None else connectome.signs.copy()
        s[s == 0] = _SIGN[self.unknown_sign]
        return s

    def edges(self, connectome: Connectome) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre, post, weight)`` of every synapse, row-major: int64, int64, float64 mV (autapses left out)."""
        pre, post, n = connectome.edges()
        return pre, post, n * self.mv_per_synapse * self.signs(connectome)[pre]

    def weights(self, connectome: Connectome) -> np.ndarray:
        """``(n, n)`` float64 synaptic weight in mV (rows = presynaptic, 0 on the diagonal); dense, for small graphs and tests."""
        w = np.zeros((connectome.n_regions,) * 2)
        pre, post, mv = self.edges(connectome)
        w[pre, post] = mv
        return w

    def gap_coupling(self, connectome: Connectome) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Gap-junction pairs ``(i, j, g_gap * n_ij)``, each once (``i < j``), or ``None`` when there is none."""
        if connectome.gap_junctions is None or self.g_gap == 0:
            return None
        i, j, n = connectome.gap_pairs()
        return (i, j, n * self.g_gap) if i.size else None

    def expected_synapses(self, connectome: Connectome) -> tuple[float, float]:
        """``(0, E)``: a cellular brain has no within-node synapses; ``E`` connected ordered pairs (exact, nothing is drawn)."""
        return 0.0, float(connectome.n_edges)

    def expected_input(self, connectome: Connectome) -> tuple[float, float]:
        """``(0, sum |w|)``: the summed absolute synaptic weight (mV)."""
        return 0.0, float(connectome.between.sum() * self.mv_per_synapse)

    def weight_range(self, connectome: Connectome, plastic: str) -> tuple[float, float] | None:
        """``[min, max]`` weight (mV) of the synapses a rule's ``plastic`` selects, or ``None`` when it selects none.

        ``excitatory`` selects the synapses of neurons wired excitatory;
        ``all`` and ``between`` every synapse (each joins two nodes).
        """
        pre, _, w = self.edges(connectome)
        if plastic == "excitatory":
            w = w[self.signs(connectome)[pre] > 0]
        if w.size == 0:
            return None
        return float(w.min()), float(w.max())

    def synapses(self, connectome: Connectome) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre, post, weight)`` of one brain in CSR order (int64, int64, float32 mV)."""
        self.check(connectome)
        pre, post, w = self.edges(connectome)  # row-major: by pre, then post
        return pre, post, w.astype(np.float32)


def network_from_edges(
    n: int,
    pre: np.ndarray,
    post: np.ndarray,
    weight: np.ndarray,
    excitatory: np.ndarray,
    neuron: Any,
    *,
    gap: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    groups: Mapping[str, Sequence[int]] | None = None,
    cellular: Cellular | None = None,
    dt: float = 0.1,
    device: str | torch.device = "auto",
) -> Network:
    """One cellular brain straight from an edge list, without a dense ``(n, n)`` matrix.

    What a :class:`Cellular` brain builds from a :class:`Connectome`, for
    wiring too large for one: a FlyWire-scale list (about 139,000 neurons and
    50 million synapses) needs 8 bytes per synapse here (``docs/performance.md``)
    where a connectome's dense matrix would need ``8 n**2`` bytes.

    :param n: neurons.
    :param pre: ``(E,)`` int presynaptic neuron of each synapse, in ``0..n-1``.
    :param post: ``(E,)`` int postsynaptic neuron; rows with ``pre == post`` (autapses) are left out.
    :param weight: ``(E,)`` finite mV per presynaptic spike (signed); repeated
        ``(pre, post)`` rows add up into one synapse.
    :param excitatory: ``(n,)`` bool, the neurons a rule's ``plastic: excitatory`` selects.
    :param neuron: the neuron model (its background uses ``cellular.j_bg``).
    :param gap: ``(i, j, coupling)`` gap-junction pairs, each once (see
        :meth:`GapJunctions.from_pairs`; coupling ``g_gap * n_ij``), or ``None``.
    :param groups: group name -> neuron indices.
    :param cellular: the brain parameters the background reads (default :class:`Cellular`).
    :param dt: step in ms.
    :param device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """
    if n <= 0:
        raise ConfigError.at("n", f"must be a positive number of neurons, got {n}")
    pre, post = np.asarray(pre, np.int64), np.asarray(post, np.int64)
    w = np.asarray(weight, np.float64)
    exc = np.asarray(excitatory, bool)
    if not (pre.shape == post.shape == w.shape and pre.ndim == 1):
        raise DataError.at("edges", f"pre, post and weight must be equal-length 1-d arrays, got {pre.shape}, {post.shape}, {w.shape}")
    if pre.size and (min(pre.min(), post.min()) < 0 or max(pre.max(), post.max()) >= n):
        raise DataError.at("edges", f"name neurons outside 0..{n - 1}")
    if not np.all(np.isfinite(w)):
        raise DataError.at("edges.weight", f"has {int((~np.isfinite(w)).sum())} non-finite values; every synapse needs a finite weight in mV")
    if exc.shape != (n,):
        raise DataError.at("excitatory", f"must hold one flag per neuron ({n}), got shape {exc.shape}")
    keep = pre != post
    key = pre[keep] * n + post[keep]
    w = w[keep]
    key, w = sum_repeats(key, w)  # CSR order, one synapse per pair
    dev = resolve_device(device)
    row_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(key // n, minlength=n), out=row_ptr[1:])
    gj = None if gap is None else GapJunctions.from_pairs(n, *gap, device=dev)
    return Network(
        n_brains=1,
        regions_per_brain=n,
        neurons_per_region=1,
        post=torch.from_numpy((key % n).astype(np.int32)).to(dev),
        weight=torch.from_numpy(w.astype(np.float32)).to(dev),
        row_ptr=torch.from_numpy(row_ptr).to(dev),
        excitatory=torch.from_numpy(exc).to(dev),
        groups={k: tuple(int(i) for i in v) for k, v in (groups or {}).items()},
        neuron=neuron,
        dt=float(dt),
        microcircuit=cellular if cellular is not None else Cellular(),
        n_internal=(0,),
        gap=gj,
    )
