"""The Connectome value checks itself and derives surrogates that keep the anatomy."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings

from encephagen.connectome import Connectome, groups_by_substring
from encephagen_builtins.connectomes import REFERENCE_GROUPS
from encephagen.errors import DataError
from encephagen.testing.strategies import connectomes


def _c(w, labels=None, **kw) -> Connectome:
    n = np.asarray(w).shape[0] if np.asarray(w).ndim else 0
    return Connectome(weights=w, labels=labels if labels is not None else [f"R{i}" for i in range(n)], **kw)


@pytest.mark.parametrize(
    "weights,kw,field",
    [
        (np.ones((2, 3)), {}, "weights"),
        (np.array([[0, np.nan], [1, 0]]), {}, "weights"),
        (np.array([[0, -1.0], [1, 0]]), {}, "weights"),
        (np.ones((2, 2)), {"labels": ["a"]}, "labels"),
        (np.ones((2, 2)), {"positions": np.ones((2, 2))}, "positions"),
        (np.ones((2, 2)), {"tract_lengths": -np.ones((2, 2))}, "tract_lengths"),
        (np.ones((2, 2)), {"groups": {"visual": (0, 5)}}, "groups.visual"),
    ],
)
def test_bad_values_name_their_field(weights, kw, field) -> None:
    with pytest.raises(DataError) as err:
        _c(weights, **kw)
    assert err.value.problems[0][0] == field
    assert len(str(err.value).splitlines()) == 1


def test_arrays_are_frozen_copies() -> None:
    w = np.ones((3, 3))
    c = _c(w)
    w[0, 1] = 5
    assert c.weights[0, 1] == 1
    with pytest.raises(ValueError):
        c.weights[0, 1] = 2


@settings(max_examples=40, deadline=None)
@given(connectomes())
def test_with_weights_keeps_the_anatomy_and_degrees_ignore_self_loops(conn: Connectome) -> None:
    rng = np.random.default_rng(0)
    other = conn.with_weights(rng.permutation(conn.weights.ravel()).reshape(conn.weights.shape), "shuffle")
    assert conn.anatomy_equal(other) and other.history == ("shuffle",)
    b = conn.between
    assert np.all(np.diag(b) == 0)
    assert conn.out_degree().sum() == conn.in_degree().sum() == conn.n_edges == np.count_nonzero(b)


def test_reference_groups_match_by_substring() -> None:
    labels = ["RM-V1_R", "RM-PHC_R", "RM-HC_L", "TM-F_R", "RM-Amyg_L", "RM-PFCol_R"]
    g = groups_by_substring(labels, REFERENCE_GROUPS)
    assert g["visual"] == (0,) and g["hippocampus"] == (1, 2) and g["thalamus"] == (3,)
    assert g["amygdala"] == (4,) and g["prefrontal"] == (5,) and "motor" not in g


# -- neuron-level fields: gap junctions, signs, cell classes, resolution --------------


def _old_digest(c: Connectome) -> str:
    """The digest as written before the neuron-level fields existed (an independent copy of that code)."""
    import hashlib
    import json

    h = hashlib.sha256()
    for arr in (c.weights, c.positions, c.tract_lengths):
        h.update(b"none" if arr is None else np.ascontiguousarray(arr, dtype=np.float64).tobytes() + str(arr.shape).encode())
    if c.filled_lengths is not None:
        h.update(b"filled" + np.packbits(c.filled_lengths).tobytes())
    meta = {"labels": list(c.labels), "groups": {k: list(v) for k, v in c.groups.items()}, "orientation": c.orientation}
    h.update(json.dumps(meta, sort_keys=True).encode("utf-8"))
    return h.hexdigest()


@settings(max_examples=30, deadline=None)
@given(connectomes())
def test_a_region_graph_digests_as_before_the_neuron_fields(conn: Connectome) -> None:
    assert conn.resolution == "regions" and conn.gap_junctions is None and conn.signs is None and conn.cell_classes is None
    assert conn.digest() == _old_digest(conn)
    assert conn.with_lengths_filled(1.0).digest() == _old_digest(conn.with_lengths_filled(1.0))


def _cellular(n: int = 4, **kw) -> Connectome:
    w = np.zeros((n, n))
    w[0, 1], w[1, 2], w[2, 0] = 3, 1, 2
    gap = np.zeros((n, n))
    gap[0, 3] = gap[3, 0] = 2
    gap[1, 2] = gap[2, 1] = 1
    fields = dict(resolution="neurons", gap_junctions=gap, signs=[1, -1, 0, 1], cell_classes=["AVA", "AVA", "RIM", "ASE"])
    fields.update(kw)
    return _c(w, **fields)


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"gap_junctions": np.triu(np.ones((4, 4)), 1)}, "gap_junctions"),  # one direction only
        ({"gap_junctions": -np.ones((4, 4))}, "gap_junctions"),
        ({"gap_junctions": np.ones((3, 3))}, "gap_junctions"),
        ({"gap_junctions": np.full((4, 4), np.nan)}, "gap_junctions"),
        ({"signs": [1, 2, 0, -1]}, "signs"),
        ({"signs": [1, 0]}, "signs"),
        ({"cell_classes": ["A"]}, "cell_classes"),
        ({"resolution": "cells"}, "resolution"),
    ],
)
def test_bad_neuron_fields_name_their_field(kw, field) -> None:
    with pytest.raises(DataError) as err:
        _cellular(**kw)
    assert err.value.problems[0][0] == field
    assert len(str(err.value).splitlines()) == 1


def test_every_neuron_field_enters_the_digest_and_counts_gap_junctions_once() -> None:
    c = _cellular()
    assert c.n_gap_junctions == 3 and _c(c.weights).n_gap_junctions == 0
    variants = [
        attrs.evolve(c, resolution="regions"),
        attrs.evolve(c, gap_junctions=None),
        attrs.evolve(c, gap_junctions=c.gap_junctions * 2),
        attrs.evolve(c, signs=[1, 1, 0, 1]),
        attrs.evolve(c, signs=None),
        attrs.evolve(c, cell_classes=["AVA", "AVA", "RIM", "AWC"]),
    ]
    digests = {c.digest(), *(v.digest() for v in variants)}
    assert len(digests) == len(variants) + 1


def test_a_surrogate_keeps_signs_classes_and_gap_junctions() -> None:
    c = _cellular()
    rng = np.random.default_rng(3)
    s = c.with_weights(rng.permutation(c.weights.ravel()).reshape(c.weights.shape), "shuffle")
    assert s.anatomy_equal(c) and s.resolution == "neurons"
    assert np.array_equal(s.gap_junctions, c.gap_junctions) and np.array_equal(s.signs, c.signs)
    assert s.cell_classes == c.cell_classes
    assert c.with_weights_scaled(2.0, "x2").gap_junctions is not None
    assert np.array_equal(c.with_weights_scaled(2.0, "x2").gap_junctions, c.gap_junctions)  # counts are not scaled
    changed = attrs.evolve(s, gap_junctions=np.zeros((4, 4)), signs=[1, 1, 1, 1], cell_classes=list("abcd"))
    assert set(c.anatomy_differences(changed)) == {"gap_junctions", "signs", "cell_classes"}
    assert c.anatomy_differences(attrs.evolve(c, resolution="regions")) == ["resolution"]
