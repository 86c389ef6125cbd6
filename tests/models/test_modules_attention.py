"""Attention-pattern capture (capgym.models.attention): rows are probabilities, causal,
equal to a by-hand softmax(QK^T) on the real stories260K, and the forward is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from capgym.errors import UsageError
from capgym.models.attention import attention_modules, capture_patterns
from capgym.models.llama import rope_reference


def _captured(lm, ids: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:  # type: ignore[no-untyped-def]
    seen: dict[int, torch.Tensor] = {}
    with torch.no_grad(), capture_patterns(lm, lambda layer, p: seen.__setitem__(layer, p)):
        logits = lm.forward(ids)
    return seen, logits


def test_stories260k_pattern_is_a_manual_softmax_of_q_k(assets: Path) -> None:
    from capgym.models import load_model

    lm = load_model("stories260K")
    ids = torch.tensor([lm.encode("Once upon a time, Tim saw a cat. Tim said hi.").ids])
    seen, logits = _captured(lm, ids)
    with torch.no_grad():
        assert torch.equal(logits, lm.forward(ids))  # capturing changes nothing
    m, t = lm.module, ids.shape[1]
    assert sorted(seen) == list(range(5)) and seen[0].shape == (1, 8, t, t)
    for p in seen.values():
        assert torch.allclose(p.sum(-1), torch.ones(1, 8, t), atol=1e-5)
        assert (p.triu(1) == 0).all()  # causal: no query looks ahead
    # by hand, layer 0 head 5 (reading kv head 5 // 2 = 2), llama2.c's real-valued RoPE
    w = m.layers[0].attention
    with torch.no_grad():
        e = m.tok_embeddings(ids)[0]
        x = (
            e
            * torch.rsqrt(e.pow(2).mean(-1, keepdim=True) + 1e-5)
            * m.layers[0].attention_norm.weight
        )
        q = (x @ w.wq.weight.T).view(t, 8, 8)[:, 5:6]
        k = (x @ w.wk.weight.T).view(t, 4, 8)[:, 2:3]
        cos, sin = m.rope_cos[:t], m.rope_sin[:t]
        q, k = rope_reference(q, cos, sin)[:, 0], rope_reference(k, cos, sin)[:, 0]
        s = (q @ k.T) / 8**0.5
        manual = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf")).softmax(
            -1
        )
    assert torch.allclose(seen[0][0, 5], manual, atol=1e-5)


@pytest.mark.parametrize("name", ["bitllama-1M", "TinyStories-656K"])
def test_other_backends_give_causal_probabilities(assets: Path, name: str) -> None:
    from capgym.models import load_model

    lm = load_model(name)
    ids = torch.tensor([lm.encode("Once upon a time, Tim saw a cat.").ids])
    seen, logits = _captured(lm, ids)
    t = ids.shape[1]
    assert sorted(seen) == list(range(len(attention_modules(lm))))
    for p in seen.values():
        assert p.shape[-2:] == (t, t) and p.dtype == torch.float32
        assert torch.allclose(p.sum(-1), torch.ones(p.shape[:-1]), atol=1e-5)
        assert (p.triu(1).abs() < 1e-6).all()
    with torch.no_grad():
        assert torch.allclose(logits, lm.forward(ids))


def test_unknown_backend_is_a_one_line_error() -> None:
    with pytest.raises(UsageError, match="cannot find the attention modules of object"):
        attention_modules(object())


@pytest.mark.parametrize("name", ["stories260K", "TinyStories-656K"])
def test_query_rows_are_the_full_patterns_rows(assets: Path, name: str) -> None:
    from capgym.models import load_model

    lm = load_model(name)
    ids = torch.tensor([lm.encode("Once upon a time, Tim saw a cat. Tim said hi.").ids] * 2)
    full, _ = _captured(lm, ids)
    rows = torch.tensor([0, 4, ids.shape[1] - 1])
    part: dict[int, torch.Tensor] = {}
    with torch.no_grad(), capture_patterns(lm, part.__setitem__, queries=rows):
        lm.forward(ids)
    assert sorted(part) == sorted(full)
    for layer, p in part.items():
        assert p.shape == (2, full[layer].shape[1], 3, ids.shape[1])
        assert torch.allclose(p, full[layer][:, :, rows], atol=1e-6)
