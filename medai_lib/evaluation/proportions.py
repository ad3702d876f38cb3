"""Confidence intervals for proportions (Wilson score) and for ratios of proportions (log method)."""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._validation import check_confidence


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile, e.g. 1.95996 for ``confidence=0.95``."""
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes, n, *, confidence: float = 0.95):
    """Wilson score interval for a binomial proportion.

    Better than the textbook ``p ± 1.96·sqrt(p(1-p)/n)`` interval for small ``n`` and for proportions
    near 0 or 1 (it never leaves [0, 1] and is not zero-width at 0/n or n/n); Newcombe, Stat Med 1998.

    Parameters
    ----------
    successes : int or array of int
        Number of successes (e.g. true positives).
    n : int or array of int, same shape as ``successes``
        Number of trials (e.g. diseased cases). Where ``n`` is 0 the interval is NaN.
    confidence : float, default 0.95

    Returns
    -------
    (low, high) : floats, or arrays of the broadcast shape

    Examples
    --------
    >>> low, high = wilson_interval(81, 263)
    >>> round(low, 4), round(high, 4)
    (0.2553, 0.3662)
    """
    confidence = check_confidence(confidence)
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(x < 0) or np.any(n < 0) or np.any(x > n):
        raise MedaiInputError(
            "wilson_interval needs 0 <= successes <= n; got successes="
            f"{successes!r}, n={n!r}. Check that the counts are not swapped."
        )
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def log_ratio_interval(a, n_a, b, n_b, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Ratio of two proportions ``(a/n_a) / (b/n_b)`` with its log-method interval.

    Used for likelihood ratios (Simel, Samsa & Matchar, J Clin Epidemiol 1991):
    SE(log ratio) = sqrt(1/a - 1/n_a + 1/b - 1/n_b). When ``a`` or ``b`` is zero, 0.5 is added to both
    numerators and denominators for the interval (the estimate itself is left unchanged).

    Returns
    -------
    (ratio, low, high) : floats; NaN where undefined (an empty denominator).
    """
    confidence = check_confidence(confidence)
    a, n_a, b, n_b = (float(v) for v in (a, n_a, b, n_b))
    if n_a == 0 or n_b == 0:
        return float("nan"), float("nan"), float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.divide(a / n_a, b / n_b))
    if a == 0 and b == 0:
        return ratio, float("nan"), float("nan")
    if a == 0 or b == 0:
        a, n_a, b, n_b = a + 0.5, n_a + 0.5, b + 0.5, n_b + 0.5
    log_ratio = np.log((a / n_a) / (b / n_b))
    se = np.sqrt(max(1 / a - 1 / n_a + 1 / b - 1 / n_b, 0.0))
    z = z_value(confidence)
    return ratio, float(np.exp(log_ratio - z * se)), float(np.exp(log_ratio + z * se))
