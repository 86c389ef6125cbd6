"""The real TinyStories-656K (a Hugging Face Llama with its own BPE) against plain transformers.

The reference is what a researcher would write without capgym: ``AutoTokenizer`` ->
``AutoModelForCausalLM`` forward -> ``log_softmax``, one story at a time.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from capgym.corpus import Corpus
from capgym.models import load_model
from capgym.score import score
from capgym.store import open_run

N_STORIES = 100


@pytest.fixture(scope="module")
def folder(assets):
    path = assets / "models" / "TinyStories-656K"
    if not (path / "config.json").is_file():
        pytest.skip("TinyStories-656K is not in the assets")
    return path


@pytest.fixture(scope="module")
def lm(folder):
    return load_model("TinyStories-656K")


def test_conventions_come_from_the_model_itself(lm) -> None:
    assert lm.bos_id == 1 and lm.piece(1) == "<|start_story|>"
    assert lm.vocab_size == 2048 and lm.context_len == 512
    assert lm.n_params == 656_000
    assert lm.info.architecture == "HF llama"
    assert "layers 2" in lm.info.extra["details"]


def test_scores_equal_a_plain_transformers_loop(lm, folder, validation, tmp_path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = validation[:N_STORIES]
    s = score(lm, Corpus.from_texts("val100", texts), tmp_path, progress=False)
    got = open_run(tmp_path).sql(
        "SELECT story, pos, token_id, logprob FROM scores ORDER BY story, pos"
    )
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    want_ids, want_lp = [], []
    with torch.no_grad():
        for text in texts:
            ids = tok(text, return_tensors="pt").input_ids
            assert ids.shape[1] <= lm.context_len  # one window per story
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
            want_ids.append(ids[0, 1:].numpy())
            want_lp.append(logp.gather(1, ids[0, 1:, None])[:, 0].numpy())
    assert s.n_rows == sum(map(len, want_ids)) == 15_866
    np.testing.assert_array_equal(got.token_id.to_numpy(), np.concatenate(want_ids))
    diff = np.abs(got.logprob.to_numpy() - np.concatenate(want_lp))
    assert diff.max() <= 1e-4
    assert -got.logprob.mean() == pytest.approx(3.024, abs=5e-4)  # the assets README's value


def test_spans_are_exact_on_validation_stories(lm, validation) -> None:
    """Each token covers its own piece; characters the BPE drops join the token before."""
    vocab_chars = {c for i in range(lm.vocab_size) for c in lm.piece(i)}
    for text in validation:
        enc = lm.encode(text)
        assert "".join(enc.covered(text)) == text
        assert all(a[1] == b[0] for a, b in itertools.pairwise(enc.spans))
        for k, (token, (s, e)) in enumerate(zip(enc.ids[1:], enc.spans[1:])):
            kept = "".join(c for c in text[s:e] if c in vocab_chars)
            piece = lm.piece(token)
            assert kept == (piece[1:] if k == 0 and s == 0 else piece), (text[s:e], piece)


def test_pieces_that_end_in_a_space(lm) -> None:
    text = "One day, Molly went to the park."
    enc = lm.encode(text)
    pieces = [lm.piece(i) for i in enc.ids]
    assert "One day, " in pieces
    assert enc.covered(text)[pieces.index("One day, ")] == "One day, "


def test_forward_runs_an_sdpa_twin_that_shares_the_weights(lm, validation) -> None:
    """Scoring's forward goes through SDPA attention, within 1e-4 of the eager forward on
    padded batches of real stories; a hooked model is called itself, so hooks fire."""
    twin = lm._twin
    assert twin is not lm.model and twin.config._attn_implementation == "sdpa"
    assert lm.model.config._attn_implementation == "eager"  # circuits read its weights
    shared = {p.data_ptr() for p in lm.model.parameters()}
    assert {p.data_ptr() for p in twin.parameters()} == shared
    ids = [lm.encode(t).ids for t in validation[:8]]
    batch = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    for b, seq in enumerate(ids):
        batch[b, : len(seq)] = torch.tensor(seq)
    eager = lm.forward(batch)
    fast = lm.scoring_forward(batch)
    for b, seq in enumerate(ids):
        torch.testing.assert_close(fast[b, : len(seq)], eager[b, : len(seq)], atol=1e-4, rtol=0)
    calls = []
    head = lm.model.get_output_embeddings()
    handle = head.register_forward_hook(lambda *_: calls.append(1))
    try:
        hooked = lm.scoring_forward(batch[:1])
    finally:
        handle.remove()
    assert calls == [1]
    assert torch.equal(hooked, lm.forward(batch[:1]))
