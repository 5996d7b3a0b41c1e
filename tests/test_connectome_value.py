"""The Connectome value checks itself and derives surrogates that keep the anatomy."""

from __future__ import annotations

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
