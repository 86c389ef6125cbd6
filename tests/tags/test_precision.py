"""Hand-checked precision of every tagger family on the real validation stories.

``data/precision_sample.jsonl`` holds 15 tags per family drawn with a fixed seed by
``data/draw_precision_sample.py`` from the 1,000 validation stories (reference corpus:
the 2,316 training samples), each read by a person and judged ``correct`` or ``wrong``
with a note.  When a family's definition changed (issue 13: word-completion,
plural-singular, formatting out of story-structure), its tags that are no longer
produced were replaced by a new seeded draw, read the same way; new kinds of tag got
their own draw on top (pronoun: object "it" 10, contractions 5, groups 5, long-distance
chains 6; character-tracking: pronoun subjects 6; common-phrase: new seed phrases 5).
Issue 13's recall check (``test_recall.py``) changed four families; each change was
diffed on the 1,000 stories and read: plural-singular, all 8 tags it added (8 right; the
5 it removed were wrong); character-tracking, 25 of the 363 turns that tracking parents
and fronted subjects added (seed 7, 22 right; of 15 of the 80 it removed, 13 were
wrong), and 2 replacements for recorded tags it removed; pronoun, 20 of the 79 plural
antecedents it moved (seed 1; 14 right, against 3 for the old antecedents of the same
20); dialogue-name, 10 of the 53 speakers before 'VERB and said, "' it added (seed 13;
all 53 read and right once possessives were excluded).  These draws sample the changed
tags, not the family, so they pull its recorded precision down or up.  Tracking a name
in apposition to a possessive subject ("Lily's friend, Timmy, came") removed 15
character-tracking turns (all 15 read: continuations of that name, not turns) and added
2 (read, right); the one recorded tag it removed (story 746, "he" after "Her friend, a
boy named Max, came") was replaced by a seeded draw (seed 746, read, right).
``data/pronoun_recall.jsonl`` is every third-person pronoun of five stories read in
full (``test_recall.py`` does the same for nine other families).  The tests check the
recorded precision and that the current code still
produces every recorded span, so a change to a tagger that moves its spans forces a new
hand check.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from capgym.tags import registered_taggers, tag
from tests.tags.test_registry import FAMILIES

SAMPLE = Path(__file__).parent / "data" / "precision_sample.jsonl"
MIN_PRECISION = 0.8
MIN_PER_FAMILY = 15


def load_sample() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_recorded_precision_per_family() -> None:
    judged: dict[str, list[bool]] = defaultdict(list)
    for row in load_sample():
        assert row["judgement"] in ("correct", "wrong"), row
        assert row["judgement"] == "correct" or row["note"], "say why a tag is wrong"
        judged[row["capability"]].append(row["judgement"] == "correct")
    assert set(judged) == set(FAMILIES)
    for family, marks in judged.items():
        assert len(marks) >= MIN_PER_FAMILY, family
        assert sum(marks) / len(marks) >= MIN_PRECISION, family


@pytest.fixture(scope="module")
def validation_tags(assets: Path) -> tuple[pd.DataFrame, dict[int, str], float]:
    """All taggers on the 1,000 validation stories, and the seconds it took."""
    corpora = assets / "corpora"
    stories = read_jsonl(corpora / "tinystories-validation-0-999.jsonl")
    ref = [s["text"] for s in read_jsonl(corpora / "tinystories-train-sample-2316.jsonl")]
    texts = {s["idx"]: s["text"] for s in stories}
    df = pd.DataFrame({"corpus": "v", "story": list(texts), "text": list(texts.values())})
    start = time.perf_counter()
    table = tag(df, reference_texts=ref)
    return table.to_pandas(), texts, time.perf_counter() - start


def test_sample_still_reproduces(validation_tags: tuple[pd.DataFrame, dict, float]) -> None:
    tags, texts, _ = validation_tags
    produced = {
        (r.capability, r.story, r.char_start, r.char_end): json.loads(r.attrs)
        for r in tags.itertuples()
    }
    for row in load_sample():
        key = (row["capability"], row["story"], row["char_start"], row["char_end"])
        assert key in produced, f"recorded tag no longer produced: {row}"
        assert produced[key] == row["attrs"], key
        assert texts[row["story"]][row["char_start"] : row["char_end"]] == row["span"]


def test_every_family_fires_on_real_stories_quickly(
    validation_tags: tuple[pd.DataFrame, dict, float],
) -> None:
    tags, _, seconds = validation_tags
    counts = tags["capability"].value_counts()
    assert {t.name for t in registered_taggers()} >= set(counts.index) >= set(FAMILIES)
    assert all(counts[f] >= 100 for f in FAMILIES)
    assert seconds < 60  # a few seconds on an idle machine; generous for loaded CI


RECALL = Path(__file__).parent / "data" / "pronoun_recall.jsonl"


def test_pronoun_recall_on_five_stories_read_in_full(
    validation_tags: tuple[pd.DataFrame, dict[int, str], float],
) -> None:
    """Stories 10-14 read in full: every third-person pronoun, with the antecedent(s) a
    reader accepts (null for an expletive or a proposition, which must not count)."""
    tags, texts, _ = validation_tags
    gold = read_jsonl(RECALL)
    assert sorted({g["story"] for g in gold}) == [10, 11, 12, 13, 14]
    pron = tags[tags["capability"] == "pronoun"]
    found = {(r.story, r.char_start): json.loads(r.attrs)["antecedent"] for r in pron.itertuples()}
    n_should = n_tagged = n_right = 0
    for g in gold:
        text = texts[g["story"]]
        assert text[g["char_start"] :].lower().startswith(g["pronoun"].lower())
        if g["antecedents"] is None:
            continue
        n_should += 1
        ante = found.get((g["story"], g["char_start"]))
        n_tagged += ante is not None
        n_right += ante in g["antecedents"]
    # read on 2026-11-28: 59 pronouns with an entity antecedent; 54 tagged, 49 with the
    # right antecedent (missed: subject "it" x3, a split antecedent x2; wrong: "Tim and
    # his friends" -> friends x2, "Tom, Sam, and Max" -> part of it x3).  Since the
    # issue-13 plural fix ("X and his friends" and "A, B, and C" are one group; a
    # sentence-initial "They" continues the last plural subject) 53 are right; the
    # last wrong one, "They all" after "Max ... agreed" -> "Tom and Sam" (all three
    # meant), is untagged since "they all" takes no pair of two
    assert n_should == 59
    assert (n_tagged, n_right) == (53, 53)
    assert n_right / n_should >= 0.8
