"""The atlas shows the coverage and residue ``capgym explain`` stored, and says when there
are none (or they are out of date) instead of computing its own."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from capgym.explain import ExplainReport, explain
from capgym.report import report
from capgym.report.context import Ctx
from capgym.report.exports import Exporter
from capgym.report.frame import Frame
from capgym.report.metrics import coverage, coverage_summary
from capgym.report.residue import N_EXAMPLES, N_GROUPS, groups_of
from capgym.store import RunStore
from tests.explain.synth import add_tags, coverage_run
from tests.report.test_report import section


@pytest.fixture()
def explained(tmp_path: Path) -> tuple[RunStore, ExplainReport]:
    """The toy run with A explained (the atlas's group and example counts) and B not."""
    run, ref = coverage_run(tmp_path / "run")
    rep = explain(run, "A", reference=ref, tags=False, top=N_GROUPS, n_examples=N_EXAMPLES)
    return run, rep


def test_atlas_numbers_are_explains(explained: tuple[RunStore, ExplainReport]) -> None:
    run, rep = explained
    f = Frame(run)
    cov = coverage(f)
    assert set(cov.model) == {"A"} and cov.current.all()
    cols = ["kind", "name", "n", "share", "mass", "share_mass", "n_exclusive"]
    pd.testing.assert_frame_equal(cov[cols], rep.shares[cols], check_dtype=False)
    s = coverage_summary(f).set_index("model").loc["A"]
    assert (s["n_confident"], s["mass_confident"]) == (rep.n_confident, rep.mass_confident)
    assert (s["any: share"], s["any: share_mass"]) == (rep.coverage, rep.coverage_mass)
    assert s["any capability: share"] == rep.share("any capability")
    assert s["any explainer: share"] == rep.share("any explainer")
    # the residue section groups explain's stored rows with explain's function
    groups, examples = groups_of(Ctx(f, Exporter(None, "")), "A")
    pd.testing.assert_frame_equal(groups, rep.residue_groups, check_dtype=False)
    ex = rep.residue_examples[examples.columns]
    pd.testing.assert_frame_equal(examples, ex, check_dtype=False)
    f.close()


def test_atlas_page_shows_them_and_names_the_missing_model(
    explained: tuple[RunStore, ExplainReport],
) -> None:
    run, rep = explained
    html = report(run, exports=False).read_text(encoding="utf-8")
    over = section(html, "overview")
    table = over.split("Coverage of confident predictions")[1]
    row = re.search(r"<tr><td>A</td>(.*?)</tr>", table).group(1)  # type: ignore[union-attr]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert f"{rep.n_confident:,}" in cells and f"{rep.coverage:.3f}" in cells
    # the coverage layers, named capabilities first (the headline), not mass of "any"
    assert all(f"{v:.3f}" in cells for v in rep.layers.values()), (rep.layers, cells)
    assert f"{rep.mass_confident:.3f}" in cells
    assert "No coverage yet for B" in over
    assert f"capgym explain --model B --out {run.path}" in over
    res = section(html, "residue")
    n_res = int(rep.shares.set_index("name").loc["residue", "n"])
    assert f"A: {n_res:,} of {rep.n_confident:,} confident-correct positions" in res
    top = rep.residue_groups[rep.residue_groups.dimension == "word"].iloc[0]
    assert f"<td>{top.group}</td>" in res and f"{top.share_mass:.3f}" in res


def test_stale_coverage_is_not_shown(explained: tuple[RunStore, ExplainReport]) -> None:
    run, _ = explained
    add_tags(run, "c", [(0, 0, 4, "new-capability")])  # tagged again after explain
    f = Frame(run)
    assert not coverage(f).current.any() and coverage_summary(f).empty
    f.close()
    html = report(run, exports=False).read_text(encoding="utf-8")
    over = section(html, "overview")
    assert "Coverage of A predates changes" in over and "capgym explain --model A" in over
    assert "<td>A</td>" not in over.split("Coverage of confident predictions")[1]
    assert 'class="nodata"' in section(html, "residue")


def test_never_explained(tmp_path: Path) -> None:
    run, _ = coverage_run(tmp_path / "run")
    html = report(run, exports=False).read_text(encoding="utf-8")
    over = section(html, "overview")
    assert "No coverage yet for A, B" in over and "capgym explain --model A" in over
    res = section(html, "residue")
    assert "No residue yet" in res and "capgym explain --model" in res
