"""The registry, user tagger files, and how tag() reports misbehaving taggers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from capgym.errors import TaggerError, UsageError
from capgym.store.schema import TAGS
from capgym.tags import (
    Span,
    TagContext,
    get_tagger,
    load_user_taggers,
    pattern_tagger,
    registered_taggers,
    tag,
    tag_warnings,
    tagger,
)
from capgym.tags.registry import unregister

FAMILIES = [
    "character-tracking",
    "closing-quote",
    "common-phrase",
    "dialogue-name",
    "formatting",
    "plural-singular",
    "pronoun",
    "repeated-name",
    "repeated-noun",
    "semantic-association",
    "story-closing",
    "story-opening",
    "story-structure",
    "word-completion",
]


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Names to unregister after the test."""
    names: list[str] = []
    yield names
    for n in names:
        unregister(n)


def stories(*texts: str) -> pd.DataFrame:
    return pd.DataFrame({"corpus": "c", "story": range(len(texts)), "text": list(texts)})


def test_every_family_is_registered_with_a_docstring() -> None:
    taggers = {t.name: t for t in registered_taggers()}
    assert set(FAMILIES) <= set(taggers)
    for name in FAMILIES:
        assert taggers[name].doc.startswith(f"{name}: "), name
        assert "Span" in taggers[name].doc, name  # each doc defines its span


def test_decorator_and_pattern_tagger(cleanup: list[str]) -> None:
    @tagger("bang-test")
    def bang(text: str, ctx: TagContext) -> list[Span]:
        """Every "!"."""
        return [Span(i, i + 1) for i, ch in enumerate(text) if ch == "!"]

    cleanup += ["bang-test", "said-test"]
    assert get_tagger("bang-test").doc == 'Every "!".'
    pattern_tagger("said-test", r"said (?P<who>[A-Z]\w+)", group="who", doc="speaker")
    got = list(get_tagger("said-test").fn("Hi, said Tom.", TagContext()))
    assert got == [Span(9, 12, {"match": "Tom", "who": "Tom"})]


def test_bad_names_and_clashes_are_refused(cleanup: list[str]) -> None:
    with pytest.raises(TaggerError, match="bad tagger name"):
        pattern_tagger("Bad Name", "x")
    cleanup.append("clash-test")
    pattern_tagger("clash-test", "x")

    def other(text: str, ctx: TagContext) -> list[Span]:
        return []

    other.__module__ = "another_module"
    with pytest.raises(TaggerError, match="already registered"):
        tagger("clash-test")(other)
    with pytest.raises(TaggerError, match="unknown tagger 'nope'"):
        get_tagger("nope")


def test_user_tagger_file_is_picked_up_by_tag(tmp_path: Path, cleanup: list[str]) -> None:
    f = tmp_path / "my_taggers.py"
    f.write_text(
        "from capgym.tags import Span, tagger\n"
        "@tagger('question-user')\n"
        "def q(text, ctx):\n"
        "    '''Every question mark.'''\n"
        "    return [Span(i, i + 1, {'n': 1}) for i, c in enumerate(text) if c == '?']\n"
    )
    cleanup.append("question-user")
    table = tag(stories("Why? How?"), taggers=["question-user"], user_taggers=[f])
    assert table.column("char_start").to_pylist() == [3, 8]
    assert table.column("attrs").to_pylist() == ['{"n": 1}', '{"n": 1}']
    assert load_user_taggers(tmp_path) == ["question-user"]  # a folder works too


def test_broken_user_tagger_file_is_one_line_naming_file_and_error(tmp_path: Path) -> None:
    f = tmp_path / "broken.py"
    f.write_text("import capgym\nraise ValueError('oops\\nsecond line')\n")
    with pytest.raises(TaggerError) as err:
        load_user_taggers(f)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(f) in msg and "ValueError: oops second line" in msg
    (tmp_path / "syntax.py").write_text("def (:\n")
    with pytest.raises(TaggerError, match="syntax.py: SyntaxError"):
        load_user_taggers(tmp_path / "syntax.py")
    with pytest.raises(TaggerError, match="does not exist"):
        load_user_taggers(tmp_path / "missing.py")


def test_misbehaving_taggers_are_reported_and_others_kept(
    cleanup: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    @tagger("raises-test")
    def raises(text: str, ctx: TagContext) -> list[Span]:
        if "boom" in text:
            raise RuntimeError("boom happened")
        return [Span(0, 1)]

    @tagger("outside-test")
    def outside(text: str, ctx: TagContext) -> list[Span]:
        return [Span(0, 1), Span(len(text) - 1, len(text) + 5)]

    @tagger("badattrs-test")
    def badattrs(text: str, ctx: TagContext) -> list[Span]:
        return [Span(0, 1, {"x": object()})]

    cleanup += ["raises-test", "outside-test", "badattrs-test"]
    names = ["raises-test", "outside-test", "badattrs-test", "closing-quote"]
    with caplog.at_level(logging.WARNING, logger="capgym.tags"):
        table = tag(stories('"Hi," he said.', "a boom"), taggers=names)
    warns = {(w.tagger, w.story): w.message for w in tag_warnings(table)}
    assert warns[("raises-test", 1)] == "raised RuntimeError: boom happened"
    assert warns[("outside-test", 0)] == "span [13, 19) outside the story (length 14)"
    assert warns[("outside-test", 1)] == "span [5, 11) outside the story (length 6)"
    assert warns[("badattrs-test", 0)].startswith("attrs of span [0, 1) are not JSON")
    assert "tagger 'raises-test' on story c/1: raised RuntimeError" in caplog.text
    rows = table.to_pylist()
    kept = {(r["capability"], r["story"], r["char_start"]) for r in rows}
    assert kept == {
        ("raises-test", 0, 0),
        ("outside-test", 0, 0),
        ("outside-test", 1, 0),
        ("closing-quote", 0, 4),
    }


def test_tag_table_schema_sorting_and_arguments() -> None:
    table = tag(stories('"Go!" said Sam. Sam ran.', "Once upon a time."), taggers=None)
    assert table.schema.equals(TAGS)
    keys = [(r["story"], r["char_start"], r["capability"]) for r in table.to_pylist()]
    assert keys == sorted(keys)
    assert {r["capability"] for r in table.to_pylist()} >= {"closing-quote", "story-opening"}
    assert all(isinstance(json.loads(a), dict) for a in table.column("attrs").to_pylist())
    assert tag(stories(), taggers=["closing-quote"]).num_rows == 0
    with pytest.raises(UsageError, match="text"):
        tag(pd.DataFrame({"corpus": ["c"], "story": [0]}))
    with pytest.raises(TaggerError, match="unknown tagger"):
        tag(stories("x"), taggers=["no-such-tagger"])


def test_reference_texts_are_used_for_corpus_knowledge() -> None:
    ref = ["A girl named Zuri had a kite. Zuri ran with the kite."] * 3
    table = tag(stories("Zuri had a kite. Zuri flew it."), ["repeated-name"], reference_texts=ref)
    assert table.num_rows == 1
    assert tag(stories("Zuri had a kite. Zuri flew it."), ["repeated-name"]).num_rows == 1
