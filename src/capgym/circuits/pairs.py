"""Counterfactual (clean, corrupted) pairs declared in a task file, validated per tokenizer.

A task opts in with a ``counterfactual:`` section.  The corrupted prompt is the same
template rendered with one change, so that the answer changes and little else::

    counterfactual:
      swap: [name, other]            # exchange the values of two slots, or
      resample: {slot: name, differ: gender}   # another value differing in an attribute, or
      prompts: {said-period: "... said, \\"I like this {obj} and"}   # a corrupted template
      prefix: word                   # (target: word-rest) another word's first piece
      templates: [named, belonged]   # optional: the templates that have pairs

A ``prompts`` entry may be a list of corrupted templates: the first is the corruption,
the others are tried in order when a tokenizer gives the first a different token length
(a rendering that needs a missing slot attribute is skipped).

The answer and wrong answer keep their clean values; the metric of both runs is the
**decision-point logit difference** logit(answer) - logit(wrong) at the first token
where the two answers differ, teacher-forced along their shared prefix (issue 13).

``prefix`` is for word-completion tasks, whose answer is the rest of a word after its
first token: the clean input is the prompt plus the first piece of the clean word, the
corrupted input the same prompt plus the first piece of another value of the slot; the
answer is the clean word's rest and the wrong answer the other word's rest.  The pieces
depend on the tokenizer, so the split happens when a pair is validated.

A pair is *valid* for a tokenizer when the clean and corrupted inputs have the same
number of tokens and the answers differ at some token; the share of valid pairs is
reported (:attr:`PairSet.valid_share`).

>>> from capgym.models import load_model
>>> from capgym.tasks import make
>>> ps = build_pairs(load_model("stories260K"), make("repeated-name", n=20), limit=8)
>>> ps.n_valid, ps.clean.shape == ps.corrupt.shape
(8, True)
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from capgym.errors import TaskError
from capgym.models.base import LanguageModel
from capgym.tasks.build import NotApplicable, build_example, spaces_trail, unk_id_of
from capgym.tasks.example import Example
from capgym.tasks.fillers import Fillers, Record
from capgym.tasks.schema import read_task_file
from capgym.tasks.task import Task, _templates
from capgym.tasks.templates import Template, _candidates, expand


@dataclass(frozen=True)
class Pair:
    """A clean example and its corrupted prompt (strings, before tokenisation)."""

    example_id: str
    template: str
    clean: str
    corrupt: str
    answer: str
    wrong: str
    # other (corrupted prompt, wrong answer) choices, tried in order when a tokenizer
    # rejects the first (e.g. another name of the same token length)
    alternates: tuple[tuple[str, str], ...] = ()
    # the character after the answer in running text (meta ``follows``): tokenizers whose
    # pieces end in a space compare the pieces with it, as the gym does (tasks.build)
    follows: str = ""


@dataclass
class PairSet:
    """Valid pairs of one task for one model, as right-padded id tensors.

    ``clean[i, :length[i]]`` ends with the decision position; ``answer[i]`` and
    ``wrong[i]`` are the token ids compared there.
    """

    task: str
    model: str
    pairs: list[Pair]
    clean: torch.Tensor
    corrupt: torch.Tensor
    length: torch.Tensor
    answer: torch.Tensor
    wrong: torch.Tensor
    n_total: int  # pairs built from the task
    invalid: Counter[str] = field(default_factory=Counter)

    @property
    def n_valid(self) -> int:
        """Valid pairs in use (at most the ``limit`` of :func:`build_pairs`)."""
        return len(self.pairs)

    @property
    def valid_share(self) -> float:
        """Valid pairs / pairs built, before any limit: the task's share for this tokenizer."""
        bad = sum(self.invalid.values())
        return (self.n_total - bad) / self.n_total if self.n_total else 0.0

    def subset(self, index: torch.Tensor | list[int]) -> PairSet:
        idx = torch.as_tensor(index, dtype=torch.long)
        return replace(self, pairs=[self.pairs[i] for i in idx.tolist()], clean=self.clean[idx],
                       corrupt=self.corrupt[idx], length=self.length[idx],
                       answer=self.answer[idx], wrong=self.wrong[idx])  # fmt: skip


def logit_diff(
    logits: torch.Tensor,
    ps: PairSet,
    rows: torch.Tensor | None = None,
    positions: torch.Tensor | None = None,
) -> torch.Tensor:
    """logit(answer) - logit(wrong) at each row's decision position, one value per row.

    ``rows[j]`` names the pair of logits row ``j`` (default: row j is pair j);
    ``positions`` overrides where the decision is read (default: the pair's last token).
    """
    rows = torch.arange(logits.shape[0]) if rows is None else rows
    last = ps.length[rows] - 1 if positions is None else positions
    at = logits[torch.arange(logits.shape[0]), last]
    return at.gather(1, ps.answer[rows, None])[:, 0] - at.gather(1, ps.wrong[rows, None])[:, 0]


def spec_of(task: Task) -> dict[str, Any] | None:
    """The task file's ``counterfactual:`` section, or None when it has none."""
    if task.path is None:
        return None
    data, _ = read_task_file(task.path)
    return data.get("counterfactual")


def _corrupt_values(
    spec: dict[str, Any],
    values: dict[str, Record],
    t: Template,
    fillers: Fillers,
    rng: random.Random,
) -> dict[str, Record] | None:
    if "swap" in spec:
        a, b = spec["swap"]
        if a not in values or b not in values:
            return None
        return {**values, a: values[b], b: values[a]}
    if "resample" in spec or "prefix" in spec:
        r = spec.get("resample") or {"slot": spec["prefix"]}
        slot, attr = r["slot"], r.get("differ")
        if slot not in values:
            return None
        taken = {v["value"] for v in values.values()}
        pool = [c for c in _candidates(t.slots[slot], fillers)
                if c["value"] not in taken and (attr is None or c.get(attr) != values[slot].get(attr))]  # fmt: skip
        return {**values, slot: rng.choice(pool)} if pool else None
    return values  # "prompts": the values stay, the template changes


MAX_ALTERNATES = 12


def _fits(c: Record, slot: Any, values: dict[str, Record], skip: str) -> bool:
    taken = {v["value"] for v in values.values()}  # the slot's own value too
    return (c["value"] not in taken
            and all(c.get(a) == values[o].get(a) for a, o in slot.same.items() if o != skip)
            and all(c.get(a) != values[o].get(a) for a, o in slot.differ.items() if o != skip))  # fmt: skip


def _alternates(
    spec: dict[str, Any], values: dict[str, Record], t: Template, corrupt_t: Template,
    fillers: Fillers, rng: random.Random, ex: Example, extra: list[Template],
) -> tuple[tuple[str, str], ...]:  # fmt: skip
    """Other valid corruptions of ``ex``: the clean prompt and answer stay the same."""
    out: list[tuple[str, str]] = []
    if "swap" in spec:
        a, b = spec["swap"]
        pool = [c for c in _candidates(t.slots[b], fillers) if _fits(c, t.slots[b], values, b)]
        rng.shuffle(pool)
        for c in pool[:MAX_ALTERNATES]:
            clean, answer, wrong = t.render({**values, b: c})
            if clean == ex.prompt and answer == ex.answer and wrong:  # b is not in the prompt
                out.append((t.render({**values, a: c, b: values[a]})[0], wrong[0]))
    elif "resample" in spec or "prefix" in spec:
        r = spec.get("resample") or {"slot": spec["prefix"]}
        slot, attr = r["slot"], r.get("differ")
        pool = [c for c in _candidates(t.slots[slot], fillers)
                if _fits(c, t.slots[slot], values, slot)
                and (attr is None or c.get(attr) != values[slot].get(attr))]  # fmt: skip
        rng.shuffle(pool)
        if "prefix" in spec:  # the same prompt; the wrong answer is the other word
            return tuple(
                (ex.prompt, t.render({**values, slot: c})[1]) for c in pool[:MAX_ALTERNATES]
            )
        out = [
            (corrupt_t.render({**values, slot: c})[0], ex.wrong[0]) for c in pool[:MAX_ALTERNATES]
        ]
    for other in extra:  # further corrupted templates of "prompts"
        try:
            out.append((other.render(values)[0], ex.wrong[0]))
        except TaskError:
            continue  # a template that needs an attribute this value lacks
    return tuple(out)


def _template_draw(
    task: Task, data: dict[str, Any], templates: list[Template], fillers: Fillers
) -> list[tuple[Example, dict[str, Record]]]:
    """The task's template examples with their slot values: load_task's draw, repeated.

    The draw depends on the requested ``n``, which a task does not keep: the file's ``n``
    and the count of unperturbed template examples are tried, and the one that gives
    exactly the task's examples is used.
    """
    mine = {e.id: e.prompt for e in task.examples
            if e.meta.get("source") == "template" and e.meta.get("perturbation") == "none"}  # fmt: skip
    for n in dict.fromkeys([int(data.get("n", 200)), len(mine), len(mine) - 1]):
        items = expand(task.id, templates, fillers, n, random.Random(f"{task.seed}:{task.id}"))
        if {ex.id: ex.prompt for ex, _ in items} == mine:
            return items
    raise TaskError(f"task {task.id}: cannot reproduce its template examples to pair them; "
                    "build it with make(task_id) and the file's templates")  # fmt: skip


def pairs_of(task: Task) -> list[Pair]:
    """The (clean, corrupted) string pairs of a task's template examples (see module doc)."""
    spec = spec_of(task)
    if not spec:
        raise TaskError(f"task {task.id} declares no counterfactual pairs; add a "
                        "'counterfactual:' section to its task file")  # fmt: skip
    if not any(k in spec for k in ("swap", "resample", "prompts", "prefix")):
        raise TaskError(f"task {task.id}: counterfactual needs one of swap, resample, prompts "
                        "or prefix")  # fmt: skip
    if "prefix" in spec and task.target != "word-rest":
        raise TaskError(f"task {task.id}: counterfactual 'prefix' needs 'target: word-rest'")
    assert task.path is not None
    data, lines = read_task_file(task.path)
    fillers = Fillers.default()
    if "fillers" in data:
        fillers = fillers.extended(data["fillers"], str(task.path))
    templates = _templates(data, lines, str(task.path))
    items = _template_draw(task, data, templates, fillers)
    by_id = {t.id: t for t in templates}
    only = set(spec.get("templates", by_id))
    prompts = spec.get("prompts", {})
    rng = random.Random(f"{task.seed}:{task.id}:counterfactual")
    out = []
    for ex, values in items:
        t = by_id[ex.meta["template"]]
        if t.id not in only or ("prompts" in spec and t.id not in prompts):
            continue
        new = _corrupt_values(spec, values, t, fillers, rng)
        if new is None:
            continue
        given = prompts.get(t.id, [t.prompt])
        corrupt_ts = [replace(t, prompt=p) for p in ([given] if isinstance(given, str) else given)]
        if "prefix" in spec:
            wrong = t.render(new)[1]
            alt = _alternates(spec, values, t, t, fillers, rng, ex, [])
            out.append(Pair(ex.id, t.id, ex.prompt, ex.prompt, ex.answer, wrong, alt,
                            str(ex.meta.get("follows", ""))))  # fmt: skip
        elif ex.wrong:
            corrupt, _, _ = corrupt_ts[0].render(new)
            alt = _alternates(spec, values, t, corrupt_ts[0], fillers, rng, ex, corrupt_ts[1:])
            out.append(Pair(ex.id, t.id, ex.prompt, corrupt, ex.answer, ex.wrong[0], alt,
                            str(ex.meta.get("follows", ""))))  # fmt: skip
    return out


def _decision(answer: list[int], wrong: list[int]) -> int | None:
    for i, (a, w) in enumerate(zip(answer, wrong)):
        if a != w:
            return i
    return None


Kept = tuple[Pair, list[int], list[int], int, int]


def _tokenise(
    lm: LanguageModel,
    task_id: str,
    p: Pair,
    unk: int | None,
    target: str = "answer",
    trail: bool = False,
) -> Kept | str:
    """(pair, clean ids, corrupted ids, answer id, wrong id), or why the pair is invalid.

    ``trail``: the tokenizer's pieces end in a space (:func:`capgym.tasks.build.spaces_trail`);
    candidates then carry the space that follows them in running text, as in the gym."""
    if target == "word-rest":
        return _tokenise_prefix(lm, task_id, p, unk)
    meta = {"follows": p.follows} if p.follows else {}

    def built(prompt: str) -> Any:
        return build_example(lm.encode, Example(p.example_id, prompt, p.answer, (p.wrong,), meta),
                             task_id, context_len=lm.context_len, unk_id=unk, space_after=trail)  # fmt: skip

    try:
        b, c = built(p.clean), built(p.corrupt)
    except NotApplicable:
        return "no token boundary before the answer"
    except TaskError:
        return "not buildable"
    d = _decision(b.answer_ids, b.wrong_ids[0])
    if d is None:
        return "answers never differ"
    if c.answer_ids != b.answer_ids or c.wrong_ids != b.wrong_ids:
        return "answers tokenise differently"
    if len(c.prompt_ids) != len(b.prompt_ids):
        return "token lengths differ"
    shared = b.answer_ids[:d]
    return (p, b.prompt_ids + shared, c.prompt_ids + shared, b.answer_ids[d], b.wrong_ids[0][d])


def _tokenise_prefix(lm: LanguageModel, task_id: str, p: Pair, unk: int | None) -> Kept | str:
    """A ``prefix`` pair: each word is split after its first token (see module doc)."""
    try:
        b, c = (build_example(lm.encode, Example(p.example_id, prompt, word), task_id,
                              target="word-rest", context_len=lm.context_len, unk_id=unk)
                for prompt, word in ((p.clean, p.answer), (p.corrupt, p.wrong)))  # fmt: skip
    except NotApplicable:
        return "a word is one token"
    except TaskError:
        return "not buildable"
    if b.prompt_ids == c.prompt_ids:
        return "answers never differ"  # the two words share their first piece
    d = _decision(b.answer_ids, c.answer_ids)
    if d is None:
        return "answers never differ"
    if len(c.prompt_ids) != len(b.prompt_ids):
        return "token lengths differ"
    shared = b.answer_ids[:d]
    return (p, b.prompt_ids + shared, c.prompt_ids + shared, b.answer_ids[d], c.answer_ids[d])


def build_pairs(lm: LanguageModel, task: Task, limit: int | None = None) -> PairSet:
    """Tokenise and validate a task's pairs for ``lm``; at most ``limit`` valid pairs."""
    invalid: Counter[str] = Counter()
    kept: list[Kept] = []
    unk = unk_id_of(lm)
    trail = spaces_trail(lm.encode)
    raw = pairs_of(task)
    for p in raw:
        reason = ""
        for corrupt, wrong in [(p.corrupt, p.wrong), *p.alternates]:
            one = replace(p, corrupt=corrupt, wrong=wrong, alternates=())
            got = _tokenise(lm, task.id, one, unk, task.target, trail)
            if isinstance(got, str):
                reason = reason or got  # the first choice's reason is the one reported
                continue
            kept.append(got)
            break
        else:
            invalid[reason] += 1
    n_total = len(kept) + sum(invalid.values())
    kept = kept if limit is None else kept[:limit]
    if not kept:
        reasons = ", ".join(f"{k}: {v}" for k, v in invalid.items()) or "no template examples"
        raise TaskError(f"task {task.id} has no valid counterfactual pair for {lm.name} "
                        f"({reasons})")  # fmt: skip
    top = max(max(k[1] + k[2]) for k in kept)
    if top >= lm.vocab_size:
        raise TaskError(f"model {lm.name}'s encoding gives token id {top}, outside its vocabulary "
                        f"of {lm.vocab_size} (a wrong BOS id?); fix the model's tokenizer settings")  # fmt: skip
    width = max(len(k[1]) for k in kept)
    pad = lm.bos_id if lm.bos_id is not None else 0

    def padded(i: int) -> torch.Tensor:
        return torch.tensor([k[i] + [pad] * (width - len(k[i])) for k in kept])

    return PairSet(
        task=task.id,
        model=lm.name,
        pairs=[k[0] for k in kept],
        clean=padded(1),
        corrupt=padded(2),
        length=torch.tensor([len(k[1]) for k in kept]),
        answer=torch.tensor([k[3] for k in kept]),
        wrong=torch.tensor([k[4] for k in kept]),
        n_total=n_total,
        invalid=invalid,
    )
