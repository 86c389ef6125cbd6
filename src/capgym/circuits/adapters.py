"""Where each backend's hook points live: a small table of torch modules per model.

The interpretability layer never edits a model file.  It attaches plain torch module
hooks (exact: a hook that returns nothing changes nothing) at the modules listed here,
one :class:`Points` per backend:

* ``z[l]``: the attention output projection of layer ``l``; its *input* is the
  concatenation of the per-head outputs, TransformerLens's ``blocks.{l}.attn.hook_z``.
* ``mlp[l]``: the feed-forward module; its output is ``blocks.{l}.hook_mlp_out``.
* ``attn_in[l]`` / ``mlp_in[l]`` / ``final_norm``: the modules reading the residual
  stream (norms, or ``nn.Identity`` for bitllama); their input is
  ``hook_resid_pre`` / ``hook_resid_mid`` / the final residual, and edge
  interventions replace that input without touching the residual stream itself.
* ``blocks[l]``: the whole layer; its output is ``hook_resid_post``.
* ``embed``: the module whose output is the embedding added to the residual stream.
* ``attention[l]``: the attention module, for recomputing the pattern.
* ``split_attention``: where the backend allows it, layer ``l``'s per-head outputs
  ``z`` computed with every head reading its *own* query, key and value inputs (each a
  residual stream, normed separately): TransformerLens's ``hook_q_input`` /
  ``hook_k_input`` / ``hook_v_input``, the receivers of per-head edges.

>>> from capgym.models import load_model
>>> points(load_model("stories260K")).n_heads
8
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from capgym.errors import UsageError
from capgym.models import kernels
from capgym.models.base import LanguageModel


@dataclass
class Points:
    """The hook modules of one model and how to call its forward with gradients allowed."""

    backend: str  # "llama2c", "bitllama", "hf-llama" or "hf-gpt-neo"
    n_layers: int
    n_heads: int
    head_dim: int
    d_model: int
    embed: nn.Module
    blocks: list[nn.Module]
    attn_in: list[nn.Module]
    z: list[nn.Module]
    mlp_in: list[nn.Module]
    mlp: list[nn.Module]
    final_norm: nn.Module
    attention: list[nn.Module]
    forward: Callable[[torch.Tensor], torch.Tensor]  # ids -> float32 logits, grad allowed
    # (layer, the attention module's positional inputs, its output) -> pattern [B, H, T, T]
    pattern: Callable[[int, tuple[Any, ...], Any], torch.Tensor]
    # (layer, resid_pre of that layer) -> logits, running only the layers from there on;
    # None where the backend's layers cannot be called one by one (then: full forwards)
    run_from: Callable[[int, torch.Tensor], torch.Tensor] | None = None
    # (layer, q, k, v inputs [B, T, H, d_model] before the norm) -> z [B, T, H, d_head];
    # None where per-head inputs are not implemented (then edges end at a layer's input)
    split_attention: (
        Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None
    ) = None


def _points(
    layers: list[nn.Module],
    *,
    attn_in: str,
    z: str,
    mlp_in: str,
    mlp: str,
    attention: str,
    **rest: Any,
) -> Points:
    """A :class:`Points` whose per-layer modules are given as attribute paths inside a
    layer (e.g. ``z="attn.attention.out_proj"``), looked up on each of ``layers``."""

    def each(path: str) -> list[nn.Module]:
        return [attrgetter(path)(b) for b in layers]

    return Points(blocks=layers, attn_in=each(attn_in), z=each(z), mlp_in=each(mlp_in),
                  mlp=each(mlp), attention=each(attention), **rest)  # fmt: skip


def _llama_pattern(module: Any, layer: int, x: torch.Tensor) -> torch.Tensor:
    """Attention probabilities of a capgym :class:`Llama` layer from its input ``x``.

    Recomputed from q/k (the fused attention kernel never materialises them), in
    float32 with the same RoPE; query head h reads key head h // (n_heads // n_kv_heads).
    """
    from capgym.models.llama import apply_rope, shared_input

    attn = module.layers[layer].attention
    b, t, _ = x.shape
    cos, sin = module.rope_cos[:t], module.rope_sin[:t]
    h = shared_input(attn.wq, x)
    q = apply_rope(attn.wq(h).view(b, t, attn.n_heads, attn.head_dim), cos, sin)
    k = apply_rope(attn.wk(h).view(b, t, attn.n_kv_heads, attn.head_dim), cos, sin)
    k = k.repeat_interleave(attn.n_heads // attn.n_kv_heads, dim=2)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / attn.head_dim**0.5
    mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1)


def _llama_split(m: Any, layer: int, xq: torch.Tensor, xk: torch.Tensor,
                 xv: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """z ``[B, T, H, d_head]`` of a capgym Llama layer, each head from its own inputs.

    Head ``h``'s query is the ``wq`` rows of ``h`` applied to ``norm(xq[:, :, h])``; its key
    and value those of its key/value group, applied to ``norm(xk[:, :, h])`` and
    ``norm(xv[:, :, h])`` (grouped heads are ungrouped, as EAP-IG does).  With all inputs
    equal to the layer's residual this is the layer's own attention.
    """
    from capgym.models.llama import apply_rope, shared_input

    block = m.layers[layer]
    attn = block.attention
    b, t, n_heads, _ = xq.shape
    hd, group = attn.head_dim, n_heads // attn.n_kv_heads
    heads = torch.arange(n_heads, device=xq.device)

    def project(linear: nn.Module, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        x = block.attention_norm(x)
        if torch.is_grad_enabled() and x.requires_grad:
            return _head_rows(linear, x, rows, hd)
        out = linear(shared_input(linear, x))  # [B, T, H, out]
        out = out.view(b, t, n_heads, -1, hd)
        return out[:, :, heads, rows]  # head h reads its own row block

    cos, sin = m.rope_cos[:t], m.rope_sin[:t]
    q = apply_rope(project(attn.wq, xq, heads), cos, sin)
    k = apply_rope(project(attn.wk, xk, heads // group), cos, sin)
    v = project(attn.wv, xv, heads // group)
    return kernels.reference(q, k, v)  # one key/value copy per query head


def _head_rows(linear: nn.Module, x: torch.Tensor, rows: torch.Tensor, hd: int) -> torch.Tensor:
    """``linear`` applied to each head's copy ``x[:, :, h]`` for only the rows block ``rows[h]``.

    For gradient runs (EAP-IG), where projecting every copy onto every head's rows costs
    n_heads times the work, forward and backward.  The values are the full projection's
    up to float summation order; on a BitLinear the value is
    :func:`~capgym.models.bitllama.reference_bitlinear` of those rows and the gradient the
    straight-through one that :mod:`capgym.circuits.hooks` gives the module.
    """
    from capgym.models.bitllama import BitLinear, reference_bitlinear

    if not isinstance(linear, BitLinear):
        w = linear.weight.view(-1, hd, x.shape[-1])[rows]  # [H, hd, d]
        out = torch.einsum("bthd,hed->bthe", x, w)
        bias = getattr(linear, "bias", None)
        return out if bias is None else out + bias.view(-1, hd)[rows]
    w, heads = linear.codes.view(-1, hd, x.shape[-1]), []
    for h, r in enumerate(rows.tolist()):
        xh = x[:, :, h]
        value = reference_bitlinear(xh.detach(), w[r], linear.scale)
        heads.append(straight_through(value, xh, w[r], linear.scale))
    return torch.stack(heads, 2)


def straight_through(
    value: torch.Tensor, x: torch.Tensor, codes: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """``value`` (a BitLinear's quantised output on ``x``) with a straight-through gradient.

    The gradient is that of the same layer without rounding, ``(x / (rms(x) n)) @ codes^T
    * scale`` (the rounding's derivative is zero almost everywhere, so without this no
    gradient reaches earlier layers).
    """
    smooth = F.linear(x / (torch.sqrt(x.pow(2).mean(-1, keepdim=True)) * x.shape[-1]), codes)
    smooth = smooth * scale
    return value.detach() + (smooth - smooth.detach())


def _llama2c(lm: Any) -> Points:
    m = lm.module
    cfg = m.cfg
    bit = "bitllama" in getattr(lm, "architecture", "")
    layers = list(m.layers)

    def forward(ids: torch.Tensor) -> torch.Tensor:
        return m(ids.to(lm.device))

    def run_from(layer: int, x: torch.Tensor) -> torch.Tensor:
        # the tail of Llama.forward; tests check run_from(0, embed) == forward bit for bit
        t = x.shape[1]
        cos, sin = m.rope_cos[:t], m.rope_sin[:t]
        for block in layers[layer:]:
            x = block(x, cos, sin)
        return m.output(m.norm(x)).float()

    return _points(
        layers,
        backend="bitllama" if bit else "llama2c",
        n_layers=cfg.n_layers,
        n_heads=cfg.n_heads,
        head_dim=cfg.head_dim,
        d_model=cfg.dim,
        embed=m.tok_embeddings,
        attn_in="attention_norm",
        z="attention.wo",
        mlp_in="ffn_norm",
        mlp="feed_forward",
        final_norm=m.norm,
        attention="attention",
        forward=forward,
        pattern=lambda layer, inputs, output: _llama_pattern(m, layer, inputs[0]),
        run_from=run_from,
        split_attention=lambda layer, xq, xk, xv: _llama_split(m, layer, xq, xk, xv),
    )


def _hf_forward(lm: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(ids: torch.Tensor) -> torch.Tensor:
        out = lm.model(input_ids=ids.to(lm.device), use_cache=False)
        return out.logits[..., : lm.vocab_size].float()

    return forward


def _weights_pattern(layer: int, inputs: tuple[Any, ...], output: Any) -> torch.Tensor:
    """Pattern of an eager HF attention module: it returns ``(output, weights)``."""
    if output[1] is None:
        raise UsageError("this Hugging Face model does not return attention weights; load it "
                         'with attn_implementation="eager" (capgym.load_model does)')  # fmt: skip
    return output[1]


# Hugging Face backends by ``config.model_type``: where the layers and hook modules are
# (attribute paths from the model's core, then inside a layer) and the config's names.
HF_TABLES: dict[str, dict[str, str]] = {
    "llama": {
        "backend": "hf-llama", "core": "model", "layers": "layers",
        "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
        "embed": "embed_tokens", "final_norm": "norm", "attn_in": "input_layernorm",
        "z": "self_attn.o_proj", "mlp_in": "post_attention_layernorm", "mlp": "mlp",
        "attention": "self_attn",
    },
    "gpt_neo": {
        "backend": "hf-gpt-neo", "core": "transformer", "layers": "h",
        "n_layers": "num_layers", "n_heads": "num_heads",
        "embed": "drop",  # token + position embedding, after (inactive) dropout
        "final_norm": "ln_f", "attn_in": "ln_1", "z": "attn.attention.out_proj",
        "mlp_in": "ln_2", "mlp": "mlp", "attention": "attn.attention",
    },
}  # fmt: skip


def _hf(lm: Any, table: dict[str, str]) -> Points:
    """The :class:`Points` of a Hugging Face model laid out as ``table`` says."""
    core = getattr(lm.model, table["core"])
    cfg = lm.model.config
    n_heads = getattr(cfg, table["n_heads"])
    return _points(
        list(getattr(core, table["layers"])),
        backend=table["backend"],
        n_layers=getattr(cfg, table["n_layers"]),
        n_heads=n_heads,
        head_dim=getattr(cfg, "head_dim", None) or cfg.hidden_size // n_heads,
        d_model=cfg.hidden_size,
        embed=getattr(core, table["embed"]),
        final_norm=getattr(core, table["final_norm"]),
        forward=_hf_forward(lm),
        pattern=_weights_pattern,
        **{k: table[k] for k in ("attn_in", "z", "mlp_in", "mlp", "attention")},
    )


def points(lm: LanguageModel) -> Points:
    """The hook table of a loaded capgym model; unknown backends get a one-line error."""
    if hasattr(lm, "module") and hasattr(lm.module, "layers"):
        return _llama2c(lm)
    model = getattr(lm, "model", None)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in HF_TABLES:
        return _hf(lm, HF_TABLES[model_type])
    raise UsageError(
        f"model {lm.name!r} ({type(lm).__name__}, {model_type or 'unknown type'}) has no hook "
        "table; circuits support llama2.c, bitllama, HF Llama and HF GPT-Neo models"
    )
