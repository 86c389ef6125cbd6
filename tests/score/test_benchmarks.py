"""The benchmark helpers do the same work as capgym (no timing is asserted here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from benchmarks.competent import competent_score
from benchmarks.gpu import compare
from benchmarks.naive import naive_score
from benchmarks.roofline import matmul_parts
from benchmarks.store import QUERIES, build_store, query_latencies

from capgym.corpus import Corpus
from capgym.score import ScoreSettings, score
from capgym.store import open_run
from tests.spine.toy import ToyLM

TEXTS = ["Once upon a time there was a very long story about a cat.", "Hi!", "Ünï ✓"]


def test_naive_baseline_scores_the_same_rows_as_capgym(tmp_path) -> None:
    model = ToyLM()
    score(model, Corpus.from_texts("toy", TEXTS), tmp_path, ScoreSettings(topk=5), progress=False)
    got = open_run(tmp_path).sql("SELECT * FROM scores ORDER BY story, pos")
    ref = pd.DataFrame(naive_score(model, TEXTS, k=5))
    assert got.pos.tolist() == ref.pos.tolist()
    assert got["rank"].tolist() == ref["rank"].tolist()
    np.testing.assert_allclose(got.logprob, ref.logprob, atol=1e-5)
    np.testing.assert_allclose(got.entropy, ref.entropy, atol=1e-4)
    assert [list(x) for x in got.topk_ids] == ref.topk_ids.tolist()


def test_competent_loop_scores_the_same_tokens_as_capgym(tmp_path) -> None:
    model = ToyLM()
    score(model, Corpus.from_texts("toy", TEXTS), tmp_path, ScoreSettings(topk=5), progress=False)
    got = open_run(tmp_path).sql("SELECT * FROM scores ORDER BY story, logprob, pos")
    ref = competent_score(model, TEXTS, k=5)
    order = np.lexsort((ref["logprob"].numpy(), ref["story"].numpy()))
    assert got.story.tolist() == ref["story"].numpy()[order].tolist()
    np.testing.assert_allclose(got.logprob, ref["logprob"].numpy()[order], atol=1e-5)
    np.testing.assert_allclose(got.entropy, ref["entropy"].numpy()[order], atol=1e-4)
    assert sorted(got["rank"]) == sorted(ref["rank"].tolist())


def test_roofline_counts_every_projection() -> None:
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    assert matmul_parts(net) == [(8, 16), (16, 3)]


def test_synthetic_store_answers_every_query(tmp_path) -> None:
    facts = build_store(tmp_path, tokens=20_000)
    assert facts["rows"] == 60_000 and facts["bytes_per_token"] > 0
    run = open_run(tmp_path)
    for sql in QUERIES.values():
        run.sql(sql)
    assert set(query_latencies(tmp_path, repeats=1)) == set(QUERIES)
    spans = run.sql("SELECT min(char_start) AS lo, min(char_end - char_start) AS w FROM scores")
    assert spans.lo[0] == 0 and spans.w[0] >= 1


def test_gpu_agreement_of_identical_columns_is_total() -> None:
    cols = {"rank": np.array([0, 3]), "topk_ids": np.array([[1], [2]]),
            "logprob": np.array([-0.1, -2.0])}  # fmt: skip
    assert compare(cols, cols)["rank_agreement"] == 1.0


def test_report_renders_the_competent_and_contention_tables() -> None:
    from benchmarks.report import contention_section, versus_section

    r = {"model": "m", "tokens": 10, "capgym_tok_cpu_s": 2.0, "competent_tok_cpu_s": 1.0,
         "capgym_vs_competent_cpu": 2.0, "capgym_tok_wall_s": 3.0, "competent_tok_wall_s": 1.0,
         "capgym_vs_competent_wall": 3.0, "load_1min": [1.0, 2.0]}  # fmt: skip
    assert "**2.00x**" in "\n".join(versus_section([r, {"model": "x", "error": ["boom"]}]))
    e = {"quiet_tok_s": 2.0, "loaded_tok_s": 1.0, "kept": 0.5}
    c = {"model": "m", "competitor": "busy", "capgym": e, "capgym_openmp": e, "competent": e,
         "load_1min": [1.0]}  # fmt: skip
    assert "**0.50**" in "\n".join(contention_section([c]))
