"""ROC and precision-recall curves, AUC with DeLong and bootstrap intervals, and paired model comparison.

DeLong intervals use the O(n log n) midrank algorithm of Sun & Xu (IEEE Signal Process Lett 2014);
bootstrap intervals resample diseased and healthy cases separately (stratified) and compute every
replicate at once (see ``_bootstrap``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm, rankdata

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._bootstrap import (
    auc_from_counts,
    grid_counts,
    make_grid,
    percentile_interval,
    replicate_aucs,
    replicate_aucs_clustered,
    resample_chunks,
    tpr_at_fpr,
)
from medai_lib.evaluation._validation import (
    check_clusters,
    check_confidence,
    check_labels,
    check_n_bootstrap,
    check_same_length,
    check_scores,
)
from medai_lib.evaluation.proportions import z_value

__all__ = [
    "AucComparison", "AucEstimate", "PrCurve", "RocCurve", "auc_bootstrap", "auc_delong",
    "compare_aucs", "delong_covariance", "pr_curve", "roc_curve",
]

def _frozen(arr) -> np.ndarray:
    arr = np.array(arr, dtype=float)
    arr.flags.writeable = False
    return arr


def _check_pair(y_true, y_score, *, score_name: str = "y_score") -> tuple[np.ndarray, np.ndarray]:
    y_true = check_labels(y_true)
    y_score = check_scores(y_score, score_name)
    check_same_length(**{"y_true": y_true, score_name: y_score})
    return y_true, y_score


def _rng(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.RandomState):
        raise TypeError("random_state must be an int or a numpy.random.Generator (np.random.default_rng(0)).")
    return np.random.default_rng(random_state)


# ---------------------------------------------------------------------------------------------- curves
def _roc_points(y_true: np.ndarray, y_score: np.ndarray):
    grid = make_grid(y_true, y_score)
    k = grid.size
    tp = np.bincount(grid.pos_rank, minlength=k).cumsum()
    fp = np.bincount(grid.neg_rank, minlength=k).cumsum()
    return grid.thresholds, tp, fp


@dataclass(frozen=True, eq=False)
class RocCurve:
    """An empirical ROC curve, its AUC and (optionally) a pointwise bootstrap band.

    Attributes
    ----------
    fpr, tpr : ndarray, shape (n_thresholds + 1,)
        False- and true-positive rates, from (0, 0) to (1, 1).
    thresholds : ndarray, shape (n_thresholds + 1,)
        Score thresholds (test-positive when score >= threshold), descending; the first is ``inf``.
    auc : float
    fpr_grid, tpr_low, tpr_high : ndarray or None, shape (n_grid,)
        Pointwise percentile band of sensitivity at fixed false-positive rates (stratified bootstrap),
        or None when no bootstrap was requested.
    confidence : float
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    fpr_grid: np.ndarray | None = None
    tpr_low: np.ndarray | None = None
    tpr_high: np.ndarray | None = None
    confidence: float = 0.95
    n_positive: int = 0
    n_negative: int = 0

    @property
    def has_band(self) -> bool:
        return self.fpr_grid is not None

    def point_at(self, threshold: float) -> tuple[float, float]:
        """(fpr, tpr) of the test-positive-if-score->=-threshold rule."""
        idx = np.searchsorted(-self.thresholds, -threshold, side="right") - 1
        return float(self.fpr[idx]), float(self.tpr[idx])


def roc_curve(
    y_true,
    y_score,
    *,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    n_grid: int = 101,
    random_state=0,
) -> RocCurve:
    """Empirical ROC curve (every distinct score is a threshold), with an optional bootstrap band.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)
        Higher = more likely diseased.
    n_bootstrap : int, default 0
        If > 0, stratified bootstrap replicates for a pointwise band of sensitivity at ``n_grid``
        false-positive rates from 0 to 1.
    confidence : float, default 0.95
    n_grid : int, default 101
    random_state : int or numpy.random.Generator, default 0

    Returns
    -------
    RocCurve

    Examples
    --------
    >>> roc = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> roc.auc
    0.75
    >>> roc.tpr.tolist()
    [0.0, 0.5, 0.5, 1.0, 1.0]
    """
    y_true, y_score = _check_pair(y_true, y_score)
    confidence = check_confidence(confidence)
    thresholds, tp, fp = _roc_points(y_true, y_score)
    n_pos, n_neg = int(tp[-1]), int(fp[-1])
    tpr = np.concatenate([[0.0], tp / n_pos])
    fpr = np.concatenate([[0.0], fp / n_neg])
    auc = float(np.trapezoid(tpr, fpr))
    band = {}
    if n_bootstrap:
        n_bootstrap = check_n_bootstrap(n_bootstrap, y_true=y_true)
        band = _roc_band(y_true, y_score, n_bootstrap, confidence, n_grid, _rng(random_state))
    return RocCurve(
        fpr=_frozen(fpr), tpr=_frozen(tpr), thresholds=_frozen(np.concatenate([[np.inf], thresholds])),
        auc=auc, confidence=confidence, n_positive=n_pos, n_negative=n_neg, **band,
    )


def _roc_band(y_true, y_score, n_bootstrap, confidence, n_grid, rng, *, aucs_out=None) -> dict:
    grid = make_grid(y_true, y_score)
    fpr_grid = np.linspace(0, 1, n_grid)
    n_pos = int(y_true.sum())
    band = np.empty((n_bootstrap, n_grid))
    start = 0
    for pos_idx, neg_idx in resample_chunks(n_pos, y_true.size - n_pos, n_bootstrap, rng):
        stop = start + pos_idx.shape[0]
        pos, neg = grid_counts(grid, pos_idx, neg_idx)
        tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        band[start:stop] = tpr_at_fpr(tp, fp, fpr_grid)
        if aucs_out is not None:
            aucs_out[start:stop] = auc_from_counts(pos, neg, fp)
        start = stop
    low, high = percentile_interval(band, confidence, axis=0)
    return {"fpr_grid": _frozen(fpr_grid), "tpr_low": _frozen(low), "tpr_high": _frozen(high)}


@dataclass(frozen=True, eq=False)
class PrCurve:
    """Precision-recall curve.

    Attributes
    ----------
    recall, precision : ndarray, shape (n_thresholds + 1,)
        Ordered by decreasing recall, as scikit-learn's ``precision_recall_curve`` (every distinct score
        is a threshold); the last point is (recall 0, precision 1).
    thresholds : ndarray, shape (n_thresholds,)
        Ascending.
    average_precision : float
        Step-wise area (the same definition as ``sklearn.metrics.average_precision_score``).
    prevalence : float
        Precision of a test that calls everyone positive: the no-skill baseline.
    """

    recall: np.ndarray
    precision: np.ndarray
    thresholds: np.ndarray
    average_precision: float
    prevalence: float


def pr_curve(y_true, y_score) -> PrCurve:
    """Precision (PPV) against recall (sensitivity) over all thresholds.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)

    Returns
    -------
    PrCurve

    Examples
    --------
    >>> pr = pr_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(pr.average_precision, 4)
    0.8333
    """
    y_true, y_score = _check_pair(y_true, y_score)
    thresholds, tp, fp = _roc_points(y_true, y_score)
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    precision = np.concatenate([precision[::-1], [1.0]])
    recall = np.concatenate([recall[::-1], [0.0]])
    ap = float(-np.sum(np.diff(recall) * precision[:-1]))
    return PrCurve(
        recall=_frozen(recall), precision=_frozen(precision), thresholds=_frozen(thresholds[::-1]),
        average_precision=ap, prevalence=float(y_true.mean()),
    )


# ---------------------------------------------------------------------------------------------- DeLong
def delong_covariance(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of one or more models on the same cases and their DeLong covariance matrix.

    Fast midrank algorithm (Sun & Xu 2014), O(n log n) per model.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    scores : array_like, shape (n_cases,) or (n_models, n_cases)

    Returns
    -------
    aucs : ndarray, shape (n_models,)
    covariance : ndarray, shape (n_models, n_models)

    Examples
    --------
    >>> aucs, cov = delong_covariance([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> aucs.tolist()
    [0.75]
    """
    y_true = check_labels(y_true)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    if scores.ndim != 2:
        raise MedaiInputError(f"scores must have shape (n_cases,) or (n_models, n_cases); got {scores.shape}.")
    for i, row in enumerate(scores):
        check_scores(row, f"scores[{i}]")
    check_same_length(y_true=y_true, scores=scores[0])
    return _delong(y_true, scores)


def _delong(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = scores[:, y_true == 1]
    neg = scores[:, y_true == 0]
    m, n = pos.shape[1], neg.shape[1]
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1) / (2 * n)
    v01 = (tz[:, :m] - tx) / n  # per diseased case: share of healthy cases scored lower (ties 1/2)
    v10 = 1 - (tz[:, m:] - ty) / m  # per healthy case: share of diseased cases scored higher
    s01 = np.atleast_2d(np.cov(v01)) if m > 1 else np.zeros((len(scores), len(scores)))
    s10 = np.atleast_2d(np.cov(v10)) if n > 1 else np.zeros((len(scores), len(scores)))
    return aucs, s01 / m + s10 / n


@dataclass(frozen=True)
class AucEstimate:
    """AUC with its confidence interval.

    ``method`` is "DeLong" (normal interval with the DeLong standard error, clipped to [0, 1]) or
    "bootstrap" (stratified percentile bootstrap; ``se`` is the replicates' standard deviation).
    """

    auc: float
    ci_low: float
    ci_high: float
    se: float
    method: str
    confidence: float
    n_positive: int
    n_negative: int
    n_bootstrap: int | None = None


def auc_delong(y_true, y_score, *, confidence: float = 0.95, scale: str = "auc") -> AucEstimate:
    """AUC with a DeLong confidence interval.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)
    confidence : float, default 0.95
    scale : {"auc", "logit"}, default "auc"
        ``"auc"``: the classic interval AUC ± z·SE (clipped to [0, 1]). ``"logit"``: the interval is built on
        logit(AUC) with the delta-method SE and transformed back; it stays inside (0, 1) and covers better
        for small samples with an AUC near 1 (measured in bench/results/evaluation.md).

    Returns
    -------
    AucEstimate

    Examples
    --------
    >>> est = auc_delong([0, 0, 0, 1, 1, 1], [0.1, 0.3, 0.6, 0.4, 0.7, 0.9])
    >>> round(est.auc, 4), round(est.se, 4)
    (0.8889, 0.1571)
    """
    y_true, y_score = _check_pair(y_true, y_score)
    confidence = check_confidence(confidence)
    aucs, cov = _delong(y_true, y_score[None, :])
    auc, se = float(aucs[0]), float(np.sqrt(cov[0, 0]))
    z = z_value(confidence)
    n_pos = int(y_true.sum())
    if scale not in ("auc", "logit"):
        raise MedaiInputError(f"scale must be 'auc' or 'logit'; got {scale!r}.")
    if scale == "logit" and 0.0 < auc < 1.0:
        centre = np.log(auc / (1 - auc))
        half = z * se / (auc * (1 - auc))
        lo, hi = 1 / (1 + np.exp(-(centre - half))), 1 / (1 + np.exp(-(centre + half)))
        return AucEstimate(
            auc=auc, ci_low=float(lo), ci_high=float(hi), se=se, method="DeLong (logit)",
            confidence=confidence, n_positive=n_pos, n_negative=int(y_true.size - n_pos),
        )
    return AucEstimate(
        auc=auc, ci_low=max(0.0, auc - z * se), ci_high=min(1.0, auc + z * se), se=se, method="DeLong",
        confidence=confidence, n_positive=n_pos, n_negative=int(y_true.size - n_pos),
    )


def auc_bootstrap(
    y_true, y_score, *, n_bootstrap: int = 2000, confidence: float = 0.95, random_state=0, clusters=None
) -> AucEstimate:
    """AUC with a stratified percentile bootstrap interval (all replicates vectorised).

    With ``clusters`` (a patient or subject identifier per case) whole clusters are resampled instead:
    use it whenever one patient contributes several cases (two radiographs, 480 minutes of one night),
    which are correlated; the ordinary interval would then be too narrow.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)
    n_bootstrap : int, default 2000
    confidence : float, default 0.95
    random_state : int or numpy.random.Generator, default 0
    clusters : array_like, shape (n_cases,), optional
        Cluster (patient) of each case: a cluster bootstrap (``method`` of the result is
        ``"cluster bootstrap"``). Needs at least 10 clusters.

    Returns
    -------
    AucEstimate

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> est = auc_bootstrap(y, y + rng.normal(size=100), random_state=0)
    >>> est.ci_low < est.auc < est.ci_high
    True
    """
    y_true, y_score = _check_pair(y_true, y_score)
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap, y_true=y_true)
    if clusters is None:
        reps = replicate_aucs(y_true, [y_score], n_bootstrap, _rng(random_state))[0]
        return _bootstrap_estimate(y_true, y_score, reps, confidence)
    clusters = check_clusters(clusters, y_true)
    reps = replicate_aucs_clustered(y_true, [y_score], clusters, n_bootstrap, _rng(random_state))[0]
    return _bootstrap_estimate(y_true, y_score, reps, confidence, method="cluster bootstrap")


def _bootstrap_estimate(y_true, y_score, reps, confidence, method: str = "bootstrap") -> AucEstimate:
    low, high = percentile_interval(reps, confidence)
    auc = float(_delong(y_true, y_score[None, :])[0][0])
    n_pos = int(y_true.sum())
    return AucEstimate(
        auc=auc, ci_low=float(low), ci_high=float(high), se=float(np.nanstd(reps, ddof=1)),
        method=method, confidence=confidence, n_positive=n_pos, n_negative=int(y_true.size - n_pos),
        n_bootstrap=int(np.isfinite(reps).sum()),
    )


# --------------------------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class AucComparison:
    """Paired comparison of two models' AUCs on the same cases (``difference = auc_a - auc_b``)."""

    auc_a: float
    auc_b: float
    difference: float
    ci_low: float
    ci_high: float
    se: float
    z: float
    p_value: float
    method: str
    confidence: float
    correlation: float = field(default=float("nan"))


def compare_aucs(
    y_true,
    score_a,
    score_b,
    *,
    method: str = "delong",
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    random_state=0,
    clusters=None,
) -> AucComparison:
    """Test whether two models scored on the same cases differ in AUC.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    score_a, score_b : array_like of float, shape (n_cases,)
        The two models' scores for the same cases in the same order.
    method : {"delong", "bootstrap"}, default "delong"
        "delong": DeLong, DeLong & Clarke-Pearson (Biometrics 1988) test, with the normal interval of the
        difference. "bootstrap": paired stratified bootstrap (both models on the same resampled cases);
        percentile interval of the difference, p-value from z = difference / SD(replicates), as in pROC.
    confidence : float, default 0.95
    n_bootstrap : int, default 2000
    random_state : int or numpy.random.Generator, default 0
    clusters : array_like, shape (n_cases,), optional
        Cluster (patient) of each case; only with ``method="bootstrap"``: whole patients are resampled
        (a paired cluster bootstrap), as cases of one patient are correlated.

    Returns
    -------
    AucComparison

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y = np.repeat([0, 1], 100)
    >>> cmp = compare_aucs(y, 2 * y + rng.normal(size=200), 0.5 * y + rng.normal(size=200))
    >>> bool(cmp.difference > 0), bool(cmp.p_value < 0.05)
    (True, True)
    """
    y_true = check_labels(y_true)
    score_a = check_scores(score_a, "score_a")
    score_b = check_scores(score_b, "score_b")
    check_same_length(y_true=y_true, score_a=score_a, score_b=score_b)
    confidence = check_confidence(confidence)
    if method not in ("delong", "bootstrap"):
        raise MedaiInputError(f"method must be 'delong' or 'bootstrap'; got {method!r}.")
    if clusters is not None and method != "bootstrap":
        raise MedaiInputError(
            "clusters are used by the bootstrap only: call compare_aucs(..., method='bootstrap', clusters=...)."
        )
    aucs, cov = _delong(y_true, np.vstack([score_a, score_b]))
    diff = float(aucs[0] - aucs[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = float(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))
    if method == "delong":
        se = float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
        zq = z_value(confidence)
        low, high = diff - zq * se, diff + zq * se
    else:
        n_bootstrap = check_n_bootstrap(n_bootstrap, y_true=y_true)
        if clusters is None:
            reps = replicate_aucs(y_true, [score_a, score_b], n_bootstrap, _rng(random_state))
        else:
            reps = replicate_aucs_clustered(y_true, [score_a, score_b], check_clusters(clusters, y_true),
                                            n_bootstrap, _rng(random_state))
        deltas = reps[0] - reps[1]
        se = float(np.nanstd(deltas, ddof=1))
        low, high = (float(v) for v in percentile_interval(deltas, confidence))
    if se > 0:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    else:
        z, p = (0.0, 1.0) if diff == 0 else (float(np.sign(diff) * np.inf), 0.0)
    return AucComparison(
        auc_a=float(aucs[0]), auc_b=float(aucs[1]), difference=diff, ci_low=float(low), ci_high=float(high),
        se=se, z=float(z), p_value=p,
        method="DeLong" if method == "delong" else ("bootstrap" if clusters is None else "cluster bootstrap"),
        confidence=confidence, correlation=corr,
    )
