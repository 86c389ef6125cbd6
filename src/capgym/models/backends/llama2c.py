"""llama2.c and bitllama2.c checkpoints: local ``.bin`` files, and Karpathy's on the Hub.

A folder holds one checkpoint ``.bin`` and its tokenizer (``tok*.bin``, ``tokenizer.bin``
or a SentencePiece ``.model``; the one whose vocabulary matches the checkpoint, a
``.model`` first: llama2.c pretokenised its data with SentencePiece, and babyllama
scores 0.555 vs 0.577 nats/token).  Karpathy's 15M/42M/110M use llama2.c's
32000-token ``tokenizer.bin``, which is not on the Hub: put it (from
github.com/karpathy/llama2.c) in the model's folder or at
``$CAPGYM_CACHE/tokenizers/llama2c/tokenizer.bin``.

>>> Llama2c().knows("stories15M"), Llama2c().knows("gpt2")
(True, False)
"""

from __future__ import annotations

from pathlib import Path

from capgym.assets import assets_dir, cache_dir
from capgym.errors import AssetNotFound, CapgymError, ModelNotFound
from capgym.models.base import LanguageModel
from capgym.models.llama2c import expected_bytes, load_llama2c, load_tokenizer, read_header
from capgym.models.registry import Backend, ModelEntry, backend

# name -> (file in karpathy/tinyllamas, tokenizer file there or None, parameters)
KARPATHY: dict[str, tuple[str, str | None, int]] = {
    "stories260K": ("stories260K/stories260K.bin", "stories260K/tok512.bin", 260_032),
    "stories15M": ("stories15M.bin", None, 15_191_712),
    "stories42M": ("stories42M.bin", None, 41_689_600),
    "stories110M": ("stories110M.bin", None, 109_529_856),
}
# shapes as published in llama2.c's README (for listings; the header is what loads)
KARPATHY_SHAPES: dict[str, str] = {
    "stories260K": "dim 64, 5 layers, 8 heads, 4 kv-heads, context 512",
    "stories15M": "dim 288, 6 layers, 6 heads, context 256",
    "stories42M": "dim 512, 8 layers, 8 heads, context 1024",
    "stories110M": "dim 768, 12 layers, 12 heads, context 1024",
}
_FIX = "set CAPGYM_ASSETS, pass a local path, or connect to the internet"


def pick_files(folder: Path, checkpoint: Path | None = None) -> tuple[Path, Path]:
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


def _hub_file(repo: str, filename: str) -> Path:
    """A file of a Hub repo through huggingface_hub's cache; offline & absent -> AssetNotFound."""
    from huggingface_hub import hf_hub_download

    from capgym.models.hf import hub_offline

    try:
        return Path(hf_hub_download(repo, filename, local_files_only=hub_offline()))
    except Exception as err:  # huggingface_hub raises many unrelated types when offline
        raise AssetNotFound(f"{repo}/{filename} is not available offline; {_FIX}") from err


@backend
class Llama2c(Backend):
    """llama2.c (legacy v0, "ak42" v1) and bitllama2.c checkpoints."""

    name = "llama2c"
    order = 20

    def reads(self, path: Path) -> bool:
        if path.is_file():
            return path.suffix == ".bin" and not path.name.startswith("tok")
        return not (path / "config.json").is_file() and any(path.glob("*.bin"))

    def load_path(self, path: Path, name: str, source: str) -> LanguageModel:
        checkpoint, tok = pick_files(path) if path.is_dir() else pick_files(path.parent, path)
        return load_llama2c(checkpoint, tok, name=name, source=source)

    def describe(self, path: Path, name: str, source: str) -> ModelEntry:
        checkpoint, tok = pick_files(path) if path.is_dir() else pick_files(path.parent, path)
        header = read_header(checkpoint)
        cfg = header.cfg
        if header.format == "bitllama-v1":
            n = (
                cfg.vocab_size * cfg.dim
                + cfg.dim
                + cfg.n_layers
                * (2 * cfg.dim * cfg.dim + 2 * cfg.kv_dim * cfg.dim + 3 * cfg.hidden_dim * cfg.dim)
            )
            arch = "bitllama2.c"
        else:
            n = expected_bytes(cfg, "llama2c-v1") // 4  # v1 holds exactly the parameters
            arch = "llama2.c Llama"
        details = (
            f"dim {cfg.dim}, {cfg.n_layers} layers, {cfg.n_heads} heads, "
            f"{cfg.n_kv_heads} kv-heads, hidden {cfg.hidden_dim}, context {cfg.max_seq_len}, "
            f"{header.format}, {'tied' if cfg.tied else 'separate'} classifier"
        )
        return ModelEntry(name, n, arch, tok.name, source, details=details)

    def knows(self, name: str) -> bool:
        return name in KARPATHY

    def load_name(self, name: str) -> LanguageModel:
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
                    f"{name} needs llama2.c's 32000-token tokenizer.bin "
                    f"(github.com/karpathy/llama2.c); put it at {candidates[0]}"
                )
        checkpoint = _hub_file("karpathy/tinyllamas", filename)
        if tokenizer is None:
            tokenizer = _hub_file("karpathy/tinyllamas", str(tok_name))
        return load_llama2c(
            checkpoint, tokenizer, name=name, source=f"hub:karpathy/tinyllamas/{filename}"
        )

    def entries(self) -> list[ModelEntry]:
        rows = []
        for name, (filename, tok, n) in KARPATHY.items():
            tok_name = Path(tok).name if tok else "llama2.c tokenizer.bin (32000)"
            source = f"hub:karpathy/tinyllamas/{filename}"
            details = KARPATHY_SHAPES[name]
            rows.append(ModelEntry(name, n, "llama2.c Llama", tok_name, source, details=details))
        return rows
