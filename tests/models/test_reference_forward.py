"""The batched torch forward against an independent numpy reference, one token at a time.

The reference reads each checkpoint straight from its bytes with ``np.fromfile`` (never
through capgym's loader) and follows llama2.c ``run.c`` / bitllama2.c ``runbit.c``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from capgym.models.llama2c import load_llama2c


def _shape(*ints: int) -> dict[str, int]:
    names = ["dim", "hidden", "n_layers", "n_heads", "n_kv", "vocab", "seq_len"]
    return {name: abs(int(v)) for name, v in zip(names, ints)}


def _read_legacy(path: Path) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = np.fromfile(path, np.int32, 7)
    c = _shape(dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len)
    kv_dim = dim * n_kv // n_heads
    data = np.fromfile(path, np.float32, offset=28)
    shapes = [("emb", (abs(vocab), dim)), ("rms_att", (n_layers, dim)),
              ("wq", (n_layers, dim, dim)), ("wk", (n_layers, kv_dim, dim)),
              ("wv", (n_layers, kv_dim, dim)), ("wo", (n_layers, dim, dim)),
              ("rms_ffn", (n_layers, dim)), ("w1", (n_layers, hidden, dim)),
              ("w2", (n_layers, dim, hidden)), ("w3", (n_layers, hidden, dim)),
              ("rms_final", (dim,)), ("rope", (2, seq_len, dim // n_heads // 2))]  # fmt: skip
    if vocab < 0:
        shapes.append(("cls", (-vocab, dim)))
    w, pos = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        w[name] = data[pos : pos + n].reshape(shape)
        pos += n
    assert pos == len(data)
    w.setdefault("cls", w["emb"])
    return c, w


def _read_bitllama(path: Path) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    raw = np.fromfile(path, np.uint8)
    assert raw[:4].view(np.uint32)[0] == 0x616B3432
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = raw[8:36].view(np.int32)
    c = _shape(dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len)
    kv_dim = dim * n_kv // n_heads
    pos = 256
    w: dict[str, np.ndarray] = {}
    w["rms_final"] = raw[pos : pos + 4 * dim].view(np.float32)
    pos += 4 * dim
    w["emb"] = w["cls"] = raw[pos : pos + 4 * dim * abs(vocab)].view(np.float32).reshape(-1, dim)
    pos += 4 * dim * abs(vocab)
    for name, (rows, cols) in [("wq", (dim, dim)), ("wk", (kv_dim, dim)), ("wv", (kv_dim, dim)),
                               ("wo", (dim, dim)), ("w1", (hidden, dim)), ("w2", (dim, hidden)),
                               ("w3", (hidden, dim))]:  # fmt: skip
        mats, scales = [], []
        for _ in range(n_layers):
            scales.append(raw[pos : pos + 4].view(np.float32)[0])
            pos += 4
            packed = raw[pos : pos + rows * cols // 4]
            pos += rows * cols // 4
            bits = np.unpackbits(packed).reshape(-1, 2)
            code = bits[:, 0] * 2 + bits[:, 1]
            mats.append(np.select([code == 1, code == 3], [1.0, -1.0], 0.0).astype(np.float32))
        w[name] = np.stack(mats).reshape(n_layers, rows, cols)
        w[name + "_s"] = np.array(scales, np.float32)
    assert pos == len(raw)
    return c, w


def _rmsnorm(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return weight * (x / np.sqrt(np.mean(x * x) + 1e-5))


def _bitmatmul(x: np.ndarray, codes: np.ndarray, scale: np.floating) -> np.ndarray:
    n = x.shape[0]
    s = 1.0 / np.sqrt(np.mean(x * x))  # NumPy 2 keeps float32 arrays in float32
    x = x * (s / n)
    a = np.abs(x).max() / 127.0
    v = x * (1.0 / a)
    q = np.sign(v) * np.floor(np.abs(v) + 0.5)  # C round(): half away from zero
    return (codes @ q) * (scale * a)


def _reference_logits(
    c: dict[str, int], w: dict[str, np.ndarray], ids: list[int], bit: bool
) -> np.ndarray:
    dim, n_heads, n_kv = c["dim"], c["n_heads"], c["n_kv"]
    hs = dim // n_heads
    kv_mul = n_heads // n_kv
    keys = [[] for _ in range(c["n_layers"])]
    values = [[] for _ in range(c["n_layers"])]
    out = []

    def mm(name: str, layer: int, x: np.ndarray) -> np.ndarray:
        if bit:
            return _bitmatmul(x, w[name][layer], w[name + "_s"][layer])
        return w[name][layer] @ x

    for pos, tok in enumerate(ids):
        x = w["emb"][tok].copy()
        for layer in range(c["n_layers"]):
            xb = x if bit else _rmsnorm(x, w["rms_att"][layer])
            q, k, v = mm("wq", layer, xb), mm("wk", layer, xb), mm("wv", layer, xb)
            for i in range(0, dim, 2):
                freq = 1.0 / 10000.0 ** ((i % hs) / hs)
                cr, ci = x.dtype.type(np.cos(pos * freq)), x.dtype.type(np.sin(pos * freq))
                for vec in (q, k) if i < len(k) else (q,):
                    v0, v1 = vec[i], vec[i + 1]
                    vec[i], vec[i + 1] = v0 * cr - v1 * ci, v0 * ci + v1 * cr
            keys[layer].append(k)
            values[layer].append(v)
            att_out = np.zeros(dim, x.dtype)
            for h in range(n_heads):
                kh = np.stack(keys[layer])[:, (h // kv_mul) * hs : (h // kv_mul + 1) * hs]
                vh = np.stack(values[layer])[:, (h // kv_mul) * hs : (h // kv_mul + 1) * hs]
                scores = kh @ q[h * hs : (h + 1) * hs] / np.sqrt(x.dtype.type(hs))
                p = np.exp(scores - scores.max())
                att_out[h * hs : (h + 1) * hs] = (p / p.sum()) @ vh
            x = x + mm("wo", layer, att_out)
            xb = x if bit else _rmsnorm(x, w["rms_ffn"][layer])
            h1, h3 = mm("w1", layer, xb), mm("w3", layer, xb)
            x = x + mm("w2", layer, h1 / (1.0 + np.exp(-h1)) * h3)
        out.append(w["cls"] @ _rmsnorm(x, w["rms_final"]))
    return np.stack(out)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _batch(lm, texts: list[str], n: int) -> tuple[torch.Tensor, list[list[int]]]:
    seqs = [lm.encode(t).ids[:n] for t in texts]
    batch = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    for b, s in enumerate(seqs):
        batch[b, : len(s)] = torch.tensor(s)  # right padding with id 0
    return batch, seqs


@pytest.mark.parametrize(
    "folder, checkpoint, tokenizer",
    [
        ("stories260K", "stories260K.bin", "tok512.bin"),
        ("llama2xs-279K", "model.bin", "tok512.bin"),
        ("babyllama-936K", "model.bin", "tok105.bin"),
    ],
)
def test_llama2c_matches_reference(assets, validation, folder, checkpoint, tokenizer) -> None:
    path = assets / "models" / folder
    lm = load_llama2c(path / checkpoint, path / tokenizer)
    c, w = _read_legacy(path / checkpoint)
    batch, seqs = _batch(lm, validation[:2], 60)
    logits = lm.forward(batch).numpy()
    assert logits.dtype == np.float32
    for b, seq in enumerate(seqs):
        ref = _reference_logits(c, w, seq, bit=False)
        # logits reach ~20 in magnitude: float32 summation order alone moves them ~1e-4
        np.testing.assert_allclose(logits[b, : len(seq)], ref, atol=2e-4, rtol=0)


@pytest.fixture(scope="module")
def bitllama_1m(assets, validation):
    path = assets / "models" / "bitllama-1M"
    lm = load_llama2c(path / "bit_model.bin", path / "tok512.bin")
    c, w = _read_bitllama(path / "bit_model.bin")
    batch, seqs = _batch(lm, validation[2:4], 60)
    return lm, c, w, batch, seqs


def test_bitllama_matches_reference_float32(bitllama_1m) -> None:
    lm, c, w, batch, seqs = bitllama_1m
    logits = lm.forward(batch).numpy()
    for b, seq in enumerate(seqs):
        ref = _log_softmax(_reference_logits(c, w, seq, bit=True))
        ours = _log_softmax(logits[b, : len(seq)])
        # float32 noise flips an int8 rounding now and then (x/a lands within an ulp of
        # .5), and the flip reaches later positions through the keys and values
        first = np.argmax(np.abs(ours - ref).max(-1) > 1e-3)
        assert first >= 5
        np.testing.assert_allclose(ours[:first], ref[:first], atol=1e-3)
        assert (ours.argmax(-1) == ref.argmax(-1)).mean() >= 0.99
        tokens = np.arange(len(seq) - 1), np.asarray(seq[1:])
        assert np.abs(ours[:-1][tokens] - ref[:-1][tokens]).mean() < 0.05


def test_bitllama_matches_reference_float64(bitllama_1m) -> None:
    """In float64 near-ties are rare enough that the two agree at every position."""
    lm, c, w, batch, seqs = bitllama_1m
    module = copy.deepcopy(lm.module).double()
    with torch.no_grad():
        logits = module(batch).numpy()
    w64 = {k: v.astype(np.float64) for k, v in w.items()}
    for b, seq in enumerate(seqs):
        ref = _reference_logits(c, w64, seq, bit=True)
        np.testing.assert_allclose(logits[b, : len(seq)], ref, atol=1e-4, rtol=0)
