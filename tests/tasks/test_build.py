"""The prompt/answer token boundary: re-split or reject merges; every real tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from capgym.errors import TaskError
from capgym.models.base import Encoding
from capgym.tasks import Example, build_example, list_tasks, make
from capgym.tasks.build import NotApplicable

from .toy import BigramLM

LM = BigramLM()


def build(prompt: str, answer: str, wrong: tuple[str, ...] = (), **kw: object):  # type: ignore[no-untyped-def]
    return build_example(LM.encode, Example("e1", prompt, answer, wrong), "demo",
                         unk_id=0, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_clean_boundary() -> None:
    b = build("I saw", " Sue", (" Tom",))
    assert b.prompt_ids == LM.encode("I saw").ids and b.resplit == ""
    assert b.answer_ids == [LM.tokenizer.lookup[" Sue"]]
    assert b.wrong_ids == [[LM.tokenizer.lookup[" Tom"]]]


def test_trailing_space_moves_into_the_answer() -> None:
    b = build("We went to the ", "park", ("zoo",))
    assert b.resplit == " "
    assert b.prompt_ids == LM.encode("We went to the").ids
    assert b.answer_ids == [LM.tokenizer.lookup[" park"]]
    assert LM.tokenizer.decode(b.wrong_ids[0]) == " zoo"


def test_punctuation_merge_moves_into_every_answer() -> None:
    b = build('He said, "I like it.', '"', (" It",))
    assert b.resplit == "."
    assert b.answer_ids == [LM.tokenizer.lookup['."']]
    assert LM.tokenizer.decode(b.wrong_ids[0]) == ". It"


def test_merge_inside_a_word_is_rejected() -> None:
    with pytest.raises(TaskError, match=r"^task demo example e1: the answer's first token merges"):
        build("A big rhi", "no")


def test_unencodable_answer_is_rejected() -> None:
    with pytest.raises(TaskError, match=r"^task demo example e1: .*cannot encode ' ~tilde'"):
        build("I saw a", " ~tilde")


def test_word_rest_and_truncation() -> None:
    b = build("I saw a", " cat", target="word-rest")
    assert LM.tokenizer.decode(b.answer_ids) == "cat" and b.wrong_ids == []
    with pytest.raises(NotApplicable):
        build("I saw", " Tom", target="word-rest")
    long = build("x " * 100 + "I saw", " Sue", context_len=20)
    assert len(long.prompt_ids) + 1 == 20 and long.prompt_ids[0] == 1 and long.truncated > 0


def test_build_errors_are_collected_per_example() -> None:
    from capgym.tasks import Task

    task = Task("demo", "demo", [Example("ok", "I saw", " Sue"), Example("bad", "A rhi", "no")])
    built, errors, skipped = task.build(LM)
    assert [b.example_id for b in built] == ["ok"] and skipped == 0
    assert [str(e).split(":")[0] for e in errors] == ["task demo example bad"]


def _encoders(assets: Path) -> dict[str, object]:
    from capgym.models.llama2c import load_tokenizer

    out: dict[str, object] = {}
    for name in (
        "stories260K/tok512.bin",
        "babyllama-936K/tok105.bin",
        "babyllama-936K/tok105.model",
    ):
        out[name] = load_tokenizer(assets / "models" / name)
    try:
        from capgym.models.hf import HFTokenizer
    except ImportError:  # transformers missing: test the others
        return out
    out["gpt2"] = HFTokenizer.from_pretrained(assets / "tokenizers/gpt2")
    return out


def test_boundary_on_every_shared_tokenizer(assets: Path) -> None:
    """Every built-in example builds on every tokenizer, and the answer ids are exactly the
    tokens after the prompt in the jointly encoded text."""
    tasks = [make(t, n=20, seed=1) for t in list_tasks().id]
    for name, tok in _encoders(assets).items():
        bos = tok.bos_id if tok.bos_id is not None else getattr(tok, "eos_id", None)

        def encode(text: str, tok=tok, bos=bos) -> Encoding:  # type: ignore[no-untyped-def]
            enc = tok.encode(text)
            return Encoding([bos, *enc.ids], [(0, 0), *enc.spans])

        unk = 0 if name != "gpt2" else None
        for task in tasks:
            for ex in task.examples:
                try:
                    b = build_example(encode, ex, task.id, target=task.target, unk_id=unk)
                except NotApplicable:
                    continue
                cut = len(ex.prompt) - len(b.resplit)
                joint = encode(ex.prompt[:cut] + b.resplit + ex.answer).ids
                if task.target == "answer":
                    assert joint == b.prompt_ids + b.answer_ids, (name, task.id, ex.id)
                    assert b.prompt_ids == encode(ex.prompt[:cut]).ids
                else:
                    assert joint[len(b.prompt_ids) :] == b.answer_ids
