"""The circuits summary reads the run store's circuit tables and reports what they hold."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from capgym.circuits import summary as summary_module
from capgym.circuits.env import make_env
from capgym.circuits.patching import run_variants
from capgym.circuits.runner import circuits
from capgym.circuits.summary import format_summary, summary
from capgym.circuits.tables import key
from capgym.errors import UsageError
from capgym.models.base import LanguageModel
from capgym.store import open_run
from tests.cli import run_in_process

TASKS = ["repeated-name", "closing-quote"]


@pytest.fixture(scope="module")
def run(assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """stories260K on two tasks, all three methods, at 8 pairs and (patching only) 4 pairs."""
    out = tmp_path_factory.mktemp("circ")
    circuits(["stories260K"], TASKS, out=out, n_pairs=8)
    circuits(["stories260K"], TASKS, out=out, n_pairs=4, methods=["patching"])
    return out


def test_top_heads_are_the_largest_patching_effects(run: Path, stories: LanguageModel) -> None:
    s = summary(run)
    assert sorted(set(s.top_heads.task)) == sorted(TASKS) and len(s.top_heads) == 6
    store = open_run(run)
    for task, g in s.top_heads.groupby("task"):
        assert g["rank"].tolist() == [1, 2, 3]
        # the 8-pair ranking (the default: the largest count), not the 4-pair one
        comps = store.read_table("components", key("stories260K", str(task), "patching", 8))
        heads = comps[comps.component.str.match(r"^L\d+H\d+$")]
        best = heads.assign(a=heads.score.abs()).nlargest(3, "a")
        assert g["head"].tolist() == best.component.tolist()
        assert g.effect.tolist() == best.score.tolist()
    # the reported effect is m(clean) - m(clean with the head patched from corrupted), 8 pairs
    env = make_env("repeated-name", stories, n_pairs=8)
    top = s.top_heads[s.top_heads.task == "repeated-name"].iloc[0]
    keep = torch.ones(2, len(env.components), dtype=torch.bool)
    keep[1, [c.name for c in env.components].index(top["head"])] = False
    m = run_variants(env.hooked, env.pairs, env.sources("patch"), keep).mean(1)
    assert top.effect == pytest.approx(float(m[0] - m[1]), abs=1e-5)
    assert top.share == pytest.approx(top.effect / (env.m_clean - env.m_corrupt), rel=1e-4)


def test_faithfulness_and_hypotheses_match_the_tables(run: Path) -> None:
    s = summary(run)
    assert len(s.faithfulness) == 6 and set(s.faithfulness.n_pairs) == {8}
    scores = open_run(run).sql("select * from circuit_scores where mode = 'patch'")
    for r in s.faithfulness.itertuples():
        curve = scores[(scores.task == r.task) & (scores.method == r.method)]
        at5 = curve[curve.fraction == 0.05].faithfulness
        assert len(at5) >= 1 and any(math.isclose(r.f_at_5, x, abs_tol=1e-9) for x in at5)
    assert sorted(s.hypotheses.task) == sorted(TASKS)
    text = format_summary(s)
    assert "== stories260K ==" in text and "top heads by node patching" in text
    for r in s.hypotheses.itertuples():
        assert r.statement in text
        if len(r.satisfied):
            assert f"recovers {r.recovery:.3f}" in text


def test_pairs_choose_the_part_and_filters_apply(run: Path) -> None:
    four = summary(run, pairs=4)
    assert set(four.faithfulness.method) == {"patching"} and set(four.faithfulness.n_pairs) == {4}
    assert len(four.top_heads) == 6 and four.hypotheses.shape[0] == 2
    one = summary(run, tasks=["closing-quote"])
    assert set(one.top_heads.task) == {"closing-quote"} and len(one.faithfulness) == 3
    with pytest.raises(UsageError, match="no circuit results"):
        summary(run, pairs=99)
    with pytest.raises(UsageError, match="no circuit results in .* for nope; 8 pairs"):
        summary(run, tasks=["nope"], pairs=8)


def test_bad_run_folders_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no run folder"):
        summary(tmp_path / "missing")
    open_run(tmp_path / "empty")
    with pytest.raises(UsageError, match="no circuit results"):
        summary(tmp_path / "empty")


def test_cli_prints_the_summary(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_in_process(["circuits", "--summary", "--out", str(run)], capsys)
    assert code == 0, err
    assert "top heads by node patching" in out and "hypothesis checks" in out
    code, out, err = run_in_process(["circuits", "--out", str(run)], capsys)
    assert code != 0 and "no model given" in err
    # --summary alone: the largest pair count unless --pairs names one
    code, out, err = run_in_process(["circuits", "--summary", "--pairs", "4", "--out", str(run)],
                                    capsys)  # fmt: skip
    assert code == 0 and "patching" in out and "attribution" not in out, err
    # with models: the (cached) run, then the summary of those models at that pair count
    argv = ["circuits", "-m", "stories260K", "-t", ",".join(TASKS), "--pairs", "4",
            "--methods", "patching", "--out", str(run), "--summary"]  # fmt: skip
    code, out, err = run_in_process(argv, capsys)
    assert code == 0 and "stories260K x repeated-name: cached" in err
    assert "top heads by node patching" in out and "attribution" not in out


def test_small_gaps_are_flagged() -> None:
    empty = pd.DataFrame(columns=["model", "task", "rank", "head", "effect", "share"])
    faith = pd.DataFrame([{"model": "m", "task": "t", "method": "patching", "level": "node",
                           "n_pairs": 5, "gap": 0.01, "f_at_5": 0.0, "f_at_20": 1.9,
                           "cpr": 1.0, "cmd": 0.5, "note": ""}])  # fmt: skip
    hyp = pd.DataFrame(columns=["model", "task", "statement", "satisfied", "recovery", "top_mass"])
    text = format_summary(summary_module.CircuitSummary(empty, faith, hyp))
    assert "warning: m x t: clean-corrupt gap below 0.5" in text and "f_at_5 = 0 exactly" in text


def test_docstring_example(assets: Path) -> None:
    assert doctest.testmod(summary_module, optionflags=doctest.ELLIPSIS).failed == 0


def test_bitllama_gradient_rows_say_straight_through(assets: Path, tmp_path: Path) -> None:
    """The leaderboard, the atlas and the summary mark bitllama's gradient baselines as STE."""
    from capgym.report import report

    circuits(["bitllama-1M"], ["repeated-name"], out=tmp_path, n_pairs=4,
             methods=["patching", "attribution"])  # fmt: skip
    s = summary(tmp_path)
    notes = dict(zip(s.faithfulness.method, s.faithfulness.note))
    assert "straight-through" in notes["attribution"] and notes["patching"] == ""
    assert "STE gradients" in format_summary(s)
    html = report(tmp_path, tmp_path / "atlas.html", sections=["circuits"], exports=False)
    text = html.read_text()
    assert text.count("straight-through estimates") == 1  # the attribution row only


def test_submissions_are_not_baselines(run: Path, tmp_path: Path) -> None:
    from capgym.circuits.runner import submit

    before = summary(run).faithfulness
    path = tmp_path / "c.json"
    path.write_text('{"name": "mine", "nodes": ["embed", "L4H4"]}')
    submit("repeated-name", "stories260K", path, out=run, n_pairs=8)
    board = open_run(run).sql("select method from leaderboard")
    assert "submission:mine" in set(board.method)
    pd.testing.assert_frame_equal(summary(run).faithfulness, before)


def _table_methods(text: str) -> set[str]:
    """The methods named in the faithfulness rows of a printed summary."""
    return {w for line in text.splitlines() for w in line.split()[1:2]
            if w in ("patching", "attribution", "eap-ig")}  # fmt: skip


def test_methods_restrict_the_summary(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--methods chooses the summarised methods, with --models (a cached run) or alone;
    --pairs still chooses the part."""
    s = summary(run, methods=["attribution", "eap-ig"])
    assert set(s.faithfulness.method) == {"attribution", "eap-ig"} and s.top_heads.empty
    assert set(s.faithfulness.n_pairs) == {8} and len(s.hypotheses) == 2
    assert "top heads by node patching" not in format_summary(s)
    # attribution is stored at 8 pairs only: the largest count among the chosen methods
    one = summary(run, methods=["attribution"], tasks=["closing-quote"])
    assert one.faithfulness.method.tolist() == ["attribution"]
    with pytest.raises(UsageError, match="for attribution; 4 pairs"):
        summary(run, methods=["attribution"], pairs=4)
    base = ["circuits", "-m", "stories260K", "-t", ",".join(TASKS), "--out", str(run),
            "--summary"]  # fmt: skip
    code, out, err = run_in_process([*base, "--pairs", "8", "--methods", "patching"], capsys)
    assert code == 0 and "stories260K x closing-quote: cached" in err, err
    assert _table_methods(out) == {"patching"} and "top heads by node patching" in out
    code, out, err = run_in_process([*base, "--pairs", "8", "--methods", "eap-ig"], capsys)
    assert code == 0 and _table_methods(out) == {"eap-ig"}, err
    alone = ["circuits", "--summary", "--out", str(run), "--methods"]
    code, out, err = run_in_process([*alone, "attribution"], capsys)
    assert code == 0 and _table_methods(out) == {"attribution"}, err
    code, out, err = run_in_process([*alone, "nope"], capsys)
    assert code != 0 and "unknown method 'nope'" in err and "Traceback" not in err
