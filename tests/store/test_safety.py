"""A run store survives what users do: concurrent writers, SQL that writes, shared storage."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from capgym.corpus import Corpus
from capgym.errors import StoreError
from capgym.score import ScoreSettings, score
from capgym.store import open_run
from tests.cli import assert_one_line_error, capgym
from tests.spine.toy import ToyLM

TEXTS = [f"Story {i}: the dog ran to the park {i} times." for i in range(6)]


def _add_models(path: str, worker: int) -> None:
    run = open_run(path)
    for i in range(15):
        run.add_model_info(f"m{worker}-{i}", {"n_params": i})
        run.add_stories(f"c{worker}", [i], [f"text {i}"])


def test_concurrent_manifest_updates_lose_nothing(tmp_path: Path) -> None:
    """Four processes create one run and update its manifest at once: every update stays."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add_models, args=(str(tmp_path / "run"), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    run = open_run(tmp_path / "run")
    assert len(run.manifest["models"]) == 60
    assert run.sql("SELECT count(*) AS n FROM stories").n[0] == 60


def _score_cmd(model: str, out: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CAPGYM_THREADS="1")
    args = ["score", "--model", model, "--corpus", "tinystories-validation-0-999"]
    args += ["--limit", "30", "--out", str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "capgym", *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
def test_two_scorers_on_one_run_folder(tmp_path: Path) -> None:
    """Two `capgym score` processes, different models, one --out: both sets complete."""
    out = tmp_path / "run"
    models = ["llama2xs-279K", "stories260K"]
    procs = [_score_cmd(m, out) for m in models]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    run = open_run(out)
    sets = run.manifest["score_sets"]
    assert sorted(e["model"] for e in sets.values()) == models
    assert all(e["complete"] for e in sets.values())
    assert {m for m, _ in run.current_score_sets()} == set(models)
    assert set(run.manifest["models"]) == set(models)
    n = run.sql("SELECT model, count(*) AS n FROM scores GROUP BY model")
    assert dict(zip(n.model, n.n)) == {e["model"]: e["n_rows"] for e in sets.values()}
    assert run.sql("SELECT count(*) AS n FROM stories").n[0] == 30


def test_sql_is_read_only_by_default(tmp_path: Path) -> None:
    out = tmp_path / "run"
    score(ToyLM(), Corpus.from_texts("toy", TEXTS), out, ScoreSettings(topk=2), progress=False)
    (part,) = out.glob("scores/*/part-*.parquet")
    before = part.read_bytes()
    run = open_run(out)
    for q in [
        f"COPY (SELECT * FROM scores LIMIT 5) TO '{part}' (FORMAT parquet)",
        f"SELECT 1; EXPORT DATABASE '{tmp_path / 'dump'}'",
        f"ATTACH '{out / 'x.db'}' AS x",
        "SET threads = 1",
    ]:
        with pytest.raises(StoreError, match="read-only.*--write"):
            run.sql(q)
    assert part.read_bytes() == before and not (out / "x.db").exists()
    assert run.sql("DESCRIBE scores").shape[0] == 14
    res = capgym("sql", f"COPY scores TO '{part}'", "--out", str(out), cwd=tmp_path)
    assert_one_line_error(res, "read-only", "--write")
    assert part.read_bytes() == before
    copy = tmp_path / "copy.parquet"
    open_run(out, sql_writes=True).sql(f"COPY (SELECT * FROM scores) TO '{copy}'")
    assert len(pd.read_parquet(copy)) == run.sql("SELECT count(*) AS n FROM scores").n[0]


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_files_respect_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        out = tmp_path / "run"
        score(ToyLM(), Corpus.from_texts("toy", TEXTS), out, ScoreSettings(topk=2), progress=False)
        run = open_run(out)
        run.write_table("task_errors", "latest", pd.DataFrame({"model": ["m"], "task": ["t"],
                                                               "error": ["e"]}))  # fmt: skip
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 5  # manifest, stories, a score part, vocab, task_errors
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p
    for d in [p for p in out.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~umask, d


def test_a_cached_rerun_writes_nothing(tmp_path: Path) -> None:
    """Scoring again what the run holds touches no file (so it works on a read-only run)."""
    out, corpus = tmp_path / "run", Corpus.from_texts("toy", TEXTS)
    score(ToyLM(), corpus, out, ScoreSettings(topk=2), progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = score(ToyLM(), corpus, out, ScoreSettings(topk=2), progress=False)
    assert again.cached
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_half_written_files_of_a_killed_writer_are_not_read(tmp_path: Path) -> None:
    """A writer killed mid-file leaves a torn temporary; every view stays queryable."""
    out = tmp_path / "run"
    score(ToyLM(), Corpus.from_texts("toy", TEXTS), out, ScoreSettings(topk=2), progress=False)
    want = open_run(out).sql("SELECT count(*) AS n FROM scores").n[0]
    for folder in ["stories", "tables/vocab", next(out.glob("scores/*")).relative_to(out)]:
        (out / folder / ".tmp-0123456789abcdef.parquet").write_bytes(b"PAR1 torn")
    run = open_run(out)
    assert run.sql("SELECT count(*) AS n FROM scores").n[0] == want
    assert run.sql("SELECT count(*) AS n FROM stories").n[0] == len(TEXTS)
    assert run.sql("SELECT count(DISTINCT model) AS n FROM vocab").n[0] == 1
