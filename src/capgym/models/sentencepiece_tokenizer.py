"""SentencePiece ``.model`` tokenizers (babyllama-936K's character-level ``tok105.model``).

Ids are exactly SentencePiece's, including its normalisation (runs of spaces collapse,
leading and trailing spaces vanish, runs of unknown characters become one ``<unk>``).
Spans come from SentencePiece's byte offsets, made contiguous: text that no token
covers (dropped spaces) joins the token before it (or the first token), so spans
always cover the text.  Byte-fallback pieces of one character: the first covers it.
A non-empty text for which SentencePiece returns no token (only spaces) becomes the
single ``▁`` piece covering it, so every character still belongs to a token.

>>> import os, pathlib
>>> path = pathlib.Path(os.environ.get("CAPGYM_ASSETS", "/work/shared/assets"))
>>> tok = SentencePieceTokenizer.from_file(path / "models/babyllama-936K/tok105.model")
>>> enc = tok.encode("Hi  you")
>>> [tok.piece(i) for i in enc.ids], enc.covered("Hi  you")
([' ', 'H', 'i', ' ', 'y', 'o', 'u'], ['', 'H', 'i', '  ', 'y', 'o', 'u'])
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import sentencepiece as spm

from capgym.errors import TokenizerError
from capgym.models.base import Encoding, Tokenizer, read_tokenizer_file
from capgym.models.spans import UTF8_ERRORS, char_index_of_bytes, utf8_len


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece model loaded from its serialised bytes."""

    def __init__(self, model: bytes, name: str = "") -> None:
        self.name = name
        try:
            self.sp = spm.SentencePieceProcessor(model_proto=model)
        except (RuntimeError, OSError) as err:
            raise TokenizerError(
                f"tokenizer {name or '<bytes>'} is not a valid SentencePiece model; "
                "pass the .model file the model was trained with"
            ) from err
        self.vocab_size = self.sp.get_piece_size()
        self.bos_id = self.sp.bos_id() if self.sp.bos_id() >= 0 else None
        self.eos_id = self.sp.eos_id() if self.sp.eos_id() >= 0 else None
        self._space_id = self.sp.piece_to_id("▁")
        self._is_byte = [self.sp.is_byte(i) for i in range(self.vocab_size)]
        self._hash = hashlib.sha256(model).hexdigest()

    @classmethod
    def from_file(cls, path: str | Path) -> SentencePieceTokenizer:
        """Load a ``.model`` file (see the module docstring for an example)."""
        path = Path(path)
        data = read_tokenizer_file(path)
        return cls(data, name=str(path))

    def _encode(self, text: str) -> Encoding:
        """SentencePiece's ids (no BOS) with contiguous character spans."""
        try:
            proto = self.sp.encode(text, out_type="proto")
        except (UnicodeError, TypeError) as err:
            raise TokenizerError(
                f"{self.name}: cannot encode text ({err}); pass valid UTF-8 text"
            ) from err
        ids = [p.id for p in proto.pieces]
        n_bytes = utf8_len(text)
        if not ids:
            return Encoding(ids=[self._space_id], spans=[(0, len(text))])
        starts: list[int] = []
        run = 0  # byte pieces of one character share its begin: step through its bytes
        for k, p in enumerate(proto.pieces):
            same_char = k > 0 and self._is_byte[ids[k - 1]] and proto.pieces[k - 1].begin == p.begin
            run = run + 1 if self._is_byte[p.id] and same_char else 0
            starts.append(p.begin + run)
        starts[0] = 0
        bounds = np.maximum.accumulate(np.minimum(np.asarray(starts + [n_bytes]), n_bytes))
        index = char_index_of_bytes(text)[bounds]
        return Encoding(ids=ids, spans=list(zip(index[:-1].tolist(), index[1:].tolist())))

    def piece(self, token_id: int) -> str:
        """The piece with ``▁`` shown as a space; printable byte pieces as their byte."""
        text = self.sp.id_to_piece(token_id)
        if self._is_byte[token_id]:
            b = int(text[3:5], 16)
            if b < 0x80 and (chr(b).isprintable() or chr(b).isspace()):
                return chr(b)
            return text
        return text.replace("▁", " ")

    def decode(self, ids: list[int]) -> str:
        """SentencePiece's decoding of ``ids``."""
        return str(self.sp.decode(ids))

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for (``▁`` as a space; control pieces give b"")."""
        if self._is_byte[token_id]:
            return bytes([int(self.sp.id_to_piece(token_id)[3:5], 16)])
        if self.sp.is_control(token_id):
            return b""
        return self.sp.id_to_piece(token_id).replace("▁", " ").encode("utf-8", UTF8_ERRORS)
