"""Attention-pattern features of a position (capgym.cluster.attention), counted by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from capgym.cluster.attention import FEATURES, head_features, token_classes
from capgym.cluster.features import check_feature_sets, features
from capgym.errors import UsageError


def test_head_features_match_a_hand_count() -> None:
    #        idx: 0  1  2  3  4  5   6
    ids = [1, 5, 6, 9, 5, 6, 7]  # the query at index 4 reads token 5 and predicts 6
    quote, stop = np.zeros(10, bool), np.zeros(10, bool)
    quote[9], stop[6] = True, True
    row = torch.tensor([[0.1, 0.0, 0.4, 0.2, 0.3, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    f = head_features(row[:, None, :], ids, np.array([4]), quote, stop)
    got = dict(zip(FEATURES, f[0, 0].round(6)))
    assert got["first"] == pytest.approx(0.1)  # key 0
    assert got["d0"] == pytest.approx(0.3) and got["d1"] == pytest.approx(0.2)  # keys 4, 3
    assert got["d2-3"] == pytest.approx(0.4)  # key 2
    assert got["induction"] == pytest.approx(0.4)  # key 2 follows the earlier 5 (key 1)
    assert got["copy"] == pytest.approx(0.4)  # key 2 is an earlier 6, the predicted token
    assert got["quote"] == pytest.approx(0.2) and got["stop"] == pytest.approx(0.4)
    ent = -(0.1 * np.log(0.1) + 0.4 * np.log(0.4) + 0.2 * np.log(0.2) + 0.3 * np.log(0.3))
    assert got["entropy"] == pytest.approx(ent, abs=1e-5)
    assert f[0, 1, FEATURES.index("d0")] == 1.0 and f[0, 1, -1] == pytest.approx(0.0, abs=1e-6)


def test_token_classes() -> None:
    quote, stop = token_classes(['"', ' "Hi', ".", "!", "\n", " the", "?\n", "a."])
    assert quote.tolist() == [True, True, False, False, False, False, False, False]
    assert stop.tolist() == [False, False, True, True, True, False, True, True]


def test_feature_sets_are_checked_and_blocks_weighted() -> None:
    assert check_feature_sets(["hidden", " attention", "hidden"]) == ("hidden", "attention")
    with pytest.raises(UsageError, match="unknown feature set 'states'; choose from hidden"):
        check_feature_sets(["states"])
    with pytest.raises(UsageError, match="no feature set chosen"):
        check_feature_sets([])
    rng = np.random.default_rng(0)
    s, a = rng.normal(size=(40, 6)), rng.normal(size=(40, 30))
    a[:, 0] *= 100  # an entropy-like column on another scale
    x = features(s, attention=a, state_dims=4, attention_dims=3, attention_weight=0.5)
    assert x.shape == (40, 7)
    # each block has unit mean squared norm before its weight, whatever its scale
    assert (x[:, 4:] ** 2).sum(1).mean() == pytest.approx(0.25)
    # standardised first: the large column does not take the first component
    assert abs(np.corrcoef(x[:, 4], a[:, 0])[0, 1]) < 0.9
    assert features(None, attention=a, attention_dims=3).shape == (40, 3)
    with pytest.raises(UsageError, match="no features to cluster on"):
        features(None)
