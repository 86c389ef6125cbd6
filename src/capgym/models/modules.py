"""Where a loaded model keeps the two matrices that frame its residual stream.

Stages that read a model's states without hooking every layer (``cluster``) need just
the token embedding (what the first layer reads) and the output layer (whose input is
the final hidden state after the final norm).  Both are looked up here, once for
every backend: llama2.c and bitllama (``module.tok_embeddings`` / ``module.output``) and
Hugging Face models (``get_input_embeddings()`` / ``get_output_embeddings()``).

>>> from capgym.models import load_model
>>> lm = load_model("stories260K")
>>> tuple(token_embedding(lm).weight.shape), type(output_layer(lm)).__name__
((512, 64), 'Linear')
"""

from __future__ import annotations

from typing import Any

from torch import nn

from capgym.errors import UsageError


def token_embedding(lm: Any) -> nn.Module:
    """The module mapping token ids to the first residual stream; its ``weight`` is the
    embedding matrix ``[vocab, dim]``."""
    emb = getattr(getattr(lm, "module", None), "tok_embeddings", None)
    model = getattr(lm, "model", None)
    if emb is None and model is not None and hasattr(model, "get_input_embeddings"):
        emb = model.get_input_embeddings()
    if emb is None:
        raise UsageError(f"cannot find the input embeddings of {type(lm).__name__}")
    return emb  # type: ignore[no-any-return]


def output_layer(lm: Any) -> nn.Module:
    """The module that turns the final hidden state into logits (llama2.c ``output``, a
    Hugging Face model's output embeddings)."""
    out = getattr(getattr(lm, "module", None), "output", None)
    model = getattr(lm, "model", None)
    if out is None and model is not None and hasattr(model, "get_output_embeddings"):
        out = model.get_output_embeddings()
    if out is None:
        raise UsageError(f"cannot find the output layer of {type(lm).__name__} to read its states")
    return out  # type: ignore[no-any-return]
