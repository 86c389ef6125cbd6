"""The rediscovery scores against an independent computation from scikit-learn's
contingency matrix (purity, recovered share) and its AMI, on random labellings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from capgym.cluster.report import rediscovery_scores


@pytest.mark.parametrize("seed", range(5))
def test_rediscovery_scores_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    lab = rng.choice(["a", "b", "c", "residue"], n, p=[0.2, 0.2, 0.1, 0.5])
    # clusters that partly follow the labels, some noise (-1)
    cl = np.where(rng.random(n) < 0.6, pd.factorize(lab)[0] * 2, rng.integers(-1, 6, n))
    members = pd.DataFrame({"label": lab, "cluster": cl})
    r = rediscovery_scores(members, ("a", "b", "c"))
    hidden = lab != "residue"
    assert r.ami_hidden == pytest.approx(adjusted_mutual_info_score(lab[hidden], cl[hidden]))
    assert r.ami_all == pytest.approx(adjusted_mutual_info_score(lab, cl))
    inside = cl >= 0
    m = contingency_matrix(cl[inside], lab[inside])  # rows: clusters, columns: labels
    assert r.purity == pytest.approx(m.max(1).sum() / inside.sum())
    assert r.n_clusters == m.shape[0]
    assert all((row == row.max()).sum() == 1 for row in m)  # no tied majority to break
    classes = np.unique(lab[inside])
    fam = r.per_family.set_index("family")
    for j, f in enumerate(classes):
        if f == "residue":
            continue
        won = m.argmax(1) == j
        assert fam.loc[f, "recovered"] == pytest.approx(m[won, j].sum() / (lab == f).sum())
        assert fam.loc[f, "noise"] == pytest.approx(
            ((cl < 0) & (lab == f)).sum() / (lab == f).sum()
        )
        assert fam.loc[f, "best_share"] == pytest.approx(m[:, j].max() / (lab == f).sum())
