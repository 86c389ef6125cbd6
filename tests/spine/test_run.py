"""The main job end to end on a small slice, and the listing commands."""

from __future__ import annotations

from pathlib import Path

from capgym.store import open_run
from tests.cli import assert_one_line_error, capgym


def test_run_scores_tags_and_reports(tmp_path: Path, assets: Path) -> None:
    out = tmp_path / "run"
    res = capgym(
        "run",
        "--models",
        "stories260K,llama2xs-279K",
        "--limit",
        "4",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "stories260K" in res.stdout and "NLL/token" in res.stdout
    assert (out / "atlas.html").is_file()
    run = open_run(out)
    counts = run.sql("SELECT model, count(*) AS n FROM scores GROUP BY model ORDER BY model")
    assert counts.model.tolist() == ["llama2xs-279K", "stories260K"]
    assert run.sql("SELECT count(*) AS n FROM tags").n[0] > 0
    sources = run.sql("SELECT DISTINCT json_extract_string(meta, '$.source') AS s FROM results")
    assert "mined" in set(sources.s)  # the gym adds examples mined from the scored corpus
    html = (out / "atlas.html").read_text()
    assert "stories260K" in html
    assert '<script src="http' not in html and '<link href="http' not in html  # offline
    again = capgym(
        "run", "--models", "stories260K", "--limit", "4", "--out", str(out), cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr


def test_models_and_corpora_listings(tmp_path: Path, assets: Path) -> None:
    res = capgym("models", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for name in ("stories260K", "bitllama-3M", "babyllama-936K", "TinyStories-33M"):
        assert name in res.stdout
    res = capgym("corpora", cwd=tmp_path)
    assert res.returncode == 0 and "tinystories-validation-0-999" in res.stdout


def test_unknown_model_is_one_line(tmp_path: Path, assets: Path) -> None:
    res = capgym(
        "score",
        "--model",
        "stories26OK",
        "--limit",
        "1",
        "--out",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert_one_line_error(res, "stories26OK")
    assert not list((tmp_path / "r").glob("scores/*/part-*"))


def test_cli_score_and_api_score_share_the_cache(tmp_path: Path, assets: Path) -> None:
    """`capgym score` with default options writes the set `score()` with defaults reuses."""
    from capgym.corpus import load_corpus
    from capgym.models import load_model
    from capgym.score import score

    out = tmp_path / "r"
    res = capgym("score", "--model", "stories260K", "--limit", "2", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    written = sorted(out.glob("scores/*/"))
    s = score(load_model("stories260K"), load_corpus("tinystories-validation-0-999", limit=2),
              out, name="stories260K", progress=False)  # fmt: skip
    assert [s.path] == written  # the same key: nothing new was scored
