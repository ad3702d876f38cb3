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


def compare_with_prior(manifest: pd.DataFrame, scores) -> pd.DataFrame:
    """Each patient's first and latest film side by side: the model's score on both, and its change.

    A radiologist reads a film next to the prior one; a model that scores films one at a time does not. This
    table shows what the scores of one patient's films do over time.

    Parameters
    ----------
    manifest : pandas.DataFrame with ``patient_id``, ``visit`` and ``label`` (``severity`` if known)
    scores : array_like of float, shape (n_images,)
        The model's probability for each row of ``manifest``.

    Returns
    -------
    pandas.DataFrame indexed by ``patient_id`` (patients with at least two films)
        ``first_visit, last_visit, score_first, score_last, score_change, label_first, label_last`` and,
        where the manifest has it, ``severity_first, severity_last``.

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.fibrosis.triage import compare_with_prior
    >>> m = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "visit": [1, 0, 0], "label": [1, 0, 0]})
    >>> compare_with_prior(m, [0.8, 0.3, 0.1])[["score_first", "score_last", "label_last"]].round(2).values.tolist()
    [[0.3, 0.8, 1.0]]
    """
    missing = {"patient_id", "visit", "label"} - set(manifest.columns)
    if missing:
        raise MedaiInputError(f"manifest lacks the column(s) {sorted(missing)}; pass the cohort's manifest.")
    scores = np.asarray(scores, dtype=float)
    if scores.shape != (len(manifest),):
        raise MedaiInputError(f"scores must have one value per manifest row ({len(manifest)}); got shape "
                              f"{scores.shape}.")
    columns = ["label"] + (["severity"] if "severity" in manifest.columns else [])
    films = manifest[["patient_id", "visit", *columns]].assign(score=scores).sort_values(["patient_id", "visit"])
    grouped = films.groupby("patient_id")
    first, last, count = grouped.first(), grouped.last(), grouped.size()
    keep = count[count >= 2].index
    out = pd.DataFrame({"first_visit": first.loc[keep, "visit"], "last_visit": last.loc[keep, "visit"],
                        "score_first": first.loc[keep, "score"], "score_last": last.loc[keep, "score"]})
    out["score_change"] = out["score_last"] - out["score_first"]
    for column in columns:
        out[f"{column}_first"] = first.loc[keep, column].astype(float)
        out[f"{column}_last"] = last.loc[keep, column].astype(float)
    return out
