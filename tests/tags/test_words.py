"""Words, word classes, quotations and character mentions (shared with other stages)."""

from __future__ import annotations

from capgym.tags import TagContext
from capgym.tags.doc import Doc, find_quotes
from capgym.tags.words import WordContext, singular, tokenize_words, word_class


def test_tokenize_words_offsets_and_apostrophes() -> None:
    text = "Tom’s mom didn't see 3 cats—no!"
    words = tokenize_words(text)
    assert [w for _, _, w in words] == ["Tom’s", "mom", "didn't", "see", "3", "cats", "no"]
    assert all(text[s:e] == w for s, e, w in words)


def test_word_class() -> None:
    assert word_class("She") == "pronoun"
    assert word_class("the") == "determiner"
    assert word_class("under") == "preposition"
    assert word_class("wasn't") == "auxiliary"
    assert word_class("Mom") == "family"
    assert word_class("Zuri", WordContext(sentence_initial=False)) == "name"
    assert word_class("Zuri", WordContext(sentence_initial=True)) == "other"
    assert word_class("zuri", WordContext(names=frozenset({"zuri"}))) == "name"
    assert word_class("kite", WordContext(nouns=frozenset({"kite"}))) == "noun"
    assert word_class("7") == "number"


def test_singular() -> None:
    pairs = {"puppies": "puppy", "boxes": "box", "leaves": "leaf", "shoes": "shoe", "bus": "bus"}
    assert {w: singular(w) for w in pairs} == pairs


def test_find_quotes_pairs_and_recovers() -> None:
    assert find_quotes('"Hi," he said. "Bye!"') == [(0, 4), (15, 20)]
    assert find_quotes("“Hi!” she said.") == [(0, 4)]
    assert find_quotes('go," he said. "Yes!"') == [(14, 19)]  # a story cut mid-quotation
    assert find_quotes('"Unclosed\n"Next."') == [(10, 16)]  # newline abandons a quotation


def test_doc_sentences_quotes_and_mentions() -> None:
    doc = Doc.build('Mr. Brown met Ann. "Hi, Ann!" Ann\'s dog ran.', names=frozenset({"ann"}))
    assert doc.sent_id == [0, 0, 0, 0, 1, 1, 2, 2, 2]
    assert doc.quote_of == [-1, -1, -1, -1, 0, 0, -1, -1, -1]
    assert doc.quote_start[4] and not doc.quote_start[5]
    assert [(m.key, doc.text[m.start : m.end]) for m in doc.mentions] == [
        ("Mr Brown", "Mr. Brown"),
        ("Ann", "Ann"),
        ("Ann", "Ann"),
        ("Ann", "Ann"),
    ]


def test_doc_names_from_story_evidence_alone() -> None:
    ctx = TagContext()
    keys = [m.key for m in ctx.doc("A dog named Rex ran. Then Rex sat. Sun was hot.").mentions]
    assert keys == ["Rex", "Rex"]
    keys = [m.key for m in ctx.doc("Kiko ran. Kiko sat.").mentions]  # only sentence-initial
    assert keys == ["Kiko", "Kiko"]


def test_context_lexicons(ctx: TagContext) -> None:
    assert {"mia", "ben", "tiger"} <= ctx.names
    assert {"kite", "ball", "shell"} <= ctx.nouns and "kicked" not in ctx.nouns
    assert ctx.gender_of("Zara") == "f" and ctx.gender_of("Omar") == "m"
    assert ctx.phrases[("hide", "and")].word == "seek"
