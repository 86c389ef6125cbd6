"""The states the clustering reads: stored token ids, batched forwards, scoring's windows."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from capgym.cluster.states import final_states, output_layer, stored_ids
from capgym.store import RunStore, open_run

CORPUS = "tinystories-validation-0-999"
CONTEXT = 48  # shorter than most stories, so they are read in several windows


@pytest.fixture(scope="module")
def short_context(tmp_path_factory: pytest.TempPathFactory, assets: Path):  # type: ignore[no-untyped-def]
    from capgym.corpus import load_corpus
    from capgym.models import load_model
    from capgym.score import score

    lm = copy.copy(load_model("stories260K"))
    lm.context_len = CONTEXT
    run = open_run(tmp_path_factory.mktemp("states") / "run")
    score(lm, load_corpus(CORPUS).head(12), run, progress=False)
    return lm, run


def _rows_and_ids(lm, run: RunStore):  # type: ignore[no-untyped-def]
    rows = run.sql("SELECT corpus, story, pos, token_id, logprob FROM scores ORDER BY story, pos")
    con = run.connect()
    try:
        ids = stored_ids(con, lm.name, rows)
    finally:
        con.close()
    return rows, {k: [lm.bos_id, *v] for k, v in ids.items()}


def test_stored_ids_are_the_models_encoding(short_context) -> None:  # type: ignore[no-untyped-def]
    lm, run = short_context
    _rows, ids = _rows_and_ids(lm, run)
    texts = {(c, int(s)): t for c, s, t in run.sql("SELECT * FROM stories").values}
    assert len(ids) == 12 and max(len(v) for v in ids.values()) > 2 * CONTEXT
    assert all(ids[k] == lm.encode(texts[k]).ids for k in ids)


def test_batched_states_equal_one_forward_per_window(short_context) -> None:  # type: ignore[no-untyped-def]
    lm, run = short_context
    rows, ids = _rows_and_ids(lm, run)
    rows = rows.sample(frac=1.0, random_state=0)  # any row order
    one_by_one = final_states(lm, ids, rows, batch_tokens=1)
    batched = final_states(lm, ids, rows)
    assert batched.shape == (len(rows), 64)
    assert np.abs(batched - one_by_one).max() < 1e-4  # float32 sums in another order
    # the unembedding of the states gives the scored log-probabilities, windows included
    with torch.no_grad():
        logits = output_layer(lm)(torch.from_numpy(batched))
    lp = torch.log_softmax(logits.float(), -1)[
        torch.arange(len(rows)), rows["token_id"].to_numpy().copy()
    ]
    assert np.abs(lp.numpy() - rows["logprob"].to_numpy()).max() < 1e-4


def test_the_lookups_find_each_backends_modules(assets: Path) -> None:
    from capgym.cluster.features import input_embeddings
    from capgym.errors import UsageError
    from capgym.models import load_model
    from capgym.models.modules import token_embedding

    for name in ("stories260K", "bitllama-1M", "TinyStories-656K"):
        lm = load_model(name)
        ids = torch.tensor([[lm.bos_id or 0, 5, 7]])
        with torch.no_grad():
            looked_up = token_embedding(lm)(ids)[0].float().numpy()
            # the output layer maps a final state to as many logits as the vocabulary
            width = output_layer(lm)(torch.zeros(1, looked_up.shape[1])).shape[-1]
        assert np.array_equal(input_embeddings(lm)[ids[0].numpy()], looked_up), name
        assert width >= lm.vocab_size, name
    with pytest.raises(UsageError, match="cannot find the input embeddings of object"):
        token_embedding(object())


def test_attention_features_are_batched_and_windowed_like_the_states(short_context) -> None:  # type: ignore[no-untyped-def]
    from capgym.cluster.attention import FEATURES
    from capgym.cluster.states import model_states

    lm, run = short_context
    rows, ids = _rows_and_ids(lm, run)
    rows = rows.sample(n=300, random_state=1)  # any row order, positions in every window
    s1, a1 = model_states(lm, ids, rows, batch_tokens=1, attention=True)
    s2, a2 = model_states(lm, ids, rows, attention=True)
    assert a1 is not None and a2 is not None and a2.shape == (len(rows), 5 * 8 * len(FEATURES))
    assert np.abs(a1 - a2).max() < 1e-4 and np.abs(s1 - s2).max() < 1e-4
    f = a2.reshape(len(rows), 5, 8, len(FEATURES))
    # every key is the window's first token or at one distance: those masses sum to 1
    assert np.allclose(f[..., :8].sum(-1), 1.0, atol=1e-4)
    assert (f[..., 8:12] >= -1e-6).all() and (f[..., 8:12] <= 1 + 1e-5).all()
    # the query reads at most its window's (<= 48) tokens: entropy <= log 48
    assert (f[..., -1] <= np.log(CONTEXT) + 1e-4).all()
    assert model_states(lm, ids, rows)[1] is None


def test_input_embeddings_without_a_weight_matrix_is_a_usage_error() -> None:
    from types import SimpleNamespace

    from capgym.cluster.features import input_embeddings
    from capgym.errors import UsageError

    odd = torch.nn.Module()
    odd.weight = torch.nn.Linear(2, 2)  # a submodule named "weight", not a tensor
    lm = SimpleNamespace(module=SimpleNamespace(tok_embeddings=odd), name="odd")
    with pytest.raises(UsageError, match="the input embeddings of odd have no weight matrix"):
        input_embeddings(lm)  # type: ignore[arg-type]
