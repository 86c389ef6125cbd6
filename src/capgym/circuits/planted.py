"""Ground truth for the scorer: a tiny Llama with a hand-planted copying circuit.

The model (a capgym :class:`~capgym.models.llama.Llama`, so every hook and baseline runs
on it unchanged) solves a repeated-name task: ``BOS filler.. named NAME filler.. QUERY``
-> ``NAME``.  Its weights are set by hand:

* the embedding writes a name's identity (dims 0-7), an "is a name" flag (8), an
  "is the query" flag (9) and a filler's identity (10-25);
* the **planted heads** ``L0H0`` and ``L1H0`` attend from the query to the name (query
  flag . name flag, on the last rotary pair whose rotation is negligible over the
  sequence) and copy the name's identity into dims 32-39, which the unembedding reads;
* **decoys**: ``L0H1`` attends to the name too but writes into dims 40-47, which nothing
  reads; the other heads and the MLPs have small random weights writing there as well.

So the circuit is known: patching ``{L0H0, L1H0}`` alone carries the answer, and the
decoy shows why attention alone is not evidence.  Tests check that the scorer gives the
planted circuit faithfulness near 1 and that every baseline ranks the planted heads
first (AUROC).

>>> lm = planted_model()
>>> ps = planted_pairs(lm, 8)
>>> from capgym.circuits.pairs import logit_diff
>>> bool((logit_diff(lm.forward(ps.clean), ps) > 0).all())
True
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import torch

from capgym.circuits.pairs import Pair, PairSet
from capgym.models.base import Encoding, Tokenizer
from capgym.models.llama import Llama, LlamaConfig
from capgym.models.llama2c import LlamaLM

N_NAMES, N_FILLERS = 8, 16
NAMES = list(range(3, 3 + N_NAMES))
FILLERS = list(range(11, 11 + N_FILLERS))
NAMED, QUERY = 27, 28
PLANTED = frozenset({"L0H0", "L1H0"})
CIRCUIT = ("embed", "L0H0", "L1H0")  # the planted heads and the embedding they read
NOISE = 0.1  # scale of the random weights of the other heads and the MLPs
DECOYS = frozenset({"L0H1"})
_PIECES = (["<unk>", "<s>", "</s>"] + [f" N{i}" for i in range(N_NAMES)]
           + [f" f{i}" for i in range(N_FILLERS)] + [" named", " QUERY", " x", " y", " z"])  # fmt: skip


class PlantedTokenizer(Tokenizer):
    """Space-separated pieces of the planted vocabulary (32 tokens)."""

    vocab_size = len(_PIECES)
    bos_id = 1
    eos_id = 2
    _hash = "planted-v1"

    def _encode(self, text: str) -> Encoding:
        ids, spans, pos = [], [], 0
        index = {p: i for i, p in enumerate(_PIECES)}
        for word in text.split(" "):
            if word:
                start = text.index(word, pos) - 1
                ids.append(index.get(" " + word, 0))
                spans.append((max(start, 0), start + 1 + len(word)))
                pos = start + 1 + len(word)
        return Encoding(ids, spans)

    def piece(self, token_id: int) -> str:
        return _PIECES[token_id]

    def decode(self, ids: list[int]) -> str:
        return "".join(_PIECES[i] for i in ids)


def planted_model(seed: int = 0) -> LlamaLM:
    """The hand-set 2-layer model (dim 48, 4 heads of 12) described in the module doc."""
    cfg = LlamaConfig(dim=48, n_layers=2, n_heads=4, n_kv_heads=4, vocab_size=len(_PIECES),
                      hidden_dim=32, max_seq_len=32, tied=False)  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    m = Llama(cfg)
    hd = cfg.head_dim
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.norm.weight.fill_(1.0)
        emb = m.tok_embeddings.weight
        for i, t in enumerate(NAMES):
            emb[t, i] = 1.0
            emb[t, 8] = 1.0
        for i, t in enumerate(FILLERS):
            emb[t, 10 + i] = 1.0
        emb[QUERY, 9] = 1.0
        emb[NAMED, 26] = 1.0
        emb[1, 27] = 1.0
        qk = hd - 2  # the last rotary pair turns by < 0.02 rad over 32 positions
        for layer, block in enumerate(m.layers):
            block.attention_norm.weight.fill_(1.0)
            block.ffn_norm.weight.fill_(1.0)
            att = block.attention
            for head in range(cfg.n_heads):
                rows = slice(head * hd, (head + 1) * hd)
                if head == 0 or (layer == 0 and head == 1):  # planted copier or decoy
                    att.wq.weight[head * hd + qk, 9] = 2.0 + 4.0 * layer
                    att.wk.weight[head * hd + qk, 8] = 2.0 + 4.0 * layer
                    for i in range(N_NAMES):
                        att.wv.weight[head * hd + i, i] = 1.0
                        out = 32 + i if head == 0 else 40 + i % 8
                        att.wo.weight[out, head * hd + i] = 0.5
                else:  # a random head writing where nothing reads
                    att.wq.weight[rows] = NOISE * torch.randn(hd, cfg.dim, generator=gen)
                    att.wk.weight[rows] = NOISE * torch.randn(hd, cfg.dim, generator=gen)
                    att.wv.weight[rows] = NOISE * torch.randn(hd, cfg.dim, generator=gen)
                    att.wo.weight[40:48, rows] = NOISE * torch.randn(8, hd, generator=gen)
            ff = block.feed_forward
            ff.w1.weight.copy_(NOISE * torch.randn(cfg.hidden_dim, cfg.dim, generator=gen))
            ff.w3.weight.copy_(NOISE * torch.randn(cfg.hidden_dim, cfg.dim, generator=gen))
            ff.w2.weight[40:48] = NOISE * torch.randn(8, cfg.hidden_dim, generator=gen)
        for i, t in enumerate(NAMES):
            m.output.weight[t, 32 + i] = 4.0
    return LlamaLM(m.eval(), PlantedTokenizer(), name="planted-induction",
                   architecture="hand-set Llama with a planted copying circuit",
                   files=[Path(__file__)], source="capgym.circuits.planted")  # fmt: skip


def planted_pairs(lm: LlamaLM, n: int, seed: int = 0) -> PairSet:
    """``n`` (clean, corrupted) pairs: the same sequence with another name introduced."""
    rng = random.Random(seed)
    clean, corrupt, answer, wrong, pairs = [], [], [], [], []
    length = 12
    for k in range(n):
        a, b = rng.sample(NAMES, 2)
        at = rng.randrange(1, length - 4)
        seq = [1] + [rng.choice(FILLERS) for _ in range(length - 2)] + [QUERY]
        seq[at], seq[at + 1] = NAMED, a
        other = list(seq)
        other[at + 1] = b
        clean.append(seq)
        corrupt.append(other)
        answer.append(a)
        wrong.append(b)
        text = lm.tokenizer.decode(seq[1:])
        pairs.append(Pair(f"planted-{k:04d}", "planted", text, lm.tokenizer.decode(other[1:]),
                          _PIECES[a], _PIECES[b]))  # fmt: skip
    return PairSet(task="planted-induction", model=lm.name, pairs=pairs,
                   clean=torch.tensor(clean), corrupt=torch.tensor(corrupt),
                   length=torch.full((n,), length), answer=torch.tensor(answer),
                   wrong=torch.tensor(wrong), n_total=n, invalid=Counter())  # fmt: skip
