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


def _needs(path: Path) -> list[pytest.MarkDecorator]:
    """Skip marks, with their reason, for study files that need an optional package this machine lacks."""
    text = path.read_text()
    return [
        pytest.mark.skipif(
            "kind: geometric" in text and "geometric" not in default_registry().names("null_model"),
            reason="needs the example plugin package: pip install --no-deps -e plugins/encephagen_geometric",
        ),
        pytest.mark.skipif(
            "kind: celegans" in text and importlib.util.find_spec("cect") is None,
            reason="the worm data come from the package cect: pip install --no-deps cect",
        ),
    ]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=_needs(p)) for p in EXPERIMENTS])
def test_experiment_validates(path: Path) -> None:
    plan = prepare(path, default_registry())
    assert (plan.connectome.n_regions == 96 or plan.connectome.resolution == "neurons") and len(plan.replicates) >= 8
