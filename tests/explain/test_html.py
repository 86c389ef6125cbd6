"""HTML renderings: heat-maps are token views of :mod:`capgym.render`, from a frame (with a
snapshot) or from a run (with hover data: entropy, top-k, tags).

Set ``CAPGYM_UPDATE_SNAPSHOTS=1`` to rewrite the snapshot after an intended change.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from capgym.explain import StoryHeatmap, story_heatmap
from capgym.explain.html import frame_view
from capgym.render.tokens import palette_for
from tests.explain.synth import add_scores, add_tags, new_run, pieces, score_rows

SNAPSHOTS = Path(__file__).parent / "snapshots"


def heatmap_tokens() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pos": [1, 2, 3, 4],
            "text": ["Once", " upon", "\n\n", '"Hi<b>"'],
            "p": [0.2, 0.97, 0.5, 0.0],
            "rank": [3, 0, 0, 7],
            "capabilities": [["story-opening"], ["story-opening", "common-phrase"], [], []],
            "explainers": [[], ["trigram"], [], []],
        }
    )


def items(body: str) -> list[dict[str, object]]:
    """The hover data of a token view."""
    m = re.search(r'<script type="application/json" class="cg-data">(.*?)</script>', body)
    assert m is not None
    return json.loads(m.group(1))["items"]  # type: ignore[no-any-return]


def test_heatmap_snapshot() -> None:
    got = frame_view(heatmap_tokens(), title="story 0", id_prefix="hm").body
    path = SNAPSHOTS / "heatmap.html"
    if os.environ.get("CAPGYM_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(got)
    assert got == path.read_text()


def test_heatmap_escapes_and_marks() -> None:
    body = frame_view(heatmap_tokens(), id_prefix="hm").body
    assert "&lt;b&gt;" in body and '<b>"' not in body  # story text is escaped
    assert body.count('class="cg-nl"') == 2  # one unselectable ↵ per newline
    colours = palette_for(["common-phrase", "story-opening"])  # one colour per capability
    assert f"0 {colours['common-phrase']}" in body and "common-phrase</span>" in body  # legend
    upon = items(body)[1]
    assert (upon["p"], upon["r"]) == (" upon", 0)
    assert upon["g"] == [["story-opening", ""], ["common-phrase", ""]]


def test_story_heatmap_from_run(tmp_path: Path) -> None:
    text = "Lily saw a kite. Lily saw it."
    run = new_run(tmp_path / "run", "c", [text])
    add_scores(run, "m", "c", score_rows("m", "c", 0, pieces(text), {}, lambda p, _: (0.5, 0)))
    add_tags(run, "c", [(0, 17, 21, "repeated-name")])
    hm = story_heatmap(run, "m", "c", 0)
    assert hm.view is not None and hm.title == "m: story 0 (c)"
    page = hm._repr_html_()
    assert "__capgymTokens" in page and "m: story 0 (c)" in page  # assets, then the view
    lily = items(hm.view.body)[5]
    assert (lily["p"], lily["e"], lily["k"]) == (" Lily", 1.0, [[" Lily", -0.6931]])
    assert lily["g"] == [["repeated-name", "{}"]]
    assert hm.tokens.loc[5, "capabilities"].tolist() == ["repeated-name"]
    assert "cg-view" in StoryHeatmap(hm.tokens, "by hand")._repr_html_()  # no view: the frame's
