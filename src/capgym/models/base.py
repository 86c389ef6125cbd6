"""The one small interface every model backend implements.

A :class:`LanguageModel` turns a story into token ids *with character spans* and turns
a batch of token ids into float32 logits.  Everything downstream (scoring, tags,
tasks) depends only on this interface, never on a backend.

Conventions
-----------
* ``encode(text)`` returns the ids the model is scored on: BOS first when the model
  was trained with one (llama2.c models: id 1; roneneldan models: ``<|endoftext|>``).
* ``spans[i] = (char_start, char_end)`` is the half-open span of ``text`` covered by
  token ``i``.  BOS gets ``(0, 0)``.  A leading dummy-prefix space is not part of the
  text, so the first real token of ``" Once"`` covers ``text[0:4]``.
* Spans are non-overlapping, non-decreasing and cover ``text`` exactly:
  ``"".join(text[s:e] for s, e in spans) == text``.  When several tokens share one
  character (byte-fallback tokens of a multi-byte character, byte-level BPE pieces
  that split a character), the *first* of them covers the character and the others
  get the empty span at its end.

>>> from capgym.models.base import Encoding
>>> enc = Encoding(ids=[1, 7, 9], spans=[(0, 0), (0, 2), (2, 5)])
>>> enc.covered("Hi you")
['', 'Hi', ' yo']
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from capgym.errors import TokenizerError


@dataclass(frozen=True)
class Encoding:
    """Token ids of a text with the character span each token covers."""

    ids: list[int]
    spans: list[tuple[int, int]]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.spans):
            raise ValueError("ids and spans must have the same length")

    def covered(self, text: str) -> list[str]:
        """The piece of ``text`` each token covers."""
        return [text[s:e] for s, e in self.spans]


@dataclass(frozen=True)
class ModelInfo:
    """Descriptive facts about a model, shown by ``capgym models`` and the report."""

    name: str
    architecture: str
    n_params: int
    context_len: int
    vocab_size: int
    tokenizer: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict)


def read_tokenizer_file(path: str | Path) -> bytes:
    """The bytes of a tokenizer file, or a one-line :class:`TokenizerError`."""
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as err:
        raise TokenizerError(
            f"cannot read tokenizer {path}: {err.strerror}; check the path"
        ) from err


class Tokenizer(abc.ABC):
    """Text <-> token ids, with character spans.  No BOS is added here."""

    vocab_size: int
    bos_id: int | None
    eos_id: int | None

    def encode(self, text: str) -> Encoding:
        """Tokens of ``text`` (no BOS) with their character spans ("" has none)."""
        return self._encode(text) if text else Encoding(ids=[], spans=[])

    def _encode(self, text: str) -> Encoding:
        """Tokens of a non-empty ``text``: what a subclass implements (or ``encode``)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither encode nor _encode")

    @abc.abstractmethod
    def piece(self, token_id: int) -> str:
        """Human-readable string of one token (what the token view shows)."""

    @abc.abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Text of a sequence of ids."""

    _hash: str  # set by the subclass, or override content_hash

    @property
    def content_hash(self) -> str:
        """Stable hash of the vocabulary; equal hashes mean token-by-token comparable."""
        return self._hash


class LanguageModel(abc.ABC):
    """A causal LM that capgym can score: encode with spans, forward to logits."""

    name: str
    tokenizer: Tokenizer
    context_len: int
    vocab_size: int
    bos_id: int | None
    device: torch.device = torch.device("cpu")

    def encode(self, text: str) -> Encoding:
        """Ids to score ``text`` on: BOS (when the model uses one) + tokens."""
        enc = self.tokenizer.encode(text)
        if self.bos_id is None:
            return enc
        return Encoding(ids=[self.bos_id, *enc.ids], spans=[(0, 0), *enc.spans])

    def piece(self, token_id: int) -> str:
        return self.tokenizer.piece(token_id)

    @abc.abstractmethod
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, vocab]`` (float32) for ids ``[B, T]`` (int64, T <= context_len).

        Causal: the logits at position t depend only on ids[:, :t+1], so right padding
        never changes the logits of real positions.
        """

    @property
    @abc.abstractmethod
    def n_params(self) -> int:
        """Number of parameters (tied embeddings counted once)."""

    @property
    @abc.abstractmethod
    def content_hash(self) -> str:
        """Stable hash of weights + tokenizer + architecture; the scoring cache key."""

    @property
    @abc.abstractmethod
    def info(self) -> ModelInfo:
        """Descriptive facts (architecture, parameters, source)."""

    def to(self, device: str | torch.device) -> LanguageModel:
        """Move the model to ``device``; returns self."""
        raise NotImplementedError(f"{type(self).__name__} cannot move devices")
