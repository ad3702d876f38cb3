"""Patient-level (cluster) bootstrap: intervals when one patient contributes several cases.

Two radiographs of one patient, or the 480 minutes of one night, are not independent cases: resampling
cases as if they were gives intervals that are too narrow (they count correlated cases as new
evidence). The cluster bootstrap resamples whole patients with replacement and keeps all their cases
together (Field & Welsh, JRSS-B 2007; the usual choice for per-minute sleep and per-image radiograph
studies).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from medai_lib.evaluation._bootstrap import (
    auc_from_weighted_counts,
    cluster_codes,
    cluster_weight_chunks,
    make_grid,
    percentile_interval,
    weighted_grid_counts,
)
from medai_lib.evaluation._validation import (
    check_clusters,
    check_confidence,
    check_labels,
    check_n_bootstrap,
    check_same_length,
    check_scores,
)
from medai_lib.evaluation.roc import _rng

__all__ = ["cluster_bootstrap"]


def cluster_bootstrap(y_true, y_score, clusters, *, threshold: float = 0.5, n_bootstrap: int = 2000,
                      confidence: float = 0.95, random_state=0) -> pd.DataFrame:
    """AUC, accuracy, sensitivity and specificity with patient-level (cluster) bootstrap intervals.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)
    clusters : array_like, shape (n_cases,)
        The patient (subject) of each case; at least 10 patients.
    threshold : float, default 0.5
        A case is test-positive when ``y_score >= threshold`` (accuracy, sensitivity, specificity).
    n_bootstrap : int, default 2000
    confidence : float, default 0.95
    random_state : int or numpy.random.Generator, default 0

    Returns
    -------
    pandas.DataFrame
        Rows ``auc, accuracy, sensitivity, specificity``; columns ``estimate, ci_low, ci_high``.
        ``attrs`` holds ``n_clusters``, ``n_cases`` and ``method``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> patient = np.repeat(np.arange(30), 10)
    >>> y = rng.integers(0, 2, 300)
    >>> table = cluster_bootstrap(y, y + rng.normal(size=300), patient, threshold=0.5, n_bootstrap=200)
    >>> table.index.tolist()
    ['auc', 'accuracy', 'sensitivity', 'specificity']
    """
    y = check_labels(y_true)
    s = check_scores(y_score)
    check_same_length(y_true=y, y_score=s)
    g = check_clusters(clusters, y)
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap, y_true=y)
    codes, n_clusters = cluster_codes(g)
    grid = make_grid(y, s)
    pos, neg = y == 1, y == 0
    hit = (s >= threshold).astype(float)
    correct = (hit == y).astype(float)
    reps = np.empty((4, n_bootstrap))
    start = 0
    for counts in cluster_weight_chunks(n_clusters, n_bootstrap, _rng(random_state)):
        stop = start + counts.shape[0]
        w = counts[:, codes].astype(float)
        w_pos, w_neg = w[:, pos], w[:, neg]
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[0, start:stop] = auc_from_weighted_counts(*weighted_grid_counts(grid, w_pos, w_neg))
            reps[1, start:stop] = w @ correct / w.sum(axis=1)
            reps[2, start:stop] = w_pos @ hit[pos] / w_pos.sum(axis=1)
            reps[3, start:stop] = w_neg @ (1.0 - hit[neg]) / w_neg.sum(axis=1)
        start = stop
    from sklearn.metrics import roc_auc_score

    estimate = [roc_auc_score(y, s), correct.mean(), hit[pos].mean(), 1.0 - hit[neg].mean()]
    low, high = percentile_interval(reps, confidence, axis=1)
    out = pd.DataFrame({"estimate": estimate, "ci_low": low, "ci_high": high},
                       index=pd.Index(["auc", "accuracy", "sensitivity", "specificity"], name="metric"))
    out.attrs.update(n_clusters=n_clusters, n_cases=int(len(y)),
                     method=f"cluster bootstrap ({n_bootstrap} replicates, {n_clusters} patients)")
    return out
