"""A tiny greedy-longest-match tokenizer and a bigram LM implementing LanguageModel.

The tokenizer has pieces that merge across a prompt/answer boundary (" park", '."',
"rhino") and no piece for some characters (they become <unk>, id 0), so the
boundary checks can be tested without any real asset.
"""

from __future__ import annotations

import hashlib

import torch

from capgym.models.base import Encoding, LanguageModel, ModelInfo, Tokenizer

SPECIALS = ["<unk>", "<s>", "</s>"]
CHARS = [chr(c) for c in range(32, 127) if chr(c) != "~"]
MERGES = [" park", '."', "rhino", " the", " Tom", " Sue"]


class ToyTokenizer(Tokenizer):
    """Greedy longest match over ``MERGES`` + printable ASCII (no "~", no non-ASCII)."""

    unk_id = 0

    def __init__(self) -> None:
        self.pieces = SPECIALS + CHARS + MERGES
        self.lookup = {p: i for i, p in enumerate(self.pieces)}
        self.vocab_size = len(self.pieces)
        self.bos_id = 1
        self.eos_id = 2
        self.longest = max(map(len, self.pieces))

    def encode(self, text: str) -> Encoding:
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(text):
            for k in range(min(self.longest, len(text) - i), 0, -1):
                tid = self.lookup.get(text[i : i + k])
                if tid is not None and tid > 2:
                    break
            else:
                tid, k = 0, 1
            ids.append(tid)
            spans.append((i, i + k))
            i += k
        return Encoding(ids, spans)

    def piece(self, token_id: int) -> str:
        return self.pieces[token_id]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.pieces[i] for i in ids if i > 2)

    @property
    def content_hash(self) -> str:
        return "toy-tokenizer-v1"


class BigramLM(LanguageModel):
    """logits[t] = W[ids[t]]: causal by construction, random but seeded."""

    def __init__(self, seed: int = 0, context_len: int = 256) -> None:
        self.tokenizer = ToyTokenizer()
        self.name = f"bigram-{seed}"
        self.vocab_size = self.tokenizer.vocab_size
        self.context_len = context_len
        self.bos_id = 1
        self.seed = seed
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(self.vocab_size, self.vocab_size, generator=g) * 2
        self.calls = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if ids.shape[1] > self.context_len:
            raise ValueError("longer than the context")
        return self.W[ids].float()

    @property
    def n_params(self) -> int:
        return self.W.numel()

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"bigram-{self.seed}-{self.context_len}".encode()).hexdigest()[:16]

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.name, "bigram", self.n_params, self.context_len, self.vocab_size,
                         "toy", "tests")  # fmt: skip
