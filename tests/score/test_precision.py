"""Reduced-precision forwards: float32 untouched, bfloat16x3 within its stated bounds."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from capgym.corpus import Corpus, load_corpus
from capgym.models.threads import torch_threads
from capgym.score import Scorer, ScoreSettings, score_key
from capgym.score.engine import resolve_settings
from capgym.score.precision import Precision, SplitBF16, bf16_products, split_bf16
from tests.spine.toy import ToyLM


def _bf16_exact(t: torch.Tensor) -> bool:
    return torch.equal(t, t.to(torch.bfloat16).float())


def test_split_parts_are_bf16_values_that_sum_to_16_bits() -> None:
    x = torch.randn(10_000) * torch.logspace(-20, 20, 10_000)
    hi, lo = split_bf16(x)
    assert _bf16_exact(hi) and _bf16_exact(lo)
    assert bool(((x - hi - lo).abs() <= 2**-16 * x.abs()).all())


def test_split_linear_is_near_float32_and_plain_bf16_is_not() -> None:
    g = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(256, 64)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(64, 256, generator=g) / 16)
    x = torch.randn(32, 7, 256, generator=g)
    exact = (x.double() @ lin.weight.double().T + lin.bias.double()).float()
    scale = exact.abs().max()
    with torch.inference_mode():
        with SplitBF16(terms=3) as three:
            y3 = lin(x)
            again = lin(x)
        with SplitBF16(terms=1):
            y1 = lin(x)
    assert y3.dtype == torch.float32 and y3.shape == exact.shape
    assert (y3 - exact).abs().max() < 2e-5 * scale
    assert (y1 - exact).abs().max() > 2e-4 * scale  # one bf16 product loses ~16 bits
    assert torch.equal(y3, again) and len(three._weights) == 1  # the split weight is reused


def test_weights_made_in_inference_mode_are_split_too() -> None:
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        w, x = torch.randn(4, 3, generator=g), torch.randn(2, 3, generator=g)
        with SplitBF16():
            y = torch.nn.functional.linear(x, w)
        exact = (x.double() @ w.double().T).float()
        scale = (x.abs() @ w.abs().T).max()  # the split's error bound scales with it
        # each operand keeps 16 bits and x_lo w_lo is dropped: at most ~3 * 2**-16 relative
        assert (y - exact).abs().max() < 3 * 2**-16 * scale


def test_fast_matmul_setting_is_restored() -> None:
    before = torch.backends.mkldnn.matmul.fp32_precision
    with bf16_products(torch.device("cpu")):
        pass
    assert torch.backends.mkldnn.matmul.fp32_precision == before


def test_float32_is_the_model_forward_bit_for_bit() -> None:
    model = ToyLM()
    ids = torch.randint(3, 200, (2, 9))
    assert torch.equal(Precision("float32").forward(model, ids), model.forward(ids))


def test_default_settings_and_cache_key_payload_are_unchanged() -> None:
    # the default budget is chosen per model; a model that shows no torch module gets
    # 2,048, the former constant, so its sets keep their keys
    assert ScoreSettings().token_budget is None
    assert asdict(resolve_settings(ToyLM(), ScoreSettings())) == {
        "topk": 5,
        "token_budget": 2048,
        "logits_mb": 160,
        "chunk_stories": 128,
        "dtype": "float32",
    }
    model, corpus = ToyLM(), Corpus.from_texts("toy", ["Once upon a time."])
    keys = {d: score_key(model, corpus, ScoreSettings(dtype=d)) for d in ("float32", "bfloat16x3")}
    assert keys["float32"] != keys["bfloat16x3"]  # the dtype is part of the cache key


def _columns(model_name: str, n: int, dtype: str) -> dict[str, np.ndarray]:
    from capgym.models import load_model

    texts = load_corpus("tinystories-validation-0-999").texts[:n]
    scorer = Scorer(load_model(model_name), model_name, "t", ScoreSettings(dtype=dtype))
    with torch_threads(1):
        return scorer.compute(scorer.encode(list(range(n)), texts))


@pytest.mark.parametrize("model_name", ["stories260K", "bitllama-3M"])
def test_bfloat16x3_ranks_agree_with_float32_on_trained_models(assets, model_name) -> None:
    """Measured on 200 stories: 99.99% (stories260K), 100% (bitllama-3M); asserted >= 99.9%."""
    ref = _columns(model_name, 12, "float32")
    got = _columns(model_name, 12, "bfloat16x3")
    assert np.array_equal(ref["pos"], got["pos"]) and len(ref["rank"]) > 3000
    assert np.mean(ref["rank"] == got["rank"]) >= 0.999
    assert np.array_equal(ref["topk_ids"][:, 0], got["topk_ids"][:, 0])
    assert np.abs(ref["logprob"] - got["logprob"]).max() < 2e-3


def test_autocast_bfloat16_agrees_only_roughly(assets) -> None:
    """Why bfloat16x3 exists: plain autocast keeps ranks on ~95% of positions."""
    ref = _columns("stories260K", 12, "float32")
    got = _columns("stories260K", 12, "bfloat16")
    assert 0.9 < np.mean(ref["rank"] == got["rank"]) < 0.999
    assert np.mean(ref["topk_ids"][:, 0] == got["topk_ids"][:, 0]) > 0.97
