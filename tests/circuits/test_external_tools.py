"""The Hugging Face export, booted in TransformerLens (and nnsight) themselves.

Neither is a dependency of capgym: the test runs when ``transformer_lens`` imports in
this interpreter, or when ``CAPGYM_TL_PYTHON`` names a Python that has it (a separate
venv with ``pip install torch==2.13.0 transformer-lens nnsight``); otherwise it is
skipped.  That Python only needs the tools, not capgym: this side exports stories260K,
computes capgym's own logits and a head patch, and the script boots the folder with
``TransformerBridge.boot_transformers`` and compares.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from capgym.circuits import HookedModel
from capgym.circuits.export import export_hf
from capgym.corpus import load_corpus
from capgym.models.base import LanguageModel

SCRIPT = r"""
import json, sys
import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import AutoTokenizer, LlamaForCausalLM, PreTrainedTokenizerFast
from transformer_lens.model_bridge import TransformerBridge

folder, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
d = torch.load(data)
clean, corrupt, layer, head = d["clean"], d["corrupt"], d["layer"], d["head"]
hf = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
# the folder has only llama2.c's tokenizer; the bridge needs a Hugging Face one (ids are passed)
vocab = {f"<{i}>": i for i in range(3, hf.config.vocab_size)} | {"<unk>": 0, "<s>": 1, "</s>": 2}
tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")),
                              bos_token="<s>", eos_token="</s>", unk_token="<unk>", add_bos_token=True)
tok.save_pretrained(folder)
tok = AutoTokenizer.from_pretrained(folder)
bridge = TransformerBridge.boot_transformers(folder, hf_model=hf, tokenizer=tok, device="cpu")
hd = hf.config.head_dim
sl = slice(head * hd, (head + 1) * hd)
name = f"blocks.{layer}.attn.hook_z"  # [batch, pos, head, d_head], as capgym's
with torch.no_grad():
    res = {"hf": hf(clean).logits, "tl": bridge(clean)}
    _, cache = bridge.run_with_cache(corrupt, names_filter=name)
    def put(act, hook):
        act = act.clone()
        act[:, :, head] = cache[name][:, :, head]
        return act
    res["tl_patched"] = bridge.run_with_hooks(clean, fwd_hooks=[(name, put)])
    try:
        from nnsight import NNsight
    except ImportError:
        NNsight = None
    if NNsight is not None:
        model = NNsight(hf)
        o_proj = model.model.layers[layer].self_attn.o_proj
        with model.trace(corrupt):  # o_proj's input: the heads concatenated
            z = o_proj.input[..., sl].save()
        with model.trace(clean):
            o_proj.input[..., sl] = z
            patched = model.output.save()
        res["nnsight_patched"] = getattr(patched, "logits", patched)
torch.save({k: v.detach().float() for k, v in res.items()}, out)
"""


def tl_python() -> str | None:
    env = os.environ.get("CAPGYM_TL_PYTHON")
    if env:
        return env
    return sys.executable if importlib.util.find_spec("transformer_lens") else None


@pytest.mark.slow
def test_transformer_lens_boots_the_export_with_the_same_logits(
    stories: LanguageModel, hooked: HookedModel, tmp_path: Path
) -> None:
    python = tl_python()
    if python is None:
        pytest.skip(
            "transformer-lens is not installed (pip install transformer-lens, or CAPGYM_TL_PYTHON)"
        )
    folder = export_hf(stories, tmp_path / "hf")
    texts = load_corpus("tinystories-validation-0-999", limit=8).texts
    ids = [stories.encode(t).ids[:32] for t in texts]
    ids = torch.tensor([i for i in ids if len(i) == 32][:4])
    clean, corrupt = ids[:2], ids[2:4]
    layer, head = hooked.points.n_layers - 1, 1
    z = f"blocks.{layer}.attn.hook_z"
    with torch.no_grad():
        ours = stories.forward(clean)
        _, cache = hooked.run(corrupt, cache=[z])

        def put(act: torch.Tensor) -> torch.Tensor:
            act = act.clone()
            act[:, :, head] = cache[z][:, :, head]
            return act

        ours_patched = hooked.run(clean, edits={z: put})[0]
    torch.save(
        {"clean": clean, "corrupt": corrupt, "layer": layer, "head": head}, tmp_path / "in.pt"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    argv = [python, "-c", SCRIPT, str(folder), str(tmp_path / "in.pt"), str(tmp_path / "out.pt")]
    proc = subprocess.run(
        argv, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = torch.load(tmp_path / "out.pt")
    diff = {
        "tl-hf": float((got["tl"] - got["hf"]).abs().max()),
        "tl-capgym": float((got["tl"] - ours).abs().max()),
        "patched tl-capgym": float((got["tl_patched"] - ours_patched).abs().max()),
        "patch effect": float((ours_patched - ours).abs().max()),
    }
    if "nnsight_patched" in got:
        diff["patched nnsight-capgym"] = float((got["nnsight_patched"] - ours_patched).abs().max())
    print(json.dumps(diff))
    assert diff["tl-hf"] <= 1e-6, diff
    assert diff["tl-capgym"] <= 1e-4, diff
    assert diff["patch effect"] > 1e-2, diff  # the patch changes something ...
    assert all(v <= 1e-4 for k, v in diff.items() if k.startswith("patched")), (
        diff
    )  # ... the same way
