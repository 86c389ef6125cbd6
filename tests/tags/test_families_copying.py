"""Positive and negative examples for the copying families: word-completion,
repeated-name, repeated-noun, plural-singular, common-phrase, semantic-association."""

from __future__ import annotations

from capgym.tags import TagContext
from tests.tags.conftest import run, texts


def test_word_completion_marks_what_the_prefix_determines() -> None:
    # reference: "elephant" is the only word starting "e", "and" the only one starting
    # "an"; "gi" is girl or give, "gir" is girl 9 times in 10 (girls once)
    ref = ["The elephant and the girl give a gift."] * 9 + ["The girls ate."]
    ctx = TagContext(ref)
    text = "An elephant, a girl and a rhinoceros."
    got = run("word-completion", text, ctx)
    assert [t for t, _ in got] == ["lephant", "l", "d"]
    assert got[0][1] == {"word": "elephant", "prefix": "e", "prob": 1.0, "count": 9}
    assert got[1][1] == {"word": "girl", "prefix": "gir", "prob": 0.9, "count": 10}
    # the span is what the prefix determines: a token starting inside it is a completion
    # ("lephant" after "e", "l" after "gir"); "rl" after "gi" starts before it: a choice
    assert got[1] == ("l", got[1][1]) and text.index("rl") < text.index("girl") + 3


def test_word_completion_ignores_undetermined_and_unknown_words(ctx: TagContext) -> None:
    assert texts("word-completion", 'I a "!" ... \n\n', ctx) == []
    # absent from the reference corpus, or a prefix shared by several words
    assert texts("word-completion", "A rhinoceros.", ctx) == []
    # "girl" is as often "girls": even the whole word does not settle it
    assert texts("word-completion", "A girl.", TagContext(["A girl and girls."] * 5)) == []


def test_repeated_name_marks_later_mentions_with_distances(ctx: TagContext) -> None:
    text = "Roxy saw a bird named Billy. Billy sang. Roxy smiled and Billy flew."
    got = run("repeated-name", text, ctx)
    assert [(t, a["n_previous"]) for t, a in got] == [("Billy", 1), ("Roxy", 1), ("Billy", 2)]
    billy2 = got[0][1]
    assert billy2["first_char"] == text.index("Billy")
    assert billy2["prev_char"] == text.index("Billy")
    assert billy2["distance_chars"] == text.index("Billy sang") - text.index("Billy")
    assert billy2["distance_words"] == 1
    assert billy2["kind"] == "name"


def test_repeated_name_handles_titles_and_possessives(ctx: TagContext) -> None:
    text = "Mr. Brown had a shop. Lily's kite was in it. Lily and Mr. Brown waved."
    got = run("repeated-name", text, ctx)
    assert [(t, a["name"]) for t, a in got] == [("Lily", "Lily"), ("Mr. Brown", "Mr Brown")]


def test_repeated_name_ignores_sentence_initial_words_and_first_mentions(ctx: TagContext) -> None:
    assert texts("repeated-name", "Then Zed ran. Then it rained. The Sun was hot.", ctx) == []


def test_repeated_name_marks_capitalised_kinship_words_as_family(ctx: TagContext) -> None:
    got = run("repeated-name", 'Mom smiled. "Thank you, Mom," said Tim.', ctx)
    assert [(t, a["kind"]) for t, a in got] == [("Mom", "family")]


def test_repeated_noun_marks_a_reintroduced_noun(ctx: TagContext) -> None:
    text = "Sam had a red kite. The wind took the kite."
    got = run("repeated-noun", text, ctx)
    assert [t for t, _ in got] == ["kite"]
    attrs = got[0][1]
    assert attrs["noun"] == "kite" and attrs["n_previous"] == 1
    assert attrs["first_char"] == text.index("kite")
    assert attrs["distance_words"] == 5


def test_repeated_noun_needs_a_noun_phrase_and_skips_generic_nouns(ctx: TagContext) -> None:
    assert texts("repeated-noun", "Sam had a kite. Kite is a word.", ctx) == []
    assert texts("repeated-noun", "One day it was hot. The day was long.", ctx) == []
    assert texts("repeated-noun", "She can run. The run was long.", ctx) == []  # not a noun


def test_plural_singular_links_number_forms(ctx: TagContext) -> None:
    got = run("plural-singular", "Ann had three puppies. One puppy was small.", ctx)
    assert [t for t, _ in got] == ["puppy"]
    assert got[0][1] | {"other_char": 0} == {
        "word": "puppy",
        "lemma": "puppy",
        "number": "singular",
        "other_form": "puppies",
        "other_char": 0,
        "distance_words": 2,
    }


def test_plural_singular_knows_irregular_plurals(ctx: TagContext) -> None:
    got = run("plural-singular", "The cat saw a mouse. Then two mice came.", ctx)
    assert [(t, a["number"], a["other_form"]) for t, a in got] == [("mice", "plural", "mouse")]


def test_plural_singular_negatives(ctx: TagContext) -> None:
    assert texts("plural-singular", "The kite flew. The kite fell.", ctx) == []
    assert texts("plural-singular", "Tom walks home. He likes his walk.", ctx) == []


def test_common_phrase_from_corpus_statistics(ctx: TagContext) -> None:
    got = run("common-phrase", "We like to play hide and seek.", ctx)
    by_word = {t: a for t, a in got}
    assert by_word["seek"]["source"] == "corpus"
    assert by_word["seek"]["phrase"] == "hide and seek"
    assert by_word["seek"]["prob"] == 1.0 and by_word["seek"]["count"] >= 8
    assert by_word["hide"]["phrase"] == "play hide"  # "play" predicts "hide" in this corpus


def test_common_phrase_seeds_tag_only_the_predictable_part(ctx: TagContext) -> None:
    got = run("common-phrase", "She ran as fast as she could.", TagContext())
    assert [t for t, _ in got] == ["as", "she", "could"]
    assert {a["source"] for _, a in got} == {"seed"}


def test_common_phrase_negative(ctx: TagContext) -> None:
    assert texts("common-phrase", "The cat sat on a mat near Zed.", ctx) == []


def test_semantic_association_from_the_lexicon(ctx: TagContext) -> None:
    got = run("semantic-association", "We went to the beach. The sand was hot.", ctx)
    assert [t for t, _ in got] == ["sand"]
    assert got[0][1] == {
        "word": "sand",
        "cue": "beach",
        "cue_char": 15,
        "cluster": "beach",
        "source": "lexicon",
        "distance_words": 2,
    }
    assert texts("semantic-association", "It was her birthday. Mom made a cake.", ctx) == ["cake"]


def test_semantic_association_needs_a_different_earlier_cue(ctx: TagContext) -> None:
    assert texts("semantic-association", "The sand was hot. The sand was soft.", ctx) == []
    assert texts("semantic-association", "The beach was big. I like beaches.", ctx) == []
    assert texts("semantic-association", "The cake was big. It was a birthday.", ctx) == [
        "birthday"
    ]


def test_semantic_association_from_corpus_cooccurrence() -> None:
    ctx = TagContext()
    ctx.__dict__["associations"] = {"wind": {"kite": 2.5}}
    got = run("semantic-association", "Ben had a kite. The wind was strong.", ctx)
    assert got == [
        (
            "wind",
            {
                "word": "wind",
                "cue": "kite",
                "cue_char": 10,
                "cluster": "corpus",
                "source": "corpus",
                "pmi": 2.5,
                "distance_words": 2,
            },
        )
    ]


def test_common_phrase_seeds_fixed_phrases(ctx: TagContext) -> None:
    text = "Tim wanted to see the bird up close. He stood in front of the tree."
    got = run("common-phrase", text, ctx)
    assert [(t, a["source"]) for t, a in got] == [("close", "seed"), ("of", "seed")]


def test_plural_singular_that_before_a_plural_is_no_determiner(ctx: TagContext) -> None:
    # "knew that puppies are fun": a conjunction, so "puppies" has no determiner
    assert texts("plural-singular", "The puppy ran. Ann knew that puppies are fun.", ctx) == []
    assert texts("plural-singular", "The puppy ran. Ann knew that little puppies ran.", ctx) == []
    assert texts("plural-singular", "The puppy ran. Ann saw those puppies.", ctx) == ["puppies"]
    assert texts("plural-singular", "The puppies ran. Ann saw that puppy.", ctx) == ["puppy"]
    # "others" / "each other" are pronouns, even where the lexicon has "other" as a noun
    others = TagContext(["The other, the other and the others."] * 3)
    assert "other" in others.nouns
    text = "Tom saw the other. Tom knew that helping others is good. They hug each other."
    assert texts("plural-singular", text, others) == []
