"""The Hugging Face backend: GPT-2 spans, random TinyStories twins, published configs."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.errors import AssetNotFound
from capgym.models.configs import PUBLISHED_PARAMS, SHAPES, random_model, ronen_config
from capgym.models.hf import HFTokenizer, load_hf

# sizes of the published pytorch_model.bin files (MB as the Hub shows them); each holds
# float32 weights plus one 2048 x 2048 bool attention mask per layer
PUBLISHED_FILE_MB = {
    "TinyStories-3M": 66.7,
    "TinyStories-8M": 112,
    "TinyStories-28M": 242,
    "TinyStories-33M": 291,
    "TinyStories-1Layer-21M": 269,
    "TinyStories-2Layers-33M": 323,
}


@pytest.fixture(scope="module")
def gpt2(assets) -> HFTokenizer:
    path = assets / "tokenizers" / "gpt2"
    if not path.is_dir():
        pytest.skip("no GPT-2 tokenizer in the assets")
    return HFTokenizer.from_pretrained(path)


def _covers(text: str, spans: list[tuple[int, int]]) -> None:
    assert "".join(text[s:e] for s, e in spans) == text
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_gpt2_spans_on_validation_stories(gpt2, validation) -> None:
    assert gpt2.byte_level and gpt2.vocab_size == 50257
    for text in validation:
        enc = gpt2.encode(text)
        _covers(text, enc.spans)
        assert gpt2.decode(enc.ids) == text


def test_gpt2_pieces_and_split_characters(gpt2) -> None:
    text = "Hi 🙂 said Zoë\n"
    enc = gpt2.encode(text)
    _covers(text, enc.spans)
    assert [gpt2.piece(i) for i in enc.ids][:2] == ["Hi", " 🙂"]
    assert gpt2.piece(50256) == "<|endoftext|>"
    # a rare emoji is split into byte pieces: the first covers it, the rest are empty
    enc = gpt2.encode("🦩")
    assert len(enc.ids) > 1 and enc.spans[0] == (0, 1) and set(enc.spans[1:]) == {(1, 1)}
    assert gpt2.piece(enc.ids[0]).startswith("<0x")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_gpt2_spans_round_trip_on_any_unicode(gpt2, text: str) -> None:
    enc = gpt2.encode(text)
    _covers(text, enc.spans)
    assert gpt2.decode(enc.ids) == text


def test_random_model_conventions(tiny) -> None:
    assert tiny.name == "random:TinyStories-1M"
    assert tiny.n_params == PUBLISHED_PARAMS["TinyStories-1M"] == 3_745_984
    assert tiny.context_len == 512 and tiny.vocab_size == 50257
    enc = tiny.encode("Once upon a time")
    assert enc.ids[0] == 50256 and enc.spans[0] == (0, 0)
    assert tiny.content_hash != random_model("TinyStories-1M", seed=1).content_hash


def test_forward_matches_transformers(tiny, validation) -> None:
    seqs = [tiny.encode(t).ids[:70] for t in validation[:3]]
    seqs[1] = seqs[1][:30]
    batch = torch.full((3, 70), 50256, dtype=torch.long)
    mask = torch.zeros(3, 70, dtype=torch.long)
    for b, s in enumerate(seqs):
        batch[b, : len(s)], mask[b, : len(s)] = torch.tensor(s), 1
    ours = tiny.forward(batch)
    assert ours.shape == (3, 70, 50257) and ours.dtype == torch.float32
    with torch.no_grad():
        theirs = tiny.model(input_ids=batch, attention_mask=mask).logits
        for b, s in enumerate(seqs):
            alone = tiny.model(input_ids=torch.tensor([s])).logits[0]
            torch.testing.assert_close(ours[b, : len(s)], alone, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(ours[b, : len(s)], theirs[b, : len(s)], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_published_parameter_counts(name) -> None:
    from transformers import GPTNeoForCausalLM

    config = ronen_config(name)
    with torch.device("meta"):
        model = GPTNeoForCausalLM(config)
    n = sum(p.numel() for p in model.parameters())
    assert n == PUBLISHED_PARAMS[name]
    base = name.replace("Instruct-", "")
    if base in PUBLISHED_FILE_MB:
        size_mb = (4 * n + config.num_layers * 2048 * 2048) / 1e6
        assert size_mb == pytest.approx(PUBLISHED_FILE_MB[base], rel=0.005)


def test_known_shapes() -> None:
    assert PUBLISHED_PARAMS["TinyStories-33M"] == 68_514_048
    cfg = ronen_config("roneneldan/TinyStories-33M")
    assert (cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.window_size) == (768, 4, 16, 256)
    assert cfg.attention_layers == ["global", "local", "global", "local"]
    assert ronen_config("TinyStories-1Layer-21M").attention_layers == ["global"]


def test_offline_hub_model_is_asset_not_found(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AssetNotFound) as err:
        load_hf("roneneldan/TinyStories-no-such-model")
    assert "\n" not in str(err.value) and "internet" in str(err.value)


@pytest.fixture(scope="module")
def metaspace(validation) -> HFTokenizer:
    """A SentencePiece-style BPE (▁ for spaces, byte fallback, adds <s>) on 200 stories."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(validation[:200], trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    return HFTokenizer(hf, name="metaspace")


def test_sentencepiece_style_spans(metaspace, validation) -> None:
    assert not metaspace.byte_level and metaspace.bos_id == 1
    for text in validation[200:400]:
        _covers(text, metaspace.encode(text).spans)
    enc = metaspace.encode("Once é🦩")
    pieces = [metaspace.piece(i) for i in enc.ids]
    covered = enc.covered("Once é🦩")
    # byte-fallback tokens: the first byte of a character covers it, the others nothing
    assert covered[pieces.index("<0xC3>")] == "é" and covered[pieces.index("<0xF0>")] == "🦩"
    assert covered[pieces.index("<0xA9>")] == ""


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_sentencepiece_style_spans_on_any_unicode(metaspace, text: str) -> None:
    _covers(text, metaspace.encode(text).spans)


def test_generic_model_conventions(metaspace) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from capgym.models.hf import wrap

    config = LlamaConfig(
        vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=4096,
    )  # fmt: skip
    lm = wrap(LlamaForCausalLM(config), metaspace, name="tiny", source="mem", roneneldan=False)
    assert lm.bos_id == 1 and lm.context_len == 2048
    ids = torch.tensor([lm.encode("Once upon a time").ids])
    assert ids[0, 0] == 1 and lm.forward(ids).shape == (1, ids.shape[1], 400)


def test_story_start_is_what_the_tokenizer_adds(metaspace, gpt2) -> None:
    """A BOS the tokenizer adds itself; GPT-2's <|endoftext|> (BOS = EOS); else none."""
    import copy

    from transformers import PreTrainedTokenizerFast

    assert metaspace.story_start == 1 and gpt2.story_start == 50256
    backend = copy.deepcopy(metaspace.hf.backend_tokenizer)
    backend.post_processor = None  # has a BOS but does not add it
    plain = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>")
    assert HFTokenizer(plain).story_start is None


def test_a_tokenizer_larger_than_the_model_is_refused(metaspace) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from capgym.errors import CheckpointError
    from capgym.models.hf import wrap

    config = LlamaConfig(vocab_size=300, hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2)  # fmt: skip
    with pytest.raises(CheckpointError, match="400 tokens but the model only 300"):
        wrap(LlamaForCausalLM(config), metaspace, name="small", source="mem", roneneldan=False)
