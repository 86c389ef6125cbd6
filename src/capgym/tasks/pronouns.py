"""The one pronoun table of the task stage: each personal pronoun's gender and the
forms a wrong answer swaps it for.

Mined pronoun examples take their wrong answers from ``SWAP``; the perturbation checks
read ``GENDER`` (is a word a pronoun, and of which gender).

>>> GENDER["herself"], SWAP["her"], is_pronoun("They")
('girl', ('him', 'his'), True)
"""

from __future__ import annotations

import re

GENDER = {
    "he": "boy", "him": "boy", "his": "boy", "himself": "boy",
    "she": "girl", "her": "girl", "hers": "girl", "herself": "girl",
    "they": "pl", "them": "pl", "their": "pl", "theirs": "pl", "themselves": "pl",
    "it": "thing", "its": "thing", "itself": "thing",
}  # fmt: skip
# the other gender's form in the same grammatical role ("her" is object or possessive)
SWAP = {
    "he": ("she",), "she": ("he",), "him": ("her",), "his": ("her",), "her": ("him", "his"),
    "himself": ("herself",), "herself": ("himself",), "they": ("it",), "them": ("it",),
    "it": ("they", "them"), "their": ("its",),
}  # fmt: skip
PATTERN = re.compile(
    r"\b(?:" + "|".join(sorted(GENDER, key=len, reverse=True)) + r")\b", re.IGNORECASE
)


def is_pronoun(word: str) -> bool:
    """Whether ``word`` (any case, surrounding spaces ignored) is a personal pronoun."""
    return word.strip().lower() in GENDER
