"""Export a float model as a standard Hugging Face folder, for researchers' own tools.

A llama2.c model becomes a ``LlamaForCausalLM``: the same weights, with the q/k rows
of every head permuted from llama2.c's interleaved rotary pairs (2i, 2i+1) to the
half-split layout (i, i + d/2) that Hugging Face's rotary code uses.  The tokenizer
file is copied next to the weights (llama2.c format; its ids are the model's ids).
Hugging Face models are saved as they are.  bitllama models are not float models
(their ternary layers quantise activations) and are refused.

>>> import tempfile, torch
>>> from capgym.models import load_model
>>> lm = load_model("stories260K")
>>> folder = export_hf(lm, tempfile.mkdtemp())
>>> from transformers import LlamaForCausalLM
>>> hf = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager")
>>> ids = torch.tensor([[1, 403, 407, 261, 378]])
>>> bool(torch.allclose(hf(ids).logits, lm.forward(ids), atol=1e-4))
True
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from capgym.errors import UsageError
from capgym.models.base import LanguageModel


def interleaved_to_half(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of a q/k projection from (2i, 2i+1) rotary pairs to (i, i + d/2) pairs.

    >>> interleaved_to_half(torch.arange(4.0)[:, None], 1)[:, 0].tolist()
    [0.0, 2.0, 1.0, 3.0]
    """
    out_dim, in_dim = w.shape
    head = out_dim // n_heads
    return w.view(n_heads, head // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def export_hf(lm: LanguageModel, dest: str | Path) -> Path:
    """Write ``lm`` to ``dest`` as a Hugging Face model folder; returns the folder."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    model = getattr(lm, "model", None)
    if model is not None and hasattr(model, "save_pretrained"):
        model.save_pretrained(dest)
        return dest
    module = getattr(lm, "module", None)
    if module is None or "bitllama" in getattr(lm, "architecture", ""):
        raise UsageError(f"model {lm.name} is not a float llama2.c or Hugging Face model; "
                         "only those can be exported (bitllama's layers are ternary)")  # fmt: skip
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = module.cfg
    hf_cfg = LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.dim, intermediate_size=cfg.hidden_dim,
        num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_kv_heads, max_position_embeddings=cfg.max_seq_len,
        rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_theta, tie_word_embeddings=cfg.tied,
        bos_token_id=1, eos_token_id=2, attention_bias=False, mlp_bias=False,
        head_dim=cfg.head_dim,
    )  # fmt: skip
    hf = LlamaForCausalLM(hf_cfg)
    state = {"model.embed_tokens.weight": module.tok_embeddings.weight,
             "model.norm.weight": module.norm.weight, "lm_head.weight": module.output.weight}  # fmt: skip
    for i, block in enumerate(module.layers):
        p, att, ff = f"model.layers.{i}.", block.attention, block.feed_forward
        state |= {
            p + "self_attn.q_proj.weight": interleaved_to_half(att.wq.weight, cfg.n_heads),
            p + "self_attn.k_proj.weight": interleaved_to_half(att.wk.weight, cfg.n_kv_heads),
            p + "self_attn.v_proj.weight": att.wv.weight, p + "self_attn.o_proj.weight": att.wo.weight,
            p + "mlp.gate_proj.weight": ff.w1.weight, p + "mlp.up_proj.weight": ff.w3.weight,
            p + "mlp.down_proj.weight": ff.w2.weight,
            p + "input_layernorm.weight": block.attention_norm.weight,
            p + "post_attention_layernorm.weight": block.ffn_norm.weight,
        }  # fmt: skip
    with torch.no_grad():
        hf.load_state_dict({k: v.detach().clone() for k, v in state.items()}, strict=False)
    hf.save_pretrained(dest)
    files = getattr(lm, "files", [])
    if len(files) > 1:
        shutil.copy(files[-1], dest / Path(files[-1]).name)
    return dest
