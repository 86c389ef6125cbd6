"""Hugging Face causal LMs (``AutoModelForCausalLM`` + ``AutoTokenizer``) as capgym models.

A story starts the way the model's own tokenizer starts a text: with the BOS it adds
itself (TinyStories-656K's ``<|start_story|>``, Llama's ``<s>``); a GPT-2-style
tokenizer, whose BOS is also its EOS (``<|endoftext|>``, the document separator the
roneneldan models were trained with), gets that token first; a tokenizer that adds
nothing and has no such separator gets nothing.  roneneldan's models are scored with
a context of 512 tokens (what they were trained on), others with min(max positions,
2048).  Spans of byte-level BPE tokens come from their bytes (the GPT-2
``bytes_to_unicode`` table read backwards), so a token holding half a character gets
an empty span; SentencePiece-style pieces (``▁`` for a space, ``<0xE2>`` bytes, a
dummy prefix, pieces ending in a space) are matched against the text byte for byte,
and characters the tokenizer drops join the token before them.

``transformers`` is imported only when a model is loaded: importing capgym stays fast.

Models load with eager attention, whose modules return their attention weights (what
:mod:`capgym.circuits` reads as ``hook_pattern``; its hooked runs equal
:meth:`HFLM.forward` bit for bit).  Scoring runs :meth:`HFLM.scoring_forward` instead:
a twin of the model, when its class supports it, with the same parameter and buffer
tensors, modules copied once, attention through ``scaled_dot_product_attention``
(TinyStories-656K's forward 2.5x faster on one CPU thread; logits within 2.1e-5 of
eager on validation stories).  A call made while any hook is registered on the model
goes through the model itself, so that hooks always see the calls they expect.

>>> import os, pathlib
>>> gpt2 = pathlib.Path(os.environ.get("CAPGYM_ASSETS", "/work/shared/assets")) / "tokenizers/gpt2"
>>> tok = HFTokenizer.from_pretrained(gpt2)
>>> enc = tok.encode("Hi 🙂")
>>> [tok.piece(i) for i in enc.ids], enc.spans, tok.story_start
(['Hi', ' 🙂'], [(0, 2), (2, 4)], 50256)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from capgym.errors import AssetNotFound, CheckpointError, TokenizerError
from capgym.models.base import Encoding, LanguageModel, ModelInfo, Tokenizer
from capgym.models.configs import SHAPES, canonical
from capgym.models.modules import has_hooks
from capgym.models.spans import (
    UTF8_ERRORS,
    char_spans,
    char_spans_from_pieces,
    find_pieces,
    spans_from_starts,
    utf8_len,
)

RONENELDAN_CONTEXT = 512
GENERIC_CONTEXT_CAP = 2048
# config keys that change with where or how a model was saved, not what it computes
_VOLATILE = {"_name_or_path", "transformers_version", "_commit_hash", "dtype", "torch_dtype"}


@cache
def byte_decoder() -> dict[str, int]:
    """GPT-2's ``bytes_to_unicode`` table, inverted: printable stand-in char -> byte."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, read now."""
    flags = (os.environ.get(v, "") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f.strip().lower() in ("1", "on", "yes", "true") for f in flags)


class HFTokenizer(Tokenizer):
    """A fast (Rust) Hugging Face tokenizer; no BOS added by :meth:`encode`."""

    def __init__(self, hf_tokenizer: Any, name: str = "") -> None:
        self.hf = hf_tokenizer
        self.backend = hf_tokenizer.backend_tokenizer
        self.name = name
        self.vocab_size = len(hf_tokenizer)
        self.bos_id = hf_tokenizer.bos_token_id
        self.eos_id = hf_tokenizer.eos_token_id
        vocab = self.backend.get_vocab(with_added_tokens=True)
        self._tokens = [""] * (max(vocab.values()) + 1)
        for token, i in vocab.items():
            self._tokens[i] = token
        table = byte_decoder()
        self.byte_level = type(self.backend.decoder).__name__ == "ByteLevel" and all(
            c in table for t in self._tokens for c in t
        )
        # in byte-level BPE each char of a token string stands for exactly one byte
        self._n_bytes = np.array([len(t) for t in self._tokens], dtype=np.int64)
        self._hash = hashlib.sha256(self.backend.to_str().encode()).hexdigest()
        self.unk_id: int | None = hf_tokenizer.unk_token_id
        probe = self.backend.encode("a", add_special_tokens=False).ids
        self.dummy_prefix = b"".join(self.token_bytes(i) for i in probe) == b" a"
        self.story_start = story_start(hf_tokenizer)

    @classmethod
    def from_pretrained(cls, source: str | Path, **kwargs: Any) -> HFTokenizer:
        """``AutoTokenizer.from_pretrained(source)`` wrapped (see the module example)."""
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(str(source), **kwargs)
        if not getattr(hf, "is_fast", False) or not hasattr(hf, "backend_tokenizer"):
            raise TokenizerError(f"tokenizer {source} has no fast (Rust) version; convert it first")
        return cls(hf, name=str(source))

    def _encode(self, text: str) -> Encoding:
        """Token ids (no special tokens added) with character spans."""
        enc = self.backend.encode(text, add_special_tokens=False)
        ids = list(enc.ids)
        if self.byte_level:
            try:
                return Encoding(ids=ids, spans=char_spans(text, self._n_bytes[ids].tolist()))
            except ValueError:
                pass  # a normaliser changed the text: fall back to the offsets
        else:
            spans = self._piece_spans(text, ids)
            if spans is not None:
                return Encoding(ids=ids, spans=spans)
        return Encoding(ids=ids, spans=_from_offsets(text, enc.offsets))

    def _piece_spans(self, text: str, ids: list[int]) -> list[tuple[int, int]] | None:
        """Spans of SentencePiece-style pieces, matched byte for byte; None if they differ.

        The pieces spell the text (after a dummy-prefix space when the tokenizer adds
        one) except for characters it drops or writes as ``<unk>``; those are checked
        to encode to nothing visible on their own, so a normaliser that rewrites text
        (lower-casing, NFKC) falls back to the tokenizer's offsets instead.
        """
        pieces = [self.token_bytes(i) for i in ids]
        extra = len(b"".join(pieces)) - utf8_len(text)
        if extra in (0, 1) and self.unk_id not in ids:
            try:
                return char_spans_from_pieces(text, pieces, prefix=b" " * extra)
            except ValueError:
                pass
        found: list[bytes | None] = [None if i == self.unk_id else p for i, p in zip(ids, pieces)]
        for prefix in (b" ", b"") if self.dummy_prefix else (b"",):
            target = prefix + text.encode("utf-8", UTF8_ERRORS)
            try:
                starts, skipped = find_pieces(target, found)
            except ValueError:
                continue
            if all(map(self._drops, set(skipped))):
                return spans_from_starts(text, starts, prefix=len(prefix))
        return None

    def _drops(self, gap: bytes) -> bool:
        """Whether the tokenizer writes these bytes as nothing (or only a dummy space)."""
        if gap.strip() == b"" and gap:
            return False  # spaces are never dropped by a tokenizer that spells them
        try:
            part = gap.decode("utf-8")
        except UnicodeDecodeError:
            return False
        ids = self.backend.encode(part, add_special_tokens=False).ids
        return all(i == self.unk_id or not self.token_bytes(i).strip() for i in ids)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for (byte-level BPE) or its UTF-8 piece."""
        token = self._tokens[token_id]
        if self.byte_level:
            table = byte_decoder()
            return bytes(table[c] for c in token)
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            return bytes([int(token[3:5], 16)])
        return token.replace("▁", " ").encode("utf-8", UTF8_ERRORS)

    def piece(self, token_id: int) -> str:
        """Readable piece; bytes of a split character show as ``<0xE2>``."""
        raw = self.token_bytes(token_id)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(chr(b) if b < 0x80 else f"<0x{b:02X}>" for b in raw)

    def decode(self, ids: list[int]) -> str:
        if self.byte_level:
            return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", "replace")
        return str(self.backend.decode(ids, skip_special_tokens=False))


def arch_label(cfg: Any) -> str:
    """A short architecture label for one-line listings: ``HF llama``, ``HF gpt_neo``."""
    return f"HF {getattr(cfg, 'model_type', '') or 'model'}"


def arch_details(cfg: Any) -> str:
    """Width, depth and heads of a ``transformers`` config, as far as it names them.

    >>> from transformers import LlamaConfig
    >>> arch_details(LlamaConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=8,
    ...     num_key_value_heads=4, intermediate_size=384, max_position_embeddings=512))
    'hidden 128, layers 2, heads 8, kv-heads 4, intermediate 384, positions 512'
    """
    keys = [
        ("hidden {}", ("hidden_size", "n_embd", "d_model")),
        ("layers {}", ("num_hidden_layers", "num_layers", "n_layer")),
        ("heads {}", ("num_attention_heads", "num_heads", "n_head")),
        ("kv-heads {}", ("num_key_value_heads",)),
        ("intermediate {}", ("intermediate_size", "n_inner")),
        ("positions {}", ("max_position_embeddings", "n_positions")),
    ]
    parts = []
    for fmt, names in keys:
        value = next((getattr(cfg, n) for n in names if getattr(cfg, n, None) is not None), None)
        if value is not None and not (fmt.startswith("kv") and value == cfg.num_attention_heads):
            parts.append(fmt.format(value))
    return ", ".join(parts)


def story_start(hf_tokenizer: Any) -> int | None:
    """The id a text starts with under this tokenizer's own conventions, or None.

    The special token it adds in front of a text itself (``tokenizer(text)``); else,
    when its BOS is also its EOS (GPT-2's ``<|endoftext|>``, which separates documents
    in training), that token; else none.
    """
    plain = hf_tokenizer("a", add_special_tokens=False)["input_ids"]
    full = hf_tokenizer("a")["input_ids"]
    lead = full[: len(full) - len(plain)] if full[len(full) - len(plain) :] == plain else []
    if len(lead) == 1:
        return int(lead[0])
    if len(lead) > 1:
        raise TokenizerError(
            f"tokenizer {hf_tokenizer.name_or_path} starts a text with {len(lead)} special "
            "tokens; capgym supports one BOS"
        )
    bos, eos = hf_tokenizer.bos_token, hf_tokenizer.eos_token
    return hf_tokenizer.bos_token_id if bos is not None and bos == eos else None


def _from_offsets(text: str, offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Contiguous spans covering ``text`` from (start, end) char offsets.

    Tokens repeating the previous token's offsets (pieces of one character) get the
    empty span at its end, so the first of them covers the character.
    """
    starts = [0]
    for prev, cur in itertools.pairwise(offsets):
        starts.append(cur[1] if cur == prev else cur[0])
    bounds = np.maximum.accumulate(np.clip(np.asarray([*starts, len(text)]), 0, len(text)))
    bounds[-1] = len(text)
    return list(itertools.pairwise(bounds.tolist()))


class HFLM(LanguageModel):
    """A ``transformers`` causal LM with its tokenizer; logits in float32, no grad."""

    tokenizer: HFTokenizer

    def __init__(
        self,
        model: Any,
        tokenizer: HFTokenizer,
        *,
        name: str,
        source: str,
        context_len: int,
        bos_id: int | None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        self.context_len = context_len
        self.vocab_size = int(model.config.vocab_size)
        self.bos_id = bos_id
        self.device = next(model.parameters()).device
        self._hash: str | None = None
        self._twin = sdpa_twin(self.model)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, vocab]`` of ``ids`` through the model as loaded (eager)."""
        return self._logits(self.model, ids)

    def scoring_forward(self, ids: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` through the SDPA twin (the model itself while hooked): the same
        logits to float32 rounding, faster; what :mod:`capgym.score` runs."""
        return self._logits(self.model if has_hooks(self.model) else self._twin, ids)

    def _logits(self, model: Any, ids: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = model(input_ids=ids.to(self.device), use_cache=False)
        return out.logits[..., : self.vocab_size].float()

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def content_hash(self) -> str:
        """sha256 of the config, every weight tensor and the tokenizer."""
        if self._hash is None:
            config = {k: v for k, v in self.model.config.to_dict().items() if k not in _VOLATILE}
            digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
            for key, tensor in sorted(self.model.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
            digest.update(self.tokenizer.content_hash.encode())
            self._hash = digest.hexdigest()
        return self._hash

    @property
    def info(self) -> ModelInfo:
        cfg = self.model.config
        return ModelInfo(
            name=self.name,
            architecture=arch_label(cfg),
            n_params=self.n_params,
            context_len=self.context_len,
            vocab_size=self.vocab_size,
            tokenizer=Path(self.tokenizer.name).name or "hf",
            source=self.source,
            extra={
                "model_type": cfg.model_type,
                "class": type(self.model).__name__,
                "details": arch_details(cfg),
                "bos_id": self.bos_id,
            },
        )

    def to(self, device: str | torch.device) -> HFLM:
        self.device = torch.device(device)
        self.model.to(self.device)
        self._twin = sdpa_twin(self.model)  # moved buffers are new tensors: copy again
        return self


def sdpa_twin(model: Any) -> Any:
    """``model`` with SDPA attention and the very same parameter and buffer tensors; the
    model itself when its class does not support SDPA (GPT-Neo) or already uses it."""
    if model.config._attn_implementation == "sdpa" or not getattr(model, "_supports_sdpa", 0):
        return model
    import copy

    shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    twin = copy.deepcopy(model, shared)
    twin.set_attn_implementation("sdpa")
    return twin


def is_roneneldan(source: str) -> bool:
    """Whether a Hub id or folder is one of roneneldan's TinyStories models (GPT-Neo).

    >>> is_roneneldan("roneneldan/TinyStories-33M"), is_roneneldan("/m/TinyStories-656K")
    (True, False)
    """
    return source.startswith("roneneldan/") or canonical(Path(source).name) in SHAPES


def wrap(model: Any, tokenizer: HFTokenizer, *, name: str, source: str, roneneldan: bool) -> HFLM:
    """A loaded model + tokenizer as an :class:`HFLM`, with the BOS/context conventions.

    The story start is the tokenizer's (:func:`story_start`); a tokenizer whose ids
    do not fit the model's embedding is refused here, not as an index error mid-score.
    """
    cfg = model.config
    positions = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    positions = int(positions or GENERIC_CONTEXT_CAP)
    context = min(positions, RONENELDAN_CONTEXT if roneneldan else GENERIC_CONTEXT_CAP)
    vocab = int(cfg.vocab_size)
    if tokenizer.vocab_size > vocab:
        raise CheckpointError(
            f"model {name}: its tokenizer has {tokenizer.vocab_size:,} tokens but the model "
            f"only {vocab:,} embeddings; pass the model's own tokenizer"
        )
    bos = tokenizer.story_start
    return HFLM(model, tokenizer, name=name, source=source, context_len=context, bos_id=bos)


def load_hf(
    source: str | Path,
    name: str | None = None,
    tokenizer: str | Path | None = None,
    device: str = "cpu",
    origin: str | None = None,
) -> HFLM:
    """Load a causal LM by Hub id or local folder; offline and missing -> AssetNotFound.

    ``origin`` is what the model's ``source`` says (default: ``source`` itself).  A
    local folder that does not load is a :class:`CheckpointError` naming the cause.

    >>> load_hf("roneneldan/TinyStories-1M").context_len  # doctest: +SKIP
    512
    """
    from transformers import AutoModelForCausalLM

    source = str(source)
    local = Path(source).is_dir()
    kwargs: dict[str, Any] = {"local_files_only": local or hub_offline()}
    try:
        tok = HFTokenizer.from_pretrained(tokenizer or source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=torch.float32, attn_implementation="eager", **kwargs
        )
    except (OSError, ValueError, KeyError) as err:
        from capgym.models.load_errors import hf_load_failure

        message = hf_load_failure(source, local, hub_offline(), err)
        raise (CheckpointError if local else AssetNotFound)(message) from err
    roneneldan = is_roneneldan(source)
    lm = wrap(model, tok, name=name or source, source=origin or source, roneneldan=roneneldan)
    return lm.to(device) if device != "cpu" else lm
