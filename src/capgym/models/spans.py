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
