"""Tuning by cross-validation over grids: grid and coordinate search.

The searches are estimator-agnostic: they take a function that scores a batch of grid
points (one batched computation, :mod:`jaxpanel.batch`) and return the chosen point with
the whole score table, so the CV curve can be inspected (``Estimate.info``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np


class TuningWarning(UserWarning):
    """A tuning criterion was approximated (e.g. computed on a subset of its cells)."""


class SearchResult(NamedTuple):
    """A CV search: the chosen grid point and every score computed on the way.

    Attributes
    ----------
    best : tuple of floats, the chosen point.
    score : its CV score.
    points : (P, d) every point scored, in the order scored.
    scores : (P,) their scores (inf where a fit failed).
    rounds : number of coordinate rounds (1 for a full grid).
    """

    best: tuple
    score: float
    points: np.ndarray
    scores: np.ndarray
    rounds: int


def _first_min(scores: np.ndarray) -> int:
    scores = np.where(np.isfinite(scores), scores, np.inf)
    return int(np.argmin(scores))


def grid_search(
    score: Callable[[np.ndarray], np.ndarray], grids: Sequence[Sequence[float]]
) -> SearchResult:
    """Score every point of the product grid in one call and take the first minimum.

    ``score`` maps a (P, d) array of points to (P,) scores; points are in row-major order
    of ``grids`` (the last coordinate varies fastest).

    Parameters
    ----------
    score : maps (P, d) points to (P,) scores (one batched call).
    grids : per coordinate, the candidate values.

    Returns
    -------
    SearchResult.

    Raises
    ------
    FloatingPointError
        Every grid point failed (no finite score).
    """
    points = np.array(list(_product(grids)), dtype=float)
    scores = np.asarray(score(points), dtype=float)
    k = _first_min(scores)
    if not np.isfinite(scores[k]):
        raise FloatingPointError("every grid point failed: no finite CV score")
    return SearchResult(tuple(points[k]), float(scores[k]), points, scores, 1)


def _product(grids):
    if not grids:
        yield ()
        return
    for x in grids[0]:
        for rest in _product(grids[1:]):
            yield (x, *rest)


def cycle_search(
    score: Callable[[np.ndarray], np.ndarray],
    grids: Sequence[Sequence[float]],
    start: Sequence[float],
    order: Sequence[int],
    first: Sequence[tuple[int, Sequence[float]]] = (),
    max_rounds: int = 50,
) -> SearchResult:
    """Coordinate-wise search: optimise one coordinate over its grid, the others fixed.

    Parameters
    ----------
    score : (P, d) points -> (P,) scores; each coordinate update is one call.
    grids : per coordinate, the candidate values.
    start : initial point (need not lie on the grids).
    order : coordinates in the order they are updated within a round.
    first : optional opening updates ``(coordinate, values of the other coordinates)``
        done once before the rounds (None keeps a coordinate's current value); the TROP
        paper's footnote 2 opens with lambda_nn = inf and lambda_unit = 0.
    max_rounds : rounds of ``order`` before giving up (a warning is the caller's job).

    Returns
    -------
    SearchResult; ``rounds`` counts full rounds, and the search stops after the first
    round that changes nothing. Scores are cached, so revisited points cost nothing.
    """
    cache: dict[tuple, float] = {}
    seen: list[tuple] = []
    current = list(start)

    def update(coord: int) -> None:
        cands = []
        for value in grids[coord]:
            p = list(current)
            p[coord] = float(value)
            cands.append(tuple(float(x) for x in p))
        todo = [p for p in dict.fromkeys(cands) if p not in cache]
        if todo:
            got = np.asarray(score(np.array(todo, dtype=float)), dtype=float)
            for p, s in zip(todo, got):
                cache[p] = float(s)
                seen.append(p)
        k = _first_min(np.array([cache[p] for p in cands]))
        current[coord] = cands[k][coord]

    for coord, fixed in first:
        others = [c for c in range(len(grids)) if c != coord]
        for c, value in zip(others, fixed):
            if value is not None:
                current[c] = float(value)
        update(coord)
    rounds = 0
    while rounds < max_rounds:
        before = tuple(current)
        for coord in order:
            update(coord)
        rounds += 1
        if tuple(current) == before:
            break
    best = tuple(float(x) for x in current)
    if not math.isfinite(cache[best]):
        raise FloatingPointError("every grid point failed: no finite CV score")
    points = np.array(seen, dtype=float)
    scores = np.array([cache[p] for p in seen], dtype=float)
    return SearchResult(best, cache[best], points, scores, rounds)


__all__ = [
    "SearchResult",
    "TuningWarning",
    "cycle_search",
    "grid_search",
]
