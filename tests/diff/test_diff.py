"""Model diffs: token-by-token and word-by-word across tokenizers, on hand-made runs."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from capgym.diff import DiffReport, diff, same_tokenizer
from capgym.errors import StoreError, UsageError
from tests.explain.synth import add_scores, add_tags, new_run, pieces, score_rows, split_pieces

TEXT = "Lily saw a kite. Lily saw it."
# pos: 1 Lily, 2 saw, 3 a, 4 kite, 5 ".", 6 Lily, 7 saw, 8 it, 9 "."
A = {1: (.2, 1), 2: (.9, 0), 3: (.8, 0), 4: (.1, 2), 5: (.6, 0), 6: (.3, 0), 7: (.9, 0),
     8: (.1, 3), 9: (.7, 0)}  # fmt: skip
B = {1: (.9, 0), 2: (.3, 1), 3: (.8, 0), 4: (.2, 1), 5: (.95, 0), 6: (.7, 0), 7: (.4, 0),
     8: (.6, 0), 9: (.7, 0)}  # fmt: skip


@pytest.fixture()
def token_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    run = new_run(tmp_path / "run", "c", [TEXT])
    vocab: dict[str, int] = {}
    add_scores(run, "A", "c", score_rows("A", "c", 0, pieces(TEXT), vocab, lambda p, _: A[p]))
    add_scores(run, "B", "c", score_rows("B", "c", 0, pieces(TEXT), vocab, lambda p, _: B[p]))
    add_tags(run, "c", [(0, 17, 21, "repeated-name"), (0, 5, 8, "common-phrase")])
    return run


def test_same_tokenizer_counts(token_run) -> None:  # type: ignore[no-untyped-def]
    d = diff(token_run, "A", "B", quantile=(0.5, 1.0), tags=False)
    assert d.mode == "token"
    assert (d.n_gains, d.n_losses, d.n_both, d.n_neither) == (3, 2, 3, 1)
    assert d.n_unaligned == 0
    units = d.units.set_index("unit")
    assert units.loc[6, "delta"] == pytest.approx(math.log(0.7 / 0.3), rel=1e-5)
    assert units.loc[[1, 6, 8], "status"].tolist() == ["gain"] * 3
    caps = d.per_capability.set_index("capability")
    assert caps.loc["repeated-name", ["n", "gains", "losses"]].tolist() == [1, 1, 0]
    assert caps.loc["common-phrase", ["n", "gains", "losses"]].tolist() == [1, 0, 1]
    assert caps.loc["(all)", "net"] == 1
    assert caps.loc["(no capability)", "n"] == 7


def test_quantile_examples(token_run) -> None:  # type: ignore[no-untyped-def]
    # pool (not both correct): deltas of positions 1, 2, 4, 6, 7, 8; the median is
    # between log 2 (pos 4) and log 7/3 (pos 6), so the top half is 6, 1, 8
    d = diff(token_run, "A", "B", quantile=(0.5, 1.0), n_examples=10, tags=False)
    assert sorted(d.examples["unit"].tolist()) == [1, 6, 8]
    assert d.examples["delta"].is_monotonic_decreasing
    # examples come from gains and losses only (pos 4, wrong in both, never shows): the
    # pool is 1, 2, 6, 7, 8 and its 0.4 quantile lies between pos 7 and pos 6
    low = diff(token_run, "A", "B", quantile=(0.0, 0.4), tags=False)
    assert low.examples["unit"].tolist() == [7, 2]
    assert low.examples["status"].tolist() == ["loss", "loss"]
    six = d.examples.set_index("unit").loc[6]
    assert six["capabilities"].tolist() == ["repeated-name"]
    assert six["snippet"].endswith("kite.[[ Lily]] saw it.")
    assert "gains" in d.to_markdown()
    html = d._repr_html_()  # each example a diff view, outlined in its window
    assert html.count('data-mode="diff"') == 3 and html.count("cg-t cg-hl") == 3
    assert "[[ Lily]]" in replace(d, run=None)._repr_html_()  # no run: text snippets
    assert d.to_dict()["n_gains"] == 3


def test_gains_split_by_rank_and_counted_exclusively(token_run) -> None:  # type: ignore[no-untyped-def]
    d = diff(token_run, "A", "B", quantile=(0.0, 1.0), tags=False)
    # gains: 1 (A rank 1), 6 (A rank 0 at p 0.3: confidence-only), 8 (A rank 3)
    assert (d.n_rank_gains, d.n_confidence_gains) == (2, 1)
    units = d.units.set_index("unit")
    assert units.loc[[1, 6, 8, 2, 7], "change"].tolist() == [
        "rank", "confidence", "rank", "rank", "confidence"]  # fmt: skip
    assert set(d.examples["status"]) <= {"gain", "loss"} and 4 not in set(d.examples["unit"])
    caps = d.per_capability.set_index("capability")
    cols = ["gains", "rank_gains", "confidence_gains", "gains_exclusive"]
    assert caps.loc["repeated-name", cols].tolist() == [1, 0, 1, 1]
    assert caps.loc["(all)", cols].tolist() == [3, 2, 1, 3]
    only = diff(token_run, "A", "B", quantile=(0.0, 1.0), tags=False, examples_from="rank-gain")
    assert sorted(only.examples["unit"]) == [1, 8]
    with pytest.raises(UsageError, match="examples pool"):
        diff(token_run, "A", "B", tags=False, examples_from="both")


def test_unaligned_tokens_are_left_out(tmp_path: Path) -> None:
    run = new_run(tmp_path / "run", "c", [TEXT])
    vocab: dict[str, int] = {}
    add_scores(run, "A", "c", score_rows("A", "c", 0, pieces(TEXT), vocab, lambda p, _: A[p]))
    other = {**vocab, " it": 999}  # B spells one token with another id
    add_scores(run, "B", "c", score_rows("B", "c", 0, pieces(TEXT), other, lambda p, _: B[p]))
    d = diff(run, "A", "B", tags=False)
    assert d.n_unaligned == 1 and d.n_units == 8


WTEXT = "Once upon a time, Lily saw a butterfly. Lily walked."


@pytest.fixture()
def word_diff(tmp_path: Path) -> DiffReport:
    run = new_run(tmp_path / "run", "c", [WTEXT])
    toks_a = pieces(WTEXT)
    # B: "butterfly" is three tokens; "ed." straddles the end of "walked"
    toks_b = split_pieces(WTEXT, {"butterfly": ["but", "ter", "fly"], "walked": ["walk", "ed."]})
    toks_b = [t for t in toks_b if t[0] < len(WTEXT) - 1 or t[2] != "."]
    assert "".join(t[2] for t in toks_b) == WTEXT
    add_scores(run, "A", "c", score_rows("A", "c", 0, toks_a, {}, lambda p, _: (0.6, 0)), "ta")
    add_scores(
        run, "B", "c",
        score_rows("B", "c", 0, toks_b, {}, lambda p, x: (0.9, 1) if x == "ter" else (0.8, 0)),
        "tb",
    )  # fmt: skip
    add_tags(run, "c", [(0, 40, 44, "repeated-name")])
    return diff(run, "A", "B", quantile=(0.0, 1.0), tags=False)


def test_word_alignment(word_diff: DiffReport) -> None:
    d = word_diff
    assert d.mode == "word"
    # units: Once upon a time , Lily saw a butterfly . Lily walked . (+ an empty tail);
    # B's "ed." straddles the end of "walked", so "walked" and "." are one unit
    assert d.n_merged == 1
    u = d.units.set_index("unit")
    assert len(u) == 12
    # "butterfly": one token in A, three in B; B's "ter" is not its top choice
    assert (u.loc[8, "n_a"], u.loc[8, "n_b"]) == (1, 3)
    assert u.loc[8, "lp_b"] == pytest.approx(math.log(0.8) * 2 + math.log(0.9), rel=1e-5)
    assert bool(u.loc[8, "ok_a"]) and not bool(u.loc[8, "ok_b"])
    # the comma is a unit of its own; " Lily" carries its space
    assert (u.loc[4, "us"], u.loc[4, "ue"], u.loc[5, "us"], u.loc[5, "ue"]) == (16, 17, 17, 22)
    # "walked." = " walked" + "." in A, " walk" + "ed." in B; A's product 0.36 < 0.5
    assert u.loc[11, ["n_a", "n_b"]].tolist() == [2, 2]
    assert u.loc[11, "lp_a"] == pytest.approx(2 * math.log(0.6), rel=1e-5)
    assert (d.n_gains, d.n_losses, d.n_both) == (1, 1, 10)
    caps = d.per_capability.set_index("capability")
    assert caps.loc["repeated-name", ["n", "both_correct"]].tolist() == [1, 1]
    walked = d.examples[d.examples["unit"] == 11].iloc[0]
    assert walked["target"] == " walked." and walked["status"] == "gain"
    html = d._repr_html_()  # across tokenizers, aligned by characters
    assert html.count('data-mode="diff"') == len(d.examples)


def test_bad_input(token_run) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError, match="capgym score --model C"):
        diff(token_run, "A", "C", tags=False)
    with pytest.raises(UsageError, match="quantile"):
        diff(token_run, "A", "B", quantile=(0.8, 0.2), tags=False)
    with pytest.raises(UsageError, match="two different models"):
        diff(token_run, "A", "A", tags=False)
    assert same_tokenizer(token_run, "A", "B", ["c"])


def test_unknown_mode_is_refused_before_tagging(token_run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from capgym.diff import api

    def no_tagging(*_a: object, **_k: object) -> None:
        raise AssertionError("tagged before the mode was checked")

    monkeypatch.setattr(api, "ensure_tags", no_tagging)
    with pytest.raises(UsageError, match="unknown mode 'bogus'; use token, word or auto"):
        diff(token_run, "A", "B", mode="bogus")
