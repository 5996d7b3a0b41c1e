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


def _example_connectomes() -> list[Connectome]:
    """A directed and a symmetric test graph with self-loops, positions and tract lengths."""
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
        out.append(
            Connectome(
                weights=w,
                labels=[f"R{i}" for i in range(n)],
                positions=pos,
                tract_lengths=centre_distances(pos),
                groups={"a": (0, 1, 2), "b": (5, 6)},
                name=f"check:{'symmetric' if sym else 'directed'}",
            )
        )
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
    """Labels, positions, tract lengths and groups are carried over."""
    for conn in _example_connectomes():
        out = model.randomize(conn, np.random.default_rng(5))  # type: ignore[attr-defined]
        assert isinstance(out, Connectome), "randomize() must return a Connectome"
        diffs = conn.anatomy_differences(out)
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
