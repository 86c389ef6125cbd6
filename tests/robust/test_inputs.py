"""Bad inputs found by an adversarial pass (issue 10, section 6): each gives one
``capgym: error`` line naming the problem and the fix, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli import run_in_process as run
from tests.robust.conftest import N_STORIES, copy_run


def one_line_error(code: int, err: str, *needles: str) -> str:
    assert code != 0, err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.startswith("capgym: error")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def score_argv(corpus: str | Path, out: Path, *extra: str) -> list[str]:
    return ["score", "-m", "stories260K", "-c", str(corpus), "-o", str(out), *extra]


def test_lone_surrogate_in_json_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "sur.jsonl"
    p.write_text('{"idx": 0, "text": "ok"}\n{"idx": 1, "text": "a \\ud83d b"}\n')
    code, _, err = run(score_argv(p, tmp_path / "run"), capsys)
    one_line_error(code, err, "sur.jsonl:2", "surrogate")


@pytest.mark.parametrize("idx", [2**70, -1])
def test_story_id_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], idx: int
) -> None:
    p = tmp_path / "big.jsonl"
    p.write_text(json.dumps({"idx": idx, "text": "Once upon a time."}) + "\n")
    code, _, err = run(score_argv(p, tmp_path / "run"), capsys)
    one_line_error(code, err, "big.jsonl:1", "'idx'", "out of range")


def test_corpus_that_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stories").mkdir()
    code, _, err = run(score_argv(tmp_path / "stories", tmp_path / "run"), capsys)
    line = one_line_error(code, err, "is a folder", ".jsonl")
    assert "does not exist" not in line


@pytest.mark.parametrize(
    ("device", "needle"), [("cuda", "--device cpu"), ("tpu", "unknown device 'tpu'")]
)
def test_unusable_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], device: str, needle: str
) -> None:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = score_argv("tinystories-validation-0-999", tmp_path / "run", "--limit", "2")
    code, _, err = run([*argv, "--device", device], capsys)
    one_line_error(code, err, needle)


@pytest.mark.parametrize("query", ["", "   ", ";"])
def test_empty_sql(scored_run: Path, capsys: pytest.CaptureFixture[str], query: str) -> None:
    code, _, err = run(["sql", query, "-o", str(scored_run)], capsys)
    one_line_error(code, err, "SELECT")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("score_sets", []),
        ("models", "stories260K"),
        ("current", 5),
        ("score_sets", {"k": {"model": "m", "n_rows": "many"}}),
        ("score_sets", {"k": 3}),
        ("current", {"no separator": "k"}),
    ],
)
def test_manifest_with_wrong_value_types(
    scored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: object
) -> None:
    run_dir = copy_run(scored_run, tmp_path / "run")
    manifest = json.loads((run_dir / "capgym.json").read_text())
    manifest[field] = value
    (run_dir / "capgym.json").write_text(json.dumps(manifest))
    for argv in (["sql", "SELECT 1", "-o", str(run_dir)], ["report", "-o", str(run_dir)]):
        code, _, err = run(argv, capsys)
        one_line_error(code, err, "capgym.json", "new --out")


def test_out_below_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("not a folder")
    argv = score_argv("tinystories-validation-0-999", tmp_path / "afile" / "sub", "--limit", "2")
    code, _, err = run(argv, capsys)
    one_line_error(code, err, "afile", "--out")


def test_tagger_file_calling_sys_exit(
    scored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "quitter.py"
    f.write_text("import sys\nsys.exit(3)\n")
    run_dir = copy_run(scored_run, tmp_path / "run")
    code, _, err = run(["tag", "-o", str(run_dir), "--user-taggers", str(f)], capsys)
    assert code == 2
    one_line_error(code, err, "quitter.py", "SystemExit")


def test_tagger_raising_keyboard_interrupt(
    scored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "ctrlc.py"
    f.write_text(
        "from capgym.tags import tagger\n\n"
        "@tagger('ctrlc-demo')\n"
        "def ctrlc(text, ctx):\n"
        "    raise KeyboardInterrupt\n"
    )
    run_dir = copy_run(scored_run, tmp_path / "run")
    try:
        code, _, err = run(["tag", "-o", str(run_dir), "--user-taggers", str(f)], capsys)
    finally:
        from capgym.tags.registry import unregister

        unregister("ctrlc-demo")
    assert code == 130
    assert "interrupted" in err and "rerun" in err and "Traceback" not in err


def test_unknown_hub_model_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["score", "-m", "bad/nonexist", "--limit", "2", "-o", str(tmp_path / "run")]
    code, _, err = run(argv, capsys)
    line = one_line_error(code, err, "'bad/nonexist'", "capgym models")
    assert "could not be loaded" not in line


def test_hf_folder_with_broken_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], assets: Path
) -> None:
    src = assets / "models" / "TinyStories-656K"
    if not src.is_dir():
        pytest.skip("TinyStories-656K is not in the assets")
    folder = tmp_path / "broken-hf"
    shutil.copytree(src, folder)
    (folder / "config.json").write_text('{"model_type": "llama", "hidden_size": ')
    argv = ["score", "-m", str(folder), "--limit", "2", "-o", str(tmp_path / "run")]
    code, _, err = run(argv, capsys)
    line = one_line_error(code, err, "config.json", "not valid JSON")
    assert "internet" not in line


def test_tasks_warns_about_a_broken_task_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t.yaml").write_text("id: [unclosed\n")
    monkeypatch.setenv("CAPGYM_TASKS", str(tmp_path))
    code, out, err = run(["tasks"], capsys)
    assert code == 0
    assert "t.yaml" in err and "warning" in err
    ids = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert "repeated-name" in ids and "t" not in ids


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_meaningless_limit_is_refused(
    scored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    run_dir = copy_run(scored_run, tmp_path / "run")
    code, _, err = run(
        score_argv("tinystories-validation-0-999", run_dir, "--limit", limit), capsys
    )
    one_line_error(code, err, "--limit", "positive")


def test_limit_does_not_replace_a_larger_finished_set(
    scored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from capgym.store import open_run

    run_dir = copy_run(scored_run, tmp_path / "run")
    query = "SELECT count(DISTINCT story) AS n, count(*) AS rows FROM scores"
    before = open_run(run_dir, create=False).sql(query)
    assert int(before.n[0]) == N_STORIES
    argv = score_argv("tinystories-validation-0-999", run_dir, "--limit", "2")
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "(cached)" in out
    after = open_run(run_dir, create=False).sql(query)
    assert after.equals(before)
    assert not any(p.name != "part-00000.parquet" for p in (run_dir / "scores").rglob("*.parquet"))
    assert len(list((run_dir / "scores").iterdir())) == 1  # nothing scored again


def test_larger_limit_still_replaces_a_smaller_set(
    scored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from capgym.store import open_run

    run_dir = copy_run(scored_run, tmp_path / "run")
    argv = score_argv("tinystories-validation-0-999", run_dir, "--limit", str(N_STORIES + 2))
    code, _, err = run(argv, capsys)
    assert code == 0, err
    n = open_run(run_dir, create=False).sql("SELECT count(DISTINCT story) AS n FROM scores").n[0]
    assert int(n) == N_STORIES + 2


def test_tag_on_a_run_without_stories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["tag", "-o", str(tmp_path / "empty")], capsys)  # was rc 0, no output
    one_line_error(code, err, "no stories", "--corpus")


def test_a_filtered_corpus_still_replaces_the_set(scored_run: Path, tmp_path: Path) -> None:
    # only prefixes (--limit) reuse a larger set; a corpus with a story dropped from its
    # middle (what --clean does) is scored and shown as before
    from capgym.corpus import load_corpus
    from capgym.models import load_model
    from capgym.score import score
    from capgym.store import open_run

    run_dir = copy_run(scored_run, tmp_path / "run")
    full = load_corpus("tinystories-validation-0-999", limit=N_STORIES)
    kept = [i for i in full.ids if i != full.ids[1]]
    s = score(load_model("stories260K"), full.subset(kept), run_dir, progress=False)
    assert not s.cached
    stories = open_run(run_dir, create=False).sql("SELECT DISTINCT story FROM scores").story
    assert sorted(stories) == sorted(kept)


def test_report_html_that_is_a_folder(
    scored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "site").mkdir()
    argv = ["report", "-o", str(scored_run), "--html", str(tmp_path / "site"), "--exports", "none"]
    code, _, err = run(argv, capsys)  # named a temporary file ".tmp-...html: Is a directory"
    one_line_error(code, err, "is a folder", "atlas.html")


def test_empty_corpus_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(score_argv("", tmp_path / "run"), capsys)  # was "corpus . is a folder"
    one_line_error(code, err, "no corpus given", "capgym corpora")
