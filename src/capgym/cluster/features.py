"""What a position looks like to the clustering: the model's state, context and attention.

Each position becomes one vector made of the chosen blocks (``features=`` /
``--features``, :data:`FEATURE_SETS`):

* ``hidden``: the model's final hidden state there (what the model is about to say:
  :mod:`capgym.cluster.states`);
* ``context``: the model's input embedding of the last token it read;
* ``attention``: where each head looks from the position (:mod:`capgym.cluster.attention`:
  per head, mass on the first token, at each distance, on induction and copy targets,
  quotes and sentence ends, and the pattern's entropy), standardised per column.

Each block is reduced by PCA, scaled to unit mean squared norm and weighted (1 for
``hidden``, ``context_weight``, ``attention_weight``), so a weight means the same thing
whatever the model's width.

Measured (rediscovery of the four known families, :func:`capgym.cluster.rediscover`,
stories260K on 500 validation stories, 2,400 positions, mean of seeds 0-2; AMI over the
hidden positions, purity, share of each family recovered):

=================  =====  ======  =============  =============  =======  =============
features           AMI    purity  repeated-name  closing-quote  pronoun  story-opening
=================  =====  ======  =============  =============  =======  =============
hidden (default)   0.568  0.924   0.42           1.00           0.71     1.00
hidden,attention   0.563  0.893   0.43           0.99           0.57     0.99
hidden,context     0.536  0.894   0.41           1.00           0.65     1.00
attention          0.458  0.827   0.32           0.91           0.03     0.99
=================  =====  ======  =============  =============  =======  =============

On 6,000 positions (the CLI default, seed 0): hidden 0.569 / 0.902, hidden,attention
0.566 / 0.899.  On bitllama-3M (same stories, 2,400 positions, seeds 0-1): hidden 0.554 /
0.916 (repeated-name 0.49, pronoun 0.60), hidden,attention 0.569 / 0.920 (0.37, 0.65):
within the spread between seeds (+-0.02).  With the attention block, reading the states
takes 1.4-1.6x as long (every layer's queries and keys are recomputed and the kept rows
summarised; 1,000 positions of stories260K and llama2xs-279K, one thread).

The attention features carry the families (a logistic regression on them alone,
3-fold, tells the five labels apart 94% of the time, on the final state 91%), but
unsupervised they do not help: the final state splits repeated names by the name
predicted (one cluster per Max, Anna, Ben, ...), and the attention block neither merges
those clusters nor keeps pronouns together.  Other weights (0.5-2), sizes (8-32
components), head summaries (max or mean over heads) and subsets tried moved AMI within
+-0.03 of ``hidden`` on one sample.  So ``hidden`` stays the default.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = features(rng.normal(size=(50, 8)), rng.normal(size=(50, 4)), state_dims=3,
...              context_dims=2, context_weight=0.5)
>>> x.shape, round(float((x[:, :3] ** 2).sum(1).mean()), 6)
((50, 5), 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.decomposition import PCA

from capgym.errors import UsageError
from capgym.models.base import LanguageModel
from capgym.models.modules import token_embedding

FEATURE_SETS = ("hidden", "context", "attention")
DEFAULT_FEATURES = ("hidden",)  # measured best: see the module docstring
STATE_DIMS = 32
CONTEXT_DIMS = 8
ATTENTION_DIMS = 16
CONTEXT_WEIGHT = 0.5  # used when "context" is chosen
ATTENTION_WEIGHT = 0.5  # used when "attention" is chosen


def check_feature_sets(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple of known feature sets; one-line error otherwise."""
    out = tuple(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))
    bad = [n for n in out if n not in FEATURE_SETS]
    if bad or not out:
        what = f"unknown feature set {bad[0]!r}" if bad else "no feature set chosen"
        raise UsageError(f"{what}; choose from {', '.join(FEATURE_SETS)}")
    return out


def reduce(x: np.ndarray, dims: int, seed: int = 0) -> np.ndarray:
    """``x`` projected on its first ``dims`` principal components, scaled so the mean
    squared norm of a row is 1 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    k = max(1, min(dims, x.shape[1], len(x)))
    z = PCA(k, random_state=seed).fit_transform(x) if len(x) > 1 else np.zeros((len(x), k))
    scale = float(np.sqrt((z**2).sum(1).mean())) if len(z) else 0.0
    return z / scale if scale > 0 else z


def standardise(x: np.ndarray) -> np.ndarray:
    """Columns of ``x`` shifted to mean 0 and scaled to variance 1 (constant ones: 0)."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def features(
    states: np.ndarray | None,
    context: np.ndarray | None = None,
    attention: np.ndarray | None = None,
    state_dims: int = STATE_DIMS,
    context_dims: int = CONTEXT_DIMS,
    attention_dims: int = ATTENTION_DIMS,
    context_weight: float = CONTEXT_WEIGHT,
    attention_weight: float = ATTENTION_WEIGHT,
    seed: int = 0,
) -> np.ndarray:
    """Rows to cluster: ``[reduce(states), context_weight * reduce(context),
    attention_weight * reduce(standardise(attention))]``; a block that is ``None``, or
    has weight 0, is left out.  The attention features are standardised first because
    they mix masses (0..1) with entropies (nats)."""
    blocks = [reduce(states, state_dims, seed)] if states is not None else []
    if context is not None and context_weight > 0:
        blocks.append(context_weight * reduce(context, context_dims, seed))
    if attention is not None and attention_weight > 0:
        blocks.append(attention_weight * reduce(standardise(attention), attention_dims, seed))
    if not blocks:
        raise UsageError("no features to cluster on")
    return np.hstack(blocks)


def input_embeddings(lm: LanguageModel) -> np.ndarray:
    """The model's token embedding matrix ``[vocab, dim]`` (float32)."""
    weight = token_embedding(lm).weight
    if not isinstance(weight, torch.Tensor):  # nn.Module attributes are typed Tensor | Module
        raise UsageError(f"the input embeddings of {lm.name} have no weight matrix")
    return weight.detach().float().cpu().numpy()
