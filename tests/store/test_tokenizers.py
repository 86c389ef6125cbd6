"""``same_tokenizer``: one rule for every stage that compares two models token by token."""

from __future__ import annotations

from pathlib import Path

from capgym.store.tokenizers import same_tokenizer
from tests.explain.synth import add_scores, new_run, pieces, score_rows

TEXT = "Lily saw a kite. Lily saw it."


def _run(tmp_path: Path, hash_a: str, hash_b: str, respell: bool):  # type: ignore[no-untyped-def]
    run = new_run(tmp_path / "run", "c", [TEXT])
    vocab: dict[str, int] = {}
    add_scores(run, "A", "c", score_rows("A", "c", 0, pieces(TEXT), vocab, lambda p, _: (.5, 0)),
               hash_a)  # fmt: skip
    other = {**vocab, " it": 999} if respell else vocab
    add_scores(run, "B", "c", score_rows("B", "c", 0, pieces(TEXT), other, lambda p, _: (.5, 0)),
               hash_b)  # fmt: skip
    return run


def test_recorded_hashes_decide(tmp_path: Path) -> None:
    # equal hashes win even over differing ids, different hashes even over equal ids
    assert same_tokenizer(_run(tmp_path / "1", "h", "h", respell=True), "A", "B")
    assert not same_tokenizer(_run(tmp_path / "2", "h", "g", respell=False), "A", "B", ["c"])


def test_without_a_hash_the_stored_ids_decide(tmp_path: Path) -> None:
    same = _run(tmp_path / "1", "", "", respell=False)
    assert same_tokenizer(same, "A", "B") and same_tokenizer(same, "A", "B", ["c"])
    differ = _run(tmp_path / "2", "", "", respell=True)  # one position's id differs
    assert not same_tokenizer(differ, "A", "B")
    assert same_tokenizer(differ, "A", "B", ["other"])  # no position of that corpus differs
