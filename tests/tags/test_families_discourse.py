"""Positive and negative examples for the discourse families: story-opening,
story-closing, story-structure, closing-quote, dialogue-name, pronoun,
character-tracking."""

from __future__ import annotations

from capgym.tags import TagContext
from tests.tags.conftest import run, texts


def test_story_opening_formula_and_continuation(ctx: TagContext) -> None:
    got = run("story-opening", "Once upon a time, there was a cat named Tiger.", ctx)
    assert [t for t, _ in got] == ["Once", "upon", "a", "time", "there", "was", "a"]
    assert got[0][1] == {"formula": "once upon a time", "part": "formula", "index": 0}
    assert got[4][1] == {"formula": "there was a", "part": "continuation", "index": 0}


def test_story_opening_other_formulas(ctx: TagContext) -> None:
    assert texts("story-opening", "One sunny day, Tom went out.", ctx) == ["One", "sunny", "day"]
    assert texts("story-opening", "  Long ago, a king lived.", ctx) == ["Long", "ago"]
    got = run("story-opening", "Once upon a time, in a big forest, there lived a fox.", ctx)
    assert [t for t, a in got if a["part"] == "continuation"] == ["there", "lived", "a"]


def test_story_opening_only_at_the_start(ctx: TagContext) -> None:
    assert texts("story-opening", "Tom said once upon a time he was small.", ctx) == []
    assert texts("story-opening", "Tom ran. One day, he fell.", ctx) == []


def test_story_closing_formulas_in_the_second_half(ctx: TagContext) -> None:
    text = "Tom lost his red ball in the park and cried. From that day on, he was careful. The end."
    got = run("story-closing", text, ctx)
    assert [t for t, _ in got] == ["From", "that", "day", "on", "The", "end"]
    assert got[0][1]["formula"] == "from that day on" and got[0][1]["index"] == 0
    assert got[0][1]["rel_pos"] == round(text.index("From") / len(text), 2)
    moral = "Sue did not share her toys with Ben. Ben was sad. She learned that sharing is good."
    assert texts("story-closing", moral, ctx) == ["learned", "that"]


def test_story_closing_negatives(ctx: TagContext) -> None:
    early = "From that day on, Tom was careful with his ball and his kite and his red car."
    assert texts("story-closing", early, ctx) == []
    quoted = 'Tom looked at the sky for a long time. "The moral of the story is fun," he said.'
    assert texts("story-closing", quoted, ctx) == []
    assert texts("story-closing", "Tom walked a long way. He saw the end of the road.", ctx) == []


def test_story_structure_moves(ctx: TagContext) -> None:
    text = (
        "Ann had a dog. It was brown. One day, the dog ran away. But Ann found it."
        " Finally, they went home.\n\nThey were happy."
    )
    got = run("story-structure", text, ctx)
    moves = [(t, a["move"]) for t, a in got]
    assert moves == [
        ("One", "event-onset"),
        ("day", "event-onset"),
        ("But", "problem"),
        ("Finally", "resolution"),
    ]
    assert got[0][1]["sentence"] == 2 and got[1][1]["index"] == 1
    # paragraph breaks are the formatting family now
    assert run("formatting", text, ctx) == [
        ("\n\n", {"newlines": 2, "paragraph": 1, "rel_pos": 0.84})
    ]
    assert texts("formatting", 'Tom sat\n\nand ran. "Hi!"\n', ctx) == []  # mid-sentence; at the end


def test_story_structure_negatives(ctx: TagContext) -> None:
    assert texts("story-structure", "One day, Ann had a dog. The dog ran.", ctx) == []
    assert texts("story-structure", 'Tom sat. "But I want it," said Tom. He cried.', ctx) == []
    assert texts("story-structure", "Tom sat and then he ran.", ctx) == []


def test_closing_quote_marks_the_closing_mark(ctx: TagContext) -> None:
    text = '"Can I play?" asked Sue. “Yes!” said Tom.'
    got = run("closing-quote", text, ctx)
    assert [(t, a) for t, a in got] == [
        ('"', {"open_char": 0, "words": 3, "end_punct": "?"}),
        ("”", {"open_char": 25, "words": 1, "end_punct": "!"}),
    ]


def test_closing_quote_negatives(ctx: TagContext) -> None:
    assert texts("closing-quote", "Tom's kite flew.", ctx) == []
    assert texts("closing-quote", 'He said "', ctx) == []
    # a story cut mid-quotation: the stray closing mark is not paired with the next opening
    got = run("closing-quote", 'play," said Tom. "Yes!"', ctx)
    assert [a["open_char"] for _, a in got] == [17]


def test_dialogue_name_addressee_and_speaker(ctx: TagContext) -> None:
    got = run("dialogue-name", '"Thank you, Ben," said Mom. Lily said, "Hi Tom!"', ctx)
    assert [(t, a["role"], a["where"]) for t, a in got] == [
        ("Ben", "addressee", "in-quote"),
        ("Mom", "speaker", "after-quote"),
        ("Lily", "speaker", "before-quote"),
        ("Tom", "addressee", "in-quote"),
    ]
    assert got[0][1]["quote_char"] == 0 and got[1][1]["quote_char"] == 0
    assert got[2][1]["quote_char"] == 39
    after = run("dialogue-name", '"Look!" Ben shouted. "Thank you, mom."', ctx)
    assert [(t, a["role"]) for t, a in after] == [("Ben", "speaker"), ("mom", "addressee")]


def test_dialogue_name_negatives(ctx: TagContext) -> None:
    assert texts("dialogue-name", "Ben and Mom went home. Ben said that he was hungry.", ctx) == []
    assert texts("dialogue-name", 'Her mom said, "Yes."', ctx) == []


def test_pronoun_gender_from_name_and_intro(ctx: TagContext) -> None:
    got = run("pronoun", "Tom met a girl named Zuri. She smiled at him.", ctx)
    assert [(t, a["antecedent"], a["gender"]) for t, a in got] == [
        ("She", "Zuri", "f"),
        ("him", "Tom", "m"),
    ]
    assert got[0][1]["antecedent_char"] == 21 and got[0][1]["number"] == "sg"
    assert got[0][1]["antecedent_gender"] == "f" and got[0][1]["distance_words"] == 1


def test_pronoun_plural_antecedents(ctx: TagContext) -> None:
    got = run("pronoun", "Tom and Sue played. They laughed. Mom baked cookies. Tom ate them.", ctx)
    assert [(t, a["antecedent"]) for t, a in got] == [("They", "Tom and Sue"), ("them", "cookies")]
    assert got[1][1]["number"] == "pl"


def test_pronoun_negatives(ctx: TagContext) -> None:
    assert texts("pronoun", "It was sunny. It rained on it.", ctx) == []
    assert texts("pronoun", "Tom ran. She smiled.", ctx) == []  # no female antecedent
    assert texts("pronoun", "They ran.", ctx) == []


def test_character_tracking_turns_and_pairs(ctx: TagContext) -> None:
    text = "Tom and Sue played. Tom fell. Sue helped him. Then Tom and Sue ran."
    got = run("character-tracking", text, ctx)
    assert [(t, a["move"], a["other"]) for t, a in got] == [
        ("Sue", "turn", "Tom"),
        ("Sue", "pair", "Tom"),
    ]
    assert got[0][1]["n_characters"] == 2
    talk = '"Hi," said Tom. "Hello," said Sue. "Let\'s play," said Tom.'
    assert [(t, a["other"]) for t, a in run("character-tracking", talk, ctx)] == [("Tom", "Sue")]


def test_character_tracking_negatives(ctx: TagContext) -> None:
    assert texts("character-tracking", "Tom ran. Tom jumped. Tom sat.", ctx) == []
    assert texts("character-tracking", "Tom ran. Sue jumped.", ctx) == []  # Sue is new


def test_pronoun_objects_groups_contractions_and_long_windows(ctx: TagContext) -> None:
    text = "Tom saw a kite on the blanket. He wanted to play with it. It was sunny."
    got = run("pronoun", text, ctx)
    assert [(t, a["antecedent"], a["gender"]) for t, a in got] == [
        ("He", "Tom", "m"),
        ("it", "kite", "n"),  # not the nearer "blanket", inside a prepositional phrase
    ]
    fam = run("pronoun", "The family went to the park. They had fun.", ctx)
    assert [(t, a["antecedent"]) for t, a in fam] == [("They", "family")]
    con = run("pronoun", "Mia and Ben ran. They're fast. Mia said she'd win.", ctx)
    assert [(t, a["pronoun"], a["antecedent"]) for t, a in con] == [
        ("They", "They're", "Mia and Ben"),
        ("she", "she'd", "Mia"),
    ]
    far = "Tom and Sue sat. A bird sang. The sun shone. A cat ran. A dog ran. They smiled."
    assert [(t, a["antecedent"]) for t, a in run("pronoun", far, ctx)] == [("They", "Tom and Sue")]


def test_dialogue_name_answer_is_not_the_speaker_of_the_quote_before(ctx: TagContext) -> None:
    text = '"I bet you can\'t catch me!" Tom laughed and said, "Yes I can!"'
    got = run("dialogue-name", text, ctx)
    assert [(t, a["where"], a["quote_char"]) for t, a in got] == [
        ("Tom", "before-quote", text.index('"Yes'))
    ]


def test_character_tracking_pronoun_subjects_add_to_repeated_name(ctx: TagContext) -> None:
    text = "Mia found a ball. Ben ran to Mia. Ben laughed. She threw the ball to him."
    got = run("character-tracking", text, ctx)
    assert [(t, a["move"], a["form"], a["name"], a["other"]) for t, a in got] == [
        ("She", "turn", "pronoun", "Mia", "Ben")
    ]
    assert texts("repeated-name", text, ctx) == ["Mia", "Ben"]  # not "She"


def test_character_tracking_same_gender_pronoun_continues_the_subject() -> None:
    # the pronoun family sends "He ran away" to the nearer Tom; after the he-subject Rex
    # that is no turn (Rex's gender: from the corpus, or from pronouns resolved to him)
    text = "Tom woke up and saw Rex. He was scared. Rex barked at Tom. He ran away."
    ctx = TagContext(["Once there was a dog named Rex. He was big. Rex ran and he barked."] * 3)
    assert ctx.gender_of("Rex") == "m"
    assert [t for t, _ in run("character-tracking", text, ctx)] == ["Rex"]
    assert [t for t, _ in run("character-tracking", text, TagContext())] == ["Rex", "He"]
    # a pronoun of the other gender still turns: "Mia ... Ben laughed. She threw"
    text = "Mia found a ball. Ben ran to Mia. Ben laughed. She threw the ball to him."
    assert [t for t, _ in run("character-tracking", text, ctx)] == ["She"]


def test_dialogue_name_speaker_does_not_reach_across_a_sentence_end(ctx: TagContext) -> None:
    text = '"Mom, can we help the cat?" Lily asked.\n\n"Of course, dear."'
    got = run("dialogue-name", text, ctx)
    assert [(t, a["role"], a["where"], a["quote_char"]) for t, a in got] == [
        ("Mom", "addressee", "in-quote", 0),
        ("Lily", "speaker", "after-quote", 0),
    ]


def test_character_tracking_tracks_an_appositive_subject(ctx: TagContext) -> None:
    # "Lily's friend, Timmy, came": Timmy acts (the previous subject), not Lily
    text = "Lily and Timmy played. Lily ran home. Lily's friend, Timmy, came. Lily smiled."
    got = run("character-tracking", text, ctx)
    assert [(t, a["move"], a["name"], a["other"]) for t, a in got] == [
        ("Lily", "turn", "Lily", "Timmy")
    ]
    assert got[0][1]["form"] == "name"
    # after an opening phrase, and "a NOUN named X": the subject goes on, no turn
    text = "Bob and Sally played. Bob sat. One day, Bob's pal, a squirrel named Sally, came."
    assert texts("character-tracking", text + " Sally smiled.", ctx) == []
    # an object in apposition is no subject: "saw her friend, Timmy" leaves Lily's turn
    text = "Lily and Timmy played. Timmy ran. Lily saw her friend, Timmy, there. Timmy sat."
    assert texts("character-tracking", text, ctx) == ["Timmy", "Lily", "Timmy"]


def test_pronoun_they_all_takes_no_pair_of_two(ctx: TagContext) -> None:
    # "they all" names three or more: not "Tom and Sam", whom Max has joined
    text = "Tom and Sam were brave. Max agreed. They all worked. They smiled."
    got = run("pronoun", text, ctx)
    assert [(t, a["antecedent"]) for t, a in got] == [("They", "Tom and Sam")]
    assert got[0][1]["distance_words"] == 8  # from "Sam" to "They smiled", not "They all"
    lists = run("pronoun", "Tom, Sam, and Max sat. They all ate.", ctx)
    assert [(t, a["antecedent"]) for t, a in lists] == [("They", "Tom, Sam, and Max")]
    kids = run("pronoun", "Mia and Ben met the puppies. They all ran.", ctx)
    assert [(t, a["antecedent"]) for t, a in kids] == [("They", "puppies")]
