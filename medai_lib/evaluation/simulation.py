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
