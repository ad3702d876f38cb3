"""Performance per subgroup (site, sex, age band, genetic ancestry group...), with counts, intervals and a
warning where a group is too small to say anything.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._validation import (
    check_confidence,
    check_labels,
    check_same_length,
    check_scores,
)
from medai_lib.evaluation.proportions import wilson_interval, z_value
from medai_lib.evaluation.roc import _delong

logger = logging.getLogger(__name__)

#: A group with fewer diseased or fewer healthy cases than this gets a warning.
MIN_PER_CLASS = 10
MISSING_LABEL = "(missing)"


def _group_columns(groups, n_cases: int) -> dict[str, np.ndarray]:
    if isinstance(groups, pd.DataFrame):
        columns = {str(c): groups[c].to_numpy() for c in groups.columns}
    elif isinstance(groups, pd.Series):
        columns = {str(groups.name) if groups.name is not None else "group": groups.to_numpy()}
    elif isinstance(groups, dict):
        columns = {str(k): np.asarray(v) for k, v in groups.items()}
    else:
        arr = np.asarray(groups)
        if arr.ndim != 1:
            raise MedaiInputError(
                f"groups must be 1-D (one label per case), a pandas Series or DataFrame; got shape {arr.shape}."
            )
        columns = {"group": arr}
    if not columns:
        raise MedaiInputError("groups has no columns; pass e.g. df['site'] or df[['site', 'sex']].")
    for name, values in columns.items():
        check_same_length(y_true=np.empty(n_cases), **{f"groups['{name}']": values})
    return columns


def subgroup_table(
    y_true,
    y_score,
    groups,
    *,
    threshold: float = 0.5,
    confidence: float = 0.95,
    min_per_class: int = MIN_PER_CLASS,
) -> pd.DataFrame:
    """AUC, sensitivity, specificity, PPV and NPV per group, with counts, intervals and warnings.

    Intervals: DeLong for AUC, Wilson for the proportions. Missing group labels form their own group.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)
    groups : array_like, pandas Series, DataFrame or dict of arrays, n_cases rows
        One or more categorical columns; each column is summarised separately.
    threshold : float, default 0.5
        Test-positive when ``y_score >= threshold``.
    confidence : float, default 0.95
    min_per_class : int, default 10
        Groups with fewer diseased or fewer healthy cases get a ``warning`` (and a log message).

    Returns
    -------
    pandas.DataFrame
        One row per (variable, group) and one "all" row per variable; columns ``variable, group, n,
        n_positive, n_negative, prevalence, auc, auc_ci_low, auc_ci_high, sensitivity, ...,
        npv_ci_high, warning`` (empty string where there is nothing to warn about).

    Examples
    --------
    >>> y = np.tile([0, 1], 30)
    >>> s = np.linspace(0, 1, 60)
    >>> df = subgroup_table(y, s, np.repeat(["A", "B", "C"], 20), min_per_class=10)
    >>> df["n"].tolist()
    [60, 20, 20, 20]
    """
    y_true = check_labels(y_true)
    y_score = check_scores(y_score)
    check_same_length(y_true=y_true, y_score=y_score)
    confidence = check_confidence(confidence)
    z = z_value(confidence)
    rows = []
    for variable, values in _group_columns(groups, y_true.size).items():
        labels = pd.Series(values, dtype="object").where(pd.notna(values), MISSING_LABEL).astype(str)
        order = list(pd.unique(labels))
        try:
            order = sorted(order)
        except TypeError:  # pragma: no cover - labels are strings here
            pass
        rows.append(_row(variable, "all", y_true, y_score, threshold, confidence, z, min_per_class))
        for group in order:
            mask = (labels == group).to_numpy()
            rows.append(
                _row(variable, group, y_true[mask], y_score[mask], threshold, confidence, z, min_per_class)
            )
    df = pd.DataFrame(rows)
    for _, row in df[df["warning"] != ""].iterrows():
        logger.warning("Subgroup %s=%s: %s", row["variable"], row["group"], row["warning"])
    return df


def _row(variable, group, y, s, threshold, confidence, z, min_per_class) -> dict:
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    pred = s >= threshold
    tp = int(np.count_nonzero(pred & (y == 1)))
    tn = int(np.count_nonzero(~pred & (y == 0)))
    fp, fn = n_neg - tn, n_pos - tp
    row = {"variable": variable, "group": group, "n": int(y.size), "n_positive": n_pos,
           "n_negative": n_neg, "prevalence": n_pos / y.size if y.size else np.nan}
    if n_pos and n_neg:
        aucs, cov = _delong(y, s[None, :])
        auc, se = float(aucs[0]), float(np.sqrt(cov[0, 0]))
        row.update(auc=auc, auc_ci_low=max(0.0, auc - z * se), auc_ci_high=min(1.0, auc + z * se))
    else:
        row.update(auc=np.nan, auc_ci_low=np.nan, auc_ci_high=np.nan)
    for name, num, den in (("sensitivity", tp, n_pos), ("specificity", tn, n_neg),
                           ("ppv", tp, tp + fp), ("npv", tn, tn + fn)):
        low, high = wilson_interval(num, den, confidence=confidence) if den else (np.nan, np.nan)
        row.update({name: num / den if den else np.nan, f"{name}_ci_low": low, f"{name}_ci_high": high})
    problems = []
    if n_pos == 0 or n_neg == 0:
        problems.append("only one class: AUC, sensitivity or specificity cannot be estimated")
    elif n_pos < min_per_class or n_neg < min_per_class:
        problems.append(
            f"too small to say anything: {n_pos} diseased and {n_neg} healthy cases "
            f"(fewer than {min_per_class} in a class); intervals are wide"
        )
    row["warning"] = "; ".join(problems)
    return row
