"""End-to-end tests in headless Chromium: the explorer and the atlas, offline.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and Playwright for Python;
Playwright cannot download its own browser here, so it drives ``/usr/bin/chromium``
(override with ``CAPGYM_CHROMIUM``).  Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capgym.render import page as token_page
from capgym.render import story_view
from capgym.store import RunStore

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CAPGYM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(
    os.environ.get("CAPGYM_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=False)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"Chromium not found at {CHROMIUM}; install Debian's package: apt-get install -y chromium"
        )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page that records console errors and refuses every request off this machine."""

    def __init__(self, browser: Any, allowed: str):
        self.ctx = browser.new_context(viewport={"width": 1360, "height": 950})
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.ctx.route("**/*", self._route(allowed))
        self.pg = self.ctx.new_page()
        self.pg.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.pg.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, allowed: str) -> Any:
        def handle(route: Any) -> None:
            url = route.request.url
            if url.startswith((allowed, "data:")):
                route.continue_()
            else:
                self.blocked.append(url)
                route.abort()

        return handle

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture()
def explorer(browser: Any, demo_store: RunStore) -> Iterator[tuple[Page, str]]:
    from capgym.view.server import serve_in_thread

    srv, url = serve_in_thread(demo_store)
    page = Page(browser, url)
    try:
        yield page, url
    finally:
        page.close()
        srv.shutdown()
        srv.server_close()


def count(pg: Any) -> int:
    pg.wait_for_function("() => /^[0-9,]+ /.test(document.getElementById('count').textContent)")
    return int(re.sub(r"\D", "", pg.inner_text("#count").split()[0]))


def settle(pg: Any, before: str) -> None:
    """Wait until the result count differs from ``before`` (a filter was applied)."""
    pg.wait_for_function("b => document.getElementById('count').textContent !== b", arg=before)
    pg.wait_for_function("() => /^[0-9,]+ /.test(document.getElementById('count').textContent)")


def test_explorer_loads_clean(explorer: tuple[Page, str]) -> None:
    page, url = explorer
    pg = page.pg
    pg.goto(url)
    pg.wait_for_selector("#results tbody tr")
    assert count(pg) > 100
    assert pg.locator("#f-model option").count() == 3
    shot(pg, "explorer-start.png")
    assert page.errors == [] and page.blocked == []


def test_filters_change_results(explorer: tuple[Page, str]) -> None:
    page, url = explorer
    pg = page.pg
    pg.goto(url)
    pg.wait_for_selector("#results tbody tr")
    n_all = count(pg)
    before = pg.inner_text("#count")
    pg.select_option("#f-capability", "repeated-name")
    settle(pg, before)
    n_cap = count(pg)
    assert 0 < n_cap < n_all
    assert all("repeated-name" in t for t in pg.locator("#results tbody td.caps").all_inner_texts())
    before = pg.inner_text("#count")
    pg.select_option("#f-correct", "no")
    settle(pg, before)
    assert count(pg) < n_cap
    before = pg.inner_text("#count")
    pg.fill("#f-token", "Sam")
    settle(pg, before)
    assert all("sam" in t.lower() for t in pg.locator("#results tbody td.ctx b").all_inner_texts())
    assert "capability=repeated-name" in pg.url  # the filters live in the URL
    shot(pg, "explorer-filter.png")
    assert page.errors == []


def test_residue_and_reset(explorer: tuple[Page, str]) -> None:
    page, url = explorer
    pg = page.pg
    pg.goto(url + "#model=tiny-b")
    pg.wait_for_selector("#results tbody tr")
    n_all, before = count(pg), pg.inner_text("#count")
    pg.check("#f-residue")
    settle(pg, before)
    assert 0 < count(pg) < n_all
    before = pg.inner_text("#count")
    pg.click("#clear-filters")
    settle(pg, before)
    assert pg.input_value("#f-model") == "tiny-a"
    assert page.errors == []


def test_hover_shows_token_details(explorer: tuple[Page, str]) -> None:
    page, url = explorer
    pg = page.pg
    pg.goto(url + "#model=tiny-b&capability=repeated-name")
    pg.wait_for_selector("#results tbody tr")
    pg.click("#results tbody tr >> nth=1")
    pg.wait_for_selector("#context .cg-view .cg-hl")
    pg.hover("#context .cg-hl")
    tip = pg.locator(".cg-tip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert "rank" in text and "entropy" in text and "top-k" in text and "repeated-name" in text
    assert re.search(r"p 0\.\d{3}", text)
    shot(pg, "explorer-hover.png")
    pg.mouse.move(5, 5)
    pg.wait_for_function(
        "() => getComputedStyle(document.querySelector('.cg-tip')).display === 'none'"
    )
    assert page.errors == []


def test_diff_mode(explorer: tuple[Page, str]) -> None:
    page, url = explorer
    pg = page.pg
    pg.goto(url)
    pg.wait_for_selector("#results tbody tr")
    before = pg.inner_text("#count")
    pg.select_option("#f-compare", "tiny-b")
    pg.select_option("#f-sort", "absdiff")
    pg.select_option("#f-order", "desc")
    pg.wait_for_selector("#results th:has-text('Δ logp')")
    pg.wait_for_function(
        "b => document.getElementById('count').textContent !== 'loading…'", arg=before
    )
    deltas = [
        abs(float(t))
        for t in pg.locator(
            "#results tbody td.num.pos, #results tbody td.num.neg"
        ).all_inner_texts()
    ]
    assert deltas == sorted(deltas, reverse=True) and deltas
    pg.click("#results tbody tr >> nth=0")
    pg.wait_for_selector("#context .cg-view[data-mode=diff] .cg-hl")
    pg.hover("#context .cg-hl")
    tip = pg.locator(".cg-tip")
    tip.wait_for(state="visible")
    assert "tiny-a → tiny-b" in tip.inner_text() and "Δlogp" in tip.inner_text()
    shot(pg, "explorer-diff.png")
    pg.click("#tab-stories")
    pg.wait_for_selector("#results th:has-text('gain of tiny-b')")
    pg.click("#results tbody tr >> nth=0")
    pg.wait_for_selector("#context .cg-view[data-mode=diff]")
    shot(pg, "explorer-stories.png")
    assert page.errors == []


@pytest.fixture(scope="module")
def atlas(demo_store: RunStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from capgym.report import report

    return report(demo_store, tmp_path_factory.mktemp("atlas") / "atlas.html")


def test_report_opens_offline(browser: Any, atlas: Path) -> None:
    page = Page(browser, "file://")
    pg = page.pg
    try:
        pg.goto(atlas.as_uri())
        for sid in ("overview", "matrix", "cards", "residue", "diffs", "stories"):
            assert pg.locator(f"section#{sid} h2").is_visible(), sid
        pg.wait_for_selector("#overview .js-plotly-plot .main-svg")
        assert pg.locator(".js-plotly-plot").count() >= 6
        shot(pg, "report-overview.png")
        pg.click("#card-repeated-name > summary")
        pg.locator("#card-repeated-name").scroll_into_view_if_needed()
        pg.wait_for_selector("#card-repeated-name .js-plotly-plot .main-svg")
        width = pg.evaluate(
            "document.querySelector('#card-repeated-name .js-plotly-plot').getBoundingClientRect().width"
        )
        assert width > 200  # redrawn at full width once the card opened
        shot(pg, "report-card.png")
        pg.locator("#stories .cg-t").nth(12).hover()
        pg.locator(".cg-tip").wait_for(state="visible")
        assert "top-k" in pg.inner_text(".cg-tip")
        shot(pg, "report-hover.png")
        pg.locator("#matrix .js-plotly-plot").first.scroll_into_view_if_needed()
        shot(pg, "report-matrix.png")
        assert page.errors == [] and page.blocked == []
    finally:
        page.close()


def test_copied_text_is_the_story(browser: Any, demo_store: RunStore, tmp_path: Path) -> None:
    views = [story_view(demo_store, "demo", 1, "tiny-a", id_prefix="a"),
             story_view(demo_store, "demo", 1, "tiny-a", "char-c", id_prefix="b")]  # fmt: skip
    path = tmp_path / "views.html"
    path.write_text(token_page(views), encoding="utf-8")
    page = Page(browser, "file://")
    try:
        page.pg.goto(path.as_uri())
        expected = demo_store.sql("SELECT text FROM stories WHERE story = 1").text[0]
        for vid in ("a", "b"):
            got = page.pg.evaluate(
                """id => { const r = document.createRange();
                   r.selectNodeContents(document.querySelector('#' + id + ' .cg-text'));
                   const s = getSelection(); s.removeAllRanges(); s.addRange(r); return s.toString(); }""",
                vid,
            )
            assert got == expected
        assert page.errors == []
    finally:
        page.close()
