"""The local engine's pipeline, settings and thread handling (toy model, no assets)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from capgym.corpus import Corpus
from capgym.errors import UsageError
from capgym.models.threads import physical_cores, torch_threads
from capgym.score import Scorer, ScoreSettings, score
from capgym.store import open_run
from tests.spine.toy import ToyLM

TEXTS = [f"Tale {i}: " + "la " * (i % 9) + "end." for i in range(23)]


def test_pipelined_parts_equal_one_chunk_at_a_time(tmp_path) -> None:
    settings = ScoreSettings(topk=2, token_budget=50, chunk_stories=4)
    corpus = Corpus.from_texts("toy", TEXTS)
    score(ToyLM(), corpus, tmp_path, settings, progress=False)
    got = open_run(tmp_path).sql("SELECT * FROM scores ORDER BY story, pos")
    scorer = Scorer(ToyLM(), "toy-0", "toy", settings)
    want = pd.concat(
        [scorer.score_chunk(corpus.ids[i : i + 4], TEXTS[i : i + 4]).to_pandas()
         for i in range(0, len(TEXTS), 4)],
        ignore_index=True,
    )  # fmt: skip
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_bad_settings_are_refused_in_one_line() -> None:
    with pytest.raises(UsageError, match="dtype"):
        ScoreSettings(dtype="int8")
    with pytest.raises(UsageError):
        ScoreSettings(topk=0)


def test_a_zero_token_budget_is_refused_not_read_as_automatic() -> None:
    with pytest.raises(UsageError, match="token_budget"):
        ScoreSettings(token_budget=0)
    assert ScoreSettings(token_budget=None).token_budget is None


def test_bfloat16_autocast_runs_on_cpu(tmp_path) -> None:
    s = score(ToyLM(), Corpus.from_texts("toy", TEXTS[:3]), tmp_path,
              ScoreSettings(dtype="bfloat16"), progress=False)  # fmt: skip
    assert s.n_rows > 0


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    assert 1 <= physical_cores() <= (torch.get_num_threads() + 64)


def test_gpu_models_get_larger_batches() -> None:
    from capgym.score.engine import GPU_SCALE, token_budget

    model = ToyLM()
    cpu = token_budget(model, ScoreSettings())
    model.device = torch.device("cuda")  # only the device type is read
    assert token_budget(model, ScoreSettings()) == GPU_SCALE * cpu


def test_resume_with_another_torch_thread_count_is_refused(tmp_path, monkeypatch) -> None:
    """Rows depend on the torch threads of a batch in the last bits, so one set is never
    mixed; the number of batch workers (one torch thread each) may change on resume."""
    settings = ScoreSettings(topk=2, token_budget=50, chunk_stories=4)
    corpus = Corpus.from_texts("toy", TEXTS)
    monkeypatch.setenv("CAPGYM_THREADS", "2")
    first = score(ToyLM(), corpus, tmp_path, settings, progress=False)
    want = open_run(tmp_path).sql("SELECT * FROM scores ORDER BY story, pos")
    run = open_run(tmp_path)
    assert run.manifest["score_sets"][first.key]["threads"] == 1  # torch threads per batch

    def interrupt() -> None:
        run = open_run(tmp_path)
        run.manifest["score_sets"][first.key]["complete"] = False  # as if killed
        run.manifest["score_sets"][first.key]["threads"] = 2  # as if a Ray replica's count
        run.save_manifest()
        (first.path / "part-00005.parquet").unlink(missing_ok=True)

    interrupt()
    with pytest.raises(UsageError, match="started with 2 torch threads per batch") as err:
        score(ToyLM(), corpus, tmp_path, settings, progress=False)
    assert "\n" not in str(err.value)

    run = open_run(tmp_path)
    run.manifest["score_sets"][first.key]["threads"] = 1
    run.save_manifest()
    monkeypatch.setenv("CAPGYM_THREADS", "1")  # another number of workers resumes it
    resumed = score(ToyLM(), corpus, tmp_path, settings, progress=False)
    got = open_run(tmp_path).sql("SELECT * FROM scores ORDER BY story, pos")
    assert resumed.key == first.key and not resumed.cached
    pd.testing.assert_frame_equal(got, want)

    monkeypatch.setenv("CAPGYM_THREADS", "3")  # a finished set is reused whatever the count
    assert score(ToyLM(), corpus, tmp_path, settings, progress=False).cached


def test_rows_do_not_depend_on_the_number_of_batch_workers(tmp_path, monkeypatch) -> None:
    """Each batch runs with one torch thread whichever worker runs it."""
    settings = ScoreSettings(topk=3, token_budget=40, chunk_stories=5)
    corpus = Corpus.from_texts("toy", TEXTS)
    frames = []
    for n in ("1", "3"):
        monkeypatch.setenv("CAPGYM_THREADS", n)
        score(ToyLM(), corpus, tmp_path / n, settings, progress=False)
        frames.append(open_run(tmp_path / n).sql("SELECT * FROM scores ORDER BY story, pos"))
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_the_default_budget_follows_the_model_width(tmp_path) -> None:
    """Wider activations, fewer ids per batch (kept within ACTIVATION_BYTES), between one
    context window and MAX_AUTO_BUDGET; an explicit budget wins; the key holds the
    resolved budget, so asking for it explicitly finds the same set."""
    from capgym.models import load_model
    from capgym.score.engine import (
        ACTIVATION_BYTES,
        MAX_AUTO_BUDGET,
        auto_token_budget,
        resolve_settings,
        score_key,
        token_budget,
    )

    lm = load_model("stories260K")  # widest activation: the MLP's 172
    assert auto_token_budget(lm) == ACTIVATION_BYTES // (4 * 172) == 1524
    assert token_budget(lm, ScoreSettings()) == 1524
    assert token_budget(lm, ScoreSettings(token_budget=4096)) == 4096
    assert auto_token_budget(lm, device="cuda") == MAX_AUTO_BUDGET
    assert resolve_settings(lm, ScoreSettings()).token_budget == 1524
    corpus = Corpus.from_texts("toy", ["Once upon a time."])
    auto = score_key(lm, corpus, ScoreSettings())
    assert auto == score_key(lm, corpus, ScoreSettings(token_budget=1524))
    assert auto != score_key(lm, corpus, ScoreSettings(token_budget=2048))
    first = score(lm, corpus, tmp_path, ScoreSettings(), progress=False)
    again = score(lm, corpus, tmp_path, ScoreSettings(token_budget=1524), progress=False)
    assert again.cached and again.key == first.key
