"""The capability gym: tasks of (prompt, answer, wrong answers) for every capability.

A task is one declarative file (see :mod:`capgym.tasks.schema`): listed examples,
templates with slot fillers sampled with a seed, an optional Python generator hook,
mined examples from tagged corpora, and labelled red-team perturbations.

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
