"""The kit's pytest plugin: its fixtures reach any test suite once encephagen is installed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from contract_fakes import PACKAGES
from encephagen.interfaces import TaskContext


@pytest.fixture
def quiet_rate(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The toy third-party task (``their_kinds.QuietRate``), importable without installing its package."""
    monkeypatch.syspath_prepend(str(PACKAGES))
    from their_kinds import QuietRate

    return QuietRate


def test_the_fixtures_are_there(encephagen_tiny_connectome, encephagen_tiny_network, encephagen_tiny_brain, quiet_rate) -> None:
    assert encephagen_tiny_connectome.n_regions == 12 and "amygdala" in encephagen_tiny_connectome.groups
    assert encephagen_tiny_network.n_synapses > 0
    out = quiet_rate(steps=100).run(encephagen_tiny_brain, TaskContext(None, [np.random.default_rng(0)] * 2))
    assert np.asarray(out["rate_hz"]).shape == (2,)


def test_a_tiny_study_with_a_component_of_the_test_suite(encephagen_run_tiny_study, quiet_rate) -> None:
    res = encephagen_run_tiny_study(
        {"name": "t", "replicates": 2, "connectome": {"kind": "synthetic", "n_regions": 10},
         "brain": {"neurons_per_region": 10},
         "conditions": [{"name": "connectome"}, {"name": "random", "null_model": {"kind": "erdos_renyi"}}],
         "protocol": [{"kind": "quiet_rate", "steps": 100}]},
        components=[quiet_rate],
    )
    assert res.counts["done"] == 4
    assert sorted({r.metric for r in res.results}) == ["rate_hz"]
