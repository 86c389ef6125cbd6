"""Corpora: named or local collections of stories with stable ids.

A :class:`Corpus` holds the exact text that every character offset downstream refers
to.  Sources: jsonl (plain or gzip; ``{"idx": i, "text": ...}`` or ``{"text": ...}``),
plain text with stories separated by ``<|endoftext|>``, and (online) the Hugging Face
dataset ``roneneldan/TinyStories``.

>>> c = Corpus.from_texts("demo", ["Once upon a time.", "The end."])
>>> len(c), c.texts[1]
(2, 'The end.')
"""

from __future__ import annotations

from capgym.corpus.clean import CleanReport, clean
from capgym.corpus.load import Corpus, list_corpora, load_corpus

__all__ = ["CleanReport", "Corpus", "clean", "list_corpora", "load_corpus"]
