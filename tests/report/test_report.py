"""The atlas: sections appear with their data, exports are written, nothing is fetched."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from capgym.errors import StoreError, UsageError
from capgym.report import first_page, report
from capgym.report.exports import have_matplotlib, to_latex, to_markdown
from capgym.report.frame import Frame
from capgym.report.metrics import capability_matrix, summary, task_scores, wilson
from capgym.store import RunStore
from capgym.view.demo import demo_run

SECTION_IDS = ["overview", "matrix", "cards", "residue", "diffs", "stories"]


def section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.DOTALL)
    assert m, f"section {sid} missing"
    return m.group(1)


def test_full_atlas_has_every_section_with_data(full_report: tuple[RunStore, Path]) -> None:
    _, path = full_report
    html = path.read_text(encoding="utf-8")
    for sid in SECTION_IDS:
        assert 'class="nodata"' not in section(html, sid).split("<h4>Red-team")[0], sid
    assert "card-repeated-name" in html and "card-closing-quote" in html
    assert "<all>" not in html and "&lt;" in section(html, "stories")  # story text is escaped


def test_self_contained(full_report: tuple[RunStore, Path]) -> None:
    html = full_report[1].read_text(encoding="utf-8")
    assert html.count("Plotly.newPlot") >= 4
    assert not re.search(r'<script[^>]+src=|<link[^>]+href="http', html)
    assert "cdn.plot.ly" not in html.split("</head>")[1]  # the body never loads anything
    assert html.count("__capgymTokens = true") == 1  # token-view assets once


def test_exports_written(full_report: tuple[RunStore, Path]) -> None:
    assets = full_report[1].parent / "atlas-assets"
    tables = {p.name for p in (assets / "tables").iterdir()}
    assert {"summary.md", "summary.tex", "matrix-gym.md", "coverage.tex"} <= tables
    if have_matplotlib():
        figs = {p.name for p in (assets / "figures").iterdir()}
        assert {
            "heatmap-gym.png",
            "heatmap-gym.svg",
            "scaling-corpus.svg",
            "nll-per-char.png",
        } <= figs
        assert (assets / "figures" / "heatmap-gym.png").read_bytes()[:4] == b"\x89PNG"


def test_scores_only_degrades_to_first_page(scores_only: RunStore) -> None:
    html = report(scores_only, exports=False).read_text(encoding="utf-8")
    for sid in ("matrix", "cards", "residue"):
        assert 'class="nodata"' in section(html, sid)
    assert "capgym tag --out" in section(html, "cards")
    assert html.count('data-mode="single"') >= 5  # stories as heat-maps
    assert "NLL/char" in section(html, "overview")


def test_first_page(scores_only: RunStore, tmp_path: Path) -> None:
    path = first_page(
        scores_only, ["tiny-a", "tiny-b"], "demo", n_stories=2, out_html=tmp_path / "first.html"
    )
    html = path.read_text(encoding="utf-8")
    assert '<section id="stories">' in html and '<section id="cards">' not in html
    assert html.count("· story ") == 2
    assert "<summary>tiny-a</summary>" in html and "<summary>char-c</summary>" not in html


def test_bad_inputs(scores_only: RunStore, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        report(scores_only, sections=["nope"])
    with pytest.raises(StoreError):
        report(tmp_path / "missing")


def test_summary_matches_pandas(full_report: tuple[RunStore, Path]) -> None:
    run = full_report[0]
    s = summary(Frame(run)).set_index("model")
    sc = run.sql("SELECT model, logprob, rank FROM scores")
    chars = run.sql("SELECT sum(length(text)) AS n FROM stories").n[0]
    for model, g in sc.groupby("model"):
        assert math.isclose(s.loc[model, "nll_per_token"], -g.logprob.mean(), rel_tol=1e-6)
        assert math.isclose(s.loc[model, "nll_per_char"], -g.logprob.sum() / chars, rel_tol=1e-6)
        assert math.isclose(s.loc[model, "top1"], (g["rank"] == 0).mean())


def test_task_scores_from_results(full_report: tuple[RunStore, Path]) -> None:
    t = task_scores(Frame(full_report[0]))
    assert set(t.n) == {52}  # 40 examples + 12 red-team variants, as the gym counts them
    assert ((t.lo <= t.score) & (t.score <= t.hi)).all()
    assert set(t.metric) == {"beats_wrong"} and set(t.chance) == {0.5}
    assert set(t.capability) == {"repeated-name", "closing-quote"}


def test_gym_tables_are_preferred(tmp_path: Path) -> None:
    run = demo_run(tmp_path / "run", tags=False, explains=False)
    summary = pd.DataFrame({"model": ["tiny-a"], "task": ["name-choice"], "capability": ["repeated-name"],
                            "n": [52.0], "n_contrast": [52.0], "beats_wrong": [0.25], "beats_wrong_lo": [0.1],
                            "beats_wrong_hi": [0.4], "chance": [0.5], "top1_vocab": [0.1],
                            "mean_logit_diff_at_decision": [0.5], "mean_logit_diff_at_decision_lo": [0.1],
                            "mean_logit_diff_at_decision_hi": [0.9]})  # fmt: skip
    run.write_table("task_summary", "x", pa.Table.from_pandas(summary, preserve_index=False))
    slices = pd.DataFrame({"model": ["tiny-a"], "task": ["name-choice"], "field": ["template"], "value": ["b"],
                           "metric": ["logit_diff_at_decision"], "n": [20], "cohen_d": [-1.5]})  # fmt: skip
    run.write_table("task_slices", "x", pa.Table.from_pandas(slices, preserve_index=False))
    f = Frame(run)
    t = task_scores(f)
    assert t.score.tolist() == [0.25] and t.lo.tolist() == [0.1] and t.chance.tolist() == [0.5]
    from capgym.report.slices import gym_slices

    assert gym_slices(f, "repeated-name").value.tolist() == ["b"]
    html = report(run, exports=False).read_text(encoding="utf-8")
    assert "0.25 [0.10, 0.40]" in html


def test_wilson() -> None:
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_table_exports_escape() -> None:
    df = pd.DataFrame({"name": ["a_b & c|d"], "n": [1234.0], "p": [0.5]})
    assert "a\\_b \\& c|d & 1,234 & 0.500" in to_latex(df)
    assert "| a_b & c\\|d | 1,234 | 0.500 |" in to_markdown(df)


def test_redteam_pairs_variants_with_their_base(full_report: tuple[RunStore, Path]) -> None:
    from capgym.report.slices import redteam

    rt = redteam(Frame(full_report[0]), "repeated-name")
    assert set(rt.perturbation) == {"distractor"} and set(rt.n) == {12}
    assert (
        rt.base_acc.notna().all() and (rt.delta <= 0.01).all()
    )  # the distractor costs about a nat


def test_gym_none_perturbation_is_base(tmp_path: Path) -> None:
    import json

    from capgym.report.metrics import results_frame

    run = demo_run(tmp_path / "run", tags=False, explains=False)
    df = run.sql("SELECT * FROM results")
    df["meta"] = [
        json.dumps({**json.loads(m), "perturbation": json.loads(m).get("perturbation", "none")})
        for m in df.meta
    ]
    run.write_table("results", "demo", pa.Table.from_pandas(df, preserve_index=False))
    r = results_frame(Frame(run))
    assert r.perturbation.isna().sum() == 3 * 2 * 40


def test_without_matplotlib_tables_still_export(
    scores_only: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from capgym.report import exports

    monkeypatch.setattr(exports, "have_matplotlib", lambda: False)
    path = report(scores_only)
    assets = path.parent / "atlas-assets"
    assert (assets / "tables" / "summary.md").exists() and not (assets / "figures").exists()
    assert "Plotly.newPlot" in path.read_text(encoding="utf-8")  # the interactive figures remain


def test_export_levels(scores_only: RunStore, tmp_path: Path) -> None:
    from capgym.view.demo import demo_run as make

    run = make(tmp_path / "full")
    main_figs = report(run, exports="main").parent / "atlas-assets" / "figures"
    names = {p.name for p in main_figs.iterdir()} if main_figs.exists() else set()
    assert not any(n.startswith("dist-") for n in names)
    if have_matplotlib():
        report(run, exports="all")
        assert any(p.name.startswith("dist-") for p in main_figs.iterdir())
    with pytest.raises(UsageError):
        report(run, exports="some")


def test_whole_answer_greedy_map_pools_the_gym_summary(tmp_path: Path) -> None:
    from capgym.report.matrix import greedy_rows, pool_tasks

    run = demo_run(tmp_path / "run", tags=False, explains=False)
    summary = pd.DataFrame({
        "model": ["tiny-a", "tiny-a", "char-c"], "task": ["t1", "t2", "t1"],
        "capability": ["repeated-name"] * 3, "n": [40.0, 10.0, 40.0],
        "beats_wrong": [0.5, 0.9, 0.95], "beats_wrong_lo": [0.3, 0.6, 0.8],
        "beats_wrong_hi": [0.7, 1.0, 1.0], "greedy_accuracy": [0.25, 0.5, 0.1],
    })  # fmt: skip
    run.write_table("task_summary", "x", pa.Table.from_pandas(summary, preserve_index=False))
    f = Frame(run)
    pooled = pool_tasks(greedy_rows(capability_matrix(f))).set_index("model")
    assert pooled.loc["tiny-a", "score"] == pytest.approx((0.25 * 40 + 0.5 * 10) / 50)
    assert pooled.loc["char-c", "score"] == pytest.approx(0.1)
    lo, hi = wilson(4, 40)  # char-c: 4 of 40 answers greedy
    assert (pooled.loc["char-c", "lo"], pooled.loc["char-c", "hi"]) == pytest.approx((lo, hi))
    html = report(run, exports=False).read_text(encoding="utf-8")
    assert "Gym tasks: whole answer greedy" in html
    assert "different tokenizers" in html  # the demo mixes word- and character-level models


def test_has_it_follows_beats_wrong_above_chance_not_top1(tmp_path: Path) -> None:
    """The audit's case: top-1 over the vocabulary low, beats-wrong well above chance."""
    run = demo_run(tmp_path / "run", tags=False, explains=False)
    summary = pd.DataFrame({"model": ["tiny-a"], "task": ["name-choice"], "capability": ["repeated-name"],
                            "n": [100.0], "n_contrast": [100.0], "beats_wrong": [0.83],
                            "beats_wrong_lo": [0.75], "beats_wrong_hi": [0.9], "chance": [0.5],
                            "top1_vocab": [0.2], "top1_vocab_lo": [0.12], "top1_vocab_hi": [0.28],
                            "mean_logit_diff_at_decision": [1.5], "mean_logit_diff_at_decision_lo": [1.0],
                            "mean_logit_diff_at_decision_hi": [2.0]})  # fmt: skip
    run.write_table("task_summary", "x", pa.Table.from_pandas(summary, preserve_index=False))
    html = report(run, exports=False).read_text(encoding="utf-8")
    card = html.split('id="card-repeated-name"')[1].split("</details>")[0]
    assert "has it: tiny-a" in card and "no model has it" not in card
    assert "gym beats-wrong" in card and "0.83" in card
    m = re.search(
        r'"colorbar":\{"title":\{"side":"right","text":"([^"]+)"', section(html, "matrix")
    )
    assert m and m.group(1) == "beats_wrong"  # the colour bar names its metric


def test_scaling_is_log_with_chance_marked() -> None:
    from capgym.report.figures import scaling

    m = pd.DataFrame({"model": ["a", "b", "c"], "capability": "x", "score": [0.4, 0.6, 0.9],
                      "lo": [0.3, 0.5, 0.8], "hi": [0.5, 0.7, 1.0], "chance": 0.5})  # fmt: skip
    fig, _ = scaling(m, {"a": 2.6e5, "b": 2.8e5, "c": 3e6}, "t", "beats_wrong")
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.title.text == "beats_wrong"
    assert [s.y0 for s in fig.layout.shapes] == [0.5]  # the chance line
