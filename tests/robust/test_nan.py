"""A checkpoint with NaN weights stops scoring with one line naming the model (it was
scored silently: every logprob NaN, every rank 0, "confident 100%")."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.robust.test_inputs import one_line_error, run

HEADER_BYTES = 7 * 4  # llama2.c v0: seven int32, then float32 weights


def nan_copy(assets: Path, to: Path, every: int = 1) -> Path:
    """stories260K with every ``every``-th weight set to NaN, in a temporary folder."""
    src = assets / "models" / "stories260K"
    shutil.copytree(src, to)
    raw = bytearray((to / "stories260K.bin").read_bytes())
    weights = np.frombuffer(raw, dtype=np.float32, offset=HEADER_BYTES).copy()
    weights[::every] = np.nan
    raw[HEADER_BYTES:] = weights.tobytes()
    (to / "stories260K.bin").write_bytes(bytes(raw))
    return to


@pytest.mark.parametrize("every", [1, 997])
def test_nan_weights_stop_scoring(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], every: int
) -> None:
    folder = nan_copy(assets, tmp_path / "nan-model", every)
    out = tmp_path / "run"
    argv = ["score", "-m", str(folder), "--limit", "3", "-o", str(out)]
    code, _, err = run(argv, capsys)
    one_line_error(code, err, "nan-model'", "non-finite", "checkpoint")
    from capgym.store import open_run

    store = open_run(out, create=False)
    assert not any(s.get("complete") for s in store.manifest["score_sets"].values())
    assert store.sql("SELECT count(*) AS n FROM scores").n[0] == 0
