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
