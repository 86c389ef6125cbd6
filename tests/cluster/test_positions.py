"""Which positions are clustered, on a hand-made run: untagged gains are the diff's gains."""

from __future__ import annotations

from pathlib import Path

from capgym.cluster.positions import untagged_gains
from capgym.diff import diff
from capgym.explain import connect, stories_of, words_frame
from tests.diff.test_diff import TEXT, A, B
from tests.explain.synth import add_scores, add_tags, new_run, pieces, score_rows


def test_untagged_gains_are_the_diffs_token_gains_without_a_tag(tmp_path: Path) -> None:
    run = new_run(tmp_path / "run", "c", [TEXT])
    vocab: dict[str, int] = {}
    add_scores(run, "A", "c", score_rows("A", "c", 0, pieces(TEXT), vocab, lambda p, _: A[p]))
    add_scores(run, "B", "c", score_rows("B", "c", 0, pieces(TEXT), vocab, lambda p, _: B[p]))
    add_tags(run, "c", [(0, 0, 4, "story-opening")])  # covers position 1 ("Lily")
    con = connect(run, words_frame(stories_of(run, ["c"])))
    try:
        got = untagged_gains(con, "B", "A", ["c"], 0.5)
    finally:
        con.close()
    units = diff(run, "A", "B", tags=False).units
    gains = units[units.status == "gain"]
    # B gains at 1 (A ranked it 2nd), 6 (A ranked it first, p 0.3) and 8 (A ranked it 4th)
    assert dict(zip(gains.unit, gains.change, strict=True)) == {1: "rank", 6: "confidence",
                                                               8: "rank"}  # fmt: skip
    assert dict(zip(got.pos, got.label, strict=True)) == {6: "gain-confidence", 8: "gain-rank"}
    assert got.set_index("pos").loc[8, "word"] == "it"
