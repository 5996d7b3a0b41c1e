"""What a metric means reaches the statistics: direction picks the winner, chance is flagged, changes are tested."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from encephagen.analysis import analyze
from encephagen.interfaces import Metric
from encephagen.store import MetricRow, StoredCell, StoredCondition

LOW = [0.10, 0.11, 0.12, 0.13, 0.14, 0.15]
HIGH = [0.50, 0.51, 0.52, 0.53, 0.54, 0.55]


def _analysis(described: list[Metric] | None, ref: list[float], other: list[float], metric: str = "m") -> object:
    conditions = [StoredCondition("connectome", 0, "", True), StoredCondition("random", 1, "erdos_renyi", False)]
    info = {} if described is None else {"metrics": {"t": [m.as_dict() for m in described]}}
    cells = [StoredCell(c.name, c.name, c.position, (), (), "f", info) for c in conditions]
    rows = [MetricRow(cond, i, i, "t", metric, v) for cond, values in (("connectome", ref), ("random", other)) for i, v in enumerate(values)]
    return analyze(conditions, cells, rows, seed=0, alpha=0.05, planned=len(ref))


@pytest.mark.parametrize(
    ("direction", "winner"), [("higher", "random"), ("lower", "connectome"), ("none", "differs")]
)
def test_the_winner_honours_the_declared_direction(direction: str, winner: str) -> None:
    a = _analysis([Metric("m", "Hz", "a rate", direction)], LOW, HIGH)
    (row,) = a.comparisons
    assert row.comparison.q < 0.05 and row.comparison.direction == direction and row.winner == winner


def test_an_undescribed_metric_has_no_winner_only_a_difference() -> None:
    (row,) = _analysis(None, LOW, HIGH).comparisons
    assert row.comparison.direction == "none" and row.winner == "differs"
    (same,) = _analysis(None, LOW, LOW).comparisons
    assert same.winner == ""


def test_a_mean_at_or_below_chance_is_noted() -> None:
    (row,) = _analysis([Metric("m", "1", "accuracy", "higher", chance=0.2)], LOW, HIGH).comparisons
    assert "connectome at or below chance (0.2)" in row.note and "random at or below" not in row.note


def test_power_is_none_or_at_least_four_at_alpha_005() -> None:
    """3 vs 3 brains can never give p < 0.05 with the exact test, so no design of 3 is ever proposed."""
    (row,) = _analysis([Metric("m", "1", "x", "higher")], LOW, HIGH).comparisons
    assert row.power_n is not None and row.power_n >= 4


def test_a_change_metric_is_tested_against_zero_within_each_cell() -> None:
    moved = [0.2, 0.3, 0.25, 0.4, 0.35, 0.3]
    flat = [0.1, -0.1, 0.05, -0.05, 0.02, -0.03]
    a = _analysis([Metric("gain", "1", "after minus before", "higher", change=True)], flat, moved, metric="gain")
    by_cell = {r.cell: r for r in a.learning}
    assert set(by_cell) == {"connectome", "random"}
    assert by_cell["random"].p == pytest.approx(sps.wilcoxon(moved).pvalue) and by_cell["random"].p < 0.05
    assert by_cell["connectome"].p == pytest.approx(sps.wilcoxon(flat).pvalue) and by_cell["connectome"].p > 0.05
    assert by_cell["random"].mean == pytest.approx(np.mean(moved)) and by_cell["random"].n == 6
    assert _analysis([Metric("gain", "1", "not a change", "higher")], flat, moved, metric="gain").learning == []
    zeros = _analysis([Metric("gain", "1", "x", "higher", change=True)], [0.0] * 6, moved, metric="gain")
    assert math.isnan({r.cell: r for r in zeros.learning}["connectome"].p)


def test_metric_descriptions_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="'direction' must be one of higher, lower, none"):
        Metric("m", "1", "x", "better")
    with pytest.raises(ValueError, match="'chance' must be a finite number"):
        Metric("m", "1", "x", chance=math.nan)
