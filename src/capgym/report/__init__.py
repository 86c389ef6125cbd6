"""The atlas report: everything a run knows, in one self-contained HTML file.

Sections (each shown when its data exists, else one "no data yet" line): overview,
models x capabilities, capability cards, unexplained residue, model-diff highlights,
stories.  Paper exports (Markdown, LaTeX, PNG, SVG) go to an assets folder next to it.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> report(demo_run(tempfile.mkdtemp()), exports=False).exists()
True
"""

from __future__ import annotations

from capgym.report.atlas import SECTIONS, first_page, report

__all__ = ["SECTIONS", "first_page", "report"]
