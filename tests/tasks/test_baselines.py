"""Trivial baselines against hand counts, and the recency slice of the rebalanced tasks."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from capgym.tasks import Example, make
from capgym.tasks.baselines import baselines, frequency, recency, recency_label, unigram


def test_hand_counted_heuristics() -> None:
    ex = Example("e", "Tom met Sue. Tom and Sue played. Tom waved at", " Sue", (" Tom",))
    assert recency(ex) == 0.0 and frequency(ex) == 0.0  # Tom: last and 3 times
    assert recency_label(ex) == "wrong"
    tie = Example("t", "A cat sat.", " Sue", (" Tom",))  # neither in the prompt: a coin flip
    assert recency(tie) == frequency(tie) == 0.5 and recency_label(tie) == "none"
    counts = Counter({"sue": 10, "tom": 3})
    assert unigram(ex, counts) == 1.0 and math.isnan(unigram(ex, None))
    quote = Example("q", 'He said, "Hi.', '"', (" It",))  # punctuation: no heuristic applies
    assert math.isnan(recency(quote))
    b = baselines([ex, tie, quote, Example("n", "x", " y")], counts)
    # ex: 0 and tie: 0.5 (quote: no heuristic; "n": no wrong answer); Sue is the commoner word
    assert b["baseline_recency"] == pytest.approx(0.25) and b["baseline_unigram"] == 1.0
    assert b["baseline_best"] == 1.0 and b["solved_by_heuristic"] == 1.0
    b = baselines([ex, tie])
    assert math.isnan(b["baseline_unigram"]) and b["solved_by_heuristic"] == 0.0


@pytest.mark.parametrize("task", ["dialogue-name", "character-tracking"])
def test_recency_is_balanced(task: str) -> None:
    t = make(task)
    labels = Counter(e.meta["recency"] for e in t.examples if e.meta["perturbation"] == "none")
    share = labels["answer"] / (labels["answer"] + labels["wrong"])
    assert 0.4 <= share <= 0.6, labels
    assert 0.4 <= baselines(t.examples)["baseline_recency"] <= 0.6


def test_speaker_tag_answer_is_not_always_the_most_recent_name() -> None:
    t = make("dialogue-name")
    tags = [e for e in t.examples if e.meta["template"].startswith("speaker-tag")]
    assert {e.meta["recency"] for e in tags} == {"answer", "wrong"}
