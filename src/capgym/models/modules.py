"""Where a loaded model keeps the two matrices that frame its residual stream.

Stages that read a model's states without hooking every layer (``cluster``) need just
the token embedding (what the first layer reads) and the output layer (whose input is
the final hidden state after the final norm).  Both are looked up here, once for
every backend: llama2.c and bitllama (``module.tok_embeddings`` / ``module.output``) and
Hugging Face models (``get_input_embeddings()`` / ``get_output_embeddings()``).
:func:`has_hooks` tells whether a module's forward would run hooks, which the faster
scoring paths (an SDPA twin, a TorchScript trace) would bypass.  Each
layer's attention module, and its pattern, are found in :mod:`capgym.models.attention`.

>>> from capgym.models import load_model
>>> lm = load_model("stories260K")
>>> tuple(token_embedding(lm).weight.shape), type(output_layer(lm)).__name__
((512, 64), 'Linear')
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.modules import module as nn_module

from capgym.errors import UsageError


def token_embedding(lm: Any) -> nn.Module:
    """The module mapping token ids to the first residual stream; its ``weight`` is the
    embedding matrix ``[vocab, dim]``."""
    return _find(lm, "tok_embeddings", "get_input_embeddings", "the input embeddings")


def output_layer(lm: Any) -> nn.Module:
    """The module that turns the final hidden state into logits (llama2.c ``output``, a
    Hugging Face model's output embeddings)."""
    return _find(lm, "output", "get_output_embeddings", "the output layer")


def _find(lm: Any, llama2c: str, hf_getter: str, what: str) -> nn.Module:
    """``lm.module.<llama2c>`` (llama2.c, bitllama) or ``lm.model.<hf_getter>()`` (HF)."""
    found = getattr(getattr(lm, "module", None), llama2c, None)
    model = getattr(lm, "model", None)
    if found is None and model is not None and hasattr(model, hf_getter):
        found = getattr(model, hf_getter)()
    if found is None:
        raise UsageError(f"cannot find {what} of {type(lm).__name__}")
    return found  # type: ignore[no-any-return]


def has_hooks(module: nn.Module) -> bool:
    """Whether a forward of ``module`` runs hooks: a forward (pre-)hook on any of its
    submodules, or one of torch's global forward hooks.

    >>> has_hooks(nn.Linear(2, 2))
    False
    """
    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())
