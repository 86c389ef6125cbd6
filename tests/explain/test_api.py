"""The public API: ``capgym.explain`` and ``capgym.diff`` are callable however imported."""

from __future__ import annotations

from pathlib import Path

from tests.explain.synth import add_scores, new_run, pieces, score_rows


def test_entry_points_callable_after_submodule_imports(tmp_path: Path) -> None:
    import capgym.diff.api
    import capgym.explain.api

    assert callable(capgym.explain) and callable(capgym.diff)
    text = "Lily saw a kite. Lily saw it."
    run = new_run(tmp_path / "run", "c", [text])
    vocab: dict[str, int] = {}
    for m, p in (("A", 0.6), ("B", 0.9)):
        add_scores(
            run, m, "c", score_rows(m, "c", 0, pieces(text), vocab, lambda i, _, p=p: (p, 0))
        )
    ref = capgym.explain.NgramReference.fit([[1]], min_count=1)
    assert capgym.explain(run, "A", reference=ref, tags=False).n_confident == 9
    assert capgym.diff(run, "A", "B", tags=False).n_both == 9
