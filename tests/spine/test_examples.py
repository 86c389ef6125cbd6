"""The README's example user tagger loads and tags what it says."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from capgym.tags import tag
from capgym.tags.registry import unregister

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "comma_after_name.py"


def test_example_user_tagger() -> None:
    text = 'Tom, Lily and Sam went out. "Lily, look!" said Tom.'
    stories = pd.DataFrame({"corpus": ["c"], "story": [0], "text": [text]})
    try:
        t = tag(stories, taggers=["comma-after-name"], user_taggers=[EXAMPLE]).to_pandas()
    finally:
        unregister("comma-after-name")
    assert [text[s:e] for s, e in zip(t.char_start, t.char_end)] == [",", ","]
    assert t.char_start.tolist() == [3, text.index("Lily,") + 4]
