"""The tagger registry: a decorator, a declarative regex form, and user tagger files.

A tagger is a function ``(text, ctx) -> Iterable[Span]`` registered under a capability
name.  Adding a capability is one file with one decorated function:

>>> from capgym.tags.registry import Span, tagger
>>> @tagger("exclamation-demo")
... def exclamation(text, ctx):
...     '''Every "!" (the symbol to be predicted).'''
...     return [Span(i, i + 1) for i, ch in enumerate(text) if ch == "!"]
>>> [s.char_start for s in get_tagger("exclamation-demo").fn("Hi! Go!", None)]
[2, 6]
>>> unregister("exclamation-demo")
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capgym.errors import TaggerError

if TYPE_CHECKING:
    from capgym.tags.context import TagContext


@dataclass(frozen=True)
class Span:
    """A character span ``[char_start, char_end)`` of a story, with JSON-able ``attrs``."""

    char_start: int
    char_end: int
    attrs: Mapping[str, Any] = field(default_factory=dict)


TaggerFn = Callable[[str, "TagContext"], Iterable[Span]]


@dataclass(frozen=True)
class Tagger:
    """A registered tagger: its capability name, function, documentation and origin."""

    name: str
    fn: TaggerFn
    doc: str
    origin: str  # module that registered it


_REGISTRY: dict[str, Tagger] = {}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def register(t: Tagger) -> Tagger:
    """Add ``t`` to the registry; re-registering from the same module replaces it.

    >>> register(Tagger("x-demo", lambda text, ctx: [], "demo", "here")).name
    'x-demo'
    >>> unregister("x-demo")
    """
    if not _NAME_RE.match(t.name):
        raise TaggerError(f"bad tagger name {t.name!r}; use lower-case words joined by '-'")
    old = _REGISTRY.get(t.name)
    if old is not None and old.origin != t.origin:
        raise TaggerError(
            f"tagger {t.name!r} from {t.origin} is already registered by {old.origin}; rename it"
        )
    _REGISTRY[t.name] = t
    return t


def unregister(name: str) -> None:
    """Remove a tagger (tests and notebooks); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def tagger(name: str, doc: str | None = None) -> Callable[[TaggerFn], TaggerFn]:
    """Register the decorated function as the tagger of capability ``name``.

    The documentation is ``doc``, else the function's docstring, else its module's.

    >>> @tagger("question-demo")
    ... def q(text, ctx):
    ...     return [Span(i, i + 1) for i, ch in enumerate(text) if ch == "?"]
    >>> get_tagger("question-demo").name
    'question-demo'
    >>> unregister("question-demo")
    """

    def wrap(fn: TaggerFn) -> TaggerFn:
        module = sys.modules.get(fn.__module__)
        text = doc or fn.__doc__ or (module.__doc__ if module else None) or ""
        register(Tagger(name, fn, text.strip(), fn.__module__))
        return fn

    return wrap


def pattern_tagger(
    name: str,
    regex: str | re.Pattern[str],
    group: int | str = 0,
    doc: str = "",
    flags: int = 0,
) -> Tagger:
    """Register a tagger that marks ``group`` of every match of ``regex``.

    attrs carry the matched text and the named groups of the match.

    >>> t = pattern_tagger("sound-demo", r"(?:said|cried) \\"(\\w+)", group=1, doc="demo")
    >>> [(s.char_start, s.char_end, s.attrs["match"]) for s in t.fn('He said "boo"', None)]
    [(9, 12, 'boo')]
    >>> unregister("sound-demo")
    """
    pattern = re.compile(regex, flags) if isinstance(regex, str) else regex

    def fn(text: str, ctx: TagContext | None) -> Iterable[Span]:
        for m in pattern.finditer(text):
            start, end = m.span(group)
            if start < end:
                attrs = {"match": m.group(group)}
                attrs.update({k: v for k, v in m.groupdict().items() if v is not None})
                yield Span(start, end, attrs)

    caller = sys._getframe(1).f_globals.get("__name__", "?")
    return register(Tagger(name, fn, doc.strip() or f"regex {pattern.pattern!r}", caller))


def get_tagger(name: str) -> Tagger:
    """The registered tagger ``name``, loading the built-in families first.

    >>> get_tagger("closing-quote").name
    'closing-quote'
    """
    load_builtin_taggers()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise TaggerError(f"unknown tagger {name!r}; known taggers: {known}")
    return _REGISTRY[name]


def registered_taggers() -> list[Tagger]:
    """Every registered tagger (built-in families first loaded), sorted by name.

    >>> "repeated-name" in [t.name for t in registered_taggers()]
    True
    """
    load_builtin_taggers()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def load_builtin_taggers() -> None:
    """Import every module of :mod:`capgym.tags.families` (each registers its taggers)."""
    from capgym.tags import families

    for info in pkgutil.iter_modules(families.__path__):
        importlib.import_module(f"{families.__name__}.{info.name}")


def load_user_taggers(path: str | Path) -> list[str]:
    """Import a tagger file, or every ``*.py`` of a folder, and return the names it added.

    A file that cannot be imported raises :class:`TaggerError` naming the file and error.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "mine.py").write_text(
    ...     "from capgym.tags import pattern_tagger\\npattern_tagger('mine-demo', r'!')\\n")
    >>> load_user_taggers(d)
    ['mine-demo']
    >>> unregister("mine-demo")
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.glob("*.py") if not f.name.startswith("_"))
    elif p.is_file():
        files = [p]
    else:
        raise TaggerError(f"user tagger path {p} does not exist; pass a .py file or a folder")
    added: list[str] = []
    for f in files:
        mod_name = _import_file(f)
        added += [k for k, v in _REGISTRY.items() if v.origin == mod_name]
    return sorted(added)


def _import_file(f: Path) -> str:
    """Import ``f`` under a module name unique to its absolute path; return that name."""
    digest = hashlib.sha1(str(f.resolve()).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", f.stem)
    mod_name = f"capgym_user_taggers_{stem}_{digest}"
    try:
        spec = importlib.util.spec_from_file_location(mod_name, f)
        if spec is None or spec.loader is None:
            raise ImportError("not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # any failure of user code, sys.exit() included
        sys.modules.pop(mod_name, None)
        msg = " ".join(str(err).split()) or "no message"
        raise TaggerError(
            f"cannot import user tagger file {f}: {type(err).__name__}: {msg}"
        ) from err
    return mod_name
