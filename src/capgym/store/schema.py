"""Every table of a run, declared once: the contract between pipeline stages.

Each stage reads the tables of earlier stages and writes its own through
:meth:`capgym.store.RunStore.write_table`, which refuses a table that is not declared
here and casts the declared columns to their types.  A *strict* table has exactly its
declared columns; an open one (the evaluate stage's summaries, whose figures grow with
its metrics) types the declared columns it has and keeps any others.  A new stage
declares its tables here (or with :func:`declare`), the way a tagger registers itself.

A run folder records :data:`SCHEMA_VERSION`; a folder written with another one is refused.

>>> TABLES["scores"].schema.field("rank").type
DataType(int32)
>>> table("nope")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
capgym.errors.StoreError: unknown table 'nope'; declare it in capgym.store.schema (known: ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from capgym.errors import StoreError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Table:
    """A declared table: its columns, what one part of it holds, and who writes it."""

    name: str
    schema: pa.Schema
    part: str  # what one part (one Parquet file, written by one call) holds
    writer: str  # the stage that writes it
    strict: bool = True  # exactly these columns (else: these typed, others kept)
    doc: str = ""
    folder: str = ""  # where its parts live in the run folder (default ``tables/<name>``)
    layout: str = "parts"  # "parts" (write_table), "score_sets" or "manifest"

    def conform(self, data: pd.DataFrame | pa.Table) -> pa.Table:
        """``data`` as an Arrow table of this table: a strict table gets exactly its
        columns, in order; an open one its declared columns typed and the others kept."""
        arrow = isinstance(data, pa.Table)
        if arrow and data.schema.equals(self.schema):
            return data  # the common case (score parts): nothing to check or cast
        names = data.column_names if arrow else list(data.columns)
        declared = self.schema.names
        missing = [c for c in declared if c not in names]
        extra = [c for c in names if c not in declared]
        if self.strict and (missing or extra):
            pairs = (("missing", missing), ("unexpected", extra))
            what = "; ".join(f"{k} {', '.join(c)}" for k, c in pairs if c)
            raise StoreError(f"table '{self.name}' does not match its declared columns ({what})")
        try:
            if self.strict and arrow:
                return data.select(declared).cast(self.schema)
            if self.strict:
                return pa.Table.from_pandas(
                    data[declared], schema=self.schema, preserve_index=False
                )
            table = data if arrow else pa.Table.from_pandas(data, preserve_index=False)
            for f in self.schema:
                if f.name in names:
                    i = table.column_names.index(f.name)
                    table = table.set_column(i, f, table.column(i).cast(f.type))
            return table
        except (pa.ArrowException, ValueError, TypeError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise StoreError(f"table '{self.name}' has columns of the wrong type ({msg})") from None


TABLES: dict[str, Table] = {}


def declare(t: Table) -> Table:
    """Register a table so that :meth:`RunStore.write_table` accepts it; returns it."""
    TABLES[t.name] = t
    return t


def table(name: str) -> Table:
    """The declaration of table ``name``; a one-line error for an undeclared one."""
    if name not in TABLES:
        raise StoreError(
            f"unknown table '{name}'; declare it in capgym.store.schema "
            f"(known: {', '.join(sorted(TABLES))})"
        )
    return TABLES[name]


STORIES = pa.schema(
    [
        ("corpus", pa.string()),
        ("story", pa.int64()),  # stable id within the corpus (the ``idx`` of jsonl)
        ("text", pa.string()),  # the text every char offset refers to
    ]
)

SCORES = pa.schema(
    [
        ("model", pa.string()),
        ("corpus", pa.string()),
        ("story", pa.int64()),
        ("pos", pa.int32()),  # index in the model's token sequence; BOS = 0, so pos >= 1
        ("token_id", pa.int32()),  # the actual token at ``pos`` (the one predicted)
        ("token", pa.string()),  # its display piece
        ("char_start", pa.int32()),  # [char_start, char_end) of stories.text
        ("char_end", pa.int32()),
        ("logprob", pa.float32()),  # log p(token | tokens before pos), natural log
        ("rank", pa.int32()),  # number of vocab entries with strictly larger logit; 0 = top
        ("entropy", pa.float32()),  # entropy of the predicted distribution, nats
        ("context_len", pa.int32()),  # tokens the model saw before predicting (<= context)
        ("topk_ids", pa.list_(pa.int32())),  # top-k ids, best first
        ("topk_logprobs", pa.list_(pa.float32())),
    ]
)

MODELS = pa.schema(
    [
        ("model", pa.string()),
        ("n_params", pa.int64()),
        ("architecture", pa.string()),
        ("tokenizer", pa.string()),
        ("context_len", pa.int32()),
        ("source", pa.string()),
    ]
)

VOCAB = pa.schema([("model", pa.string()), ("token_id", pa.int32()), ("piece", pa.string())])

TAGS = pa.schema(
    [
        ("corpus", pa.string()),
        ("story", pa.int64()),
        ("char_start", pa.int32()),  # span of the word/symbol to be predicted
        ("char_end", pa.int32()),
        ("capability", pa.string()),  # tagger family name, e.g. "repeated-name"
        ("attrs", pa.string()),  # JSON object
    ]
)

EXPLAINS = pa.schema(
    [
        ("model", pa.string()),
        ("corpus", pa.string()),
        ("story", pa.int64()),
        ("pos", pa.int32()),
        ("explainer", pa.string()),
    ]
)

COVERAGE = pa.schema(
    [
        ("model", pa.string()),
        ("corpora", pa.list_(pa.string())),
        ("threshold", pa.float64()),
        ("n_scored", pa.int64()),
        ("n_confident", pa.int64()),
        ("mass_confident", pa.float64()),
        ("idx", pa.int32()),  # the report's row order
        ("kind", pa.string()),  # capability, explainer or total
        ("name", pa.string()),
        ("n", pa.int64()),
        ("share", pa.float64()),
        ("mass", pa.float64()),
        ("share_mass", pa.float64()),
        ("n_exclusive", pa.int64()),  # null on total rows
    ]
)

RESIDUE = pa.schema(
    [
        ("model", pa.string()),
        ("corpus", pa.string()),
        ("story", pa.int64()),
        ("pos", pa.int32()),
        ("p", pa.float64()),
        ("es", pa.int64()),  # the token's effective span
        ("ee", pa.int64()),
        ("piece", pa.string()),
        ("word", pa.string()),
        ("prev-word", pa.string()),
        ("prev-2-words", pa.string()),
        ("word-class", pa.string()),
        ("position", pa.string()),
    ]
)

RESULTS = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("example_id", pa.string()),
        ("prob", pa.float64()),
        ("logprob", pa.float64()),  # sum over the answer's tokens
        ("first_logprob", pa.float64()),  # first answer token only
        ("rank", pa.int32()),  # over the vocabulary, of the first non-space answer token
        # against the wrong answers (NaN if none), see capgym.evaluate.forward:
        ("beats_wrong", pa.float64()),  # 1 if the answer wins at every decision token
        ("logit_diff_at_decision", pa.float64()),  # logit(answer) - logit(wrong), min over wrong
        ("seq_logprob_diff", pa.float64()),  # summed logprob minus best wrong answer's
        ("seq_logprob_diff_per_token", pa.float64()),  # the same with per-token means
        ("first_logprob_diff", pa.float64()),  # logprob up to the first non-space token
        ("single_token_contrast", pa.float64()),  # 1 if every contrast is one token each
        ("n_wrong", pa.int32()),  # wrong answers; chance of beats_wrong = 1 / (1 + n_wrong)
        ("n_answer_tokens", pa.int32()),
        ("meta", pa.string()),  # JSON of the example's metadata
    ]
)

EXAMPLE_DETAILS = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("example_id", pa.string()),
        ("greedy", pa.bool_()),  # greedy decoding produces the whole answer
        ("token_logprobs", pa.list_(pa.float64())),
        ("token_ranks", pa.list_(pa.int64())),
        ("wrong_logprobs", pa.list_(pa.float64())),
        ("wrong_first_logprobs", pa.list_(pa.float64())),
        ("decision_logit_diffs", pa.list_(pa.float64())),  # per wrong answer, at its decision
        ("n_prompt_tokens", pa.int64()),
        ("truncated", pa.int64()),  # prompt tokens dropped on the left to fit the context
        ("resplit", pa.string()),  # text moved from the end of the prompt into the answers
        ("top_token", pa.string()),  # the model's top choice where the rank is taken
    ]
)

TASK_SUMMARY = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("capability", pa.string()),
        # the headline (capgym.evaluate.stats.METRICS): the answer beats every wrong answer
        # at the first token where they differ; NaN for a task without wrong answers
        ("beats_wrong", pa.float64()),
        ("beats_wrong_lo", pa.float64()),  # bootstrap 95% interval
        ("beats_wrong_hi", pa.float64()),
        ("chance", pa.float64()),  # of beats_wrong: mean of 1 / (1 + wrong answers)
        ("mean_logit_diff_at_decision", pa.float64()),
        ("top1_vocab", pa.float64()),  # the answer's first token ranked first over the vocab
        ("top1_vocab_lo", pa.float64()),
        ("top1_vocab_hi", pa.float64()),
        ("mean_seq_logprob_diff", pa.float64()),
        ("single_token_share", pa.float64()),
    ]
)

TASK_SLICES = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("field", pa.string()),  # a metadata field of the examples
        ("metric", pa.string()),
        ("cohen_d", pa.float64()),  # effect size of the slice against the rest
    ]
)

TASK_ERRORS = pa.schema([("model", pa.string()), ("task", pa.string()), ("error", pa.string())])

for _t in (
    Table("stories", STORIES, "one corpus", "corpus", doc="story texts", folder="stories"),
    Table(
        "scores",
        SCORES,
        "one chunk of one score set",
        "score",
        doc="per predicted token",
        folder="scores",
        layout="score_sets",
    ),
    Table("models", MODELS, "one model", "score", doc="facts of each model", layout="manifest"),
    Table("vocab", VOCAB, "one model", "score", doc="every vocabulary entry's piece"),
    Table("tags", TAGS, "one corpus", "tags", doc="capability spans of the stories"),
    Table("explains", EXPLAINS, "one (model, corpus)", "explain", doc="explainer hits"),
    Table("coverage", COVERAGE, "one model", "explain", doc="shares of confident positions"),
    Table("residue", RESIDUE, "one model", "explain", doc="confident positions nothing covers"),
    Table("results", RESULTS, "one (model, task)", "evaluate", doc="one row per example"),
    Table("example_details", EXAMPLE_DETAILS, "one (model, task)", "evaluate", strict=False),
    Table("task_summary", TASK_SUMMARY, "one (model, task)", "evaluate", strict=False),
    Table("task_slices", TASK_SLICES, "one (model, task)", "evaluate", strict=False),
    Table("task_errors", TASK_ERRORS, "the latest grid", "evaluate", doc="one line per failure"),
):
    declare(_t)

# -- the interpretability gym (capgym.circuits) ----------------------------------------
CIRCUIT_COMPONENTS = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("method", pa.string()),  # patching, attribution, eap-ig
        ("level", pa.string()),  # node or edge
        ("component", pa.string()),  # L2H5, MLP3, embed, or an edge "L0H1->L2H3.q"
        ("rank", pa.int32()),  # 0 = most important (largest |score|)
        ("score", pa.float64()),  # estimated drop of the logit difference when patched
    ]
)

CIRCUIT_SCORES = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("method", pa.string()),
        ("mode", pa.string()),  # patch (from the corrupted prompt) or mean
        ("fraction", pa.float64()),  # share of components (or edges) in the circuit
        ("size", pa.int32()),
        ("faithfulness", pa.float64()),
    ]
)

LEADERBOARD = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("method", pa.string()),  # a baseline, or "submission:<name>"
        ("level", pa.string()),
        ("n_pairs", pa.int32()),
        ("valid_share", pa.float64()),  # valid counterfactual pairs / pairs built
        ("m_clean", pa.float64()),  # mean decision-point logit difference, clean prompts
        ("m_corrupt", pa.float64()),
        ("size", pa.int32()),  # circuit size (submissions); NaN-like -1 for rankings
        ("faithfulness", pa.float64()),  # a submission's score; NaN for rankings
        ("f_at_5", pa.float64()),  # ranking curves: faithfulness at 5% and 20%
        ("f_at_20", pa.float64()),
        ("cpr", pa.float64()),  # integral of faithfulness over circuit fractions
        ("cmd", pa.float64()),  # integral of |1 - faithfulness|
        ("seconds", pa.float64()),
        ("note", pa.string()),  # e.g. bitllama gradients are straight-through estimates
    ]
)

CIRCUIT_HYPOTHESES = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("statement", pa.string()),
        ("satisfied", pa.list_(pa.string())),  # heads meeting the attention hypothesis
        ("recovery", pa.float64()),  # share of the clean-corrupt gap those heads restore
        ("top_mass", pa.string()),  # JSON: the 5 heads with the most attention mass
    ]
)

CIRCUIT_ATTENTION = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("head", pa.string()),  # a top head of the first method's ranking
        ("example_id", pa.string()),  # the first valid pair's clean prompt
        ("tokens", pa.list_(pa.string())),  # its tokens' pieces
        ("weights", pa.list_(pa.float32())),  # attention from the decision token to each
    ]
)

for _t in (
    Table(
        "components",
        CIRCUIT_COMPONENTS,
        "one (model, task, method)",
        "circuits",
        doc="each baseline's ranking of components or edges",
    ),
    Table(
        "circuit_scores",
        CIRCUIT_SCORES,
        "one (model, task, method)",
        "circuits",
        doc="faithfulness curve of each ranking",
    ),
    Table(
        "leaderboard",
        LEADERBOARD,
        "one (model, task, method or submission)",
        "circuits",
        doc="one row per baseline or submitted circuit",
    ),
    Table(
        "circuit_hypotheses",
        CIRCUIT_HYPOTHESES,
        "one (model, task)",
        "circuits",
        doc="the task's attention hypothesis checked on a model",
    ),
    Table(
        "circuit_attention",
        CIRCUIT_ATTENTION,
        "one (model, task)",
        "circuits",
        doc="attention of the top heads on one example",
    ),
):
    declare(_t)
