"""A tiny character-level causal LM implementing the LanguageModel interface.

Used by fast unit tests of the scoring engine; deliberately independent of every
real backend.
"""

from __future__ import annotations

import hashlib

import torch

from capgym.models.base import Encoding, LanguageModel, ModelInfo, Tokenizer


class CharTokenizer(Tokenizer):
    """Byte-level: id = byte + 3; 0 unk, 1 BOS, 2 EOS.  Multi-byte chars -> several ids."""

    vocab_size = 259
    bos_id = 1
    eos_id = 2

    def encode(self, text: str) -> Encoding:
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for i, ch in enumerate(text):
            bs = ch.encode("utf-8")
            for j, b in enumerate(bs):
                ids.append(b + 3)
                spans.append((i, i + 1) if j == 0 else (i + 1, i + 1))
        return Encoding(ids, spans)

    def piece(self, token_id: int) -> str:
        if token_id < 3:
            return ["<unk>", "<s>", "</s>"][token_id]
        return bytes([token_id - 3]).decode("latin-1")

    def decode(self, ids: list[int]) -> str:
        return bytes(i - 3 for i in ids if i >= 3).decode("utf-8", "replace")

    @property
    def content_hash(self) -> str:
        return "char-bytes-v1"


class ToyLM(LanguageModel):
    """One causal self-attention layer over byte embeddings, random but seeded."""

    def __init__(self, context_len: int = 16, dim: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.name = f"toy-{seed}"
        self.tokenizer = CharTokenizer()
        self.context_len = context_len
        self.vocab_size = 259
        self.bos_id = 1
        self.emb = torch.randn(self.vocab_size, dim, generator=g)
        self.pos = torch.randn(context_len, dim, generator=g) * 0.1
        self.wq, self.wk, self.wv = (torch.randn(dim, dim, generator=g) / dim**0.5 for _ in "qkv")
        self.seed = seed

    @torch.no_grad()
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.context_len:
            raise ValueError("sequence longer than the context")
        x = self.emb[ids] + self.pos[:t]
        q, k, v = x @ self.wq, x @ self.wk, x @ self.wv
        att = (q @ k.transpose(1, 2)) / q.shape[-1] ** 0.5
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        h = x + att @ v
        return (h @ self.emb.T).float()

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in (self.emb, self.pos, self.wq, self.wk, self.wv))

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"toy-{self.seed}-{self.context_len}".encode()).hexdigest()[:16]

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            self.name,
            "toy attention",
            self.n_params,
            self.context_len,
            self.vocab_size,
            "bytes",
            "tests",
        )
