"""The stage: capgym circuits fills the run store and resumes; submit scores a circuit file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from capgym.circuits.env import Env
from capgym.circuits.export import export_hf
from capgym.circuits.runner import circuit_tasks, circuits, submit
from capgym.errors import UsageError
from capgym.models.base import LanguageModel
from capgym.store import open_run


def test_circuits_fills_tables_and_resumes(assets: Path, tmp_path: Path) -> None:
    said: list[str] = []

    def run_circuits() -> pd.DataFrame:
        return circuits(["stories260K"], ["repeated-name"], out=tmp_path, n_pairs=8,
                        methods=["patching", "eap-ig"], report=said.append)  # fmt: skip

    board = run_circuits()
    assert sorted(board.method) == ["eap-ig", "patching"]
    assert board.n_pairs.tolist() == [8, 8] and bool((board.valid_share < 1).all())
    run = open_run(tmp_path)
    comps = run.sql("select * from components where method = 'patching' order by rank")
    assert len(comps) == 46 and comps["rank"].tolist() == list(range(46))
    assert comps.score.abs().is_monotonic_decreasing
    scores = run.sql("select * from circuit_scores where method = 'patching' and mode = 'patch'")
    assert scores.faithfulness.iloc[0] == 0.0 and scores.faithfulness.iloc[-1] == 1.0
    hyp = run.sql("select * from circuit_hypotheses")
    assert hyp.statement.iloc[0].startswith("attention from decision to answer")
    att = run.sql("select * from circuit_attention")
    assert len(att) == 3 and all(len(t) == len(w) for t, w in zip(att.tokens, att.weights))
    from capgym.report import report

    html = report(
        tmp_path, tmp_path / "atlas.html", sections=["circuits"], exports=False
    ).read_text()
    assert "How could a transformer implement this?" in html and "Open challenge" in html
    said.clear()
    run_circuits()
    assert said == ["stories260K x repeated-name: cached"]


def test_submit_a_hand_written_circuit(assets: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    out = tmp_path / "run"
    path.write_text(json.dumps({"name": "mine", "nodes": ["embed", "L4H3", "MLP4"]}))
    row = submit("repeated-name", "stories260K", path, out=out, n_pairs=8).iloc[0]
    assert row.method == "submission:mine" and 0 < row.faithfulness < 1
    board = open_run(out).sql("select * from leaderboard")
    assert "submission:mine" in set(board.method)
    # the same circuit on fewer pairs is a second row, not an overwrite of the first
    submit("repeated-name", "stories260K", path, out=out, n_pairs=6)
    board = open_run(out).sql("select * from leaderboard where method = 'submission:mine'")
    assert sorted(board.n_pairs.tolist()) == [6, 8]
    path.write_text(json.dumps({"edges": ["embed->nowhere"]}))
    with pytest.raises(UsageError, match="unknown edge"):
        submit("repeated-name", "stories260K", path, out=out, n_pairs=8)
    path.write_text("{not json")
    with pytest.raises(UsageError, match="cannot read circuit"):
        submit("repeated-name", "stories260K", path, out=out, n_pairs=8)


def test_tasks_with_pairs() -> None:
    tasks = circuit_tasks(None)
    assert {"repeated-name", "closing-quote", "pronoun"} <= set(tasks)
    # every built-in task declares pairs now (issue 11)
    from capgym import tasks as tasks_pkg

    builtin = Path(tasks_pkg.__file__).parent / "builtin"
    assert {p.stem for p in builtin.glob("*.yaml")} <= set(tasks)


def test_hypothesis_check(stories: LanguageModel) -> None:
    from capgym.circuits.env import make_env

    env: Env = make_env("closing-quote", stories, n_pairs=16)
    check = env.check_hypothesis()
    assert check is not None and check.satisfied  # heads that look back at the open quote
    assert all(check.mass[h] >= 0.2 for h in check.satisfied)
    assert max(check.mass.values()) <= 1.0 + 1e-6
    assert -1.0 < check.recovery < 2.0


def test_export_matches_transformers(stories: LanguageModel, tmp_path: Path) -> None:
    from transformers import LlamaForCausalLM

    folder = export_hf(stories, tmp_path / "hf")
    hf = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager")
    ids = torch.tensor([stories.encode("Once upon a time, a girl named Lily saw a big dog.").ids])
    with torch.no_grad():
        assert torch.allclose(hf(ids).logits, stories.forward(ids), atol=1e-4, rtol=0)
    assert (folder / "tok512.bin").exists()


def test_bitllama_is_not_exported(bit1m: LanguageModel, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="ternary"):
        export_hf(bit1m, tmp_path)


@pytest.mark.parametrize(("task", "to"), [("repeated-name", "answer"), ("pronoun", {"slot": "name"}),
                                          ("closing-quote", {"text": '"'}), ("repeated-name", "previous-token+1")])  # fmt: skip
def test_hypothesis_targets(stories: LanguageModel, task: str, to: object) -> None:
    from capgym.circuits.env import make_env
    from capgym.circuits.hypothesis import _targets

    env = make_env(task, stories, n_pairs=6)
    targets = _targets(env.hooked, env.pairs, env.task, to)
    last = env.pairs.length - 1
    assert not bool(targets[torch.arange(6), last].any())  # never the decision itself
    if to != "previous-token+1":
        assert bool(targets.any(1).all())  # every prompt names the target
    p, row = env.pairs.pairs[0], targets[0]
    pieces = [env.model.piece(int(t)) for t, on in zip(env.pairs.clean[0], row) if on]
    text = (
        p.answer.strip()
        if to == "answer"
        else ('"' if isinstance(to, dict) and "text" in to else "")
    )
    assert text in "".join(pieces) or not text


def test_hooks_agree_across_backends(stories: LanguageModel, tmp_path: Path) -> None:
    """The same weights through llama2.c and through transformers give the same internals."""
    from types import SimpleNamespace

    from transformers import LlamaForCausalLM

    from capgym.circuits import HookedModel
    from capgym.circuits.baselines import node_patching
    from capgym.circuits.env import make_env

    hf = LlamaForCausalLM.from_pretrained(export_hf(stories, tmp_path), attn_implementation="eager")
    twin = SimpleNamespace(model=hf.eval(), vocab_size=stories.vocab_size, name="export",
                           device=torch.device("cpu"))  # fmt: skip
    a, b = HookedModel(stories), HookedModel(twin)  # type: ignore[arg-type]
    assert (a.points.backend, b.points.backend) == ("llama2c", "hf-llama")
    ps = make_env("repeated-name", stories, n_pairs=6).pairs
    names = ["blocks.2.attn.hook_z", "blocks.3.attn.hook_pattern", "blocks.4.hook_mlp_out"]
    _, ca = a.run(ps.clean, cache=names)
    _, cb = b.run(ps.clean, cache=names)
    for n in names:
        assert torch.allclose(ca[n], cb[n], atol=1e-4), n
    ra, rb = node_patching(a, ps).as_dict(), node_patching(b, ps).as_dict()
    assert max(abs(ra[k] - rb[k]) for k in ra) < 1e-3


@pytest.mark.parametrize("text", ['{"nodes": {"L0H0": 1}}', '{"nodes": "L0H0"}', "5", '{"x": 1}'])
def test_malformed_circuit_files_are_usage_errors(tmp_path: Path, text: str) -> None:
    from capgym.circuits.runner import read_circuit

    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(UsageError, match="needs a 'nodes' or 'edges' list"):
        read_circuit(path)


def test_exported_tokenizer_gives_capgym_ids(stories: LanguageModel, tmp_path: Path) -> None:
    """AutoTokenizer on the exported folder = capgym's encoding; the model's logits too."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    from capgym.corpus import load_corpus

    folder = export_hf(stories, tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(folder)
    texts = list(load_corpus("tinystories-validation-0-999", limit=20).texts)
    assert len(texts) == 20
    for text in texts:
        assert tok(text)["input_ids"] == stories.encode(text).ids
    hf = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager")
    ids = torch.tensor([stories.encode(texts[0]).ids[:200]])
    with torch.no_grad():
        assert torch.allclose(hf(ids).logits, stories.forward(ids), atol=1e-4)


def test_a_model_given_by_path_has_its_rows(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The tables name the loaded model, so a path still finds its rows (board and summary);
    a run where every model x task is skipped is a one-line error, not an empty table."""
    from capgym.circuits import runner
    from capgym.errors import TaskError
    from tests.cli import run_in_process

    path = str(assets / "models" / "stories260K")
    board = circuits([path], ["repeated-name"], out=tmp_path, n_pairs=4, methods=["patching"])
    assert board.model.tolist() == ["stories260K"]
    argv = ["circuits", "-m", path, "-t", "repeated-name", "--pairs", "4", "--methods",
            "patching", "--out", str(tmp_path)]  # fmt: skip
    code, out, err = run_in_process([*argv, "--summary"], capsys)
    assert code == 0 and "top heads by node patching" in out, err

    def no_pairs(*_a: object, **_k: object) -> Env:
        raise TaskError("no valid pair")

    monkeypatch.setattr(runner, "make_env", no_pairs)
    code, out, err = run_in_process([*argv[:-1], str(tmp_path / "other")], capsys)
    assert code != 0 and "skipped (no valid pair)" in err and "no circuit results" in err
    assert "Traceback" not in err
    code, out, err = run_in_process(["circuits", "-m", path, "--methods", ","], capsys)
    assert code != 0 and "no method given" in err


def test_a_model_by_name_and_by_path_shares_one_row_and_cache(assets: Path, tmp_path: Path) -> None:
    """Parts are keyed by the loaded model, not the string that named it: a rerun by path
    of a run by name is cached, and the tables hold one row per method, not two."""
    path = str(assets / "models" / "stories260K")
    said: list[str] = []
    for model in ("stories260K", path):
        circuits([model], ["repeated-name"], out=tmp_path, n_pairs=4, methods=["patching"],
                 report=said.append)  # fmt: skip
    assert said[-1] == "stories260K x repeated-name: cached"
    run = open_run(tmp_path)
    board = run.sql("select model, method from leaderboard")
    assert board.values.tolist() == [["stories260K", "patching"]]
    hyp = run.sql("select model from circuit_hypotheses")
    assert hyp.model.tolist() == ["stories260K"]
    circuit = tmp_path / "c.json"
    circuit.write_text(json.dumps({"name": "mine", "nodes": ["embed", "L4H3", "MLP4"]}))
    for model in ("stories260K", path):
        submit("repeated-name", model, circuit, out=tmp_path, n_pairs=4)
    subs = run.sql("select model from leaderboard where method = 'submission:mine'")
    assert subs.model.tolist() == ["stories260K"]
