"""Model names -> loaded models.  ``load_model`` and ``list_models`` are the entry points.

A name resolves, in this order, to
1. ``random:<roneneldan name>``: random weights in that architecture (:func:`random_model`);
2. an existing path: a folder with a llama2.c ``.bin`` + tokenizer, a single ``.bin`` next
   to its tokenizer, or a Hugging Face folder (``config.json``);
3. ``$CAPGYM_ASSETS/models/<name>/``, then ``$CAPGYM_CACHE/models/<name>/`` (same formats);
4. the Hub: Karpathy's ``stories15M/42M/110M/260K`` (``karpathy/tinyllamas``), roneneldan's
   TinyStories models (``TinyStories-1M`` or ``roneneldan/TinyStories-1M``), and any other
   ``org/name`` id (delphi-suite models, ...), loaded with ``transformers``.

Karpathy's 15M/42M/110M use llama2.c's 32000-token ``tokenizer.bin``, which is not on the
Hub: put it (from github.com/karpathy/llama2.c) in the model's folder or at
``$CAPGYM_CACHE/tokenizers/llama2c/tokenizer.bin``.  A folder with both a ``.model`` and
a ``.bin`` tokenizer of the model's size uses the ``.model`` (SentencePiece, which is how
llama2.c pretokenised the training data; babyllama scores 0.555 vs 0.577 nats/token).

>>> [e.name for e in list_models()][:2]  # doctest: +SKIP
['babyllama-936K', 'bitllama-1M']
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from capgym.assets import assets_dir, cache_dir
from capgym.errors import AssetNotFound, CapgymError, ModelNotFound
from capgym.models.base import LanguageModel
from capgym.models.configs import PUBLISHED_PARAMS, SHAPES, canonical, gpt2_tokenizer_dir
from capgym.models.devices import check_device
from capgym.models.llama2c import expected_bytes, load_llama2c, load_tokenizer, read_header

# name -> (file in karpathy/tinyllamas, tokenizer file there or None, parameters)
KARPATHY: dict[str, tuple[str, str | None, int]] = {
    "stories260K": ("stories260K/stories260K.bin", "stories260K/tok512.bin", 260_032),
    "stories15M": ("stories15M.bin", None, 15_191_712),
    "stories42M": ("stories42M.bin", None, 41_689_600),
    "stories110M": ("stories110M.bin", None, 109_529_856),
}
_FIX = "set CAPGYM_ASSETS, pass a local path, or connect to the internet"


@dataclass(frozen=True)
class ModelEntry:
    """One row of ``capgym models``: what a name is and where it would come from."""

    name: str
    n_params: int | None
    architecture: str
    tokenizer: str
    source: str  # "assets:<path>", "cache:<path>" or "hub:<repo>[/<file>]"

    @property
    def params(self) -> int | None:
        return self.n_params


def _model_folders() -> dict[str, Path]:
    """Folders under the cache, then the assets (assets win on a shared name)."""
    found: dict[str, Path] = {}
    for root in (cache_dir(), assets_dir()):
        if root is not None and (root / "models").is_dir():
            found.update({p.name: p for p in sorted((root / "models").iterdir()) if p.is_dir()})
    return found


def _pick_files(folder: Path, checkpoint: Path | None = None) -> tuple[Path, Path]:
    """The checkpoint and the tokenizer of a llama2.c folder (tokenizer vocab must match)."""
    bins = sorted(folder.glob("*.bin"))
    is_tok = [p for p in bins if p.name.startswith("tok")]
    if checkpoint is None:
        candidates = [p for p in bins if p not in is_tok]
        if len(candidates) != 1:
            raise ModelNotFound(
                f"folder {folder} needs exactly one llama2.c checkpoint .bin, found "
                f"{len(candidates)}; pass the checkpoint file itself"
            )
        checkpoint = candidates[0]
    vocab = read_header(checkpoint).cfg.vocab_size
    tokenizers = sorted(folder.glob("*.model")) + is_tok
    for tok in tokenizers:
        try:
            if load_tokenizer(tok).vocab_size == vocab:
                return checkpoint, tok
        except CapgymError:
            continue
    if tokenizers:
        return checkpoint, tokenizers[0]  # load_llama2c reports the mismatch by name
    raise AssetNotFound(
        f"no tokenizer (tok*.bin, tokenizer.bin or *.model) next to {checkpoint}; "
        "put the model's tokenizer in that folder"
    )


def _load_path(path: Path, name: str, source: str) -> LanguageModel:
    if path.is_dir() and (path / "config.json").is_file():
        from capgym.models.hf import load_hf

        return load_hf(path, name=name)
    checkpoint, tokenizer = _pick_files(path) if path.is_dir() else _pick_files(path.parent, path)
    return load_llama2c(checkpoint, tokenizer, name=name, source=source)


def _hub_file(repo: str, filename: str) -> Path:
    """A file of a Hub repo through huggingface_hub's cache; offline & absent -> AssetNotFound."""
    from huggingface_hub import hf_hub_download

    from capgym.models.hf import hub_offline

    try:
        return Path(hf_hub_download(repo, filename, local_files_only=hub_offline()))
    except Exception as err:  # huggingface_hub raises many unrelated types when offline
        raise AssetNotFound(f"{repo}/{filename} is not available offline; {_FIX}") from err


def _load_karpathy(name: str) -> LanguageModel:
    filename, tok_name, _ = KARPATHY[name]
    tokenizer: Path | None = None
    if tok_name is None:  # look before downloading hundreds of megabytes
        candidates = [cache_dir() / "tokenizers" / "llama2c" / "tokenizer.bin"]
        root = assets_dir()
        if root is not None:
            candidates.append(root / "tokenizers" / "llama2c" / "tokenizer.bin")
        tokenizer = next((p for p in candidates if p.is_file()), None)
        if tokenizer is None:
            raise AssetNotFound(
                f"{name} needs llama2.c's 32000-token tokenizer.bin (github.com/karpathy/llama2.c); "
                f"put it at {candidates[0]}"
            )
    checkpoint = _hub_file("karpathy/tinyllamas", filename)
    if tokenizer is None:
        tokenizer = _hub_file("karpathy/tinyllamas", str(tok_name))
    return load_llama2c(
        checkpoint, tokenizer, name=name, source=f"hub:karpathy/tinyllamas/{filename}"
    )


def _load_ronen(name: str) -> LanguageModel:
    from capgym.models.hf import load_hf

    try:
        tokenizer: Path | None = gpt2_tokenizer_dir()
    except AssetNotFound:
        tokenizer = None  # the Hub repos ship the GPT-2 tokenizer too
    return load_hf(f"roneneldan/{name}", name=name, tokenizer=tokenizer)


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
    if name.startswith("random:"):
        from capgym.models.configs import random_model

        return random_model(name.removeprefix("random:"))
    path = Path(name).expanduser()
    if path.exists():
        return _load_path(path, path.stem if path.is_file() else path.name, source=str(path))
    key = canonical(name)
    folders = _model_folders()
    if key in folders:
        where = "assets" if folders[key].parent.parent == assets_dir() else "cache"
        return _load_path(folders[key], key, source=f"{where}:{folders[key]}")
    if key in KARPATHY:
        return _load_karpathy(key)
    if key in SHAPES:
        return _load_ronen(key)
    if "/" in name and not name.startswith((".", "/", "~")) and name.count("/") == 1:
        from capgym.models.hf import load_hf

        return load_hf(name)
    known = [e.name for e in list_models()] + [f"random:{n}" for n in SHAPES]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ModelNotFound(f"unknown model {name!r}; {hint}run `capgym models` to list names")


def _folder_entry(name: str, folder: Path, where: str) -> ModelEntry:
    if (folder / "config.json").is_file():
        return ModelEntry(name, None, "transformers", "hf", f"{where}:{folder}")
    try:
        checkpoint, tokenizer = _pick_files(folder)
        header = read_header(checkpoint)
    except CapgymError as err:
        return ModelEntry(name, None, f"unreadable ({err})", "?", f"{where}:{folder}")
    cfg = header.cfg
    if header.format == "bitllama-v1":
        n = (
            cfg.vocab_size * cfg.dim
            + cfg.dim
            + cfg.n_layers
            * (2 * cfg.dim * cfg.dim + 2 * cfg.kv_dim * cfg.dim + 3 * cfg.hidden_dim * cfg.dim)
        )
        arch = "bitllama2.c ternary Llama"
    else:
        n = expected_bytes(cfg, "llama2c-v1") // 4  # v1 holds exactly the parameters
        arch = "llama2.c Llama"
    arch += f" (dim {cfg.dim}, {cfg.n_layers} layers, context {cfg.max_seq_len})"
    return ModelEntry(name, n, arch, tokenizer.name, f"{where}:{folder}")


def list_models() -> list[ModelEntry]:
    """Every name :func:`load_model` knows without a path (``random:<name>`` aside).

    >>> isinstance(list_models(), list)
    True
    """
    entries: list[ModelEntry] = []
    root = assets_dir()
    for name, folder in _model_folders().items():
        where = "assets" if root is not None and folder.parent.parent == root else "cache"
        entries.append(_folder_entry(name, folder, where))
    local = {e.name for e in entries}
    for name, (filename, tok, n) in KARPATHY.items():
        if name not in local:
            tok_name = Path(tok).name if tok else "llama2.c tokenizer.bin (32000)"
            source = f"hub:karpathy/tinyllamas/{filename}"
            entries.append(ModelEntry(name, n, "llama2.c Llama", tok_name, source))
    for name, n in PUBLISHED_PARAMS.items():
        if name not in local:
            hidden, layers = SHAPES[name]
            arch = f"GPT-Neo (hidden {hidden}, {layers} layers)"
            entries.append(ModelEntry(name, n, arch, "GPT-2 BPE (50257)", f"hub:roneneldan/{name}"))
    return entries
