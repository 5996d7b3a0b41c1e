"""Permutation test of a condition x factor interaction in a factorial study.

A factorial study crosses conditions (the reference, for example the
connectome, and others such as "rewired") with factors (learning rule,
coupling, ...), and each cell holds one metric value per replicate brain.
:func:`interaction_test` asks, for one non-reference condition against the
reference, one metric and one factor F with k >= 2 levels: does the
condition's effect differ across the levels of F? The level combinations of
the other factors form strata.

Models (least squares; ``c`` = 1 for the condition, 0 for the reference):

- reduced model Z (the null): one dummy per (level, stratum) cell present, so
  F, the strata and their interaction are nuisance, plus ``c`` times one dummy
  per stratum, so the condition's effect may depend on the stratum but not on
  the level of F;
- full model X: one dummy per (condition, level, stratum) cell present.

Null hypothesis: within every stratum the condition's effect is the same at
every level of F. The statistic is the usual F ratio
``((RSS_Z - RSS_X) / df1) / (RSS_X / df2)`` with ``df1 = rank X - rank Z`` and
``df2 = n - rank X`` (ranks computed, so missing cells are handled).

The p-value comes from the Freedman-Lane procedure: fit Z, permute its
residuals over all observations, add them back to Z's fitted values and
recompute F; ``p = (1 + #{F* >= F}) / (1 + n_perm)``. It needs no normality
and, because F is pivotal, it stays close to exact for non-normal noise and
small samples. The procedure is from Freedman & Lane (1983), "A
nonstochastic interpretation of reported significance levels", J. Bus. Econ.
Stat. 1:292-298; Anderson & Legendre (1999), J. Stat. Comput. Simul.
62:271-303, compare it with other permutation schemes for linear models, and
Winkler et al. (2014), NeuroImage 92:381-397, give the general formulation
used here.

Because Z lies inside X, the fitted part of ``y* = yhat_Z + P e_Z`` drops out
of both residual sums, so every ``F*`` is computed from the permuted residuals
alone: with orthonormal bases of Z and of the interaction part of X, formed
once, many permutations are evaluated at once as small matrix products.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

__all__ = ["METHOD", "InteractionResult", "interaction_test"]

#: One sentence for the report.
METHOD = (
    "Freedman-Lane permutation test (9,999 permutations of reduced-model residuals "
    "by default) of the condition x factor interaction, F statistic; nuisance: "
    "factor level x other-factor cells and the condition effect within each "
    "other-factor stratum"
)

#: Largest number of permuted values held at once (bounds memory).
_CHUNK = 2_000_000
#: F* counts as "at least F" down to ``_TOL * max(1, F)`` below it (rounding ties).
_TOL = 1e-9


@attrs.frozen
class InteractionResult:
    """The interaction test of one condition against the reference.

    ``statistic`` is the F ratio (NaN without a test) on ``df1`` and ``df2``
    degrees of freedom; ``p`` is the permutation p-value from ``n_perm``
    permutations (NaN and ``n_perm = 0`` without a test). ``n`` counts the
    observations used after NaN values were dropped. ``effects[l]``, one
    entry per level ``l`` of the factor, is the condition's effect
    ``mean(condition) - mean(reference)`` at level ``l``, averaged over the
    strata that have both at that level (NaN when none has). ``note`` is ""
    or says why there is no test.
    """

    statistic: float
    df1: int
    df2: int
    p: float
    n_perm: int
    n: int
    effects: tuple[float, ...]
    note: str


def _index(name: str, arr: Any, n: int) -> np.ndarray:
    """``arr`` as a 1-D array of ``n`` non-negative integers."""
    a = np.asarray(arr)
    if a.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) like values, got {a.shape}")
    if a.dtype == bool:
        return a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: expected integers, got {a.dtype} values")
    if np.any(a != np.round(a)) or np.any(a < 0):
        raise ValueError(f"{name}: expected non-negative integers")
    return a.astype(np.int64)


def _dummies(*keys: np.ndarray) -> np.ndarray:
    """Shape ``(n, cells)``: one 0/1 column per combination of ``keys`` present."""
    _, cell = np.unique(np.stack(keys), axis=1, return_inverse=True)
    cell = cell.ravel()
    return (cell[:, None] == np.arange(cell.max() + 1)).astype(np.float64)


def _basis(a: np.ndarray) -> np.ndarray:
    """Shape ``(n, rank a)``: an orthonormal basis of the column space of ``a``."""
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    if s.size == 0 or s[0] == 0.0:
        return u[:, :0]
    return u[:, s > s[0] * max(a.shape) * np.finfo(np.float64).eps]


def _effects(
    y: np.ndarray, c: np.ndarray, lev: np.ndarray, st: np.ndarray, k: int
) -> tuple[float, ...]:
    """Per level: mean(condition) - mean(reference), averaged over strata with both."""
    out = []
    for level in range(k):
        diffs = []
        for s in np.unique(st[lev == level]):
            cell = (lev == level) & (st == s)
            on, off = y[cell & (c == 1)], y[cell & (c == 0)]
            if on.size and off.size:
                diffs.append(on.mean() - off.mean())
        out.append(float(np.mean(diffs)) if diffs else math.nan)
    return tuple(out)


def interaction_test(
    values: Any,
    condition: Any,
    level: Any,
    stratum: Any = None,
    *,
    rng: np.random.Generator,
    n_perm: int = 9999,
) -> InteractionResult:
    """Freedman-Lane permutation test of the condition x factor interaction.

    :param values: shape ``(n,)``, one metric value per brain; NaN marks a
        missing brain and is dropped with the matching entries below.
    :param condition: shape ``(n,)``, bool or 0/1: True/1 for the condition
        tested, False/0 for the reference.
    :param level: shape ``(n,)``, the level index ``0..k-1`` of the factor;
        ``k = max(level) + 1`` sets the length of ``effects``.
    :param stratum: shape ``(n,)``, the index of the other factors' level
        combination, or None when there are no other factors (all 0).
    :param rng: draws the permutations (seed it for a repeatable p).
    :param n_perm: number of permutations.
    :returns: an :class:`InteractionResult`. Without a test (no residual or
        no interaction degrees of freedom, no variation within cells) ``p``
        is NaN and ``note`` says why; nothing is drawn from ``rng`` then.
    :raises ValueError: on arrays of the wrong shape or kind, or a bad n_perm.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 1:
        raise ValueError(f"n_perm: expected an integer >= 1, got {n_perm!r}")
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"values: expected a 1-D array, got shape {y.shape}")
    n_all = y.size
    c = _index("condition", condition, n_all)
    if np.any(c > 1):
        raise ValueError("condition: expected bool or 0/1 values")
    lev = _index("level", level, n_all)
    st = np.zeros(n_all, np.int64) if stratum is None else _index("stratum", stratum, n_all)
    if np.isinf(y).any():
        raise ValueError("values: contains infinite values (NaN marks a missing brain)")
    k = int(lev.max()) + 1 if n_all else 0

    keep = ~np.isnan(y)
    y, c, lev, st = y[keep], c[keep], lev[keep], st[keep]
    n = y.size
    effects = _effects(y, c, lev, st, k)

    def no_test(df1: int, df2: int, why: str) -> InteractionResult:
        return InteractionResult(math.nan, df1, df2, math.nan, 0, n, effects, why)

    if n == 0:
        return no_test(0, 0, "no values (all NaN or empty)")
    q_z = _basis(np.hstack([_dummies(lev, st), _dummies(st) * c[:, None]]))
    q_x = _basis(_dummies(c, lev, st))
    df1, df2 = q_x.shape[1] - q_z.shape[1], n - q_x.shape[1]
    if df1 <= 0:
        return no_test(
            0, df2, "no interaction to test: the condition and the reference do not share "
            "two or more levels of the factor within a stratum"
        )
    if df2 <= 0:
        return no_test(df1, 0, "no residual degrees of freedom: every cell has a single value")
    if np.ptp(y) == 0.0:
        return no_test(df1, df2, "all values are identical")

    # P_X = P_Z + P_A with A the interaction part of X (orthogonal to Z), and
    # every permuted residual vector has the squared norm of e, so
    # RSS_Z* = |e|^2 - |P_Z e*|^2 and RSS_X* = RSS_Z* - |P_A e*|^2.
    e = y - q_z @ (q_z.T @ y)  # reduced-model residuals
    q_a = np.linalg.svd(q_x - q_z @ (q_z.T @ q_x), full_matrices=False)[0][:, :df1]
    ee = float(e @ e)

    def f_stat(res: np.ndarray) -> np.ndarray:
        """F of ``yhat_Z + res`` for each row of ``res`` (shape ``(m, n)``)."""
        ss_a = np.sum((res @ q_a) ** 2, axis=1)
        rss_x = ee - np.sum((res @ q_z) ** 2, axis=1) - ss_a
        with np.errstate(divide="ignore", invalid="ignore"):
            return (ss_a / df1) / (np.maximum(rss_x, 0.0) / df2)

    if ee - float(np.sum((q_a.T @ e) ** 2)) <= 1e-12 * float(np.sum((y - y.mean()) ** 2)):
        return no_test(df1, df2, "no variation within cells (every cell is constant)")
    f_obs = float(f_stat(e[None, :])[0])

    hits, threshold = 0, f_obs - _TOL * max(1.0, f_obs)
    chunk = max(1, _CHUNK // n)
    for start in range(0, n_perm, chunk):
        m = min(chunk, n_perm - start)
        perms = rng.permuted(np.tile(np.arange(n), (m, 1)), axis=1)
        hits += int(np.count_nonzero(f_stat(e[perms]) >= threshold))
    return InteractionResult(
        f_obs, df1, df2, (1 + hits) / (1 + n_perm), int(n_perm), n, effects, ""
    )
