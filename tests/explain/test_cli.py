"""``capgym explain`` and ``capgym diff`` at the CLI edge, on a hand-made run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import assert_one_line_error as one_line_error
from tests.cli import capgym
from tests.explain.synth import add_scores, add_tags, new_run, pieces, score_rows

TEXT = "Lily saw a kite. Lily saw it."


def make_run(tmp_path: Path) -> Path:
    run = new_run(tmp_path / "run", "c", [TEXT])
    vocab: dict[str, int] = {}
    add_scores(run, "A", "c", score_rows("A", "c", 0, pieces(TEXT), vocab, lambda p, _: (0.6, 0)))
    add_scores(run, "B", "c", score_rows("B", "c", 0, pieces(TEXT), vocab,
                                         lambda p, _: (0.3, 1) if p % 2 else (0.9, 0)))  # fmt: skip
    add_tags(run, "c", [(0, 17, 21, "repeated-name")])
    return run.path


def test_explain_errors(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    one_line_error(capgym("explain", "--model", "nope", "--out", str(run), cwd=tmp_path),
                   "no scores", "capgym score --model nope")  # fmt: skip
    one_line_error(capgym("explain", "--model", "A", "--corpus", "d", "--out", str(run),
                          cwd=tmp_path), "not scored on corpus 'd'")  # fmt: skip
    one_line_error(capgym("explain", "--model", "A", "--threshold", "0", "--out", str(run),
                          cwd=tmp_path), "threshold")  # fmt: skip
    # "A" is not a model capgym can load, so the reference cannot be tokenized
    one_line_error(capgym("explain", "--model", "A", "--out", str(run), "--no-tag", cwd=tmp_path),
                   "cannot load model 'A'")  # fmt: skip
    one_line_error(capgym("explain", "--model", "A", "--out", str(tmp_path / "none"),
                          cwd=tmp_path), "does not exist")  # fmt: skip


def test_diff_cli(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    res = capgym("diff", "A", "B", "--out", str(run), "--no-tag", "--quantile", "0,1",
                 cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "gains" in res.stdout and "repeated-name" in res.stdout
    assert "[[Lily]]" in res.stdout  # story text is not read as rich markup
    res = capgym("diff", "A", "B", "--out", str(run), "--no-tag", "--json", cwd=tmp_path)
    data = json.loads(res.stdout)
    assert data["mode"] == "token" and data["n_gains"] + data["n_losses"] > 0
    one_line_error(capgym("diff", "A", "B", "--out", str(run), "--quantile", "x", cwd=tmp_path),
                   "--quantile")  # fmt: skip
    one_line_error(capgym("diff", "A", "Z", "--out", str(run), cwd=tmp_path),
                   "capgym score --model Z")  # fmt: skip
    one_line_error(capgym("diff", "A", "B", "--mode", "chars", "--out", str(run), "--no-tag",
                          cwd=tmp_path), "unknown mode")  # fmt: skip
