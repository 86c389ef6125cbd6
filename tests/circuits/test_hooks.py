"""Hook points: a run without interventions is the plain forward, bit for bit, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from capgym.circuits import HookedModel
from capgym.circuits.hooks import Component
from capgym.circuits.patching import last_only
from capgym.errors import UsageError
from capgym.models import load_model

BACKENDS = [
    ("stories260K", "llama2c"),
    ("bitllama-1M", "bitllama"),
    ("TinyStories-656K", "hf-llama"),
    ("random:TinyStories-1M", "hf-gpt-neo"),
]


@pytest.mark.parametrize(("name", "backend"), BACKENDS)
def test_no_op_hooks_are_bit_identical(assets: Path, name: str, backend: str) -> None:
    lm = load_model(name)
    hm = HookedModel(lm)
    assert hm.points.backend == backend
    ids = torch.randint(
        3, min(lm.vocab_size, 2000), (3, 11), generator=torch.Generator().manual_seed(0)
    )
    ids[:, 0] = 1
    plain = lm.forward(ids)
    cached, cache = hm.run_with_cache(ids)
    assert torch.equal(cached, plain)
    graded, _ = hm.run(ids, grad=True, cache=[c.hook for c in hm.components])
    assert torch.equal(graded.detach(), plain)
    identity = {
        f"blocks.{layer}.attn.hook_z": (lambda z: z.clone()) for layer in range(hm.points.n_layers)
    }
    assert torch.equal(hm.run(ids, edits=identity)[0], plain)
    n, h, d = hm.points.n_layers, hm.points.n_heads, hm.points.head_dim
    assert cache["blocks.0.attn.hook_z"].shape == (3, 11, h, d)
    pattern = cache[f"blocks.{n - 1}.attn.hook_pattern"]
    assert pattern.shape == (3, h, 11, 11)
    assert torch.allclose(pattern.sum(-1), torch.ones(3, h, 11), atol=1e-5)
    assert float(pattern.triu(1).abs().max()) == 0.0  # causal
    # the residual stream adds up: resid_post = resid_mid + mlp_out
    b = f"blocks.{n - 1}"
    assert torch.allclose(
        cache[f"{b}.hook_resid_post"],
        cache[f"{b}.hook_resid_mid"] + cache[f"{b}.hook_mlp_out"],
        atol=1e-5,
    )
    assert len(hm.components) == 1 + n * (h + 1)


def test_llama_pattern_matches_attention_output(hooked: HookedModel) -> None:
    """The recomputed pattern times v gives the head outputs the model computed."""
    ids = torch.tensor([[1, 403, 407, 261, 378, 300, 280]])
    _, cache = hooked.run_with_cache(ids)
    attn = hooked.lm.module.layers[2].attention
    x = cache["blocks.2.hook_resid_pre"]
    v = attn.wv(hooked.lm.module.layers[2].attention_norm(x)).view(
        1, 7, attn.n_kv_heads, attn.head_dim
    )
    v = v.repeat_interleave(attn.n_heads // attn.n_kv_heads, dim=2)
    z = torch.einsum("bhqk,bkhd->bqhd", cache["blocks.2.attn.hook_pattern"], v)
    assert torch.allclose(z, cache["blocks.2.attn.hook_z"], atol=1e-5)


@pytest.mark.parametrize("name", ["stories260K", "bitllama-1M"])
def test_run_from_a_layer_equals_the_forward(assets: Path, name: str) -> None:
    hm = HookedModel(load_model(name))
    ids = torch.tensor([[1, 403, 407, 261, 378, 300]])
    _, cache = hm.run_with_cache(ids)
    plain = hm.lm.forward(ids)
    assert torch.equal(hm.run_from(0, cache["hook_embed"])[0], plain)
    assert torch.equal(hm.run_from(3, cache["blocks.3.hook_resid_pre"])[0], plain)
    last = hm.run(ids, edits={"ln_final.hook_normalized": last_only(torch.tensor([5]))})[0]
    # the classifier on one position is a smaller matmul: equal up to float rounding
    assert torch.allclose(last[:, 0], plain[:, 5], atol=1e-5, rtol=0)


def test_bitllama_gradients_are_straight_through(bit1m) -> None:  # type: ignore[no-untyped-def]
    hm = HookedModel(bit1m)
    ids = torch.tensor([[1, 403, 407, 261, 378, 300]])
    logits, cache = hm.run(ids, cache=["blocks.0.attn.hook_z", "hook_embed"], grad=True)
    (g,) = torch.autograd.grad(logits[0, -1, 300], [cache["blocks.0.attn.hook_z"]])
    # without the estimator the rounding passes no gradient to layer 0's heads
    assert float(g.abs().sum()) > 0


def test_bad_names_are_one_line_errors(hooked: HookedModel) -> None:
    with pytest.raises(UsageError, match="unknown hook"):
        hooked.run(torch.tensor([[1, 2]]), cache=["blocks.0.hook_nope"])
    with pytest.raises(UsageError, match="L<layer>H<head>"):
        Component.parse("head7")
    assert Component.parse("L3H1") == Component("head", 3, 1)
