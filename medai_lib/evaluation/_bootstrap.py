"""Vectorised stratified bootstrap over ROC curves: all replicates of a chunk computed at once.

Each model's scores are mapped once onto their distinct values in descending order (the ROC thresholds).
A replicate resamples positives and negatives separately (stratified); its ROC curve is the cumulative
sum of how many resampled cases fall on each threshold, so AUC, sensitivity and specificity of every
replicate come from a few array operations, with no Python loop per replicate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

#: Replicates per chunk: bounds memory (chunk x distinct scores) while keeping the arrays large.
CHUNK = 256


@dataclass(frozen=True, eq=False)
class ScoreGrid:
    """One model's scores on its descending distinct values (index 0 = highest score)."""

    thresholds: np.ndarray  # shape (K,), descending
    pos_rank: np.ndarray  # shape (n_pos,), index into thresholds for each positive case
    neg_rank: np.ndarray  # shape (n_neg,)

    @property
    def size(self) -> int:
        return int(self.thresholds.size)


def make_grid(y_true: np.ndarray, y_score: np.ndarray) -> ScoreGrid:
    values, inverse = np.unique(y_score, return_inverse=True)
    desc = (values.size - 1 - inverse).astype(np.int64)
    return ScoreGrid(values[::-1].copy(), desc[y_true == 1], desc[y_true == 0])


def resample_chunks(
    n_pos: int, n_neg: int, n_bootstrap: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield stratified resampling indices, ``(b, n_pos)`` and ``(b, n_neg)`` int32 arrays per chunk."""
    for start in range(0, n_bootstrap, CHUNK):
        b = min(CHUNK, n_bootstrap - start)
        yield (
            rng.integers(0, n_pos, size=(b, n_pos), dtype=np.int32),
            rng.integers(0, n_neg, size=(b, n_neg), dtype=np.int32),
        )


def grid_counts(grid: ScoreGrid, pos_idx: np.ndarray, neg_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of resampled positives and negatives on each threshold, each of shape ``(b, K)``."""
    b, k = pos_idx.shape[0], grid.size
    offsets = (np.arange(b, dtype=np.int64) * k)[:, None]
    pos = np.bincount((grid.pos_rank[pos_idx] + offsets).ravel(), minlength=b * k).reshape(b, k)
    neg = np.bincount((grid.neg_rank[neg_idx] + offsets).ravel(), minlength=b * k).reshape(b, k)
    return pos, neg


def auc_from_counts(pos: np.ndarray, neg: np.ndarray, fp: np.ndarray | None = None) -> np.ndarray:
    """Mann-Whitney AUC of each replicate (ties count one half), shape ``(b,)``."""
    n_pos = pos[0].sum()
    n_neg = neg[0].sum()
    if fp is None:
        fp = np.cumsum(neg, axis=1)
    # a positive on threshold k beats the negatives below it (n_neg - fp_k) and ties with those on k
    wins = n_pos * n_neg - np.einsum("ij,ij->i", pos, fp) + 0.5 * np.einsum("ij,ij->i", pos, neg)
    return wins / (n_pos * n_neg)


def replicate_aucs(
    y_true: np.ndarray, scores: list[np.ndarray], n_bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """AUC of each model in each stratified replicate, shape ``(n_models, n_bootstrap)``.

    All models see the same resampled cases (a paired bootstrap).
    """
    grids = [make_grid(y_true, s) for s in scores]
    n_pos = int(y_true.sum())
    out = np.empty((len(scores), n_bootstrap))
    start = 0
    for pos_idx, neg_idx in resample_chunks(n_pos, y_true.size - n_pos, n_bootstrap, rng):
        stop = start + pos_idx.shape[0]
        for i, grid in enumerate(grids):
            out[i, start:stop] = auc_from_counts(*grid_counts(grid, pos_idx, neg_idx))
        start = stop
    return out


def tpr_at_fpr(tp: np.ndarray, fp: np.ndarray, fpr_grid: np.ndarray) -> np.ndarray:
    """Step-ROC sensitivity at each false-positive rate in ``fpr_grid`` for each replicate.

    ``tp`` and ``fp`` are cumulative counts ``(b, K)`` in descending-threshold order. Returns ``(b, G)``:
    the highest sensitivity reached without exceeding the false-positive rate.
    """
    b, k = tp.shape
    n_pos = tp[0, -1]
    n_neg = fp[0, -1]
    tpr = np.concatenate([np.zeros((b, 1)), tp / n_pos], axis=1)
    fpr = np.concatenate([np.zeros((b, 1)), fp / n_neg], axis=1)
    # rows are each sorted; shifting row r by 2r makes the flattened array sorted, so one searchsorted
    # call answers every (replicate, grid point) query at once
    shift = 2.0 * np.arange(b)[:, None]
    flat = (fpr + shift).ravel()
    queries = (fpr_grid[None, :] + shift).ravel()
    idx = np.searchsorted(flat, queries, side="right") - 1
    return tpr.ravel()[idx].reshape(b, fpr_grid.size)


def percentile_interval(replicates: np.ndarray, confidence: float, axis: int = -1) -> tuple:
    """Percentile bootstrap interval (low, high) along ``axis``; NaN replicates are ignored."""
    alpha = 1.0 - confidence
    low, high = np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2], axis=axis)
    return low, high


# ------------------------------------------------------------------------------------------ clusters
def cluster_codes(clusters: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer code of each case's cluster (patient, subject) and the number of clusters."""
    _, codes = np.unique(clusters, return_inverse=True)
    return codes.astype(np.int64), int(codes.max()) + 1


def cluster_weight_chunks(n_clusters: int, n_bootstrap: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield ``(b, n_clusters)`` counts: how often each cluster is drawn in each replicate.

    Drawing ``n_clusters`` clusters with replacement is a multinomial draw of the counts; every case then
    enters the replicate as often as its cluster was drawn.
    """
    p = np.full(n_clusters, 1.0 / n_clusters)
    for start in range(0, n_bootstrap, CHUNK):
        b = min(CHUNK, n_bootstrap - start)
        yield rng.multinomial(n_clusters, p, size=b)


def weighted_grid_counts(grid: ScoreGrid, w_pos: np.ndarray, w_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted counts of positives and negatives on each threshold, ``(b, K)`` each.

    ``w_pos`` ``(b, n_pos)`` and ``w_neg`` ``(b, n_neg)`` are the times each case enters each replicate.
    """
    from scipy import sparse

    k = grid.size
    one_hot_pos = sparse.csr_matrix((np.ones(grid.pos_rank.size), (grid.pos_rank, np.arange(grid.pos_rank.size))),
                                    shape=(k, grid.pos_rank.size))
    one_hot_neg = sparse.csr_matrix((np.ones(grid.neg_rank.size), (grid.neg_rank, np.arange(grid.neg_rank.size))),
                                    shape=(k, grid.neg_rank.size))
    return (one_hot_pos @ w_pos.T).T, (one_hot_neg @ w_neg.T).T


def auc_from_weighted_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each replicate whose class totals vary (NaN where a class is absent)."""
    n_pos = pos.sum(axis=1)
    n_neg = neg.sum(axis=1)
    fp = np.cumsum(neg, axis=1)
    wins = n_pos * n_neg - np.einsum("ij,ij->i", pos, fp) + 0.5 * np.einsum("ij,ij->i", pos, neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), wins / (n_pos * n_neg), np.nan)


def replicate_aucs_clustered(
    y_true: np.ndarray, scores: list[np.ndarray], clusters: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """AUC of each model in each cluster-bootstrap replicate, shape ``(n_models, n_bootstrap)``.

    Whole clusters (all images of a patient, all minutes of a night) are resampled together, so the
    interval reflects the number of independent patients rather than the number of correlated cases.
    A replicate that happens to draw no positive or no negative case is NaN.
    """
    codes, n_clusters = cluster_codes(clusters)
    grids = [make_grid(y_true, s) for s in scores]
    pos_codes, neg_codes = codes[y_true == 1], codes[y_true == 0]
    out = np.empty((len(scores), n_bootstrap))
    start = 0
    for counts in cluster_weight_chunks(n_clusters, n_bootstrap, rng):
        stop = start + counts.shape[0]
        w_pos, w_neg = counts[:, pos_codes].astype(float), counts[:, neg_codes].astype(float)
        for i, grid in enumerate(grids):
            out[i, start:stop] = auc_from_weighted_counts(*weighted_grid_counts(grid, w_pos, w_neg))
        start = stop
    return out
