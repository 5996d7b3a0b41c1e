"""The kit's pytest plugin: its fixtures reach any test suite once encephagen is installed."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from encephagen.interfaces import TaskContext


@attrs.frozen
class MeanRate:
    """Mean rate (Hz) of each brain over a short run."""

    name: ClassVar[str] = "mean_rate"
    steps: int = 100

    def required_groups(self) -> tuple[str, ...]:
        return ()

    def run(self, brain: Any, context: TaskContext) -> Any:
        per_step = brain.run(self.steps).region_rates().mean(dim=(0, 2))
        return {"rate_hz": (per_step * 1000.0 / float(brain.network.dt)).numpy()}


def test_the_fixtures_are_there(encephagen_tiny_connectome, encephagen_tiny_network, encephagen_tiny_brain) -> None:
    assert encephagen_tiny_connectome.n_regions == 12 and "amygdala" in encephagen_tiny_connectome.groups
    assert encephagen_tiny_network.n_synapses > 0
    out = MeanRate().run(encephagen_tiny_brain, TaskContext(None, [np.random.default_rng(0)] * 2))
    assert np.asarray(out["rate_hz"]).shape == (2,)


def test_a_tiny_study_with_a_component_of_the_test_suite(encephagen_run_tiny_study) -> None:
    res = encephagen_run_tiny_study(
        {"name": "t", "replicates": 2, "connectome": {"kind": "synthetic", "n_regions": 10},
         "brain": {"neurons_per_region": 10},
         "conditions": [{"name": "connectome"}, {"name": "random", "null_model": {"kind": "erdos_renyi"}}],
         "protocol": [{"kind": "mean_rate"}]},
        components=[MeanRate],
    )
    assert res.counts["done"] == 4
    assert sorted({r.metric for r in res.results}) == ["rate_hz"]
