"""The ``celegans`` source: every shipped worm connectome, checked against what its paper reports.

Paper numbers (stated here and in docs/celegans.md, "The data"; the table ``PUBLISHED`` below holds them
with their sources and tolerances):

- White et al. 1986 (Phil. Trans. R. Soc. B 314:1), abstract: 302 neurons in 118 classes; "about 5000
  chemical synapses, 2000 neuromuscular junctions and 600 gap junctions" in a typical animal. cect's
  whole-animal White set is not that count: it is Varshney's reannotation plus the pharynx, so its
  somatic synapses are checked against Varshney's.
- Varshney et al. 2011 (PLoS Comput. Biol. 7:e1001066): 279 neurons, 6,393 chemical synapses, 890 gap
  junctions in 514 pairs.
- Cook et al. 2019 (Nature 571:63): 302 hermaphrodite and 385 male neurons; its weights are EM serial
  sections (number and size of synapses). The chemical and gap totals are those of its Supplementary
  Information 5 (adjacency matrices, corrected July 2020), summed over neuron pairs; the paper's text
  states none that could be checked.
- Witvliet et al. 2021 (Nature 596:257): eight brains from L1 to adult. The synapse count of its Fig. 1
  (all brain cells: neurons, muscles, glia), 1,296 at birth to 7,970 in adult 8, is printed by the
  authors' figure code (github.com/dwitvliet/nature2021, generate_figures.ipynb); the per-data-set
  synapses, connections, gap junctions and neurons are counted in the authors' annotation files there
  (data/synapses/DatasetN_synapses.json, DatasetN_gapjunctions.json) with their code's rules.
- WormAtlas: the 302 hermaphrodite neurons form 118 classes.

These tests need the data files of the package ``cect`` (``pip install
--no-deps cect``); CI installs it.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml

from encephagen.cli import main
from encephagen.errors import DataError
from encephagen_builtins.connectomes import celegans as worm
from encephagen_builtins.connectomes.celegans import CELEGANS_DATASETS, CelegansConnectome

needs_cect = pytest.mark.skipif(
    importlib.util.find_spec("cect") is None, reason="the worm data come from the package cect: pip install --no-deps cect"
)


def _load(dataset: str, **kw) -> object:
    return CelegansConnectome(dataset=dataset, **kw).load()


def _gap_total(g: np.ndarray) -> int:
    """Gap junctions as papers count them: each pair once, a junction of a neuron with itself once."""
    return int(round(np.triu(g, 1).sum() + np.trace(g)))


def test_a_missing_package_is_one_line_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError) as err:
        worm._cect_dir()
    assert err.value.problems[0][0] == "connectome.dataset"
    assert "pip install --no-deps cect" in str(err.value) and len(str(err.value).splitlines()) == 1


@needs_cect
@pytest.mark.parametrize("dataset", sorted(CELEGANS_DATASETS))
def test_connectome_show_works_for_every_shipped_set(dataset: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connectome", "show", f"celegans:{dataset}"]) == 0
    out = capsys.readouterr().out
    c = _load(dataset)
    info = CELEGANS_DATASETS[dataset]
    assert f"neurons       {c.n_regions} " in out and f"gap junctions {c.n_gap_junctions} " in out
    assert info.stage in out and info.paper.split(",")[0] in out and "Wang et al. 2024" in out
    assert c.resolution == "neurons" and c.gap_junctions is not None and c.signs is not None
    assert np.array_equal(c.gap_junctions, c.gap_junctions.T) and np.all(c.weights >= 0)
    assert set(worm.category_of(worm.cell_types()[lab]) for lab in c.labels) <= set(worm._CATEGORY_TYPES)


@needs_cect
def test_varshney_2011_neurons_are_those_that_make_synapses_plus_vc6() -> None:
    # The paper's 279 neurons are those that make synapses; cect's file also holds VC6, whose one
    # synapse goes to a muscle.
    c = _load("varshney2011")
    degree = (c.between > 0).sum(0) + (c.between > 0).sum(1) + (c.gap_junctions > 0).sum(1)
    assert c.n_regions == 280 and [c.labels[i] for i in np.flatnonzero(degree == 0)] == ["VC6"]


def _count(dataset: str, quantity: str) -> float:
    """One number of a shipped set (the quantities of ``PUBLISHED``)."""
    if quantity.endswith("_all"):  # every cell of cect's file: neurons, muscles, glia, other end organs
        _, mats = worm.read_matrices(CELEGANS_DATASETS[dataset].file)
        chem, gap = mats["Generic_CS"], mats["Generic_GJ"]
    else:  # the neurons, as loaded
        c = _load(dataset)
        chem, gap = c.weights, c.gap_junctions
        if quantity == "neurons":
            return c.n_regions
    return {
        "chemical": chem.sum(),
        "connections": np.count_nonzero(chem),  # ordered pairs, autapses included
        "gap": _gap_total(gap),
        "gap_pairs": np.count_nonzero(np.triu(gap, 1)),
    }[quantity.removesuffix("_all")]


_VARSHNEY = "Varshney et al. 2011, text"
_COOK = "Cook et al. 2019, Supplementary Information 5 (corrected July 2020), summed over neuron pairs"
_WITVLIET_SYN = "Witvliet et al. 2021 authors' annotation files (dwitvliet/nature2021 data/synapses), counted"
#: Witvliet datasets 1..8: synapses (one per presynaptic active zone and postsynaptic cell) and connections
#: between brain cells, the authors' rules (their src/data/data_manager.py); 1,296 and 7,970 are the two
#: ends of Fig. 1's synapse count, as their notebook prints them. Gap junctions: unique junctions between
#: brain cells (the paper reports none). Neurons: brain neurons with a chemical synapse.
_WITVLIET = {
    "chemical_all": (1296, 1895, 2128, 2777, 4116, 4456, 7467, 7970),
    "connections_all": (775, 986, 1012, 1136, 1515, 1525, 2202, 2186),
    "gap_all": (104, 132, 109, 243, 418, 267, 400, 430),
    "neurons": (161, 162, 162, 168, 173, 174, 180, 180),
}
#: Tolerances of the Witvliet rows: cect's files hold one gap junction more in datasets 2 (RICL with the
#: excretory gland) and 5 (AVBR-DB1), and one neuron more in 5 (DB1, ventral cord) and 6, 7 (CANR, which
#: the authors class as "other", not neuron), all cells outside the authors' brain-neuron list.
_WITVLIET_TOL = {"chemical_all": 0, "connections_all": 0, "gap_all": 1, "neurons": 1}

#: (dataset, quantity, published value, tolerance, source)
PUBLISHED = [
    # White 1986's abstract gives 302 neurons; the file lacks CANL and CANR, which make no synapses.
    # Its chemical and gap numbers are Varshney's (test_white_1986_whole_is_varshneys_somatic_data_plus_the_pharynx);
    # White's own "about 5000 / 600" (one figure, a typical animal, his annotation) are not a check of them.
    ("white1986_whole", "neurons", 302, 2, "White et al. 1986, abstract"),
    ("varshney2011", "neurons", 279, 1, _VARSHNEY),  # + VC6, no synapse onto a neuron
    ("varshney2011", "chemical", 6393, 1, _VARSHNEY),  # the file holds 6,394: one contact apart
    ("varshney2011", "gap", 890, 0, _VARSHNEY),  # 887 between distinct neurons + 3 on the diagonal
    ("varshney2011", "gap_pairs", 514, 0, _VARSHNEY),
    ("cook2019_herm", "neurons", 302, 0, "Cook et al. 2019, text (its 460 and 579 nodes)"),
    ("cook2019_herm", "chemical", 20965, 0, _COOK),  # EM serial sections
    ("cook2019_herm", "connections", 3709, 0, _COOK),
    ("cook2019_herm", "gap", 5779, 0, _COOK),  # 5,744 between 1,091 pairs + 35 of a neuron with itself
    ("cook2019_herm", "gap_pairs", 1091, 0, _COOK),
    ("cook2019_herm", "chemical_all", 28113, 0, _COOK + " (every cell)"),
    # the paper's male has 385 neurons; ADAR, BAGR and CA1 have no connections in cect's male matrices
    # and cect's cell table lacks one male-specific neuron
    ("cook2019_male", "neurons", 385, 4, "Cook et al. 2019, text (its 460 and 579 nodes)"),
    ("cook2019_male", "chemical", 36979, 0, _COOK),
    ("cook2019_male", "connections", 4048, 0, _COOK),
    ("cook2019_male", "gap", 9713, 0, _COOK),  # 9,642 between 1,281 pairs + 71 of a neuron with itself
    ("cook2019_male", "gap_pairs", 1281, 0, _COOK),
    ("cook2019_male", "chemical_all", 45959, 0, _COOK + " (every cell)"),
    *(
        (f"witvliet2021_{i + 1}", q, values[i], _WITVLIET_TOL[q], _WITVLIET_SYN)
        for q, values in _WITVLIET.items()
        for i in range(8)
    ),
]


@needs_cect
@pytest.mark.parametrize("dataset,quantity,published,tolerance,source", PUBLISHED, ids=[f"{r[0]}-{r[1]}" for r in PUBLISHED])
def test_every_shipped_set_matches_its_published_counts(dataset: str, quantity: str, published: int, tolerance: int, source: str) -> None:
    measured = _count(dataset, quantity)
    assert abs(measured - published) <= tolerance, f"{dataset} {quantity}: {measured:g}, published {published} ({source})"


def test_the_published_table_covers_every_shipped_set() -> None:
    rows = {(r[0], r[1]) for r in PUBLISHED}
    assert {d for d, _ in rows} == set(CELEGANS_DATASETS)
    assert all((d, "neurons") in rows for d in CELEGANS_DATASETS)


@needs_cect
def test_white_1986_whole_is_varshneys_somatic_data_plus_the_pharynx() -> None:
    white, varshney = _load("white1986_whole"), _load("varshney2011")
    herm = {n for n, t in worm.cell_types().items() if worm.category_of(t) and not t.startswith("Male")}
    assert len(herm) == 302 and herm - set(white.labels) == {"CANL", "CANR"}  # no synapses, not in the file
    idx = [white.labels.index(lab) for lab in varshney.labels]
    sub = np.ix_(idx, idx)
    assert np.array_equal(white.weights[sub], varshney.weights)
    # gap junctions: the two files differ on the shared neurons by a few (the files' own corrections)
    assert abs(_gap_total(white.gap_junctions[sub]) - _gap_total(varshney.gap_junctions)) <= 3
    pharynx = [i for i, lab in enumerate(white.labels) if worm.category_of(worm.cell_types()[lab]) == "pharyngeal"]
    assert len(pharynx) == 20 and white.weights.sum() > varshney.weights.sum()


@needs_cect
def test_cook_2019_neuron_counts_and_the_transmitter_table_lies_on_its_connections() -> None:
    herm, male = _load("cook2019_herm"), _load("cook2019_male")
    assert herm.n_regions == 302
    # the paper's male has 385 neurons; the shipped matrices lack ADAR, BAGR and CA1 (and cect's cell table one more)
    assert male.n_regions == 381 and not {"ADAR", "BAGR", "CA01"} & set(male.labels)
    assert {"HSNL", "HSNR", "VC1"}.isdisjoint(male.labels) and {"HSNL", "VC1", "ADAR"} <= set(herm.labels)
    # Wang et al. 2024's matrices mark Cook's connections of cells with each transmitter: every such pair is one
    nodes, mats = worm.read_matrices("Wang2024HermReader.json")
    pos = {lab: i for i, lab in enumerate(herm.labels)}
    for nt in ("Acetylcholine", "Glutamate", "GABA", "Betaine"):
        pre, post = np.nonzero(mats[nt])
        pairs = [(pos[nodes[a]], pos[nodes[b]]) for a, b in zip(pre, post) if nodes[a] in pos and nodes[b] in pos]
        assert pairs and all(herm.weights[a, b] > 0 for a, b in pairs)


@needs_cect
def test_witvliet_brains_gain_synapses_from_birth_to_adulthood() -> None:
    sets = [_load(f"witvliet2021_{i}") for i in range(1, 9)]
    chem = [c.weights.sum() for c in sets]
    assert all(a < b for a, b in zip(chem, chem[1:]))
    # Fig. 1: the brain's synapses (all its cells) grow about six-fold from birth (1,296) to adulthood (7,970)
    brain = [_count(f"witvliet2021_{i}", "chemical_all") for i in (1, 8)]
    assert 5.5 < brain[1] / brain[0] < 6.5
    assert [CELEGANS_DATASETS[f"witvliet2021_{i}"].stage for i in (1, 4, 5, 6, 7, 8)] == ["L1", "L1", "L2", "L3", "adult", "adult"]
    assert all(150 <= c.n_regions <= 185 and "ventral cord" in c.provenance for c in sets)


@needs_cect
def test_302_hermaphrodite_neurons_form_118_classes_and_groups_name_them() -> None:
    c = _load("cook2019_herm")
    assert len(set(c.cell_classes)) == 118
    cls = dict(zip(c.labels, c.cell_classes))
    assert cls["ASEL"] == cls["ASER"] == "ASE" and cls["RMDDL"] == "RMD" and cls["RMEV"] == "RME"
    assert cls["VA12"] == "VA" and cls["AVL"] == "AVL" and cls["PVR"] == "PVR" and cls["RID"] == "RID"
    names = lambda g: {c.labels[i] for i in c.group(g)}  # noqa: E731
    assert names("command_interneurons") == {f"{k}{s}" for k in ("AVA", "AVB", "AVD", "AVE", "PVC") for s in "LR"}
    assert names("dopaminergic") == {"CEPDL", "CEPDR", "CEPVL", "CEPVR", "ADEL", "ADER", "PDEL", "PDER"}
    assert names("touch") == {"ALML", "ALMR", "AVM", "PLML", "PLMR", "PVM"}
    assert {"ASEL", "AWCR", "AWAL"} <= names("chemosensory") and names("chemosensory") <= names("sensory")
    assert len(c.group("sensory")) + len(c.group("interneurons")) + len(c.group("motor")) + len(c.group("pharyngeal")) + 2 == 302


@needs_cect
def test_signs_follow_the_transmitters_and_the_glutamate_option() -> None:
    base, exc, inh = (_load("cook2019_herm", glutamate=g) for g in ("unknown", "excitatory", "inhibitory"))
    sign = lambda c, lab: int(c.signs[c.labels.index(lab)])  # noqa: E731
    assert sign(base, "VD5") == sign(base, "DD2") == -1  # GABAergic motor neurons
    assert sign(base, "AVAL") == sign(base, "VB4") == 1  # cholinergic
    assert sign(base, "AIBL") == 0 and sign(exc, "AIBL") == 1 and sign(inh, "AIBL") == -1  # glutamatergic
    assert sign(base, "CEPDL") == sign(exc, "CEPDL") == 0  # dopamine only: no fast transmitter
    assert sign(exc, "SMDVL") == 0  # acetylcholine and GABA together: unknown
    glu_only = [i for i, lab in enumerate(base.labels) if worm.transmitters(False).get(lab) == frozenset({"Glutamate"})]
    assert glu_only and np.all(exc.signs[glu_only] == 1) and np.all(inh.signs[glu_only] == -1)
    no_glu = [i for i, lab in enumerate(base.labels) if "Glutamate" not in worm.transmitters(False).get(lab, ())]
    assert np.array_equal(base.signs[no_glu], exc.signs[no_glu]) and np.array_equal(base.signs[no_glu], inh.signs[no_glu])


@needs_cect
def test_synapses_option_chooses_chemical_gap_or_both() -> None:
    both, chem, gap = (_load("witvliet2021_8", synapses=s) for s in ("both", "chemical", "gap"))
    assert chem.gap_junctions is None and np.array_equal(chem.weights, both.weights)
    assert not gap.weights.any() and np.array_equal(gap.gap_junctions, both.gap_junctions)
    assert both.digest() != chem.digest() != gap.digest()
    assert {"AVAL"} <= set(_load("witvliet2021_8", groups={"ava": ["AVAL", "AVAR"]}).labels)


# -- cellular brains in a study ---------------------------------------------------------

WORM_STUDY = Path(__file__).parents[1] / "experiments" / "celegans_conditioning.yaml"


def _study_problems(tmp_path: Path, brain: dict, connectome: dict | None = None) -> list[tuple[str, str]]:
    from encephagen.errors import EncephagenError
    from encephagen.plugins import default_registry
    from encephagen.study import prepare

    doc = {
        "name": "w", "replicates": 2, "connectome": connectome or {"kind": "synthetic", "n_regions": 6},
        "brain": brain, "conditions": [{"name": "c"}], "protocol": [{"kind": "warmup", "steps": 10}],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        prepare(path, default_registry())
    except EncephagenError as exc:
        return list(exc.problems)
    return []


def test_a_cellular_brain_takes_no_microcircuit_keys_no_delays_and_only_neurons(tmp_path: Path) -> None:
    lif = {"kind": "lif", "nmda_groups": []}
    assert [f for f, _ in _study_problems(tmp_path, {"neuron": lif, "cellular": {}, "neurons_per_region": 10})] == ["brain.neurons_per_region"]
    assert [f for f, _ in _study_problems(tmp_path, {"neuron": lif, "cellular": {}, "delays": {}})] == ["brain.delays"]
    assert [f for f, _ in _study_problems(tmp_path, {"neuron": lif, "cellular": {"g_gapp": 0.1}})][0].startswith("brain.cellular")
    region = _study_problems(tmp_path, {"neuron": lif, "cellular": {}})
    assert [f for f, _ in region] == ["brain.cellular"] and "neuron-level connectome" in region[0][1]


@needs_cect
def test_the_default_calibration_is_neither_silent_nor_saturated() -> None:
    """Mean rate, share of neurons silent over 300 ms, share above 200 Hz, after 200 ms (defaults of brain.cellular, lif)."""
    import torch

    from encephagen.engine import Brain, Cellular, Record, build_network
    from encephagen_builtins.neurons import LIF

    for dataset in ("cook2019_herm", "varshney2011", "witvliet2021_1", "witvliet2021_8"):
        net = build_network(_load(dataset), Cellular(), np.random.default_rng(0), LIF(nmda_groups=()), device="cpu")
        brain = Brain(net, np.random.default_rng(1), compile=False)
        brain.run(2000)
        hz = brain.run(3000, record=Record(neurons=True)).neuron_counts[0].to(torch.float64).numpy() / 0.3
        assert 5.0 <= hz.mean() <= 30.0 and (hz == 0).mean() <= 0.1 and (hz > 200).mean() == 0.0, (dataset, hz.mean())


@needs_cect
def test_the_worm_conditioning_study_runs_end_to_end(tmp_path: Path) -> None:
    """The experiment file, shortened (2 replicates, 5 trials), through the command line."""
    doc = yaml.safe_load(WORM_STUDY.read_text())
    doc["replicates"] = 2
    doc["brain"]["batch"] = 2
    doc["protocol"][0]["steps"] = 500
    doc["protocol"][1].update(trials=5, cs_steps=200, us_steps=200, gap_steps=100, test_baseline_steps=100)
    path = tmp_path / "worm.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert {(r["condition"], r["replicate"]) for r in rows} == {(c, i) for c in ("connectome", "rewired") for i in ("0", "1")}
    cond = {r["metric"] for r in rows if r["task"] == "conditioning"}
    assert {"cond_final", "cond_gain", "cond_slope"} <= cond
    assert all(np.isfinite(float(r["value"])) for r in rows)
    rates = [float(r["value"]) for r in rows if r["metric"] == "rate_hz"]
    assert all(1.0 < x < 100.0 for x in rates)


DEVELOPMENT_STUDY = Path(__file__).parents[1] / "experiments" / "celegans_development.yaml"


@needs_cect
def test_the_developmental_study_wires_each_stage_from_its_own_animal(tmp_path: Path) -> None:
    """The Witvliet factor, shortened to the first and last animal: each cell is built from its own data set."""
    doc = yaml.safe_load(DEVELOPMENT_STUDY.read_text())
    stages = doc["factors"]["stage"]
    assert [lv["connectome"]["dataset"] for lv in stages.values()] == [f"witvliet2021_{i}" for i in range(1, 9)]
    doc["factors"]["stage"] = {k: stages[k] for k in ("1_L1", "8_adult")}
    doc["replicates"] = 3
    doc["brain"]["batch"] = 3
    doc["protocol"][0]["steps"] = 300
    doc["protocol"][1].update(trials=2, test_every=1, cs_steps=100, us_steps=100, gap_steps=50, test_baseline_steps=50)
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert {(r["condition"], r["stage"]) for r in rows} == {(c, s) for c in ("connectome", "rewired") for s in ("1_L1", "8_adult")}
    inter = list(csv.DictReader((tmp_path / "out" / "interactions.csv").open()))
    assert {r["factor"] for r in inter} == {"stage"} and {r["metric"] for r in inter} >= {"cond_gain", "rate_hz"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "celegans:witvliet2021_1" in report and "celegans:witvliet2021_8" in report


@needs_cect
def test_validate_names_every_connectome_a_factor_brings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEVELOPMENT_STUDY)]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "2 tasks on 8 connectomes (celegans:witvliet2021_1, celegans:witvliet2021_2," in head and "; 161-181 neurons)" in head
