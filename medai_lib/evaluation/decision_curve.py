"""Decision curve analysis: is acting on the model better than treating everyone or no one?

Net benefit at threshold probability pt (Vickers & Elkin, Med Decis Making 2006):
NB = TP/N - FP/N · pt / (1 - pt), where a case is treated when its predicted risk is >= pt.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._validation import check_labels, check_same_length, check_scores

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def _check_thresholds(thresholds) -> np.ndarray:
    pt = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if pt.ndim != 1 or pt.size == 0 or np.any(~np.isfinite(pt)) or np.any((pt <= 0) | (pt >= 1)):
        raise MedaiInputError(
            "thresholds must be threshold probabilities strictly between 0 and 1, e.g. "
            f"np.arange(0.01, 0.5, 0.01); got {thresholds!r}."
        )
    return pt


def net_benefit(y_true, y_prob, thresholds) -> np.ndarray:
    """Net benefit of treating the cases whose predicted risk is >= each threshold probability.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_prob : array_like of float in [0, 1], shape (n_cases,)
    thresholds : float or array_like of float in (0, 1), shape (n_thresholds,)

    Returns
    -------
    ndarray, shape (n_thresholds,)

    Examples
    --------
    >>> net_benefit([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], [0.5]).tolist()
    [0.0]
    """
    y_true = check_labels(y_true, require_both=False)
    y_prob = check_scores(y_prob, "y_prob", probability=True)
    check_same_length(y_true=y_true, y_prob=y_prob)
    pt = _check_thresholds(thresholds)
    n = y_true.size
    pos = np.sort(y_prob[y_true == 1])
    neg = np.sort(y_prob[y_true == 0])
    tp = pos.size - np.searchsorted(pos, pt, side="left")
    fp = neg.size - np.searchsorted(neg, pt, side="left")
    return tp / n - fp / n * pt / (1 - pt)


def decision_curve(y_true, y_prob, *, thresholds=None) -> pd.DataFrame:
    """Net benefit of the model, of treating all and of treating none over threshold probabilities.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_prob : array_like of float in [0, 1], shape (n_cases,)
        Predicted risks; they should be calibrated, since the threshold is read as a risk.
    thresholds : array_like of float in (0, 1), optional
        Default 0.01, 0.02, ..., 0.99.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold, net_benefit_model, net_benefit_all, net_benefit_none`` (the last is 0),
        one row per threshold.

    Examples
    --------
    >>> dca = decision_curve([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], thresholds=[0.2, 0.5])
    >>> dca.round(3).values.tolist()
    [[0.2, 0.438, 0.375, 0.0], [0.5, 0.0, 0.0, 0.0]]
    """
    pt = DEFAULT_THRESHOLDS if thresholds is None else _check_thresholds(thresholds)
    nb = net_benefit(y_true, y_prob, pt)
    prevalence = float(np.mean(check_labels(y_true, require_both=False)))
    return pd.DataFrame(
        {
            "threshold": pt,
            "net_benefit_model": nb,
            "net_benefit_all": prevalence - (1 - prevalence) * pt / (1 - pt),
            "net_benefit_none": np.zeros_like(pt),
        }
    )


def net_benefit_at_prevalence(sensitivity, specificity, prevalence, threshold) -> float:
    """Net benefit of a rule with this sensitivity and specificity in a population of this prevalence.

    The same NB = TP/N - FP/N * pt / (1 - pt) as :func:`net_benefit`, with TP/N = sensitivity * prevalence and
    FP/N = (1 - specificity) * (1 - prevalence): how a rule measured on one sample would do where the disease
    is rarer or commoner, at the harm-to-benefit ratio that the threshold probability ``pt`` states.

    Examples
    --------
    >>> round(net_benefit_at_prevalence(1.0, 0.0, 0.02, 0.10), 4)  # refer everyone: 2% minus 98% x 1/9
    -0.0889
    """
    sens, spec, prev = (float(v) for v in (sensitivity, specificity, prevalence))
    if not all(0.0 <= v <= 1.0 for v in (sens, spec, prev)):
        raise MedaiInputError(
            f"sensitivity, specificity and prevalence must lie in [0, 1]; got {sens!r}, {spec!r}, {prev!r}.")
    pt = float(_check_thresholds(threshold)[0])
    return sens * prev - (1.0 - spec) * (1.0 - prev) * pt / (1.0 - pt)


def net_benefit_table(y_true, risks, thresholds) -> pd.DataFrame:
    """Net benefit of every strategy at each threshold: treat none, treat all, and each model.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    risks : mapping of name -> array_like of float in [0, 1], shape (n_cases,)
        Each model's predicted risks for the same cases.
    thresholds : array_like of float in (0, 1)

    Returns
    -------
    DataFrame
        One row per strategy (``treat none``, ``treat all``, then the models in order), one column per
        threshold; read it with :func:`best_strategy_spans`.

    Examples
    --------
    >>> t = net_benefit_table([1, 0, 0, 0], {"model": [0.9, 0.1, 0.2, 0.1]}, [0.2])
    >>> t.round(3).to_dict()[0.2]
    {'treat none': 0.0, 'treat all': 0.062, 'model': 0.188}
    """
    pt = _check_thresholds(thresholds)
    y = check_labels(y_true, require_both=False)
    rows = {"treat none": np.zeros(pt.size), "treat all": net_benefit(y, np.ones(y.size), pt)}
    for name, risk in dict(risks).items():
        rows[str(name)] = net_benefit(y, risk, pt)
    return pd.DataFrame(rows, index=pd.Index(pt, name="threshold")).T


def best_strategy_spans(table: pd.DataFrame) -> list[tuple[float, float, str]]:
    """Runs of neighbouring thresholds with the same best strategy, from :func:`net_benefit_table`.

    Returns
    -------
    list of (first threshold, last threshold, strategy)

    Examples
    --------
    >>> t = pd.DataFrame({0.1: [0.0, 0.2], 0.2: [0.0, 0.1], 0.3: [0.0, -0.1]}, index=["treat none", "model"])
    >>> best_strategy_spans(t)
    [(0.1, 0.2, 'model'), (0.3, 0.3, 'treat none')]
    """
    spans: list[tuple[float, float, str]] = []
    for threshold, best in table.idxmax(axis=0).items():
        if spans and spans[-1][2] == best:
            spans[-1] = (spans[-1][0], float(threshold), best)
        else:
            spans.append((float(threshold), float(threshold), best))
    return spans
