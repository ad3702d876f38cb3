"""Synthetic scores with a known AUC (binormal model), for teaching and for checking interval coverage."""
from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.stats import norm

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._validation import check_probability_value


def make_binormal(
    n_positive: int = 100,
    n_negative: int = 100,
    *,
    auc: float = 0.8,
    random_state=0,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of healthy cases ~ N(0, 1) and of diseased cases ~ N(mu, 1), with true AUC = Phi(mu / sqrt 2).

    Parameters
    ----------
    n_positive, n_negative : int, default 100
        Numbers of diseased and healthy cases.
    auc : float in (0, 1), default 0.8
        The population AUC.
    random_state : int or numpy.random.Generator, default 0

    Returns
    -------
    y_true : ndarray of int8, shape (n_positive + n_negative,)
        Diseased cases first.
    y_score : ndarray of float, shape (n_positive + n_negative,)

    Examples
    --------
    >>> y, s = make_binormal(5000, 5000, auc=0.75, random_state=0)
    >>> from sklearn.metrics import roc_auc_score
    >>> bool(abs(roc_auc_score(y, s) - 0.75) < 0.02)
    True
    """
    auc = check_probability_value(auc, "auc", open_interval=True)
    for name, value in (("n_positive", n_positive), ("n_negative", n_negative)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise MedaiInputError(f"{name} must be a positive whole number; got {value!r}.")
    rng = np.random.default_rng(random_state)
    mu = np.sqrt(2.0) * norm.ppf(auc)
    y_true = np.concatenate([np.ones(n_positive, np.int8), np.zeros(n_negative, np.int8)])
    y_score = np.concatenate([rng.normal(mu, 1.0, n_positive), rng.normal(0.0, 1.0, n_negative)])
    return y_true, y_score


def make_imported_risks(n_patients: int = 4000, prevalence: float = 0.10, *, auc: float = 0.80,
                        development_prevalence: float = 0.30, spread: float = 1.5, random_state=0):
    """A local cohort with each patient's true risk and the risk an imported, miscalibrated model predicts.

    The outcome and a binormal signal come from :func:`make_binormal` (``round(n_patients * prevalence)``
    events). The true risk follows from Bayes' rule, ``logit(p) = logit(prevalence) + mu*s - mu**2/2`` with
    ``mu = sqrt(2) * Phi^-1(auc)``. The imported model was developed where the outcome was more common
    (``development_prevalence``) and over-fitted: ``logit(model) = logit(development_prevalence) +
    spread * (mu*s - mu**2/2)``, so it overestimates the risk here and its risks are too extreme (a
    logistic recalibration of it has slope ``1 / spread``).

    Parameters
    ----------
    n_patients : int, default 4000
    prevalence : float in (0, 1), default 0.10
        Share of patients with the outcome in the local cohort.
    auc : float in (0, 1), default 0.80
        Population AUC of the signal (and of both risks, which rank patients the same way).
    development_prevalence : float in (0, 1), default 0.30
    spread : float > 0, default 1.5
        Above 1: risks too extreme (over-fitted model); below 1: too timid.
    random_state : int or numpy.random.Generator, default 0

    Returns
    -------
    pandas.DataFrame, shape (n_patients, 3)
        Columns ``outcome`` (0/1, events first), ``true_risk`` and ``model_risk``.

    Examples
    --------
    >>> cohort = make_imported_risks(2000, 0.1, random_state=0)
    >>> bool(cohort["model_risk"].mean() > cohort["outcome"].mean())
    True
    """
    import pandas as pd
    from scipy.special import expit, logit

    if isinstance(n_patients, bool) or not isinstance(n_patients, Integral) or n_patients < 2:
        raise MedaiInputError(f"n_patients must be a whole number of at least 2; got {n_patients!r}.")
    prevalence = check_probability_value(prevalence, "prevalence", open_interval=True)
    development_prevalence = check_probability_value(development_prevalence, "development_prevalence",
                                                     open_interval=True)
    try:
        spread = float(spread)
    except (TypeError, ValueError):
        raise TypeError(f"spread must be a positive number; got {spread!r}.") from None
    if not np.isfinite(spread) or spread <= 0:
        raise MedaiInputError(f"spread must be a positive number (1 = as extreme as the true risk); got {spread!r}.")
    n_events = round(n_patients * prevalence)
    if not 1 <= n_events < n_patients:
        raise MedaiInputError(f"n_patients={n_patients} with prevalence={prevalence} gives {n_events} events; "
                              "use more patients so that both outcomes occur.")
    outcome, signal = make_binormal(n_events, n_patients - n_events, auc=auc, random_state=random_state)
    mu = np.sqrt(2.0) * norm.ppf(auc)
    evidence = mu * signal - mu ** 2 / 2          # log likelihood ratio of the signal
    return pd.DataFrame({"outcome": outcome.astype(int),
                         "true_risk": expit(logit(prevalence) + evidence),
                         "model_risk": expit(logit(development_prevalence) + spread * evidence)})
