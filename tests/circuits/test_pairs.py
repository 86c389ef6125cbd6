"""Counterfactual pairs: declared in task files, validated per tokenizer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from capgym import tasks
from capgym.circuits.env import Env
from capgym.circuits.pairs import build_pairs, logit_diff, pairs_of
from capgym.errors import TaskError
from capgym.models.base import LanguageModel
from capgym.tasks import make


def test_repeated_name_pairs_swap_the_introduced_name(stories: LanguageModel) -> None:
    task = make("repeated-name")
    raw = pairs_of(task)
    first = raw[0]
    by_id = {e.id: e for e in task.examples}
    assert first.clean == by_id[first.example_id].prompt  # the task's own example
    name, other = first.answer.strip(), first.wrong.strip()
    assert name in first.clean and name not in first.corrupt and other in first.corrupt
    assert first.alternates and all(w != first.wrong for _, w in first.alternates)
    ps = build_pairs(stories, task)
    assert ps.n_total == len(raw)
    # another name of the same token length is tried before a pair is given up
    assert 0.8 < ps.valid_share < 1 and ps.invalid["token lengths differ"] > 0
    assert all(
        p.clean == by_id[p.example_id].prompt and p.answer == by_id[p.example_id].answer
        for p in ps.pairs
    )
    assert ps.n_total == ps.n_valid + sum(ps.invalid.values())
    assert torch.equal((ps.clean != 0).sum(1) >= 0, torch.ones(ps.n_valid, dtype=torch.bool))
    assert bool((ps.answer != ps.wrong).all())
    for i in range(ps.n_valid):  # same length; the only differences are the names
        n = int(ps.length[i])
        assert (ps.clean[i, :n] != ps.corrupt[i, :n]).sum() >= 1


def test_decision_point_logit_difference_flips(env_name: Env) -> None:
    """stories260K copies the introduced name: clean > 0 > corrupt on average."""
    clean, corrupt = env_name.run(), env_name.run(on="corrupt")
    assert float(clean.mean()) > 1.0 and float(corrupt.mean()) < -1.0
    # an independent computation of the metric for one pair
    ps = env_name.pairs
    logits = env_name.model.forward(ps.clean[:1, : int(ps.length[0])])
    manual = logits[0, -1, ps.answer[0]] - logits[0, -1, ps.wrong[0]]
    assert abs(float(manual - clean[0])) < 1e-5


def test_other_modes_and_limits(stories: LanguageModel) -> None:
    pronoun = build_pairs(stories, make("pronoun"), limit=10)
    assert pronoun.n_valid == 10 and pronoun.valid_share > 0
    assert {p.template for p in pronoun.pairs} <= {"hungry", "found", "went-home"}
    quote = build_pairs(stories, make("closing-quote"), limit=10)
    assert all(p.corrupt.endswith(" and") for p in quote.pairs)
    assert float(logit_diff(stories.forward(quote.clean), quote).mean()) > float(
        logit_diff(stories.forward(quote.corrupt), quote).mean()
    )


# built-in tasks without valid pairs on stories260K, and why
NO_PAIRS: dict[str, str] = {}
NEW = {"common-phrase", "plural-singular", "semantic-association", "simple-reasoning",
       "story-closing", "story-opening", "story-structure", "word-completion"}  # fmt: skip
BUILTIN = sorted(p.stem for p in (Path(tasks.__file__).parent / "builtin").glob("*.yaml"))


@pytest.mark.parametrize("task_id", BUILTIN)
def test_every_builtin_task_has_pairs(stories: LanguageModel, task_id: str) -> None:
    """Same token length, answers differ, and the corruption lowers the logit difference."""
    task = make(task_id)
    if task_id in NO_PAIRS:
        with pytest.raises(TaskError, match="no valid counterfactual pair"):
            build_pairs(stories, task)
        return
    ps = build_pairs(stories, task)
    assert ps.valid_share > 0 and ps.clean.shape == ps.corrupt.shape
    assert bool((ps.answer != ps.wrong).all())
    for i in range(ps.n_valid):
        n = int(ps.length[i])
        assert bool((ps.clean[i, n:] == ps.corrupt[i, n:]).all())  # padding only
        assert (
            len(stories.encode(ps.pairs[i].clean).ids)
            == len(stories.encode(ps.pairs[i].corrupt).ids)
            or task.target == "word-rest"
        )
    with torch.no_grad():
        clean = logit_diff(stories.forward(ps.clean), ps).mean()
        corrupt = logit_diff(stories.forward(ps.corrupt), ps).mean()
    assert float(clean) != float(corrupt)  # the corruption moves the metric
    if task_id in NEW:  # measured: the mean clean logit difference is the higher one
        assert float(clean) > float(corrupt)


def test_word_prefix_pairs(stories: LanguageModel) -> None:
    """The corrupted input ends with another word's first piece; the prompts are equal."""
    ps = build_pairs(stories, make("word-completion"), limit=10)
    for i, p in enumerate(ps.pairs):
        assert p.clean == p.corrupt and p.answer != p.wrong
        n = int(ps.length[i])
        diff = (ps.clean[i, :n] != ps.corrupt[i, :n]).nonzero()[:, 0].tolist()
        assert diff  # the words' pieces differ, the prompt's tokens do not
        assert (
            stories.encode(p.clean).ids == ps.clean[i, : len(stories.encode(p.clean).ids)].tolist()
        )


def test_listed_corruptions_are_tried_in_order(stories: LanguageModel, tmp_path: Path) -> None:
    """A corrupted template of another token length gives way to the next one listed."""
    path = tmp_path / "alt.yaml"
    path.write_text(
        textwrap.dedent("""\
        id: alt-cf
        capability: repeated-name
        n: 6
        slots: {name: names}
        templates: [{id: t, prompt: "{Name} ran. Then", answer: " {name}", wrong: [" Bob"]}]
        counterfactual:
          prompts: {t: ["{Name} ran and ran and ran away. Then", "{Name} sat. Then"]}
        """)
    )
    raw = pairs_of(make(str(path)))
    assert raw and all(p.corrupt.endswith("ran away. Then") for p in raw)
    assert all(p.alternates[0][0].endswith("sat. Then") for p in raw)
    ps = build_pairs(stories, make(str(path)))
    assert ps.n_valid > 0
    assert all(p.corrupt.endswith("sat. Then") for p in ps.pairs)  # the first never fits
    prefix = tmp_path / "prefix.yaml"
    prefix.write_text(path.read_text().replace("prompts: {t:", "prefix: name\n  x: {t:"))
    with pytest.raises(TaskError, match="needs 'target: word-rest'"):
        pairs_of(make(str(prefix)))


def test_tasks_without_pairs_say_so(stories: LanguageModel, tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        textwrap.dedent("""\
        id: plain
        capability: repeated-name
        n: 4
        slots: {name: names}
        templates: [{id: t, prompt: "{Name} ran. Then", answer: " {name}", wrong: [" Bob"]}]
        """)
    )
    with pytest.raises(TaskError, match="declares no counterfactual"):
        build_pairs(stories, make(str(plain)))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent("""\
        id: bad-cf
        capability: repeated-name
        n: 4
        slots: {name: names}
        templates: [{id: t, prompt: "{Name} ran. Then", answer: " {name}", wrong: [" Bob"]}]
        counterfactual: {shuffle: true}
        """)
    )
    with pytest.raises(TaskError, match="swap, resample, prompts"):
        pairs_of(make(str(bad)))


def test_pairs_on_space_final_pieces_compare_pieces_of_running_text(assets: Path) -> None:
    """TinyStories-656K: pronoun pairs compare ``'she▁'`` with ``'he▁'``, as the gym does."""
    from capgym.models import load_model

    if not (assets / "models" / "TinyStories-656K").is_dir():
        pytest.skip("TinyStories-656K is not in the assets")
    lm = load_model("TinyStories-656K")
    ps = build_pairs(lm, make("pronoun"))
    ids = [int(t) for t in (*ps.answer.tolist(), *ps.wrong.tolist())]
    pieces = [lm.tokenizer.decode([t]) for t in ids]
    assert ps.n_valid > 100 and all(p.endswith(" ") for p in pieces)
    assert ps.invalid["no token boundary before the answer"] > 0  # ', so he▁' pieces
