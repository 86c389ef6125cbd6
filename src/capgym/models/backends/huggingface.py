"""Hugging Face causal LMs: local folders, roneneldan's TinyStories, any Hub id, random twins.

Loading goes through :func:`capgym.models.hf.load_hf`; listing a folder reads its
``config.json`` and counts parameters on the meta device (no weights are read).
roneneldan's models use the GPT-2 tokenizer from the assets when present (the Hub
repos ship it too); ``random:<name>`` builds one of their architectures with random
weights (:func:`capgym.models.configs.random_model`).

>>> Transformers().knows("org/model"), Transformers().knows("./org/model")
(True, False)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from capgym.errors import AssetNotFound, CheckpointError
from capgym.models.base import LanguageModel
from capgym.models.configs import PUBLISHED_PARAMS, SHAPES, canonical, gpt2_tokenizer_dir
from capgym.models.registry import Backend, ModelEntry, backend


def count_parameters(config: Any) -> int:
    """Parameters of the causal LM a ``transformers`` config describes (tied counted once)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _tokenizer_label(folder: Path, vocab: int) -> str:
    """``BPE (2048)``, ``Unigram (32000)``, ... from ``tokenizer.json``; else the class."""
    try:
        kind = json.loads((folder / "tokenizer.json").read_text("utf-8"))["model"]["type"]
    except (OSError, ValueError, KeyError, TypeError):
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
            kind = str(config.get("tokenizer_class", "?"))
        except (OSError, ValueError, AttributeError):
            kind = "?"
    return f"{kind} ({vocab})"


@backend
class Transformers(Backend):
    """Causal LMs that ``AutoModelForCausalLM`` loads."""

    name = "transformers"
    order = 30

    def reads(self, path: Path) -> bool:
        return path.is_dir() and (path / "config.json").is_file()

    def load_path(self, path: Path, name: str, source: str) -> LanguageModel:
        from capgym.models.hf import load_hf

        return load_hf(path, name=name, origin=source)

    def describe(self, path: Path, name: str, source: str) -> ModelEntry:
        from transformers import AutoConfig

        from capgym.models.hf import arch_details, arch_label

        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as err:
            raise CheckpointError(
                f"{path / 'config.json'} is not a valid model config ({_first_line(err)})"
            ) from err
        vocab = int(getattr(config, "vocab_size", 0) or 0)
        return ModelEntry(
            name,
            count_parameters(config),
            arch_label(config),
            _tokenizer_label(path, vocab),
            source,
            details=f"{type(config).__name__.removesuffix('Config')}: {arch_details(config)}",
        )

    def knows(self, name: str) -> bool:
        if name.startswith("random:") or canonical(name) in SHAPES:
            return True
        return name.count("/") == 1 and not name.startswith((".", "/", "~"))

    def load_name(self, name: str) -> LanguageModel:
        from capgym.models.hf import load_hf

        if name.startswith("random:"):
            from capgym.models.configs import random_model

            return random_model(name.removeprefix("random:"))
        key = canonical(name)
        if key in SHAPES:
            try:
                tokenizer: Path | None = gpt2_tokenizer_dir()
            except AssetNotFound:
                tokenizer = None  # the Hub repos ship the GPT-2 tokenizer too
            return load_hf(f"roneneldan/{key}", name=key, tokenizer=tokenizer)
        return load_hf(name)

    def entries(self) -> list[ModelEntry]:
        rows = []
        for name, n in PUBLISHED_PARAMS.items():
            hidden, layers = SHAPES[name]
            details = f"GPTNeo: hidden {hidden}, layers {layers}, heads 16, positions 2048"
            source = f"hub:roneneldan/{name}"
            rows.append(ModelEntry(name, n, "HF gpt_neo", "GPT-2 BPE (50257)", source, details))
        return rows


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
