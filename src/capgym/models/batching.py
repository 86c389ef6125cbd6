"""Packing sequences of different lengths into forward batches under a token budget.

Shared by every stage that runs a model over many sequences (scoring's windows, the
evaluate stage's examples): sorted longest first, so that padding stays small.

>>> batch_plan([3, 8, 5, 2], budget=10)
[[1], [2, 0], [3]]
"""

from __future__ import annotations


def batch_plan(lengths: list[int], budget: int) -> list[list[int]]:
    """Group items (by index) into batches: longest first, ``len(batch) * max_len <= budget``.

    >>> batch_plan([3, 8, 5, 2], budget=10)
    [[1], [2, 0], [3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = lengths[cur[0]] if cur else lengths[i]
        if cur and (len(cur) + 1) * width > budget:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches
