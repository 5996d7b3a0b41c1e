"""Null models on neuron-level connectomes: gap junctions kept or rewired, cell-class-preserving rewiring."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path

import attrs
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from encephagen.cli import main
from encephagen.connectome import Connectome, centre_distances
from encephagen.errors import ConfigError, DataError
from encephagen.invariants import check_invariants, checks_for, class_wiring_kept
from encephagen.testing import null_model_checks
from encephagen_builtins.null_models import (
    CellClassPreserving,
    DegreePreserving,
    ErdosRenyi,
    Spatial,
    StrengthPreserving,
    WeightShuffle,
)

needs_cect = pytest.mark.skipif(
    importlib.util.find_spec("cect") is None, reason="the worm data come from the package cect: pip install --no-deps cect"
)
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def neurons(seed: int, n: int = 18, density: float = 0.25, gap_density: float = 0.2, symmetric: bool = False,
            n_classes: int = 5, gaps: bool = True) -> Connectome:
    """A random neuron-level connectome: synapse counts, self-loops, gap junctions (some on the diagonal),
    signs, ``n_classes`` cell classes of mixed sizes, positions and tract lengths."""
    r = np.random.default_rng(seed)
    w = np.where(r.random((n, n)) < density, r.integers(1, 6, (n, n)), 0).astype(float)
    if symmetric:
        w = np.triu(w, 1) + np.triu(w, 1).T
    np.fill_diagonal(w, np.where(r.random(n) < 0.2, 1.0, 0.0))
    g = np.triu(np.where(r.random((n, n)) < gap_density, r.integers(1, 8, (n, n)), 0), 1).astype(float)
    g = g + g.T
    np.fill_diagonal(g, np.where(r.random(n) < 0.2, 2.0, 0.0))
    pos = r.normal(0.0, 0.3, (n, 3))
    return Connectome(
        w, [f"N{i}" for i in range(n)], positions=pos, tract_lengths=centre_distances(pos), groups={"a": (0, 1)},
        name=f"neurons{seed}", resolution="neurons", gap_junctions=g if gaps else None,
        signs=r.choice([-1, 0, 1], n), cell_classes=[f"K{i % n_classes}" for i in range(n)],
    )


@st.composite
def neuron_graphs(draw: st.DrawFn) -> Connectome:
    return neurons(
        seed=draw(st.integers(0, 2**32 - 1)), n=draw(st.integers(4, 24)), density=draw(st.floats(0.05, 0.6)),
        gap_density=draw(st.floats(0.0, 0.5)), symmetric=draw(st.booleans()), n_classes=draw(st.integers(1, 8)),
    )


def _instances(gap: str) -> list:
    return [
        DegreePreserving(gap_junctions=gap),
        DegreePreserving(variant="directed", gap_junctions=gap),
        ErdosRenyi(gap_junctions=gap),
        WeightShuffle(gap_junctions=gap),
        StrengthPreserving(tolerance=0.2, max_iterations=3000, gap_junctions=gap),
        CellClassPreserving(swaps_per_edge=100, gap_junctions=gap),
        CellClassPreserving(match="targets", swaps_per_edge=100, gap_junctions=gap),
    ]


MODELS = [*_instances("keep"), *_instances("rewire"), Spatial(bins=4, swaps_per_edge=20)]


def _id(m) -> str:
    return "-".join(str(x) for x in (m.name, getattr(m, "variant", ""), getattr(m, "match", ""), getattr(m, "gap_junctions", "")) if x)


def randomize_or_report(model, c: Connectome, seed: int) -> Connectome | None:
    """The surrogate; ``None`` when strength_preserving honestly reports an unreached tolerance."""
    try:
        return model.randomize(c, np.random.default_rng(seed))
    except ConfigError as e:
        assert isinstance(model, StrengthPreserving), e
        assert e.problems[0][0] == "tolerance" and "raise tolerance or max_iterations" in str(e)
        assert float(re.search(r"deviation of ([0-9.e+-]+)", str(e)).group(1)) > model.tolerance
        return None


def _off(g: np.ndarray) -> np.ndarray:
    g = g.copy()
    np.fill_diagonal(g, 0.0)
    return g


def gap_degree(g: np.ndarray) -> np.ndarray:
    return np.count_nonzero(_off(g), axis=1)


def gap_counts(g: np.ndarray) -> list[float]:
    return sorted(g[np.triu(g, 1) != 0])


# -- every built-in model on small neuron-level graphs ------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=_id)
@SETTINGS
@given(c=neuron_graphs(), seed=st.integers(0, 2**32 - 1))
def test_declared_invariants_hold_and_gap_junctions_are_kept_or_rewired(model, c, seed):
    before = attrs.evolve(c)
    sur = randomize_or_report(model, c, seed)
    assert c == before  # input untouched, gap junctions included
    if sur is None:
        return
    assert check_invariants(model, c, sur) == []
    assert c.anatomy_differences(sur, gap_junctions=False) == []  # signs, classes, resolution, ... carried over
    g = sur.gap_junctions
    assert np.array_equal(g, g.T) and np.array_equal(np.diag(g), np.diag(c.gap_junctions))
    step = sur.history[-1]
    if getattr(model, "gap_junctions", "keep") == "keep":
        assert np.array_equal(g, c.gap_junctions) and step.endswith("; gap junctions kept")
    else:
        assert "; gap junctions rewired (undirected): " in step
        assert gap_counts(g) == gap_counts(c.gap_junctions)  # every model keeps the counts of the pairs


@pytest.mark.parametrize("model", MODELS, ids=_id)
@SETTINGS
@given(c=neuron_graphs(), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_surrogate(model, c, seed):
    a, b = (randomize_or_report(model, c, seed) for _ in range(2))
    assert (a is None) == (b is None)
    if a is not None:
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.gap_junctions, b.gap_junctions)
        assert a.history == b.history


@pytest.mark.parametrize("keep", _instances("keep")[:-1], ids=_id)
@pytest.mark.parametrize("seed", range(4))
def test_rewiring_gap_junctions_leaves_the_chemical_surrogate_as_it_was(keep, seed):
    # The gap junctions are drawn after the chemical wiring, from the same generator.
    c = neurons(seed, n=24, gap_density=0.3)
    rewired = attrs.evolve(keep, gap_junctions="rewire")
    a, b = randomize_or_report(keep, c, seed), randomize_or_report(rewired, c, seed)
    assert (a is None) == (b is None)
    if a is not None:
        assert np.array_equal(a.weights, b.weights)
        assert b.history[-1].startswith(a.history[-1].removesuffix("; gap junctions kept") + "; gap junctions rewired")


@pytest.mark.parametrize("model", _instances("rewire"), ids=_id)
def test_rewire_moves_the_gap_junctions_and_keeps_what_the_model_promises(model):
    c = neurons(3, n=30, gap_density=0.3, n_classes=3)
    g0 = c.gap_junctions
    a, b = (model.randomize(c, np.random.default_rng(s)).gap_junctions for s in (1, 2))
    assert not np.array_equal(a, g0) and not np.array_equal(a, b)
    assert gap_counts(a) == gap_counts(g0)
    if isinstance(model, ErdosRenyi):
        assert not np.array_equal(a != 0, g0 != 0)
    else:  # every other model keeps each neuron's number of gap partners
        assert np.array_equal(gap_degree(a), gap_degree(g0))
    if isinstance(model, WeightShuffle):
        assert np.array_equal(a != 0, g0 != 0)
    if isinstance(model, DegreePreserving):
        assert np.count_nonzero(np.triu(a, 1) != 0) - np.count_nonzero(np.triu(a, 1) * np.triu(g0, 1) != 0) > 10


def test_erdos_renyi_places_gap_pairs_uniformly():
    # 5 neurons, 3 joined pairs out of 10: every pair is equally likely to be one of them.
    g = np.zeros((5, 5))
    for (i, j), v in zip([(0, 1), (1, 2), (3, 4)], (1.0, 2.0, 5.0)):
        g[i, j] = g[j, i] = v
    c = Connectome(np.zeros((5, 5)), list("ABCDE"), resolution="neurons", gap_junctions=g)
    model = ErdosRenyi(gap_junctions="rewire")
    hits = Counter()
    for seed in range(1500):
        s = model.randomize(c, np.random.default_rng(seed)).gap_junctions
        hits.update(zip(*np.nonzero(np.triu(s, 1))))
    assert len(hits) == 10 and sum(hits.values()) == 4500
    assert chisquare(list(hits.values())).pvalue > 1e-3


def test_rewiring_a_connectome_without_gap_junctions_is_a_no_op_that_says_so():
    c = neurons(4, gaps=False)
    for model in _instances("rewire"):
        keep = attrs.evolve(model, gap_junctions="keep")
        a, b = randomize_or_report(keep, c, 0), randomize_or_report(model, c, 0)
        if a is None:
            continue
        assert np.array_equal(a.weights, b.weights) and b.gap_junctions is None
        assert b.history[-1] == a.history[-1] + "; no gap junctions to rewire"
        assert "gap" not in a.history[-1]  # a region graph's step is what it always was


@pytest.mark.parametrize("model", _instances("rewire"), ids=_id)
@pytest.mark.parametrize("check", null_model_checks(), ids=lambda c: c.__name__)
def test_rewiring_models_pass_the_kit(model, check):
    check(model)


# -- the anatomy guard and the Connectome ------------------------------------------------------------


def test_only_a_model_asked_to_rewire_may_change_the_gap_junctions():
    c = neurons(5)
    sur = DegreePreserving(gap_junctions="rewire").randomize(c, np.random.default_rng(0))
    assert c.anatomy_differences(sur) == ["gap_junctions"] and c.anatomy_differences(sur, gap_junctions=False) == []
    assert checks_for(DegreePreserving(gap_junctions="rewire"))["anatomy"].gap_junctions is False
    assert checks_for(DegreePreserving())["anatomy"].gap_junctions is True
    # the same surrogate from a model that keeps them breaks its anatomy invariant
    assert check_invariants(DegreePreserving(), c, sur) == ["anatomy: anatomy changed: gap_junctions differ from the original"]
    # and a model that rewires them still has to keep the rest
    moved_signs = attrs.evolve(sur, signs=-c.signs)
    assert check_invariants(DegreePreserving(gap_junctions="rewire"), c, moved_signs)[0].startswith("anatomy: anatomy changed: signs")


def test_with_weights_validates_the_new_gap_junctions():
    c = neurons(6)
    g = c.gap_junctions.copy()
    g[0, 1] += 1.0
    with pytest.raises(DataError, match=r"gap_junctions: must be symmetric .*\[0, 1\] = "):
        c.with_weights(c.weights, "x", g)
    bare = neurons(6, gaps=False)
    with pytest.raises(DataError, match="has no gap junctions to replace"):
        bare.with_weights(bare.weights, "x", c.gap_junctions)
    out = c.with_weights(c.weights, "x", c.gap_junctions * 2)
    assert np.array_equal(out.gap_junctions, c.gap_junctions * 2) and out.history == (*c.history, "x")


def test_gap_junction_mode_is_validated():
    for cls in (DegreePreserving, ErdosRenyi, WeightShuffle, StrengthPreserving, CellClassPreserving):
        with pytest.raises(ValueError, match="gap_junctions"):
            cls(gap_junctions="shuffle")
    with pytest.raises(ValueError, match="match"):
        CellClassPreserving(match="sources")
    assert "gap_junctions" not in attrs.fields_dict(Spatial)


# -- strength_preserving on gap junctions -----------------------------------------------------------


def test_strength_preserving_keeps_gap_strengths_within_its_tolerance():
    c = neurons(7, n=24, gap_density=0.3)
    model = StrengthPreserving(tolerance=0.1, gap_junctions="rewire")
    sur = model.randomize(c, np.random.default_rng(0))
    s0, s1 = _off(c.gap_junctions).sum(axis=1), _off(sur.gap_junctions).sum(axis=1)
    assert np.all(np.abs(s1 - s0) <= 0.1 * s0 + 1e-9) and not np.array_equal(sur.gap_junctions, c.gap_junctions)
    assert check_invariants(model, c, sur) == []
    assert checks_for(model)["gap_strength"].rtol == 0.1


def test_strength_preserving_reports_an_unreached_gap_tolerance():
    # Every chemical weight is 1, so chemical strengths are degrees and are met exactly; the gap
    # counts are distinct, and one annealing move cannot restore every gap strength after the swaps.
    c = neurons(8, n=20, gap_density=0.4)
    c = attrs.evolve(c, weights=(c.weights > 0).astype(float))
    model = StrengthPreserving(tolerance=1e-9, max_iterations=1, gap_junctions="rewire")
    with pytest.raises(ConfigError, match=r"^tolerance: .*relative gap-junction strength deviation of [0-9.]+ .*after 1 moves"):
        model.randomize(c, np.random.default_rng(0))


# -- cell_class_preserving ----------------------------------------------------------------------------


def test_cell_class_preserving_needs_cell_classes():
    c = attrs.evolve(neurons(9), cell_classes=None)
    with pytest.raises(DataError) as err:
        CellClassPreserving().randomize(c, np.random.default_rng(0))
    assert err.value.problems[0][0] == "cell_classes" and len(str(err.value).splitlines()) == 1
    assert "celegans" in str(err.value) and "neurons9" in str(err.value)


def _class_profile(c: Connectome, outgoing: bool) -> Counter:
    """Counter of (neuron, class of partner) over chemical edges (written without the invariant module)."""
    cls = c.cell_classes
    src, dst = np.nonzero(c.between)
    return Counter((s, cls[d]) if outgoing else (d, cls[s]) for s, d in zip(src, dst))


def _class_weights(c: Connectome) -> dict:
    out: Counter = Counter()
    for s, d in zip(*np.nonzero(c.between)):
        out[c.cell_classes[s], c.cell_classes[d]] += c.between[s, d]
    return dict(out)


@pytest.mark.parametrize("match", ["both", "targets"])
@SETTINGS
@given(c=neuron_graphs(), seed=st.integers(0, 2**32 - 1))
def test_class_preserving_swaps_exchange_only_neurons_of_one_class(match, c, seed):
    sur = CellClassPreserving(match=match, swaps_per_edge=50, gap_junctions="rewire").randomize(c, np.random.default_rng(seed))
    assert _class_profile(sur, outgoing=True) == _class_profile(c, outgoing=True)
    if match == "both" or c.is_symmetric:
        assert _class_profile(sur, outgoing=False) == _class_profile(c, outgoing=False)
    assert _class_weights(sur).keys() == _class_weights(c).keys()
    assert all(np.isclose(v, _class_weights(c)[k]) for k, v in _class_weights(sur).items())
    gap_partners = [Counter((i, c.cell_classes[j]) for i, j in zip(*np.nonzero(_off(x.gap_junctions)))) for x in (c, sur)]
    assert gap_partners[0] == gap_partners[1]


def test_targets_match_lets_a_neurons_inputs_change_class():
    c = neurons(10, n=30, density=0.3, n_classes=3)
    sources = class_wiring_kept(sources=True)
    surs = [CellClassPreserving(match="targets", swaps_per_edge=50).randomize(c, np.random.default_rng(s)) for s in range(3)]
    assert all(class_wiring_kept(sources=False)(c, s) is None for s in surs)
    assert all("in-edges from class" in sources(c, s) for s in surs)  # the stricter check sees the difference
    assert all("match=targets" in s.history[-1] for s in surs)


def test_an_undirected_graph_matches_both_ends_whatever_match_says():
    c = neurons(11, n=24, density=0.3, symmetric=True, n_classes=3)
    sur = CellClassPreserving(match="targets", swaps_per_edge=50).randomize(c, np.random.default_rng(0))
    assert sur.is_symmetric and "(undirected, match=both," in sur.history[-1]
    assert class_wiring_kept(sources=True)(c, sur) is None and not np.array_equal(sur.weights, c.weights)


def test_neurons_of_classes_of_their_own_are_never_swapped():
    c = neurons(12, n=20, n_classes=20)
    sur = CellClassPreserving(gap_junctions="rewire", swaps_per_edge=20).randomize(c, np.random.default_rng(0))
    assert np.array_equal(sur.weights, c.weights) and np.array_equal(sur.gap_junctions, c.gap_junctions)
    assert re.search(r": 0 of \d+ attempted swaps applied; gap junctions rewired \(undirected\): 0 of", sur.history[-1])


def test_the_class_check_sees_gap_partners_change_class():
    c = neurons(13, n=12, n_classes=3)
    g = c.gap_junctions.copy()
    i, j = (int(x) for x in np.argwhere(np.triu(_off(g), 1))[0])
    k = next(k for k in range(12) if k not in (i, j) and c.cell_classes[k] != c.cell_classes[j] and g[i, k] == 0)
    g[i, k], g[k, i], g[i, j], g[j, i] = g[i, j], g[i, j], 0.0, 0.0
    msg = class_wiring_kept()(c, c.with_weights(c.weights, "hand-made", g))
    assert msg.startswith("gap-junction partners in class")


# -- study files ------------------------------------------------------------------------------------


def _validate(tmp_path: Path, null_model: dict, connectome: dict, capsys) -> tuple[int, str]:
    doc = {
        "name": "n", "replicates": 2, "connectome": connectome, "brain": {"neurons_per_region": 10},
        "conditions": [{"name": "connectome"}, {"name": "null", "null_model": null_model}],
        "protocol": [{"kind": "warmup", "steps": 10}],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    code = main(["validate", str(path)])
    return code, capsys.readouterr().err


def test_a_study_refuses_class_preserving_rewiring_of_regions_and_a_misspelt_mode(tmp_path, capsys):
    synthetic = {"kind": "synthetic", "n_regions": 8}
    code, err = _validate(tmp_path, {"kind": "cell_class_preserving"}, synthetic, capsys)
    assert code == 2 and err.startswith("error: conditions[1].null_model.cell_classes: ") and len(err.splitlines()) == 1
    code, err = _validate(tmp_path, {"kind": "degree_preserving", "gap_junctions": "shuffle"}, synthetic, capsys)
    assert code == 2 and "conditions[1].null_model.gap_junctions" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err


# -- the worm connectomes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worm() -> Connectome:
    from encephagen_builtins.connectomes.celegans import CelegansConnectome

    return CelegansConnectome(dataset="witvliet2021_8").load()


WORM_MODELS = [
    *(m(gap_junctions=g) for m in (DegreePreserving, ErdosRenyi, WeightShuffle, CellClassPreserving) for g in ("keep", "rewire")),
    CellClassPreserving(match="targets", gap_junctions="rewire"),
]


@needs_cect
@pytest.mark.parametrize("model", WORM_MODELS, ids=_id)
def test_every_built_in_model_on_a_worm_brain(model, worm):
    sur = model.randomize(worm, np.random.default_rng(0))
    assert check_invariants(model, worm, sur) == []
    assert np.array_equal(sur.signs, worm.signs) and sur.cell_classes == worm.cell_classes
    assert not np.array_equal(sur.weights, worm.weights)
    if not isinstance(model, WeightShuffle):
        assert np.count_nonzero((sur.between != 0) & (worm.between == 0)) > 0.1 * worm.n_edges
    g, g0 = sur.gap_junctions, worm.gap_junctions
    assert np.array_equal(g, g.T) and np.array_equal(np.diag(g), np.diag(g0))
    if model.gap_junctions == "keep":
        assert np.array_equal(g, g0)
    else:
        assert gap_counts(g) == gap_counts(g0) and not np.array_equal(g, g0)
        if not isinstance(model, ErdosRenyi):
            assert np.array_equal(gap_degree(g), gap_degree(g0))
    again = model.randomize(worm, np.random.default_rng(0))
    assert np.array_equal(again.weights, sur.weights) and np.array_equal(again.gap_junctions, g)


@needs_cect
def test_class_matching_on_both_ends_passes_far_fewer_swaps_than_on_targets(worm):
    # Measured (docstring of CellClassPreserving): about ten times fewer on every worm set.
    applied = {}
    for match in ("both", "targets"):
        step = CellClassPreserving(match=match, swaps_per_edge=100).randomize(worm, np.random.default_rng(0)).history[-1]
        applied[match] = int(re.search(r": (\d+) of", step).group(1))
    assert 0 < 5 * applied["both"] < applied["targets"]


@needs_cect
def test_strength_preserving_on_worm_counts_reports_its_tolerance_clearly(worm):
    # Measured: at the default tolerance (0.05) and 200,000 moves the search ends 0.10-0.30 off on
    # every worm set; neurons with one or two synapses leave no room for a relative tolerance.
    with pytest.raises(ConfigError) as err:
        StrengthPreserving().randomize(worm, np.random.default_rng(0))
    assert err.value.problems[0][0] == "tolerance" and len(str(err.value).splitlines()) == 1
    assert re.search(r"deviation of 0\.[1-9][0-9]* on connectome 'celegans:witvliet2021_8' .*raise tolerance", str(err.value))
    model = StrengthPreserving(tolerance=0.3, gap_junctions="rewire")
    sur = model.randomize(worm, np.random.default_rng(0))
    assert check_invariants(model, worm, sur) == [] and not np.array_equal(sur.gap_junctions, worm.gap_junctions)


@needs_cect
def test_spatial_refuses_a_worm_brain_without_lengths(worm):
    with pytest.raises(DataError) as err:
        Spatial().randomize(worm, np.random.default_rng(0))
    assert err.value.problems[0][0] == "tract_lengths" and "neither tract_lengths nor positions" in str(err.value)


@needs_cect
def test_the_worm_study_validates_with_rewired_gap_junctions(capsys):
    study = Path(__file__).parents[1] / "experiments" / "celegans_conditioning.yaml"
    for null in ("{kind: cell_class_preserving, gap_junctions: rewire}", "{kind: degree_preserving, gap_junctions: rewire}"):
        assert main(["validate", str(study), "--set", f"conditions[1].null_model={null}"]) == 0
        assert "valid." in capsys.readouterr().out
