"""Task metrics of the reference protocol (spec sections 6 and 8).

Pure functions of numpy arrays; every shape is stated in the docstring. Rates
are in spikes per neuron per step (any non-negative unit works: the metrics
here are either scale-free or carry the unit of their input).

Conventions shared by the functions below:

- ``labels`` is a 1-D array with one label per row of ``X``; labels are
  sorted with ``numpy.unique`` and "lowest label" means first in that order.
- The cosine similarity of a zero vector with anything is 0 (so its cosine
  distance is 1).
- Bad input (wrong shape, NaN, infinite values, too few samples per label)
  raises :class:`~encephagen.errors.DataError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from encephagen.errors import DataError

__all__ = [
    "activation_entropy",
    "breadth",
    "coefficient_of_variation",
    "effective_dimensionality",
    "fisher_ratio",
    "linear_slope",
    "loo_linear_readout_accuracy",
    "loo_nearest_centroid_accuracy",
    "mean_cosine_distance",
    "min_cosine_distance",
    "pattern_means",
    "response_diversity",
    "trial_consistency",
    "working_memory_persistence",
]


# ----------------------------------------------------------------------------- helpers


def _array(name: str, values: Any, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError.at(name, f"expected numbers ({exc})") from None
    if arr.ndim != ndim:
        raise DataError.at(name, f"expected a {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError.at(name, "contains NaN or infinite values")
    return arr


def _labelled(X: Any, labels: Any, min_per_label: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X`` checked as ``(n, f)``, the sorted unique labels, and each row's label index."""
    x = _array("X", X, 2)
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != x.shape[0]:
        raise DataError.at(
            "labels", f"expected one label per row of X ({x.shape[0]}), got shape {lab.shape}"
        )
    classes, idx = np.unique(lab, return_inverse=True)
    counts = np.bincount(idx, minlength=classes.size)
    if classes.size < 2:
        raise DataError.at("labels", f"expected at least 2 distinct labels, got {classes.size}")
    if counts.min() < min_per_label:
        bad = classes[np.argmin(counts)]
        raise DataError.at(
            "labels",
            f"label {bad!r} has {counts.min()} sample(s); at least {min_per_label} per label are needed",
        )
    return x, classes, idx


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; zero rows stay zero (cosine 0 with anything)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _cosine_matrix(x: np.ndarray) -> np.ndarray:
    """Cosine similarity between all rows of ``x`` (``(n, f)`` -> ``(n, n)``), in [-1, 1]."""
    u = _unit_rows(x)
    return np.clip(u @ u.T, -1.0, 1.0)


def _roundoff(x: np.ndarray) -> float:
    """Sums of squares of ``x`` at or below this are round-off, counted as 0."""
    return 64.0 * np.finfo(np.float64).eps * float(np.sum(x * x))


#: Scores closer than this to the best one are ties (round-off must not pick a label).
TIE_TOLERANCE = 1e-12


def _first_max(scores: np.ndarray) -> np.ndarray:
    """Per row of ``(n, k)`` scores, the first column within TIE_TOLERANCE of the maximum."""
    return np.argmax(scores >= scores.max(axis=1, keepdims=True) - TIE_TOLERANCE, axis=1)


def _check_rates(name: str, x: np.ndarray) -> None:
    if np.any(x < 0):
        raise DataError.at(name, "rates must be non-negative")


# ------------------------------------------------------------------------ phase metrics


def coefficient_of_variation(rates: np.ndarray) -> float:
    """Population std over mean of ``rates`` (the **cv** of spec phase 1).

    :param rates: shape ``(n_groups,)``, non-negative (spikes per neuron per step).
    :returns: ``std(rates, ddof=0) / mean(rates)``; 0.0 when every rate is 0
        (no activity has no variation).
    """
    r = _array("rates", rates, 1)
    if r.size == 0:
        raise DataError.at("rates", "expected at least one rate")
    _check_rates("rates", r)
    mean = r.mean()
    if mean == 0.0:
        return 0.0
    return float(r.std() / mean)


def linear_slope(y: np.ndarray) -> float:
    """Least-squares slope of ``y`` against its index ``0..n-1`` (**cond_slope**).

    :param y: shape ``(n,)``, ``n >= 2``.
    :returns: slope in units of ``y`` per index step.
    """
    v = _array("y", y, 1)
    if v.size < 2:
        raise DataError.at("y", f"a slope needs at least 2 values, got {v.size}")
    t = np.arange(v.size, dtype=np.float64)
    t -= t.mean()
    return float(t @ (v - v.mean()) / (t @ t))


def working_memory_persistence(baseline: float, stim: float, delay: float) -> float:
    """Delay activity relative to the stimulus response (**memory** of phase 4).

    :param baseline: prefrontal rate before the stimulus.
    :param stim: prefrontal rate during the stimulus.
    :param delay: prefrontal rate after the stimulus.
    :returns: ``(delay - baseline) / (stim - baseline)`` when
        ``stim > baseline``, else 0.0 (no response, nothing to persist).
    """
    vals = _array("rates", [baseline, stim, delay], 1)
    b, s, d = (float(v) for v in vals)
    if s <= b:
        return 0.0
    return (d - b) / (s - b)


def loo_nearest_centroid_accuracy(X: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out nearest-centroid accuracy by cosine similarity (**discrim**).

    For each sample, the centroid (mean vector) of every label is computed
    from all other samples, and the sample is assigned the label whose
    centroid has the highest cosine similarity with it. A zero vector has
    cosine 0 with everything; ties (similarities within ``TIE_TOLERANCE`` =
    1e-12 of the best) go to the lowest label.

    :param X: shape ``(n_samples, n_features)``, e.g. spike counts per region.
    :param labels: shape ``(n_samples,)``; every label needs at least 2 samples.
    :returns: fraction of samples assigned their own label, in [0, 1].
    """
    x, classes, idx = _labelled(X, labels, min_per_label=2)
    n = x.shape[0]
    counts = np.bincount(idx, minlength=classes.size).astype(np.float64)
    sums = np.zeros((classes.size, x.shape[1]))
    np.add.at(sums, idx, x)
    cent = np.broadcast_to(sums / counts[:, None], (n, classes.size, x.shape[1])).copy()
    # own-label centroid without the sample, as a weighted sum (no cancellation)
    same = (idx[:, None] == idx[None, :]) & ~np.eye(n, dtype=bool)
    cent[np.arange(n), idx] = (same / (counts[idx] - 1.0)[:, None]) @ x
    sims = np.einsum("nf,nkf->nk", _unit_rows(x), _unit_rows(cent))
    return float(np.mean(_first_max(sims) == idx))


def loo_linear_readout_accuracy(X: np.ndarray, labels: np.ndarray, ridge: float = 1e-3) -> float:
    """Leave-one-out accuracy of a ridge-regression linear readout.

    For each left-out sample: the features are standardised with the mean and
    std of the training samples (a feature with zero training std is only
    centred); a one-vs-rest ridge regression onto 0/1 label indicators, with
    an unpenalised intercept, ``W = (Z^T Z + ridge I)^-1 Z^T (Y - mean Y)``,
    is fitted on the training samples; the left-out sample gets the label
    with the highest score (ties within ``TIE_TOLERANCE``: lowest label).

    :param X: shape ``(n_samples, n_features)``.
    :param labels: shape ``(n_samples,)``; every label needs at least 2 samples.
    :param ridge: L2 penalty (> 0) on standardised features.
    :returns: fraction of samples assigned their own label, in [0, 1].
    """
    if not (ridge > 0 and math.isfinite(ridge)):
        raise ValueError(f"ridge: expected a finite number > 0, got {ridge!r}")
    x, classes, idx = _labelled(X, labels, min_per_label=2)
    n, f = x.shape
    y = np.eye(classes.size)[idx]
    correct = 0
    for i in range(n):
        train = np.arange(n) != i
        xt, yt = x[train], y[train]
        mu, sd = xt.mean(axis=0), xt.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        z = (xt - mu) / sd
        yc = yt - yt.mean(axis=0)
        if f <= n - 1:  # primal: (f, f) system
            w = np.linalg.solve(z.T @ z + ridge * np.eye(f), z.T @ yc)
        else:  # dual: (n-1, n-1) system, same solution
            w = z.T @ np.linalg.solve(z @ z.T + ridge * np.eye(n - 1), yc)
        score = ((x[i] - mu) / sd) @ w + yt.mean(axis=0)
        correct += int(_first_max(score[None, :])[0] == idx[i])
    return correct / n


# ------------------------------------------------------------ response diversity (sec. 8)


def pattern_means(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean response per label, shape ``(n_labels, n_regions)``, sorted label order.

    :param X: shape ``(n_trials, n_regions)``.
    :param labels: shape ``(n_trials,)``.
    """
    x, classes, idx = _labelled(X, labels, min_per_label=1)
    return _means(x, idx, classes.size)


def _means(x: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, idx, x)
    return sums / np.bincount(idx, minlength=k)[:, None]


def _pair_distances(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    m = pattern_means(X, labels)
    iu = np.triu_indices(m.shape[0], k=1)
    return 1.0 - _cosine_matrix(m)[iu]


def mean_cosine_distance(X: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine distance ``1 - cos`` over all pairs of pattern-mean vectors.

    :param X: shape ``(n_trials, n_regions)``.
    :param labels: shape ``(n_trials,)``, at least 2 distinct labels.
    :returns: a value in [0, 2]; 1 for orthogonal (or zero) pattern means.
    """
    return float(_pair_distances(X, labels).mean())


def min_cosine_distance(X: np.ndarray, labels: np.ndarray) -> float:
    """Smallest cosine distance between two pattern-mean vectors (the closest pair).

    Shapes as :func:`mean_cosine_distance`; a value in [0, 2].
    """
    return float(_pair_distances(X, labels).min())


def trial_consistency(X: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine similarity between trials of the same pattern.

    For each label, the mean over all pairs ``i < j`` of its trials of
    ``cos(x_i, x_j)``; then the mean over labels (each label weighs the same).

    :param X: shape ``(n_trials, n_regions)``.
    :param labels: shape ``(n_trials,)``; each label needs at least 2 trials.
    :returns: a value in [-1, 1]; 1 when all trials of a pattern point the
        same way.
    """
    x, classes, idx = _labelled(X, labels, min_per_label=2)
    cos = _cosine_matrix(x)
    per_label = []
    for c in range(classes.size):
        members = np.flatnonzero(idx == c)
        sub = cos[np.ix_(members, members)]
        per_label.append(sub[np.triu_indices(members.size, k=1)].mean())
    return float(np.mean(per_label))


def fisher_ratio(X: np.ndarray, labels: np.ndarray) -> float:
    """Between-class over within-class sum of squares.

    ``between = sum_c n_c ||m_c - m||^2`` and
    ``within = sum_c sum_{i in c} ||x_i - m_c||^2``, with ``m_c`` the mean of
    label c, ``m`` the mean of all trials and ``n_c`` the trials of label c
    (``between + within`` is the total sum of squares about ``m``).
    When ``within = 0``: 0.0 if ``between = 0`` too (all trials identical),
    ``inf`` otherwise (noise-free, perfectly separated patterns). A sum of
    squares at round-off level (at most 64 machine epsilons times
    ``sum x^2``) counts as 0.

    :param X: shape ``(n_trials, n_regions)``.
    :param labels: shape ``(n_trials,)``, at least 2 distinct labels.
    :returns: a value >= 0 (unitless).
    """
    x, classes, idx = _labelled(X, labels, min_per_label=1)
    m_c = _means(x, idx, classes.size)
    counts = np.bincount(idx, minlength=classes.size)
    between = float(counts @ np.sum((m_c - x.mean(axis=0)) ** 2, axis=1))
    within = float(np.sum((x - m_c[idx]) ** 2))
    tol = _roundoff(x)
    if within <= tol:
        return 0.0 if between <= tol else math.inf
    return between / within


def effective_dimensionality(X: np.ndarray) -> float:
    """Participation ratio of the covariance eigenvalues of all vectors.

    ``PR = (sum_i lambda_i)^2 / sum_i lambda_i^2`` for the eigenvalues of the
    ``(n_regions, n_regions)`` covariance of the rows of ``X``; computed
    exactly as ``tr(G)^2 / ||G||_F^2`` with the Gram matrix ``G`` of the
    centred rows (same non-zero eigenvalues, scale drops out). Between 1 and
    ``min(n_trials - 1, n_regions)``; 0.0 when there is no variance at all
    (total variance at round-off level, as in :func:`fisher_ratio`).

    :param X: shape ``(n_trials, n_regions)``, ``n_trials >= 2``.
    """
    x = _array("X", X, 2)
    if x.shape[0] < 2:
        raise DataError.at("X", f"a covariance needs at least 2 vectors, got {x.shape[0]}")
    xc = x - x.mean(axis=0)
    gram = xc @ xc.T
    if float(np.trace(gram)) <= _roundoff(x):
        return 0.0
    gram = gram / np.abs(gram).max()  # the ratio is scale-free; this keeps tiny values from underflowing
    frob2 = float(np.sum(gram * gram))
    return float(np.trace(gram) ** 2 / frob2)


def breadth(X: np.ndarray, labels: np.ndarray, threshold: float = 0.1) -> int:
    """Number of regions whose response depends on the pattern.

    Region r counts when some label's mean ``m_c[r]`` deviates from the grand
    mean ``g[r]`` (the mean of region r over all trials) by more than
    ``threshold * |g[r]|`` (10 % by default). A region with ``g[r] = 0``
    counts when any pattern mean is non-zero there.

    :param X: shape ``(n_trials, n_regions)``.
    :param labels: shape ``(n_trials,)``, at least 2 distinct labels.
    :returns: a count in ``[0, n_regions]``.
    """
    if not (threshold >= 0 and math.isfinite(threshold)):
        raise ValueError(f"threshold: expected a finite number >= 0, got {threshold!r}")
    x, classes, idx = _labelled(X, labels, min_per_label=1)
    m_c = _means(x, idx, classes.size)
    grand = x.mean(axis=0)
    deviates = np.abs(m_c - grand) > threshold * np.abs(grand)
    return int(np.any(deviates, axis=0).sum())


def activation_entropy(X: np.ndarray, labels: np.ndarray) -> float:
    """Shannon entropy (nats) of each pattern-mean vector, averaged over patterns.

    Each pattern mean is normalised to sum 1, ``H = -sum_r p_r ln p_r``
    (``0 ln 0 = 0``). A zero pattern-mean vector has entropy 0.

    :param X: shape ``(n_trials, n_regions)``, non-negative rates.
    :param labels: shape ``(n_trials,)``, at least 2 distinct labels.
    :returns: a value in ``[0, ln n_regions]``; ``ln n_regions`` when
        activity is spread evenly over the regions.
    """
    x, classes, idx = _labelled(X, labels, min_per_label=1)
    _check_rates("X", x)
    m_c = _means(x, idx, classes.size)
    total = m_c.sum(axis=1, keepdims=True)
    p = np.divide(m_c, total, out=np.zeros_like(m_c), where=total > 0)
    logp = np.log(p, out=np.zeros_like(p), where=p > 0)
    return float(np.mean(-np.sum(p * logp, axis=1)))


def response_diversity(X: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """All response-diversity metrics of spec section 8 for one brain.

    :param X: shape ``(n_trials, n_regions)``, the rate of every region in
        every trial (non-negative).
    :param labels: shape ``(n_trials,)``, the pattern of every trial; at least
        2 patterns with at least 2 trials each.
    :returns: ``cos_dist_mean``, ``cos_dist_min``, ``consistency``,
        ``fisher``, ``dimensionality``, ``breadth``, ``entropy``.
    """
    return {
        "cos_dist_mean": mean_cosine_distance(X, labels),
        "cos_dist_min": min_cosine_distance(X, labels),
        "consistency": trial_consistency(X, labels),
        "fisher": fisher_ratio(X, labels),
        "dimensionality": effective_dimensionality(X),
        "breadth": float(breadth(X, labels)),
        "entropy": activation_entropy(X, labels),
    }
