"""pareto_front on hand-worked cases."""

from __future__ import annotations

import math

import pytest

from tandem.report.pareto import dominates, pareto_front

# quality (higher better) vs bytes (lower better) is the report's usual pair: (bytes, quality)
COST_QUALITY = (False, True)


def test_cost_quality_front_by_hand() -> None:
    points = [(10, 0.50), (20, 0.60), (15, 0.55), (30, 0.58), (5, 0.40), (25, 0.60)]
    # (30, .58) is beaten by (20, .60); (25, .60) is beaten by (20, .60): equal quality, more bytes
    assert pareto_front(points, COST_QUALITY) == [4, 0, 2, 1]


def test_front_is_sorted_by_first_coordinate() -> None:
    points = [(3.0, 0.9), (1.0, 0.5), (2.0, 0.7)]
    assert pareto_front(points, COST_QUALITY) == [1, 2, 0]


def test_both_maximized_and_both_minimized() -> None:
    points = [(1, 1), (2, 0), (0, 2), (1, 0), (0, 0)]
    assert pareto_front(points, (True, True)) == [2, 0, 1]
    assert pareto_front(points, (False, False)) == [4]


def test_duplicates_on_the_front_are_all_kept() -> None:
    points = [(1, 1), (1, 1), (2, 0)]
    assert pareto_front(points, (False, True)) == [0, 1]


def test_single_empty_and_one_dimension() -> None:
    assert pareto_front([(7, 3)], COST_QUALITY) == [0]
    assert pareto_front([], COST_QUALITY) == []
    assert pareto_front([(3,), (1,), (1,)], (False,)) == [1, 2]


def test_three_axes() -> None:
    # (quality max, bytes min, latency min)
    points = [(0.9, 100, 5), (0.9, 100, 6), (0.8, 50, 5), (0.7, 60, 9), (0.95, 200, 1)]
    assert sorted(pareto_front(points, (True, False, False))) == [0, 2, 4]


def test_anti_correlated_points_are_all_on_the_front() -> None:
    points = [(i, i / 10) for i in range(10)]
    assert pareto_front(points, COST_QUALITY) == list(range(10))


def test_dominates_needs_a_strict_improvement() -> None:
    assert dominates((1, 2), (1, 1), COST_QUALITY)
    assert not dominates((1, 1), (1, 1), COST_QUALITY)
    assert not dominates((0, 0), (1, 1), COST_QUALITY)


@pytest.mark.parametrize(
    ("points", "maximize", "message"),
    [
        ([(1, math.nan)], COST_QUALITY, "point 0 is not finite"),
        ([(1, 2), (1, math.inf)], COST_QUALITY, "point 1 is not finite"),
        ([(1, 2, 3)], COST_QUALITY, "point 0 has 3 coordinates, expected 2"),
        ([(1, 2)], (), "at least one axis"),
    ],
)
def test_bad_points_are_refused(points: list, maximize: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pareto_front(points, maximize)
