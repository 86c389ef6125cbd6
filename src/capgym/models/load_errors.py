"""One-line explanations of why a Hugging Face model could not be loaded.

Transformers reports a broken local folder and an unknown Hub id alike as an ``OSError``
about internet access; these say what is actually wrong and what to do.

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "config.json").write_text("{")
>>> "not valid JSON" in hf_load_failure(str(d), local=True, offline=True, err=OSError("x"))
True
"""

from __future__ import annotations

import json
from pathlib import Path


def _first_line(err: BaseException) -> str:
    text = " ".join(str(err).split("\n")[0].split())
    return text or type(err).__name__


def _config_problem(folder: Path) -> str | None:
    cfg = folder / "config.json"
    try:
        obj = json.loads(cfg.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        return f"its config.json is not valid JSON ({e.msg}, line {e.lineno} column {e.colno})"
    except (OSError, UnicodeDecodeError) as e:
        return f"its config.json cannot be read ({e})"
    if not isinstance(obj, dict) or "model_type" not in obj:
        return "its config.json has no 'model_type'"
    return None


def _not_found_on_hub(err: BaseException) -> bool:
    try:
        from huggingface_hub.errors import RepositoryNotFoundError
    except ImportError:  # older huggingface_hub
        from huggingface_hub.utils import RepositoryNotFoundError  # type: ignore[no-redef]
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, RepositoryNotFoundError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def hf_load_failure(source: str, local: bool, offline: bool, err: BaseException) -> str:
    """What went wrong loading ``source`` (a folder when ``local``, else a Hub id), and the fix."""
    if local:
        problem = _config_problem(Path(source))
        if problem is not None:
            return f"model folder {source}: {problem}; fix or replace it"
        return (
            f"model folder {source} could not be loaded ({_first_line(err)}); check its "
            "config.json, weights and tokenizer files"
        )
    if offline:
        return (
            f"model {source!r} is not a local path, nor in the local Hugging Face cache, and "
            "HF_HUB_OFFLINE=1 keeps capgym off the internet; check the name (`capgym models`) "
            "or pass a local model folder"
        )
    if _not_found_on_hub(err):
        return (
            f"model {source!r} is not a local path, nor a model on the Hugging Face Hub; "
            "check the name (`capgym models`)"
        )
    return (
        f"model {source!r} is not a local path and could not be downloaded from the Hugging "
        f"Face Hub ({_first_line(err)}); check the network or pass a local model folder"
    )
