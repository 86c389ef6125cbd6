"""Tokenizers: run.c-exact encoding, spans that cover the text, readable pieces."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.errors import TokenizerError
from capgym.models.llama2c_tokenizer import Llama2cTokenizer
from capgym.models.sentencepiece_tokenizer import SentencePieceTokenizer


def brute_force_encode(tok: Llama2cTokenizer, text: str) -> list[int]:
    """llama2.c run.c's encode(), transcribed literally: O(n^2) rescans of all pairs."""
    vocab = {p: i for i, p in reversed(list(enumerate(tok.pieces)))}
    tokens: list[int] = []
    for ch in " " + text:
        raw = ch.encode("utf-8", "surrogatepass")
        if raw in vocab:
            tokens.append(vocab[raw])
        else:
            tokens.extend(b + 3 for b in raw)
    while True:
        best_score, best_id, best_idx = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            merged = vocab.get(tok.pieces[tokens[i]] + tok.pieces[tokens[i + 1]], -1)
            if merged != -1 and tok.scores[merged] > best_score:
                best_score, best_id, best_idx = tok.scores[merged], merged, i
        if best_idx == -1:
            return tokens
        tokens[best_idx : best_idx + 2] = [best_id]


def assert_spans_cover(text: str, spans: list[tuple[int, int]]) -> None:
    assert "".join(text[s:e] for s, e in spans) == text
    pos = 0
    for s, e in spans:
        assert s == pos and e >= s
        pos = e
    assert pos == len(text)


def test_tok512_pieces_are_spaces_not_sentencepiece_marks(tok512) -> None:
    assert tok512.vocab_size == 512
    assert any(p.startswith(b" ") for p in tok512.pieces)
    assert not any("▁".encode() in p for p in tok512.pieces)
    assert tok512.byte_fallback


def test_encode_matches_run_c_on_validation_stories(tok512, validation) -> None:
    for text in validation[:100]:
        assert tok512.encode(text).ids == brute_force_encode(tok512, text)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CAPGYM_SLOW"), reason="~25 s; set CAPGYM_SLOW=1")
def test_encode_matches_run_c_on_all_validation_stories(tok512, validation) -> None:
    for text in validation[100:]:
        assert tok512.encode(text).ids == brute_force_encode(tok512, text)


def test_encode_without_chunking_matches(assets, validation) -> None:
    """The heap path used when pieces have inner spaces gives the same ids."""
    tok = Llama2cTokenizer.from_file(assets / "models/stories260K/tok512.bin")
    tok._split = False
    for text in validation[:30]:
        assert tok.encode(text).ids == brute_force_encode(tok, text)


def test_tokenizer_speed(assets, validation) -> None:
    tok = Llama2cTokenizer.from_file(assets / "models/stories260K/tok512.bin")
    start = time.perf_counter()
    for text in validation:
        tok.encode(text)
    assert time.perf_counter() - start < 2.0  # measured ~0.25 s cold on one core


def test_spans_and_pieces_of_known_text(tok512) -> None:
    text = "Once upon a time\n\nZoë said “hi” 🙂"
    enc = tok512.encode(text)
    assert_spans_cover(text, enc.spans)
    assert enc.covered(text)[:4] == ["Once", " upon", " a", " time"]
    pieces = [tok512.piece(i) for i in enc.ids]
    assert pieces[:5] == [" Once", " upon", " a", " time", "\n"]
    # 🙂 has no piece: four byte tokens, the first covers the emoji
    assert enc.ids[-4:] == [0xF0 + 3, 0x9F + 3, 0x99 + 3, 0x82 + 3]
    assert enc.spans[-4:] == [(len(text) - 1, len(text))] + [(len(text), len(text))] * 3
    assert tok512.piece(0xF0 + 3) == "<0xF0>"
    assert tok512.decode(enc.ids) == text
    assert tok512.encode("").ids == []


@pytest.mark.parametrize("name", ["tok512.bin", "tok105.bin", "tok105.model"])
def test_spans_cover_all_validation_stories(assets, validation, name) -> None:
    folder = "stories260K" if name == "tok512.bin" else "babyllama-936K"
    path = assets / "models" / folder / name
    tok = (
        SentencePieceTokenizer.from_file(path)
        if name.endswith(".model")
        else (Llama2cTokenizer.from_file(path))
    )
    for text in validation:
        enc = tok.encode(text)
        assert_spans_cover(text, enc.spans)
        assert enc.spans[0][0] == 0


def test_tok105_bin_agrees_with_sentencepiece_on_plain_text(assets, validation) -> None:
    """Without runs of spaces or unknown characters the two formats give the same ids."""
    folder = assets / "models" / "babyllama-936K"
    binary = Llama2cTokenizer.from_file(folder / "tok105.bin")
    model = SentencePieceTokenizer.from_file(folder / "tok105.model")
    assert not binary.byte_fallback
    compared = 0
    for text in validation:
        for line in text.split("\n"):
            if (
                line
                and "  " not in line
                and line == line.strip()
                and 0 not in binary.encode(line).ids
            ):
                assert binary.encode(line).ids == model.encode(line).ids
                compared += 1
    assert compared > 500
    assert binary.encode("a\u263ab").ids[2] == 0  # an unknown character is <unk>, not a byte


def test_sentencepiece_spans_absorb_dropped_spaces(assets) -> None:
    tok = SentencePieceTokenizer.from_file(assets / "models/babyllama-936K/tok105.model")
    for text in ["  lead", "trail  ", "a  b", "   ", "\n\n", "x\u263a\u263ay"]:
        assert_spans_cover(text, tok.encode(text).spans)
    enc = tok.encode("Hi  you")
    assert enc.covered("Hi  you") == ["", "H", "i", "  ", "y", "o", "u"]
    assert tok.decode(tok.encode("Hi you").ids) == "Hi you"


def test_bad_tokenizer_files(tmp_path, assets) -> None:
    good = (assets / "models/stories260K/tok512.bin").read_bytes()
    cases = {"truncated.bin": good[:1000], "random.bin": bytes(range(256)) * 7, "empty.bin": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(TokenizerError) as err:
            Llama2cTokenizer.from_file(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "bad.model").write_bytes(b"not a model")
    with pytest.raises(TokenizerError, match="bad.model"):
        SentencePieceTokenizer.from_file(tmp_path / "bad.model")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_spans_round_trip_on_any_unicode(tok512, text: str) -> None:
    enc = tok512.encode(text)
    assert_spans_cover(text, enc.spans)
    assert enc.ids == brute_force_encode(tok512, text) if text else enc.ids == []
    assert tok512.decode(enc.ids) == text


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \n\ta\u00e9\u263a\U0001f642Tx.")), max_size=40))
def test_spans_round_trip_for_tok105(assets, text: str) -> None:
    folder = assets / "models" / "babyllama-936K"
    for tok in (
        Llama2cTokenizer.from_file(folder / "tok105.bin"),
        SentencePieceTokenizer.from_file(folder / "tok105.model"),
    ):
        assert_spans_cover(text, tok.encode(text).spans)
