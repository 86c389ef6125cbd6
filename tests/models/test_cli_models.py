"""`capgym models`: one line per model in an 80-column terminal, details on demand."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from capgym.models import list_models


def _capgym(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "COLUMNS": "80",
        **env,
    }
    return subprocess.run([sys.executable, "-m", "capgym", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def test_listing_fits_80_columns_one_line_per_model(tmp_path: Path, assets: Path) -> None:
    res = _capgym("models", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    for e in list_models():
        row = [x for x in lines if x.split()[:1] == [e.name]]
        assert len(row) == 1, e.name  # the whole row is on one line
        assert e.n_params and f"{e.n_params:,}" in row[0]  # no "?" for any model
    row = next(x for x in lines if x.split()[:1] == ["TinyStories-656K"])
    assert row.split()[1:] == ["656,000", "HF", "llama", "assets"]


def test_long_listing_and_one_model(tmp_path: Path, assets: Path) -> None:
    res = _capgym("models", "--long", cwd=tmp_path, COLUMNS="250")
    assert res.returncode == 0, res.stderr
    assert "BPE (2048)" in res.stdout and "kv-heads 4" in res.stdout
    res = _capgym("models", "bitllama-3M", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "3,277,056" in res.stdout and "dim 256" in res.stdout and "tok512.bin" in res.stdout
    res = _capgym("models", "storis260K", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "did you mean stories260K" in res.stderr


def test_a_broken_folder_is_listed_with_its_reason(tmp_path: Path, assets: Path) -> None:
    fake = tmp_path / "assets"
    shutil.copytree(assets / "models" / "stories260K", fake / "models" / "good")
    (fake / "models" / "broken").mkdir(parents=True)
    (fake / "models" / "broken" / "config.json").write_text("{not json")
    res = _capgym("models", cwd=tmp_path, CAPGYM_ASSETS=str(fake))
    assert res.returncode == 0, res.stderr
    assert "unreadable" in res.stdout and "warning" in res.stdout
    assert "260,032" in res.stdout
