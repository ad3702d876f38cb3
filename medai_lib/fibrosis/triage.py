"""A triage threshold read where the model would be used: PPV, NPV and referrals at other prevalences.

Sensitivity and specificity carry over from the test cohort to a population with another prevalence;
PPV and NPV do not (Bayes' theorem). Used by notebook 2.3.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation import ppv_at_prevalence


def triage_at_prevalence(sensitivity: float, specificity: float, prevalences, *, per: int = 1000) -> pd.DataFrame:
    """What a triage rule with this sensitivity and specificity does in populations of other prevalences.

    Parameters
    ----------
    sensitivity, specificity : float in [0, 1]
        Of the rule at its threshold (e.g. measured on the test patients).
    prevalences : array_like of float in (0, 1), shape (n_populations,)
        Share of people with the disease in each population.
    per : int, default 1000
        Counts are per this many people.

    Returns
    -------
    pandas.DataFrame, one row per prevalence
        ``prevalence, ppv`` (of those referred, the share with the disease), ``npv`` (of those not referred,
        the share without), and per ``per`` people: ``with_disease``, ``referred``, ``found`` (referred with
        the disease), ``referred_without_disease`` and ``missed`` (not referred although diseased).

    Examples
    --------
    >>> from medai_lib.fibrosis.triage import triage_at_prevalence
    >>> t = triage_at_prevalence(0.9, 0.6, [0.3, 0.02])
    >>> t[["prevalence", "ppv", "referred", "found", "missed"]].round(3).values.tolist()
    [[0.3, 0.491, 550.0, 270.0, 30.0], [0.02, 0.044, 410.0, 18.0, 2.0]]
    """
    for name, value in (("sensitivity", sensitivity), ("specificity", specificity)):
        if isinstance(value, bool) or not np.isscalar(value) or not 0 <= float(value) <= 1:
            raise MedaiInputError(f"{name} must be a proportion between 0 and 1; got {value!r}.")
    prev = np.atleast_1d(np.asarray(prevalences, dtype=float))
    if prev.ndim != 1 or not np.all((prev > 0) & (prev < 1)):
        raise MedaiInputError(f"prevalences must be proportions strictly between 0 and 1; got {prev.tolist()}.")
    if isinstance(per, bool) or not isinstance(per, (int, np.integer)) or per < 1:
        raise MedaiInputError(f"per must be a positive integer; got {per!r}.")
    sens, spec = float(sensitivity), float(specificity)
    with np.errstate(invalid="ignore", divide="ignore"):
        npv = spec * (1 - prev) / (spec * (1 - prev) + (1 - sens) * prev)
    return pd.DataFrame({
        "prevalence": prev,
        "ppv": ppv_at_prevalence(sens, 1 - spec, prev),
        "npv": npv,
        "with_disease": per * prev,
        "referred": per * (sens * prev + (1 - spec) * (1 - prev)),
        "found": per * sens * prev,
        "referred_without_disease": per * (1 - spec) * (1 - prev),
        "missed": per * (1 - sens) * prev,
    })
