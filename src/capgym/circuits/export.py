"""Export a float model as a standard Hugging Face folder, for researchers' own tools.

A llama2.c model becomes a ``LlamaForCausalLM``: the same weights, with the q/k rows
of every head permuted from llama2.c's interleaved rotary pairs (2i, 2i+1) to the
half-split layout (i, i + d/2) that Hugging Face's rotary code uses.  The llama2.c
tokenizer (its pieces and merge scores) becomes the SentencePiece BPE model it was
exported from, written as a ``LlamaTokenizer`` (``tokenizer.model``, ``tokenizer.json``)
that ``AutoTokenizer.from_pretrained(folder)`` loads; it is written only when it encodes
a probe text to exactly the ids capgym gives (BOS included), and the llama2.c file is
copied next to it either way.  Hugging Face models are saved with their tokenizer.
bitllama models are not float models (their ternary layers quantise activations) and
are refused.

>>> import tempfile, torch
>>> from capgym.models import load_model
>>> lm = load_model("stories260K")
>>> folder = export_hf(lm, tempfile.mkdtemp())
>>> from transformers import LlamaForCausalLM
>>> hf = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager")
>>> ids = torch.tensor([[1, 403, 407, 261, 378]])
>>> bool(torch.allclose(hf(ids).logits, lm.forward(ids), atol=1e-4))
True
>>> from transformers import AutoTokenizer
>>> AutoTokenizer.from_pretrained(folder)("Once upon a time")["input_ids"]
[1, 403, 407, 261, 378]
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
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
        hf_tok = getattr(lm.tokenizer, "hf", None)
        if hf_tok is not None:
            hf_tok.save_pretrained(dest)
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
    if not write_tokenizer(lm, dest):
        warnings.warn(f"model {lm.name}: its tokenizer cannot be exported exactly as a Hugging "
                      f"Face tokenizer; the folder has none (encode with capgym)", stacklevel=2)  # fmt: skip
    return dest


# covers letters, digits, punctuation, quotes, newlines and a character outside tok512
PROBE = "Once upon a time, Lily said: \"Hi!\"\n\nThe 3 cats ran... Tom's hat? Yes; it's é."


def sentencepiece_model(pieces: list[bytes], scores: list[float], byte_fallback: bool) -> bytes:
    """The SentencePiece BPE model (serialised proto) of a llama2.c tokenizer's pieces.

    llama2.c's tokenizer.bin is a SentencePiece BPE vocabulary with "\u2581" written as a
    space and BOS/EOS as "\\n<s>\\n"/"\\n</s>\\n"; SentencePiece's BPE encoder merges the
    same pairs by the same scores, after the same dummy-prefix space.
    """
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(pieces)
    m.trainer_spec.byte_fallback = byte_fallback
    m.trainer_spec.unk_id, m.trainer_spec.bos_id, m.trainer_spec.eos_id = 0, 1, 2
    m.trainer_spec.pad_id = -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    kind = pb.ModelProto.SentencePiece
    for i, (p, score) in enumerate(zip(pieces, scores)):
        sp = m.pieces.add()
        sp.score = score
        if i < 3:
            sp.piece, sp.type = (
                ("<unk>", "<s>", "</s>")[i],
                (kind.UNKNOWN, kind.CONTROL, kind.CONTROL)[i],
            )
        elif re.fullmatch(rb"<0x[0-9A-Fa-f]{2}>", p):
            sp.piece, sp.type = p.decode(), kind.BYTE
        else:
            sp.piece, sp.type = p.decode("utf-8", "replace").replace(" ", "\u2581"), kind.NORMAL
    return m.SerializeToString()


def write_tokenizer(lm: LanguageModel, dest: Path) -> bool:
    """Write ``lm``'s llama2.c tokenizer as a Hugging Face LlamaTokenizer into ``dest``.

    Returns False (and writes nothing) when the tokenizer is not a llama2.c one or the
    converted tokenizer does not give capgym's ids on :data:`PROBE`.
    """
    tok = lm.tokenizer
    files = [Path(f) for f in getattr(lm, "files", [])]
    if hasattr(tok, "pieces") and hasattr(tok, "scores"):
        spm = sentencepiece_model(tok.pieces, tok.scores, bool(getattr(tok, "byte_fallback", True)))
    elif files and files[-1].suffix == ".model":  # rebuilt: transformers rejects some as they are
        from sentencepiece import sentencepiece_model_pb2 as pb

        m = pb.ModelProto.FromString(files[-1].read_bytes())
        pieces = [p.piece.replace("\u2581", " ").encode() for p in m.pieces]
        spm = sentencepiece_model(pieces, [p.score for p in m.pieces], m.trainer_spec.byte_fallback)
    else:
        return False
    from transformers import AutoTokenizer

    config = {"tokenizer_class": "LlamaTokenizer", "add_bos_token": lm.bos_id is not None,
              "add_eos_token": False, "legacy": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "model_max_length": lm.context_len}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tokenizer.model").write_bytes(spm)
        (Path(tmp) / "tokenizer_config.json").write_text(json.dumps(config))
        try:
            hf_tok = AutoTokenizer.from_pretrained(tmp)
        except (OSError, ValueError):
            return False
        if hf_tok(PROBE)["input_ids"] != lm.encode(PROBE).ids:
            return False
        hf_tok.save_pretrained(dest)
        shutil.copy(Path(tmp) / "tokenizer.model", dest / "tokenizer.model")
    return True
