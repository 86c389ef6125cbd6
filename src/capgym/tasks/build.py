"""Turning string examples into token ids for one model, with the boundary check.

The prompt and each answer are encoded *together*; the prompt's own tokens must be a
prefix of the result, and a token must start exactly where the answer starts.  When
the answer's first token would merge with the end of the prompt (``"the "`` +
``"park"`` -> ``" park"``; ``"hat."`` + ``'"'`` -> ``'."'``), the straddled characters
move from the prompt into every answer, provided they are spaces or punctuation; a
merge inside a word is rejected with a :class:`TaskError` naming task and example.
Tokenizers whose pieces end in a space (``"One▁day,▁"`` + ``"Molly"``) merge the other
way: the straddling token ends inside the answers' leading whitespace, which then
moves from every answer onto the end of the prompt (``absorbed``).  For the same
tokenizers the space *after* the answer belongs to the answer's last piece
(``'she▁'``): where one follows in running text, it is appended to every candidate
(``appended``; see :func:`build_example`).

>>> from capgym.tasks.example import Example
>>> class Words:  # a toy encoder: one token per space-led word, like SentencePiece
...     def __call__(self, text):
...         import re
...         from capgym.models.base import Encoding
...         ms = list(re.finditer(r"\\s*\\S+|\\s+$", text))
...         return Encoding([hash(m.group()) % 97 for m in ms], [m.span() for m in ms])
>>> b = build_example(Words(), Example("e", "I went to the ", "park", (" zoo",)), "t")
>>> b.resplit, len(b.answer_ids), b.truncated
(' ', 1, 0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from capgym.errors import TaskError
from capgym.models.base import Encoding, LanguageModel
from capgym.tasks.example import Example

Encoder = Callable[[str], Encoding]
MAX_RESPLIT = 4  # characters that may move from the prompt into the answers


class BuildError(TaskError):
    """An example that cannot be built for one model; ``reason`` is the same for every
    example that fails the same way (reports count examples per reason)."""

    def __init__(self, where: str, reason: str, detail: str = "", says: str = "") -> None:
        self.where, self.reason, self.detail = where, reason, detail
        super().__init__(f"{where}: " + (says or reason + (f" {detail}" if detail else "")))


@dataclass(frozen=True)
class BuiltExample:
    """An example as token ids for one model (``prompt_ids`` start with BOS if any)."""

    example_id: str
    prompt_ids: list[int]
    answer_ids: list[int]
    wrong_ids: list[list[int]]
    resplit: str = ""  # text moved from the end of the prompt into the answers
    truncated: int = 0  # prompt tokens dropped on the left to fit the context
    decisions: tuple[int, ...] = ()  # per candidate (answer, *wrong): first non-space token
    absorbed: str = ""  # leading whitespace moved from every answer onto the prompt
    appended: str = ""  # text appended to every candidate (the space that follows them)

    def decision(self, cand: int) -> int:
        """Decision index of candidate ``cand`` (0 = the answer), clipped to its length."""
        ids = self.answer_ids if cand == 0 else self.wrong_ids[cand - 1]
        d = self.decisions[cand] if cand < len(self.decisions) else 0
        return min(d, len(ids) - 1)


@dataclass(frozen=True)
class _Straddle:
    """A token covering ``[start, end)`` of prompt + continuation, across the boundary."""

    start: int
    end: int


def _boundary(enc: Encoding, cut: int) -> tuple[int, _Straddle | None]:
    """(tokens ending at or before ``cut``, the token straddling ``cut`` or None)."""
    k = 0
    for i, (s, e) in enumerate(enc.spans):
        if e > cut:
            return k, (_Straddle(s, e) if s < cut else None)
        k = i + 1
    return k, None


def _split(
    encode: Encoder, prompt: str, cont: str, where: str
) -> tuple[list[int], list[int], int] | _Straddle:
    """(prompt ids, continuation ids, decision index), or the token straddling the cut."""
    full = encode(prompt + cont)
    k, straddle = _boundary(full, len(prompt))
    if straddle is not None:
        return straddle
    head = encode(prompt).ids
    if full.ids[:k] != head or k >= len(full.ids):
        raise BuildError(where, "the prompt's tokens change when the answer follows it",
                         f"({cont!r}); end the prompt at a word boundary")  # fmt: skip
    text = prompt + cont
    return head, full.ids[k:], decision_index([text[s:e] for s, e in full.spans[k:]])


def _absorbable(prompt: str, conts: list[str], splits: list[object]) -> str:
    """Whitespace to move from every continuation onto the prompt, or "".

    When every straddling token ends inside whitespace that all continuations start
    with (a piece such as ``"day,▁"``), that whitespace belongs with the prompt.
    """
    tails = [c[: s.end - len(prompt)] for c, s in zip(conts, splits) if isinstance(s, _Straddle)]
    if not tails or not all(t and t.isspace() for t in tails):
        return ""
    ahead = max(tails, key=len)
    return ahead if all(c.startswith(ahead) and len(c) > len(ahead) for c in conts) else ""


def decision_index(pieces: list[str]) -> int:
    """Index of the first token that is not whitespace only (0 if there is none).

    Where a tokenizer keeps the space before a word as its own token (character-level
    ones do), the first *deciding* token is the one after it; ranks and first-token
    figures are taken there so that they mean the same thing on every tokenizer.

    >>> decision_index([" ", "L", "ily"]), decision_index([" Lily"])
    (1, 0)
    """
    return next((i for i, p in enumerate(pieces) if p.strip()), 0)


_PROBE = "Once upon a time there was a little girl. She liked to play with her ball."


def spaces_trail(encode: Encoder) -> bool:
    """Whether the tokenizer puts the space after a word into the word's piece
    (``'she▁'``, ``'!"▁'``) rather than into the next word's (``'▁she'``, GPT-2's
    ``'Ġshe'``); read from how it splits a probe sentence, not from its name.

    >>> spaces_trail(lambda t: Encoding([0, 1], [(0, 5), (5, len(t))]))  # "Once " + ...
    True
    """
    enc = encode(_PROBE)
    pieces = [_PROBE[s:e] for s, e in enc.spans if e > s]
    return sum(p.endswith(" ") for p in pieces) > sum(p.startswith(" ") for p in pieces)


def follows_space(ex: Example) -> bool:
    """Whether a space follows the answer in a natural continuation (meta ``follows``:
    mined examples record the story's next character, templates may declare it)."""
    return str(ex.meta.get("follows", "")).startswith(" ")


def build_example(
    encode: Encoder,
    ex: Example,
    task_id: str,
    *,
    target: str = "answer",
    context_len: int | None = None,
    unk_id: int | None = None,
    space_after: bool = False,
) -> BuiltExample:
    """Token ids of ``ex`` under ``encode`` (usually ``model.encode``); see the module doc.

    ``space_after`` (for tokenizers whose pieces end in a space, :func:`spaces_trail`):
    when a space follows the answer (:func:`follows_space`), append it to every
    candidate, so that the decision token is the piece the model predicts in running
    text (``'she▁'``), not a piece it sees only at the end of a text (``'she'``).
    Where the space lets a piece reach back into the prompt (``', so he▁'``,
    ``'picked it▁'``), running text has no token boundary before the answer: the
    example is :class:`NotApplicable` to this tokenizer (built without the space it
    would be measured at a piece the model sees only at the end of a text).
    """

    def attempt(appended: str) -> BuiltExample:
        return _build(encode, ex, task_id, target, context_len, unk_id, appended)

    if not (space_after and follows_space(ex)):
        return attempt("")
    try:
        return attempt(" ")
    except BuildError as e:
        if e.reason != MERGE:
            raise
    attempt("")  # a merge even without the space is the example's own fault: raise it
    raise NotApplicable(f"task {task_id} example {ex.id}: no token boundary before the answer "
                        "when a space follows it")  # fmt: skip


MERGE = "the answer's first token merges with the end of the prompt"


def _build(
    encode: Encoder,
    ex: Example,
    task_id: str,
    target: str,
    context_len: int | None,
    unk_id: int | None,
    appended: str,
) -> BuiltExample:
    where = f"task {task_id} example {ex.id}"
    prompt, conts = ex.prompt, [c + appended for c in (ex.answer, *ex.wrong)]
    moved = absorbed = ""
    for _ in range(MAX_RESPLIT + 1):
        splits = [_split(encode, prompt, c, where) for c in conts]
        cuts = [s.start for s in splits if isinstance(s, _Straddle)]
        if not cuts:
            break
        ahead = _absorbable(prompt, conts, splits)
        if ahead:
            absorbed += ahead
            prompt, conts = prompt + ahead, [c[len(ahead) :] for c in conts]
            continue
        cut = min(cuts)
        extra = prompt[cut:]
        if len(moved + extra) > MAX_RESPLIT or any(ch.isalnum() for ch in extra):
            raise BuildError(where, MERGE,
                             f"({prompt[cut:]!r} + {ex.answer!r}); end the prompt before the "
                             "merged characters")  # fmt: skip
        moved = extra + moved
        prompt, conts = prompt[:cut], [extra + c for c in conts]
    else:  # pragma: no cover - bounded by MAX_RESPLIT
        raise BuildError(where, "no token boundary between prompt and answer")
    head = splits[0][0]  # type: ignore[index]
    answers = [s[1] for s in splits]  # type: ignore[index]
    decisions = tuple(s[2] for s in splits)  # type: ignore[index]
    if unk_id is not None:
        for text, ids in zip(conts, answers):
            if unk_id in ids:
                raise BuildError(
                    where,
                    "the model's tokenizer cannot encode a candidate",
                    f"({text!r} becomes <unk>)",
                    f"the model's tokenizer cannot encode {text!r} (it becomes <unk>)",
                )
    ans, wrong = answers[0], answers[1:]
    if target == "word-rest":
        if len(ans) < 2:
            raise NotApplicable(f"{where}: the answer is one token for this tokenizer")
        head, ans, wrong, decisions = head + ans[:1], ans[1:], [], (0,)
    built = BuiltExample(ex.id, head, ans, wrong, moved, 0, decisions, absorbed, appended)
    return _fit(built, context_len, where)


class NotApplicable(Exception):
    """An example that does not exist for this tokenizer (e.g. a one-token word)."""


def _fit(b: BuiltExample, context_len: int | None, where: str) -> BuiltExample:
    longest = max([len(b.answer_ids), *map(len, b.wrong_ids)])
    if context_len is None or len(b.prompt_ids) + longest <= context_len:
        return b
    keep = context_len - longest - 1
    if keep < 2:
        raise BuildError(where, "the answer alone fills the model's context")
    ids = b.prompt_ids
    new = ids[:1] + ids[len(ids) - keep :]
    return replace(b, prompt_ids=new, truncated=len(ids) - len(new))


def unk_id_of(model: LanguageModel) -> int | None:
    """The id a tokenizer uses for characters it cannot encode, if it has one."""
    tok = model.tokenizer
    unk = getattr(tok, "unk_id", None)
    if isinstance(unk, int):
        return unk
    if callable(unk):
        return int(unk())
    if getattr(tok, "byte_fallback", True) is False:
        return 0
    sp = getattr(tok, "sp", None)
    return int(sp.unk_id()) if sp is not None else None


def build_examples(
    model: LanguageModel, task_id: str, examples: list[Example], target: str = "answer"
) -> tuple[list[BuiltExample], list[TaskError], int]:
    """Build every example; returns (built, per-example errors, number not applicable)."""
    built: list[BuiltExample] = []
    errors: list[TaskError] = []
    skipped = 0
    unk = unk_id_of(model)
    trail = spaces_trail(model.encode)
    for ex in examples:
        try:
            built.append(build_example(model.encode, ex, task_id, target=target,
                                       context_len=model.context_len, unk_id=unk,
                                       space_after=trail))  # fmt: skip
        except NotApplicable:
            skipped += 1
        except TaskError as e:
            errors.append(e)
    return built, errors, skipped
