"""Fixtures of the models tests: the validation stories and the shared tok512 / stories260K."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capgym.models.llama2c import LlamaLM, load_llama2c
from capgym.models.llama2c_tokenizer import Llama2cTokenizer


@pytest.fixture(scope="session")
def validation(assets: Path) -> list[str]:
    """The 1,000 validation stories of the shared corpus."""
    path = assets / "corpora" / "tinystories-validation-0-999.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


@pytest.fixture(scope="session")
def tok512(assets: Path) -> Llama2cTokenizer:
    return Llama2cTokenizer.from_file(assets / "models" / "stories260K" / "tok512.bin")


@pytest.fixture(scope="session")
def stories260k(assets: Path) -> LlamaLM:
    folder = assets / "models" / "stories260K"
    return load_llama2c(folder / "stories260K.bin", folder / "tok512.bin")


@pytest.fixture(scope="session")
def tiny(assets: Path):
    """TinyStories-1M's architecture with random weights (seed 0) and the GPT-2 tokenizer."""
    from capgym.models.configs import random_model

    if not (assets / "tokenizers" / "gpt2").is_dir():
        pytest.skip("no GPT-2 tokenizer in the assets")
    return random_model("TinyStories-1M", seed=0)
