"""A study that uses the geometric null model validates and runs through the command line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from encephagen.cli import main

STUDY = """
name: geometric-tiny
seed: 1
replicates: 2
connectome: {{kind: synthetic, n_regions: 10, density: 0.3, seed: 3}}
brain: {{neurons_per_region: 10}}
conditions:
  - {{name: connectome}}
  - {{name: geometric, null_model: {{kind: geometric, length_scale_mm: {length}}}}}
protocol:
  - {{kind: warmup, steps: 10}}
"""

#: The example study of the main repository, when this package sits in it.
EXAMPLE = Path(__file__).resolve().parents[3] / "experiments" / "geometric.yaml"


def _write(tmp_path: Path, length: object) -> str:
    path = tmp_path / "geometric.yaml"
    path.write_text(textwrap.dedent(STUDY.format(length=length)))
    return str(path)


def test_a_tiny_study_with_the_geometric_null_model_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", _write(tmp_path, 15)]) == 0
    assert "valid. 2 conditions x 2 replicates" in capsys.readouterr().out


def test_a_bad_length_scale_is_reported_at_its_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", _write(tmp_path, 0)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "conditions[1].null_model.length_scale_mm" in err and "Traceback" not in err


def test_the_example_study_validates(capsys: pytest.CaptureFixture[str]) -> None:
    if not EXAMPLE.is_file():
        pytest.skip("this package is installed outside the encephagen repository (no experiments/geometric.yaml)")
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "tvb:connectivity_96 (96 regions)" in capsys.readouterr().out


def test_a_tiny_study_runs_with_the_geometric_null_model(tmp_path: Path) -> None:
    import csv
    import json

    out = tmp_path / "out"
    assert main(["run", _write(tmp_path, 15), "--out", str(out), "-q"]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["condition"] for r in rows} == {"connectome", "geometric"}
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["plugin.null_model.geometric"].startswith("encephagen-geometric")
