"""The 2x2 table and the metrics read from it: sensitivity, specificity, PPV, NPV, accuracy, F1 and
likelihood ratios with confidence intervals, and predictive values recomputed for another prevalence.

Convention everywhere in this package: a case is test-positive when ``y_score >= threshold``.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._bootstrap import percentile_interval
from medai_lib.evaluation._validation import (
    check_confidence,
    check_labels,
    check_n_bootstrap,
    check_probability_value,
    check_same_length,
    check_scores,
)
from medai_lib.evaluation.proportions import log_ratio_interval, wilson_interval, z_value

METRIC_COLUMNS = ["metric", "estimate", "ci_low", "ci_high", "n", "method"]


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


@dataclass(frozen=True)
class ConfusionTable:
    """Counts of a 2x2 table: rows are the truth, columns the test result.

    Attributes
    ----------
    tp, fp, fn, tn : int
        True positives (diseased, test positive), false positives (healthy, test positive),
        false negatives (diseased, test negative), true negatives (healthy, test negative).

    Examples
    --------
    >>> t = ConfusionTable(tp=90, fp=30, fn=10, tn=870)
    >>> t.sensitivity, t.specificity
    (0.9, 0.9666666666666667)
    """

    tp: int
    fp: int
    fn: int
    tn: int

    def __post_init__(self):
        for name in ("tp", "fp", "fn", "tn"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral):
                raise TypeError(f"ConfusionTable {name} must be a whole number of cases; got {value!r}.")
            if value < 0:
                raise MedaiInputError(f"ConfusionTable {name} must be >= 0; got {value}.")
            object.__setattr__(self, name, int(value))

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def n_positive(self) -> int:
        """Diseased cases (tp + fn)."""
        return self.tp + self.fn

    @property
    def n_negative(self) -> int:
        """Non-diseased cases (fp + tn)."""
        return self.fp + self.tn

    @property
    def sensitivity(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def ppv(self) -> float:
        """Positive predictive value: P(disease | test positive)."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def npv(self) -> float:
        """Negative predictive value: P(no disease | test negative)."""
        return _ratio(self.tn, self.tn + self.fn)

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.n)

    @property
    def prevalence(self) -> float:
        return _ratio(self.tp + self.fn, self.n)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def to_frame(self) -> pd.DataFrame:
        """The table with margins as a DataFrame (rows: truth, columns: test result)."""
        data = [
            [self.tp, self.fn, self.n_positive],
            [self.fp, self.tn, self.n_negative],
            [self.tp + self.fp, self.fn + self.tn, self.n],
        ]
        return pd.DataFrame(
            data,
            index=pd.Index(["Disease present", "Disease absent", "Total"], name="truth"),
            columns=pd.Index(["Test positive", "Test negative", "Total"], name="test"),
        )

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        caption = (
            f"2x2 table of {self.n} cases: {self.tp} true positives, {self.fp} false positives, "
            f"{self.fn} false negatives, {self.tn} true negatives."
        )
        return frame.to_html(border=0).replace(
            "<thead>", f"<caption>{html.escape(caption)}</caption><thead>", 1
        )


def confusion_table(y_true, y_pred, *, threshold: float | None = None) -> ConfusionTable:
    """Count true/false positives and negatives.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
        Reference standard: 1 = disease present.
    y_pred : array_like, shape (n_cases,)
        Test results as 0/1, or scores when ``threshold`` is given.
    threshold : float, optional
        If given, a case is test-positive when ``y_pred >= threshold``.

    Returns
    -------
    ConfusionTable

    Examples
    --------
    >>> confusion_table([1, 1, 0, 0, 0], [1, 0, 1, 0, 0])
    ConfusionTable(tp=1, fp=1, fn=1, tn=2)
    >>> confusion_table([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], threshold=0.5)
    ConfusionTable(tp=1, fp=1, fn=1, tn=1)
    """
    y_true = check_labels(y_true, "y_true", require_both=False)
    if threshold is None:
        pred = check_labels(y_pred, "y_pred", require_both=False).astype(bool)
    else:
        scores = check_scores(y_pred, "y_pred")
        threshold = float(threshold)
        if not np.isfinite(threshold) and threshold != np.inf:
            raise MedaiInputError(f"threshold must be a finite number; got {threshold!r}.")
        pred = scores >= threshold
    check_same_length(y_true=y_true, y_pred=pred)
    truth = y_true.astype(bool)
    tp = int(np.count_nonzero(truth & pred))
    fp = int(np.count_nonzero(~truth & pred))
    fn = int(np.count_nonzero(truth & ~pred))
    return ConfusionTable(tp=tp, fp=fp, fn=fn, tn=int(truth.size - tp - fp - fn))


def _f1_bootstrap(table: ConfusionTable, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    # Resampling the diseased and the healthy cases separately (stratified bootstrap) at a fixed
    # threshold gives binomial counts of test positives in each class: draw those directly.
    tp = rng.binomial(table.n_positive, table.sensitivity, size=n_bootstrap)
    fp = rng.binomial(table.n_negative, 1 - table.specificity, size=n_bootstrap)
    fn = table.n_positive - tp
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)


def table_metrics(
    table: ConfusionTable,
    *,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    random_state=0,
) -> pd.DataFrame:
    """Diagnostic-accuracy metrics of a 2x2 table with confidence intervals.

    Intervals: Wilson score for the proportions (sensitivity, specificity, PPV, NPV, accuracy,
    prevalence); log method for the likelihood ratios LR+ = sens / (1 - spec) and
    LR- = (1 - sens) / spec; stratified percentile bootstrap for F1.

    Parameters
    ----------
    table : ConfusionTable
    confidence : float, default 0.95
    n_bootstrap : int, default 2000
        Replicates for the F1 interval.
    random_state : int or numpy.random.Generator, default 0

    Returns
    -------
    pandas.DataFrame
        One row per metric; columns ``metric, estimate, ci_low, ci_high, n, method`` where ``n`` is the
        metric's denominator (e.g. diseased cases for sensitivity).

    Examples
    --------
    >>> df = table_metrics(ConfusionTable(tp=81, fp=10, fn=182, tn=90))
    >>> df.set_index("metric").loc["sensitivity", ["estimate", "ci_low", "ci_high"]].round(4).tolist()
    [0.308, 0.2553, 0.3662]
    """
    if not isinstance(table, ConfusionTable):
        raise TypeError(
            f"table must be a ConfusionTable (from confusion_table(y_true, y_pred)); got {type(table).__name__}."
        )
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    rng = np.random.default_rng(random_state)
    t = table
    rows = []
    for metric, num, den in (
        ("sensitivity", t.tp, t.n_positive),
        ("specificity", t.tn, t.n_negative),
        ("ppv", t.tp, t.tp + t.fp),
        ("npv", t.tn, t.tn + t.fn),
        ("accuracy", t.tp + t.tn, t.n),
        ("prevalence", t.n_positive, t.n),
    ):
        low, high = wilson_interval(num, den, confidence=confidence) if den else (np.nan, np.nan)
        rows.append((metric, _ratio(num, den), low, high, den, "Wilson"))
    if t.n_positive and t.n_negative:
        low, high = percentile_interval(_f1_bootstrap(t, n_bootstrap, rng), confidence)
    else:
        low, high = np.nan, np.nan
    rows.append(("f1", t.f1, float(low), float(high), t.n, f"bootstrap ({n_bootstrap}, stratified)"))
    rows.append(("lr_positive", *log_ratio_interval(t.tp, t.n_positive, t.fp, t.n_negative,
                                                    confidence=confidence), t.n, "log method"))
    rows.append(("lr_negative", *log_ratio_interval(t.fn, t.n_positive, t.tn, t.n_negative,
                                                    confidence=confidence), t.n, "log method"))
    df = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    df["n"] = df["n"].astype(int)
    return df


def threshold_metrics(
    y_true,
    y_score,
    *,
    threshold: float = 0.5,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    random_state=0,
) -> pd.DataFrame:
    """Sensitivity, specificity, PPV, NPV, accuracy, F1 and likelihood ratios at one threshold.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)
        Model scores; a case is test-positive when ``y_score >= threshold``.
    threshold : float, default 0.5
    confidence, n_bootstrap, random_state
        As in :func:`table_metrics`.

    Returns
    -------
    pandas.DataFrame
        As :func:`table_metrics`.

    Examples
    --------
    >>> df = threshold_metrics([0, 0, 1, 1, 1], [0.1, 0.6, 0.4, 0.8, 0.9], threshold=0.5)
    >>> df.set_index("metric")["estimate"]["sensitivity"].round(3)
    np.float64(0.667)
    """
    y_true = check_labels(y_true)
    y_score = check_scores(y_score)
    check_same_length(y_true=y_true, y_score=y_score)
    table = confusion_table(y_true, y_score, threshold=threshold)
    return table_metrics(table, confidence=confidence, n_bootstrap=n_bootstrap, random_state=random_state)


def predictive_values(
    sensitivity: float,
    specificity: float,
    prevalence,
    *,
    n_positive: int | None = None,
    n_negative: int | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """PPV and NPV of a test with known sensitivity and specificity at another prevalence (Bayes).

    PPV = sens·p / (sens·p + (1-spec)·(1-p)), NPV = spec·(1-p) / (spec·(1-p) + (1-sens)·p).
    If the numbers of diseased (``n_positive``) and healthy (``n_negative``) cases that sensitivity and
    specificity were estimated from are given, intervals are added by the logit method of Mercaldo,
    Lau & Zhou (Stat Med 2007), treating the prevalence as known.

    Parameters
    ----------
    sensitivity, specificity : float in [0, 1]
    prevalence : float or array of float in [0, 1], shape (n_prevalences,)
    n_positive, n_negative : int, optional
    confidence : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        Columns ``prevalence, ppv, ppv_ci_low, ppv_ci_high, npv, npv_ci_low, npv_ci_high``, one row per
        prevalence (NaN intervals without counts).

    Examples
    --------
    >>> df = predictive_values(0.9, 0.95, [0.01, 0.3])
    >>> df["ppv"].round(3).tolist()
    [0.154, 0.885]
    """
    sens = check_probability_value(sensitivity, "sensitivity")
    spec = check_probability_value(specificity, "specificity")
    confidence = check_confidence(confidence)
    prev = np.atleast_1d(np.asarray(prevalence, dtype=float))
    if prev.ndim != 1 or np.any(~np.isfinite(prev)) or np.any((prev < 0) | (prev > 1)):
        raise MedaiInputError(
            f"prevalence must be a proportion (or 1-D array of proportions) in [0, 1]; got {prevalence!r}. "
            "Percentages: divide by 100."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ppv = sens * prev / (sens * prev + (1 - spec) * (1 - prev))
        npv = spec * (1 - prev) / (spec * (1 - prev) + (1 - sens) * prev)
    ppv_low = ppv_high = npv_low = npv_high = np.full(prev.shape, np.nan)
    if (n_positive is None) != (n_negative is None):
        raise MedaiInputError("Give both n_positive and n_negative (the study's counts), or neither.")
    if n_positive is not None:
        if n_positive <= 0 or n_negative <= 0:
            raise MedaiInputError(
                f"n_positive and n_negative must be positive counts; got {n_positive}, {n_negative}."
            )
        z = z_value(confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            # Mercaldo et al. 2007, eq. (5)-(6): var of the logit of PPV / NPV by the delta method
            var_ppv = (1 - sens) / (sens * n_positive) + spec / ((1 - spec) * n_negative)
            var_npv = sens / ((1 - sens) * n_positive) + (1 - spec) / (spec * n_negative)
            logit_ppv = np.log(ppv / (1 - ppv))
            logit_npv = np.log(npv / (1 - npv))

            def expit(x):
                return 1 / (1 + np.exp(-x))

            ppv_low = expit(logit_ppv - z * np.sqrt(var_ppv))
            ppv_high = expit(logit_ppv + z * np.sqrt(var_ppv))
            npv_low = expit(logit_npv - z * np.sqrt(var_npv))
            npv_high = expit(logit_npv + z * np.sqrt(var_npv))
    return pd.DataFrame(
        {
            "prevalence": prev, "ppv": ppv, "ppv_ci_low": ppv_low, "ppv_ci_high": ppv_high,
            "npv": npv, "npv_ci_low": npv_low, "npv_ci_high": npv_high,
        }
    )


@dataclass(frozen=True)
class NaturalFrequencies:
    """Expected counts in a population of ``population`` people ("natural frequencies").

    ``table`` holds whole-person counts (rounded); ``ppv`` and ``npv`` are exact (not from rounded counts).
    """

    population: int
    prevalence: float
    table: ConfusionTable
    ppv: float
    npv: float

    def describe(self) -> str:
        """One-paragraph plain-language summary, e.g. for a figure caption."""
        t = self.table
        return (
            f"Of {self.population:,} people, {t.n_positive} have the disease: the test finds {t.tp} of them "
            f"and misses {t.fn}. Of the {t.n_negative} without it, {t.fp} test positive anyway. So of "
            f"{t.tp + t.fp} positive tests, {t.tp} are right (PPV {self.ppv:.1%}); of {t.tn + t.fn} "
            f"negative tests, {t.tn} are right (NPV {self.npv:.1%})."
        )


def natural_frequencies(
    sensitivity: float, specificity: float, prevalence: float, *, population: int = 1000
) -> NaturalFrequencies:
    """Expected true/false positives and negatives per ``population`` people.

    Parameters
    ----------
    sensitivity, specificity, prevalence : float in [0, 1]
    population : int, default 1000

    Returns
    -------
    NaturalFrequencies

    Examples
    --------
    >>> nf = natural_frequencies(0.9, 0.95, 0.01)
    >>> nf.table
    ConfusionTable(tp=9, fp=50, fn=1, tn=940)
    """
    sens = check_probability_value(sensitivity, "sensitivity")
    spec = check_probability_value(specificity, "specificity")
    prev = check_probability_value(prevalence, "prevalence")
    if isinstance(population, bool) or not isinstance(population, Integral) or population <= 0:
        raise MedaiInputError(f"population must be a positive whole number such as 1000; got {population!r}.")
    diseased = int(round(population * prev))
    healthy = population - diseased
    tp = int(round(diseased * sens))
    tn = int(round(healthy * spec))
    pv = predictive_values(sens, spec, prev).iloc[0]
    return NaturalFrequencies(
        population=int(population),
        prevalence=prev,
        table=ConfusionTable(tp=tp, fp=healthy - tn, fn=diseased - tp, tn=tn),
        ppv=float(pv["ppv"]),
        npv=float(pv["npv"]),
    )
