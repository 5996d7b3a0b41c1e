"""The statistics of a study: comparisons within every cell, omnibus and interaction tests, one FDR family.

Input is what the store holds (conditions, cells, metric rows, the design);
output is three tables:

- **comparisons** (:class:`SummaryRow`): within every combination of factor
  levels (a *stratum*), each condition against the reference (or every pair
  of conditions with ``statistics.comparisons: all_pairs``), per metric:
  :func:`encephagen.stats.compare` (Mann-Whitney U, d, g, bootstrap CI);
- **omnibus** (:class:`OmnibusRow`): with more than two conditions, a
  Kruskal-Wallis test across all of them per metric and stratum;
- **interactions** (:class:`InteractionRow`): for each non-reference
  condition, metric and factor with two or more levels, whether the
  condition's effect differs across the factor's levels
  (:func:`encephagen.interaction.interaction_test`);
- **learning** (:class:`LearningRow`): for each metric its task declares a
  change (after minus before learning), within every cell, whether it differs
  from 0 (Wilcoxon signed-rank over replicates): did learning move it at all?

Each metric's direction (which value is better) comes from its task's
description (:class:`~encephagen.interfaces.Metric`), stored with each cell; a
metric without one has direction ``none``: a significant difference is
reported as "differs" and nobody wins. Diagnostics (whether the network was
steady, say) are never compared.

Benjamini-Hochberg q is computed once, over the tests of the kinds named in
``statistics.fdr_family`` (by default comparisons and interactions); tests of
the other kinds keep their p and get no q and no winner.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from encephagen.interfaces import Metric, undeclared
from encephagen.stats import Comparison
from encephagen.store import MetricRow, StoredCell, StoredCondition

Levels = tuple[tuple[str, str], ...]


@attrs.frozen
class SummaryRow:
    """One comparison of ``condition`` with ``reference`` on one metric, within one stratum.

    :ivar levels: the stratum's ``(factor, level)`` pairs (empty without factors).
    :ivar comparison: the :class:`~encephagen.stats.Comparison` (q set; NaN outside the FDR family).
    :ivar power_n: replicates per condition at which the exact test would have 80 % power if the
        true effect were the observed Hedges' g (simulated, :func:`~encephagen.stats.power_replicates`);
        ``None`` without a finite, non-zero g or beyond :data:`~encephagen.stats.POWER_N_MAX`.
    :ivar note: special cases and failed replicates.
    """

    task: str
    metric: str
    reference: str
    condition: str
    comparison: Comparison
    power_n: int | None
    note: str
    levels: Levels = ()

    @property
    def winner(self) -> str:
        """The better condition's name, "differs" for a metric without a better direction, "" when nothing is significant."""
        return {"other": self.condition, "reference": self.reference, "differs": "differs"}.get(self.comparison.winner, "")


@attrs.frozen
class OmnibusRow:
    """A Kruskal-Wallis test across every condition, one metric, one stratum.

    :ivar n: finished values per condition, in condition order.
    :ivar h: the H statistic (tie-corrected); NaN without a test.
    :ivar q: Benjamini-Hochberg q when omnibus tests are in the family, else NaN.
    """

    task: str
    metric: str
    levels: Levels
    n: tuple[int, ...]
    h: float
    p: float
    q: float
    note: str


@attrs.frozen
class InteractionRow:
    """Whether ``condition``'s effect (against ``reference``) on one metric differs across ``factor``'s levels.

    :ivar effects: the condition's effect (difference in means) at each level, in level order.
    :ivar result: the :class:`~encephagen.interaction.InteractionResult`.
    :ivar q: Benjamini-Hochberg q when interactions are in the family, else NaN.
    """

    task: str
    metric: str
    condition: str
    reference: str
    factor: str
    levels: tuple[str, ...]
    result: Any
    q: float


@attrs.frozen
class LearningRow:
    """Whether a change metric (after minus before learning) differs from 0 within one cell.

    :ivar cell: the cell's key (the condition's name without factors).
    :ivar values: finished replicates' values.
    :ivar p: two-sided Wilcoxon signed-rank p against 0 (exact without ties or zeros); NaN below 2 values
        or when every value is 0. Not in the FDR family.
    """

    task: str
    metric: str
    cell: str
    n: int
    mean: float
    p: float


@attrs.frozen
class Analysis:
    """Every table of a study's statistics, the FDR family they share, and what each metric means.

    :ivar metrics: ``(task, metric)`` -> its description (from the reference cell's tasks).
    """

    comparisons: list[SummaryRow]
    omnibus: list[OmnibusRow]
    interactions: list[InteractionRow]
    family: tuple[str, ...]
    family_size: int
    metrics: dict[tuple[str, str], Metric] = attrs.field(factory=dict)
    learning: list[LearningRow] = attrs.field(factory=list)


def metric_descriptions(cells: Sequence[StoredCell]) -> dict[tuple[str, str], Metric]:
    """``(task label, metric)`` -> description, from the cells' stored task descriptions (first cell first)."""
    known = set(attrs.fields_dict(Metric))
    out: dict[tuple[str, str], Metric] = {}
    for cell in cells:
        for task, described in dict(cell.info.get("metrics", {})).items():
            for m in described:
                out.setdefault((task, m["name"]), Metric(**{k: v for k, v in m.items() if k in known}))
    return out


def cell_chance(cells: Sequence[StoredCell]) -> dict[tuple[str, str, str], float]:
    """``(cell key, task label, metric)`` -> chance level, where a cell's task declares one."""
    return {
        (cell.key, task, m["name"]): float(m["chance"])
        for cell in cells
        for task, described in dict(cell.info.get("metrics", {})).items()
        for m in described
        if m.get("chance") is not None
    }


def _signed_rank(values: np.ndarray) -> float:
    if values.size < 2 or not np.any(values != 0):
        return math.nan
    from scipy import stats as sps

    return float(sps.wilcoxon(values, alternative="two-sided").pvalue)


def stats_rng(study_seed: int, task: str, metric: str, condition: str, *names: str) -> np.random.Generator:
    """The generator of one test (bootstrap or permutations), from the study seed and the test's names only.

    ``names`` add the stratum's ``factor=level`` strings or the test's kind; a
    condition-vs-reference comparison of a study without factors has none.
    """
    key = tuple(zlib.crc32(s.encode()) for s in ("statistics", task, metric, condition, *names))
    return np.random.default_rng(np.random.SeedSequence(entropy=study_seed, spawn_key=key))


def strata(factors: Mapping[str, Sequence[str]]) -> list[Levels]:
    """Every combination of factor levels, in file order (``[()]`` without factors)."""
    names = list(factors)
    return [tuple(zip(names, combo)) for combo in itertools.product(*(factors[f] for f in names))]


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p the exact Mann-Whitney test can give at ``n_a`` vs ``n_b`` (no ties): ``2 / C(n_a + n_b, n_a)``."""
    if n_a < 1 or n_b < 1:
        return math.nan
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def _pairs(names: Sequence[str], reference: str, mode: str) -> list[tuple[str, str]]:
    if mode == "all_pairs":
        order = [reference, *(n for n in names if n != reference)]
        return [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
    return [(reference, n) for n in names if n != reference]


def analyze(
    conditions: Sequence[StoredCondition],
    cells: Sequence[StoredCell],
    rows: Sequence[MetricRow],
    *,
    seed: int,
    alpha: float,
    planned: int,
    factors: Mapping[str, Sequence[str]] | None = None,
    statistics: Mapping[str, Any] | None = None,
    failed: Mapping[str, int] | None = None,
) -> Analysis:
    """Every comparison, omnibus and interaction test of a study (see the module docstring).

    :param conditions: the conditions in order (one marked reference).
    :param cells: the cells in order.
    :param rows: the finished replicates' values (NaN values are dropped by each test).
    :param seed: the study seed (bootstrap and permutation generators derive from it).
    :param alpha: significance level.
    :param planned: replicates planned per cell.
    :param factors: ``{factor: [levels]}`` in file order.
    :param statistics: ``comparisons``, ``fdr_family``, ``permutations``
        (:class:`~encephagen.config.Statistics` as a mapping).
    :param failed: failed replicates per cell key.
    """
    from encephagen.interaction import interaction_test
    from encephagen.stats import benjamini_hochberg, compare, power_replicates

    factors = dict(factors or {})
    options = {"comparisons": "reference", "fdr_family": ["comparisons", "interactions"], "permutations": 9999, **(statistics or {})}
    failed = failed or {}
    names = [c.name for c in conditions]
    reference = next(c.name for c in conditions if c.reference)
    cell_of = {(c.condition, c.levels): c.key for c in cells}
    values: dict[tuple[str, str, str, Levels], list[float]] = {}
    for r in rows:
        values.setdefault((r.task, r.metric, r.condition, tuple(r.levels)), []).append(r.value)
    described = metric_descriptions(cells)
    chance = cell_chance(cells)
    metrics = sorted({(r.task, r.metric) for r in rows if not (described.get((r.task, r.metric)) or undeclared(r.metric)).diagnostic})
    all_strata = strata(factors)

    def group(task: str, metric: str, cond: str, levels: Levels) -> np.ndarray:
        return np.asarray(values.get((task, metric, cond, levels), []), dtype=np.float64)

    comparisons: list[SummaryRow] = []
    omnibus: list[OmnibusRow] = []
    for task, metric in metrics:
        for levels in all_strata:
            tags = [f"{f}={lv}" for f, lv in levels]
            for a, b in _pairs(names, reference, options["comparisons"]):
                extra = tags if a == reference else [*tags, "vs", a]
                meaning = described.get((task, metric)) or undeclared(metric)
                comp = compare(
                    group(task, metric, a, levels), group(task, metric, b, levels), rng=stats_rng(seed, task, metric, b, *extra),
                    alpha=alpha, direction=meaning.direction,
                )
                notes = [comp.note] if comp.note else []
                for who, mean in ((a, comp.mean_ref), (b, comp.mean_other)):
                    level = chance.get((cell_of.get((who, levels), who), task, metric))
                    if level is not None and mean <= level:
                        notes.append(f"{who} at or below chance ({level:.3g})")
                for who in (a, b):
                    n_failed = failed.get(cell_of.get((who, levels), who), 0)
                    if n_failed:
                        notes.append(f"{who}: {n_failed} of {planned} replicates failed")
                power = power_replicates(comp.g, alpha, rng=stats_rng(seed, task, metric, b, *extra, "power")) if math.isfinite(comp.g) else None
                comparisons.append(SummaryRow(task, metric, a, b, comp, power, "; ".join(notes), levels))
            if len(names) > 2:
                omnibus.append(_kruskal(task, metric, levels, [group(task, metric, n, levels) for n in names]))
    interactions: list[InteractionRow] = []
    for task, metric in metrics:
        for cond in (n for n in names if n != reference):
            for factor, lvls in factors.items():
                if len(lvls) < 2:
                    continue
                others = [f for f in factors if f != factor]
                ys, cs, ls, ss = [], [], [], []
                for levels in all_strata:
                    by = dict(levels)
                    stratum = tuple(by[f] for f in others)
                    for who, flag in ((reference, 0), (cond, 1)):
                        v = group(task, metric, who, levels)
                        ys += v.tolist()
                        cs += [flag] * v.size
                        ls += [list(lvls).index(by[factor])] * v.size
                        ss += [stratum_index(stratum, [factors[f] for f in others])] * v.size
                result = interaction_test(
                    np.asarray(ys, dtype=np.float64), np.asarray(cs), np.asarray(ls, dtype=np.int64), np.asarray(ss, dtype=np.int64),
                    rng=stats_rng(seed, task, metric, cond, "interaction", factor), n_perm=int(options["permutations"]),
                )
                interactions.append(InteractionRow(task, metric, cond, reference, factor, tuple(lvls), result, math.nan))
    family = tuple(options["fdr_family"])
    ps: list[float] = []
    if "comparisons" in family:
        ps += [s.comparison.p for s in comparisons]
    if "omnibus" in family:
        ps += [o.p for o in omnibus]
    if "interactions" in family:
        ps += [i.result.p for i in interactions]
    q = iter(benjamini_hochberg(ps).tolist() if ps else [])
    if "comparisons" in family:
        comparisons = [attrs.evolve(s, comparison=s.comparison.with_q(next(q))) for s in comparisons]
    else:
        comparisons = [attrs.evolve(s, comparison=s.comparison.with_q(math.nan)) for s in comparisons]
    if "omnibus" in family:
        omnibus = [attrs.evolve(o, q=next(q)) for o in omnibus]
    if "interactions" in family:
        interactions = [attrs.evolve(i, q=next(q)) for i in interactions]
    size = sum(1 for p in ps if not math.isnan(p))
    learning = []
    for task, metric in metrics:
        if not (described.get((task, metric)) or undeclared(metric)).change:
            continue
        for c in cells:
            v = group(task, metric, c.condition, tuple(c.levels))
            v = v[np.isfinite(v)]
            learning.append(LearningRow(task, metric, c.key, int(v.size), float(v.mean()) if v.size else math.nan, _signed_rank(v)))
    return Analysis(comparisons, omnibus, interactions, family, size, described, learning)


def stratum_index(stratum: Sequence[str], levels: Sequence[Sequence[str]]) -> int:
    """The index of a combination of other factors' levels (mixed radix over their level lists)."""
    index = 0
    for value, options in zip(stratum, levels):
        index = index * len(options) + list(options).index(value)
    return index


def _kruskal(task: str, metric: str, levels: Levels, groups: Sequence[np.ndarray]) -> OmnibusRow:
    from scipy import stats as sps

    kept = [g[~np.isnan(g)] for g in groups]
    n = tuple(int(g.size) for g in kept)
    present = [g for g in kept if g.size]
    note = ""
    h = p = math.nan
    if len(present) < 2 or sum(g.size for g in present) < 3:
        note = "too few values for a test"
    elif np.all(np.concatenate(present) == present[0][0]):
        note = "all values equal"
    else:
        res = sps.kruskal(*present)
        h, p = float(res.statistic), float(res.pvalue)
        if any(g.size == 0 for g in kept):
            note = "a condition without values is left out"
    return OmnibusRow(task, metric, levels, n, h, p, math.nan, note)
