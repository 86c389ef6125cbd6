"""An editable ``@tagger`` for a cluster: the rule its commonest contexts suggest.

The skeleton is a complete tagger file: it marks the cluster's top predicted words when
they follow one of its top previous words, and its docstring records what the cluster
holds, so a researcher starts from something that runs and edits the rule.

>>> code = skeleton("candidate-demo", "cluster 0 of m's residue", [","], ["said", "asked"],
...                 ['"Hi[[,]]" said Tom'])
>>> ns = {}
>>> exec(code, ns)
>>> [(s.char_start, s.attrs["rule"]) for s in ns["candidate"]("He said, no.", None)]
[(7, 'candidate-demo')]
>>> from capgym.tags.registry import unregister; unregister("candidate-demo")
"""

from __future__ import annotations

import re

_SHOWN = {"↵": "\n", "␣": " "}


def _alternatives(words: list[str]) -> str:
    parts = []
    for w in words:
        w = _SHOWN.get(w, w)
        esc = re.escape(w)
        parts.append(rf"\b{esc}\b" if re.fullmatch(r"\w+(?:'\w+)?", w) else esc)
    return "|".join(parts)


def skeleton(
    name: str, where: str, targets: list[str], prev_words: list[str], examples: list[str]
) -> str:
    """Source of a tagger ``name`` marking ``targets`` right after ``prev_words`` (``<start>``
    means the story's start); ``where`` and ``examples`` go into its docstring."""
    prevs = [p for p in prev_words if p and p != "<start>"]
    starts = [r"\A\W*"] if "<start>" in prev_words else []
    before = "|".join(starts + ([rf"\b(?:{_alternatives(prevs)})"] if prevs else []))
    rule = rf"(?:{before})[^\w]*?(?P<target>{_alternatives(targets) or '.'})"
    shown = "\n".join(f"        {e}" for e in examples[:3]).replace('"""', "'''")
    doc = (
        f"Candidate capability from {where}.\n\n    Top predicted words: {', '.join(targets)}; "
        f"after: {', '.join(prev_words)}.\n    Examples (target in [[ ]]):\n\n{shown}\n\n"
        "    Edit the rule: it marks a top word right after a top previous word.\n    "
    )
    return f'''"""{name}: a candidate capability found by `capgym cluster`."""

import re

from capgym.tags import Span, TagContext, tagger

RULE = re.compile({rule!r}, re.IGNORECASE)


@tagger({name!r})
def candidate(text: str, ctx: TagContext):
    """{doc}"""
    for m in RULE.finditer(text):
        yield Span(m.start("target"), m.end("target"), {{"rule": {name!r}}})
'''
