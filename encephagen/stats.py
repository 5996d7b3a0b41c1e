"""Statistics for comparing two conditions (spec section 6).

One metric, two conditions, one value per replicate brain in each:
:func:`compare` gives the two-sided Mann-Whitney U test, Cohen's d as the
published study computed it, Hedges' g, and a bootstrap confidence interval
of the difference in means. :func:`benjamini_hochberg` turns the p-values of
several metrics into q-values (false discovery rate), and :func:`fdr_adjust`
puts those q-values back on the comparisons. :func:`power_replicates` says how
many replicates per condition the exact test needs to detect a given effect (by simulation).

Sign convention: every difference is ``other - reference`` (d > 0 when the
``other`` condition has the larger mean). The published study reported
``connectome - random``; with ``reference = connectome`` its d is ``-d`` here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from scipy import stats as _sps

from encephagen.errors import DataError

__all__ = [
    "Comparison",
    "benjamini_hochberg",
    "compare",
    "d_interval",
    "fdr_adjust",
    "power_replicates",
]

#: Largest number of bootstrap indices drawn at once (bounds memory).
_BOOT_CHUNK = 4_000_000


@attrs.frozen
class Comparison:
    """The comparison of one metric between a reference and another condition.

    Counts are after NaN values were dropped. ``sd_*`` is the sample standard
    deviation (ddof = 1; NaN with fewer than 2 values). ``u`` is the
    Mann-Whitney U of ``other`` against ``reference``: the number of pairs
    (o, r) with o > r, ties counting one half, so ``u > n_ref * n_other / 2``
    means ``other`` tends to be larger. ``d`` is Cohen's d with population
    variances, ``g`` Hedges' g; ``ci_low``/``ci_high`` bound the bootstrap
    ``1 - alpha`` percentile interval of ``mean_other - mean_ref``.
    ``q`` is the false-discovery-rate adjusted p-value once set with
    :meth:`with_q`; ``winner`` ("other", "reference", "differs" for a metric
    without a better direction, or "") reads q when it is set, p otherwise.
    ``note`` explains every special case (empty when there is none).
    """

    n_ref: int
    n_other: int
    mean_ref: float
    mean_other: float
    sd_ref: float
    sd_other: float
    u: float
    p: float
    d: float
    g: float
    ci_low: float
    ci_high: float
    alpha: float
    direction: str
    winner: str
    note: str
    dropped_ref: int = 0
    dropped_other: int = 0
    q: float | None = None

    @property
    def diff(self) -> float:
        """``mean_other - mean_ref``."""
        return self.mean_other - self.mean_ref

    def with_q(self, q: float) -> Comparison:
        """This comparison with its q-value set and ``winner`` decided on q."""
        q = float(q)
        return attrs.evolve(
            self,
            q=q,
            winner=_winner(q, self.alpha, self.u, self.n_ref * self.n_other, self.direction),
        )


def _winner(p: float, alpha: float, u: float, n_pairs: int, direction: str) -> str:
    """"other"/"reference" (the better one) when ``p < alpha``, "differs" for direction ``none``, "" otherwise.

    Which one is larger comes from the rank statistic the test is built on:
    ``u > n_pairs / 2`` means ``other`` tends to be larger.
    """
    if not (p < alpha) or math.isnan(u) or u == n_pairs / 2:
        return ""
    if direction == "none":
        return "differs"
    other_larger = u > n_pairs / 2
    return "other" if other_larger == (direction == "higher") else "reference"


def _clean(name: str, values: Any) -> tuple[np.ndarray, int]:
    """``values`` as a 1-D float array without NaN, and how many NaN were dropped."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError.at(name, f"expected numbers, got {values!r} ({exc})") from None
    if arr.ndim != 1:
        raise DataError.at(
            name, f"expected a 1-D array (one value per replicate), got shape {arr.shape}"
        )
    nan = np.isnan(arr)
    kept = arr[~nan]
    if np.isinf(kept).any():
        raise DataError.at(
            name, "contains infinite values; use finite numbers (NaN marks a missing replicate)"
        )
    return kept, int(nan.sum())


def _bootstrap_diff(
    ref: np.ndarray, other: np.ndarray, rng: np.random.Generator, n_boot: int
) -> np.ndarray:
    """``n_boot`` bootstrap draws of ``mean(other*) - mean(ref*)``.

    Each group is resampled with replacement within itself; draws are made in
    chunks so memory stays bounded, and each chunk draws ``ref`` indices then
    ``other`` indices from ``rng`` (the result depends only on the seed).
    """
    out = np.empty(n_boot)
    chunk = max(1, _BOOT_CHUNK // max(ref.size, other.size))
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        mr = ref[rng.integers(0, ref.size, size=(k, ref.size))].mean(axis=1)
        mo = other[rng.integers(0, other.size, size=(k, other.size))].mean(axis=1)
        out[start : start + k] = mo - mr
    return out


def compare(
    reference: np.ndarray,
    other: np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int = 10000,
    alpha: float = 0.05,
    direction: str = "higher",
) -> Comparison:
    """Compare one metric between two conditions, one value per replicate.

    :param reference: shape ``(n_ref,)``, the reference condition (for
        example the connectome); NaN marks a missing replicate and is dropped.
    :param other: shape ``(n_other,)``, the condition compared with it.
    :param rng: draws the bootstrap resamples (seed it for a repeatable CI).
    :param n_boot: number of bootstrap resamples.
    :param alpha: significance level for ``winner``; the CI covers ``1 - alpha``
        (95 % for the default).
    :param direction: ``higher`` (the condition with larger values wins), ``lower``
        (smaller values win) or ``none`` (a significant difference is reported
        as ``winner = "differs"``).
    :returns: a :class:`Comparison`.

    Definitions (``r`` = reference, ``o`` = other):

    - Mann-Whitney U, two-sided, ``scipy.stats.mannwhitneyu(o, r,
      method="auto")`` (exact for small samples without ties); U is of ``o``.
    - Cohen's d = ``(mean_o - mean_r) / sqrt((var_r + var_o) / 2)`` with
      population variances (ddof = 0), as the published study computed it.
    - Hedges' g = ``J * (mean_o - mean_r) / s_p`` with the pooled sample sd
      ``s_p = sqrt(((n_r-1) s_r^2 + (n_o-1) s_o^2) / (n_r + n_o - 2))`` and the
      usual correction ``J = 1 - 3 / (4 (n_r + n_o) - 9)``.
    - The CI is the percentile interval of ``n_boot`` bootstrap differences.
    - ``winner`` is decided on p here and on q after :meth:`Comparison.with_q`
      (or :func:`fdr_adjust`): "" unless the value is below ``alpha``.

    Special cases (each explained in ``note``):

    - fewer than 2 values in a group: no test; ``u``, ``p``, ``d``, ``g`` and
      the CI are NaN and ``winner`` is "" (a NaN p is also left out of
      :func:`benjamini_hochberg`);
    - both groups constant and equal: ``p = 1``, ``d = g = 0``, CI ``(0, 0)``;
    - both groups constant and different: ``d = g = +-inf`` (the sign of the
      difference), CI ``(diff, diff)``; p is the test's own;
    - NaN values are dropped and counted in ``dropped_ref``/``dropped_other``.

    Infinite values raise :class:`DataError`.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot: expected an integer >= 1, got {n_boot!r}")
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    if direction not in ("higher", "lower", "none"):
        raise ValueError(f"direction: expected higher, lower or none, got {direction!r}")
    r, dropped_r = _clean("reference", reference)
    o, dropped_o = _clean("other", other)
    n_r, n_o = r.size, o.size
    notes: list[str] = []
    if dropped_r:
        notes.append(f"{dropped_r} NaN value(s) dropped from reference")
    if dropped_o:
        notes.append(f"{dropped_o} NaN value(s) dropped from other")
    nan = math.nan
    mean_r = float(r.mean()) if n_r else nan
    mean_o = float(o.mean()) if n_o else nan
    sd_r = float(r.std(ddof=1)) if n_r >= 2 else nan
    sd_o = float(o.std(ddof=1)) if n_o >= 2 else nan

    def build(u: float, p: float, d: float, g: float, lo: float, hi: float) -> Comparison:
        return Comparison(
            n_ref=n_r, n_other=n_o, mean_ref=mean_r, mean_other=mean_o, sd_ref=sd_r, sd_other=sd_o,
            u=u, p=p, d=d, g=g, ci_low=lo, ci_high=hi, alpha=float(alpha),
            direction=direction,
            winner=_winner(p, alpha, u, n_r * n_o, direction),
            note="; ".join(notes), dropped_ref=dropped_r, dropped_other=dropped_o,
        )

    if n_r < 2 or n_o < 2:
        notes.append(
            f"too few values for a test (reference {n_r}, other {n_o}; each needs at least 2)"
        )
        return build(nan, nan, nan, nan, nan, nan)

    res = _sps.mannwhitneyu(o, r, alternative="two-sided", method="auto")
    u, p = float(res.statistic), float(res.pvalue)
    diff = mean_o - mean_r
    const_r, const_o = bool(np.all(r == r[0])), bool(np.all(o == o[0]))
    if const_r and const_o:
        if r[0] == o[0]:
            notes.append("both groups constant and equal: p = 1, d = g = 0")
            return build(u, 1.0, 0.0, 0.0, 0.0, 0.0)
        notes.append(
            "both groups constant and different: d and g are infinite with the sign of the difference"
        )
        inf = math.copysign(math.inf, diff)
        return build(u, p, inf, inf, diff, diff)
    if const_r or const_o:
        notes.append(f"{'reference' if const_r else 'other'} group constant")

    d = diff / math.sqrt((r.var() + o.var()) / 2.0)
    s_p = math.sqrt(((n_r - 1) * r.var(ddof=1) + (n_o - 1) * o.var(ddof=1)) / (n_r + n_o - 2))
    g = (1.0 - 3.0 / (4.0 * (n_r + n_o) - 9.0)) * diff / s_p
    boot = _bootstrap_diff(r, o, rng, int(n_boot))
    lo, hi = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return build(u, p, float(d), float(g), float(lo), float(hi))


def benjamini_hochberg(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg q-values (false discovery rate) of ``p``.

    With the ``m`` non-NaN p-values sorted ascending, ``p_(1) <= ... <= p_(m)``,
    ``q_(i) = min over j >= i of min(1, m * p_(j) / j)``: q is monotone in p,
    never below p and at most 1. NaN p-values stay NaN in the output and do
    not count in ``m``.

    :param p: p-values, each in [0, 1] or NaN, shape ``(k,)``.
    :returns: q-values, shape ``(k,)``, in the input order.
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1:
        raise DataError.at("p", f"expected a 1-D sequence of p-values, got shape {arr.shape}")
    ok = ~np.isnan(arr)
    if np.any((arr[ok] < 0.0) | (arr[ok] > 1.0)):
        raise DataError.at("p", "p-values must lie in [0, 1] (or be NaN for a missing test)")
    q = np.full(arr.shape, np.nan)
    vals = arr[ok]
    m = vals.size
    if m == 0:
        return q
    order = np.argsort(vals, kind="stable")
    scaled = vals[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    q_vals = np.empty(m)
    q_vals[order] = q_sorted
    q[ok] = q_vals
    return q


def fdr_adjust(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with Benjamini-Hochberg q-values set across them all.

    Use it on the metrics of one study, so that ``winner`` reads the q-value.
    A comparison without a test (NaN p) keeps q = NaN and no winner.
    """
    q = benjamini_hochberg([c.p for c in comparisons])
    return [c.with_q(qi) for c, qi in zip(comparisons, q)]


#: Largest group size :func:`power_replicates` considers.
POWER_N_MAX = 50


def power_replicates(
    d: float, alpha: float = 0.05, power: float = 0.8, *, rng: np.random.Generator, n_sim: int = 2000, n_max: int = POWER_N_MAX
) -> int | None:
    """Replicates per condition at which the exact two-sided Mann-Whitney test finds an effect of size ``d``.

    Simulation, not an asymptotic formula: for a group size ``n`` (both
    groups), ``n_sim`` pairs of samples are drawn, ``N(0, 1)`` against
    ``N(|d|, 1)``, and the power is the share of exact tests
    (``scipy.stats.mannwhitneyu(method="exact")``) with ``p < alpha``. The
    smallest ``n`` with power ``>= power`` is found by bisection on
    ``2 .. n_max`` (power grows with ``n``). The test's discreteness is
    included: at ``n = 3`` no p below 0.1 exists, so nothing is ever proposed
    that such a design cannot reach. ``d`` should be a standardised effect
    (Hedges' g); the observed effect of a small study is itself uncertain.

    :param rng: draws the samples (seed it for a repeatable answer).
    :returns: replicates per group, or ``None`` when ``d`` is 0 or not finite or
        even ``n_max`` replicates fall short.
    """
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    if not (0.0 < power < 1.0):
        raise ValueError(f"power: expected a number in (0, 1), got {power!r}")
    d = abs(float(d))
    if d == 0.0 or not math.isfinite(d):
        return None

    def reaches(n: int) -> bool:
        x = rng.standard_normal((n_sim, n))
        y = rng.standard_normal((n_sim, n)) + d
        p = _sps.mannwhitneyu(y, x, axis=1, alternative="two-sided", method="exact").pvalue
        return float(np.mean(p < alpha)) >= power

    if not reaches(n_max):
        return None
    low, high = 1, n_max  # reaches(high) holds; reaches(low) is taken as false (one value per group: no test)
    while high - low > 1:
        mid = (low + high) // 2
        if reaches(mid):
            high = mid
        else:
            low = mid
    return high


def d_interval(d: float, n_ref: int, n_other: int, alpha: float = 0.05) -> tuple[float, float]:
    """An approximate ``1 - alpha`` interval for a standardised difference ``d``.

    The normal approximation of Hedges & Olkin (1985):
    ``se = sqrt((n_r + n_o) / (n_r n_o) + d^2 / (2 (n_r + n_o)))``, interval
    ``d -+ z_{1-alpha/2} se``. It is rough at small n (it ignores that the
    sampling distribution of d is skewed there); the report says so.

    :returns: ``(low, high)``, NaN when ``d`` is not finite or a group has fewer than 2 values.
    """
    if not math.isfinite(d) or n_ref < 2 or n_other < 2:
        return math.nan, math.nan
    n = n_ref + n_other
    se = math.sqrt(n / (n_ref * n_other) + d * d / (2.0 * n))
    z = float(_sps.norm.ppf(1.0 - alpha / 2.0))
    return d - z * se, d + z * se
