"""``ami_all`` measures what its name says: agreement over every clustered position, the
residue one class, so splitting the residue costs ``ami_all`` but not ``ami_hidden``."""

from __future__ import annotations

import pandas as pd
import pytest

from capgym.cluster.report import rediscovery_scores


def test_ami_all_counts_the_residue_as_one_class() -> None:
    labels = ["a", "a", "b", "b", "residue", "residue", "residue", "residue"]
    whole = pd.DataFrame({"label": labels, "cluster": [0, 0, 1, 1, 2, 2, 2, 2]})
    split = pd.DataFrame({"label": labels, "cluster": [0, 0, 1, 1, 2, 2, 3, 3]})
    w, s = rediscovery_scores(whole, ("a", "b")), rediscovery_scores(split, ("a", "b"))
    assert w.ami_all == pytest.approx(1.0) and w.ami_hidden == pytest.approx(1.0)
    assert s.ami_hidden == pytest.approx(1.0)  # the hidden families are still exact
    assert s.ami_all < 0.95  # the residue, one class, lies in two clusters
    assert s.purity == 1.0  # purity does not see the split
