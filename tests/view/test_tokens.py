"""The token renderer: escaping, newlines, ids, modes, and HTML snapshots."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from capgym.render import StoryData, Tag, Tok, diff_view, page, story_view, token_view
from capgym.store import RunStore

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("CAPGYM_UPDATE_SNAPSHOTS") == "1"

TEXT = 'Tom said "<hi> & bye"\nTom\'s é.'


def toks(text: str) -> list[Tok]:
    out, pos = [], 1
    for m in re.finditer(r"\n| ?[^\s]+", text):
        out.append(
            Tok(
                pos,
                m.start(),
                m.end(),
                -0.3 * pos,
                m.group(),
                pos,
                pos % 3,
                1.5,
                pos,
                (("x", -0.1), (m.group(), -0.3 * pos)),
            )
        )
        pos += 1
    return out


class _Texts(HTMLParser):
    """Collects the text a reader would copy from the ``cg-text`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and self.depth:
            self.out.append("\n")
        if tag == "script":
            self.depth -= 100
        if dict(attrs).get("class") == "cg-text":
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.depth += 100

    def handle_data(self, data: str) -> None:
        if self.depth > 0:
            self.out.append(data)


def copied_text(body: str) -> str:
    p = _Texts()
    p.feed(body)
    return "".join(p.out)


def check_snapshot(name: str, html: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"missing snapshot {path}; run with CAPGYM_UPDATE_SNAPSHOTS=1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    assert html == path.read_text(encoding="utf-8"), (
        f"{name} changed; rerun with CAPGYM_UPDATE_SNAPSHOTS=1 if intended"
    )


def test_text_is_escaped_and_round_trips() -> None:
    v = token_view(TEXT, toks(TEXT), model="m", id_prefix="t1")
    assert "<hi>" not in v.body and "&lt;hi&gt;" in v.body and "&amp;" in v.body
    assert copied_text(v.body) == TEXT  # newline as <br>, the ↵ marker is CSS content only


def test_json_data_cannot_break_out_of_its_script() -> None:
    text = "a</script><b>"
    v = token_view(text, [Tok(1, 0, len(text), -1.0, text)], id_prefix="t2")
    assert v.body.count("</script>") == 1
    data = re.search(r'class="cg-data">(.*?)</script>', v.body).group(1)  # type: ignore[union-attr]
    assert json.loads(data)["items"][0]["p"] == text


def test_ids_unique_by_default_and_fixed_with_prefix() -> None:
    a, b = token_view("ab", toks("ab")), token_view("ab", toks("ab"))
    assert a.id != b.id
    assert (
        token_view("ab", toks("ab"), id_prefix="p").body
        == token_view("ab", toks("ab"), id_prefix="p").body
    )


def test_tags_underline_and_legend() -> None:
    v = token_view(TEXT, toks(TEXT), tags=[Tag(0, 3, "repeated-name", '{"n": 1}')], id_prefix="t3")
    assert "box-shadow:inset" in v.body and "repeated-name" in v.body


def test_window_and_highlight() -> None:
    v = token_view(TEXT, toks(TEXT), highlight=(9, 10), window=(5, 14), id_prefix="t4")
    assert v.body.count("cg-hl") == 1 and 'class="cg-ell"' in v.body
    assert "Tom" not in copied_text(v.body).split("\n")[0][:3]


def test_non_finite_logprob_renders() -> None:
    v = token_view("ab", [Tok(1, 0, 1, float("-inf")), Tok(2, 1, 2, float("nan"))], id_prefix="t5")
    assert "#dddddd" in v.body


def test_diff_by_character_spans() -> None:
    a = toks(TEXT)
    b = [Tok(i + 1, i, i + 1, -0.2, TEXT[i]) for i in range(len(TEXT))]
    v = diff_view(TEXT, a, b, models=("words", "chars"), id_prefix="t6")
    data = json.loads(
        re.search(r'class="cg-data">(.*?)</script>', v.body).group(1).replace("\\u003c", "<")
    )  # type: ignore[union-attr]
    assert data["mode"] == "diff" and len(data["items"]) == len(a)
    assert copied_text(v.body) == TEXT


def test_repr_html_has_assets() -> None:
    v = token_view("ab", toks("ab"), id_prefix="t7")
    assert "<style>" in v._repr_html_() and "__capgymTokens" in v._repr_html_()
    assert page([v, v]).count("__capgymTokens = true") == 1


def test_snapshot_single() -> None:
    tags = [
        Tag(0, 3, "repeated-name", "{}"),
        Tag(22, 25, "repeated-name", "{}"),
        Tag(20, 21, "closing-quote", "{}"),
    ]
    check_snapshot(
        "single.html",
        token_view(
            TEXT, toks(TEXT), model="m", tags=tags, highlight=(4, 8), id_prefix="snap1"
        ).body,
    )


def test_snapshot_diff() -> None:
    b = [Tok(i + 1, i, i + 1, -0.05 * i, TEXT[i]) for i in range(len(TEXT))]
    check_snapshot(
        "diff.html", diff_view(TEXT, toks(TEXT), b, models=("a", "b"), id_prefix="snap2").body
    )


def test_story_views_from_store(demo_store: RunStore) -> None:
    data = StoryData(demo_store)
    text = data.text("demo", 0)
    one = data.view("demo", 0, "tiny-a", id_prefix="s")
    assert copied_text(one.body) == text
    same = story_view(demo_store, "demo", 0, "tiny-a", "tiny-b", id_prefix="d")
    items = json.loads(
        re.search(r'class="cg-data">(.*?)</script>', same.body)
        .group(1)
        .replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u0026", "&")
    )["items"]  # type: ignore[union-attr]
    assert all(len(i["a"]) == len(i["b"]) for i in items)  # one tokenizer: token by token
    cross = story_view(demo_store, "demo", 2, "tiny-a", "char-c", id_prefix="x")
    assert copied_text(cross.body) == data.text("demo", 2)
    pieces = [p for t in data.tokens("tiny-b", "demo", 0) for p, _ in t.topk]
    assert pieces and sum(p.startswith("#") for p in pieces) < len(pieces) / 4
