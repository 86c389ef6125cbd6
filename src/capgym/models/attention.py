"""Each head's attention pattern, captured during an ordinary forward of any backend.

A stage that wants to know where the model looks (``cluster``'s attention features)
wraps a forward in :func:`capture_patterns`: every layer's attention probabilities
``[batch, heads, query, key]`` (float32, rows summing to 1, causal) are handed to a
callback as the layer runs, so the caller can keep the few query rows it needs instead
of ``layers x heads x T x T`` floats.  Plain torch module hooks; no model file changes:

* llama2.c and bitllama (capgym :class:`~capgym.models.llama.Llama`): a hook on each
  layer's ``attention`` module recomputes ``softmax(q k^T / sqrt(d))`` from its input
  with the same projections and RoPE (the fused kernel never materialises the pattern);
  query head ``h`` reads key head ``h // (n_heads // n_kv_heads)``.
* Hugging Face Llama and GPT-Neo, loaded with ``attn_implementation="eager"`` (as
  :func:`capgym.models.load_model` does): the attention module returns its weights as
  the second output; the hook takes them.

>>> import torch
>>> from capgym.models import load_model
>>> lm = load_model("stories260K")
>>> seen = {}
>>> with capture_patterns(lm, lambda layer, p: seen.__setitem__(layer, p)):
...     _ = lm.forward(torch.tensor([[1, 403, 407, 261]]))
>>> len(seen), tuple(seen[0].shape), round(float(seen[4][0, 3, 2].sum()), 4)
(5, (1, 8, 4, 4), 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from capgym.errors import UsageError

__all__ = ["attention_modules", "capture_patterns", "llama_pattern"]

Sink = Callable[[int, torch.Tensor], None]

# Hugging Face layouts by ``config.model_type``: (core, layers, attention inside a layer)
_HF_ATTENTION = {"llama": ("model", "layers", "self_attn"), "gpt_neo": ("transformer", "h", "attn.attention")}  # fmt: skip


def attention_modules(lm: Any) -> list[nn.Module]:
    """Each layer's attention module, in layer order (llama2.c / bitllama ``attention``,
    HF Llama ``self_attn``, GPT-Neo ``attn.attention``)."""
    layers = getattr(getattr(lm, "module", None), "layers", None)
    if layers is not None:
        return [layer.attention for layer in layers]
    model = getattr(lm, "model", None)
    kind = getattr(getattr(model, "config", None), "model_type", None)
    if kind not in _HF_ATTENTION:
        raise UsageError(f"cannot find the attention modules of {type(lm).__name__} ({kind})")
    core, stack, inside = _HF_ATTENTION[kind]
    out = []
    for layer in getattr(getattr(model, core), stack):
        for name in inside.split("."):
            layer = getattr(layer, name)
        out.append(layer)
    return out


def llama_pattern(
    attn: Any,
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    queries: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention probabilities ``[B, H, T, T]`` of a capgym Llama ``Attention`` module
    on its input ``x`` ``[B, T, dim]``, recomputed in float32; with ``queries`` (sequence
    indexes), only those rows: ``[B, H, len(queries), T]``."""
    from capgym.models.llama import apply_rope, shared_input

    b, t, _ = x.shape
    h = shared_input(attn.wq, x)
    q = apply_rope(attn.wq(h).view(b, t, attn.n_heads, attn.head_dim), cos, sin).float()
    k = apply_rope(attn.wk(h).view(b, t, attn.n_kv_heads, attn.head_dim), cos, sin).float()
    k = k.repeat_interleave(attn.n_heads // attn.n_kv_heads, dim=2)
    rows = torch.arange(t, device=x.device) if queries is None else queries.to(x.device)
    scores = torch.einsum("bqhd,bkhd->bhqk", q[:, rows], k) / attn.head_dim**0.5
    mask = torch.arange(t, device=x.device)[None, :] > rows[:, None]  # keys after the query
    return scores.masked_fill(mask, float("-inf")).softmax(-1)


@contextmanager
def capture_patterns(lm: Any, sink: Sink, queries: torch.Tensor | None = None) -> Iterator[None]:
    """Inside the block, each forward of ``lm`` calls ``sink(layer, pattern)`` once per
    layer with that layer's attention probabilities ``[B, H, T, T]`` (float32); with
    ``queries`` (1-D sequence indexes), only those query rows, ``[B, H, len(queries), T]``
    (a llama2.c model then scores only those rows).

    Raises :class:`UsageError` for a backend without attention modules, or a Hugging
    Face model that does not return attention weights (not loaded in eager mode).
    """
    modules = attention_modules(lm)
    llama = hasattr(getattr(lm, "module", None), "layers")

    def hook(layer: int) -> Callable[..., None]:
        def on_forward(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:  # fmt: skip
            with torch.no_grad():
                if llama:
                    x, cos, sin = args[:3]
                    sink(layer, llama_pattern(modules[layer], x, cos, sin, queries))
                    return
                weights = out[1] if isinstance(out, tuple) and len(out) > 1 else None
                if weights is None:
                    raise UsageError("this Hugging Face model does not return attention weights; "
                                     'load it with attn_implementation="eager"')  # fmt: skip
                weights = weights.detach().float()
                sink(layer, weights if queries is None else weights[:, :, queries])

        return on_forward

    handles = [m.register_forward_hook(hook(i), with_kwargs=True) for i, m in enumerate(modules)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
