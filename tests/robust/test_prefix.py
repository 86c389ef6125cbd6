"""Recognising a --limit prefix of a scored corpus from its recorded story-id runs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from capgym.score.engine import _is_prefix, id_runs

IDS = st.lists(st.integers(0, 40), min_size=1, max_size=30, unique=True)


@given(IDS, st.data())
def test_prefixes_and_only_prefixes_match(ids: list[int], data: st.DataObject) -> None:
    runs = id_runs(ids, cap=100)
    assert runs is not None
    n = data.draw(st.integers(1, len(ids)))
    assert _is_prefix(ids[:n], runs)
    other = data.draw(st.lists(st.integers(0, 40), min_size=1, max_size=len(ids), unique=True))
    assert _is_prefix(other, runs) == (other == ids[: len(other)])


def test_runs_are_capped() -> None:
    assert id_runs(list(range(0, 20, 2)), cap=5) is None
    assert id_runs(list(range(1000))) == [[0, 999]]
