"""Pareto fronts: which runs or settings no other one beats on every axis at once.

A point *dominates* another when it is at least as good on every axis and strictly better on one.
The front is the set of points nothing dominates. Equal points do not dominate each other, so
duplicates on the front are all kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def dominates(a: Sequence[float], b: Sequence[float], maximize: Sequence[bool]) -> bool:
    """Whether ``a`` dominates ``b``: no worse on every axis, strictly better on at least one."""
    better = False
    for x, y, up in zip(a, b, maximize, strict=True):
        if (x < y) if up else (x > y):
            return False
        if x != y:
            better = True
    return better


def pareto_front(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[int]:
    """Indices of the non-dominated ``points``, sorted by their first coordinate (ties keep input order).

    ``maximize[k]`` says whether larger is better on axis ``k``; e.g. quality vs bytes is
    ``pareto_front([(bytes, acc), ...], maximize=(False, True))``. Raises ``ValueError`` for points of
    the wrong length or with NaN/infinite coordinates (a front through them would be meaningless).
    """
    dims = len(maximize)
    if dims == 0:
        raise ValueError("pareto_front: maximize must name at least one axis")
    for i, point in enumerate(points):
        if len(point) != dims:
            raise ValueError(f"pareto_front: point {i} has {len(point)} coordinates, expected {dims}")
        if not all(math.isfinite(float(v)) for v in point):
            raise ValueError(f"pareto_front: point {i} is not finite: {tuple(point)}")
    # Sort best-first on axis 0 (then the other axes), so a point can only be dominated by one
    # earlier in the order (or an equal-on-axis-0 one, which the full check below also covers).
    def best_first(i: int) -> tuple[float, ...]:
        return tuple(-float(v) if up else float(v) for v, up in zip(points[i], maximize, strict=True))

    keyed = sorted(range(len(points)), key=best_first)
    front: list[int] = []
    for i in keyed:
        if not any(dominates(points[j], points[i], maximize) for j in front):
            front.append(i)
    return sorted(front, key=lambda i: (float(points[i][0]), i))
