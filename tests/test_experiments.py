"""Every study file in experiments/ validates (components, parameters, groups, null models)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from encephagen.plugins import default_registry
from encephagen.study import prepare

EXPERIMENTS = sorted((Path(__file__).parents[1] / "experiments").glob("*.yaml"))


def test_there_are_experiments() -> None:
    assert {"quick.yaml", "exp21_hebbian.yaml", "exp22_eprop.yaml", "exp23_diversity.yaml"} <= {p.name for p in EXPERIMENTS}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_validates(path: Path) -> None:
    if "kind: geometric" in path.read_text() and "geometric" not in default_registry().names("null_model"):
        pytest.skip("needs the example plugin package: pip install --no-deps -e plugins/encephagen_geometric")
    if "kind: celegans" in path.read_text() and importlib.util.find_spec("cect") is None:
        pytest.skip("the worm data come from the package cect: pip install --no-deps cect")
    plan = prepare(path, default_registry())
    assert (plan.connectome.n_regions == 96 or plan.connectome.resolution == "neurons") and len(plan.replicates) >= 8
