"""Red-team perturbations: labelled variants of examples, to measure what breaks a skill.

Each perturbation takes a base example and returns a variant (or ``None`` where it
does not apply).  The variant's id is ``<base id>~<name>`` and its metadata records
``perturbation`` and ``base_id``, so the effect is one slice of the uniformity
analysis and can be compared pairwise with its base.

Slot-level perturbations (``rename``, ``swap``, ``change-gender``, ``change-number``)
re-render the template with other slot values; text-level ones (``distractor``,
``lengthen``, ``remove-antecedent``, ``paraphrase``, ``deep``) edit the prompt before
its last sentence, so the question itself stays intact.

>>> import random
>>> ex = Example("e", "Tom had a red ball. He gave the ball to", " Sue", (" Tom",))
>>> ctx = Context("demo", random.Random(0), Fillers.default())
>>> PERTURBATIONS["remove-antecedent"](ex, ctx) is None
True
>>> PERTURBATIONS["lengthen"](ex, ctx).meta["perturbation"]
'lengthen'
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from capgym.tasks import pronouns
from capgym.tasks.example import Example
from capgym.tasks.fillers import Fillers, Record, flip_number
from capgym.tasks.templates import Template, make_example

_BOUNDARY = re.compile(r"[.!?]\"?\s+")

NEUTRAL = [
    "The sun was warm and bright.",
    "Birds sang in the tall trees.",
    "The sky was blue and there were no clouds.",
    "A soft wind moved the green grass.",
    "It was a nice and quiet day.",
    "The flowers were pretty and smelled sweet.",
]

PASSAGES = [
    (
        "Once upon a time, there was a big park in a small town. Many kids liked to play "
        "there, and the trees were tall and green."
    ),
    (
        "There was a little house near a quiet lake. It had a blue door and a small garden "
        "with pretty flowers."
    ),
    (
        "It was a sunny day in the forest. The rabbits hopped, the birds sang and the fish "
        "swam in the river."
    ),
]

PARAPHRASES = [
    ("Once upon a time", "Long ago"),
    ("liked", "loved"),
    ("little", "small"),
    ("very", "really"),
    ("happy", "glad"),
    ("big", "large"),
    ("went to", "walked to"),
    ("saw", "spotted"),
    ("One day", "One morning"),
]

DISTRACTOR_SENTENCES = ["{X} was there too.", "{X} came to play.", "{X} sat down nearby."]
OBJECT_DISTRACTORS = ["There was also a {c} {o} nearby.", "A {c} {o} was on the ground."]


@dataclass
class Context:
    """What a perturbation may use: the task, a seeded rng, fillers, the template."""

    task_id: str
    rng: random.Random
    fillers: Fillers
    template: Template | None = None
    values: dict[str, Record] | None = None


Perturbation = Callable[[Example, Context], "Example | None"]
PERTURBATIONS: dict[str, Perturbation] = {}


def perturbation(name: str) -> Callable[[Perturbation], Perturbation]:
    """Register a perturbation under ``name`` (used in task files' ``perturbations:``)."""

    def deco(fn: Perturbation) -> Perturbation:
        PERTURBATIONS[name] = fn
        return fn

    return deco


def _label(ex: Example, base: Example, name: str, **meta: object) -> Example:
    new_meta = {**base.meta, **ex.meta, "perturbation": name, "base_id": base.id, **meta}
    return Example(f"{base.id}~{name}", ex.prompt, ex.answer, ex.wrong, new_meta)


def _rerender(base: Example, ctx: Context, values: dict[str, Record], name: str) -> Example | None:
    t = ctx.template
    assert t is not None
    for slot_name, rec in values.items():
        slot = t.slots[slot_name]
        if any(rec.get(a) != values[o].get(a) for a, o in slot.same.items()):
            return None
        if any(rec.get(a) == values[o].get(a) for a, o in slot.differ.items()):
            return None
    if len({r["value"] for r in values.values()}) < len(values):
        return None
    extra: dict[str, Any] = {k: base.meta[k] for k in ("pair", "order") if k in base.meta}
    ex = make_example(ctx.task_id, t, values, base.id, extra)
    return _label(ex, base, name)


def _name_slots(values: dict[str, Record] | None) -> list[str]:
    return [k for k, r in (values or {}).items() if r.get("kind") in ("girl", "boy")]


def _text_names(ex: Example) -> list[str]:
    return [n for n in str(ex.meta.get("names", "")).split(",") if n]


def _replace_names(ex: Example, mapping: dict[str, str]) -> Example:
    pat = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")

    def sub(s: str) -> str:
        return pat.sub(lambda m: mapping[m.group(1)], s)

    return Example(ex.id, sub(ex.prompt), sub(ex.answer), tuple(map(sub, ex.wrong)), ex.meta)


def _fresh(ctx: Context, lists: str, avoid: set[str]) -> Record | None:
    pool = [r for r in ctx.fillers.get(lists) if r["value"] not in avoid]
    return ctx.rng.choice(pool) if pool else None


def _used(ex: Example, values: dict[str, Record] | None) -> set[str]:
    words = set(re.findall(r"[A-Za-z]+", " ".join([ex.prompt, ex.answer, *ex.wrong])))
    return words | {r["value"] for r in (values or {}).values()}


@perturbation("rename")
def rename(ex: Example, ctx: Context) -> Example | None:
    """Rename the characters to unusual (often multi-token) names of the same gender."""
    avoid = _used(ex, ctx.values)
    if ctx.template and _name_slots(ctx.values):
        values = dict(ctx.values or {})
        for k in _name_slots(values):
            rec = _fresh(ctx, f"rare.{values[k]['gender']}", avoid)
            if rec is None:
                return None
            values[k] = rec
            avoid.add(rec["value"])
        return _rerender(ex, ctx, values, "rename")
    names = _text_names(ex)
    if not names:
        return None
    mapping = {}
    for n in names:
        rec = _fresh(ctx, "rare", avoid)
        if rec is None:
            return None
        mapping[n] = rec["value"]
        avoid.add(rec["value"])
    return _label(_replace_names(ex, mapping), ex, "rename")


@perturbation("swap")
def swap(ex: Example, ctx: Context) -> Example | None:
    """Exchange the first two characters' names everywhere."""
    if ctx.template:
        slots = _name_slots(ctx.values)
        if len(slots) < 2:
            return None
        values = dict(ctx.values or {})
        a, b = slots[:2]
        values[a], values[b] = values[b], values[a]
        return _rerender(ex, ctx, values, "swap")
    names = _text_names(ex)
    if len(names) < 2:
        return None
    return _label(_replace_names(ex, {names[0]: names[1], names[1]: names[0]}), ex, "swap")


@perturbation("change-gender")
def change_gender(ex: Example, ctx: Context) -> Example | None:
    """Give every named character a name of the other gender (pronouns follow the template)."""
    slots = _name_slots(ctx.values)
    if not ctx.template or not slots:
        return None
    values = dict(ctx.values or {})
    avoid = _used(ex, values)
    for k in slots:
        other = "boy" if values[k]["gender"] == "girl" else "girl"
        rec = _fresh(ctx, f"names.{other}", avoid)
        if rec is None:
            return None
        values[k] = rec
        avoid.add(rec["value"])
    return _rerender(ex, ctx, values, "change-gender")


@perturbation("change-number")
def change_number(ex: Example, ctx: Context) -> Example | None:
    """Put every countable object or animal in the other grammatical number."""
    values = ctx.values or {}
    keys = [k for k, r in values.items() if "plural" in r and r["plural"] != r["sing"]]
    if not ctx.template or not keys:
        return None
    return _rerender(ex, ctx, {**values, **{k: flip_number(values[k]) for k in keys}},
                     "change-number")  # fmt: skip


def split_last_sentence(prompt: str) -> tuple[str, str]:
    """(everything before the last sentence, the last sentence).

    A sentence starts with a capital letter or a quote mark: a speech tag after a quote
    (``"Thanks!" said``) belongs to the quote's sentence, so nothing is inserted between
    a quote and its speaker.

    >>> split_last_sentence("Tom ran. Sue sat. Then")
    ('Tom ran. Sue sat. ', 'Then')
    >>> split_last_sentence('Tom ran. "Thanks!" said')
    ('Tom ran. ', '"Thanks!" said')
    """
    cut = 0
    for m in _BOUNDARY.finditer(prompt):
        if m.end() < len(prompt) and sentence_start(prompt[m.end() :]):
            cut = m.end()
    return prompt[:cut], prompt[cut:]


def sentence_start(text: str) -> bool:
    """Whether ``text`` can begin a sentence (a capital letter, a digit or a quote)."""
    return bool(text) and (text[0].isupper() or text[0].isdigit() or text[0] in "\"'")


_WORDS = re.compile(r"[A-Za-z']+")


def discard_reason(base: Example, variant: Example) -> str | None:
    """Why a perturbed ``variant`` of ``base`` is not a valid example (None if it is).

    Well-formed: the question sentence is unchanged and still starts a sentence.
    Answer still determined: an inserted character is not placed where it could be the
    referent or speaker the question asks about (before a question sentence holding a
    pronoun or a quote), and no inserted text names a candidate answer.  The control
    perturbation ``remove-antecedent`` removes the answer's support on purpose and is only
    checked for form.

    >>> b = Example("b", 'Sue had a hat. "Thanks!" said', " Tom", (" Sue",))
    >>> v = Example("v", 'Sue had a hat. Ben was there too. "Thanks!" said', " Tom", (" Sue",),
    ...             {"perturbation": "distractor", "distractor": "name"})
    >>> discard_reason(b, v)
    'distractor name before a pronoun or quote'
    """
    name = str(variant.meta.get("perturbation", ""))
    if name not in TEXT_LEVEL:
        return None
    _, tail = split_last_sentence(base.prompt)
    if not variant.prompt.endswith(tail):
        return "question sentence changed"
    head = variant.prompt[: len(variant.prompt) - len(tail)]
    if head and not head[-1].isspace() and tail:
        return "question sentence glued to inserted text"
    if name == "remove-antecedent":
        return None
    cands = {w.lower() for c in (base.answer, *base.wrong) for w in _WORDS.findall(c)}
    cands = {w for w in cands if len(w) > 2 and not pronouns.is_pronoun(w)}  # content words
    added = _added_words(base.prompt, variant.prompt)
    if added & cands:
        return "inserted text names a candidate"
    if variant.meta.get("distractor") == "name":
        if pronouns.PATTERN.search(tail) or '"' in tail:
            return "distractor name before a pronoun or quote"
        g = pronouns.GENDER.get(base.answer.strip().lower())
        g = g if g in ("boy", "girl") else None
        if g and g == variant.meta.get("distractor_gender"):
            return "distractor of the answer pronoun's gender"
    return None


def _added_words(before: str, after: str) -> set[str]:
    old = {w.lower() for w in _WORDS.findall(before)}
    return {w.lower() for w in _WORDS.findall(after)} - old


def _insert(ex: Example, sentences: list[str]) -> Example:
    head, tail = split_last_sentence(ex.prompt)
    sep = "" if not head or head[-1].isspace() else " "
    prompt = head + sep + " ".join(sentences) + " " + tail
    return Example(ex.id, prompt, ex.answer, ex.wrong, ex.meta)


TEXT_LEVEL = ("distractor", "lengthen", "remove-antecedent", "paraphrase", "deep")


@perturbation("distractor")
def distractor(ex: Example, ctx: Context) -> Example | None:
    """Add a distractor character (or object) just before the question sentence."""
    avoid = _used(ex, ctx.values)
    if ctx.rng.random() < 0.5:
        rec = _fresh(ctx, "names", avoid)
        if rec is None:
            return None
        sentence, kind = ctx.rng.choice(DISTRACTOR_SENTENCES).replace("{X}", rec["value"]), "name"
        gender = rec.get("gender", "")
    else:
        obj = _fresh(ctx, "objects", avoid)
        col = _fresh(ctx, "colours", avoid)
        if obj is None or col is None:
            return None
        sentence = ctx.rng.choice(OBJECT_DISTRACTORS).format(c=col["value"], o=obj["value"])
        kind, gender = "object", ""
    extra = {"distractor_gender": gender} if gender else {}
    return _label(_insert(ex, [sentence]), ex, "distractor", distractor=kind, **extra)


@perturbation("lengthen")
def lengthen(ex: Example, ctx: Context) -> Example | None:
    """Put three neutral sentences between the context and the question."""
    return _label(_insert(ex, ctx.rng.sample(NEUTRAL, 3)), ex, "lengthen", added_sentences=3)


@perturbation("remove-antecedent")
def remove_antecedent(ex: Example, ctx: Context) -> Example | None:
    """Delete the earlier sentences that mention the answer (a control: skill should drop)."""
    target = ex.answer.strip(" .,!?\"'\n")
    head, tail = split_last_sentence(ex.prompt)
    if not target or not head:
        return None
    pat = re.compile(r"\b" + re.escape(target) + r"\b")
    parts = re.split(r"(?<=[.!?])\s+|(?<=[.!?]\")\s+", head.strip())
    kept = [s for s in parts if not pat.search(s)]
    if len(kept) == len(parts):
        return None
    prompt = (" ".join(kept) + " " if kept else "") + tail
    if pat.search(prompt):
        return None
    return _label(Example(ex.id, prompt, ex.answer, ex.wrong, ex.meta), ex, "remove-antecedent")


@perturbation("paraphrase")
def paraphrase(ex: Example, ctx: Context) -> Example | None:
    """Reword the context with near-synonyms (TinyStories wording), keeping the question."""
    head, tail = split_last_sentence(ex.prompt)
    new = head
    for a, b in PARAPHRASES:
        new = re.sub(r"\b" + re.escape(a) + r"\b", b, new)
    if new == head:
        return None
    ex2 = Example(ex.id, new + tail, ex.answer, ex.wrong, ex.meta)
    return _label(ex2, ex, "paraphrase")


@perturbation("deep")
def deep(ex: Example, ctx: Context) -> Example | None:
    """Move the example deep into a story: a neutral passage comes first."""
    passage = ctx.rng.choice(PASSAGES)
    ex2 = Example(ex.id, passage + "\n\n" + ex.prompt, ex.answer, ex.wrong, ex.meta)
    return _label(ex2, ex, "deep", position="deep")
