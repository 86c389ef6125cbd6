"""Batched forward passes over built examples: log-probabilities, ranks, logit differences.

The contrast between the answer and a wrong answer is read where the two first differ:
both are teacher-forced along their shared token prefix, so at the first token where
they part (the *decision token*) the model sees one context and two candidate tokens.
``logit_diff_at_decision`` is logit(answer token) - logit(wrong token) there (the IOI
logit difference; equal to the log-probability difference, as both share one softmax),
taken against the strongest wrong answer (the minimum over wrong answers);
``beats_wrong`` is 1 when it is > 0 (ties lose), 0 otherwise.  Summed log-probability
differences over whole candidates of different token counts are kept under their own
names (``seq_logprob_diff`` and the per-token ``seq_logprob_diff_per_token``).

"First-token" figures (``first_logprob``, ``rank``, ``first_logprob_diff``) are taken at
the first answer token that is not whitespace only, with the whitespace tokens before
it: on tokenizers that glue the space to the word that is the first token, and on
character-level ones it is the first letter rather than the shared space.

Every (prompt + answer) and every multi-token (prompt + wrong answer) is one sequence;
a sequence that is a prefix of another (examples mined from one story: each prompt is
the story so far) is read from that one's row instead of running again, since a causal
model's logits at a position depend only on the ids up to it.  The remaining sequences
are sorted by length, right-padded (padding never changes real positions) and packed
into batches under a token budget.  A one-token wrong answer needs no sequence of its
own: its logit sits in the answer's row at the last prompt position.

>>> import torch
>>> from capgym.models.batching import batch_plan
>>> from capgym.tasks.build import BuiltExample
>>> class Uniform:
...     context_len = 16
...     def forward(self, ids):
...         return torch.zeros(*ids.shape, 4)
>>> s = score_built(Uniform(), [BuiltExample("e", [1, 2], [3], [[0]])])[0]
>>> round(s.logprob, 4), s.rank, s.logit_diff_at_decision, s.beats_wrong
(-1.3863, 0, 0.0, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from capgym.models.batching import batch_plan
from capgym.tasks.build import BuiltExample


@dataclass
class ExampleScore:
    """The numbers of one example under one model."""

    example_id: str
    logprob: float = 0.0  # sum over the answer's tokens
    first_logprob: float = 0.0  # up to and including the first non-space token
    rank: int = 0  # of that token; 0 = the model's top choice
    token_logprobs: list[float] = field(default_factory=list)
    token_ranks: list[int] = field(default_factory=list)
    wrong_logprobs: list[float] = field(default_factory=list)  # full wrong answers
    wrong_first_logprobs: list[float] = field(default_factory=list)
    top_token: int = -1  # the model's top choice where ``rank`` is taken
    # per wrong answer: logit(answer) - logit(wrong) at their first differing token
    # (NaN when one candidate's tokens are a prefix of the other's: no decision token)
    decision_diffs: list[float] = field(default_factory=list)
    wrong_lengths: list[int] = field(default_factory=list)  # tokens of each wrong answer
    single_token: list[bool] = field(default_factory=list)  # per wrong: see single_token_contrast

    @property
    def logit_diff_at_decision(self) -> float:
        """logit(answer) - logit(wrong) at the decision token, against the strongest wrong
        answer (the minimum over wrong answers); NaN without wrong answers or when a
        contrast has no decision token."""
        if not self.decision_diffs or any(math.isnan(d) for d in self.decision_diffs):
            return math.nan
        return min(self.decision_diffs)

    @property
    def beats_wrong(self) -> float:
        """1.0 if the answer beats every wrong answer at their decision tokens, else 0.0
        (ties lose); NaN where :attr:`logit_diff_at_decision` is NaN."""
        d = self.logit_diff_at_decision
        return math.nan if math.isnan(d) else float(d > 0)

    @property
    def seq_logprob_diff(self) -> float:
        """Summed answer log-prob minus the best wrong answer's summed log-prob (NaN
        without wrong answers); candidates of different token counts are not comparable
        token for token, so this is not a logit difference."""
        return self.logprob - max(self.wrong_logprobs) if self.wrong_logprobs else math.nan

    @property
    def seq_logprob_diff_per_token(self) -> float:
        """Mean log-prob per token of the answer minus the best such mean of a wrong answer."""
        if not self.wrong_logprobs or not self.token_logprobs:
            return math.nan
        per = [lp / n for lp, n in zip(self.wrong_logprobs, self.wrong_lengths, strict=True)]
        return self.logprob / len(self.token_logprobs) - max(per)

    @property
    def first_logprob_diff(self) -> float:
        """Log-prob up to and including the first non-space token, answer minus the best
        wrong answer (the column once named ``first_logit_diff``)."""
        if not self.wrong_first_logprobs:
            return math.nan
        return self.first_logprob - max(self.wrong_first_logprobs)

    @property
    def single_token_contrast(self) -> float:
        """1.0 when, against every wrong answer, the decision token is the last token of
        both candidates (the whole contrast is one token each), else 0.0; NaN without
        wrong answers."""
        return float(all(self.single_token)) if self.single_token else math.nan

    @property
    def greedy(self) -> bool:
        """Greedy decoding would produce the whole answer."""
        return all(r == 0 for r in self.token_ranks)


@dataclass(frozen=True)
class _Seq:
    example: int
    cand: int  # 0 = answer, j >= 1 = wrong answer j-1
    prompt_len: int
    ids: list[int]


def contrast_index(answer: list[int], wrong: list[int]) -> int | None:
    """Index of the first token where ``answer`` and ``wrong`` differ (None when one is a
    prefix of the other).

    >>> contrast_index([5, 7, 9], [5, 8]), contrast_index([5], [5, 6])
    (1, None)
    """
    return next((i for i, (a, w) in enumerate(zip(answer, wrong)) if a != w), None)


def _sequences(built: list[BuiltExample]) -> list[_Seq]:
    seqs = []
    for i, b in enumerate(built):
        seqs.append(_Seq(i, 0, len(b.prompt_ids), b.prompt_ids + b.answer_ids))
        for j, w in enumerate(b.wrong_ids, 1):
            if len(w) > 1:
                seqs.append(_Seq(i, j, len(b.prompt_ids), b.prompt_ids + w))
    return seqs


def share_prefixes(seqs: list[_Seq]) -> list[list[_Seq]]:
    """Group sequences by the row that computes them: each group's first sequence is run
    and holds every other one of the group as a prefix.

    In lexicographic order the sequences extending ``s`` follow it directly, so walking
    backwards a sequence joins the group of the one after it when it is a prefix of it.

    >>> s = [_Seq(0, 0, 1, [1, 2]), _Seq(1, 0, 1, [1, 2, 3]), _Seq(2, 0, 1, [1, 4])]
    >>> [[x.example for x in g] for g in share_prefixes(s)]
    [[2], [1, 0]]
    """
    groups: list[list[_Seq]] = []
    for s in sorted(seqs, key=lambda s: s.ids, reverse=True):
        if groups and groups[-1][0].ids[: len(s.ids)] == s.ids:
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


def _batches(groups: list[list[_Seq]], batch_tokens: int) -> list[list[list[_Seq]]]:
    """Length-bucketed batches of groups (by the length of the sequence each one runs),
    planned exactly as the scoring stage plans its windows."""
    plan = batch_plan([len(g[0].ids) for g in groups], batch_tokens)
    return [[groups[i] for i in b] for b in plan]


@torch.no_grad()
def _run_batch(model: Any, batch: list[list[_Seq]], built: list[BuiltExample],
               scores: list[ExampleScore]) -> None:  # fmt: skip
    width = max(len(g[0].ids) for g in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    b_idx: list[int] = []
    t_idx: list[int] = []
    targets: list[int] = []
    readouts: list[_Seq] = []
    for r, group in enumerate(batch):
        ids[r, : len(group[0].ids)] = torch.tensor(group[0].ids)
        for s in group:  # the run sequence and the prefixes read from its row
            n = len(s.ids) - s.prompt_len
            b_idx += [r] * n
            t_idx += range(s.prompt_len - 1, s.prompt_len - 1 + n)
            targets += s.ids[s.prompt_len :]
            readouts.append(s)
    logits = model.forward(ids).float()
    dev = logits.device
    rows = logits[torch.tensor(b_idx, device=dev), torch.tensor(t_idx, device=dev)]
    tgt = torch.tensor(targets, device=dev)
    lse = torch.logsumexp(rows, dim=-1)
    tgt_logit = rows.gather(1, tgt[:, None]).squeeze(1)
    lp = (tgt_logit - lse).tolist()
    ranks = (rows > tgt_logit[:, None]).sum(-1).tolist()
    at = 0
    for s in readouts:
        n = len(s.ids) - s.prompt_len
        sc = scores[s.example]
        b = built[s.example]
        seq_lp = lp[at : at + n]
        d = b.decision(s.cand)
        if s.cand == 0:
            sc.token_logprobs, sc.token_ranks = seq_lp, ranks[at : at + n]
            sc.logprob, sc.first_logprob, sc.rank = sum(seq_lp), sum(seq_lp[: d + 1]), ranks[at + d]
            sc.top_token = int(rows[at + d].argmax())
            row, z = rows[at].cpu(), lse[at].cpu()
            for j, w in enumerate(b.wrong_ids):
                k = contrast_index(b.answer_ids, w)
                if k is not None:  # both candidates share this row's context: one softmax
                    r = rows[at + k]
                    sc.decision_diffs[j] = float(r[b.answer_ids[k]] - r[w[k]])
                    sc.single_token[j] = len(w) == len(b.answer_ids) == k + 1
                if len(w) == 1:  # its logit is in this row: no sequence of its own
                    sc.wrong_logprobs[j] = sc.wrong_first_logprobs[j] = float(row[w[0]] - z)
        else:
            sc.wrong_logprobs[s.cand - 1] = sum(seq_lp)
            sc.wrong_first_logprobs[s.cand - 1] = sum(seq_lp[: d + 1])
        at += n


def score_built(
    model: Any, built: list[BuiltExample], batch_tokens: int = 16384, logits_mb: int = 512
) -> list[ExampleScore]:
    """Scores of ``built`` examples under ``model`` (a :class:`LanguageModel`), in order.

    A batch holds at most ``batch_tokens`` ids and ``logits_mb`` MiB of float32 logits.
    """
    vocab = int(getattr(model, "vocab_size", 0) or 0)
    if vocab:
        batch_tokens = min(batch_tokens, logits_mb * 2**20 // (4 * vocab))
    scores = [ExampleScore(b.example_id, wrong_logprobs=[math.nan] * len(b.wrong_ids),
                           wrong_first_logprobs=[math.nan] * len(b.wrong_ids),
                           decision_diffs=[math.nan] * len(b.wrong_ids),
                           wrong_lengths=[len(w) for w in b.wrong_ids],
                           single_token=[False] * len(b.wrong_ids))
              for b in built]  # fmt: skip
    for batch in _batches(share_prefixes(_sequences(built)), max(batch_tokens, 1)):
        _run_batch(model, batch, built, scores)
    return scores
