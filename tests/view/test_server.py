"""The explorer's API: filters, sorting, pagination, validation, and the HTTP layer."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from capgym.store import RunStore
from capgym.view.cache import ExplorerDB, fingerprint
from capgym.view.demo import demo_run
from capgym.view.server import Explorer, serve_in_thread


@pytest.fixture(scope="module")
def app(demo_store: RunStore) -> Explorer:
    return Explorer(demo_store)


def get(app: Explorer, path: str, **params: Any) -> tuple[int, Any]:
    status, _, body = app.handle(path, urlencode(params))
    return status, json.loads(body)


def test_meta(app: Explorer) -> None:
    status, meta = get(app, "/api/meta")
    assert status == 200
    assert meta["models"] == ["tiny-a", "char-c", "tiny-b"]  # by size
    assert meta["capabilities"] == ["closing-quote", "repeated-name"]
    assert "ngram" in meta["explainers"] and meta["cached"]


def test_filters_change_results(app: Explorer) -> None:
    _, everything = get(app, "/api/positions", model="tiny-b")
    _, cap = get(app, "/api/positions", model="tiny-b", capability="repeated-name")
    _, conf = get(app, "/api/positions", model="tiny-b", pmin=0.5, correct="yes")
    _, wrong = get(app, "/api/positions", model="tiny-b", correct="no")
    _, res = get(app, "/api/positions", model="tiny-b", residue=1)
    _, tok = get(app, "/api/positions", model="tiny-b", token="sam")
    _, q = get(app, "/api/positions", model="tiny-b", q="puppy")
    _, ex = get(app, "/api/positions", model="tiny-b", explainer="ngram")
    n = everything["total"]
    assert 0 < cap["total"] < n and 0 < conf["total"] < n and 0 < res["total"] < conf["total"]
    assert conf["total"] + wrong["total"] <= n
    assert all(r["prob"] >= 0.5 and r["rank"] == 0 for r in conf["rows"])
    assert all("repeated-name" in r["capabilities"] for r in cap["rows"])
    assert all(not r["covered"] for r in res["rows"])
    assert tok["rows"] and all("sam" in r["token"].lower() for r in tok["rows"])
    assert {r["story"] for r in q["rows"]} == {1}
    assert ex["rows"] and all(r["token"] in (" the", " a", ".") for r in ex["rows"])


def test_residue_filter_is_explains_residue(tmp_path: Path) -> None:
    # "residue only" uses explain's coverage rule (word completions cover only a word's
    # later pieces, empty spans, p at the threshold), so it lists the rows of explain's table
    from capgym.explain import explain
    from tests.explain.synth import coverage_run

    run, ref = coverage_run(tmp_path / "run")
    for model in ("A", "B"):
        explain(run, model, reference=ref, tags=False)
    app = Explorer(run)
    for model in ("A", "B"):
        _, res = get(app, "/api/positions", model=model, residue=1, page_size=200)
        stored = run.sql("SELECT story, pos FROM residue WHERE model = ? ORDER BY story, pos",
                         [model])  # fmt: skip
        assert 0 < res["total"] == len(stored) <= 200, model
        got = sorted((r["story"], r["pos"]) for r in res["rows"])
        assert got == list(zip(stored.story, stored.pos)), model
    _, cap = get(app, "/api/positions", model="A", capability="word-completion", page_size=200)
    pieces = run.sql("SELECT pos, char_start, char_end FROM scores WHERE model = 'A' AND story = 0")
    starts = {int(p): int(s) for p, s in zip(pieces.pos, pieces.char_start)}
    assert cap["rows"] and all(
        starts[r["pos"]] not in (10, 28) for r in cap["rows"] if r["story"] == 0
    )


def test_sort_and_pages(app: Explorer) -> None:
    _, a = get(
        app,
        "/api/positions",
        model="tiny-a",
        compare="tiny-b",
        sort="diff",
        order="desc",
        page_size=5,
    )
    diffs = [r["diff"] for r in a["rows"]]
    assert diffs == sorted(diffs, reverse=True) and len(diffs) == 5
    assert all(abs(r["diff"] - math.log(r["prob_b"] / r["prob"])) < 1e-6 for r in a["rows"])
    _, p0 = get(app, "/api/positions", model="tiny-a", page_size=3, page=0)
    _, p1 = get(app, "/api/positions", model="tiny-a", page_size=3, page=1)
    assert (
        p0["rows"][0]["pos"] != p1["rows"][0]["pos"]
        or p0["rows"][0]["story"] != p1["rows"][0]["story"]
    )
    _, far = get(app, "/api/positions", model="tiny-a", page=10_000)
    assert far["rows"] == [] and far["total"] > 0


def test_cross_tokenizer_compare_uses_equal_spans(app: Explorer) -> None:
    _, d = get(
        app, "/api/positions", model="tiny-a", compare="char-c", sort="absdiff", order="desc"
    )
    assert d["total"] > 0 and all(
        len(r["token"]) == 1 for r in d["rows"]
    )  # char-c tokens are chars


def test_stories(app: Explorer) -> None:
    _, s = get(app, "/api/stories", model="tiny-a", compare="tiny-b", sort="diff", order="desc")
    assert s["total"] == 6 and s["rows"][0]["diff"] >= s["rows"][-1]["diff"]
    _, q = get(app, "/api/stories", model="tiny-a", q="PUPPY")
    assert [r["story"] for r in q["rows"]] == [1]


def test_story_view(app: Explorer) -> None:
    status, s = get(app, "/api/story", corpus="demo", story=0, model="tiny-b", pos=5)
    assert status == 200 and s["html"].count("cg-hl") == 1
    assert "<all>" not in s["html"] and "&lt;" in s["html"]
    _, d = get(
        app, "/api/story", corpus="demo", story=0, model="tiny-a", compare="char-c", tags="none"
    )
    assert 'data-mode="diff"' in d["html"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/positions", {"model": "nope"}),
        ("/api/positions", {"model": "tiny-a", "sort": "prob; DROP TABLE x_scores"}),
        ("/api/positions", {"model": "tiny-a", "page": "-1"}),
        ("/api/positions", {"model": "tiny-a", "page_size": "100000"}),
        ("/api/positions", {"model": "tiny-a", "pmin": "nan"}),
        ("/api/positions", {"model": "tiny-a", "sort": "diff"}),  # needs compare
        ("/api/positions", {"model": "tiny-a", "compare": "tiny-a", "sort": "diff"}),  # was 500
        ("/api/stories", {"model": "tiny-a", "compare": "tiny-a", "sort": "diff"}),  # was 500
        ("/api/positions", {"model": "tiny-a", "capability": "x' OR 1=1 --"}),
        ("/api/positions", {"model": "tiny-a", "token": "x" * 500}),
        ("/api/story", {"model": "tiny-a", "corpus": "demo", "story": "99"}),
        ("/api/story", {"model": "tiny-a", "corpus": "../../etc/passwd", "story": "0"}),
    ],
)
def test_bad_parameters_are_rejected(app: Explorer, path: str, params: dict[str, str]) -> None:
    status, body = get(app, path, **params)
    assert status == 400 and body["error"]


def test_text_is_bound_not_spliced(app: Explorer) -> None:
    status, body = get(app, "/api/positions", model="tiny-a", token="' OR 1=1 --", q="%")
    assert status == 200 and body["total"] == 0


def test_http_layer(demo_store: RunStore) -> None:
    srv, url = serve_in_thread(demo_store)
    try:
        with urllib.request.urlopen(url) as r:
            assert r.status == 200 and b"capgym explorer" in r.read()
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        req = urllib.request.Request(url + "api/meta", headers={"Host": "attacker.example:80"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "../capgym.json")
        assert e.value.code == 404
    finally:
        srv.shutdown()
        srv.server_close()


def test_cache_is_reused_and_refreshed(tmp_path: Path) -> None:
    run = demo_run(tmp_path / "run", results=False, explains=False)
    first = ExplorerDB(run)
    assert first.path is not None and first.path.exists()
    first.close()
    again = ExplorerDB(run)
    assert again.path == first.path
    again.close()
    fp = fingerprint(run)
    demo_run(tmp_path / "run", results=False, explains=True)  # a new table: a new cache
    assert fingerprint(run) != fp
    fresh = ExplorerDB(run)
    assert fresh.path != first.path and not first.path.exists()
    fresh.close()


def test_uncached_mode_matches(demo_store: RunStore) -> None:
    cached, plain = Explorer(demo_store), Explorer(demo_store, cache=False)
    q = {"model": "tiny-b", "capability": "repeated-name", "sort": "prob"}
    assert get(cached, "/api/positions", **q)[1] == get(plain, "/api/positions", **q)[1]


def test_stage_vocab_is_used_for_pieces(tmp_path: Path) -> None:
    import pyarrow as pa

    run = demo_run(tmp_path / "run", results=False, explains=False)
    vocab = pa.table(
        {
            "model": ["tiny-a"] * 2,
            "token_id": pa.array([0, 3], pa.int32()),
            "piece": ["<unk>", "ONCE"],
        }
    )
    run.write_table("vocab", "tiny-a", vocab)
    app = Explorer(run)
    pieces = app.data.pieces("tiny-a")
    assert pieces[0] == "<unk>" and pieces[3] == "ONCE" and pieces[4] == " upon"


def test_gym_leads_with_beats_wrong_and_chance(app: Explorer) -> None:
    status, _, body = app.handle("/api/gym", "")
    assert status == 200
    rows = json.loads(body)["rows"]
    assert rows and list(rows[0])[:7] == ["task", "model", "metric", "score", "lo", "hi", "chance"]
    assert {r["metric"] for r in rows} == {"beats_wrong"} and {r["chance"] for r in rows} == {0.5}
    assert all(r["lo"] <= r["score"] <= r["hi"] for r in rows)
    assert 'id="gym"' in app.page()
