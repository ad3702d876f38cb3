"""Selective prediction: the model decides the cases it is surest of and refers the others to a clinician.

The coverage-vs-accuracy curve shows what is gained on the cases kept for every share referred; an
abstention band chosen on validation cases is then reported on test cases.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._validation import check_labels, check_same_length, check_scores


def _confidence(p: np.ndarray, threshold: float) -> np.ndarray:
    """Distance from the decision threshold on the probability scale, scaled to [0, 1] on each side."""
    above = (p - threshold) / max(1 - threshold, 1e-12)
    below = (threshold - p) / max(threshold, 1e-12)
    return np.where(p >= threshold, above, below)


def _check_threshold(threshold):
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise MedaiInputError(f"threshold must be a probability between 0 and 1 such as 0.5; got {threshold!r}.")
    return float(threshold)


def selective_curve(y_true, y_prob, *, threshold: float = 0.5, n_points: int = 21) -> pd.DataFrame:
    """Accuracy, sensitivity and specificity on the cases the model keeps, for each share it keeps.

    Cases are ranked by how far their risk is from ``threshold`` (relative to the room on that side); the
    model keeps the most confident ``coverage`` share and refers the rest.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_prob : array_like of float in [0, 1], shape (n_cases,)
    threshold : float, default 0.5
        Risk at or above which a kept case is called positive.
    n_points : int, default 21
        Coverages from 1/n_points... evenly up to 1.

    Returns
    -------
    DataFrame
        ``coverage`` (share kept), ``n_kept``, ``referred`` (share referred), ``accuracy``,
        ``sensitivity``, ``specificity`` on the kept cases, and ``positives_referred`` (share of all
        diseased cases sent to a clinician).

    Examples
    --------
    >>> df = selective_curve([0, 0, 1, 1], [0.1, 0.45, 0.55, 0.9], n_points=2)
    >>> df[["coverage", "accuracy"]].values.tolist()
    [[0.5, 1.0], [1.0, 1.0]]
    """
    y = check_labels(y_true, require_both=False)
    p = check_scores(y_prob, "y_prob", probability=True)
    check_same_length(y_true=y, y_prob=p)
    threshold = _check_threshold(threshold)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise MedaiInputError(f"n_points must be an integer of at least 2; got {n_points!r}.")
    # stable ordering: ties broken by case index so results do not depend on the sort's implementation
    order = np.lexsort((np.arange(p.size), -_confidence(p, threshold)))
    pred = (p >= threshold).astype(np.int8)
    rows = []
    for coverage in np.linspace(1 / n_points, 1, n_points):
        k = max(1, int(round(coverage * y.size)))
        kept = order[:k]
        yk, pk = y[kept], pred[kept]
        pos, neg = (yk == 1), (yk == 0)
        rows.append({
            "coverage": round(float(coverage), 10), "n_kept": int(k), "referred": 1 - k / y.size,
            "accuracy": float((yk == pk).mean()),
            "sensitivity": float(pk[pos].mean()) if pos.any() else np.nan,
            "specificity": float(1 - pk[neg].mean()) if neg.any() else np.nan,
            "positives_referred": float(1 - pos.sum() / max(y.sum(), 1)) if y.sum() else np.nan,
        })
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class AbstentionRule:
    """Refer a case when its risk lies in ``[low, high)``; below ``low`` call it negative, from ``high`` positive."""

    low: float
    high: float
    threshold: float
    target_accuracy: float

    def decide(self, y_prob) -> np.ndarray:
        """"negative", "refer" or "positive" for each risk, shape (n_cases,)."""
        p = check_scores(y_prob, "y_prob", probability=True)
        return np.where(p < self.low, "negative", np.where(p >= self.high, "positive", "refer")).astype(object)

    def evaluate(self, y_true, y_prob) -> dict:
        """Share referred and accuracy, sensitivity, specificity on the decided cases."""
        y = check_labels(y_true, require_both=False)
        decision = self.decide(y_prob)
        check_same_length(y_true=y, y_prob=decision)
        kept = decision != "refer"
        yk, pk = y[kept], (decision[kept] == "positive")
        return {"referred": float(1 - kept.mean()), "n_decided": int(kept.sum()),
                "accuracy": float((yk == pk).mean()) if kept.any() else np.nan,
                "sensitivity": float(pk[yk == 1].mean()) if (yk == 1).any() else np.nan,
                "specificity": float(1 - pk[yk == 0].mean()) if (yk == 0).any() else np.nan}


def fit_abstention_rule(y_true, y_prob, *, target_accuracy: float = 0.9, threshold: float = 0.5) -> AbstentionRule:
    """The narrowest referral band around ``threshold`` whose decided validation cases reach ``target_accuracy``.

    Fit it on validation cases and report it on test cases (it is tuned, so the validation accuracy is
    optimistic). The band widens symmetrically in confidence (see :func:`selective_curve`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=2000); y = (rng.uniform(size=2000) < p).astype(int)
    >>> rule = fit_abstention_rule(y, p, target_accuracy=0.85)
    >>> bool(rule.low < 0.5 < rule.high)
    True
    """
    y = check_labels(y_true)
    p = check_scores(y_prob, "y_prob", probability=True)
    check_same_length(y_true=y, y_prob=p)
    threshold = _check_threshold(threshold)
    if not 0 < target_accuracy < 1:
        raise MedaiInputError(f"target_accuracy must be between 0 and 1 such as 0.9; got {target_accuracy!r}.")
    conf = _confidence(p, threshold)
    pred = p >= threshold
    correct = pred == (y == 1)
    for c in np.unique(np.concatenate([[0.0], conf])):
        kept = conf >= c
        if kept.sum() >= 1 and correct[kept].mean() >= target_accuracy:
            low = threshold - c * threshold
            high = threshold + c * (1 - threshold)
            return AbstentionRule(low=float(low), high=float(high), threshold=threshold,
                                  target_accuracy=float(target_accuracy))
    raise MedaiInputError(
        f"no referral band reaches an accuracy of {target_accuracy:.0%} on these cases, even deciding only the "
        "most confident one: lower target_accuracy or improve the model.")


def plot_selective_curve(curve: pd.DataFrame, *, ax=None, label: str | None = None, color: str | None = None):
    """Accuracy on the kept cases against the share kept (coverage); 1.0 = no case referred."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    ax.plot(curve["coverage"], curve["accuracy"], "o-", ms=3, label=label, color=color)
    ax.set(xlabel="share of cases the model decides (the rest are referred)", ylabel="accuracy on decided cases",
           xlim=(0, 1.02))
    ax.grid(alpha=0.3)
    return ax
