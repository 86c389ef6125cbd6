"""Assemble the atlas: one self-contained HTML file plus an assets folder of exports.

The atlas shows what the run holds: a run with only scores gives the overview and a few
stories as token heat-maps; each later stage's tables fill their own sections (a full
`capgym run` gives them all).

>>> import tempfile
>>> from pathlib import Path
>>> from capgym.view.demo import demo_run
>>> path = report(demo_run(tempfile.mkdtemp()), exports=False)
>>> path.name, "Capability cards" in path.read_text()
('atlas.html', True)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from capgym.errors import UsageError
from capgym.render.tokens import assets_html, palette_for
from capgym.report.cards import cards
from capgym.report.circuits import circuits
from capgym.report.context import Ctx
from capgym.report.diffs import diffs
from capgym.report.exports import Exporter
from capgym.report.frame import Frame
from capgym.report.html import Section, esc, page
from capgym.report.matrix import matrix
from capgym.report.overview import overview, stories
from capgym.report.residue import residue
from capgym.store import RunStore, open_run
from capgym.store.files import write_atomic

SECTIONS: dict[str, Callable[[Ctx], Section]] = {
    "overview": overview,
    "matrix": matrix,
    "cards": cards,
    "circuits": circuits,
    "residue": residue,
    "diffs": diffs,
    "stories": stories,
}

EXPORT_LEVELS = ("none", "main", "all")

# Plotly figures inside a closed <details> are drawn 0 px wide; redraw them on opening.
_RESIZE_JS = """<script>
document.addEventListener("toggle", function (e) {
  if (e.target.open && window.Plotly) e.target.querySelectorAll(".js-plotly-plot").forEach(function (d) { Plotly.Plots.resize(d); });
}, true);
</script>"""


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript">{get_plotlyjs()}</script>'


def _clear_exports(root: Path) -> None:
    for sub in ("tables", "figures"):
        d = root / sub
        if d.is_dir():
            shutil.rmtree(d)


def report(
    run: RunStore | str | os.PathLike[str],
    out_html: str | os.PathLike[str] | None = None,
    *,
    sections: Sequence[str] | None = None,
    n_stories: int = 5,
    exports: bool | str = True,
    title: str = "capgym atlas",
    story_models: list[str] | None = None,
    story_corpus: str | None = None,
) -> Path:
    """Write the atlas of ``run`` to ``out_html`` (default ``RUN/atlas.html``) and return its path.

    Tables go to ``<name>-assets/tables`` as Markdown and LaTeX, figures to
    ``<name>-assets/figures`` as PNG and SVG.  ``exports``: ``"main"`` (or True) writes
    every table and the main figures, ``"all"`` also the figures of every capability card
    (slower: two per card), ``"none"`` (or False) nothing.
    ``story_models`` and ``story_corpus`` choose what the stories section shows.
    """
    run = run if isinstance(run, RunStore) else open_run(run, create=False)
    chosen = list(sections or SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise UsageError(f"unknown report section(s) {unknown}; choose from {list(SECTIONS)}")
    out = Path(out_html) if out_html is not None else run.document("atlas.html")
    assets = out.parent / f"{out.stem}-assets"
    level = ("main" if exports else "none") if isinstance(exports, bool) else exports
    if level not in EXPORT_LEVELS:
        raise UsageError(f"unknown exports level {exports!r}; choose from {list(EXPORT_LEVELS)}")
    if level != "none":
        _clear_exports(assets)
    f = Frame(run)
    try:
        f.stories.palette = palette_for(f.capabilities)  # one colour per capability, page-wide
        ex = Exporter(
            assets if level != "none" else None, assets.name, detail_figures=level == "all"
        )
        ctx = Ctx(f, ex, n_stories, story_models=story_models, story_corpus=story_corpus)
        built = [SECTIONS[s](ctx) for s in chosen]
        built = failed_models(run) + built
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        models = ", ".join(f.model_names) or "no models"
        subtitle = f"run {run.path.resolve()} · {models} · {when}"
    finally:
        f.close()
    head = assets_html() + (
        _plotly_js() + _RESIZE_JS if any("Plotly.newPlot" in s.body for s in built) else ""
    )
    html = page(title, subtitle, built, head).encode()
    write_atomic(out, lambda fh: fh.write(html))
    return out


def failed_models(run: RunStore) -> list[Section]:
    """A first section naming each model the last ``capgym run`` could not finish, and why.

    >>> import tempfile
    >>> from capgym.view.demo import demo_run
    >>> failed_models(demo_run(tempfile.mkdtemp()))
    []
    """
    failed = run.manifest.get("failed_models") or {}
    if not isinstance(failed, dict) or not failed:
        return []
    items = "".join(
        f"<li><b>{esc(name)}</b> failed to {esc(f.get('stage', '?'))}: {esc(f.get('error', ''))}"
        "</li>"
        for name, f in failed.items()
        if isinstance(f, dict)
    )
    lead = "The last <code>capgym run</code> went on without these models:"
    return [Section("failed", "Failed models", f"<p>{lead}</p><ul>{items}</ul>")]


def first_page(
    run: RunStore | str | os.PathLike[str],
    models: list[str] | None = None,
    corpus: str | None = None,
    n_stories: int = 5,
    out_html: str | os.PathLike[str] | None = None,
) -> Path:
    """The simple page of `capgym run`: the overview (per-model summary) and the first
    ``n_stories`` stories of ``corpus`` as token heat-maps of ``models``.  The full
    :func:`report` is this page plus every section whose data exists.

    >>> import tempfile
    >>> from capgym.view.demo import demo_run
    >>> first_page(demo_run(tempfile.mkdtemp()), ["tiny-a"], "demo", n_stories=1).name
    'atlas.html'
    """
    return report(
        run, out_html, sections=["overview", "stories"], n_stories=n_stories, title="capgym run",
        story_models=models, story_corpus=corpus, exports=False,
    )  # fmt: skip
