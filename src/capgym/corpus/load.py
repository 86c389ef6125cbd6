"""Loading corpora by name or path.

>>> import tempfile, pathlib, json
>>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.jsonl"
>>> _ = p.write_text(json.dumps({"idx": 7, "text": "Hi."}) + "\\n")
>>> load_corpus(str(p)).ids
[7]
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from capgym.errors import CorpusError, CorpusNotFound, UsageError

HUB_CORPORA = {
    "tinystories-validation": ("roneneldan/TinyStories", "validation"),
    "tinystories-train": ("roneneldan/TinyStories", "train"),
}
SEPARATOR = "<|endoftext|>"
_SUFFIXES = (".jsonl.gz", ".jsonl", ".txt.gz", ".txt")
MAX_IDX = 2**62  # story ids are stored as int64; the explorer's bound too


@dataclass(frozen=True)
class Corpus:
    """Stories with stable integer ids; ``texts[i]`` belongs to ``ids[i]``."""

    name: str
    ids: list[int]
    texts: list[str]
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.texts):
            raise ValueError("ids and texts differ in length")
        if len(set(self.ids)) != len(self.ids):
            raise CorpusError(f"corpus '{self.name}' has duplicate story ids; make 'idx' unique")

    @classmethod
    def from_texts(cls, name: str, texts: list[str], source: str = "memory") -> Corpus:
        """A corpus whose ids are the positions 0..n-1."""
        return cls(name=name, ids=list(range(len(texts))), texts=list(texts), source=source)

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def content_hash(self) -> str:
        """sha256 of (id, text) pairs: the corpus part of the scoring cache key."""
        h = hashlib.sha256()
        for i, t in zip(self.ids, self.texts):
            h.update(f"{i}\x00{len(t)}\x00".encode())
            h.update(t.encode("utf-8"))
        return h.hexdigest()[:16]

    def head(self, n: int) -> Corpus:
        """The first ``n`` stories (a new corpus of the same name)."""
        return Corpus(self.name, self.ids[:n], self.texts[:n], self.source, dict(self.meta))

    def subset(self, ids: list[int]) -> Corpus:
        """The stories with the given ids, in the given order."""
        by_id = dict(zip(self.ids, self.texts))
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise CorpusError(f"corpus '{self.name}' has no stories {missing[:5]}")
        return Corpus(self.name, list(ids), [by_id[i] for i in ids], self.source, dict(self.meta))

    def to_frame(self) -> pd.DataFrame:
        """The ``stories`` table: corpus, story, text."""
        return pd.DataFrame({"corpus": self.name, "story": self.ids, "text": self.texts})


def _assets_corpora_dir() -> Path | None:
    root = os.environ.get("CAPGYM_ASSETS")
    if not root:
        return None
    d = Path(root) / "corpora"
    return d if d.is_dir() else None


def list_corpora() -> dict[str, str]:
    """Corpus names this machine can resolve, mapped to where each comes from."""
    out: dict[str, str] = {}
    d = _assets_corpora_dir()
    if d is not None:
        for p in sorted(d.iterdir()):
            for suf in _SUFFIXES:
                if p.name.endswith(suf):
                    out[p.name[: -len(suf)]] = str(p)
    for name, (repo, split) in HUB_CORPORA.items():
        out.setdefault(name, f"hub:{repo} ({split} split; needs internet)")
    return out


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise CorpusError(f"cannot read corpus file {path}: {e}") from None
    return raw


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"corpus file {path} is not UTF-8 (byte {e.start}); re-encode it as UTF-8"
        ) from None


def _parse_jsonl(name: str, path: Path, text: str) -> Corpus:
    ids: list[int] = []
    texts: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}:{lineno}: invalid JSON ({e.msg}); fix or remove the line")
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise CorpusError(f"{path}:{lineno}: expected an object with a string 'text' field")
        idx = obj.get("idx", obj.get("id", len(ids)))
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise CorpusError(f"{path}:{lineno}: 'idx' must be an integer, got {idx!r}")
        if not 0 <= idx < MAX_IDX:
            raise CorpusError(f"{path}:{lineno}: 'idx' {idx} is out of range; use 0 <= idx < 2**62")
        text = obj["text"]
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:  # JSON escapes can spell lone surrogates
            raise CorpusError(
                f"{path}:{lineno}: 'text' holds a lone surrogate ({text[e.start]!r} at "
                f"character {e.start}), which is not Unicode text; fix the escape"
            ) from None
        ids.append(idx)
        texts.append(text)
    return Corpus(name, ids, texts, source=str(path))


def _parse_text(name: str, path: Path, text: str) -> Corpus:
    stories = [s.strip() for s in text.split(SEPARATOR)]
    stories = [s for s in stories if s]
    return Corpus.from_texts(name, stories, source=str(path))


def load_file(path: Path, name: str | None = None) -> Corpus:
    """Load a jsonl(.gz) or text(.gz) corpus file."""
    if path.is_dir():
        raise CorpusNotFound(
            f"corpus {path} is a folder; pass one .jsonl(.gz) or .txt(.gz) file inside it"
        )
    if not path.is_file():
        raise CorpusNotFound(f"corpus file {path} does not exist")
    stem = path.name
    for suf in _SUFFIXES:
        if stem.endswith(suf):
            stem = stem[: -len(suf)]
            break
    name = name or stem
    text = _decode(path, _read_bytes(path))
    is_jsonl = ".jsonl" in path.name or text.lstrip().startswith("{")
    corpus = _parse_jsonl(name, path, text) if is_jsonl else _parse_text(name, path, text)
    if len(corpus) == 0:
        raise CorpusError(f"corpus {path} contains no stories; check the file")
    return corpus


def _load_hub(name: str) -> Corpus:
    repo, split = HUB_CORPORA[name]
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise CorpusNotFound(
            f"corpus '{name}' needs the Hugging Face Hub ({repo}) but HF_HUB_OFFLINE=1; "
            "pass a local jsonl path or set CAPGYM_ASSETS"
        )
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise CorpusNotFound(
            f"corpus '{name}' needs the 'datasets' package: pip install 'capgym[datasets]', "
            "or pass a local jsonl path"
        ) from None
    try:
        ds = datasets.load_dataset(repo, split=split)
    except Exception as e:  # noqa: BLE001  (network and hub errors vary by version)
        raise CorpusNotFound(
            f"cannot download corpus '{name}' from {repo} ({type(e).__name__}); "
            "check the network or pass a local jsonl path"
        ) from None
    return Corpus.from_texts(name, [r["text"] for r in ds], source=f"hub:{repo}/{split}")


def load_corpus(name_or_path: str, limit: int | None = None) -> Corpus:
    """Resolve a corpus by name (``CAPGYM_ASSETS/corpora/<stem>``, then the Hub) or path.

    ``limit`` keeps only the first ``limit`` stories (a positive number).
    """
    if not name_or_path.strip():
        raise UsageError("no corpus given; pass --corpus NAME (see `capgym corpora`) or a file")
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        raise UsageError(f"--limit must be a positive number of stories, got {limit}")
    p = Path(name_or_path).expanduser()
    if p.suffix or os.sep in name_or_path or p.exists():
        corpus = load_file(p)
    else:
        d = _assets_corpora_dir()
        found = None
        if d is not None:
            for suf in _SUFFIXES:
                if (d / (name_or_path + suf)).is_file():
                    found = d / (name_or_path + suf)
                    break
        if found is not None:
            corpus = load_file(found, name=name_or_path)
        elif name_or_path in HUB_CORPORA:
            corpus = _load_hub(name_or_path)
        else:
            known = ", ".join(sorted(list_corpora())) or "(none: set CAPGYM_ASSETS)"
            raise CorpusNotFound(
                f"unknown corpus '{name_or_path}'; known names: {known}; or pass a file path"
            )
    return corpus.head(limit) if limit is not None else corpus
