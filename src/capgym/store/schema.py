"""Arrow schemas of the run-store tables: the contract between pipeline stages.

Every stage reads the tables of earlier stages and writes its own.  A run folder
records :data:`SCHEMA_VERSION`; a folder written with another major version is refused.

>>> from capgym.store.schema import SCORES
>>> SCORES.field("rank").type
DataType(int32)
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

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

RESULTS = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("example_id", pa.string()),
        ("prob", pa.float64()),
        ("logprob", pa.float64()),  # sum over the answer's tokens
        ("first_logprob", pa.float64()),  # first answer token only
        ("rank", pa.int32()),  # rank of the first answer token
        ("logit_diff", pa.float64()),  # full-answer logprob minus best wrong answer's; NaN if none
        ("first_logit_diff", pa.float64()),  # first-token logit difference; NaN if none
        ("n_answer_tokens", pa.int32()),
        ("meta", pa.string()),  # JSON of the example's metadata
    ]
)

# -- the interpretability gym (capgym.circuits) ----------------------------------------
CIRCUIT_COMPONENTS = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("method", pa.string()),  # patching, attribution, eap-ig
        ("level", pa.string()),  # node or edge
        ("component", pa.string()),  # L2H5, MLP3, embed, or an edge "L0H1->A2"
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
