"""Draw the hand-checked precision sample: 15 tags per family, fixed seed.

Run from the repository root (needs the shared assets):

    python tests/tags/data/draw_precision_sample.py > /tmp/draw.jsonl

Each line has the tag, its text in context and empty ``judgement``/``note`` fields; a
person reads every line, sets ``judgement`` to "correct" or "wrong" and says why in
``note``, and saves the result as ``precision_sample.jsonl``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd

from capgym.tags import tag

PER_FAMILY = 15
SEED = 20240601
CORPUS = "tinystories-validation-0-999"
REFERENCE = "tinystories-train-sample-2316"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    root = Path(os.environ.get("CAPGYM_ASSETS", "../shared/assets")) / "corpora"
    stories = read_jsonl(root / f"{CORPUS}.jsonl")
    texts = {s["idx"]: s["text"] for s in stories}
    ref = [s["text"] for s in read_jsonl(root / f"{REFERENCE}.jsonl")]
    df = pd.DataFrame({"corpus": CORPUS, "story": list(texts), "text": list(texts.values())})
    tags = tag(df, reference_texts=ref).to_pandas()
    for cap, group in tags.groupby("capability", sort=True):
        for _, r in group.sample(n=min(PER_FAMILY, len(group)), random_state=SEED).iterrows():
            text, s, e = texts[r["story"]], int(r["char_start"]), int(r["char_end"])
            row = {
                "capability": cap,
                "story": int(r["story"]),
                "char_start": s,
                "char_end": e,
                "span": text[s:e],
                "context": text[max(0, s - 120) : s] + "[[" + text[s:e] + "]]" + text[e : e + 60],
                "attrs": json.loads(r["attrs"]),
                "judgement": "",
                "note": "",
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
