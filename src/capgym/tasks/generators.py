"""Python hooks that generate examples a template cannot express.

A task file names a hook with ``generator: {function: NAME, n: 200, params: {...}}``,
where NAME is a registered name (``@generator("bag-items")``), ``package.module:func``
or ``file.py:func`` relative to the task file.  A hook receives a seeded
``random.Random``, the fillers, the number of examples wanted and the params, and
returns :class:`Example` objects (or dicts with prompt, answer, wrong, meta, id).

>>> import random
>>> from capgym.tasks.fillers import Fillers
>>> ex = GENERATORS["bag-items"](random.Random(1), Fillers.default(), 1)[0]
>>> ex.answer in ex.prompt, ex.answer in ex.wrong
(True, False)
"""

from __future__ import annotations

import importlib
import importlib.util
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capgym.errors import TaskError
from capgym.tasks.example import Example
from capgym.tasks.fillers import Fillers
from capgym.tasks.templates import slot_meta

Generator = Callable[..., list[Any]]
GENERATORS: dict[str, Generator] = {}


def generator(name: str) -> Callable[[Generator], Generator]:
    """Register a hook under ``name`` for task files' ``generator.function``."""

    def deco(fn: Generator) -> Generator:
        GENERATORS[name] = fn
        return fn

    return deco


def resolve(spec: str, base_dir: Path | None, where: str) -> Generator:
    """The hook named ``spec`` (registered name, ``module:func`` or ``file.py:func``)."""
    if spec in GENERATORS:
        return GENERATORS[spec]
    if ":" not in spec:
        raise TaskError(f"{where}: unknown generator '{spec}'; known: {', '.join(GENERATORS)}")
    target, func = spec.rsplit(":", 1)
    try:
        if target.endswith(".py"):
            path = (base_dir or Path.cwd()) / target
            mod_spec = importlib.util.spec_from_file_location(f"capgym_hook_{path.stem}", path)
            if mod_spec is None or mod_spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        fn = getattr(module, func)
    except Exception as e:  # noqa: BLE001  (a user's hook may fail in any way)
        raise TaskError(f"{where}: cannot import generator '{spec}': {type(e).__name__}: {e}")
    if not callable(fn):
        raise TaskError(f"{where}: generator '{spec}' is not callable")
    return fn


def to_example(obj: Any, i: int, where: str) -> Example:
    """Accept an :class:`Example` or a dict from a hook."""
    if isinstance(obj, Example):
        return obj
    if not isinstance(obj, dict) or not {"prompt", "answer"} <= obj.keys():
        raise TaskError(f"{where}: generator item {i} needs 'prompt' and 'answer'")
    wrong = obj.get("wrong", ())
    wrong = (wrong,) if isinstance(wrong, str) else tuple(wrong)
    ex_id = str(obj.get("id", f"gen-{i:04d}"))
    return Example(ex_id, str(obj["prompt"]), str(obj["answer"]), wrong, dict(obj.get("meta", {})))


def _list(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


@generator("bag-items")
def bag_items(rng: random.Random, fillers: Fillers, n: int, max_items: int = 4) -> list[Example]:
    """Things go into a bag and all but one come out: which one is left?"""
    out: list[Example] = []
    names = fillers.get("names")
    objects = fillers.get("objects")
    seen: set[str] = set()
    while len(out) < n and len(seen) < 50 * n:
        name = rng.choice(names)
        k = rng.randint(2, max_items)
        items = [r["value"] for r in rng.sample(objects, k)]
        keep = rng.randrange(k)
        taken = [x for i, x in enumerate(items) if i != keep]
        order = rng.sample(taken, len(taken))
        pron = name["pron"].capitalize()
        prompt = (
            f"{name['value']} had a big bag. {pron} put "
            + _list([f"a {x}" for x in items])
            + f" in the bag. Then {name['pron']} took out "
            + _list([f"the {x}" for x in order])
            + ". Now there was only one thing in the bag. It was the"
        )
        if prompt in seen:
            seen.add(prompt + str(len(seen)))
            continue
        seen.add(prompt)
        meta = {
            "items": k,
            "kept_position": keep,
            "names": name["value"],
            **slot_meta({"name": name}),
        }
        wrong = tuple(f" {x}" for x in taken)
        out.append(Example(f"bag-{len(out):04d}", prompt, f" {items[keep]}", wrong, meta))
    return out


@generator("counting")
def counting(rng: random.Random, fillers: Fillers, n: int) -> list[Example]:
    """Simple arithmetic in words: had two, got one more, now has three."""
    words = ["one", "two", "three", "four", "five"]
    out: list[Example] = []
    things = fillers.get("foods")
    names = fillers.get("names")
    seen: set[str] = set()
    tries = 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        name, thing = rng.choice(names), rng.choice(things)
        a, b = rng.randint(1, 3), rng.randint(1, 2)
        op = rng.choice(["add", "sub"]) if a > b else "add"
        res = a + b if op == "add" else a - b
        if res > 5 or res < 1:
            continue
        plural = thing["plural"]
        had = f"{words[a - 1]} {thing['value'] if a == 1 else plural}"
        n_b = f"{words[b - 1]} {'more' if op == 'add' else ''}".strip()
        verb = f"Mom gave {name['obj']} {n_b}" if op == "add" else f"{name['pron']} ate {n_b}"
        verb = verb[0].upper() + verb[1:]
        prompt = f"{name['value']} had {had}. {verb}. Now {name['pron']} had"
        if prompt in seen:
            continue
        seen.add(prompt)
        alts = dict.fromkeys([words[a - 1], words[b - 1]])
        wrongs = tuple(f" {w}" for w in alts if w != words[res - 1])
        meta = {"operation": op, "result": res, "names": name["value"], **slot_meta({"name": name})}
        out.append(Example(f"count-{len(out):04d}", prompt, f" {words[res - 1]}", wrongs, meta))
    return out
