"""The models stage: named small LMs behind one interface, :class:`LanguageModel`.

>>> from capgym.models import load_model
>>> lm = load_model("stories260K")  # doctest: +SKIP
>>> lm.encode("Once upon a time").ids  # doctest: +SKIP
[1, 403, 407, 261, 378]
"""

from __future__ import annotations

from capgym.models.base import Encoding, LanguageModel, ModelInfo, Tokenizer
from capgym.models.registry import Backend, ModelEntry, backend, list_models, load_model

__all__ = [
    "Backend",
    "Encoding",
    "LanguageModel",
    "ModelEntry",
    "ModelInfo",
    "Tokenizer",
    "backend",
    "list_models",
    "load_model",
]
