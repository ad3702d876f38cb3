"""Input checks shared by the evaluation functions: one message style, raised at the public entry point."""
from __future__ import annotations

import numpy as np

from medai_lib.errors import MedaiInputError

#: Smallest number of cases per class for a bootstrap: fewer gives replicates that are mostly ties.
MIN_BOOTSTRAP_PER_CLASS = 2
#: Smallest number of replicates accepted for a bootstrap interval.
MIN_BOOTSTRAP_REPLICATES = 100
#: Smallest number of clusters (patients) for a cluster bootstrap; below ``FEW_CLUSTERS`` it warns.
MIN_CLUSTERS = 3
FEW_CLUSTERS = 10


def _as_1d(values, name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name} must be an array-like of numbers; got {type(values).__name__}.")
    arr = np.asarray(values)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise MedaiInputError(
            f"{name} must be one-dimensional (one value per case); got shape {arr.shape}. "
            "For a two-column predict_proba output pass its second column, e.g. proba[:, 1]."
        )
    if arr.size == 0:
        raise MedaiInputError(f"{name} is empty; pass at least one case per class.")
    return arr


def check_labels(y_true, name: str = "y_true", *, require_both: bool = True) -> np.ndarray:
    """Return ``y_true`` as an int8 array of 0/1, or raise naming the problem and the fix."""
    arr = _as_1d(y_true, name)
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        values = np.unique(arr.astype(str))[:5]
        raise MedaiInputError(
            f"{name} must hold 0 (no disease) and 1 (disease); got values {list(values)}. "
            f"Convert it first, e.g. {name} = (labels == 'disease').astype(int)."
        )
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise MedaiInputError(
            f"{name} contains {int(np.sum(~np.isfinite(arr)))} missing or infinite value(s); "
            "drop those cases before evaluating."
        )
    bad = ~np.isin(arr, (0, 1))
    if np.any(bad):
        values = np.unique(arr[bad])[:5]
        raise MedaiInputError(
            f"{name} must hold only 0 (no disease) and 1 (disease); got other values such as "
            f"{[v.item() for v in values]}. Recode it, e.g. {name} = (y == positive_label).astype(int)."
        )
    out = arr.astype(np.int8)
    if require_both:
        n_pos = int(out.sum())
        if n_pos == 0 or n_pos == out.size:
            present = 1 if n_pos else 0
            raise MedaiInputError(
                f"{name} contains a single class (all {present}); sensitivity, specificity and AUC need "
                "both diseased (1) and non-diseased (0) cases. Evaluate on a sample that has both."
            )
    return out


def check_scores(y_score, name: str = "y_score", *, probability: bool = False) -> np.ndarray:
    """Return ``y_score`` as a float array, refusing NaN/inf and (if ``probability``) values outside [0, 1]."""
    arr = _as_1d(y_score, name)
    if arr.dtype == bool:
        arr = arr.astype(float)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric scores; got dtype {arr.dtype}.")
    arr = arr.astype(float)
    finite = np.isfinite(arr)
    if not np.all(finite):
        n_nan = int(np.isnan(arr).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise MedaiInputError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite value(s); every case needs a finite score. "
            "Drop or impute those cases (and the matching y_true) before evaluating."
        )
    if probability and (arr.min() < 0 or arr.max() > 1):
        raise MedaiInputError(
            f"{name} must be probabilities in [0, 1] here; got values from {arr.min():g} to {arr.max():g}. "
            "Pass predict_proba(...)[:, 1], or map raw scores to probabilities first "
            "(e.g. scipy.special.expit or PlattRecalibrator)."
        )
    return arr


def check_same_length(**arrays: np.ndarray) -> None:
    """Raise if the named arrays do not all have the same length."""
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise MedaiInputError(
            f"Length mismatch: {described} values; pass one value per case in the same order."
        )


def check_probability_value(value, name: str, *, open_interval: bool = False) -> float:
    """Return a float in [0, 1] (or (0, 1) if ``open_interval``), or raise."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number between 0 and 1; got {value!r}.") from None
    ok = 0 < value < 1 if open_interval else 0 <= value <= 1
    if not np.isfinite(value) or not ok:
        bounds = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise MedaiInputError(
            f"{name} must be a proportion {bounds}; got {value!r}. Percentages: divide by 100."
        )
    return value


def check_confidence(confidence) -> float:
    """Return the confidence level as a float in (0, 1)."""
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise TypeError(f"confidence must be a number such as 0.95; got {confidence!r}.") from None
    if not 0.5 <= value < 1:
        raise MedaiInputError(
            f"confidence must be in [0.5, 1), e.g. 0.95 for a 95% interval; got {confidence!r}."
        )
    return value


def check_n_bootstrap(n_bootstrap, *, y_true: np.ndarray | None = None) -> int:
    """Return ``n_bootstrap`` as an int, refusing too few replicates or too few cases per class."""
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)):
        raise TypeError(f"n_bootstrap must be an integer such as 2000; got {n_bootstrap!r}.")
    if n_bootstrap < MIN_BOOTSTRAP_REPLICATES:
        raise MedaiInputError(
            f"n_bootstrap must be at least {MIN_BOOTSTRAP_REPLICATES} for a percentile interval; got "
            f"{n_bootstrap}. Use 2000 (the default) for a stable 95% interval."
        )
    if y_true is not None:
        n_pos = int(y_true.sum())
        n_neg = int(y_true.size - n_pos)
        if min(n_pos, n_neg) < MIN_BOOTSTRAP_PER_CLASS:
            raise MedaiInputError(
                f"Too few cases for a bootstrap: y_true has {n_pos} positive and {n_neg} negative case(s); "
                f"a stratified bootstrap needs at least {MIN_BOOTSTRAP_PER_CLASS} of each. Collect more "
                "cases, or use the DeLong interval (method='delong')."
            )
    return int(n_bootstrap)


def check_clusters(clusters, y_true: np.ndarray, name: str = "clusters") -> np.ndarray:
    """Return ``clusters`` (one patient/subject identifier per case) as an array, checked."""
    arr = np.asarray(clusters)
    if arr.ndim != 1:
        raise MedaiInputError(f"{name} must be one identifier per case (1-D); got shape {arr.shape}.")
    if len(arr) != len(y_true):
        raise MedaiInputError(
            f"Length mismatch: {name} has {len(arr)} values and y_true has {len(y_true)}; pass the patient "
            "of every case, in the same order."
        )
    if arr.dtype.kind == "f" and np.isnan(arr).any() or arr.dtype == object and pd_isna(arr).any():
        raise MedaiInputError(f"{name} has missing values; every case needs its patient identifier.")
    n = len(np.unique(arr.astype(str)))
    if n < MIN_CLUSTERS:
        raise MedaiInputError(
            f"{name} has {n} distinct patient(s); a cluster bootstrap needs at least {MIN_CLUSTERS}. "
            "With so few patients no interval is trustworthy: collect more patients."
        )
    if n < FEW_CLUSTERS:
        import logging

        logging.getLogger("medai_lib.evaluation").warning(
            "%s has only %d patients: a cluster-bootstrap interval from so few is rough (it tends to be "
            "too narrow); report it as such.", name, n)
    return arr.astype(str)


def pd_isna(arr: np.ndarray) -> np.ndarray:
    import pandas as pd

    return pd.isna(arr)
