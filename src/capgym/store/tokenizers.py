"""Whether two scored models share a tokenizer, decided from the run alone.

Stages that compare two models token by token (``diff``, ``cluster --against``) and the
report ask this one question; the answer comes from what scoring recorded: the
tokenizer hashes in the manifest, or, where one is missing (an older run), the stored
token ids themselves.

>>> import tempfile
>>> from capgym.store import open_run
>>> run = open_run(tempfile.mkdtemp())
>>> run.add_model_info("a", {"tokenizer_hash": "h1"})
>>> run.add_model_info("b", {"tokenizer_hash": "h1"})
>>> same_tokenizer(run, "a", "b")
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from capgym.store.run import RunStore


def same_tokenizer(run: RunStore, a: str, b: str, corpora: list[str] | None = None) -> bool:
    """Whether ``a`` and ``b`` share a tokenizer: equal recorded tokenizer hashes, or (when
    a hash is missing) identical token ids at every position both scored in ``corpora``
    (every corpus when ``None``)."""
    ha, hb = run.model_info(a).get("tokenizer_hash"), run.model_info(b).get("tokenizer_hash")
    if ha and hb:
        return bool(ha == hb)
    where = "" if corpora is None else "AND list_contains(?, corpus)"
    differ = run.sql(
        f"""
        SELECT count(*) AS n FROM (SELECT * FROM scores WHERE model = ?) x
        FULL JOIN (SELECT * FROM scores WHERE model = ?) y USING (corpus, story, pos)
        WHERE x.token_id IS DISTINCT FROM y.token_id {where}
        """,
        [a, b] if corpora is None else [a, b, corpora],
    )
    return int(differ["n"].iloc[0]) == 0
