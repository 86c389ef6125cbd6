"""The boundary check on tokenizers whose pieces end in a space (``'One▁day,▁'``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capgym.errors import TaskError
from capgym.models.base import Encoding
from capgym.tasks import Example, build_example, make
from capgym.tasks.build import NotApplicable, build_examples, spaces_trail


def trailing_words(text: str) -> Encoding:
    """A toy encoder with one token per word *and the spaces after it*, BOS first."""
    ms = list(re.finditer(r"\s*\S+\s*|\s+", text))
    return Encoding(
        [1] + [hash(m.group()) % 997 + 2 for m in ms], [(0, 0)] + [m.span() for m in ms]
    )


def test_leading_space_of_the_answers_joins_the_prompt() -> None:
    ex = Example("e", "One day,", " Molly", (" Tom",))
    b = build_example(trailing_words, ex, "t")
    assert b.absorbed == " " and b.resplit == ""
    assert b.prompt_ids == trailing_words("One day, ").ids
    assert b.answer_ids == trailing_words("One day, Molly").ids[len(b.prompt_ids) :]
    assert b.wrong_ids == [trailing_words("One day, Tom").ids[len(b.prompt_ids) :]]


def test_answers_without_the_same_leading_space_are_still_refused() -> None:
    with pytest.raises(TaskError, match="merges with the end of the prompt"):
        build_example(trailing_words, Example("e", "One day,", " Molly", ("Tom",)), "t")


def test_tinystories_656k_builds_the_gym(assets: Path) -> None:
    from capgym.models import load_model

    if not (assets / "models" / "TinyStories-656K").is_dir():
        pytest.skip("TinyStories-656K is not in the assets")
    lm = load_model("TinyStories-656K")
    for task_id in ("repeated-name", "pronoun", "dialogue-name", "character-tracking"):
        task = make(task_id, n=60, seed=1)
        built, errors, n_na = build_examples(lm, task.id, task.examples)
        # not applicable: running text has no token boundary before the answer ("picked
        # it▁", ", so he▁" are single pieces); 75 of 156 pronoun examples at this seed
        assert len(built) + n_na >= 0.9 * len(task.examples), (task_id, errors[:2])
        assert len(built) >= 0.45 * len(task.examples), task_id
        examples = {e.id: e for e in task.examples}
        for b in built:
            ex = examples[b.example_id]
            if b.resplit or b.truncated:
                continue
            assert lm.encode(ex.prompt + b.absorbed).ids == b.prompt_ids
            full = ex.prompt + ex.answer + b.appended
            assert lm.encode(full).ids == b.prompt_ids + b.answer_ids


def leading_words(text: str) -> Encoding:
    """A toy encoder with one token per word *and the spaces before it* (SentencePiece)."""
    ms = list(re.finditer(r"\s*\S+|\s+$", text))
    return Encoding([hash(m.group()) % 997 + 2 for m in ms], [m.span() for m in ms])


def test_the_tokenizer_style_is_read_from_the_tokenizer() -> None:
    assert spaces_trail(trailing_words) and not spaces_trail(leading_words)


def test_a_following_space_joins_every_candidate_on_space_final_tokenizers() -> None:
    ex = Example("e", "Lily was hungry, so", " she", (" he",), {"follows": " "})
    b = build_example(trailing_words, ex, "t", space_after=True)
    assert b.appended == " " and b.absorbed == " "
    # the decision pieces are "she " / "he ", the pieces of running text
    assert b.answer_ids == trailing_words("Lily was hungry, so she ").ids[-1:]
    assert b.wrong_ids == [trailing_words("Lily was hungry, so he ").ids[-1:]]
    plain = build_example(trailing_words, ex, "t")  # the flag off: as before
    assert (
        plain.appended == ""
        and plain.answer_ids == trailing_words("Lily was hungry, so she").ids[-1:]
    )
    # no space follows (the story goes on with "."): nothing is appended
    dot = build_example(trailing_words, Example("d", "I saw", " Tom", (" Sue",), {"follows": "."}),
                        "t", space_after=True)  # fmt: skip
    assert dot.appended == ""


def test_a_space_that_merges_into_the_prompt_is_left_out() -> None:
    def merging(text: str) -> Encoding:  # ", so he " is one piece, as in TinyStories-656K
        enc = trailing_words(text)
        k = text.find(", so he ")
        if k < 0:
            return enc
        head = trailing_words(text[:k])
        return Encoding(head.ids + [999], head.spans + [(k, k + 8)])

    ex = Example("e", "Tom was hungry, so", " he", (" she",), {"follows": " "})
    with pytest.raises(NotApplicable, match="no token boundary before the answer"):
        build_example(merging, ex, "t", space_after=True)
    assert build_example(merging, ex, "t").absorbed == " "  # fine at the end of a text
    # a merge that happens without the space too is the example's fault, reported as such
    bad = Example("b", "A big rhi", "no", ("ne",), {"follows": " "})
    with pytest.raises(TaskError, match="merges with the end of the prompt"):
        build_example(trailing_words, bad, "t", space_after=True)


def test_tinystories_656k_decides_on_pieces_of_running_text(assets: Path) -> None:
    from capgym.models import load_model

    if not (assets / "models" / "TinyStories-656K").is_dir():
        pytest.skip("TinyStories-656K is not in the assets")
    lm = load_model("TinyStories-656K")
    assert spaces_trail(lm.encode) and not spaces_trail(load_model("stories260K").encode)
    task = make("closing-quote", n=40, seed=1)
    built, errors, _ = build_examples(lm, task.id, task.examples)
    assert not errors and all(b.appended == " " for b in built)
    for b in built:  # the decision piece is the quote mark with its space ('?"▁', '"▁')
        assert lm.tokenizer.decode(b.answer_ids[b.decision(0) : b.decision(0) + 1]).endswith('" ')


def test_gpt2_and_sentencepiece_tokenizers_get_no_appended_space(assets: Path) -> None:
    from tokenizers import Tokenizer

    from capgym.models import load_model

    gpt2 = Tokenizer.from_file(str(assets / "tokenizers" / "gpt2" / "tokenizer.json"))

    def encode(text: str) -> Encoding:
        enc = gpt2.encode(text)
        return Encoding(list(enc.ids), [tuple(o) for o in enc.offsets])

    assert not spaces_trail(encode)
    assert not spaces_trail(load_model("stories260K").encode)
    # so their example ids are those built without the flag
    ex = Example("e", "Lily was hungry, so", " she", (" he",), {"follows": " "})
    b = build_example(encode, ex, "t", space_after=spaces_trail(encode))
    assert b.appended == "" and b == build_example(encode, ex, "t")
