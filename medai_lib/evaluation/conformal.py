"""Conformal prediction sets for any binary risk model, through MAPIE's split-conformal classifier.

A 90% conformal set contains the true diagnosis for at least 90% of new cases drawn like the calibration
cases (a guarantee on average over cases, not for each patient; Angelopoulos & Bates, "A gentle
introduction to conformal prediction", Found Trends Mach Learn 2023). For a binary model a set is
{no disease}, {disease}, both (the model is unsure: refer) or, rarely, empty.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._validation import check_labels, check_same_length, check_scores

SET_NAMES = {(False, False): "empty", (True, False): "no disease", (False, True): "disease",
             (True, True): "both (unsure)"}


def _fixed_risk_classifier():
    """A fitted scikit-learn classifier whose only feature is the risk another model already predicted.

    Lets MAPIE conformalise any model (a CNN, a risk score) from its outputs alone. Built on first use so that
    importing the evaluation package does not import scikit-learn.
    """
    from sklearn.base import BaseEstimator, ClassifierMixin

    class FixedRisk(ClassifierMixin, BaseEstimator):
        def fit(self, X=None, y=None):
            self.classes_ = np.array([0, 1])
            self.n_features_in_ = 1
            return self

        def predict_proba(self, X):
            p = np.asarray(X, dtype=float)[:, 0]
            return np.column_stack([1.0 - p, p])

        def predict(self, X):
            return (np.asarray(X, dtype=float)[:, 0] >= 0.5).astype(int)

    return FixedRisk().fit()


def _check_level(confidence):
    if isinstance(confidence, bool) or not isinstance(confidence, (float, int)) or not 0 < confidence < 1:
        raise MedaiInputError(f"confidence must be a coverage level between 0 and 1 such as 0.9; got {confidence!r}.")
    return float(confidence)


@dataclass(frozen=True, eq=False)
class ConformalSets:
    """Result of :func:`conformal_sets`.

    Attributes
    ----------
    sets : ndarray of bool, shape (n_cases, 2)
        Column 0: "no disease" is in the set; column 1: "disease" is in the set.
    labels : ndarray of str, shape (n_cases,)
        "no disease", "disease", "both (unsure)" or "empty".
    confidence : float
        The nominal coverage (e.g. 0.9).
    n_calibration : int
    """

    sets: np.ndarray
    labels: np.ndarray
    confidence: float
    n_calibration: int

    def coverage(self, y_true) -> float:
        """Share of cases whose true label is in their set (compare with ``confidence``)."""
        y = check_labels(y_true, require_both=False)
        check_same_length(y_true=y, sets=self.sets[:, 0])
        return float(self.sets[np.arange(y.size), y].mean())

    def summary(self, y_true=None) -> pd.DataFrame:
        """Number and share of cases per kind of set; with ``y_true``, the coverage within each kind."""
        kinds = ["disease", "no disease", "both (unsure)", "empty"]
        out = pd.DataFrame({"n": [int((self.labels == k).sum()) for k in kinds]}, index=kinds)
        out["share"] = out["n"] / self.labels.size
        if y_true is not None:
            y = check_labels(y_true, require_both=False)
            check_same_length(y_true=y, sets=self.labels)
            hit = self.sets[np.arange(y.size), y]
            out["coverage"] = [hit[self.labels == k].mean() if (self.labels == k).any() else np.nan for k in kinds]
        out.index.name = "set"
        return out


def _mapie_sets(y_cal: np.ndarray, p_cal: np.ndarray, p_new: np.ndarray, confidence: float) -> np.ndarray:
    from mapie.classification import SplitConformalClassifier

    mapie = SplitConformalClassifier(_fixed_risk_classifier(), confidence_level=confidence, conformity_score="lac",
                                     prefit=True)
    mapie.conformalize(p_cal[:, None], y_cal)
    _, sets = mapie.predict_set(p_new[:, None])
    return np.asarray(sets[:, :, 0], dtype=bool)


def _too_few(n: int, confidence: float, what: str) -> None:
    if n * (1 - confidence) < 1:
        raise MedaiInputError(
            f"{n} calibration cases{what} are too few for {confidence:.0%} sets: at least "
            f"{int(np.ceil(1 / (1 - confidence)))} are needed (more for stable sets). Lower 'confidence' or add cases.")


def conformal_sets(y_calibration, p_calibration, p_new, *, confidence: float = 0.9,
                   condition_on: "str | None" = None) -> ConformalSets:
    """Split-conformal prediction sets (LAC score) for new cases, from a calibration set's risks and labels.

    The calibration cases must not have been used to train the model; the guarantee holds for new cases
    exchangeable with them (same population, same site): a new site breaks it.

    By default the guarantee is marginal: on average over all new cases. When the disease is rare, those cases
    are mostly healthy, and the sets can cover the healthy almost always while missing many patients with the
    disease. ``condition_on="class"`` calibrates each diagnosis on its own cases (label-conditional, or
    Mondrian, conformal prediction; Vovk et al., "Algorithmic learning in a random world", 2005, ch. 4): the
    set then contains the true diagnosis for at least ``confidence`` of new patients **with** the disease and,
    separately, of those without it, at the price of more "both (unsure)" sets.

    Parameters
    ----------
    y_calibration : array_like of 0/1, shape (n_calibration,)
    p_calibration : array_like of float in [0, 1], shape (n_calibration,)
        The model's predicted risk for the calibration cases.
    p_new : array_like of float in [0, 1], shape (n_cases,)
    confidence : float, default 0.9
        Nominal coverage ``1 - alpha``.
    condition_on : {None, "class"}, default None
        None: marginal coverage. "class": coverage within each diagnosis (needs enough calibration cases of
        each: at least ``1 / (1 - confidence)``).

    Returns
    -------
    ConformalSets

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=4000); y = (rng.uniform(size=4000) < p).astype(int)
    >>> cs = conformal_sets(y[:2000], p[:2000], p[2000:], confidence=0.9)
    >>> bool(0.87 < cs.coverage(y[2000:]) < 0.93)
    True
    >>> by_class = conformal_sets(y[:2000], p[:2000], p[2000:], confidence=0.9, condition_on="class")
    >>> bool(by_class.coverage(y[2000:]) >= 0.88)
    True
    """
    confidence = _check_level(confidence)
    if condition_on not in (None, "class"):
        raise MedaiInputError(f"condition_on must be None (marginal coverage) or 'class' (coverage within each "
                              f"diagnosis); got {condition_on!r}.")
    y_cal = check_labels(y_calibration, "y_calibration")
    p_cal = check_scores(p_calibration, "p_calibration", probability=True)
    check_same_length(y_calibration=y_cal, p_calibration=p_cal)
    p_new = check_scores(p_new, "p_new", probability=True)
    _too_few(y_cal.size, confidence, "")
    if condition_on is None:
        sets = _mapie_sets(y_cal, p_cal, p_new, confidence)
    else:
        # Mondrian: each diagnosis gets its own threshold, set on its own calibration cases; a label enters a new
        # case's set by its own class's threshold (MAPIE run on that class's cases, its column kept).
        sets = np.zeros((p_new.size, 2), dtype=bool)
        for label, name in ((0, "without the disease"), (1, "with the disease")):
            mine = y_cal == label
            _too_few(int(mine.sum()), confidence, f" {name}")
            with warnings.catch_warnings():  # MAPIE warns that one class's cases hold one label: that is the point
                warnings.filterwarnings("ignore", message=".*less labels than your training dataset.*")
                sets[:, label] = _mapie_sets(y_cal[mine], p_cal[mine], p_new, confidence)[:, label]
    labels = np.array([SET_NAMES[(bool(a), bool(b))] for a, b in sets], dtype=object)
    return ConformalSets(sets=sets, labels=labels, confidence=confidence, n_calibration=int(y_cal.size))


def split_conformal_threshold(y_calibration, p_calibration, *, confidence: float = 0.9) -> float:
    """The LAC threshold by the textbook formula: the ``k``-th smallest of the calibration cases' 1 - p(true
    label), ``k = ceil((n+1)(1-alpha))`` (the empirical ``ceil((n+1)(1-alpha))/n`` quantile).

    A label is in a new case's set when its predicted probability is at least ``1 - threshold``
    (Angelopoulos & Bates 2023, section 1). Shown for teaching; :func:`conformal_sets` uses MAPIE and gives
    the same sets. (NumPy's ``quantile(..., method="higher")`` at that level, as often written, can land one
    order statistic higher: still valid, slightly more conservative.)

    Examples
    --------
    >>> split_conformal_threshold([1, 0, 1, 0], [0.9, 0.2, 0.6, 0.3], confidence=0.5)
    0.3
    """
    confidence = _check_level(confidence)
    y = check_labels(y_calibration, "y_calibration", require_both=False)
    p = check_scores(p_calibration, "p_calibration", probability=True)
    check_same_length(y_calibration=y, p_calibration=p)
    nonconformity = np.where(y == 1, 1 - p, p)
    n = y.size
    k = int(np.ceil((n + 1) * confidence - 1e-9))
    if k > n:
        return 1.0
    return float(np.sort(nonconformity)[k - 1])


def coverage_by_group(sets: ConformalSets, y_true, groups) -> pd.DataFrame:
    """Coverage and share of "both (unsure)" sets per group: the guarantee is on average, not per group."""
    y = check_labels(y_true, require_both=False)
    g = np.asarray(groups).astype(str)
    check_same_length(y_true=y, groups=g, sets=sets.labels)
    hit = sets.sets[np.arange(y.size), y]
    rows = []
    for name in ["overall"] + sorted(pd.unique(g)):
        m = np.ones(y.size, bool) if name == "overall" else g == name
        rows.append({"group": name, "n": int(m.sum()), "coverage": float(hit[m].mean()),
                     "unsure_share": float((sets.labels[m] == "both (unsure)").mean())})
    return pd.DataFrame(rows).set_index("group")
