"""Where the model looks from a position: a fixed-length summary of each head's pattern.

For a predicted token at ``pos`` the query is sequence index ``q = pos - 1`` (the last
token read, the same index as the final state in :mod:`capgym.cluster.states`).  Each
head's attention row ``a[k]`` (``k <= q``, summing to 1) becomes :data:`FEATURES`:

* ``first``: mass on the window's first token (BOS in the first window: the "no-op" sink);
* ``d0`` .. ``d64+``: mass at distance ``q - k`` of 0 (itself), 1 (the previous token),
  2-3, 4-7, 8-15, 16-63 and 64 or more (the first token excluded);
* ``induction``: mass on tokens that follow an earlier occurrence of the current token
  (``ids[k - 1] == ids[q]``, ``k <= q``): what an induction head reads;
* ``copy``: mass on earlier occurrences of the token being predicted
  (``ids[k] == ids[q + 1]``, ``k <= q``): what a copying head reads;
* ``quote``: mass on tokens containing a double quote;
* ``stop``: mass on tokens ending a sentence or line (``.``, ``!``, ``?``, a newline);
* ``entropy``: ``-sum a log a`` in nats (0 = one key, ``log(q + 1)`` = uniform).

>>> import numpy as np, torch
>>> rows = torch.tensor([[[0, 0, 0.5, 0.5]]])  # one head, the query at index 3
>>> f = head_features(rows, [1, 7, 9, 7, 9], np.array([3]), np.zeros(10, bool),
...                   np.zeros(10, bool))
>>> {n: round(float(v), 3) for n, v in zip(FEATURES, f[0, 0]) if v}
{'d0': 0.5, 'd1': 0.5, 'induction': 0.5, 'copy': 0.5, 'entropy': 0.693}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["BINS", "FEATURES", "head_features", "key_masks", "token_classes"]

BINS = ((0, 1), (1, 2), (2, 4), (4, 8), (8, 16), (16, 64), (64, 1 << 30))  # [lo, hi) distances
FEATURES = ("first", "d0", "d1", "d2-3", "d4-7", "d8-15", "d16-63", "d64+", "induction",
            "copy", "quote", "stop", "entropy")  # fmt: skip


def token_classes(pieces: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per vocabulary id: ``(has a double quote, ends a sentence or line)``."""
    quote = np.array(['"' in p for p in pieces], dtype=bool)
    stop = np.array([p.rstrip(" ").endswith((".", "!", "?", "\n")) for p in pieces], dtype=bool)
    return quote, stop


def key_masks(
    ids: Sequence[int], queries: np.ndarray, t: int, quote: np.ndarray, stop: np.ndarray
) -> torch.Tensor:
    """The keys each mass feature of :data:`FEATURES` sums over: float ``[len(FEATURES)
    - 1, n_queries, t]`` for a window of ``ids`` (padded or cut to ``t``) and its
    ``queries``; the same for every layer, so built once per window."""
    w = torch.as_tensor(np.asarray(list(ids[:t]) + [0] * max(0, t - len(ids)), dtype=np.int64))
    q = torch.as_tensor(queries, dtype=torch.long)[:, None]  # [n, 1]
    k = torch.arange(t)[None, :]  # [1, T]
    seen = k <= q
    dist = q - k
    later = k >= 1
    masks = [(k == 0) & seen]
    masks += [seen & later & (dist >= lo) & (dist < hi) for lo, hi in BINS]
    prev = torch.cat([torch.full((1,), -1), w[:-1]])  # ids[k - 1]
    masks.append(seen & later & (prev[None, :] == w[q]))
    target = torch.as_tensor(np.asarray(ids, dtype=np.int64))[q + 1]
    masks.append(seen & (w[None, :] == target))
    masks.append(seen & torch.as_tensor(quote)[w][None, :])
    masks.append(seen & torch.as_tensor(stop)[w][None, :])
    return torch.stack(masks).float()


def head_features(
    rows: torch.Tensor,
    ids: Sequence[int],
    queries: np.ndarray,
    quote: np.ndarray,
    stop: np.ndarray,
    masks: torch.Tensor | None = None,
) -> np.ndarray:
    """:data:`FEATURES` ``[n_queries, heads, len(FEATURES)]`` of one window.

    ``rows``: the attention rows ``[heads, n_queries, T]`` of ``queries`` (indexes into
    the window's ``ids``, each with ``ids[q + 1]`` the predicted token); ``quote`` and
    ``stop``: :func:`token_classes` of the vocabulary; ``masks``: :func:`key_masks`, if
    already built for this window.
    """
    if masks is None:
        masks = key_masks(ids, queries, rows.shape[-1], quote, stop)
    a = rows.float()
    mass = torch.einsum("hnt,fnt->nhf", a, masks)
    entropy = -(a * torch.log(a.clamp_min(1e-12))).sum(-1).T  # [n, heads]
    return torch.cat([mass, entropy[..., None]], -1).numpy()
