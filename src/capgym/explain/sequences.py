"""Token-id sequences of many stories, flattened into one array for vectorised explainers.

Each sequence starts with :data:`START` standing for the model's BOS (position 0), so a
story's token at position ``p`` lives at ``flat[offsets[i] + p]`` and its context is
``flat[offsets[i] : offsets[i] + p]``.  The reference corpus (tokenized without BOS)
and the scored stories (rebuilt from ``scores`` rows) share this layout, so n-gram
contexts at the start of a story mean the same in both.

>>> s = Sequences.from_lists([[5, 6], [7]])
>>> s.flat.tolist(), s.offsets.tolist()
([-1, 5, 6, -1, 7], [0, 3, 5])
>>> s.context(2)[2].tolist()  # the two ids before the 6
[-1, 5]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

START = -1  # the BOS position
PAD = -2  # before the start of a sequence (in n-gram contexts only)
UNKNOWN = -3  # a position missing from the scores table; matches nothing


@dataclass(frozen=True)
class Sequences:
    """Flat token ids (``int64``) and the start offset of each sequence (plus the end)."""

    flat: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_lists(cls, seqs: Iterable[Sequence[int]]) -> Sequences:
        """Sequences of token ids *without* BOS; a START is put in front of each."""
        arrays = [np.concatenate([[START], np.asarray(s, dtype=np.int64)]) for s in seqs]
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
        return cls(flat.astype(np.int64), offsets)

    @classmethod
    def from_positions(
        cls, seq_index: np.ndarray, pos: np.ndarray, token_id: np.ndarray, n_seqs: int
    ) -> tuple[Sequences, np.ndarray]:
        """Rebuild sequences from scored rows; returns them and each row's flat index.

        ``seq_index`` (0..n_seqs-1) says which sequence a row belongs to and ``pos`` its
        position (>= 1).  Positions never scored become :data:`UNKNOWN`.

        >>> s, at = Sequences.from_positions(np.array([0, 0, 1]), np.array([1, 2, 1]),
        ...                                  np.array([5, 6, 7]), 2)
        >>> s.flat.tolist(), at.tolist()
        ([-1, 5, 6, -1, 7], [1, 2, 4])
        """
        seq_index = np.asarray(seq_index, dtype=np.int64)
        pos = np.asarray(pos, dtype=np.int64)
        lengths = np.ones(n_seqs, dtype=np.int64)
        if len(pos):
            np.maximum.at(lengths, seq_index, pos + 1)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.full(int(offsets[-1]), UNKNOWN, dtype=np.int64)
        flat[offsets[:-1]] = START
        at = offsets[seq_index] + pos
        flat[at] = np.asarray(token_id, dtype=np.int64)
        return cls(flat, offsets), at

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def seq_index(self) -> np.ndarray:
        """For each flat position, the index of its sequence."""
        return np.repeat(np.arange(len(self)), np.diff(self.offsets))

    @property
    def positions(self) -> np.ndarray:
        """For each flat position, its position within its sequence (START = 0)."""
        return np.arange(len(self.flat)) - np.repeat(self.offsets[:-1], np.diff(self.offsets))

    @property
    def targets(self) -> np.ndarray:
        """Flat indices of every predicted position (everything but the STARTs)."""
        return np.flatnonzero(self.positions > 0)

    def context(self, k: int, at: np.ndarray | None = None) -> np.ndarray:
        """``[len(at), k]`` ids of the ``k`` positions before each flat index in ``at``.

        Positions before a sequence's START are :data:`PAD`.
        """
        at = np.arange(len(self.flat)) if at is None else np.asarray(at, dtype=np.int64)
        out = np.full((len(at), k), PAD, dtype=np.int64)
        if k == 0 or len(at) == 0:
            return out
        pos = self.positions[at]
        for j in range(1, k + 1):
            ok = pos >= j
            out[ok, k - j] = self.flat[at[ok] - j]
        return out
