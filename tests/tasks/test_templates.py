"""Template expansion: reproducible with a seed, slot constraints, symmetric pairs."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from capgym.tasks import Fillers, make
from capgym.tasks.templates import Template, expand, parse_slots

FILLERS = Fillers.default()


def _template(**kw: object) -> Template:
    slots = parse_slots(
        {"a": "names", "b": {"from": "names", "same": {"gender": "a"}},
         "c": {"from": "names", "differ": {"gender": "a"}}},
        "test",
    )  # fmt: skip
    base = {"id": "t", "prompt": "{A} met {b} and {c}. {A.pron} said hi to", "answer": " {b}",
                "wrong": (" {c}",), "slots": slots}  # fmt: skip
    return Template(**{**base, **kw})  # type: ignore[arg-type]


def test_same_seed_same_examples() -> None:
    a = make("repeated-name", n=40, seed=3)
    b = make("repeated-name", n=40, seed=3)
    assert [e.to_dict() for e in a.examples] == [e.to_dict() for e in b.examples]
    assert a.content_hash == b.content_hash


def test_other_seed_other_examples() -> None:
    a = make("repeated-name", n=40, seed=3)
    c = make("repeated-name", n=40, seed=4)
    assert a.content_hash != c.content_hash


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_constraints_hold_for_any_seed(seed: int) -> None:
    for ex, values in expand("demo", [_template()], FILLERS, 5, random.Random(seed)):
        a, b, c = values["a"], values["b"], values["c"]
        assert len({a["value"], b["value"], c["value"]}) == 3
        assert a["gender"] == b["gender"] != c["gender"]
        assert ex.prompt.startswith(a["value"]) and ex.answer == " " + b["value"]
        assert ex.prompt.split(". ")[1].split()[0] == a["pron"].capitalize()
        assert ex.meta["slot.a.gender"] == a["gender"]


def test_symmetric_pairs_swap_the_slots() -> None:
    t = _template(symmetric=("b", "c"), slots=parse_slots({"a": "names.girl", "b": "names.boy",
                                                           "c": "names.boy"}, "t"))  # fmt: skip
    out = expand("demo", [t], FILLERS, 6, random.Random(0))
    assert len(out) == 6
    for (x, _), (y, _) in zip(out[::2], out[1::2]):
        assert x.meta["pair"] == y.meta["pair"] and (x.meta["order"], y.meta["order"]) == ("a", "b")
        assert x.answer == y.wrong[0] and y.answer == x.wrong[0]


def test_weights_and_dedup() -> None:
    t1 = Template("one", "Hi", " {x}", (), parse_slots({"x": ["a", "b"]}, "t"))
    t2 = Template("many", "{N} ran", " home", (), parse_slots({"n": "names"}, "t"), weight=3)
    out = expand("demo", [t1, t2], FILLERS, 40, random.Random(0))
    counts = {"one": 0, "many": 0}
    for ex, _ in out:
        counts[ex.meta["template"]] += 1
    assert counts == {"one": 2, "many": 38}  # "one" has 2 fillings; "many" takes the rest


def test_plural_records_and_capitalised_attributes() -> None:
    t = Template("p", "{Name} had many {obj.plural}.", " {obj.Pron}", (),
                 parse_slots({"name": "names", "obj": "objects.plural"}, "t"))  # fmt: skip
    ex, values = expand("demo", [t], FILLERS, 1, random.Random(0))[0]
    assert values["obj"]["number"] == "plural" and ex.answer == " They"
