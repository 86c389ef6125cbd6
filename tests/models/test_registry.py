"""Names -> models: assets, cache, paths, Hub fallbacks offline, unknown names."""

from __future__ import annotations

import shutil

import pytest

from capgym.assets import assets_dir, cache_dir
from capgym.errors import AssetNotFound, ModelNotFound, TokenizerError
from capgym.models import list_models, load_model
from capgym.models.registry import ModelEntry


@pytest.fixture(autouse=True)
def _offline_empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CAPGYM_CACHE", str(tmp_path / "cache"))


def _one_line(err: pytest.ExceptionInfo, *words: str) -> None:
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_list_models(assets) -> None:
    entries = {e.name: e for e in list_models()}
    assert isinstance(entries["stories260K"], ModelEntry)
    for name, n in [("stories260K", 260_032), ("llama2xs-279K", 279_232),
                    ("bitllama-1M", 1_245_312), ("bitllama-3M", 3_277_056),
                    ("babyllama-936K", 936_448)]:  # fmt: skip
        assert entries[name].n_params == n and entries[name].source.startswith("assets:")
    assert entries["babyllama-936K"].tokenizer == "tok105.model"
    assert entries["stories15M"].source == "hub:karpathy/tinyllamas/stories15M.bin"
    assert entries["TinyStories-33M"].n_params == 68_514_048
    assert entries["TinyStories-33M"].source == "hub:roneneldan/TinyStories-33M"


def test_load_asset_names_and_paths(assets) -> None:
    lm = load_model("stories260K")
    assert lm.name == "stories260K" and lm.n_params == 260_032
    assert lm.info.source.startswith("assets:")
    bit = load_model(str(assets / "models" / "bitllama-1M"))
    assert bit.name == "bitllama-1M" and bit.n_params == 1_245_312
    single = load_model(str(assets / "models" / "stories260K" / "stories260K.bin"))
    assert single.content_hash == lm.content_hash


def test_assets_are_read_at_call_time(monkeypatch, tmp_path, assets) -> None:
    fake = tmp_path / "assets"
    shutil.copytree(assets / "models" / "llama2xs-279K", fake / "models" / "mine")
    monkeypatch.setenv("CAPGYM_ASSETS", str(fake))
    assert assets_dir() == fake
    assert next(e.name for e in list_models()) == "mine"
    assert load_model("mine").n_params == 279_232
    with pytest.raises(ModelNotFound):
        load_model("llama2xs-279K")  # not in these assets


def test_cache_folder_is_a_source(monkeypatch, tmp_path, assets) -> None:
    monkeypatch.delenv("CAPGYM_ASSETS")
    shutil.copytree(assets / "models" / "stories260K", cache_dir() / "models" / "cached260K")
    lm = load_model("cached260K")
    assert lm.info.source.startswith("cache:") and lm.n_params == 260_032


def test_hugging_face_folder(tmp_path, assets) -> None:
    from capgym.models.configs import random_model

    lm = random_model("TinyStories-1M", seed=3)
    folder = tmp_path / "TinyStories-1M"
    lm.model.save_pretrained(folder)
    lm.tokenizer.hf.save_pretrained(folder)
    loaded = load_model(str(folder))
    assert loaded.bos_id == 50256 and loaded.context_len == 512
    assert loaded.content_hash == lm.content_hash


def test_offline_hub_names_are_asset_not_found(assets) -> None:
    for name in [
        "stories15M",
        "TinyStories-1M",
        "roneneldan/TinyStories-8M",
        "delphi-suite/v0-llama2-100k",
    ]:
        with pytest.raises(AssetNotFound) as err:
            load_model(name)
        _one_line(err)
        assert not isinstance(err.value, ModelNotFound)


def test_stories260k_falls_back_to_the_hub(monkeypatch) -> None:
    monkeypatch.delenv("CAPGYM_ASSETS")
    with pytest.raises(AssetNotFound) as err:
        load_model("stories260K")
    _one_line(err, "karpathy/tinyllamas", "CAPGYM_ASSETS")


def test_unknown_name_suggests_close_matches(assets) -> None:
    with pytest.raises(ModelNotFound) as err:
        load_model("storis260K")
    _one_line(err, "stories260K", "capgym models")
    with pytest.raises(ModelNotFound) as err:
        load_model("qwertyuiop")
    _one_line(err, "capgym models")


def test_folder_with_wrong_tokenizer(tmp_path, assets) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(assets / "models" / "stories260K" / "stories260K.bin", folder / "model.bin")
    shutil.copy(assets / "models" / "babyllama-936K" / "tok105.bin", folder / "tok105.bin")
    with pytest.raises(TokenizerError) as err:
        load_model(str(folder))
    _one_line(err, "tok105.bin", "model.bin")


def test_random_names(tiny) -> None:
    lm = load_model("random:TinyStories-1M")
    assert lm.name == "random:TinyStories-1M" and lm.n_params == 3_745_984
    assert lm.content_hash == tiny.content_hash  # seed 0 both times: same weights
    with pytest.raises(ModelNotFound):
        load_model("random:TinyStories-2M")


def test_a_backend_is_one_decorated_class(tmp_path) -> None:
    """A new format plugs in with @backend: load by path, list in the assets, unregister."""
    from pathlib import Path

    from capgym.models.registry import Backend, backend, list_models, unregister_backend
    from tests.spine.toy import ToyLM

    @backend
    class Toy(Backend):
        name = "toy-demo"

        def reads(self, path: Path) -> bool:
            return path.suffix == ".toy"

        def load_path(self, path: Path, name: str, source: str) -> ToyLM:
            lm = ToyLM()
            lm.name = name
            return lm

        def describe(self, path: Path, name: str, source: str) -> ModelEntry:
            return ModelEntry(name, 7, "toy", "chars", source)

        def knows(self, name: str) -> bool:
            return name == "toy:named"

        def load_name(self, name: str) -> ToyLM:
            return ToyLM()

    try:
        (tmp_path / "m.toy").write_text("x")
        assert load_model(str(tmp_path / "m.toy")).name == "m"
        assert isinstance(load_model("toy:named"), ToyLM)
    finally:
        unregister_backend("toy-demo")
    with pytest.raises(ModelNotFound, match="not a model capgym can read"):
        load_model(str(tmp_path / "m.toy"))
    assert all(e.name != "m" for e in list_models())


def test_broken_hugging_face_folder_says_what_is_wrong(tmp_path) -> None:
    from capgym.errors import CheckpointError

    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError) as err:
        load_model(str(folder))
    _one_line(err, str(folder), "config.json")
    assert "internet" not in str(err.value)


def test_path_like_name_that_does_not_exist(assets) -> None:
    with pytest.raises(AssetNotFound) as err:
        load_model("bad/nonexist")
    _one_line(err, "not a local path")
