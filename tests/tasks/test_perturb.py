"""Red-team perturbations are labelled, linked to their base, and do what they say."""

from __future__ import annotations

import random
import re

from capgym.tasks import PERTURBATIONS, Example, Fillers, make
from capgym.tasks.perturb import Context, split_last_sentence


def test_every_variant_is_labelled_and_linked() -> None:
    for tid in ["repeated-name", "pronoun", "dialogue-name", "plural-singular"]:
        task = make(tid, n=30)
        ids = {e.id for e in task.examples}
        for e in task.examples:
            p = e.meta["perturbation"]
            assert p == "none" or p in PERTURBATIONS
            if p != "none":
                assert e.id == f"{e.meta['base_id']}~{p}" and e.meta["base_id"] in ids


def _pairs(task_id: str, name: str) -> list[tuple[Example, Example]]:
    task = make(task_id, n=30)
    by_id = {e.id: e for e in task.examples}
    return [(by_id[e.meta["base_id"]], e) for e in task.examples
            if e.meta["perturbation"] == name]  # fmt: skip


def test_change_gender_flips_the_pronoun_answer() -> None:
    pairs = _pairs("pronoun", "change-gender")
    assert pairs
    for base, var in pairs:
        assert base.meta["slot.name.gender"] != var.meta["slot.name.gender"]
        if base.meta["template"] != "number":
            assert base.answer == var.wrong[0] and var.answer == base.wrong[0]


def test_remove_antecedent_removes_the_answer_word() -> None:
    pairs = _pairs("repeated-name", "remove-antecedent")
    assert pairs
    for base, var in pairs:
        word = var.answer.strip()
        assert word in base.prompt and word not in var.prompt
        assert var.meta["distance_bucket"] == "absent"


def test_lengthen_and_deep_increase_distance() -> None:
    for name in ("lengthen", "deep"):
        for base, var in _pairs("repeated-noun", name):
            assert var.prompt.endswith(split_last_sentence(base.prompt)[1])
            assert var.answer == base.answer and var.wrong == base.wrong
            if name == "lengthen":
                assert var.meta["distance_words"] > base.meta["distance_words"]
            else:
                assert var.meta["position"] == "deep" and var.prompt.endswith(base.prompt)


def test_rename_uses_unusual_names() -> None:
    rare = {r["value"] for r in Fillers.default().get("rare")}
    for base, var in _pairs("repeated-name", "rename"):
        assert var.meta["slot.name"] in rare and var.answer == " " + var.meta["slot.name"]
        assert base.meta["slot.name"] not in var.prompt


def test_text_level_rename_and_swap_on_plain_examples() -> None:
    ex = Example("e", "Sue met Tom. Then Tom waved at", " Sue", (" Tom",), {"names": "Sue,Tom"})
    ctx = Context("demo", random.Random(0), Fillers.default())
    swapped = PERTURBATIONS["swap"](ex, ctx)
    assert swapped is not None
    assert (swapped.prompt, swapped.answer) == ("Tom met Sue. Then Sue waved at", " Tom")
    renamed = PERTURBATIONS["rename"](ex, ctx)
    assert renamed is not None and "Sue" not in renamed.prompt + renamed.answer


def test_distractor_is_labelled_with_its_kind() -> None:
    kinds = {v.meta["distractor"] for _, v in _pairs("repeated-name", "distractor")}
    assert kinds <= {"name", "object"} and kinds


def test_nothing_is_inserted_between_a_quote_and_its_speaker_tag() -> None:
    t = make("dialogue-name", n=60)
    tagged = [e for e in t.examples if e.meta.get("template", "").startswith("speaker-tag")]
    pert = [e for e in tagged if e.meta["perturbation"] in ("lengthen", "distractor")]
    assert pert
    for e in pert:
        assert re.search(r'"[^"]*!" said$', e.prompt), e.prompt  # the quote stays with "said"


def test_invalid_variants_are_discarded_and_counted() -> None:
    from capgym.tasks.perturb import discard_reason

    base = Example("b", 'Sue gave Tom a hat. "Thanks!" said', " Tom", (" Sue",))
    ok = Example("b~lengthen", 'Sue gave Tom a hat. The sun was warm. "Thanks!" said', " Tom",
                 (" Sue",), {"perturbation": "lengthen"})  # fmt: skip
    assert discard_reason(base, ok) is None
    broken = Example("b~lengthen", 'Sue gave Tom a hat. "Thanks!" The sun was warm. said', " Tom",
                     (" Sue",), {"perturbation": "lengthen"})  # fmt: skip
    assert discard_reason(base, broken) == "question sentence changed"
    pron = Example("p", "Tom had a red ball. He gave the ball to", " Sue", (" Tom",))
    named = Example("p~distractor", "Tom had a red ball. Ben was there too. He gave the ball to",
                    " Sue", (" Tom",), {"perturbation": "distractor", "distractor": "name"})  # fmt: skip
    assert discard_reason(pron, named) == "distractor name before a pronoun or quote"
    t = make("dialogue-name", n=60)
    assert t.discarded and all(": " in k and v > 0 for k, v in t.discarded.items())
    assert t.metadata["perturbations_discarded"] == t.discarded
