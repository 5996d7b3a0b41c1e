"""What a run records: :class:`Record` (what to count), :class:`Recording` (the counts), :class:`Health`."""


from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import torch


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
