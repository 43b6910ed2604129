"""How many rows each split part gets: overall, and per class for stratified splits.

Sizes are rounded so that every part is within one row of ``rows * ratio``,
overall and within each class, and always add up to the rows there are.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

__all__ = ["allocate", "class_sizes", "min_rows"]


def allocate(n: int, ratios: Sequence[float]) -> list[int]:
    """Row counts for ``ratios`` summing to ``n``, each within one row of ``n * ratio``.

    Largest remainder; ties go to the larger ratio, then to the later part
    (test before validation), since test may not be empty.
    """
    exact = [n * r for r in ratios]
    sizes = [math.floor(x) for x in exact]
    order = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - sizes[i]), -ratios[i], -i))
    for i in order[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes


def min_rows(ratios: Sequence[float]) -> int:
    """Fewest rows for which every part with a positive ratio gets at least one."""
    n = sum(1 for r in ratios if r > 0)
    while any(s == 0 and r > 0 for s, r in zip(allocate(n, ratios), ratios)):
        n += 1
    return n


def class_sizes(counts: Sequence[int], ratios: Sequence[float]) -> list[list[int]]:
    """Per-class part sizes: each class rounds down, then its leftover rows go one per part.

    Leftovers go first where the class's remainder is largest, then are moved
    along augmenting paths (a small bipartite flow between classes and parts)
    until the parts' totals equal :func:`allocate` of all rows. So each class is
    within one row of its ratios and so is each part overall.
    """
    parts = range(len(ratios))
    need = allocate(sum(counts), ratios)
    sizes = [[math.floor(c * r) for r in ratios] for c in counts]
    for row in sizes:
        need = [a - b for a, b in zip(need, row)]
    left = [c - sum(row) for c, row in zip(counts, sizes)]
    frac = [[c * r - s for r, s in zip(ratios, row)] for c, row in zip(counts, sizes)]
    extra = [[0 for _ in parts] for _ in counts]
    usable = [p for p in parts if ratios[p] > 0]

    cells = sorted(
        ((c, p) for c in range(len(counts)) for p in usable if frac[c][p] > 0),
        key=lambda cp: (-frac[cp[0]][cp[1]], cp[0], -cp[1]),
    )
    for c, p in cells:
        if left[c] and need[p] > 0:
            extra[c][p], left[c], need[p] = 1, left[c] - 1, need[p] - 1
    for c in range(len(counts)):
        while left[c] and _augment(c, extra, need, usable):
            left[c] -= 1
    for c in range(len(counts)):  # unreachable in practice; keeps each class within one row
        for p in sorted(usable, key=lambda p: -frac[c][p]):
            if left[c] and not extra[c][p]:
                extra[c][p], left[c] = 1, left[c] - 1
    return [[s + e for s, e in zip(row, add)] for row, add in zip(sizes, extra)]


def _augment(start: int, extra: list[list[int]], need: list[int], usable: Sequence[int]) -> bool:
    """Give class ``start`` one more row, shifting other classes' extras if needed."""
    came_from: dict[tuple[str, int], tuple[str, int] | None] = {("c", start): None}
    queue = deque([("c", start)])
    while queue:
        kind, node = queue.popleft()
        if kind == "c":
            steps = [("p", p) for p in usable if not extra[node][p]]
        elif need[node] > 0:
            _apply(("p", node), came_from, extra)
            need[node] -= 1
            return True
        else:
            steps = [("c", c) for c in range(len(extra)) if extra[c][node]]
        for step in steps:
            if step not in came_from:
                came_from[step] = (kind, node)
                queue.append(step)
    return False


def _apply(
    end: tuple[str, int],
    came_from: dict[tuple[str, int], tuple[str, int] | None],
    extra: list[list[int]],
) -> None:
    node: tuple[str, int] | None = end
    while node is not None:
        prev = came_from[node]
        if prev is not None:
            if node[0] == "p":  # class prev takes a row in part node
                extra[prev[1]][node[1]] = 1
            else:  # class node gives up its row in part prev
                extra[node[1]][prev[1]] = 0
        node = prev
