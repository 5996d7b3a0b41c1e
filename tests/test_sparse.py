"""Sparse connectomes: the same wiring held as ``scipy.sparse`` matrices answers, rewires, builds and runs as the dense one.

The cross-checks compare two independent paths: a dense connectome with the
null models' dense adjacency tables, against its sparse copy with the
sorted-key adjacency every graph of more than 8,192 nodes uses
(``DENSE_CELLS`` lowered to 0 here, so that small graphs take it).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from encephagen.cli import main
from encephagen.connectome import Connectome
from encephagen.connectome_view import describe
from encephagen.engine import Cellular, build_network
from encephagen.errors import ConfigError, DataError
from encephagen.invariants import check_invariants
from encephagen.preparation import ConnectomeOptions
from encephagen_builtins import null_models as nm
from encephagen_builtins.connectomes import FileConnectome
from encephagen_builtins.neurons import LIF


def _dense(n: int = 30, seed: int = 0, symmetric: bool = False) -> Connectome:
    """A random neuron-level connectome: chemical counts (some autapses), symmetric gap junctions, signs, classes."""
    rng = np.random.default_rng(seed)
    w = rng.integers(1, 5, (n, n)) * (rng.random((n, n)) < 0.15)
    w[np.arange(0, n, 7), np.arange(0, n, 7)] = 2  # autapses
    if symmetric:
        w = np.triu(w) + np.triu(w, 1).T
    g = np.triu(rng.integers(1, 3, (n, n)) * (rng.random((n, n)) < 0.1))
    g[3, 3] = 1
    g = g + np.triu(g, 1).T
    return Connectome(
        weights=w.astype(float), labels=[f"N{i}" for i in range(n)], resolution="neurons", gap_junctions=g.astype(float),
        signs=rng.choice(np.array([1, -1, 0], np.int8), n), cell_classes=[f"C{i // 2}" for i in range(n)],
        groups={"a": tuple(range(5)), "b": tuple(range(10, 20))}, name="random",
    )


def _sparse(c: Connectome) -> Connectome:
    import attrs

    return attrs.evolve(c, weights=sp.csr_array(c.weights), gap_junctions=sp.csr_array(c.gap_junctions))


def test_the_sparse_copy_answers_every_question_as_the_dense_one() -> None:
    d = _dense()
    s = _sparse(d)
    assert s.is_sparse and not d.is_sparse and s == d
    for name in ("n_regions", "n_edges", "n_self_loops", "n_gap_junctions", "is_symmetric"):
        assert getattr(s, name) == getattr(d, name), name
    for name in ("edges", "self_loops", "gap_pairs", "out_degree", "in_degree", "strengths"):
        got, want = getattr(s, name)(), getattr(d, name)()
        for a, b in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert d.n_edges == np.count_nonzero(d.between)  # against the dense matrix itself
    np.testing.assert_array_equal(d.out_degree(), np.count_nonzero(d.between, axis=1))
    np.testing.assert_allclose(d.strengths()[1], d.between.sum(axis=0))
    assert s.digest() != d.digest()  # the storage is part of what a digest says
    assert describe(s) == describe(d)
    sym = _dense(symmetric=True)
    assert sym.is_symmetric and _sparse(sym).is_symmetric


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda w, g: (w.__setitem__((1, 2), np.nan), g), "weights"),
        (lambda w, g: (w.__setitem__((4, 0), -1.0), g), "weights"),
        (lambda w, g: (w, (g.__setitem__((0, 5), 3.0), g)[1]), "gap_junctions"),
    ],
)
def test_a_sparse_matrix_is_checked_as_a_dense_one(change, field: str) -> None:
    d = _dense()
    w, g = d.weights.copy(), d.gap_junctions.copy()
    change(w, g)
    for weights, gap in ((w, g), (sp.csr_array(w), sp.csr_array(g))):
        with pytest.raises(DataError) as err:
            Connectome(weights=weights, labels=d.labels, resolution="neurons", gap_junctions=gap)
        assert err.value.problems[0][0] == field


def test_a_sparse_region_graph_is_refused() -> None:
    with pytest.raises(DataError, match="only a neuron-level connectome"):
        Connectome(weights=sp.csr_array(np.ones((3, 3))), labels=["a", "b", "c"])


def _models() -> list:
    return [
        nm.DegreePreserving(swaps_per_edge=5), nm.DegreePreserving(swaps_per_edge=5, gap_junctions="rewire"),
        nm.ErdosRenyi(), nm.ErdosRenyi(gap_junctions="rewire"), nm.WeightShuffle(gap_junctions="rewire"),
        nm.StrengthPreserving(tolerance=0.5, max_iterations=20_000), nm.CellClassPreserving(swaps_per_edge=50, match="targets"),
    ]


@pytest.mark.parametrize("model", _models(), ids=repr)
@pytest.mark.parametrize("symmetric", [False, True])
def test_every_null_model_draws_the_same_surrogate_from_the_sparse_copy(model, symmetric: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _dense(symmetric=symmetric, seed=3)
    outcome = []
    for c, cells in ((d, nm.DENSE_CELLS), (_sparse(d), 0)):
        monkeypatch.setattr(nm, "DENSE_CELLS", cells)
        try:
            outcome.append(model.randomize(c, np.random.default_rng(11)))
        except ConfigError as e:  # a tolerance not reached is not reached in either
            outcome.append(str(e))
    dense, sparse = outcome
    if isinstance(dense, str):
        assert sparse == dense
        return
    assert sparse.is_sparse and sparse == dense and sparse.history == dense.history
    assert check_invariants(model, _sparse(d), sparse) == []
    assert not np.array_equal(dense.weights, d.weights) or isinstance(model, nm.WeightShuffle)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 4), st.integers(2, 30), st.integers(0, 2**31 - 1))
def test_the_sorted_key_conflict_search_equals_the_table(m: int, k: int, n_keys: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys, active = rng.integers(0, n_keys, (m, k)), rng.random(m) < 0.6
    want = nm._blocked(keys, active, n_keys)
    got = nm._blocked(keys, active, nm.DENSE_CELLS + 1)  # the same keys, judged as from a huge key space
    np.testing.assert_array_equal(got, want)


def test_a_cellular_brain_is_built_alike_from_either_storage() -> None:
    d = _dense(seed=5)
    cell = Cellular(g_gap=0.1)
    a, b = (build_network(c, cell, np.random.default_rng(0), LIF(nmda_groups=()), device="cpu") for c in (d, _sparse(d)))
    for name in ("row_ptr", "post", "weight", "excitatory"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    for name in ("row_ptr", "post", "coupling"):
        assert torch.equal(getattr(a.gap, name), getattr(b.gap, name)), name
    assert cell.expected_input(d) == cell.expected_input(_sparse(d)) and cell.weight_range(d, "all") == cell.weight_range(_sparse(d), "all")


@pytest.mark.parametrize("normalize", ["max", "mean", "share_96"])
def test_normalisation_scales_either_storage_alike(normalize: str) -> None:
    d = _dense(seed=6)
    prep = ConnectomeOptions(normalize=normalize)
    np.testing.assert_allclose(prep.scale(_sparse(d)), prep.scale(d), rtol=1e-12)


def _edge_list(path: Path, c: Connectome) -> None:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["pre", "post", "weight", "sign"])
        for i, j in zip(*np.nonzero(c.weights)):
            out.writerow([c.labels[i], c.labels[j], f"{c.weights[i, j]:g}", int(c.signs[i])])


def test_an_edge_list_held_sparse_is_the_same_connectome(tmp_path: Path) -> None:
    c = _dense(seed=7)
    _edge_list(tmp_path / "e.csv", c)
    dense = FileConnectome(path=str(tmp_path / "e.csv"), storage="dense").load()
    sparse = FileConnectome(path=str(tmp_path / "e.csv"), storage="sparse").load()
    assert sparse.is_sparse and not dense.is_sparse and sparse == dense
    assert FileConnectome(path=str(tmp_path / "e.csv")).load().is_sparse is False  # auto: 30 neurons are held dense
    with pytest.raises(DataError, match="applies to an edge list"):
        np.save(tmp_path / "w.npy", c.weights)
        FileConnectome(path=str(tmp_path / "w.npy"), storage="sparse").load()


def _study(tmp_path: Path, storage: str, cellular: bool = True) -> Path:
    doc = {
        "name": f"sparse-{storage}", "seed": 5, "replicates": 2,
        "connectome": {"kind": "file", "path": str(tmp_path / "e.csv"), "format": "edges", "storage": storage,
                       "groups": {"cs": ["N1", "N2", "N3"], "us": ["N4"], "out": ["N10", "N11", "N12"]}},
        "brain": {"neuron": {"kind": "lif", "nmda_groups": []}, "batch": 2, **({"cellular": {"mv_per_synapse": 1.0}} if cellular else {})},
        "conditions": [{"name": "connectome"}, {"name": "rewired", "null_model": {"kind": "degree_preserving"}}],
        "learning_rule": {"kind": "eprop"},
        "protocol": [
            {"kind": "warmup", "steps": 300},
            {"kind": "conditioning", "trials": 2, "test_every": 1, "cs_steps": 100, "us_steps": 100, "gap_steps": 50,
             "test_baseline_steps": 50, "cs_regions": {"cs": 0}, "us_regions": {"us": 0}, "response_regions": {"out": 0}},
        ],
    }
    path = tmp_path / f"{storage}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_cellular_study_gives_the_same_numbers_from_either_storage(tmp_path: Path) -> None:
    _edge_list(tmp_path / "e.csv", _dense(seed=8))
    values = {}
    for storage in ("dense", "sparse"):
        out = tmp_path / storage
        assert main(["run", str(_study(tmp_path, storage)), "--out", str(out), "-q"]) == 0
        rows = list(csv.DictReader((out / "results.csv").open()))
        values[storage] = [(r["condition"], r["replicate"], r["task"], r["metric"], r["value"]) for r in rows]
    assert values["sparse"] == values["dense"] and len(values["dense"]) > 8
    report = (tmp_path / "sparse" / "report.md").read_text()
    assert "a study of a sparse connectome writes none" in report
    assert not (tmp_path / "sparse" / "connectomes.npz").exists() and (tmp_path / "dense" / "connectomes.npz").exists()


def test_a_sparse_connectome_needs_a_cellular_brain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edge_list(tmp_path / "e.csv", _dense(seed=9))
    assert main(["validate", str(_study(tmp_path, "sparse", cellular=False))]) == 2
    err = capsys.readouterr().err
    assert "brain.cellular" in err and "stored sparse" in err and len(err.strip().splitlines()) == 1
