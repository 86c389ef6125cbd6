"""Model names -> loaded models.  ``load_model`` and ``list_models`` are the entry points.

Each way of getting a model is a :class:`Backend` registered with :func:`backend`, one
file in :mod:`capgym.models.backends` (found there at first use, the way tagger
families are): it may read local files (``reads`` / ``load_path`` / ``describe``)
and know names it can fetch (``knows`` / ``load_name`` / ``entries``).  A name
resolves, in this order, to
1. an existing path that a backend reads (a llama2.c ``.bin`` or its folder, a Hugging
   Face folder with ``config.json``);
2. ``$CAPGYM_ASSETS/models/<name>/``, then ``$CAPGYM_CACHE/models/<name>/`` (same formats);
3. the first backend, by ``order``, that knows the name: ``random:<roneneldan name>``,
   Karpathy's ``stories15M/42M/110M/260K``, roneneldan's TinyStories models, any other
   Hub ``org/name`` id.

>>> [e.name for e in list_models()][:2]  # doctest: +SKIP
['babyllama-936K', 'bitllama-1M']
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

from capgym.assets import assets_dir, cache_dir
from capgym.errors import ModelNotFound, one_line
from capgym.models.base import LanguageModel
from capgym.models.devices import check_device


@dataclass(frozen=True)
class ModelEntry:
    """One row of ``capgym models``: what a name is and where it would come from.

    ``architecture`` is a short label (one line in an 80-column terminal); ``details``
    holds the shape (width, depth, heads, context) for ``capgym models --long``.
    """

    name: str
    n_params: int | None
    architecture: str
    tokenizer: str
    source: str  # "assets:<path>", "cache:<path>", "hub:<repo>[/<file>]" or a path
    details: str = ""


class Backend:
    """One way of getting models; subclass, override what applies, decorate with @backend.

    >>> class Nothing(Backend):
    ...     name = "nothing-demo"
    >>> Nothing().reads(Path("x.bin")), Nothing().knows("x")
    (False, False)
    """

    name: ClassVar[str] = ""
    order: ClassVar[int] = 50  # names are offered to backends by increasing order

    def reads(self, path: Path) -> bool:
        """Whether ``path`` (a file or folder that exists) is in this backend's format."""
        return False

    def load_path(self, path: Path, name: str, source: str) -> LanguageModel:
        """Load the model at a path this backend reads."""
        raise NotImplementedError(f"backend {self.name} reads no files")

    def describe(self, path: Path, name: str, source: str) -> ModelEntry:
        """The listing row of a local model, without loading its weights."""
        return ModelEntry(name, None, self.name, "?", source)

    def knows(self, name: str) -> bool:
        """Whether this backend can load ``name`` without a local path (e.g. a Hub id)."""
        return False

    def load_name(self, name: str) -> LanguageModel:
        """Load a name this backend knows."""
        raise NotImplementedError(f"backend {self.name} knows no names")

    def entries(self) -> list[ModelEntry]:
        """Listing rows of the names this backend knows (local folders aside)."""
        return []


B = TypeVar("B", bound=type[Backend])
_BACKENDS: dict[str, Backend] = {}


def backend(cls: B) -> B:
    """Register a :class:`Backend` subclass (one instance) under its ``name``.

    >>> @backend
    ... class Demo(Backend):
    ...     name = "demo"
    >>> "demo" in [b.name for b in backends()]
    True
    >>> unregister_backend("demo")
    """
    if not cls.name:
        raise ValueError(f"backend {cls.__qualname__} needs a name")
    _BACKENDS[cls.name] = cls()
    return cls


def unregister_backend(name: str) -> None:
    """Remove a backend (tests and notebooks); unknown names are ignored."""
    _BACKENDS.pop(name, None)


def backends() -> list[Backend]:
    """Registered backends by ``order``, importing :mod:`capgym.models.backends` first."""
    from capgym.models import backends as package

    for mod in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{mod.name}")
    return sorted(_BACKENDS.values(), key=lambda b: (b.order, b.name))


def model_folders() -> dict[str, Path]:
    """Folders under the cache, then the assets (assets win on a shared name)."""
    found: dict[str, Path] = {}
    for root in (cache_dir(), assets_dir()):
        if root is not None and (root / "models").is_dir():
            found.update({p.name: p for p in sorted((root / "models").iterdir()) if p.is_dir()})
    return found


def _reader(path: Path) -> Backend:
    reader = next((b for b in backends() if b.reads(path)), None)
    if reader is None:
        raise ModelNotFound(
            f"{path} is not a model capgym can read; pass a Hugging Face folder "
            "(config.json) or a llama2.c checkpoint (.bin) with its tokenizer"
        )
    return reader


def _where(folder: Path) -> str:
    root = assets_dir()
    return "assets" if root is not None and folder.parent.parent == root else "cache"


def load_model(name_or_path: str, device: str = "cpu") -> LanguageModel:
    """Load a model by registry name, Hub id or local path (see the module docstring).

    >>> lm = load_model("stories260K")  # doctest: +SKIP
    >>> lm.n_params, lm.context_len  # doctest: +SKIP
    (260032, 512)
    """
    check_device(device)  # before a long load, not after
    lm = _resolve(name_or_path)
    return lm.to(device) if str(device) != "cpu" else lm


def _resolve(name: str) -> LanguageModel:
    path = Path(name).expanduser()
    if path.exists():
        return _reader(path).load_path(
            path, path.stem if path.is_file() else path.name, source=str(path)
        )
    key = name.removeprefix("roneneldan/")
    folders = model_folders()
    if key in folders:
        folder = folders[key]
        return _reader(folder).load_path(folder, key, source=f"{_where(folder)}:{folder}")
    for b in backends():
        if b.knows(name):
            return b.load_name(name)
    known = [e.name for e in list_models(describe=False)]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ModelNotFound(f"unknown model {name!r}; {hint}run `capgym models` to list names")


def describe_path(path: Path, name: str, source: str) -> ModelEntry:
    """The listing row of a local model; an unreadable one says why in ``details``."""
    try:
        return _reader(path).describe(path, name, source)
    except Exception as err:  # noqa: BLE001 - a listing shows every folder, broken ones too
        return ModelEntry(name, None, "unreadable", "?", source, details=one_line(err))


def list_models(describe: bool = True) -> list[ModelEntry]:
    """Every name :func:`load_model` knows without a path (``random:<name>`` aside).

    Local folders first (described without loading weights unless ``describe`` is
    False, which lists names only), then what each backend can fetch.

    >>> isinstance(list_models(), list)
    True
    """
    entries: list[ModelEntry] = []
    for name, folder in model_folders().items():
        source = f"{_where(folder)}:{folder}"
        if describe:
            entries.append(describe_path(folder, name, source))
        else:
            entries.append(ModelEntry(name, None, "", "", source))
    local = {e.name for e in entries}
    for b in backends():
        entries.extend(e for e in b.entries() if e.name not in local)
    return entries


def find_entry(name: str) -> ModelEntry:
    """The listing row of one name or path (``capgym models NAME``), without loading it.

    >>> find_entry("storis260K")  # doctest: +SKIP
    Traceback (most recent call last):
    capgym.errors.ModelNotFound: unknown model 'storis260K'; did you mean stories260K? ...
    """
    path = Path(name).expanduser()
    if path.exists():
        return describe_path(path, path.stem if path.is_file() else path.name, str(path))
    key = name.removeprefix("roneneldan/")
    folders = model_folders()
    if key in folders:
        return describe_path(folders[key], key, f"{_where(folders[key])}:{folders[key]}")
    entries = {e.name: e for e in list_models(describe=False)}
    if key in entries:
        return entries[key]
    close = difflib.get_close_matches(key, list(entries), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ModelNotFound(f"unknown model {name!r}; {hint}run `capgym models` to list names")
