"""Bad input at the CLI edge: one line naming problem and fix, non-zero exit, no traceback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, capgym


def test_unknown_corpus(tmp_path: Path) -> None:
    res = capgym("score", "--model", "stories260K", "--corpus", "no-such-corpus", cwd=tmp_path)
    assert_one_line_error(res, "no-such-corpus")


def test_non_utf8_corpus(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"idx": 0, "text": "caf\xe9"}\n')
    res = capgym("score", "--model", "stories260K", "--corpus", str(p), cwd=tmp_path)
    assert_one_line_error(res, "not UTF-8", "bad.jsonl")


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_corpus(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "empty.jsonl.gz"
    p.write_bytes(gzip.compress(content))
    res = capgym("score", "--model", "stories260K", "--corpus", str(p), cwd=tmp_path)
    assert_one_line_error(res, "no stories")


def test_malformed_jsonl_names_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.jsonl"
    p.write_text(json.dumps({"idx": 0, "text": "ok"}) + "\n{not json\n")
    res = capgym("score", "--model", "stories260K", "--corpus", str(p), cwd=tmp_path)
    assert_one_line_error(res, "broken.jsonl:2")


def test_incompatible_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "old-run"
    run.mkdir()
    (run / "capgym.json").write_text(json.dumps({"schema_version": 999}))
    before = (run / "capgym.json").read_text()
    res = capgym("sql", "SELECT 1", "--out", str(run), cwd=tmp_path)
    assert_one_line_error(res, "incompatible", "new --out")
    assert (run / "capgym.json").read_text() == before


def test_missing_run_folder_and_bad_sql(tmp_path: Path) -> None:
    res = capgym("sql", "SELECT 1", "--out", str(tmp_path / "nope"), cwd=tmp_path)
    assert_one_line_error(res, "does not exist")
    (tmp_path / "r").mkdir()
    capgym("sql", "SELECT 1", "--out", str(tmp_path / "r"), cwd=tmp_path)
    res = capgym("sql", "SELEKT nonsense", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert_one_line_error(res, "query failed")
