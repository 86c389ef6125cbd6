"""`capgym run` survives one bad model: the others finish, the atlas and exit code say so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from capgym.store import open_run


def test_one_broken_model_does_not_stop_the_suite(tmp_path: Path, assets: Path) -> None:
    fake = tmp_path / "assets"
    shutil.copytree(assets / "models" / "stories260K", fake / "models" / "good")
    (fake / "corpora").symlink_to(assets / "corpora")
    (fake / "models" / "broken-config").mkdir()
    (fake / "models" / "broken-config" / "config.json").write_text("{not json")
    truncated = fake / "models" / "truncated"
    truncated.mkdir()
    shutil.copy(assets / "models" / "stories260K" / "tok512.bin", truncated / "tok512.bin")
    data = (assets / "models" / "stories260K" / "stories260K.bin").read_bytes()
    (truncated / "model.bin").write_bytes(data[: len(data) // 2])

    out = tmp_path / "run"
    env = {**os.environ, "CAPGYM_ASSETS": str(fake), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    res = subprocess.run(
        [sys.executable, "-m", "capgym", "run", "--limit", "3", "--mined", "0", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    errors = [x for x in res.stderr.splitlines() if x.startswith("capgym: error")]
    assert len(errors) == 1 and "2 of 3 models failed" in errors[0], res.stderr
    tail = res.stdout[res.stdout.index("report:") :]  # failures are printed at the end
    assert "failed broken-config: load:" in tail and "failed truncated: load:" in tail

    run = open_run(out)
    assert run.sql("SELECT DISTINCT model FROM scores").model.tolist() == ["good"]
    assert run.sql("SELECT count(*) AS n FROM results WHERE model = 'good'").n[0] > 0
    failed = open_run(out).manifest["failed_models"]
    assert set(failed) == {"broken-config", "truncated"}
    assert failed["truncated"]["stage"] == "load" and "truncated" in failed["truncated"]["error"]
    html = (out / "atlas.html").read_text()
    assert "Failed models" in html and "broken-config</b> failed to load" in html

    # a rerun without the broken models clears the failures from the atlas
    res = subprocess.run(
        [sys.executable, "-m", "capgym", "run", "--models", "good", "--limit", "3", "--mined",
         "0", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Failed models" not in (out / "atlas.html").read_text()
