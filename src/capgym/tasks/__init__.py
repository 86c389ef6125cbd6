"""The capability gym: tasks of (prompt, answer, wrong answers) for every capability.

A task is one declarative file (see :mod:`capgym.tasks.schema`): listed examples,
templates with slot fillers sampled with a seed, an optional Python generator hook,
mined examples from tagged corpora, and labelled red-team perturbations::

    id: pronoun-demo                 # kebab-case, unique in the suite
    capability: pronoun              # a family of the discovery stage (or a new one)
    description: ...                 # what is measured
    hypothesis: ...                  # how a transformer could implement it
    n: 200                           # synthetic examples, spread over the templates
    seed: 0
    slots: {name: names, obj: objects}          # filler lists (fillers.yaml) or inline
    templates:
      - id: hungry
        prompt: "{Name} was very hungry, so"     # {slot}, {slot.attr}, {Slot} capitalises
        answer: " {name.pron}"                   # answers carry their leading space
        wrong: [" {name.other_pron}"]
        symmetric: [a, b]            # optional: also emit the a<->b swapped example
    examples: [{prompt: ..., answer: ..., wrong: [...], meta: {...}}]
    generator: {function: bag-items, n: 100, params: {}}   # or module:func / file.py:func
    perturbations: [rename, distractor, {name: deep, n: 20}]
    mine: {capability: pronoun, wrong: other-pronoun, max: 200}

Drop such a file in a folder named by ``CAPGYM_TASKS`` (or :func:`add_task_dir`) and
``make("pronoun-demo")`` and ``capgym eval --tasks pronoun-demo`` find it.

>>> import capgym.tasks as gym
>>> t = gym.make("character-tracking", n=10)
>>> t.capability, sorted(set(e.meta["perturbation"] for e in t.examples))[:2]
('character-tracking', ['deep', 'distractor'])
"""

from __future__ import annotations

from capgym.tasks.build import BuiltExample, build_example, build_examples
from capgym.tasks.example import Example
from capgym.tasks.export import export_task
from capgym.tasks.fillers import Fillers
from capgym.tasks.generators import generator
from capgym.tasks.perturb import PERTURBATIONS, perturbation
from capgym.tasks.registry import add_task_dir, list_tasks, make, task_paths
from capgym.tasks.task import Task, load_task

__all__ = [
    "PERTURBATIONS",
    "BuiltExample",
    "Example",
    "Fillers",
    "Task",
    "add_task_dir",
    "build_example",
    "build_examples",
    "export_task",
    "generator",
    "list_tasks",
    "load_task",
    "make",
    "perturbation",
    "task_paths",
]
