"""Hand-checked recall of nine tagger families on five validation stories read in full.

``data/recall_five_stories.jsonl`` holds every position of validation stories 10-14
that a family's docstring definition says should be tagged, written down by a person
who read the five stories word by word (and, for word-completion, token by token with
the stories260K tokenizer ``tok512``), each with a note.  The families are those whose
definition issue 13 changed or questioned.  The reading was done before looking at the
taggers' output; ``pronoun_recall.jsonl`` is the same exercise for pronouns.

How a gold row counts as found: a tag of the family in the same story starting at the
same character (and with the same ``role`` / ``move`` when the row names one); for
word-completion a row is one token of the word, found when it starts inside a tag's span
(the family's rule for consumers).

What the reader marked, by family (``positions``):

- repeated-name (48): every later mention of Tim, Sue, Tom, Lily, Sam, Max, possessives
  included; "mom" after "his"/"Tom's" is not a name use.
- dialogue-name (6): four speakers before a quotation, two addressees inside one.  Not
  marked, by the definition: "Tom's mom saw him and asked, '...'" (the speaker is not next
  to the verb) and "They told Max, '...'" (Max is spoken to, outside the quotation).
- closing-quote (7), formatting (11 paragraph breaks), story-opening (35 words: "Once
  upon a time" and "there was/lived a" in all five), story-structure (16 words: "One
  day" x5, "But" x2, "Then", "In the end").
- character-tracking (13): 8 turns and 5 pairs.  Outside the definition (not marked): a
  subject after a fronted phrase ("One day, Tim met", "As Tim played": it only sets the
  previous subject) and a clause subject after ", and" ("..., and Sue liked").
- plural-singular (3): "two slides" after "slide", "a big, yummy cake" after "cakes",
  "her best friend's" after "friends".  Not marked: "became good friends" (no
  determiner: "all" belongs to "they all").
- word-completion (61 tokens): tokens after the shortest prefix on which a reader bets
  9:1 on the whole word ("gir|l", "tog|et|her", "Tim'|s"); "colorf|u|l" was left out
  of the first reading and added when the comparison showed it.  Borderline words left
  out (the reference corpus agrees they fall under 0.9): orange (oranges 12%), thought
  (though 9%), treasure (treasures 31%), good (goodbye 25%), surrender (surrendered).  A
  token that completes a determined *stem* but not the word ("treasu|re") is by the
  definition not a completion.  Its extras are tokens starting inside a tag that the
  reader did not mark: "deci|ded" (decide is common) and "bet|t|er" ("bet" is a word).

Measured on 2026-11-28 (recall = found / positions; "extra" = tags on these stories
at no marked position, i.e. errors against an exhaustive reading):

=================== ========= ====== =====
family              positions recall extra
=================== ========= ====== =====
repeated-name       48        1.00   0
dialogue-name       6         1.00   0
closing-quote       7         1.00   0
character-tracking  13        1.00   0
story-structure     16        1.00   0
formatting          11        1.00   0
word-completion     61        1.00   2
story-opening       35        1.00   0
plural-singular     3         1.00   0
=================== ========= ====== =====

Before the issue-13 fixes: character-tracking 12/14 (it missed "Tom replied" after
"Tom's mom ... asked", and the pronoun turn "They told Max", as its previous subject was
only a sentence's first word; with fronted subjects tracked, "But Tom and Sam were
brave. They told Max" is no turn, so that position left the reading), plural-singular
1/3 with 2 extra tags (possessive nouns, "a big, yummy cake", "they all became good
friends").  Their fixes were checked on the 1,000 stories: see test_precision.py.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from capgym.models.llama2c_tokenizer import Llama2cTokenizer
from capgym.tags import tag

GOLD = Path(__file__).parent / "data" / "recall_five_stories.jsonl"
STORIES = [10, 11, 12, 13, 14]
# family -> (positions marked, found at least, extra tags at most)
MEASURED: dict[str, tuple[int, int, int]] = {
    "repeated-name": (48, 48, 0),
    "dialogue-name": (6, 6, 0),
    "closing-quote": (7, 7, 0),
    "character-tracking": (13, 13, 0),
    "story-structure": (16, 16, 0),
    "formatting": (11, 11, 0),
    "word-completion": (61, 61, 2),
    "story-opening": (35, 35, 0),
    "plural-singular": (3, 3, 0),
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def five(assets: Path) -> tuple[pd.DataFrame, dict[int, str]]:
    """The nine families' tags on validation stories 10-14 (reference: training sample)."""
    corpora = assets / "corpora"
    stories = read_jsonl(corpora / "tinystories-validation-0-999.jsonl")
    texts = {s["idx"]: s["text"] for s in stories if s["idx"] in STORIES}
    ref = [s["text"] for s in read_jsonl(corpora / "tinystories-train-sample-2316.jsonl")]
    df = pd.DataFrame({"corpus": "v", "story": list(texts), "text": list(texts.values())})
    return tag(df, taggers=list(MEASURED), reference_texts=ref).to_pandas(), texts


def _found(row: dict, tags: pd.DataFrame) -> bool:
    mine = tags[(tags["capability"] == row["family"]) & (tags["story"] == row["story"])]
    if row["family"] == "word-completion":
        inside = (mine["char_start"] <= row["char_start"]) & (row["char_start"] < mine["char_end"])
        return bool(inside.any())
    for r in mine[mine["char_start"] == row["char_start"]].itertuples():
        attrs = json.loads(r.attrs)
        if all(attrs.get(k) == row[k] for k in ("role", "move") if k in row):
            return True
    return False


def test_gold_positions_are_where_the_text_says(
    five: tuple[pd.DataFrame, dict[int, str]],
) -> None:
    _, texts = five
    gold = read_jsonl(GOLD)
    assert sorted({g["story"] for g in gold}) == STORIES
    counts: dict[str, int] = defaultdict(int)
    for g in gold:
        assert texts[g["story"]][g["char_start"] : g["char_end"]] == g["span"], g
        counts[g["family"]] += 1
    assert dict(counts) == {f: n for f, (n, _, _) in MEASURED.items()}


def test_recall_on_five_stories_read_in_full(five: tuple[pd.DataFrame, dict[int, str]]) -> None:
    tags, texts = five
    gold = read_jsonl(GOLD)
    misses: dict[str, list[str]] = defaultdict(list)
    found: dict[str, int] = defaultdict(int)
    for g in gold:
        if _found(g, tags):
            found[g["family"]] += 1
        else:
            text = texts[g["story"]]
            ctx = text[max(0, g["char_start"] - 30) : g["char_start"]] + "[[" + g["span"] + "]]"
            misses[g["family"]].append(f"{g['story']}: {ctx!r} {g['note']}")
    for family, (_, at_least, _) in MEASURED.items():
        assert found[family] >= at_least, f"{family} missed: {misses[family]}"


def test_no_more_extra_tags_on_five_stories(
    five: tuple[pd.DataFrame, dict[int, str]], assets: Path
) -> None:
    """The reading is exhaustive, so a tag at no marked position is a tagger error (for
    word-completion: a stories260K token starting inside a tag at no marked token)."""
    tags, texts = five
    marked = {(g["family"], g["story"], g["char_start"]) for g in read_jsonl(GOLD)}
    extra: dict[str, list[str]] = defaultdict(list)
    for r in tags.itertuples():
        if r.capability == "word-completion":
            continue
        if (r.capability, r.story, r.char_start) not in marked:
            extra[r.capability].append(f"{r.story}: {texts[r.story][r.char_start : r.char_end]!r}")
    tok = Llama2cTokenizer.from_file(assets / "models" / "stories260K" / "tok512.bin")
    wc = tags[tags["capability"] == "word-completion"]
    for story, text in texts.items():
        mine = wc[wc["story"] == story]
        for a, b in tok.encode(text).spans:
            inside = ((mine["char_start"] <= a) & (a < mine["char_end"])).any()
            if inside and ("word-completion", story, a) not in marked:
                extra["word-completion"].append(f"{story}: {text[a:b]!r} at {a}")
    for family, (_, _, at_most) in MEASURED.items():
        assert len(extra[family]) <= at_most, f"{family} extra: {extra[family]}"
