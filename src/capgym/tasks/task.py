"""A task: examples of one capability, loaded from a task file, measurable on any model.

A task describes; the evaluate stage runs it (``capgym.evaluate.evaluate_task(model, task)``).

>>> from capgym.tasks import make
>>> t = make("repeated-name", n=20)
>>> t.capability, len(t) > 20, t.examples[0].meta["source"]
('repeated-name', True, 'template')
"""

from __future__ import annotations

import hashlib
import html
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from capgym.errors import TaskError
from capgym.tasks.build import BuiltExample, build_examples
from capgym.tasks.example import Example, with_distance
from capgym.tasks.fillers import Fillers, Record
from capgym.tasks.generators import resolve, to_example
from capgym.tasks.mine import mine_examples
from capgym.tasks.perturb import PERTURBATIONS, Context, discard_reason
from capgym.tasks.schema import LineMap, line_of, read_task_file
from capgym.tasks.templates import Template, expand, parse_slots

if TYPE_CHECKING:
    from capgym.models.base import LanguageModel

DEFAULT_N = 200
DEFAULT_PERTURB_N = 20


@dataclass
class Task:
    """Examples of one capability plus what a researcher needs to read them."""

    id: str
    capability: str
    examples: list[Example]
    description: str = ""
    hypothesis: str = ""
    tags: list[str] = field(default_factory=list)
    target: str = "answer"  # "word-rest": score only the pieces after a word's first
    path: Path | None = None
    seed: int = 0
    # perturbed variants discarded as invalid, "<perturbation>: <reason>" -> count
    discarded: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def content_hash(self) -> str:
        """Hash of everything that decides the results (the evaluation cache key)."""
        payload = {
            "id": self.id,
            "capability": self.capability,
            "target": self.target,
            "examples": [e.to_dict() for e in self.examples],
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    @property
    def metadata(self) -> dict[str, Any]:
        """Task-level facts: id, capability, description, hypothesis, counts by source."""
        return {
            "id": self.id,
            "capability": self.capability,
            "description": self.description,
            "hypothesis": self.hypothesis,
            "tags": list(self.tags),
            "target": self.target,
            "n_examples": len(self),
            "sources": dict(Counter(e.meta.get("source", "?") for e in self.examples)),
            "perturbations": dict(Counter(e.meta.get("perturbation") for e in self.examples)),
            "perturbations_discarded": dict(self.discarded),
            "path": str(self.path) if self.path else None,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per example: id, prompt, answer, wrong and one column per meta field."""
        rows = [
            {"example_id": e.id, "prompt": e.prompt, "answer": e.answer, "wrong": list(e.wrong),
             **e.meta}
            for e in self.examples
        ]  # fmt: skip
        return pd.DataFrame(rows)

    def build(self, model: LanguageModel) -> tuple[list[BuiltExample], list[TaskError], int]:
        """Token ids for ``model``: (built examples, per-example errors, not applicable)."""
        return build_examples(model, self.id, self.examples, self.target)

    def export(self, fmt: str, dest: str | Path) -> list[Path]:
        """Write this task as ``lm-eval`` (YAML + jsonl) or ``jsonl``; returns the files."""
        from capgym.tasks.export import export_task

        return export_task(self, fmt, dest)

    def _repr_html_(self) -> str:
        m = self.metadata
        rows = []
        for e in self.examples[:8]:
            tail = e.prompt[-120:]
            wrong = " | ".join(html.escape(w) for w in e.wrong)
            rows.append(
                f"<tr><td><code>{html.escape(e.id)}</code></td><td style='white-space:pre-wrap'>"
                f"…{html.escape(tail)}<b style='color:#1a7f37'>{html.escape(e.answer)}</b></td>"
                f"<td style='color:#cf222e'>{wrong}</td>"
                f"<td>{html.escape(str(e.meta.get('perturbation', '')))}</td></tr>"
            )
        counts = ", ".join(f"{k}: {v}" for k, v in m["sources"].items())
        return (
            f"<div><h4>Task <code>{html.escape(self.id)}</code> · capability "
            f"<code>{html.escape(self.capability)}</code> · {len(self)} examples ({counts})</h4>"
            f"<p>{html.escape(self.description)}</p>"
            f"<p><i>Hypothesis:</i> {html.escape(self.hypothesis)}</p>"
            "<table><tr><th>id</th><th>prompt + answer</th><th>wrong</th><th>perturbation</th>"
            f"</tr>{''.join(rows)}</table></div>"
        )

    def __repr__(self) -> str:
        return f"Task({self.id!r}, capability={self.capability!r}, examples={len(self)})"


def _templates(data: dict[str, Any], lines: LineMap, where: str) -> list[Template]:
    parse_slots(data.get("slots", {}), where)
    out = []
    for i, raw in enumerate(data.get("templates", [])):
        at = f"{where}: line {line_of(lines, ('templates', i))}"
        slots = parse_slots({**data.get("slots", {}), **raw.get("slots", {})}, at)
        wrong = raw.get("wrong", ())
        t = Template(
            id=raw["id"],
            prompt=raw["prompt"],
            answer=raw["answer"],
            wrong=(wrong,) if isinstance(wrong, str) else tuple(wrong),
            slots=slots,
            symmetric=tuple(raw["symmetric"]) if "symmetric" in raw else None,  # type: ignore[arg-type]
            weight=float(raw.get("weight", 1.0)),
            meta=dict(raw.get("meta", {})),
        )
        try:
            t.used()
            for s in t.symmetric or ():
                t._slot_name(s)
        except TaskError as e:
            raise TaskError(f"{at}: {e}") from None
        out.append(t)
    return out


def _listed(data: dict[str, Any]) -> list[Example]:
    out = []
    for i, raw in enumerate(data.get("examples", [])):
        wrong = raw.get("wrong", ())
        meta = {"source": "listed", **raw.get("meta", {})}
        ex_id = str(raw.get("id", f"ex-{i:04d}"))
        out.append(Example(ex_id, raw["prompt"], raw["answer"],
                           (wrong,) if isinstance(wrong, str) else tuple(wrong), meta))  # fmt: skip
    return out


def _perturb(
    task_id: str,
    specs: list[Any],
    bases: list[tuple[Example, Template | None, dict[str, Record] | None]],
    fillers: Fillers,
    seed: int,
    lines: LineMap,
    where: str,
) -> tuple[list[Example], Counter[str]]:
    """The perturbed variants that are still valid examples, and the discards by reason
    (see :func:`capgym.tasks.perturb.discard_reason`)."""
    out: list[Example] = []
    discarded: Counter[str] = Counter()
    for i, spec in enumerate(specs):
        name, n = (
            (spec, DEFAULT_PERTURB_N)
            if isinstance(spec, str)
            else (spec["name"], spec.get("n", DEFAULT_PERTURB_N))
        )
        fn = PERTURBATIONS.get(name)
        if fn is None:
            raise TaskError(f"{where}: line {line_of(lines, ('perturbations', i))}: unknown "
                            f"perturbation '{name}'; known: {', '.join(PERTURBATIONS)}")  # fmt: skip
        rng = random.Random(f"{seed}:{task_id}:{name}")
        picked = sorted(rng.sample(range(len(bases)), min(n, len(bases))))
        for j in picked:
            ex, tpl, values = bases[j]
            new = fn(ex, Context(task_id, rng, fillers, tpl, values))
            if new is None:
                continue
            reason = discard_reason(ex, new)
            if reason is None:
                out.append(new)
            else:
                discarded[f"{name}: {reason}"] += 1
    return out, discarded


def load_task(
    path: str | Path,
    *,
    n: int | None = None,
    seed: int | None = None,
    perturb: bool = True,
    stories: pd.DataFrame | None = None,
    tags: pd.DataFrame | None = None,
    mined: int | None = None,
) -> Task:
    """Read a task file and generate its examples (mined ones when stories+tags are given;
    at most ``mined`` of them, by default the file's ``mine.max``)."""
    path = Path(path)
    data, lines = read_task_file(path)
    where = str(path)
    task_id = data["id"]
    seed = data.get("seed", 0) if seed is None else seed
    n = data.get("n", DEFAULT_N) if n is None else n
    fillers = Fillers.default()
    if "fillers" in data:
        fillers = fillers.extended(data["fillers"], where)
    templates = _templates(data, lines, where)
    rng = random.Random(f"{seed}:{task_id}")
    bases: list[tuple[Example, Template | None, dict[str, Record] | None]] = [
        (e, None, None) for e in _listed(data)
    ]
    by_id = {t.id: t for t in templates}
    if templates and n:
        for ex, values in expand(task_id, templates, fillers, n, rng):
            bases.append((ex, by_id[ex.meta["template"]], values))
    if "generator" in data:
        g = data["generator"]
        fn = resolve(g["function"], path.parent, f"{where}: line {line_of(lines, ('generator',))}")
        g_n = g.get("n", n)
        try:
            items = fn(random.Random(f"{seed}:{task_id}:gen"), fillers, g_n, **g.get("params", {}))
        except TaskError:
            raise
        except Exception as e:  # noqa: BLE001  (user hook)
            raise TaskError(f"task {task_id}: generator {g['function']} failed: {e}") from None
        for i, item in enumerate(items):
            ex = to_example(item, i, f"task {task_id}")
            bases.append((ex.with_meta(source=ex.meta.get("source", "generator")), None, None))
    examples = [b[0] for b in bases]
    discarded: Counter[str] = Counter()
    if perturb and data.get("perturbations"):
        variants, discarded = _perturb(task_id, data["perturbations"], bases, fillers, seed,
                                       lines, where)  # fmt: skip
        examples += variants
    if "mine" in data and stories is not None and tags is not None:
        examples += mine_examples(
            data["mine"], stories, tags, task_id, random.Random(seed), limit=mined
        )
    examples = [_finish(e, task_id) for e in examples]
    dup = [k for k, v in Counter(e.id for e in examples).items() if v > 1]
    if dup:
        raise TaskError(f"{where}: task {task_id} example {dup[0]}: duplicate example id")
    if not examples:
        raise TaskError(f"{where}: task {task_id} has no examples")
    return Task(
        id=task_id,
        capability=data["capability"],
        examples=examples,
        description=data.get("description", "").strip(),
        hypothesis=data.get("hypothesis", "").strip(),
        tags=list(data.get("tags", [])),
        target=data.get("target", "answer"),
        path=path,
        seed=seed,
        discarded=dict(sorted(discarded.items())),
    )


def _finish(ex: Example, task_id: str) -> Example:
    """Checks and default metadata, plus ``recency``: which candidate occurs last in the
    prompt (``answer``, ``wrong`` or ``none``; a slice of the uniformity analysis)."""
    from capgym.tasks.baselines import recency_label

    if not ex.answer.strip():
        raise TaskError(f"task {task_id} example {ex.id}: the answer is empty")
    meta = {"perturbation": "none", "position": "start", "recency": recency_label(ex), **ex.meta}
    return with_distance(Example(ex.id, ex.prompt, ex.answer, ex.wrong, meta))
