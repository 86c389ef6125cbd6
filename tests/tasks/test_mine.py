"""Mined examples: prompt = story up to the span, answer = the span, plausible wrongs."""

from __future__ import annotations

import json

import pandas as pd

from capgym.tasks import make
from capgym.tasks.mine import mine_examples

TEXT = "Sara had a cat. Ben came over. Sara gave the cat to Ben. She smiled."


def _tags() -> pd.DataFrame:
    rows = []
    for cap, word, nth in [("repeated-name", "Sara", 1), ("repeated-name", "Ben", 1),
                           ("pronoun", "She", 0), ("repeated-name", "Sara", 0),
                           ("repeated-name", "Ben", 0)]:  # fmt: skip
        start = [i for i in range(len(TEXT)) if TEXT.startswith(word, i)][nth]
        rows.append({"corpus": "c", "story": 7, "char_start": start, "char_end": start + len(word),
                     "capability": cap, "attrs": json.dumps({"distance": 3})})  # fmt: skip
    return pd.DataFrame(rows)


STORIES = pd.DataFrame({"corpus": ["c"], "story": [7], "text": [TEXT]})


def test_mined_names_have_other_names_as_wrong_answers() -> None:
    exs = mine_examples(
        {"capability": "repeated-name", "wrong": "other-name"}, STORIES, _tags(), "t"
    )
    by_answer = {e.answer: e for e in exs}
    sara = by_answer[" Sara"]
    assert sara.prompt == "Sara had a cat. Ben came over." and sara.wrong == (" Ben",)
    assert sara.meta["source"] == "mined" and sara.meta["story"] == 7
    assert sara.meta["tag.distance"] == 3


def test_mined_pronoun_gets_the_other_gender() -> None:
    (ex,) = mine_examples(
        {"capability": "pronoun", "wrong": "other-pronoun"}, STORIES, _tags(), "t"
    )
    assert ex.answer == " She" and ex.wrong == (" He",)
    assert TEXT.startswith(ex.prompt + ex.answer)


def test_make_with_a_corpus_adds_mined_examples() -> None:
    task = make("pronoun", n=5, perturb=False, corpus=STORIES, tags=_tags())
    sources = {e.meta["source"] for e in task.examples}
    assert sources == {"template", "mined"}


def test_make_with_real_taggers() -> None:
    stories = pd.DataFrame({"corpus": "c", "story": [0, 1], "text": [
        "Once upon a time, there was a girl named Lily. Lily had a red ball. She loved it.",
        "Tom and Sue went to the park. Tom gave Sue a flower. Sue said, \"Thank you, Tom.\"",
    ]})  # fmt: skip
    task = make("repeated-name", n=5, perturb=False, corpus=stories)
    mined = [e for e in task.examples if e.meta["source"] == "mined"]
    assert mined, "the repeated-name tagger should find Lily, Tom or Sue"
    for e in mined:
        text = stories.text[e.meta["story"]]
        assert text.startswith(e.prompt + e.answer) and e.wrong


def test_mined_caps_the_number_of_mined_examples() -> None:
    stories = pd.DataFrame({"corpus": "c", "story": [0, 1], "text": [
        ("Once upon a time, there was a girl named Lily. Lily had a red ball. Lily loved it. "
         "Lily threw it to Tom. Tom threw it back to Lily. Tom and Lily laughed. "
         "\"Thank you, Tom!\" said Lily. Then Tom and Lily ran home. Tom and Lily slept."),
        "Tom and Sue went to the park. Tom gave Sue a flower. Sue said, \"Thank you, Tom.\"",
    ]})  # fmt: skip

    def n_mined(**kw: int) -> int:
        task = make("repeated-name", n=5, perturb=False, corpus=stories, **kw)
        return sum(e.meta["source"] == "mined" for e in task.examples)

    everything = n_mined()
    assert everything > 2
    assert n_mined(mined=2) == 2 and n_mined(mined=0) == 0
    assert n_mined(mined=everything + 10) == everything


def test_mining_tags_a_corpus_as_the_tags_stage_tags_a_run(tmp_path, assets) -> None:  # type: ignore[no-untyped-def]
    from capgym.corpus import load_corpus
    from capgym.store import open_run
    from capgym.tags.store import tag_corpus
    from capgym.tasks.registry import corpus_tags

    corpus = load_corpus("tinystories-validation-0-999", limit=30)
    run = open_run(tmp_path / "run")
    run.add_stories(corpus.name, corpus.ids, corpus.texts)
    tag_corpus(run, corpus.name)
    cols = ["corpus", "story", "char_start", "char_end", "capability", "attrs"]
    stored = run.sql("SELECT * FROM tags")[cols].sort_values(cols).reset_index(drop=True)
    _, mined_from = corpus_tags(corpus)
    mined_from = mined_from[cols].sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, mined_from, check_dtype=False)


def test_evaluate_mines_from_given_tags_without_tagging(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from capgym.evaluate import EvalSettings, evaluate
    from capgym.tasks import registry

    from ..tasks.toy import BigramLM

    def refuse(*_: object) -> None:
        raise AssertionError("the corpus was tagged again")

    monkeypatch.setattr(registry, "corpus_tags", refuse)
    rep = evaluate(BigramLM(), ["pronoun"], n=3, corpus=STORIES, tags=_tags(),
                   settings=EvalSettings(n_boot=10), progress=False)  # fmt: skip
    assert "mined" in set(rep.results.meta.astype(str).str.extract(r'"source": "(\w+)"')[0])


def _one_tag(text: str, word: str, cap: str, nth: int = 0) -> pd.DataFrame:
    start = [i for i in range(len(text)) if text.startswith(word, i)][nth]
    return pd.DataFrame([{"corpus": "c", "story": 1, "char_start": start,
                          "char_end": start + len(word), "capability": cap, "attrs": "{}"}])  # fmt: skip


def test_mined_plural_singular_gets_the_other_number_with_a_decision_token() -> None:
    text = "Tom saw three zebras. Then he saw a unique zebra. It ran."
    stories = pd.DataFrame({"corpus": ["c"], "story": [1], "text": [text]})
    (ex,) = mine_examples({"capability": "plural-singular", "wrong": "other-number"}, stories,
                          _one_tag(text, "zebra", "plural-singular", 1), "t")  # fmt: skip
    # both run on to the following punctuation: " zebra" + "s" then differs from "."
    assert ex.prompt == "Tom saw three zebras. Then he saw a unique"
    assert (ex.answer, ex.wrong) == (" zebra.", (" zebras.",))


def test_mined_semantic_association_gets_an_unrelated_noun_after_a_determiner() -> None:
    text = "Lily went to the beach. She played in the sand all day. Sand is fun."
    stories = pd.DataFrame({"corpus": ["c"], "story": [1], "text": [text]})
    spec = {"capability": "semantic-association", "wrong": "unrelated-noun"}
    (ex,) = mine_examples(spec, stories, _one_tag(text, "sand", "semantic-association"), "t")
    (w,) = ex.wrong
    assert ex.answer == " sand" and w.startswith(" ") and w.strip().lower() not in text.lower()
    after_verb = _one_tag(text, "played", "semantic-association")  # not after a determiner
    assert mine_examples(spec, stories, after_verb, "t") == []


def test_builtin_mined_tasks_all_have_wrong_answers() -> None:
    text = "Tom had two cats. One cat was black. Tom went to the park and ate a cake."
    stories = pd.DataFrame({"corpus": ["c"], "story": [1], "text": [text]})
    tags = pd.concat([_one_tag(text, "cat", "plural-singular", 1),
                      _one_tag(text, "park", "semantic-association")])  # fmt: skip
    for task in ("plural-singular", "semantic-association"):
        t = make(task, n=2, perturb=False, corpus=stories, tags=tags)
        mined = [e for e in t.examples if e.meta["source"] == "mined"]
        assert mined and all(e.wrong for e in mined), task


def _mine_names(text: str, capability: str, spans: list[tuple[int, int]]) -> list:
    """Mine one toy story whose ``capability`` tags sit at ``spans`` (other-name wrongs)."""
    tags = pd.DataFrame({"corpus": "c", "story": 0, "capability": capability,
                         "char_start": [a for a, _ in spans], "char_end": [b for _, b in spans],
                         "attrs": "{}"})  # fmt: skip
    stories = pd.DataFrame({"corpus": ["c"], "story": [0], "text": [text]})
    return mine_examples({"capability": capability, "wrong": "other-name"}, stories, tags, "t")


def test_mined_names_never_use_a_pronoun_as_a_name() -> None:
    # character-tracking tags mark pronouns too: neither answer nor wrong may be one
    exs = _mine_names("Tim met Sue. She had a ball. Then Tim saw her. Sue", "character-tracking",
                      [(0, 3), (8, 11), (13, 16), (34, 37), (47, 50)])  # fmt: skip
    assert [(e.answer, e.wrong) for e in exs] == [
        (" Sue", (" Tim",)),
        (" Tim", (" Sue",)),
        (" Sue", (" Tim",)),
    ]


def test_mined_wrong_names_are_not_the_answer_in_another_case() -> None:
    exs = _mine_names("Mom met Sue. Then mom saw Sue. Mom", "repeated-name",
                      [(0, 3), (8, 11), (18, 21), (26, 29), (31, 34)])  # fmt: skip
    assert [(e.answer, e.wrong) for e in exs][-1] == (" Mom", (" Sue",))
