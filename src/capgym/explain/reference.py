"""The reference corpus of the n-gram explainers, tokenized with the scored model's tokenizer.

By default the reference is the TinyStories training sample: the statistics a model
could have memorised.  A reference is named by a corpus (name or path) or given
directly as an :class:`~capgym.explain.ngrams.NgramReference` (pre-tokenized ids, for
tests or custom statistics).

>>> import numpy as np
>>> ref = resolve_reference(None, "m", NgramReference.fit([[4, 5, 4, 5]], min_count=1))
>>> ref.tables[2].lookup(np.array([[4]])).tolist()
[5]
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from capgym.errors import CapgymError, UsageError
from capgym.explain.ngrams import NgramReference
from capgym.store import RunStore

if TYPE_CHECKING:
    from capgym.corpus import Corpus
    from capgym.models.base import Tokenizer

DEFAULT_REFERENCE = "tinystories-train-sample-2316"
DEFAULT_MIN_COUNT = 3


def fingerprint(tokenizer_hash: str, corpus_hash: str, min_count: int) -> str:
    """Identity of a reference: tokenizer, corpus content and ``min_count``.

    >>> fingerprint("tok", "corp", 3) == fingerprint("tok", "corp", 3)
    True
    """
    raw = f"{tokenizer_hash}\x00{corpus_hash}\x00{min_count}\x00orders=1,2,3"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@lru_cache(maxsize=8)
def _loaded_tokenizer(name: str) -> Tokenizer:
    """The tokenizer of the model ``name``, loaded once per process (the model itself is
    dropped: only its tokenizer is kept)."""
    from capgym.models import load_model

    return load_model(name).tokenizer


def model_tokenizer(
    run: RunStore | None, model: str, tokenizer: Tokenizer | None = None
) -> Tokenizer:
    """The tokenizer of ``model``: ``tokenizer`` when given (a caller that has the model
    loaded), else loaded by the model's name in the run, else by its recorded source.

    A loaded tokenizer is cached per name, so explaining a model after scoring it, or
    twice, loads it once.  A given tokenizer must match the one the run recorded.
    """
    info: dict[str, Any] = {}
    if run is not None:
        info = run.model_info(model)
    recorded = info.get("tokenizer_hash")
    if tokenizer is not None:
        if recorded and recorded != tokenizer.content_hash:
            raise UsageError(
                f"the tokenizer given for '{model}' is not the one it was scored with "
                f"(hash {tokenizer.content_hash}, run has {recorded}); pass the model's own"
            )
        return tokenizer
    source = str(info.get("source") or "")
    path = source.split(":", 1)[1] if source.startswith(("assets:", "cache:")) else source
    for name in dict.fromkeys([model, path]):
        if not name:
            continue
        try:
            tok = _loaded_tokenizer(name)
            if recorded and tok.content_hash != recorded:  # its files changed since cached
                _loaded_tokenizer.cache_clear()
                tok = _loaded_tokenizer(name)
            return tok
        except CapgymError:
            continue
    raise UsageError(
        f"cannot load model '{model}' to tokenize the reference corpus; score it under a "
        "name `capgym models` lists, or pass reference=NgramReference.fit(token_ids)"
    )


def reference_corpus(name: str) -> Corpus:
    """Load the reference corpus, with an error that names the fix."""
    from capgym.corpus import load_corpus
    from capgym.errors import AssetNotFound

    try:
        return load_corpus(name)
    except AssetNotFound as e:
        raise UsageError(
            f"reference corpus '{name}' for the n-gram explainers is not available ({e}); "
            "set CAPGYM_ASSETS or pass --reference PATH"
        ) from None


def reference_fingerprint(
    run: RunStore | None,
    model: str,
    reference: str | NgramReference,
    min_count: int,
    tokenizer: Tokenizer | None = None,
) -> str:
    """The fingerprint :func:`resolve_reference` would give, cheaply when possible (from
    the tokenizer hash the run recorded, without loading anything)."""
    if isinstance(reference, NgramReference):
        return reference.fingerprint
    info = run.model_info(model) if run is not None else {}
    tok_hash = info.get("tokenizer_hash")
    if tokenizer is not None or not tok_hash:  # (a given tokenizer is checked here)
        tok_hash = model_tokenizer(run, model, tokenizer).content_hash
    corpus = reference_corpus(reference)
    return fingerprint(str(tok_hash), corpus.content_hash, min_count)


def resolve_reference(
    run: RunStore | None,
    model: str,
    reference: str | NgramReference = DEFAULT_REFERENCE,
    min_count: int = DEFAULT_MIN_COUNT,
    tokenizer: Tokenizer | None = None,
) -> NgramReference:
    """The n-gram reference of ``model``: given, or built by tokenizing a corpus with
    ``tokenizer`` (default: the model's, see :func:`model_tokenizer`)."""
    if isinstance(reference, NgramReference):
        return reference
    corpus = reference_corpus(reference)
    tokenizer = model_tokenizer(run, model, tokenizer)
    ids = [tokenizer.encode(text).ids for text in corpus.texts]
    fp = fingerprint(tokenizer.content_hash, corpus.content_hash, min_count)
    return NgramReference.fit(ids, min_count=min_count, name=corpus.name, fingerprint=fp)
