"""Character spans of tokens from the UTF-8 bytes each token covers.

Tokenizers work on bytes (llama2.c byte fallback, GPT-2 byte-level BPE), so one token
may cover part of a character.  Following the convention of :mod:`capgym.models.base`,
a character belongs to the token holding its *first* byte; a token holding only
continuation bytes gets the empty span at the end of that character.

>>> char_spans("née", [1, 2, 1])
[(0, 1), (1, 2), (2, 3)]
>>> char_spans("é", [1, 1])
[(0, 1), (1, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Lone surrogates cannot be encoded strictly; "surrogatepass" gives them 3 bytes so
# that every str has a byte length and spans are defined for any text.
UTF8_ERRORS = "surrogatepass"


def utf8_len(text: str) -> int:
    """Number of UTF-8 bytes of ``text`` (lone surrogates count 3).

    >>> utf8_len("née")
    4
    """
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", UTF8_ERRORS))


def char_index_of_bytes(text: str) -> np.ndarray:
    """``out[b]`` = index of the first character starting at byte ``b`` or later.

    Has ``utf8_len(text) + 1`` entries; a byte inside a character maps to the next one.

    >>> char_index_of_bytes("aé").tolist()
    [0, 1, 2, 2]
    """
    if text.isascii():
        return np.arange(len(text) + 1, dtype=np.int64)
    cps = np.frombuffer(text.encode("utf-32-le", UTF8_ERRORS), dtype=np.uint32)
    lengths = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
    # each character i contributes i for its first byte and i + 1 for the others
    first = np.repeat(np.arange(len(cps), dtype=np.int64), lengths)
    starts = np.zeros(len(first), dtype=bool)
    starts[np.cumsum(lengths)[:-1]] = True
    starts[0] = True
    return np.concatenate([first + ~starts, [len(cps)]])


def char_spans(text: str, byte_lengths: Sequence[int], prefix: int = 0) -> list[tuple[int, int]]:
    """Char spans of consecutive tokens covering ``prefix`` extra bytes + ``text``.

    ``byte_lengths[i]`` is how many bytes token ``i`` covers.  The first ``prefix``
    bytes (a dummy-prefix space) are not part of ``text`` and map to position 0.
    Raises ``ValueError`` when the lengths do not add up to the text.

    >>> char_spans("Once", [3, 2], prefix=1)  # " On" + "ce"
    [(0, 2), (2, 4)]
    """
    n_bytes = utf8_len(text)
    ends = np.cumsum(np.asarray(byte_lengths, dtype=np.int64)) - prefix
    if len(ends) == 0:
        if n_bytes:
            raise ValueError("no tokens for a non-empty text")
        return []
    if ends[-1] != n_bytes or (len(ends) > 1 and np.any(np.diff(ends) < 0)):
        raise ValueError(f"token bytes ({int(ends[-1]) + prefix}) != text bytes + prefix")
    ends = np.clip(ends, 0, None)
    starts = np.concatenate([[0], ends[:-1]])
    index = char_index_of_bytes(text)
    return list(zip(index[starts].tolist(), index[ends].tolist()))


def char_spans_from_pieces(
    text: str, pieces: Sequence[bytes], prefix: bytes = b""
) -> list[tuple[int, int]]:
    """Char spans of tokens whose byte strings concatenate to ``prefix + text``.

    Checks the concatenation, so a tokenizer that normalises text (and so cannot be
    aligned byte for byte) fails loudly with ``ValueError``.

    >>> char_spans_from_pieces("hé", [b"h", b"\\xc3", b"\\xa9"])
    [(0, 1), (1, 2), (2, 2)]
    """
    if b"".join(pieces) != prefix + text.encode("utf-8", UTF8_ERRORS):
        raise ValueError("token bytes do not spell the text")
    return char_spans(text, [len(p) for p in pieces], prefix=len(prefix))


def _char_len(target: bytes, at: int) -> int:
    """Bytes of the UTF-8 character starting at ``at`` (1 for a stray continuation byte)."""
    lead = target[at]
    n = 1 + (lead >= 0xC0) + (lead >= 0xE0) + (lead >= 0xF0)
    return min(n, len(target) - at)


def find_pieces(target: bytes, pieces: Sequence[bytes | None]) -> tuple[list[int], list[bytes]]:
    """Where each piece starts in ``target``, and the characters no piece spells.

    The pieces are matched in order as a subsequence of ``target``: a character that
    does not match is skipped (a tokenizer dropped it, maybe from inside a piece:
    ``", â€œI "`` -> ``",▁I▁"``).  ``None`` (an ``<unk>``) starts where the previous
    piece ended and covers at least one character.  Raises ``ValueError`` when the
    pieces do not fit.

    >>> find_pieces(b"a-b", [b"a", b"b"]), find_pieces(b"a-b c", [b"a", None, b"b c"])
    (([0, 2], [b'-']), ([0, 1, 2], []))
    >>> find_pieces(b", -I ", [b", I "])
    ([0], [b'-'])
    """
    starts: list[int] = []
    skipped: list[bytes] = []
    cur, n = 0, len(target)
    for k, piece in enumerate(pieces):
        if piece is None:
            if cur >= n:
                raise ValueError(f"token {k} (<unk>) is past the end of the text")
            starts.append(cur)
            cur += _char_len(target, cur)
            continue
        if target.startswith(piece, cur):
            starts.append(cur)
            cur += len(piece)
            continue
        start, j = -1, 0
        while j < len(piece):
            if cur >= n:
                raise ValueError(f"token {k} ({piece!r}) is not in the text")
            if target[cur] == piece[j]:
                start = cur if start < 0 else start
                cur, j = cur + 1, j + 1
            else:
                step = _char_len(target, cur)
                skipped.append(target[cur : cur + step])
                cur += step
        starts.append(cur if start < 0 else start)
    if cur < n:
        skipped.append(target[cur:])
    return starts, skipped


def char_spans_by_search(
    text: str, pieces: Sequence[bytes | None], prefix: bytes = b""
) -> list[tuple[int, int]]:
    """Char spans of tokens that spell ``prefix + text`` with some characters left out.

    For tokenizers that drop what they cannot encode (a BPE with byte fallback but no
    byte pieces) or write it as ``<unk>`` (``None`` in ``pieces``), see
    :func:`find_pieces`.  A token covers from its first byte to the next token's, so
    skipped characters join the token before them (the first token when they lead);
    an ``<unk>`` covers everything up to the next piece.

    >>> char_spans_by_search("a€b", [b" a", b"b"], prefix=b" ")
    [(0, 2), (2, 3)]
    >>> char_spans_by_search("a€b", [b"a", None, b"b"])
    [(0, 1), (1, 2), (2, 3)]
    """
    target = prefix + text.encode("utf-8", UTF8_ERRORS)
    if not pieces:
        return char_spans(text, [], prefix=len(prefix))
    starts, _ = find_pieces(target, pieces)
    return spans_from_starts(text, starts, prefix=len(prefix))


def spans_from_starts(text: str, starts: Sequence[int], prefix: int = 0) -> list[tuple[int, int]]:
    """Char spans of tokens starting at these byte offsets of ``prefix`` bytes + ``text``.

    The first token starts at 0 whatever ``starts[0]`` says; the last ends at the end.

    >>> spans_from_starts("Once", [0, 3], prefix=1)
    [(0, 2), (2, 4)]
    """
    bounds = [0, *starts[1:], prefix + utf8_len(text)]
    return char_spans(text, np.diff(bounds).tolist(), prefix=prefix)
