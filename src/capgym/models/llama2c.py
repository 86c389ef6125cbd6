"""llama2.c checkpoints: the legacy v0 ``.bin`` and the "ak42" version-1 export.

Both hold a Llama as float32 arrays after a small header (see the assets README and
llama2.c's ``export.py``).  Files are checked against the size their header implies,
so a truncated or foreign file fails with :class:`CheckpointError` naming it.  The
ternary bitllama2.c "ak42" files share the magic and version; they are told apart
by their size and loaded by :mod:`capgym.models.bitllama`.

>>> import os, pathlib
>>> folder = pathlib.Path(os.environ.get("CAPGYM_ASSETS", "/work/shared/assets"))
>>> folder = folder / "models/stories260K"
>>> lm = load_llama2c(folder / "stories260K.bin", folder / "tok512.bin")
>>> lm.n_params, lm.context_len, lm.vocab_size
(260032, 512, 512)
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from capgym.errors import CheckpointError, TokenizerError
from capgym.models.base import LanguageModel, ModelInfo, Tokenizer
from capgym.models.llama import Llama, LlamaConfig, kernel_attention
from capgym.models.modules import has_hooks
from capgym.models.traced import Forward, trace_forward, weights_key

AK42_MAGIC = 0x616B3432
_FIX = "re-download or re-export it (llama2.c export.py --version 0 or 1)"


@dataclass(frozen=True)
class Header:
    """What a checkpoint header says: shape, format and where the weights start."""

    cfg: LlamaConfig
    format: str  # "llama2c-v0", "llama2c-v1" or "bitllama-v1"
    offset: int


def read_header(path: Path) -> Header:
    """Parse and validate the header of a llama2.c or bitllama2.c checkpoint.

    >>> import os, pathlib
    >>> p = pathlib.Path(os.environ.get("CAPGYM_ASSETS", "/work/shared/assets"))
    >>> read_header(p / "models/bitllama-1M/bit_model.bin").format
    'bitllama-v1'
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(256)
    except OSError as err:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {err.strerror}; check the path"
        ) from err
    if len(head) >= 4 and struct.unpack_from("<I", head)[0] == AK42_MAGIC:
        if len(head) < 256:
            raise CheckpointError(f"checkpoint {path} is truncated inside its header; {_FIX}")
        (version,) = struct.unpack_from("<i", head, 4)
        if version != 1:
            raise CheckpointError(
                f"checkpoint {path} is ak42 version {version}, only 1 is supported; "
                "re-export it with llama2.c export.py --version 1"
            )
        cfg = _config(path, struct.unpack_from("<7i", head, 8), tied=bool(head[36]))
        candidates = [(replace(cfg, tied=True), "bitllama-v1"), (cfg, "llama2c-v1")]
        offset = 256
    else:
        if len(head) < 28:
            raise CheckpointError(f"checkpoint {path} is too short to be a llama2.c model; {_FIX}")
        ints = struct.unpack_from("<7i", head)
        candidates = [(_config(path, ints, tied=ints[5] > 0), "llama2c-v0")]
        offset = 28
    for cfg, fmt in candidates:
        if offset + expected_bytes(cfg, fmt) == size:
            return Header(cfg, fmt, offset)
    cfg, fmt = candidates[-1]
    want = offset + expected_bytes(cfg, fmt)
    problem = "truncated" if size < want else "longer than its header implies"
    raise CheckpointError(
        f"checkpoint {path} is {problem} ({size} bytes, header implies {want}); {_FIX}"
    )


def _config(path: Path, ints: tuple[int, ...], tied: bool) -> LlamaConfig:
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = ints
    vocab = abs(vocab)
    ok = (
        0 < dim <= 1 << 16
        and 0 < hidden <= 1 << 18
        and 0 < layers <= 1024
        and 0 < heads <= dim
        and 0 < kv_heads <= heads
        and 0 < vocab <= 1 << 20
        and 0 < seq_len <= 1 << 20
        and dim % heads == 0
        and heads % kv_heads == 0
        and (dim // heads) % 2 == 0
    )
    if not ok:
        raise CheckpointError(f"checkpoint {path} has a corrupt header {list(ints)}; {_FIX}")
    return LlamaConfig(
        dim=dim, n_layers=layers, n_heads=heads, n_kv_heads=kv_heads, vocab_size=vocab,
        hidden_dim=hidden, max_seq_len=seq_len, tied=tied,
    )  # fmt: skip


def expected_bytes(cfg: LlamaConfig, fmt: str) -> int:
    """Bytes after the header that a checkpoint of this shape and format holds."""
    d, h, n, kv, v = cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.kv_dim, cfg.vocab_size
    mats = [(d, d), (kv, d), (kv, d), (d, d), (h, d), (d, h), (h, d)]
    if fmt == "bitllama-v1":
        return 4 * (d + v * d) + n * sum(4 + (o * i + 3) // 4 for o, i in mats)
    floats = v * d + n * (2 * d + sum(o * i for o, i in mats)) + d
    if fmt == "llama2c-v0":
        floats += cfg.max_seq_len * cfg.head_dim  # the two unused RoPE tables
    return 4 * (floats + (0 if cfg.tied else v * d))


def read_llama_weights(path: Path, header: Header) -> dict[str, torch.Tensor]:
    """State dict of a float32 llama2.c checkpoint, in :class:`Llama`'s names."""
    cfg = header.cfg
    data = np.fromfile(path, dtype="<f4", offset=header.offset)
    pos = 0

    def take(*shape: int) -> torch.Tensor:
        nonlocal pos
        n = int(np.prod(shape))
        out = torch.from_numpy(data[pos : pos + n].reshape(shape).copy())
        pos += n
        return out

    d, h, n, kv, v = cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.kv_dim, cfg.vocab_size
    w: dict[str, torch.Tensor] = {}
    if header.format == "llama2c-v1":
        w["attention_norm"], w["ffn_norm"], w["norm"] = take(n, d), take(n, d), take(d)
        w["emb"] = take(v, d)
    else:
        w["emb"], w["attention_norm"] = take(v, d), take(n, d)
    w["wq"], w["wk"], w["wv"], w["wo"] = (
        take(n, d, d),
        take(n, kv, d),
        take(n, kv, d),
        take(n, d, d),
    )
    if header.format == "llama2c-v0":
        w["ffn_norm"] = take(n, d)
    w["w1"], w["w2"], w["w3"] = take(n, h, d), take(n, d, h), take(n, h, d)
    if header.format == "llama2c-v0":
        w["norm"] = take(d)
        take(2, cfg.max_seq_len, cfg.head_dim // 2)
    sd = {"tok_embeddings.weight": w["emb"], "norm.weight": w["norm"]}
    sd["output.weight"] = w["emb"] if cfg.tied else take(v, d)
    for i in range(n):
        sd[f"layers.{i}.attention_norm.weight"] = w["attention_norm"][i]
        sd[f"layers.{i}.ffn_norm.weight"] = w["ffn_norm"][i]
        for k in ("wq", "wk", "wv", "wo"):
            sd[f"layers.{i}.attention.{k}.weight"] = w[k][i]
        for k in ("w1", "w2", "w3"):
            sd[f"layers.{i}.feed_forward.{k}.weight"] = w[k][i]
    return sd


def file_sha256(*paths: Path) -> str:
    """sha256 over the bytes of several files, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A llama2.c ``.bin`` or SentencePiece ``.model`` tokenizer, by file extension."""
    path = Path(path)
    if path.suffix == ".model":
        from capgym.models.sentencepiece_tokenizer import SentencePieceTokenizer

        return SentencePieceTokenizer.from_file(path)
    from capgym.models.llama2c_tokenizer import Llama2cTokenizer

    return Llama2cTokenizer.from_file(path)


class LlamaLM(LanguageModel):
    """A :class:`Llama` module + its tokenizer, scored with BOS (id 1) first."""

    def __init__(
        self,
        module: Llama,
        tokenizer: Tokenizer,
        *,
        name: str,
        architecture: str,
        files: list[Path],
        source: str = "",
    ) -> None:
        self.module = module.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.architecture = architecture
        self.files = files
        self.source = source or str(files[0])
        self.context_len = module.cfg.max_seq_len
        self.vocab_size = module.cfg.vocab_size
        self.bos_id = 1
        self.device = torch.device("cpu")
        self._hash: str | None = None
        self._trace: tuple[tuple[tuple[int, int], ...], Forward | None] | None = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(ids.to(self.device))

    def traced_forward(self) -> Forward | None:
        """:meth:`forward` for scoring on CPUs, as a TorchScript trace
        (:mod:`capgym.models.traced`: no Python between operators).  Heads 8 wide run
        on the compiled attention kernel (:func:`~capgym.models.llama.kernel_attention`:
        logits within about 1e-6 of :meth:`forward`'s); otherwise the trace's logits are
        :meth:`forward`'s bit for bit.  None on other devices, with hooks attached, or
        where tracing fails.  Tracing takes 0.1-0.3 s; the trace is kept until a
        parameter or buffer is replaced or edited in place (the weights' storage and
        version counters are its key)."""
        if self.device.type != "cpu" or has_hooks(self.module):
            return None
        key = weights_key(self.module)
        if self._trace is None or self._trace[0] != key:
            with kernel_attention(self.module):  # 8-wide heads: the compiled kernel
                self._trace = (key, trace_forward(self.module, self.vocab_size))
        return self._trace[1]

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    @property
    def content_hash(self) -> str:
        if self._hash is None:
            self._hash = file_sha256(*self.files)
        return self._hash

    @property
    def info(self) -> ModelInfo:
        cfg = self.module.cfg
        return ModelInfo(
            name=self.name,
            architecture=self.architecture,
            n_params=self.n_params,
            context_len=self.context_len,
            vocab_size=self.vocab_size,
            tokenizer=Path(self.files[-1]).name,
            source=self.source,
            extra={
                "dim": cfg.dim, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads,
                "n_kv_heads": cfg.n_kv_heads, "hidden_dim": cfg.hidden_dim, "tied": cfg.tied,
            },
        )  # fmt: skip

    def to(self, device: str | torch.device) -> LlamaLM:
        self.device = torch.device(device)
        self.module.to(self.device)
        return self


def load_llama2c(
    checkpoint: str | Path, tokenizer: str | Path, name: str | None = None, source: str = ""
) -> LlamaLM:
    """Load a llama2.c (v0/v1) or bitllama2.c checkpoint with its tokenizer file.

    See the module docstring for an example.
    """
    checkpoint, tokenizer = Path(checkpoint), Path(tokenizer)
    header = read_header(checkpoint)
    tok = load_tokenizer(tokenizer)
    if tok.vocab_size != header.cfg.vocab_size:
        raise TokenizerError(
            f"tokenizer {tokenizer} has {tok.vocab_size} tokens but checkpoint {checkpoint} "
            f"has a vocabulary of {header.cfg.vocab_size}; use the model's own tokenizer"
        )
    if header.format == "bitllama-v1":
        from capgym.models.bitllama import build_bitllama

        module, arch = build_bitllama(checkpoint, header), "bitllama2.c BitNet-b1.58 Llama"
    else:
        module, arch = Llama(header.cfg), f"llama2.c Llama ({header.format})"
        module.load_state_dict(read_llama_weights(checkpoint, header))
    generic = checkpoint.stem in ("model", "bit_model")
    name = name or (checkpoint.parent.name if generic else checkpoint.stem)
    return LlamaLM(
        module, tok, name=name, architecture=arch, files=[checkpoint, tokenizer], source=source
    )
