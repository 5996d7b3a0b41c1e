"""The contract between a neuron model and the step loop.

A neuron model (a component of kind ``neuron_model``) provides
``dynamics(network) -> Dynamics``: an object with per-neuron constant
tensors and two **pure** tensor functions that the engine traces and, where
it can, compiles into fused kernels:

- ``advance(state, const, bg, ext) -> (v_before_reset, spikes, state)``:
  steps 1-7 of one step, given the background input ``bg`` (mV, already
  ``count * j_eff``) and the external input ``ext`` (mV) or ``None``;
- ``receive(state, const, syn) -> state``: steps 9-10, given the recurrent
  input ``syn`` (mV) that the engine gathered at step 8.

A model that supports gap junctions sets ``gap_junctions = True``; on a
network with gap junctions the engine then calls
``advance(state, const, bg, ext, gap=i_gap)`` with the coupling current
``i_gap_i = sum_j c_ij (v_j - v_i)`` (mV, from the potentials at the start of
the step), which the model adds to its membrane equation. Without gap
junctions ``gap`` is never passed, so the traced graph is what it was.

Both take and return plain ``dict[str, Tensor]`` of ``(N,)`` float32 tensors,
use only elementwise operations, and must not mutate their inputs. Floats
used inside them (time constants, thresholds) are baked into the traced
graph; ``key`` must change whenever they do.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Protocol, runtime_checkable

import torch

#: Per-neuron state tensors by name.
State = dict[str, torch.Tensor]
#: Per-neuron constant tensors by name.
Const = Mapping[str, torch.Tensor]
#: What ``advance`` returns: potential before reset, spikes (float 0/1), new state.
Advanced = tuple[torch.Tensor, torch.Tensor, State]


@runtime_checkable
class Dynamics(Protocol):
    """A neuron model bound to one network (see the module docstring).

    :ivar state_names: names of the per-neuron state tensors; ``"v"``
        (membrane potential, mV) comes first.
    :ivar const: per-neuron constant tensors ``(N,)`` passed to both functions.
    :ivar key: hashable; equal keys mean identical traced graphs.
    :ivar bg_rate: expected background spikes per neuron per step (Poisson mean).
    :ivar bg_weight: mV added to ``i_syn`` per background spike.
    """

    state_names: tuple[str, ...]
    const: Mapping[str, torch.Tensor]
    key: Hashable
    bg_rate: float
    bg_weight: float

    def init_state(self, u: torch.Tensor) -> State:
        """The initial state from ``u ~ Uniform(0, 1)`` ``(N,)`` float64 (one draw per neuron)."""
        ...

    def advance(self, s: State, c: Const, bg: torch.Tensor, ext: torch.Tensor | None) -> Advanced:
        """Steps 1-7; returns ``(v before reset, spikes as float 0/1, new state)``.

        A model with ``gap_junctions = True`` also takes ``gap=`` (see the module docstring).
        """
        ...

    def receive(self, s: State, c: Const, syn: torch.Tensor) -> State:
        """Steps 9-10 with the recurrent input ``syn`` (mV)."""
        ...


#: Resolution of the background draw: one 24-bit uniform integer per neuron and step.
UNIFORM_BITS = 24


def poisson_thresholds(lam: float, bits: int = UNIFORM_BITS, max_terms: int = 256) -> tuple[float, ...]:
    """Inverse-CDF thresholds for Poisson(``lam``) counts from a ``bits``-bit uniform integer ``u``.

    ``count = sum_k [u >= T_k]`` with ``T_k = round(2**bits * P(X <= k))``
    (``k = 0, 1, ...``). Every ``P(count = k)`` is exact up to ``2**-(bits+1)``
    and the tail ``P(X > K)`` that is cut off (where ``T_K`` reaches
    ``2**bits``) is below ``2**-(bits+1)`` as well.

    :param lam: the Poisson mean, ``>= 0``.
    :returns: increasing thresholds as floats (exact integers); empty for ``lam == 0``.
    """
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"Poisson mean must be finite and >= 0, got {lam}")
    if lam == 0:
        return ()
    top = 1 << bits
    out: list[float] = []
    term = math.exp(-lam)
    cdf = term
    k = 0
    while True:
        t = round(cdf * top)
        if t >= top:
            break
        out.append(float(t))
        k += 1
        if k >= max_terms:
            raise ValueError(
                f"a Poisson mean of {lam:g} per step needs more than {max_terms} table entries; "
                "lower the background rate (ext_rate_factor) or dt"
            )
        term *= lam / k
        cdf += term
    return tuple(out)
