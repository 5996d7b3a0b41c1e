"""Conformance checks: small functions a plugin author runs in their own test suite.

Each ``check_*`` raises ``AssertionError`` with a clear message when the
component breaks the contract of its kind. Parametrise them in pytest::

    import pytest
    from encephagen.testing import null_model_checks

    @pytest.mark.parametrize("check", null_model_checks(), ids=lambda c: c.__name__)
    def test_my_null_model(check):
        check(MyNullModel())
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from encephagen.connectome import Connectome, centre_distances
from encephagen.interfaces import KINDS


def _example(w: np.ndarray, pos: np.ndarray, **fields: object) -> Connectome:
    """A test graph with weights ``w`` and centres ``pos`` (mm), whose tract lengths are the centres' distances."""
    return Connectome(weights=w, positions=pos, tract_lengths=centre_distances(pos), **fields)  # type: ignore[arg-type]


def _example_connectomes() -> list[Connectome]:
    """Test graphs with self-loops, positions, tract lengths and cell classes (4 classes of 3 nodes).

    A directed and a symmetric 12-region graph, and a directed 16-neuron
    graph (``resolution="neurons"``) with gap junctions (a few on the
    diagonal too), signs and 8 classes of 2 neurons.
    """
    out = []
    for seed, sym in ((1, False), (2, True)):
        rng = np.random.default_rng(seed)
        n = 12
        w = rng.integers(1, 4, size=(n, n)) * (rng.random((n, n)) < 0.35)
        w = w.astype(float)
        if sym:
            w = np.triu(w, 1) + np.triu(w, 1).T
        np.fill_diagonal(w, (rng.random(n) < 0.5) * 2.0)
        pos = rng.normal(0, 30, size=(n, 3))
        out.append(_example(
            w, pos, labels=[f"R{i}" for i in range(n)], groups={"a": (0, 1, 2), "b": (5, 6)},
            name=f"check:{'symmetric' if sym else 'directed'}", cell_classes=[f"C{i % 4}" for i in range(n)],
        ))
    rng = np.random.default_rng(3)
    n = 16
    w = (rng.integers(1, 6, size=(n, n)) * (rng.random((n, n)) < 0.3)).astype(float)
    np.fill_diagonal(w, (rng.random(n) < 0.2) * 1.0)
    g = np.triu(rng.integers(1, 4, size=(n, n)) * (rng.random((n, n)) < 0.25), 1).astype(float)
    g = g + g.T
    g[[0, 5], [0, 5]] = 2.0
    pos = rng.normal(0, 0.3, size=(n, 3))  # drawn before the signs
    out.append(_example(
        w, pos, labels=[f"N{i // 2}{'LR'[i % 2]}" for i in range(n)], groups={"a": (0, 1, 2, 3), "b": (8, 9)},
        name="check:neurons", resolution="neurons", gap_junctions=g,
        signs=rng.choice([-1, 0, 1], size=n), cell_classes=[f"N{i // 2}" for i in range(n)],
    ))
    return out


# -- any component --------------------------------------------------------------------


def check_component_class(cls: type, kind: str) -> None:
    """An attrs class with a string ``name`` and default-constructible parameters."""
    assert kind in KINDS, f"unknown kind {kind!r}"
    assert attrs.has(cls), f"{cls.__qualname__} must be an attrs class (its fields are its parameters)"
    name = getattr(cls, "name", None)
    assert isinstance(name, str) and name, f"{cls.__qualname__} needs a class variable `name` (its kind: in study files)"
    assert name not in {a.name for a in attrs.fields(cls)}, "`name` must be a ClassVar, not a parameter"
    try:
        cls()
    except TypeError as exc:
        raise AssertionError(f"{cls.__qualname__}() must work with defaults only (the published values): {exc}") from None


# -- null models --------------------------------------------------------------------


def check_null_model_seeded(model: object) -> None:
    """The same seed gives the same surrogate."""
    for conn in _example_connectomes():
        a = model.randomize(conn, np.random.default_rng(7))  # type: ignore[attr-defined]
        b = model.randomize(conn, np.random.default_rng(7))  # type: ignore[attr-defined]
        assert np.array_equal(a.weights, b.weights), f"{conn.name}: same seed gave different surrogates"


def check_null_model_pure(model: object) -> None:
    """The input connectome is not changed (its arrays are compared to copies)."""
    for conn in _example_connectomes():
        before = conn.weights.copy()
        model.randomize(conn, np.random.default_rng(3))  # type: ignore[attr-defined]
        assert np.array_equal(conn.weights, before), f"{conn.name}: randomize() changed its input"


def check_null_model_keeps_anatomy(model: object) -> None:
    """Labels, positions, tract lengths, groups, signs, cell classes (and gap junctions, unless it rewires them) are carried over."""
    from encephagen.invariants import rewires_gap_junctions

    for conn in _example_connectomes():
        out = model.randomize(conn, np.random.default_rng(5))  # type: ignore[attr-defined]
        assert isinstance(out, Connectome), "randomize() must return a Connectome"
        diffs = conn.anatomy_differences(out, gap_junctions=not rewires_gap_junctions(model))
        assert not diffs, f"{conn.name}: the surrogate lost or changed {', '.join(diffs)}; use connectome.with_weights()"


def check_null_model_invariants(model: object) -> None:
    """Every declared invariant holds for several seeds."""
    from encephagen.invariants import INVARIANTS, check_invariants

    declared = getattr(model, "invariants", None)
    assert declared, "a null model declares the invariants it preserves (class variable `invariants`)"
    unknown = [i for i in declared if i not in INVARIANTS]
    assert not unknown, f"unknown invariants {unknown}; known: {sorted(INVARIANTS)}"
    for conn in _example_connectomes():
        for seed in range(5):
            out = model.randomize(conn, np.random.default_rng(seed))  # type: ignore[attr-defined]
            bad = check_invariants(model, conn, out)
            assert not bad, f"{conn.name}, seed {seed}: " + "; ".join(bad)


def null_model_checks() -> list[Callable[[object], None]]:
    """Every null-model check, for ``pytest.mark.parametrize``."""
    return [check_null_model_seeded, check_null_model_pure, check_null_model_keeps_anatomy, check_null_model_invariants]


# -- connectome sources ----------------------------------------------------------------


def check_connectome_source(source: object) -> None:
    """``load()`` returns a valid :class:`Connectome`, the same one twice."""
    a = source.load()  # type: ignore[attr-defined]
    b = source.load()  # type: ignore[attr-defined]
    assert isinstance(a, Connectome), "load() must return a Connectome"
    assert a == b, "load() must be deterministic"
    assert a.orientation, "a connectome states its orientation"
    assert a.provenance, "a connectome states its provenance"
