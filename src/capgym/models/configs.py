"""The published configs of roneneldan's TinyStories models, and random-weight twins.

All are GPT-Neo (``gelu_new``, 16 heads, global/local attention alternating with a
local window of 256, 2048 positions, the 50,257-token GPT-2 vocabulary, tied
classifier, MLP width 4 x hidden).  Only width and depth differ.  Values are those of
each repository's ``config.json``; the parameter counts (embeddings included) agree
with the sizes of the published ``pytorch_model.bin`` files, which also hold one
2048 x 2048 boolean attention mask per layer (e.g. 33M: 68,514,048 x 4 B + 4 x 4 MiB
= 291 MB).  The Instruct models share the shapes of their base models.

:func:`random_model` builds the same network with random weights and the real GPT-2
tokenizer: the same code path and compute as the trained model, without a download.

>>> ronen_config("TinyStories-33M").num_layers, PUBLISHED_PARAMS["TinyStories-33M"]
(4, 68514048)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import torch

from capgym.errors import AssetNotFound, ModelNotFound

# name -> (hidden_size, num_layers)
SHAPES: dict[str, tuple[int, int]] = {
    "TinyStories-1M": (64, 8),
    "TinyStories-3M": (128, 8),
    "TinyStories-8M": (256, 8),
    "TinyStories-28M": (512, 8),
    "TinyStories-33M": (768, 4),
    "TinyStories-1Layer-21M": (1024, 1),
    "TinyStories-2Layers-33M": (1024, 2),
    "TinyStories-Instruct-1M": (64, 8),
    "TinyStories-Instruct-3M": (128, 8),
    "TinyStories-Instruct-8M": (256, 8),
    "TinyStories-Instruct-28M": (512, 8),
    "TinyStories-Instruct-33M": (768, 4),
    "TinyStories-Instruct-2Layers-33M": (1024, 2),
}

VOCAB = 50257
POSITIONS = 2048


def _count(hidden: int, layers: int) -> int:
    """Parameters of a GPT-Neo: embeddings, 12 d^2 + 10 d per block, final LayerNorm."""
    return (
        VOCAB * hidden + POSITIONS * hidden + layers * (12 * hidden**2 + 10 * hidden) + 2 * hidden
    )


PUBLISHED_PARAMS: dict[str, int] = {name: _count(*shape) for name, shape in SHAPES.items()}


def canonical(name: str) -> str:
    """``roneneldan/TinyStories-1M`` or ``TinyStories-1M`` -> ``TinyStories-1M``."""
    return name.removeprefix("roneneldan/")


def ronen_config(name: str) -> Any:
    """The ``GPTNeoConfig`` of a roneneldan model (see the module example)."""
    from transformers import GPTNeoConfig

    key = canonical(name)
    if key not in SHAPES:
        raise ModelNotFound(f"no published config for {name!r}; known: {', '.join(SHAPES)}")
    hidden, layers = SHAPES[key]
    pattern = [[["global", "local"], layers // 2]] if layers > 1 else [[["global"], 1]]
    return GPTNeoConfig(
        vocab_size=VOCAB, max_position_embeddings=POSITIONS, hidden_size=hidden,
        num_layers=layers, attention_types=pattern, num_heads=16, intermediate_size=None,
        window_size=256, activation_function="gelu_new", resid_dropout=0.0, embed_dropout=0.0,
        attention_dropout=0.0, classifier_dropout=0.1, layer_norm_epsilon=1e-5,
        initializer_range=0.02, use_cache=True, bos_token_id=50256, eos_token_id=50256,
    )  # fmt: skip


def gpt2_tokenizer_dir() -> Path:
    """``$CAPGYM_ASSETS/tokenizers/gpt2`` (read now), or AssetNotFound."""
    root = os.environ.get("CAPGYM_ASSETS")
    path = Path(root) / "tokenizers" / "gpt2" if root else None
    if (
        path is None
        or not (path / "tokenizer.json").is_file()
        and not (path / "vocab.json").is_file()
    ):
        raise AssetNotFound(
            "the GPT-2 tokenizer is missing; set CAPGYM_ASSETS to a folder with tokenizers/gpt2/"
        )
    return path


@functools.lru_cache(maxsize=4)
def _shared_tokenizer(path: str) -> Any:
    """Tokenizers are immutable: random twins built in one process share one."""
    from capgym.models.hf import HFTokenizer

    return HFTokenizer.from_pretrained(path)


def random_model(name: str, seed: int = 0) -> Any:
    """A roneneldan architecture with random weights (seeded) and the real GPT-2 tokenizer.

    >>> lm = random_model("TinyStories-1M")
    >>> lm.name, lm.n_params, lm.context_len, lm.bos_id
    ('random:TinyStories-1M', 3745984, 512, 50256)
    """
    from transformers import GPTNeoForCausalLM

    from capgym.models.hf import wrap

    config = ronen_config(name)
    tokenizer = _shared_tokenizer(str(gpt2_tokenizer_dir()))
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = GPTNeoForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    key = canonical(name)
    return wrap(
        model, tokenizer, name=f"random:{key}", source=f"random:{key}?seed={seed}", roneneldan=True
    )
