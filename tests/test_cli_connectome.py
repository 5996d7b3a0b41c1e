"""`encephagen connectome show|export`: look at a connectome, write one (or a surrogate) for use elsewhere."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from encephagen.cli import main


def test_show_prints_size_orientation_groups_and_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connectome", "show", "tvb:connectivity_96"]) == 0
    out = capsys.readouterr().out
    for needle in ("96", "3860", "rows=targets (TVB convention)", "amygdala", "CoCoMac", "79"):
        assert needle in out


def test_export_writes_rows_as_sources_and_a_surrogate_keeps_degrees(tmp_path: Path) -> None:
    plain, surrogate = tmp_path / "c.npz", tmp_path / "s.npz"
    assert main(["connectome", "export", "tvb:connectivity_96", "--out", str(plain)]) == 0
    assert main(["connectome", "export", "tvb:connectivity_96", "--null", "degree_preserving", "--seed", "3", "--out", str(surrogate)]) == 0
    a, b = np.load(plain), np.load(surrogate)
    assert a["weights"].shape == (96, 96) and len(a["labels"]) == 96 and a["positions"].shape == (96, 3)
    wa, wb = a["weights"].copy(), b["weights"].copy()
    assert np.array_equal(np.diag(wa), np.diag(wb))  # self-loops stay
    np.fill_diagonal(wa, 0)
    np.fill_diagonal(wb, 0)
    assert np.array_equal((wa > 0).sum(0), (wb > 0).sum(0)) and np.array_equal((wa > 0).sum(1), (wb > 0).sum(1))
    assert not np.array_equal(wa, wb)


def test_export_of_a_surrogate_stores_its_history_and_writes_the_distance_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from encephagen import graph_measures as gm
    from encephagen.connectome_view import DISTANCE_COLUMNS
    from encephagen_builtins.connectomes import SyntheticConnectome
    from encephagen_builtins.null_models import DegreePreserving

    plain, surrogate = tmp_path / "c.npz", tmp_path / "s.npz"
    assert main(["connectome", "export", "synthetic", "--out", str(plain)]) == 0
    assert "history" not in np.load(plain).files and not (tmp_path / "c.distance.csv").exists()
    spec = "{kind: degree_preserving, swaps_per_edge: 2, variant: directed}"
    assert main(["connectome", "export", "synthetic", "--null", spec, "--seed", "5", "--out", str(surrogate)]) == 0
    conn = SyntheticConnectome().load()
    expected = DegreePreserving(swaps_per_edge=2, variant="directed").randomize(conn, np.random.default_rng(5))
    with np.load(surrogate) as z:
        w, history = z["weights"], json.loads(str(z["history"]))
    assert np.array_equal(w, expected.weights)
    assert history == [
        {"model": "degree_preserving", "parameters": {"swaps_per_edge": 2.0, "variant": "directed", "gap_junctions": "keep"}, "seed": 5,
         "connectome": conn.name, "step": expected.history[-1]}
    ]  # fmt: skip
    with open(tmp_path / "s.distance.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == DISTANCE_COLUMNS
    w0 = np.load(plain)["weights"]
    k = gm.rich_club_level(w0)
    ref, sur = gm.measures(w0, k), gm.measures(w, k)
    assert [r[4] for r in rows[1:]] == list(ref)
    for model, params, seed, j, measure, a, b, change in rows[1:]:
        assert (model, params, seed) == ("degree_preserving", "swaps_per_edge=2.0, variant=directed, gap_junctions=keep", "5")
        assert float(j) == gm.jaccard(w0, w) < 1.0
        assert (float(a), float(b), float(change)) == (ref[measure], sur[measure], sur[measure] - ref[measure])
    out = capsys.readouterr().out
    assert f"Jaccard of directed edges {gm.jaccard(w0, w):.4g}" in out and "s.distance.csv" in out


def test_parameters_reach_the_null_model_no_swaps_keep_every_edge(tmp_path: Path) -> None:
    out = tmp_path / "s.npz"
    assert main(["connectome", "export", "synthetic", "--null", "{kind: degree_preserving, swaps_per_edge: 0}", "--out", str(out)]) == 0
    with open(tmp_path / "s.distance.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(float(r["jaccard"]) == 1.0 and float(r["change"]) == 0.0 for r in rows)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["connectome", "show", "tvb:connectivity_99"], "dataset"),
        (["connectome", "show", "tvbb"], "unknown connectome source 'tvbb'"),
        (["connectome", "export", "tvb", "--null", "nope", "--out", "x.npz"], "unknown null model 'nope'"),
        (["connectome", "export", "synthetic", "--null", "{kind: degree_preserving, swaps: 2}", "--out", "x.npz"],
         "--null: unknown key 'swaps' (allowed: swaps_per_edge, variant, gap_junctions)"),
        (["connectome", "export", "synthetic", "--null", "{kind: degree_preserving, swaps_per_edge: -1}", "--out", "x.npz"],
         "--null.swaps_per_edge: must be >= 0"),
        (["connectome", "export", "synthetic", "--null", "{kind: [", "--out", "x.npz"], "the value of --null is not valid YAML"),
        (["connectome", "export", "synthetic", "--null", "{kind: strength_preserving, tolerance: 0.000001, max_iterations: 5}",
          "--out", "x.npz"], "--null.tolerance: strength_preserving reached"),
        (["connectome", "export", "synthetic", "--null", "weight_shuffle", "--seed", "-1", "--out", "x.npz"],
         "--seed: must be a non-negative integer"),
    ],
)
def test_bad_requests_get_one_line_and_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()


def test_a_bad_matrix_file_gets_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npy"
    w = np.ones((3, 3))
    w[1, 2] = np.nan
    np.save(bad, w)
    assert main(["connectome", "show", f"file:{bad}"]) == 2
    err = capsys.readouterr().err
    assert "NaN" in err or "non-finite" in err
    assert len(err.strip().splitlines()) == 1
