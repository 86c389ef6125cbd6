"""The llama2.c ``tokenizer.bin`` format, encoding exactly as llama2.c ``run.c`` does.

Encoding: prepend a dummy-prefix space, map each character to its piece (or, when it
has none, to its UTF-8 bytes as byte-fallback tokens ``byte + 3``), then repeatedly
merge the adjacent pair whose concatenation is a piece with the highest score, the
leftmost pair on ties.  A heap over a linked list makes that O(n log n); when no piece
has a space after its first character (true of SentencePiece vocabularies), merges
never cross the start of a space, so the text is split there and each chunk's result
is cached — TinyStories repeats its words a lot.

Tokenizers without byte-fallback pieces (``tok105.bin``) map an unknown character to
``<unk>`` (id 0) instead of ``byte + 3``, which in run.c would give unrelated tokens.

>>> import os, pathlib
>>> path = pathlib.Path(os.environ.get("CAPGYM_ASSETS", "/work/shared/assets"))
>>> tok = Llama2cTokenizer.from_file(path / "models/stories260K/tok512.bin")
>>> enc = tok.encode("Once upon")
>>> [tok.piece(i) for i in enc.ids], enc.covered("Once upon")
([' Once', ' upon'], ['Once', ' upon'])
"""

from __future__ import annotations

import hashlib
import heapq
import re
import struct
from pathlib import Path

from capgym.errors import TokenizerError
from capgym.models.base import Encoding, Tokenizer, read_tokenizer_file
from capgym.models.spans import UTF8_ERRORS, char_spans

_BYTE_PIECE = re.compile(rb"<0x([0-9A-Fa-f]{2})>")
_CHUNK = re.compile(r" [^ ]*")
_CACHE_LIMIT = 200_000
# run.c starts its search for the best merge at this score, so lower ones never merge
_MIN_SCORE = -1e10


def parse_tokenizer_bin(
    data: bytes, name: str = "tokenizer.bin"
) -> tuple[int, list[bytes], list[float]]:
    """Parse llama2.c tokenizer bytes into (max_token_length, pieces, scores).

    >>> pieces = [struct.pack("<fi", -1.0, 1) + c for c in (b"a", b"b", b"c")]
    >>> parse_tokenizer_bin(struct.pack("<i", 1) + b"".join(pieces))
    (1, [b'a', b'b', b'c'], [-1.0, -1.0, -1.0])
    """
    fix = "re-export it with llama2.c's tokenizer.py"
    if len(data) < 4:
        raise TokenizerError(f"tokenizer file {name} is empty or truncated; {fix}")
    (max_len,) = struct.unpack_from("<i", data, 0)
    pieces: list[bytes] = []
    scores: list[float] = []
    offset = 4
    while offset < len(data):
        if offset + 8 > len(data):
            raise TokenizerError(f"tokenizer file {name} is truncated at byte {offset}; {fix}")
        score, length = struct.unpack_from("<fi", data, offset)
        offset += 8
        if length < 0 or length > max(max_len, 16) or offset + length > len(data):
            raise TokenizerError(f"tokenizer file {name} is corrupt at byte {offset - 4}; {fix}")
        pieces.append(data[offset : offset + length])
        scores.append(score)
        offset += length
    if not 0 < max_len <= 1024 or len(pieces) < 3:
        raise TokenizerError(f"tokenizer file {name} is not a llama2.c tokenizer; {fix}")
    return max_len, pieces, scores


class Llama2cTokenizer(Tokenizer):
    """A llama2.c BPE tokenizer (``tok512.bin``, ``tokenizer.bin``, ...)."""

    def __init__(self, pieces: list[bytes], scores: list[float], name: str = "") -> None:
        self.pieces = pieces
        self.scores = scores
        self.name = name
        self.vocab_size = len(pieces)
        self.bos_id = 1
        self.eos_id = 2
        self._lookup: dict[bytes, int] = {}
        for i, p in enumerate(pieces):
            self._lookup.setdefault(p, i)
        self.byte_fallback = (
            all(pieces[b + 3] == b"<0x%02X>" % b for b in range(256))
            if (len(pieces) >= 259)
            else False
        )
        self._byte_of = {
            i: int(m.group(1), 16) for i, p in enumerate(pieces) if (m := _BYTE_PIECE.fullmatch(p))
        }
        self._space_id = self._lookup.get(b" ")
        # merges can cross a boundary only into a piece with a space after its start
        self._split = not any(b" " in p[1:] for p in pieces)
        self._pairs: dict[tuple[int, int], tuple[float, int] | None] = {}
        self._cache: dict[str, tuple[list[int], list[int]]] = {}
        self._hash = hashlib.sha256(_serialise(pieces, scores)).hexdigest()

    @classmethod
    def from_file(cls, path: str | Path) -> Llama2cTokenizer:
        """Load a llama2.c ``tokenizer.bin`` (see the example in the module docstring)."""
        path = Path(path)
        data = read_tokenizer_file(path)
        _, pieces, scores = parse_tokenizer_bin(data, str(path))
        return cls(pieces, scores, name=str(path))

    # -- encoding ------------------------------------------------------------------

    def _encode(self, text: str) -> Encoding:
        """Tokens of ``text`` (no BOS); the dummy-prefix space is part of the first token."""
        ids: list[int] = []
        lengths: list[int] = []
        chunks = _CHUNK.findall(" " + text) if self._split else [" " + text]
        for chunk in chunks:
            hit = self._cache.get(chunk)
            if hit is None:
                hit = self._encode_chunk(chunk)
                if self._split:
                    if len(self._cache) >= _CACHE_LIMIT:
                        self._cache.clear()
                    self._cache[chunk] = hit
            ids.extend(hit[0])
            lengths.extend(hit[1])
        return Encoding(ids=ids, spans=char_spans(text, lengths, prefix=1))

    def _initial(self, text: str) -> tuple[list[int], list[int]]:
        """Per-character pieces, or byte-fallback tokens (or <unk>) for the others."""
        ids: list[int] = []
        lengths: list[int] = []
        lookup = self._lookup
        for ch in text:
            raw = ch.encode("utf-8", UTF8_ERRORS)
            i = lookup.get(raw)
            if i is not None:
                ids.append(i)
                lengths.append(len(raw))
            elif self.byte_fallback:
                ids.extend(b + 3 for b in raw)
                lengths.extend([1] * len(raw))
            else:
                ids.append(0)
                lengths.append(len(raw))
        return ids, lengths

    def _pair(self, a: int, b: int) -> tuple[float, int] | None:
        """(score, id) of the piece spelled by pieces a + b, if any (memoised)."""
        key = (a, b)
        if key not in self._pairs:
            i = self._lookup.get(self.pieces[a] + self.pieces[b])
            hit = None if i is None or self.scores[i] <= _MIN_SCORE else (self.scores[i], i)
            self._pairs[key] = hit
        return self._pairs[key]

    def _encode_chunk(self, text: str) -> tuple[list[int], list[int]]:
        """run.c's greedy merge loop, with a heap keyed on (-score, position)."""
        ids, lengths = self._initial(text)
        n = len(ids)
        if n < 2:
            return ids, lengths
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        alive = [True] * n
        heap: list[tuple[float, int, int, int, int]] = []
        for i in range(n - 1):
            hit = self._pair(ids[i], ids[i + 1])
            if hit is not None:
                heap.append((-hit[0], i, ids[i], ids[i + 1], hit[1]))
        heapq.heapify(heap)
        while heap:
            _, i, a, b, new = heapq.heappop(heap)
            j = nxt[i]
            if not alive[i] or j < 0 or ids[i] != a or ids[j] != b:
                continue  # stale: one side was merged since this pair was pushed
            ids[i] = new
            lengths[i] += lengths[j]
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] >= 0:
                prv[nxt[j]] = i
            for left in (prv[i], i):
                right = nxt[left] if left >= 0 else -1
                if left >= 0 and right >= 0:
                    hit = self._pair(ids[left], ids[right])
                    if hit is not None:
                        heapq.heappush(heap, (-hit[0], left, ids[left], ids[right], hit[1]))
        keep = [k for k in range(n) if alive[k]]
        return [ids[k] for k in keep], [lengths[k] for k in keep]

    # -- decoding ------------------------------------------------------------------

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for (a byte token's byte; specials give b"")."""
        if token_id in self._byte_of:
            return bytes([self._byte_of[token_id]])
        if token_id in (0, self.bos_id, self.eos_id):
            return b""
        return self.pieces[token_id]

    def piece(self, token_id: int) -> str:
        """Readable piece: printable byte tokens show as their byte ("\\n" for <0x0A>)."""
        b = self._byte_of.get(token_id)
        if b is not None:
            return (
                chr(b)
                if b < 0x80 and (chr(b).isprintable() or chr(b).isspace())
                else (self.pieces[token_id].decode())
            )
        return self.pieces[token_id].decode("utf-8", "replace").strip("\n")

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``; drops BOS/EOS and the dummy-prefix space, like SentencePiece.

        >>> import os, pathlib
        >>> path = pathlib.Path(os.environ.get("CAPGYM_ASSETS", "/work/shared/assets"))
        >>> tok = Llama2cTokenizer.from_file(path / "models/stories260K/tok512.bin")
        >>> tok.decode(tok.encode("Hi\\n\\u00ff").ids)
        'Hi\\nÿ'
        """
        raw = b"".join(b"\xe2\x81\x87" if i == 0 else self.token_bytes(i) for i in ids)
        text = raw.decode("utf-8", "replace")
        return text.removeprefix(" ")


def _serialise(pieces: list[bytes], scores: list[float]) -> bytes:
    """The vocabulary as bytes (for the hash): the tokenizer.bin layout minus max length."""
    return b"".join(struct.pack("<fi", s, len(p)) + p for p, s in zip(pieces, scores))
