"""The ``file`` source's edge lists: rows ``pre, post, weight[, sign]`` (and ``a, b, count`` gap junctions) -> a neuron-level Connectome.

Tested against the matrix the rows were written from (round trips through CSV and Parquet),
row order, duplicate rows, the label order, the memory refusal's closed form, and a cellular
study through the command line.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from encephagen.cli import main
from encephagen.errors import DataError
from encephagen_builtins.connectomes import FileConnectome
from encephagen_builtins.connectomes import common

needs_pyarrow = pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is None, reason="Parquet edge lists need the optional package pyarrow: pip install pyarrow"
)

NAMES = ["AVAL", "AVAR", "RIAL", "AIYL", "ASEL", "DA9", "VB10", "VB2", "PVCL", "ADEL", "CEPDL", "SMDVR"]


def _wiring(seed: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random neuron-level wiring over ``NAMES``: chemical counts (autapses included), symmetric gap counts, signs."""
    rng = np.random.default_rng(seed)
    n = len(NAMES)
    w = rng.integers(1, 6, (n, n)) * (rng.random((n, n)) < 0.35)
    w[0, 0], w[3, 3] = 2, 1  # autapses
    g = np.triu(rng.integers(1, 4, (n, n)) * (rng.random((n, n)) < 0.2))
    g[5, 5] = 1  # junctions of a neuron with itself
    g = g + np.triu(g, 1).T
    signs = rng.choice(np.array([1, -1, 0], np.int8), n)
    return w.astype(float), g.astype(float), signs


def _write_edges(path: Path, w: np.ndarray, signs: np.ndarray | None, rng: np.random.Generator, split: bool = True) -> int:
    """Write ``w`` as rows in random order, each count split into two rows where ``split`` (their sum is the count)."""
    rows = []
    sign_names = {1: ["1", "excitatory"], -1: ["-1", "inhibitory"], 0: ["0", "unknown"]}
    for i, j in zip(*np.nonzero(w)):
        parts = [w[i, j]] if not split or w[i, j] < 2 else [1.0, w[i, j] - 1.0]
        for x in parts:
            row = [NAMES[i], NAMES[j], f"{x:g}"]
            if signs is not None:
                row.append(str(rng.choice(sign_names[int(signs[i])])))  # the same sign, spelled either way
            rows.append(row)
    rows = [rows[k] for k in rng.permutation(len(rows))]
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["pre", "post", "weight"] + (["sign"] if signs is not None else []))
        out.writerows(rows)
    return len(rows)


def _write_gap(path: Path, g: np.ndarray, rng: np.random.Generator) -> None:
    """Each pair once, in a random direction."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["a", "b", "count"])
        for i, j in zip(*np.nonzero(np.triu(g))):
            a, b = (i, j) if rng.random() < 0.5 else (j, i)
            out.writerow([NAMES[a], NAMES[b], f"{g[i, j]:g}"])


def _in_label_order(m: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """``m`` (indexed like ``NAMES``) reindexed to ``labels``."""
    order = [NAMES.index(s) for s in labels]
    return m[np.ix_(order, order)] if m.ndim == 2 else m[order]


def test_an_edge_list_round_trips_weights_signs_and_gap_junctions(tmp_path: Path) -> None:
    w, g, signs = _wiring()
    rng = np.random.default_rng(0)
    rows = _write_edges(tmp_path / "e.csv", w, signs, rng)
    _write_gap(tmp_path / "gap.csv", g, rng)
    c = FileConnectome(path=tmp_path / "e.csv", gap_junctions=tmp_path / "gap.csv").load()
    assert c.resolution == "neurons" and c.labels == tuple(sorted(NAMES)) and c.name == "file:e.csv"
    assert np.array_equal(c.weights, _in_label_order(w, c.labels))
    assert np.array_equal(c.gap_junctions, _in_label_order(g, c.labels))
    # a neuron that is never presynaptic has sign 0 whatever the table says
    expected = np.where(w.sum(axis=1) > 0, signs, 0).astype(np.int8)
    assert np.array_equal(c.signs, _in_label_order(expected, c.labels))
    assert np.array_equal(np.diag(c.weights), _in_label_order(np.diag(w), c.labels))  # autapses kept on the diagonal
    assert f"{rows:,} rows read, {len(NAMES)} neurons, {int(w.sum()):,} synapses summed into {np.count_nonzero(w)} connections" in c.provenance
    assert f"{int(np.triu(g, 1).sum())} junctions between {np.count_nonzero(np.triu(g, 1))} pairs and {int(np.trace(g))} of a neuron with itself" in c.provenance


def test_row_order_and_splitting_do_not_change_the_connectome(tmp_path: Path) -> None:
    w, _, signs = _wiring()
    _write_edges(tmp_path / "a.csv", w, signs, np.random.default_rng(1), split=False)
    _write_edges(tmp_path / "b.csv", w, signs, np.random.default_rng(2), split=True)
    a, b = (FileConnectome(path=tmp_path / f).load() for f in ("a.csv", "b.csv"))
    assert a.labels == b.labels and np.array_equal(a.weights, b.weights) and np.array_equal(a.signs, b.signs)
    assert a.digest() == b.digest()


def test_repeated_rows_are_summed(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("pre,post,weight\nx,y,2\ny,x,1\nx,y,3.5\nx,x,1\nx,x,1\n")
    (tmp_path / "g.csv").write_text("a,b,count\nx,y,1\nx,y,2\nz,z,1\n")
    c = FileConnectome(path=tmp_path / "e.csv", gap_junctions=tmp_path / "g.csv").load()
    assert c.labels == ("x", "y", "z")  # z has gap junctions only: still a neuron
    assert np.array_equal(c.weights, [[2, 5.5, 0], [1, 0, 0], [0, 0, 0]])
    assert np.array_equal(c.gap_junctions, [[0, 3, 0], [3, 0, 0], [0, 0, 1]])
    assert c.signs is None and "5 rows read, 3 neurons, 8.5 synapses summed into 3 connections" in c.provenance


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["10", "2", "100", "7"], ("2", "7", "10", "100")),  # integer ids: as numbers
        (["b10", "b2", "a", "B"], ("B", "a", "b10", "b2")),  # text: as text
        (["10", "x2", "2"], ("10", "2", "x2")),  # one name is not an integer: all as text
    ],
    ids=["integers", "text", "mixed"],
)
def test_labels_are_the_names_sorted(tmp_path: Path, names: list[str], expected: tuple[str, ...]) -> None:
    ring = list(zip(names, names[1:] + names[:1]))
    (tmp_path / "e.csv").write_text("post,weight,pre\n" + "".join(f"{b},1,{a}\n" for a, b in ring))  # columns in any order
    c = FileConnectome(path=tmp_path / "e.csv").load()
    assert c.labels == expected
    for a, b in ring:
        assert c.weights[c.labels.index(a), c.labels.index(b)] == 1
    assert c.weights.sum() == len(names)


def test_an_edge_list_is_recognised_by_its_header_and_tabs_and_spaces_work(tmp_path: Path) -> None:
    (tmp_path / "e.tsv").write_text("\ufeffPre\tPost\tWeight\tSIGN\tneuropil\n AVAL \tAVAR\t 3 \tInhibitory\tNR\n\nAVAR\tAVAL\t1\t1\tNR\n")
    c = FileConnectome(path=tmp_path / "e.tsv").load()  # a BOM, case, extra columns, blank lines, padded cells
    assert c.labels == ("AVAL", "AVAR") and np.array_equal(c.weights, [[0, 3], [1, 0]]) and list(c.signs) == [-1, 1]
    np.savetxt(tmp_path / "m.csv", np.eye(3), delimiter=",")
    assert FileConnectome(path=tmp_path / "m.csv").load().resolution == "regions"  # a matrix stays a matrix
    (tmp_path / "e.txt").write_text("pre,post,weight\na,b,1\n")
    with pytest.raises(DataError, match="format: edges"):
        FileConnectome(path=tmp_path / "e.txt", format="csv").load()
    assert FileConnectome(path=tmp_path / "e.txt", format="edges").load().n_regions == 2


def test_study_groups_select_neurons_of_an_edge_list(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text('pre,post,weight\n"AVAL",AVAR,1\nAVAR,PVCL,1\n')
    c = FileConnectome(path=tmp_path / "e.csv", groups={"ava": ["AVA"], "pvc": ["PVCL"]}).load()
    assert c.groups == {"ava": (0, 1), "pvc": (2,)}


def test_a_cellular_brain_leaves_the_autapses_of_an_edge_list_out(tmp_path: Path) -> None:
    from encephagen.engine import Cellular

    (tmp_path / "e.csv").write_text("pre,post,weight,sign\na,a,4,1\na,b,2,1\nb,a,1,-1\n")
    c = FileConnectome(path=tmp_path / "e.csv").load()
    assert c.n_self_loops == 1
    assert np.array_equal(Cellular(mv_per_synapse=0.5).weights(c), [[0, 1.0], [-0.5, 0]])


@needs_pyarrow
def test_a_parquet_edge_list_reads_as_its_csv(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    w, g, signs = _wiring()
    rng = np.random.default_rng(3)
    _write_edges(tmp_path / "e.csv", w, signs, rng)
    _write_gap(tmp_path / "g.csv", g, rng)
    for name in ("e", "g"):
        with open(tmp_path / f"{name}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        cols = {h: [r[k] for r in rows[1:]] for k, h in enumerate(rows[0])}
        for h in ("weight", "count"):
            if h in cols:
                cols[h] = [float(x) for x in cols[h]]  # numbers as numbers, names and signs as text
        pq.write_table(pa.table(cols), tmp_path / f"{name}.parquet")
    a = FileConnectome(path=tmp_path / "e.csv", gap_junctions=tmp_path / "g.csv").load()
    b = FileConnectome(path=tmp_path / "e.parquet", gap_junctions=tmp_path / "g.parquet").load()
    assert a.labels == b.labels and np.array_equal(a.weights, b.weights)
    assert np.array_equal(a.signs, b.signs) and np.array_equal(a.gap_junctions, b.gap_junctions)
    ids = pa.table({"pre": [720575940000000010, 9], "post": [9, 720575940000000010], "weight": [1, 2]})
    pq.write_table(ids, tmp_path / "ids.parquet")  # integer ids, as FlyWire's
    assert FileConnectome(path=tmp_path / "ids.parquet").load().labels == ("9", "720575940000000010")


def test_a_parquet_file_without_pyarrow_is_one_line_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "e.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError) as e:
        FileConnectome(path=tmp_path / "e.parquet").load()
    assert e.value.problems[0][0] == "connectome.path" and "pip install pyarrow" in str(e.value)
    assert len(str(e.value).splitlines()) == 1


# -- memory: the dense matrices are counted before they exist ----------------------------------


def _free(monkeypatch: pytest.MonkeyPatch, nbytes: int | None) -> None:
    monkeypatch.setattr(common, "available_memory", lambda: nbytes)


@pytest.mark.parametrize("with_gap", [False, True])
def test_an_edge_list_whose_dense_matrices_would_not_fit_is_refused_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_gap: bool
) -> None:
    """Need: 2 (the reader's array and the Connectome's copy) x matrices x n**2 x 8 bytes; exactly that fits, a byte less does not."""
    n = 30
    (tmp_path / "e.csv").write_text("pre,post,weight\n" + "".join(f"{i},{(i + 1) % n},1\n" for i in range(n)))
    (tmp_path / "g.csv").write_text("a,b,count\n0,1,1\n")
    src = FileConnectome(path=tmp_path / "e.csv", gap_junctions=(tmp_path / "g.csv") if with_gap else None)
    need = 2 * (2 if with_gap else 1) * n * n * 8
    _free(monkeypatch, need)
    assert src.load().n_regions == n
    _free(monkeypatch, need - 1)
    allocated = []
    real_bincount = np.bincount
    monkeypatch.setattr(np, "bincount", lambda *a, **k: allocated.append(1) or real_bincount(*a, **k))
    with pytest.raises(DataError) as e:
        src.load()
    assert not allocated and e.value.problems[0][0] == "connectome.path" and len(str(e.value).splitlines()) == 1
    assert f"{n} neurons" in str(e.value) and "docs/performance.md" in str(e.value)
    _free(monkeypatch, None)  # unknown: nothing to compare with, so it is read
    assert src.load().n_regions == n


def test_a_flywire_scale_list_held_dense_is_refused_with_the_size_it_would_need_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    _free(monkeypatch, 64 * 2**30)
    with pytest.raises(DataError) as e:
        common.check_dense(139_255, 1, "'flywire.csv'", "path")
    msg = str(e.value)  # 139,255**2 * 8 bytes = 144.5 GiB (155 GB), twice that while built
    assert "(139,255, 139,255) float64 weight matrix" in msg and "144.5 GiB" in msg and "289.0 GiB" in msg and "64.0 GiB available" in msg
    assert "storage: sparse" in msg


# -- through the command line ---------------------------------------------------------------


def _study(tmp_path: Path, connectome: str, protocol: str = "[{kind: warmup, steps: 10}]") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"name: edges\nseed: 3\nreplicates: 2\nconnectome: {connectome}\n"
        "brain: {neuron: {kind: lif, nmda_groups: []}, cellular: {mv_per_synapse: 1.0}, device: cpu}\n"
        f"conditions: [{{name: connectome}}, {{name: rewired, null_model: {{kind: degree_preserving}}}}]\nprotocol: {protocol}\n"
    )
    return path


def test_a_cellular_study_runs_on_an_edge_list_end_to_end(tmp_path: Path) -> None:
    w, g, signs = _wiring()
    rng = np.random.default_rng(5)
    _write_edges(tmp_path / "e.csv", w, signs, rng)
    _write_gap(tmp_path / "g.csv", g, rng)
    study = _study(tmp_path, f"{{kind: file, path: {tmp_path / 'e.csv'}, format: edges, gap_junctions: {tmp_path / 'g.csv'}}}",
                   "[{kind: warmup, steps: 300}]")
    assert main(["run", str(study), "--out", str(tmp_path / "out"), "-q", "--executor", "serial"]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert {(r["condition"], r["replicate"]) for r in rows} == {(c, i) for c in ("connectome", "rewired") for i in ("0", "1")}
    rates = [float(r["value"]) for r in rows if r["metric"] == "rate_hz"]
    assert len(rates) == 4 and all(0.0 < x < 200.0 for x in rates)


@pytest.mark.parametrize(
    ("edges", "gap", "message"),
    [
        ("pre,post\na,b\n", None, "connectome.path: 'e.csv' has no weight column (its header: pre, post)"),
        ("pre,post,weight\na,b,nan\n", None, "connectome.path: 'e.csv' line 2: weight is 'nan'; it must be a finite number >= 0"),
        ("pre,post,weight,sign\na,b,1,1\nb,a,1,2\n", None, "connectome.path: 'e.csv' line 3: sign '2' is not 1, -1, 0"),
        ("pre,post,weight\na,b,1\n", "a,b,count\na,b,1\nb,a,1\n", "connectome.gap_junctions: 'g.csv' lists the pair 'a', 'b' both ways"),
    ],
    ids=["no-weight", "nan", "sign", "gap-both-ways"],
)
def test_a_bad_edge_list_is_one_line_and_exit_code_2(tmp_path: Path, capsys, edges: str, gap: str | None, message: str) -> None:
    (tmp_path / "e.csv").write_text(edges)
    extra = ""
    if gap is not None:
        (tmp_path / "g.csv").write_text(gap)
        extra = f", gap_junctions: {tmp_path / 'g.csv'}"
    assert main(["validate", str(_study(tmp_path, f"{{kind: file, path: {tmp_path / 'e.csv'}{extra}}}"))]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and message in err, err


def test_a_too_large_edge_list_fails_validation_in_one_line(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "e.csv").write_text("pre,post,weight\n" + "".join(f"{i},{i + 1},1\n" for i in range(200)))
    _free(monkeypatch, 1 << 18)  # 2 x 201**2 x 8 bytes = 631 KiB do not fit in 256 KiB
    assert main(["validate", str(_study(tmp_path, f"{{kind: file, path: {tmp_path / 'e.csv'}}}"))]) == 2
    err = capsys.readouterr().err
    assert "connectome.path: 'e.csv': the dense (201, 201) float64 weight matrix" in err and len(err.strip().splitlines()) == 1, err
