"""The lm-eval export, run in lm-evaluation-harness itself (offline, a random-weight model).

lm-eval is not a dependency of capgym itself, but the ``test`` extra installs it, so CI
runs this test.  It runs when ``lm_eval`` imports in this interpreter, or when
``CAPGYM_LMEVAL_PYTHON`` names a Python that has it (a separate venv with
``pip install "lm-eval[hf]"``); otherwise it is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capgym.evaluate import EvalSettings, evaluate_task
from capgym.tasks import make

SCRIPT = r"""
import json, sys
import lm_eval
from lm_eval.tasks import TaskManager

include, model_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
tasks = sys.argv[4].split(",")
res = lm_eval.simple_evaluate(
    model="hf", model_args=f"pretrained={model_dir},add_bos_token=True,dtype=float32",
    tasks=tasks, task_manager=TaskManager(include_path=include), batch_size=8, device="cpu",
    log_samples=True,
)
dump = {}
for t in tasks:
    dump[t] = {"acc": res["results"][t]["acc,none"],
               "ll": {s["doc"]["id"]: [float(r[0]) for r in s["filtered_resps"]]
                      for s in res["samples"][t]}}
json.dump(dump, open(out, "w"))
"""


def lm_eval_python() -> str | None:
    env = os.environ.get("CAPGYM_LMEVAL_PYTHON")
    if env:
        return env
    return sys.executable if importlib.util.find_spec("lm_eval") else None


@pytest.mark.slow
def test_lm_eval_runs_the_export_and_agrees_with_capgym(tmp_path: Path, assets: Path) -> None:
    python = lm_eval_python()
    if python is None:
        pytest.skip('lm-eval is not installed (pip install "lm-eval[hf]", or CAPGYM_LMEVAL_PYTHON)')
    from capgym.models.configs import random_model

    lm = random_model("TinyStories-1M", seed=0)
    model_dir = tmp_path / "model"
    lm.model.save_pretrained(model_dir)
    lm.tokenizer.hf.save_pretrained(model_dir)
    tasks = [make("closing-quote", n=24, perturb=False), make("repeated-name", n=16, perturb=False)]
    for t in tasks:
        t.export("lm-eval", tmp_path / "export")
    moved = tmp_path / "elsewhere" / "export"  # data paths are relative to the task file
    shutil.move(str(tmp_path / "export"), moved)
    names = [f"capgym_{t.id.replace('-', '_')}" for t in tasks]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets"), "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    out = tmp_path / "lm_eval.json"
    argv = [python, "-c", SCRIPT, str(moved), str(model_dir), str(out), ",".join(names)]
    proc = subprocess.run(
        argv, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    for task, name in zip(tasks, names, strict=True):
        ev = evaluate_task(lm, task, EvalSettings(n_boot=10, threads=1))
        res = ev.results.set_index("example_id")
        wrong = ev.details.set_index("example_id").wrong_logprobs
        ll = got[name]["ll"]
        assert set(ll) == set(res.index)
        for eid, lls in ll.items():
            assert lls[0] == pytest.approx(res.loc[eid, "logprob"], abs=2e-3), (name, eid)
            assert lls[1:] == pytest.approx(list(wrong[eid]), abs=2e-3), (name, eid)
        # lm-eval's acc is "the answer has the largest summed log-prob": seq_logprob_diff > 0
        acc = float((res.seq_logprob_diff > 0).mean())
        assert math.isclose(got[name]["acc"], acc), (name, got[name]["acc"], acc)
        assert got[name]["acc"] < 1.0 or acc == 1.0  # not the old closing-quote artefact
