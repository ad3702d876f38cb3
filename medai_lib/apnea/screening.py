"""Screening before the study: a STOP-BANG-like questionnaire from covariates versus the recording.

What a questionnaire can and cannot rule out: sensitivity, specificity and predictive values of each
score cut-off against the AHI of the night, with Wilson intervals.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

#: Items available from the cohort covariates (STOP-BANG without "Tired" and "Observed apneas").
QUESTIONNAIRE_ITEMS = ("snoring", "pressure", "bmi_over_35", "age_over_50", "neck_over_40", "male")


def stop_bang_like(subjects: pd.DataFrame) -> pd.DataFrame:
    """Score a 6-item STOP-BANG-like questionnaire (0-6) from covariates.

    Items: loud **S**noring, high blood **P**ressure, **B**MI > 35 kg/m2, **A**ge > 50 years, **N**eck
    circumference > 40 cm, male **G**ender. The full STOP-BANG also asks about Tiredness and Observed
    apneas, which the synthetic cohort does not record; its usual cut-off of 3 of 8 becomes about 3 of 6.

    Parameters
    ----------
    subjects : DataFrame
        ``snoring, hypertension`` (bool), ``bmi, age, neck_cm`` and ``sex`` (``"M"``/``"F"``), e.g.
        ``cohort.subjects``.

    Returns
    -------
    DataFrame, shape (n_subjects, 7)
        The item columns (0/1) and ``score``.

    Examples
    --------
    >>> s = pd.DataFrame({"snoring": [True], "hypertension": [False], "bmi": [36.0], "age": [40.0],
    ...                   "neck_cm": [42.0], "sex": ["M"]})
    >>> int(stop_bang_like(s)["score"].iloc[0])
    4
    """
    need = ["snoring", "hypertension", "bmi", "age", "neck_cm", "sex"]
    if not isinstance(subjects, pd.DataFrame):
        raise TypeError(f"subjects must be a DataFrame such as cohort.subjects; got {type(subjects).__name__}.")
    missing = [c for c in need if c not in subjects.columns]
    if missing:
        raise MedaiInputError(f"subjects is missing columns {missing}; the questionnaire needs {need}.")
    out = pd.DataFrame({
        "snoring": subjects["snoring"].astype(bool).astype(int),
        "pressure": subjects["hypertension"].astype(bool).astype(int),
        "bmi_over_35": (subjects["bmi"].astype(float) > 35).astype(int),
        "age_over_50": (subjects["age"].astype(float) > 50).astype(int),
        "neck_over_40": (subjects["neck_cm"].astype(float) > 40).astype(int),
        "male": (subjects["sex"].astype(str).str.upper() == "M").astype(int),
    }, index=subjects.index)
    out["score"] = out[list(QUESTIONNAIRE_ITEMS)].sum(axis=1)
    return out


def screening_table(score, ahi, *, ahi_cutoff: float = 15.0, confidence: float = 0.95) -> pd.DataFrame:
    """Sensitivity, specificity, PPV and NPV of "score >= k" for "AHI >= ahi_cutoff", for every k.

    Parameters
    ----------
    score : array_like of int, shape (n_subjects,)
    ahi : array_like of float, shape (n_subjects,)
        The reference AHI (from the recording).
    ahi_cutoff : float, default 15.0
        Disease definition: 15 for moderate-to-severe, 5 for any sleep apnea.

    Returns
    -------
    DataFrame indexed by cut-off ``k``: ``n_positive, sensitivity, sensitivity_low, sensitivity_high,
    specificity, ..., npv, npv_low, npv_high, missed`` (diseased subjects with score < k).

    Examples
    --------
    >>> float(screening_table([0, 2, 4, 6], [2.0, 10.0, 20.0, 40.0]).loc[3, "sensitivity"])
    1.0
    """
    from medai_lib.evaluation import wilson_interval

    score = np.asarray(score)
    ahi = np.asarray(ahi, dtype=float)
    if score.shape != ahi.shape or score.ndim != 1:
        raise MedaiInputError(f"score and ahi must be 1-D with one value per subject; got shapes {score.shape} "
                              f"and {ahi.shape}.")
    if not np.isfinite(ahi).all() or (ahi < 0).any():
        raise MedaiInputError("ahi must hold finite, non-negative events per hour.")
    disease = ahi >= ahi_cutoff
    rows = []
    for k in range(int(score.min()), int(score.max()) + 2):
        pos = score >= k
        tp, fp = int((pos & disease).sum()), int((pos & ~disease).sum())
        fn, tn = int((~pos & disease).sum()), int((~pos & ~disease).sum())
        row = {"k": k, "n_positive": tp + fp, "missed": fn}
        for name, num, den in (("sensitivity", tp, tp + fn), ("specificity", tn, tn + fp),
                               ("ppv", tp, tp + fp), ("npv", tn, tn + fn)):
            if den == 0:
                row.update({name: np.nan, f"{name}_low": np.nan, f"{name}_high": np.nan})
            else:
                lo, hi = (float(v) for v in wilson_interval(num, den, confidence=confidence))
                row.update({name: num / den, f"{name}_low": lo, f"{name}_high": hi})
        rows.append(row)
    return pd.DataFrame(rows).set_index("k")


__all__ = ["QUESTIONNAIRE_ITEMS", "screening_table", "stop_bang_like"]
