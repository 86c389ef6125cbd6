"""Mined examples: tagged spans of real stories become (prompt, answer, wrong) items.

The prompt is the story up to the tagged span, the answer is the span (with the
space before it, as answers usually start with one), and the wrong answer is a
plausible alternative (the ``wrong`` rule): another character's name from the same
story (``other-name``), the other gender's pronoun (``other-pronoun``), another
repeated noun of the story (``other-noun``), the noun in the other grammatical number
(``other-number``; both candidates then run on to the end of the word's punctuation or
the next word of the story, so that " zebra" / " zebra" + "s" differ at a token), or a
common noun from the filler lists that the story never uses, after a determiner
(``unrelated-noun``).  A tag for which the rule finds no wrong answer is skipped.
With ``slots`` (names only), a mention is kept only in a slot where the story
determines the name, and the wrong answer is the character that slot excludes
(:mod:`capgym.tasks.name_slots`).  Each example's meta ``follows`` is the story's
character after the answer (see :func:`capgym.tasks.build.follows_space`).

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
import re
import zlib
from typing import Any

import pandas as pd

from capgym.tasks import pronouns
from capgym.tasks.example import Example
from capgym.tasks.fillers import Fillers
from capgym.tasks.name_slots import slot_of

NAME_CAPABILITIES = ("repeated-name", "dialogue-name", "character-tracking")


IRREGULAR = {"mouse": "mice", "child": "children", "man": "men", "woman": "women",
             "foot": "feet", "tooth": "teeth", "person": "people", "goose": "geese"}  # fmt: skip
SAME = {"sheep", "fish", "deer"}
_NEXT = re.compile(r"[^\w\s]|\s+[\w']+")


def other_number(word: str) -> str | None:
    """``word`` in the other grammatical number (English rules plus a few irregulars), or
    None when the two forms are the same.

    >>> other_number("zebras"), other_number("zebra"), other_number("bunnies"), other_number("mice")
    ('zebra', 'zebras', 'bunny', 'mouse')
    >>> other_number("box"), other_number("boxes"), other_number("sheep")
    ('boxes', 'box', None)
    """
    low = word.lower()
    if low in SAME:
        return None
    back = {v: k for k, v in IRREGULAR.items()}
    if low in IRREGULAR or low in back:
        return _match_case(IRREGULAR.get(low) or back[low], word)
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + "y"
    if re.search(r"(s|x|z|ch|sh)es$", low):
        return word[:-2]
    if low.endswith("s") and not low.endswith("ss"):
        return word[:-1]
    if re.search(r"[^aeiou]y$", low):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", low):
        return word + "es"
    return word + "s"


DETERMINERS = {"the", "a", "an", "some", "his", "her", "their", "my", "your", "its", "our"}


def _unrelated(text: str, prompt: str, answer: str, key: str) -> tuple[str, ...]:
    """A common noun from the filler lists that ``text`` never uses, picked by ``key``;
    only where the prompt ends with a determiner (so the answer is a noun phrase's head
    and a noun fits the sentence; other answers get no wrong answer and are skipped)."""
    last = re.findall(r"[A-Za-z]+", prompt[-20:])
    if not last or last[-1].lower() not in DETERMINERS:
        return ()
    used = {w.lower() for w in re.findall(r"[A-Za-z]+", text)} | {answer.strip().lower()}
    pool = sorted({r["value"] for lst in ("objects", "foods", "places") for r in
                   Fillers.default().get(lst) if r["value"].lower() not in used})  # fmt: skip
    if not pool:
        return ()
    lead = answer[: len(answer) - len(answer.lstrip())]
    return (lead + pool[zlib.crc32(key.encode()) % len(pool)],)


def _match_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def _wrongs(rule: str, answer: str, alternatives: list[str]) -> tuple[str, ...]:
    lead = answer[: len(answer) - len(answer.lstrip())]
    word = answer.strip()
    if rule == "other-pronoun":
        return tuple(lead + _match_case(w, word) for w in pronouns.SWAP.get(word.lower(), ()))
    if rule in ("other-name", "other-noun"):
        # one spelling per word, never the answer's own in another case ("Mom" / "mom")
        first: dict[str, str] = {}
        for a in alternatives:
            first.setdefault(a.lower(), a)
        others = [a for low, a in first.items() if low != word.lower()]
        if rule == "other-name":
            # character-tracking tags also mark pronouns: a pronoun is no other name (and
            # after a sentence "He" is as valid as the name), nor is a pronoun answer a name
            if pronouns.is_pronoun(word):
                return ()
            others = [a for a in others if not pronouns.is_pronoun(a)]
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
        slot = ""
        if rule == "other-name" and "slots" in spec:
            cast = [a for a in alts.get(key, []) if not pronouns.is_pronoun(a)]
            found = slot_of(prompt, answer, cast, tuple(spec["slots"]))
            if found is None:
                continue
            lead = answer[: len(answer) - len(answer.lstrip())]
            slot, wrong = found[0], (lead + found[1],)
        if rule == "other-number":
            other = other_number(answer.strip())
            nxt = _NEXT.match(text, end)
            if other is None or nxt is None:
                continue
            lead = answer[: len(answer) - len(answer.lstrip())]
            answer, wrong = answer + nxt.group(), (lead + other + nxt.group(),)
        elif rule == "unrelated-noun":
            wrong = _unrelated(text, prompt, answer, f"{r.corpus}:{key[1]}:{start}")
        if rule != "none" and not wrong:
            continue
        names = [answer.strip(), *[w.strip() for w in wrong]] if rule == "other-name" else []
        meta = {
            "source": "mined",
            "corpus": str(r.corpus),
            "story": int(r.story),
            "char_start": start,
            "position": "start" if start < 200 else "deep",
            # what follows the answer in the story (a space: see build.follows_space)
            "follows": text[len(prompt) + len(answer) :][:1],
            **({"names": ",".join(names)} if names else {}),
            **({"slot": slot} if slot else {}),
            **_flat_attrs(r.attrs),
        }
        out.append(Example(f"mined-{r.corpus}-{key[1]}-{start}", prompt, answer, wrong, meta))
    limit = spec.get("max", 200) if limit is None else limit
    if len(out) > limit:
        keep = sorted((rng or random.Random(0)).sample(range(len(out)), limit))
        out = [out[i] for i in keep]
    return out
