"""The reference's tokenizer: a caller's loaded one is used, a loaded one is kept, so no
model is loaded twice (``capgym run`` scores, then explains, each model)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from capgym.errors import UsageError
from capgym.explain import explain
from capgym.explain.reference import _loaded_tokenizer
from capgym.store import RunStore
from tests.explain.synth import add_scores, new_run, pieces, score_rows
from tests.spine.toy import CharTokenizer

TEXT = "Lily saw a kite. Lily saw it."


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    _loaded_tokenizer.cache_clear()
    yield
    _loaded_tokenizer.cache_clear()  # never leak a fake tokenizer into other tests


def char_run(tmp_path: Path) -> tuple[RunStore, str]:
    """A run scored by 'A' with the byte tokenizer, and a one-story reference corpus."""
    run = new_run(tmp_path / "run", "c", [TEXT])
    toks = [(i, i + 1, ch) for i, ch in enumerate(TEXT)]
    rows = score_rows("A", "c", 0, toks, {}, lambda p, _: (0.9, 0))
    for r in rows:
        r["token_id"] = ord(str(r["token"])) + 3  # CharTokenizer's ids
    add_scores(run, "A", "c", rows, tokenizer_hash=CharTokenizer().content_hash)
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"idx": 0, "text": "Lily saw a kite."}) + "\n")
    return run, str(ref)


def count_loads(monkeypatch: pytest.MonkeyPatch, real: bool = False) -> Counter[str]:
    import capgym.models

    calls: Counter[str] = Counter()
    original = capgym.models.load_model

    def load(name: str, *args: Any, **kw: Any) -> Any:
        calls[name] += 1
        return original(name, *args, **kw) if real else SimpleNamespace(tokenizer=CharTokenizer())

    monkeypatch.setattr(capgym.models, "load_model", load)
    return calls


def test_given_tokenizer_loads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, ref = char_run(tmp_path)
    calls = count_loads(monkeypatch)
    r = explain(run, "A", reference=ref, min_count=1, tags=False, tokenizer=CharTokenizer())
    assert not calls
    fired = set(run.sql("SELECT DISTINCT explainer FROM explains").explainer)
    assert {"unigram", "bigram", "trigram"} <= fired and r.coverage > 0


def test_wrong_tokenizer_is_refused(tmp_path: Path) -> None:
    _, ref = char_run(tmp_path)
    run = new_run(tmp_path / "other", "c", [TEXT])
    add_scores(run, "A", "c", score_rows("A", "c", 0, pieces(TEXT), {}, lambda p, _: (0.9, 0)))
    with pytest.raises(UsageError, match="not the one it was scored with"):
        explain(run, "A", reference=ref, tags=False, tokenizer=CharTokenizer())


def test_loaded_tokenizer_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, ref = char_run(tmp_path)
    calls = count_loads(monkeypatch)
    explain(run, "A", reference=ref, min_count=1, tags=False)
    explain(run, "A", reference=ref, min_count=2, tags=False)  # a new reference: tokenized again
    assert calls == {"A": 1}


def test_run_loads_each_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, assets: Path
) -> None:
    from capgym.pipeline import run_main
    from tests.cli import capgym

    calls = count_loads(monkeypatch, real=True)
    out = tmp_path / "run"
    run_main(["stories260K"], "tinystories-validation-0-999", out, limit=2, progress=False,
             evaluate=False)  # fmt: skip
    assert calls == {"stories260K": 1}
    from capgym.store import open_run

    stored = open_run(out).sql("SELECT share FROM coverage WHERE name = 'any'").share[0]
    # the CLI, given only the run folder, loads the tokenizer itself and agrees
    res = capgym("explain", "--model", "stories260K", "--out", str(out), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["coverage"] == pytest.approx(stored)
