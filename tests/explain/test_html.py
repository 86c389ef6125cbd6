"""HTML renderings: a snapshot of the token heat-map and the report's structure.

Set ``CAPGYM_UPDATE_SNAPSHOTS=1`` to rewrite the snapshot after an intended change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from capgym.explain.html import capability_colour, token_heatmap

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


def test_heatmap_snapshot() -> None:
    got = token_heatmap(heatmap_tokens(), title="story 0")
    path = SNAPSHOTS / "heatmap.html"
    if os.environ.get("CAPGYM_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(got)
    assert got == path.read_text()


def test_heatmap_escapes_and_marks() -> None:
    html = token_heatmap(heatmap_tokens())
    assert "&lt;b&gt;" in html and '<b>"' not in html  # story text is escaped
    assert html.count('class="cg-nl"') == 4  # two newlines: a shown ↵ and a <br> each
    assert capability_colour("common-phrase") in html
    assert "explainers: trigram" in html
