"""Operating points: the threshold chosen by Youden's index or for a target sensitivity or specificity.

Intervals are stratified percentile bootstrap intervals in which the threshold is chosen again in each
replicate by the same rule, so they include the uncertainty of choosing the threshold on the same data.
(For Wilson intervals conditional on a fixed threshold, call ``threshold_metrics(threshold=...)``.)

Caution: for a *targeted* metric (sensitivity for ``method="sensitivity"``) the rule forces every replicate
to reach the target, so that metric's interval cannot fall below the target and looks more certain than it
is. Report the targeted metric's uncertainty at the chosen, now fixed threshold on new data (a test split)
with ``threshold_metrics``: that is the honest figure a clinician can act on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._bootstrap import grid_counts, make_grid, percentile_interval, resample_chunks
from medai_lib.evaluation._validation import (
    check_confidence,
    check_labels,
    check_n_bootstrap,
    check_probability_value,
    check_same_length,
    check_scores,
)

METHODS = ("youden", "sensitivity", "specificity")


def _choose(tpr: np.ndarray, fpr: np.ndarray, method: str, target: float | None) -> np.ndarray:
    """Index of the chosen threshold along the last axis (0 = nobody test-positive)."""
    if method == "youden":
        return np.argmax(tpr - fpr, axis=-1)  # ties: the highest threshold
    if method == "sensitivity":
        # highest threshold reaching the target sensitivity = best specificity that keeps it
        return np.argmax(tpr >= target - 1e-12, axis=-1)
    # lowest threshold keeping the target specificity = best sensitivity that keeps it
    return np.sum(fpr <= 1 - target + 1e-12, axis=-1) - 1


def _rates(tp, fp, n_pos, n_neg):
    zeros = np.zeros(tp.shape[:-1] + (1,))
    return (np.concatenate([zeros, tp], axis=-1), np.concatenate([zeros, fp], axis=-1))


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold chosen by a rule, with the metrics it gives and their bootstrap intervals.

    Attributes
    ----------
    method : {"youden", "sensitivity", "specificity"}
    target : float or None
        The target sensitivity or specificity.
    threshold : float
        Test-positive when score >= threshold (``inf``: nobody is test-positive).
    threshold_ci, sensitivity_ci, specificity_ci, ppv_ci, npv_ci : (float, float)
        Percentile intervals, threshold re-chosen in each stratified bootstrap replicate.
    """

    method: str
    target: float | None
    threshold: float
    threshold_ci: tuple[float, float]
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    ppv: float
    ppv_ci: tuple[float, float]
    npv: float
    npv_ci: tuple[float, float]
    confidence: float
    n_bootstrap: int
    ci_method: str = "stratified percentile bootstrap, threshold re-chosen in each replicate"

    @property
    def fpr(self) -> float:
        return 1.0 - self.specificity

    @property
    def tpr(self) -> float:
        return self.sensitivity


def operating_point(
    y_true,
    y_score,
    *,
    method: str = "youden",
    target: float | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    random_state=0,
) -> OperatingPoint:
    """Choose a threshold by a stated rule and report its metrics with bootstrap intervals.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)
    method : {"youden", "sensitivity", "specificity"}, default "youden"
        "youden": maximise sensitivity + specificity - 1. "sensitivity": the highest threshold whose
        sensitivity is at least ``target`` (best specificity at that sensitivity). "specificity": the
        lowest threshold whose specificity is at least ``target``.
    target : float in (0, 1], required for "sensitivity" and "specificity"
    confidence : float, default 0.95
    n_bootstrap : int, default 2000
    random_state : int or numpy.random.Generator, default 0

    Returns
    -------
    OperatingPoint

    Examples
    --------
    >>> y = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> s = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    >>> op = operating_point(y, s, method="sensitivity", target=1.0, n_bootstrap=200)
    >>> op.threshold, op.sensitivity, op.specificity
    (0.4, 1.0, 0.75)
    """
    y_true = check_labels(y_true)
    y_score = check_scores(y_score)
    check_same_length(y_true=y_true, y_score=y_score)
    confidence = check_confidence(confidence)
    if method not in METHODS:
        raise MedaiInputError(f"method must be one of {METHODS}; got {method!r}.")
    if method == "youden":
        if target is not None:
            raise MedaiInputError("target is only used with method='sensitivity' or 'specificity'; drop it.")
    else:
        if target is None:
            raise MedaiInputError(
                f"method={method!r} needs target=, the {method} to reach, e.g. target=0.9."
            )
        target = check_probability_value(target, "target")
    n_bootstrap = check_n_bootstrap(n_bootstrap, y_true=y_true)
    rng = np.random.default_rng(random_state)
    grid = make_grid(y_true, y_score)
    thresholds = np.concatenate([[np.inf], grid.thresholds])
    n_pos = int(y_true.sum())
    n_neg = int(y_true.size - n_pos)

    tp, fp = _rates(
        np.bincount(grid.pos_rank, minlength=grid.size).cumsum(),
        np.bincount(grid.neg_rank, minlength=grid.size).cumsum(), n_pos, n_neg,
    )
    k = int(_choose(tp / n_pos, fp / n_neg, method, target))
    est = _metrics_at(tp[k], fp[k], n_pos, n_neg)

    reps = np.empty((5, n_bootstrap))  # threshold, sens, spec, ppv, npv
    start = 0
    for pos_idx, neg_idx in resample_chunks(n_pos, n_neg, n_bootstrap, rng):
        stop = start + pos_idx.shape[0]
        pos, neg = grid_counts(grid, pos_idx, neg_idx)
        tp_b, fp_b = _rates(np.cumsum(pos, axis=1), np.cumsum(neg, axis=1), n_pos, n_neg)
        kb = _choose(tp_b / n_pos, fp_b / n_neg, method, target)
        rows = np.arange(kb.size)
        reps[0, start:stop] = thresholds[kb]
        reps[1:, start:stop] = _metrics_at(tp_b[rows, kb], fp_b[rows, kb], n_pos, n_neg)
        start = stop
    alpha = 1 - confidence
    finite = np.where(np.isfinite(reps[0]), reps[0], np.nan)
    if np.all(np.isnan(finite)):
        thr_ci = (np.inf, np.inf)
    else:
        thr_ci = tuple(float(v) for v in np.nanquantile(finite, [alpha / 2, 1 - alpha / 2], method="nearest"))
    low, high = percentile_interval(reps[1:], confidence, axis=1)
    cis = [(float(a), float(b)) for a, b in zip(low, high)]
    return OperatingPoint(
        method=method, target=target, threshold=float(thresholds[k]), threshold_ci=thr_ci,
        sensitivity=float(est[0]), sensitivity_ci=cis[0], specificity=float(est[1]), specificity_ci=cis[1],
        ppv=float(est[2]), ppv_ci=cis[2], npv=float(est[3]), npv_ci=cis[3],
        confidence=confidence, n_bootstrap=n_bootstrap,
    )


def _metrics_at(tp, fp, n_pos, n_neg) -> np.ndarray:
    tp = np.asarray(tp, dtype=float)
    fp = np.asarray(fp, dtype=float)
    fn, tn = n_pos - tp, n_neg - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([tp / n_pos, tn / n_neg, tp / (tp + fp), tn / (tn + fn)])
