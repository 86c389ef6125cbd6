"""The scoring engine against a plain per-story reference computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.corpus import Corpus
from capgym.score import ScoreSettings, batch_plan, plan_windows, score, token_metrics
from capgym.store import open_run

from .toy import ToyLM

TEXTS = [
    "Once upon a time, there was a cat.",
    "Hi!",
    "",
    'Tom said, "Let\'s go to the park — now." Ünïcödé ✓ done.',
    "A much longer story that does not fit the toy context of sixteen tokens at all.",
]


def reference_rows(model: ToyLM, text: str, k: int) -> list[dict]:
    """Score one story the obvious way: each window separately, full log-softmax."""
    enc = model.encode(text)
    rows = []
    for w in plan_windows(len(enc.ids), model.context_len):
        ids = torch.tensor([enc.ids[w.start : w.end]])
        logp = torch.log_softmax(model.forward(ids)[0].double(), -1)
        for p in range(w.first, w.end):
            dist = logp[p - w.start - 1]
            target = enc.ids[p]
            rows.append(
                {
                    "pos": p,
                    "token_id": target,
                    "logprob": float(dist[target]),
                    "rank": int((dist > dist[target]).sum()),
                    "entropy": float(-(dist.exp() * dist).sum()),
                    "context_len": p - w.start,
                    "char_start": enc.spans[p][0],
                    "char_end": enc.spans[p][1],
                    "topk_ids": [int(i) for i in dist.topk(k).indices],
                }
            )
    return rows


def test_windows_cover_every_position_once_with_half_context() -> None:
    for n in range(60):
        for c in (2, 3, 8, 16):
            ws = plan_windows(n, c)
            scored = [p for w in ws for p in range(w.first, w.end)]
            assert scored == list(range(1, n)) if n >= 2 else scored == []
            for w in ws:
                assert w.length <= c
                for p in range(w.first, w.end):
                    assert p - w.start >= min(p, c // 2)


@given(st.lists(st.integers(1, 40), max_size=30), st.integers(40, 200))
@settings(max_examples=50, deadline=None)
def test_batch_plan_respects_budget_and_keeps_every_item(lengths: list[int], budget: int) -> None:
    batches = batch_plan(lengths, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= budget


def test_token_metrics_match_full_log_softmax() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(37, 50, generator=g)
    targets = torch.randint(0, 50, (37,), generator=g)
    m = token_metrics(logits, targets, k=4, slice_rows=8)
    logp = torch.log_softmax(logits.double(), -1)
    ref = logp.gather(1, targets[:, None]).squeeze(1)
    assert torch.allclose(m.logprob.double(), ref, atol=1e-5)
    assert torch.equal(m.rank, (logp > ref[:, None]).sum(-1).int())
    ent = -(logp.exp() * logp).sum(-1)
    assert torch.allclose(m.entropy.double(), ent, atol=1e-4)
    assert torch.equal(m.topk_ids.long(), logp.topk(4).indices)


def test_score_matches_reference_and_spans_cover_text(tmp_path) -> None:
    model = ToyLM()
    corpus = Corpus("toy", [10, 11, 12, 13, 14], TEXTS)
    s = score(
        model,
        corpus,
        tmp_path,
        ScoreSettings(topk=3, token_budget=40, chunk_stories=2),
        progress=False,
    )
    run = open_run(tmp_path)
    df = run.sql("SELECT * FROM scores ORDER BY story, pos")
    assert s.n_rows == len(df) == sum(max(len(t.encode()), 0) for t in TEXTS)
    for sid, text in zip(corpus.ids, TEXTS):
        got = df[df.story == sid].reset_index(drop=True)
        ref = pd.DataFrame(reference_rows(model, text, 3))
        if not len(ref):
            assert got.empty
            continue
        assert got.pos.tolist() == ref.pos.tolist()
        assert got.token_id.tolist() == ref.token_id.tolist()
        np.testing.assert_allclose(got.logprob, ref.logprob, atol=1e-5)
        np.testing.assert_allclose(got.entropy, ref.entropy, atol=1e-4)
        assert got["rank"].tolist() == ref["rank"].tolist()
        assert got.context_len.tolist() == ref.context_len.tolist()
        assert [list(x) for x in got.topk_ids] == ref.topk_ids.tolist()
        covered = "".join(text[a:b] for a, b in zip(got.char_start, got.char_end))
        assert covered == text


def test_repeated_run_is_cached_and_identical(tmp_path) -> None:
    model = ToyLM()
    corpus = Corpus.from_texts("toy", TEXTS)
    a = score(model, corpus, tmp_path, progress=False)
    before = open_run(tmp_path).sql("SELECT * FROM scores ORDER BY story, pos")
    b = score(model, corpus, tmp_path, progress=False)
    assert b.cached and not a.cached and a.key == b.key
    after = open_run(tmp_path).sql("SELECT * FROM scores ORDER BY story, pos")
    pd.testing.assert_frame_equal(before, after)


def test_summary_nll_per_token_and_char(tmp_path) -> None:
    from capgym.score.summary import summarize

    model = ToyLM()
    corpus = Corpus.from_texts("toy", TEXTS)
    score(model, corpus, tmp_path, progress=False)
    run = open_run(tmp_path)
    summ = summarize(run).iloc[0]
    ref = [r["logprob"] for t in TEXTS for r in reference_rows(model, t, 1)]
    assert summ.n_tokens == len(ref)
    assert math.isclose(summ.nll_per_token, -sum(ref) / len(ref), rel_tol=1e-5)
    assert math.isclose(summ.nll_per_char, -sum(ref) / sum(len(t) for t in TEXTS), rel_tol=1e-5)


def test_changed_corpus_text_under_same_name_is_refused(tmp_path) -> None:
    from capgym.errors import StoreError

    model = ToyLM()
    score(model, Corpus.from_texts("toy", ["abc"]), tmp_path, progress=False)
    with pytest.raises(StoreError, match="differs"):
        score(model, Corpus.from_texts("toy", ["abd"]), tmp_path, progress=False)
    assert open_run(tmp_path).sql("SELECT text FROM stories").text.tolist() == ["abc"]


def test_vocab_table_has_every_piece(tmp_path) -> None:
    model = ToyLM()
    score(model, Corpus.from_texts("toy", ["ab"]), tmp_path, progress=False)
    vocab = open_run(tmp_path).sql("SELECT * FROM vocab ORDER BY token_id")
    assert len(vocab) == model.vocab_size
    assert vocab.piece.tolist() == [model.piece(i) for i in range(model.vocab_size)]
