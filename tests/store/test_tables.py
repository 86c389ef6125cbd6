"""The store's one way to write, stamp, check and read a declared table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from capgym.errors import StoreError
from capgym.store import open_run
from capgym.store.schema import TABLES

ERRORS = pd.DataFrame({"model": ["m", "n"], "task": ["t", "u"], "error": ["boom", "bang"]})


def test_every_stage_table_is_declared() -> None:
    wanted = {"stories", "scores", "models", "vocab", "tags", "explains", "coverage", "residue",
              "results", "example_details", "task_summary", "task_slices", "task_errors"}  # fmt: skip
    assert wanted <= set(TABLES)
    assert all(t.schema.names and t.writer and t.part for t in TABLES.values())


def test_write_stamp_fresh_and_read_back(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run")
    assert not run.is_fresh("task_errors", "latest", {"grid": 1})
    assert run.read_table("task_errors").empty
    assert list(run.read_table("task_errors").columns) == ["model", "task", "error"]
    run.write_table("task_errors", "latest", ERRORS, stamp={"grid": 1, "models": ("m", "n")})
    assert run.is_fresh("task_errors", "latest", {"models": ["m", "n"], "grid": 1})
    assert not run.is_fresh("task_errors", "latest", {"grid": 2})
    assert run.stamp("task_errors", "latest") == {"grid": 1, "models": ["m", "n"]}
    pd.testing.assert_frame_equal(run.read_table("task_errors", "latest"), ERRORS)
    assert run.sql("SELECT count(*) AS n FROM task_errors").n[0] == 2
    v = run.version("task_errors", "latest")
    run.write_table("task_errors", "latest", ERRORS.head(1), stamp={"grid": 1})
    assert run.version("task_errors", "latest") != v
    assert run.read_table("task_errors").error.tolist() == ["boom"]


def test_undeclared_table_and_wrong_columns_are_refused(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run")
    with pytest.raises(StoreError, match="unknown table 'scratch'; declare it"):
        run.write_table("scratch", "x", ERRORS)
    with pytest.raises(StoreError, match=r"task_errors.*\(missing error; unexpected oops\)"):
        run.write_table("task_errors", "x", ERRORS.rename(columns={"error": "oops"}))
    with pytest.raises(StoreError, match="not written with write_table"):
        run.write_table("scores", "x", ERRORS)
    bad = pd.DataFrame({"model": ["m"], "token_id": ["not a number"], "piece": ["a"]})
    with pytest.raises(StoreError, match="vocab.*wrong type"):
        run.write_table("vocab", "m", bad)
    assert not list((tmp_path / "run").rglob("*.parquet"))


def test_open_tables_type_declared_columns_and_keep_others(tmp_path: Path) -> None:
    t = TABLES["task_summary"]
    assert not t.strict
    figure = next(f.name for f in t.schema if f.type == pa.float64())  # e.g. an accuracy
    run = open_run(tmp_path / "run")
    df = pd.DataFrame({"model": ["m"], "task": ["t"], figure: [1], "new_metric": [0.5]})
    run.write_table("task_summary", "m__t", df)
    back = pa.Table.from_pandas(run.read_table("task_summary", "m__t"))
    assert back.schema.field(figure).type == pa.float64()  # declared: cast from int
    assert back.column("new_metric").to_pylist() == [0.5]  # undeclared: kept


def test_the_run_lock_is_reentrant(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run")
    with run.locked(), run.locked():
        run.add_model_info("m", {"n_params": 1})  # takes the lock again inside
    assert open_run(tmp_path / "run").model_info("m") == {"n_params": 1}


def test_scores_and_models_read_back_as_their_views(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run")
    run.add_model_info("m", {"n_params": 7, "architecture": "toy"})
    assert run.read_table("models")[["model", "n_params"]].values.tolist() == [["m", 7]]
    assert list(run.read_table("scores").columns) == TABLES["scores"].schema.names
    with pytest.raises(StoreError, match="no parts by key"):
        run.read_table("scores", "x")


def test_a_foreign_folder_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty and not a capgym run folder"):
        open_run(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
