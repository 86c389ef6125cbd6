"""llama2.c / bitllama2.c checkpoints: facts from the assets README, formats, bad files."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
import torch

from capgym.errors import CheckpointError, TokenizerError
from capgym.models.llama2c import load_llama2c, read_header

README_PARAMS = {
    ("stories260K", "stories260K.bin"): 260_032,
    ("llama2xs-279K", "model.bin"): 279_232,
    ("bitllama-1M", "bit_model.bin"): 1_245_312,
    ("bitllama-3M", "bit_model.bin"): 3_277_056,
    ("babyllama-936K", "model.bin"): 936_448,
}


def greedy(lm, prompt: str, steps: int) -> str:
    ids = lm.encode(prompt).ids
    for _ in range(steps):
        ids.append(int(lm.forward(torch.tensor([ids]))[0, -1].argmax()))
    return lm.tokenizer.decode(ids)


@pytest.mark.parametrize("folder, checkpoint", list(README_PARAMS))
def test_parameter_counts_match_readme(assets, folder, checkpoint) -> None:
    path = assets / "models" / folder
    tok = "tok105.bin" if folder.startswith("babyllama") else "tok512.bin"
    lm = load_llama2c(path / checkpoint, path / tok)
    assert lm.n_params == README_PARAMS[folder, checkpoint]
    assert lm.info.n_params == lm.n_params and lm.bos_id == 1


def test_greedy_story(stories260k) -> None:
    text = greedy(stories260k, "Once upon a time", 30)
    assert text.startswith("Once upon a time, there was a little girl named Lily.")
    # recorded: "Once upon a time, there was a little girl named Lily. She loved to play
    # outside in the park. One day, she saw a big, red ball."


def test_mean_nll_of_first_50_validation_stories(stories260k, validation) -> None:
    seqs = [stories260k.encode(t).ids[: stories260k.context_len] for t in validation[:50]]
    assert all(s[0] == 1 for s in seqs)
    batch = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    for b, s in enumerate(seqs):
        batch[b, : len(s)] = torch.tensor(s)  # right padding: causal, so harmless
    logp = torch.log_softmax(stories260k.forward(batch)[:, :-1], dim=-1)
    nll = -logp.gather(2, batch[:, 1:, None])[..., 0]
    real = (
        torch.arange(batch.shape[1] - 1)[None, :]
        < torch.tensor([len(s) - 1 for s in seqs])[:, None]
    )
    assert nll[real].mean().item() == pytest.approx(1.29, abs=0.02)  # measured 1.2882


def test_right_padding_does_not_change_real_positions(stories260k, validation) -> None:
    a, b = stories260k.encode(validation[0]).ids[:40], stories260k.encode(validation[1]).ids[:25]
    batch = torch.zeros(2, 40, dtype=torch.long)
    batch[0], batch[1, :25] = torch.tensor(a), torch.tensor(b)
    alone = stories260k.forward(torch.tensor([b]))
    together = stories260k.forward(batch)
    assert together.shape == (2, 40, 512) and together.dtype == torch.float32
    torch.testing.assert_close(together[1, :25], alone[0], atol=1e-4, rtol=1e-4)


def test_content_hash_is_sha256_of_checkpoint_and_tokenizer(assets, stories260k) -> None:
    folder = assets / "models" / "stories260K"
    digest = hashlib.sha256()
    digest.update((folder / "stories260K.bin").read_bytes())
    digest.update((folder / "tok512.bin").read_bytes())
    assert stories260k.content_hash == digest.hexdigest()


def _v1_export(tmp_path, assets):
    """Rewrite stories260K in llama2.c export.py's version-1 layout."""
    src = assets / "models" / "stories260K" / "stories260K.bin"
    dim, hidden, n, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", src.read_bytes()[:28])
    kv = dim * kv_heads // heads
    data = np.fromfile(src, "<f4", offset=28)
    sizes = [vocab * dim, n * dim, n * dim * dim, n * kv * dim, n * kv * dim, n * dim * dim,
             n * dim, n * hidden * dim, n * dim * hidden, n * hidden * dim, dim]  # fmt: skip
    parts = np.split(data[: sum(sizes)], np.cumsum(sizes)[:-1])
    emb, att, wq, wk, wv, wo, ffn, w1, w2, w3, norm = parts
    header = struct.pack(
        "<Ii7iB", 0x616B3432, 1, dim, hidden, n, heads, kv_heads, vocab, seq_len, 1
    )
    out = tmp_path / "v1.bin"
    body = np.concatenate([att, ffn, norm, emb, wq, wk, wv, wo, w1, w2, w3]).astype("<f4")
    out.write_bytes(header.ljust(256, b"\0") + body.tobytes())
    return out


def test_version1_export_gives_the_same_logits(tmp_path, assets, stories260k) -> None:
    path = _v1_export(tmp_path, assets)
    assert read_header(path).format == "llama2c-v1"
    lm = load_llama2c(path, assets / "models/stories260K/tok512.bin")
    ids = torch.tensor([stories260k.encode("Once upon a time, a cat sat.").ids])
    torch.testing.assert_close(lm.forward(ids), stories260k.forward(ids))
    assert lm.n_params == 260_032


def _one_line(err: pytest.ExceptionInfo, *names: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for name in names:
        assert name in message


def test_truncated_checkpoint(tmp_path, assets) -> None:
    tok = assets / "models/stories260K/tok512.bin"
    for folder, name in [("stories260K", "stories260K.bin"), ("bitllama-1M", "bit_model.bin")]:
        data = (assets / "models" / folder / name).read_bytes()
        bad = tmp_path / f"cut-{name}"
        bad.write_bytes(data[: len(data) - 100])
        with pytest.raises(CheckpointError) as err:
            load_llama2c(bad, tok)
        _one_line(err, str(bad), "truncated")


def test_random_bytes_and_empty_checkpoint(tmp_path, assets) -> None:
    tok = assets / "models/stories260K/tok512.bin"
    for name, data in [
        ("random.bin", np.random.default_rng(0).bytes(10_000)),
        ("empty.bin", b""),
        ("v2.bin", struct.pack("<Ii", 0x616B3432, 2).ljust(300, b"\0")),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError) as err:
            load_llama2c(tmp_path / name, tok)
        _one_line(err, name)
    with pytest.raises(CheckpointError) as err:
        load_llama2c(tmp_path / "missing.bin", tok)
    _one_line(err, "missing.bin")


def test_tokenizer_vocab_mismatch(assets) -> None:
    model = assets / "models/stories260K/stories260K.bin"
    tok = assets / "models/babyllama-936K/tok105.bin"
    with pytest.raises(TokenizerError) as err:
        load_llama2c(model, tok)
    _one_line(err, str(model), str(tok), "105", "512")
