"""Calibration: do predicted risks match observed frequencies? Reliability curve, Brier score, expected
calibration error, calibration slope and intercept, and recalibration fitted on one split, applied to another.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._validation import (
    check_confidence,
    check_labels,
    check_same_length,
    check_scores,
)
from medai_lib.evaluation.proportions import wilson_interval, z_value

_EPS = 1e-12
STRATEGIES = ("uniform", "quantile")


def _check(y_true, y_prob, *, require_both: bool = True):
    y_true = check_labels(y_true, require_both=require_both)
    y_prob = check_scores(y_prob, "y_prob", probability=True)
    check_same_length(y_true=y_true, y_prob=y_prob)
    return y_true, y_prob


def _check_bins(n_bins, strategy):
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise MedaiInputError(f"n_bins must be a positive integer such as 10; got {n_bins!r}.")
    if strategy not in STRATEGIES:
        raise MedaiInputError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}.")


def _bin_ids(y_prob, n_bins, strategy):
    if strategy == "quantile":
        edges = np.percentile(y_prob, np.linspace(0, 100, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    # same binning as sklearn.calibration.calibration_curve: bins are (low, high], the first [0, high]
    return np.searchsorted(edges[1:-1], y_prob), edges


def reliability_curve(
    y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform", confidence: float = 0.95
) -> pd.DataFrame:
    """Observed frequency of disease against mean predicted risk, per bin of predicted risk.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_prob : array_like of float in [0, 1], shape (n_cases,)
        Predicted probabilities of disease.
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}, default "uniform"
        Equal-width bins on [0, 1], or bins holding equal numbers of cases.
    confidence : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin_low, bin_high, n, n_positive, mean_predicted, observed,
        ci_low, ci_high`` (Wilson interval of the observed frequency). ``observed`` and ``mean_predicted``
        equal scikit-learn's ``calibration_curve`` output.

    Examples
    --------
    >>> df = reliability_curve([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    >>> df[["n", "mean_predicted", "observed"]].values.tolist()
    [[2.0, 0.15000000000000002, 0.0], [2.0, 0.8, 1.0]]
    """
    y_true, y_prob = _check(y_true, y_prob, require_both=False)
    _check_bins(n_bins, strategy)
    confidence = check_confidence(confidence)
    ids, edges = _bin_ids(y_prob, n_bins, strategy)
    total = np.bincount(ids, minlength=n_bins)
    positives = np.bincount(ids, weights=y_true, minlength=n_bins)
    sums = np.bincount(ids, weights=y_prob, minlength=n_bins)
    keep = total > 0
    low, high = wilson_interval(positives[keep], total[keep], confidence=confidence)
    return pd.DataFrame(
        {
            "bin_low": edges[:-1][keep], "bin_high": edges[1:][keep],
            "n": total[keep].astype(int), "n_positive": positives[keep].astype(int),
            "mean_predicted": sums[keep] / total[keep], "observed": positives[keep] / total[keep],
            "ci_low": low, "ci_high": high,
        }
    )


def brier_score(y_true, y_prob) -> float:
    """Mean squared difference between predicted risk and outcome (0 = perfect; lower is better).

    Examples
    --------
    >>> brier_score([0, 1, 1], [0.1, 0.8, 0.6])
    0.07
    """
    y_true, y_prob = _check(y_true, y_prob, require_both=False)
    return round(float(np.mean((y_prob - y_true) ** 2)), 15)


def expected_calibration_error(y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Expected calibration error: the case-weighted mean of |observed - mean predicted| over bins.

    Examples
    --------
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2), 3)
    0.175
    """
    y_true, y_prob = _check(y_true, y_prob, require_both=False)
    _check_bins(n_bins, strategy)
    ids, _ = _bin_ids(y_prob, n_bins, strategy)
    total = np.bincount(ids, minlength=n_bins)
    gap = np.abs(
        np.bincount(ids, weights=y_true, minlength=n_bins) - np.bincount(ids, weights=y_prob, minlength=n_bins)
    )
    return float(gap.sum() / total.sum())


# ------------------------------------------------------------------------------ logistic recalibration
def _fit_logistic(x: np.ndarray, y: np.ndarray, *, offset: np.ndarray | None = None, max_iter: int = 100):
    """Unpenalised logistic regression by damped Newton-Raphson. ``x``: (n, p) design incl. intercept column.

    Each Newton step is halved until the log-likelihood does not decrease (plain Newton overshoots and
    diverges when the starting point is far off, e.g. risks that are badly miscalibrated for a group).
    Returns (coef, covariance). Raises if the outcome is perfectly separated.
    """
    offset = np.zeros(len(y)) if offset is None else offset
    coef = np.zeros(x.shape[1])

    def loglik(c):
        eta = x @ c + offset
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    current = loglik(coef)
    for _ in range(max_iter):
        eta = x @ coef + offset
        p = expit(eta)
        w = p * (1 - p)
        info = x.T @ (x * w[:, None])
        grad = x.T @ (y - p)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            raise MedaiInputError(
                "Logistic recalibration failed: the scores separate the classes perfectly or are all "
                "equal. Use more cases or isotonic recalibration."
            ) from None
        for _halving in range(30):
            candidate = loglik(coef + step)
            if np.isfinite(candidate) and candidate >= current - 1e-12:
                break
            step = step / 2
        coef = coef + step
        current = candidate
        if np.max(np.abs(step)) < 1e-10:
            break
    if not np.all(np.isfinite(coef)) or np.max(np.abs(coef)) > 1e6:
        raise MedaiInputError(
            "Logistic recalibration did not converge: the scores separate the classes (almost) perfectly. "
            "Use more cases or isotonic recalibration."
        )
    return coef, np.linalg.inv(info)


@dataclass(frozen=True)
class CalibrationFit:
    """Calibration slope and intercept with Wald intervals.

    ``slope``: coefficient of logit(p) in ``logit P(y=1) = a + b·logit(p)`` (1 = ideal; < 1: predictions
    too extreme, typical of overfitting). ``intercept``: calibration-in-the-large, ``a`` in
    ``logit P(y=1) = a + logit(p)`` with the slope fixed at 1 (0 = ideal; > 0: risks underestimated);
    Van Calster et al., J Clin Epidemiol 2016.
    """

    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    confidence: float


def calibration_slope_intercept(y_true, y_prob, *, confidence: float = 0.95) -> CalibrationFit:
    """Calibration slope and intercept by logistic recalibration on logit(p).

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_prob : array_like of float in [0, 1], shape (n_cases,)
        Probabilities of exactly 0 or 1 are clipped to 1e-12 from the bounds.
    confidence : float, default 0.95

    Returns
    -------
    CalibrationFit

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 4000)
    >>> fit = calibration_slope_intercept(rng.random(4000) < p, p)
    >>> fit.slope_ci[0] < 1 < fit.slope_ci[1]
    True
    """
    y_true, y_prob = _check(y_true, y_prob)
    confidence = check_confidence(confidence)
    lp = logit(np.clip(y_prob, _EPS, 1 - _EPS))
    y = y_true.astype(float)
    z = z_value(confidence)
    coef, cov = _fit_logistic(np.column_stack([np.ones_like(lp), lp]), y)
    slope, se_slope = coef[1], np.sqrt(cov[1, 1])
    icoef, icov = _fit_logistic(np.ones((lp.size, 1)), y, offset=lp)
    intercept, se_int = icoef[0], np.sqrt(icov[0, 0])
    return CalibrationFit(
        slope=float(slope), slope_ci=(float(slope - z * se_slope), float(slope + z * se_slope)),
        intercept=float(intercept), intercept_ci=(float(intercept - z * se_int), float(intercept + z * se_int)),
        confidence=confidence,
    )


@dataclass(frozen=True, eq=False)
class CalibrationSummary:
    """Reliability curve, Brier score, ECE and calibration slope/intercept of one set of predictions."""

    curve: pd.DataFrame
    brier: float
    ece: float
    fit: CalibrationFit
    n_bins: int
    strategy: str


def calibration_summary(
    y_true, y_prob, *, n_bins: int = 10, strategy: str = "uniform", confidence: float = 0.95
) -> CalibrationSummary:
    """All calibration measures at once (see the individual functions).

    Examples
    --------
    >>> s = calibration_summary([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.6, 0.8, 0.7, 0.4], n_bins=5)
    >>> round(s.brier, 3)
    0.192
    """
    y_true, y_prob = _check(y_true, y_prob)
    return CalibrationSummary(
        curve=reliability_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy, confidence=confidence),
        brier=brier_score(y_true, y_prob),
        ece=expected_calibration_error(y_true, y_prob, n_bins=n_bins, strategy=strategy),
        fit=calibration_slope_intercept(y_true, y_prob, confidence=confidence),
        n_bins=n_bins, strategy=strategy,
    )


# ------------------------------------------------------------------------------------- recalibrators
class PlattRecalibrator:
    """Platt (logistic) recalibration: fit on one split, apply to another.

    Fits ``P(y=1) = expit(a + b·x)`` where ``x`` is logit(p) (``input="probability"``) or the raw score
    (``input="score"``, e.g. an SVM margin or a logit).

    Parameters
    ----------
    input : {"probability", "score"}, default "probability"

    Attributes
    ----------
    intercept_, slope_ : float
        Fitted after :meth:`fit`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 2000)
    >>> y = rng.random(2000) < p ** 2          # the model overestimates risk
    >>> cal = PlattRecalibrator().fit(y[:1000], p[:1000])
    >>> new = cal.transform(p[1000:])
    >>> bool(abs(new.mean() - y[1000:].mean()) < abs(p[1000:].mean() - y[1000:].mean()))
    True
    """

    def __init__(self, *, input: str = "probability"):
        self.input = input

    def _x(self, y_score, name):
        if self.input not in ("probability", "score"):
            raise MedaiInputError(f"input must be 'probability' or 'score'; got {self.input!r}.")
        scores = check_scores(y_score, name, probability=self.input == "probability")
        return logit(np.clip(scores, _EPS, 1 - _EPS)) if self.input == "probability" else scores

    def fit(self, y_true, y_score) -> "PlattRecalibrator":
        """Fit on a calibration split. ``y_true``: 0/1, ``y_score``: the model's output, shape (n_cases,)."""
        y_true = check_labels(y_true)
        x = self._x(y_score, "y_score")
        check_same_length(y_true=y_true, y_score=x)
        coef, _ = _fit_logistic(np.column_stack([np.ones_like(x), x]), y_true.astype(float))
        self.intercept_, self.slope_ = float(coef[0]), float(coef[1])
        return self

    def transform(self, y_score) -> np.ndarray:
        """Recalibrated probabilities for new outputs of the same model, shape (n_cases,)."""
        if not hasattr(self, "slope_"):
            raise MedaiInputError("This PlattRecalibrator is not fitted yet: call .fit(y_true, y_score) first.")
        return expit(self.intercept_ + self.slope_ * self._x(y_score, "y_score"))


class IsotonicRecalibrator:
    """Isotonic (monotone, step-wise) recalibration: fit on one split, apply to another.

    Wraps ``sklearn.isotonic.IsotonicRegression`` with outputs in [0, 1] and scores outside the fitted
    range clipped to its ends. Needs more cases than Platt (a few hundred) to avoid a jagged map.

    Attributes
    ----------
    isotonic_ : sklearn.isotonic.IsotonicRegression
        Fitted after :meth:`fit`.

    Examples
    --------
    >>> cal = IsotonicRecalibrator().fit([0, 0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    >>> cal.transform([0.15, 0.45]).round(2).tolist()
    [0.0, 0.75]
    """

    def fit(self, y_true, y_score) -> "IsotonicRecalibrator":
        """Fit on a calibration split. ``y_true``: 0/1, ``y_score``: the model's output, shape (n_cases,)."""
        from sklearn.isotonic import IsotonicRegression

        y_true = check_labels(y_true)
        y_score = check_scores(y_score)
        check_same_length(y_true=y_true, y_score=y_score)
        self.isotonic_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(y_score, y_true)
        return self

    def transform(self, y_score) -> np.ndarray:
        """Recalibrated probabilities for new outputs of the same model, shape (n_cases,)."""
        if not hasattr(self, "isotonic_"):
            raise MedaiInputError("This IsotonicRecalibrator is not fitted yet: call .fit(y_true, y_score) first.")
        return self.isotonic_.predict(check_scores(y_score))
