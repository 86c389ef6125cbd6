"""An interrupted scoring run (kill -9 or Ctrl-C) resumes to exactly the same rows."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from capgym.corpus import Corpus
from capgym.score import ScoreSettings, score
from capgym.store import open_run

from .toy import ToyLM

TEXTS = [f"Story number {i}: the cat sat on the mat {i * 7} times." for i in range(24)]
SETTINGS = ScoreSettings(topk=3, token_budget=64, chunk_stories=2)

# SIGINT handled and unblocked in the child: an ignored or blocked SIGINT in the test
# process (a background shell's SIG_IGN, a library's pthread_sigmask) is inherited
SCRIPT = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
sys.path.insert(0, {root!r})
from tests.spine.toy import ToyLM
from tests.spine.test_resume import TEXTS, SETTINGS
from capgym.corpus import Corpus
from capgym.score import score

class SlowToy(ToyLM):
    calls = 0

    def forward(self, ids):
        # slow, then (after a few chunks are written) too slow to finish before the signal:
        # a loaded machine can deschedule the test for seconds, and a run that finished
        # before the signal arrived would test nothing
        SlowToy.calls += 1
        time.sleep(0.2 if SlowToy.calls <= 6 else 120)
        return super().forward(ids)

m = SlowToy()
m.name = "toy-0"
score(m, Corpus.from_texts("toy", TEXTS), {out!r}, SETTINGS, name="toy-0", progress=False)
"""


def _rows(path: Path) -> pd.DataFrame:
    return open_run(path).sql("SELECT * FROM scores ORDER BY story, pos")


def _start(out: Path) -> subprocess.Popen[bytes]:
    root = str(Path(__file__).resolve().parents[2])
    code = SCRIPT.format(root=root, out=str(out))
    return subprocess.Popen([sys.executable, "-c", code])


def _wait_for_parts(out: Path, n: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        parts = list(out.glob("scores/*/part-*.parquet"))
        if len(parts) >= n:
            return
        time.sleep(0.05)
    pytest.fail("the scoring subprocess wrote no parts in time")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_resume_after_interrupt_gives_identical_rows(
    tmp_path: Path, sig: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one torch thread here and in the subprocess: with two, the toy's large logits turned
    # last-bit matmul differences into ~3e-5 entropy differences once in a full CI run
    monkeypatch.setenv("CAPGYM_THREADS", "1")
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    score(ToyLM(), Corpus.from_texts("toy", TEXTS), ref_dir, SETTINGS, name="toy-0", progress=False)
    proc = _start(run_dir)
    _wait_for_parts(run_dir, 2, proc)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    store = open_run(run_dir)
    (key,) = store.manifest["score_sets"]
    assert not store.is_complete(key)
    n_parts = len(list(run_dir.glob("scores/*/part-*.parquet")))
    assert 2 <= n_parts < 12
    for part in run_dir.glob("scores/*/part-*.parquet"):  # every visible part is whole
        assert len(pd.read_parquet(part)) > 0
    s = score(
        ToyLM(), Corpus.from_texts("toy", TEXTS), run_dir, SETTINGS, name="toy-0", progress=False
    )
    assert not s.cached
    pd.testing.assert_frame_equal(_rows(ref_dir), _rows(run_dir))
