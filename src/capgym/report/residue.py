"""The unexplained residue: confident-correct positions no tag overlaps and no explainer
names, grouped by the predicted text, with examples.

>>> import tempfile
>>> from capgym.view.demo import demo_run
>>> from capgym.report.exports import Exporter
>>> from capgym.report.frame import Frame
>>> residue(Ctx(Frame(demo_run(tempfile.mkdtemp())), Exporter(None, ""))).id
'residue'
"""

from __future__ import annotations

from capgym.report.context import Ctx
from capgym.report.frame import CONFIDENT
from capgym.report.html import Section, esc, nodata, note

N_GROUPS, N_EXAMPLES = 10, 2

_TAG_COVER = """AND NOT EXISTS (SELECT 1 FROM tags g WHERE g.corpus = c.corpus AND g.story = c.story
    AND c.char_start < greatest(g.char_end, g.char_start + 1)
    AND g.char_start < greatest(c.char_end, c.char_start + 1))"""


def residue_sql(with_tags: bool) -> str:
    """Temp table ``cg_residue`` for one model (params: threshold, model, model)."""
    return f"""
    CREATE OR REPLACE TEMP TABLE cg_residue AS
    WITH c AS (SELECT corpus, story, pos, char_start, char_end, exp(logprob) AS p
               FROM scores WHERE rank = 0 AND logprob >= ln(?) AND model = ?),
    r AS (SELECT c.* FROM c WHERE NOT EXISTS (SELECT 1 FROM explains x WHERE x.model = ?
              AND x.corpus = c.corpus AND x.story = c.story AND x.pos = c.pos)
          {_TAG_COVER if with_tags else ""})
    SELECT r.*, substring(s.text, r.char_start + 1, r.char_end - r.char_start) AS piece,
        CASE WHEN trim(piece) = '' AND piece LIKE '%' || chr(10) || '%' THEN '↵'
             WHEN trim(piece) = '' THEN '␣'
             ELSE lower(trim(replace(piece, chr(10), '↵'))) END AS grp
    FROM r JOIN stories s USING (corpus, story)
    """


def residue(ctx: Ctx) -> Section:
    f = ctx.f
    model = f.ref_model
    if not f.has("explains") or model is None:
        return Section("residue", "Unexplained residue", nodata("explainers", ctx.how("explains")))
    f.con.execute(residue_sql(f.has("tags")), [CONFIDENT, model, model])
    groups = f.df(
        "WITH t AS (SELECT count(*) AS n_all, sum(p) AS m_all FROM cg_residue) "
        'SELECT grp AS "group", count(*) AS n, sum(p) AS mass, sum(p) / any_value(m_all) AS share, avg(p) AS mean_p '
        "FROM cg_residue, t GROUP BY grp ORDER BY mass DESC, grp LIMIT ?",
        [N_GROUPS],
    )
    total = f.df("SELECT count(*) AS n FROM cg_residue").n.iloc[0]
    parts = [note(
        f"{model}: {int(total):,} confident-correct positions (rank 0, p >= {CONFIDENT}) that no tag "
        "overlaps and no explainer names, grouped by the predicted text; groups ranked by "
        "probability mass. These are candidates for the next capability."
    )]  # fmt: skip
    if groups.empty:
        return Section(
            "residue",
            "Unexplained residue",
            "\n".join([*parts, note("Nothing is left unexplained.")]),
        )
    parts.append(ctx.table("residue-groups", groups, f"Top residue groups of {model}"))
    ex = f.df(
        "SELECT * FROM cg_residue WHERE grp IN (SELECT unnest(?)) "
        "QUALIFY row_number() OVER (PARTITION BY grp ORDER BY hash(corpus, story, pos)) <= ? "
        "ORDER BY grp, corpus, story, pos",
        [list(groups.group.head(5)), N_EXAMPLES],
    )
    for g in groups.group.head(5):
        parts.append(f'<div class="group">“{esc(g)}”</div>')
        for r in ex[ex.grp == g].itertuples():
            win = (int(r.char_start) - 100, int(r.char_end) + 30)
            v = ctx.story(
                r.corpus,
                int(r.story),
                model,
                pos=int(r.pos),
                window=win,
                tags=False,
                show_head=False,
            )
            parts.append(
                f'<div class="ex-label">p {r.p:.3f} · {esc(r.corpus)} story {r.story} pos {r.pos}</div>{v.body}'
            )
    return Section("residue", "Unexplained residue", "\n".join(parts))
