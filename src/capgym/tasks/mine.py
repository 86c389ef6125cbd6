"""Mined examples: tagged spans of real stories become (prompt, answer, wrong) items.

The prompt is the story up to the tagged span, the answer is the span (with the
space before it, as answers usually start with one), and the wrong answer is a
plausible alternative: another character's name from the same story, the other
gender's pronoun, or another repeated noun of the story.

>>> import pandas as pd
>>> stories = pd.DataFrame({"corpus": ["c"], "story": [0], "text": ["Sue met Tom. Then Tom ran."]})
>>> tags = pd.DataFrame({"corpus": ["c", "c"], "story": [0, 0], "char_start": [0, 18],
...     "char_end": [3, 21], "capability": ["repeated-name"] * 2, "attrs": ["{}", "{}"]})
>>> ex = mine_examples({"capability": "repeated-name", "wrong": "other-name"},
...                    stories, tags, "t")[0]
>>> ex.prompt, ex.answer, ex.wrong
('Sue met Tom. Then', ' Tom', (' Sue',))
"""

from __future__ import annotations

import json
import random
from typing import Any

import pandas as pd

from capgym.tasks.example import Example

NAME_CAPABILITIES = ("repeated-name", "dialogue-name", "character-tracking")
PRONOUN_SWAP = {
    "he": ("she",), "she": ("he",), "him": ("her",), "his": ("her",), "her": ("him", "his"),
    "himself": ("herself",), "herself": ("himself",), "they": ("it",), "them": ("it",),
    "it": ("they", "them"), "their": ("its",),
}  # fmt: skip


def _match_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def _wrongs(rule: str, answer: str, alternatives: list[str]) -> tuple[str, ...]:
    lead = answer[: len(answer) - len(answer.lstrip())]
    word = answer.strip()
    if rule == "other-pronoun":
        return tuple(lead + _match_case(w, word) for w in PRONOUN_SWAP.get(word.lower(), ()))
    if rule in ("other-name", "other-noun"):
        others = [a for a in dict.fromkeys(alternatives) if a != word]
        return tuple(lead + a for a in others[:2])
    return ()


def _flat_attrs(raw: Any) -> dict[str, Any]:
    try:
        attrs = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    except (ValueError, TypeError):
        return {}
    return {f"tag.{k}": v for k, v in attrs.items() if isinstance(v, (str, int, float, bool))}


def mine_examples(
    spec: dict[str, Any],
    stories: pd.DataFrame,
    tags: pd.DataFrame,
    task_id: str,
    rng: random.Random | None = None,
    limit: int | None = None,
) -> list[Example]:
    """Examples from ``tags`` rows of ``spec["capability"]`` (at most ``limit``, by
    default ``spec["max"]``, sampled with ``rng``)."""
    rule = spec.get("wrong", "none")
    texts = {(r.corpus, int(r.story)): r.text for r in stories.itertuples()}
    mine = tags[tags.capability == spec["capability"]]
    alt_caps = NAME_CAPABILITIES if rule == "other-name" else ("repeated-noun",)
    alt_rows = tags[tags.capability.isin(alt_caps)]
    alts: dict[tuple[str, int], list[str]] = {}
    for r in alt_rows.itertuples():
        text = texts.get((r.corpus, int(r.story)))
        if text is not None:
            alts.setdefault((r.corpus, int(r.story)), []).append(
                text[int(r.char_start) : int(r.char_end)].strip()
            )
    out: list[Example] = []
    for r in mine.sort_values(["corpus", "story", "char_start"]).itertuples():
        key = (r.corpus, int(r.story))
        text = texts.get(key)
        start, end = int(r.char_start), int(r.char_end)
        if text is None or not 0 < start < end <= len(text):
            continue
        prompt, answer = text[:start], text[start:end]
        lead = len(prompt) - len(prompt.rstrip(" "))
        prompt, answer = prompt[: len(prompt) - lead], prompt[len(prompt) - lead :] + answer
        if not prompt.strip() or len(answer.strip()) < max(1, spec.get("min_chars", 1)):
            continue
        wrong = _wrongs(rule, answer, alts.get(key, []))
        if rule != "none" and not wrong:
            continue
        names = [answer.strip(), *[w.strip() for w in wrong]] if rule == "other-name" else []
        meta = {
            "source": "mined",
            "corpus": str(r.corpus),
            "story": int(r.story),
            "char_start": start,
            "position": "start" if start < 200 else "deep",
            **({"names": ",".join(names)} if names else {}),
            **_flat_attrs(r.attrs),
        }
        out.append(Example(f"mined-{r.corpus}-{key[1]}-{start}", prompt, answer, wrong, meta))
    limit = spec.get("max", 200) if limit is None else limit
    if len(out) > limit:
        keep = sorted((rng or random.Random(0)).sample(range(len(out)), limit))
        out = [out[i] for i in keep]
    return out
