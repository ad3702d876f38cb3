"""One call that evaluates a binary risk model: discrimination, threshold metrics, calibration, decision
curve and subgroups, as a frozen report with a tidy table, a figure and a readable HTML view.
"""
from __future__ import annotations

import html
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.evaluation._validation import (
    check_confidence,
    check_labels,
    check_n_bootstrap,
    check_same_length,
    check_scores,
)
from medai_lib.evaluation.calibration import CalibrationSummary, calibration_summary
from medai_lib.evaluation.decision_curve import decision_curve
from medai_lib.evaluation.roc import (
    AucEstimate,
    RocCurve,
    _bootstrap_estimate,
    _rng,
    _roc_band,
    auc_delong,
    roc_curve,
)
from medai_lib.evaluation.subgroups import MIN_PER_CLASS, subgroup_table
from medai_lib.evaluation.threshold import METRIC_COLUMNS, ConfusionTable, confusion_table, table_metrics

logger = logging.getLogger(__name__)

_LABELS = {
    "auc": "AUC (DeLong CI)", "auc_bootstrap": "AUC (bootstrap CI)", "sensitivity": "Sensitivity",
    "specificity": "Specificity", "ppv": "PPV", "npv": "NPV", "accuracy": "Accuracy", "prevalence": "Prevalence",
    "f1": "F1 score", "lr_positive": "LR+", "lr_negative": "LR-", "brier": "Brier score",
    "ece": "Expected calibration error", "calibration_slope": "Calibration slope",
    "calibration_intercept": "Calibration intercept",
    "auc_patients": "AUC (patient-level bootstrap CI)",
    "sensitivity_patients": "Sensitivity (patient-level bootstrap CI)",
    "specificity_patients": "Specificity (patient-level bootstrap CI)",
}


@dataclass(frozen=True, eq=False)
class EvaluationReport:
    """The result of :func:`evaluate`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy: one row per metric, columns ``metric, estimate, ci_low, ci_high, n, method``.
    subgroups : pandas.DataFrame or None
        From :func:`subgroup_table` when ``groups`` was given.
    roc : RocCurve
        With a pointwise bootstrap band.
    auc_delong, auc_bootstrap : AucEstimate
    confusion : ConfusionTable
        At ``threshold``.
    calibration : CalibrationSummary
    decision_curve : pandas.DataFrame
    threshold, confidence, n_bootstrap
    """

    table: pd.DataFrame
    subgroups: pd.DataFrame | None
    roc: RocCurve
    auc_delong: AucEstimate
    auc_bootstrap: AucEstimate
    confusion: ConfusionTable
    calibration: CalibrationSummary
    decision_curve: pd.DataFrame
    threshold: float
    confidence: float
    n_bootstrap: int

    def metric(self, name: str) -> float:
        """The estimate of one metric by its name in ``table['metric']``, e.g. ``report.metric('auc')``."""
        rows = self.table.loc[self.table["metric"] == name, "estimate"]
        if rows.empty:
            raise KeyError(f"No metric {name!r}; choose one of {self.table['metric'].tolist()}.")
        return float(rows.iloc[0])

    def plot(self, *, fig=None, label: str | None = None):
        """ROC with its band and operating point, reliability diagram and decision curve side by side.

        Returns
        -------
        matplotlib Figure
        """
        from medai_lib.plotting import caption_of, plot_calibration, plot_decision_curve, plot_roc

        if fig is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(14, 4.6), layout="constrained")
        axes = fig.subplots(1, 3)
        plot_roc(self.roc, ax=axes[0], label=label,
                 operating_point=(1 - self.confusion.specificity, self.confusion.sensitivity))
        axes[0].set_title(f"Discrimination (ROC; dot: threshold {self.threshold:g})")
        plot_calibration(self.calibration, ax=axes[1], label=label)
        axes[1].set_title("Calibration")
        plot_decision_curve(self.decision_curve, ax=axes[2], label=label)
        axes[2].set_title("Clinical usefulness")
        fig.medai_caption = " ".join(caption_of(ax) for ax in axes)
        return fig

    @property
    def caption(self) -> str:
        """A plain-language summary of the main results."""
        c = self.confusion
        d = self.auc_delong
        return (
            f"{c.n} cases ({c.n_positive} with the disease). AUC {d.auc:.3f} "
            f"({self.confidence:.0%} CI {d.ci_low:.3f} to {d.ci_high:.3f}). At threshold {self.threshold:g}: "
            f"sensitivity {c.sensitivity:.1%}, specificity {c.specificity:.1%}, PPV {c.ppv:.1%}, "
            f"NPV {c.npv:.1%}."
        )

    def _repr_html_(self) -> str:
        def fmt(row):
            if not np.isfinite(row.estimate):
                return "n/a" if np.isnan(row.estimate) else "∞"
            low = "" if np.isnan(row.ci_low) else f" ({row.ci_low:.3f} to {row.ci_high:.3f})"
            return f"{row.estimate:.3f}{low}"

        shown = pd.DataFrame({
            "Metric": [_LABELS.get(m, m) for m in self.table["metric"]],
            f"Estimate ({self.confidence:.0%} CI)": [fmt(r) for r in self.table.itertuples()],
            "n": self.table["n"], "Method": self.table["method"],
        })
        parts = [
            "<div class='medai-report'>",
            "<h4>Model evaluation</h4>",
            f"<p>{html.escape(self.caption)}</p>",
            shown.to_html(index=False, border=0, escape=True),
            "<h5>2x2 table at the threshold</h5>",
            self.confusion._repr_html_(),
        ]
        if self.subgroups is not None:
            cols = ["variable", "group", "n", "n_positive", "auc", "sensitivity", "specificity", "warning"]
            parts += ["<h5>Subgroups</h5>",
                      self.subgroups[cols].to_html(index=False, border=0, float_format=lambda v: f"{v:.3f}")]
        parts.append("<p><em>Not for clinical use.</em></p></div>")
        return "\n".join(parts)


def evaluate(
    y_true,
    y_score,
    *,
    threshold: float = 0.5,
    groups=None,
    n_bootstrap: int = 2000,
    random_state=0,
    confidence: float = 0.95,
    n_bins: int = 10,
    calibration_strategy: str = "uniform",
    dca_thresholds=None,
    min_per_class: int = MIN_PER_CLASS,
    clusters=None,
) -> EvaluationReport:
    """Evaluate predicted risks against outcomes: discrimination, threshold metrics, calibration,
    decision curve and (optionally) subgroups.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
        1 = disease present (reference standard).
    y_score : array_like of float in [0, 1], shape (n_cases,)
        Predicted probabilities of disease (calibration and decision curves read them as risks).
    threshold : float, default 0.5
        Test-positive when ``y_score >= threshold``.
    groups : array_like, Series, DataFrame or dict, optional
        Categorical column(s) for the subgroup table (see :func:`subgroup_table`).
    n_bootstrap : int, default 2000
        Stratified bootstrap replicates (AUC interval, ROC band, F1 interval).
    random_state : int or numpy.random.Generator, default 0
    confidence : float, default 0.95
    n_bins : int, default 10
        Bins of the reliability curve and the ECE.
    calibration_strategy : {"uniform", "quantile"}, default "uniform"
    dca_thresholds : array_like of float in (0, 1), optional
        Threshold probabilities of the decision curve (default 0.01 ... 0.99).
    min_per_class : int, default 10
        Subgroups with fewer diseased or healthy cases get a warning.
    clusters : array_like, shape (n_cases,), optional
        The patient of each case, when patients contribute several cases (follow-up images, minutes of a
        night). Adds ``auc_patients``, ``sensitivity_patients`` and ``specificity_patients``: intervals
        from resampling whole patients (:func:`cluster_bootstrap`), the honest ones for correlated cases.

    Returns
    -------
    EvaluationReport

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 500)
    >>> p = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(size=500))))
    >>> report = evaluate(y, p, n_bootstrap=500)
    >>> report.table["metric"].tolist()[:3]
    ['auc', 'auc_bootstrap', 'sensitivity']
    """
    y_true = check_labels(y_true)
    y_score = check_scores(y_score, "y_score", probability=True)
    check_same_length(y_true=y_true, y_score=y_score)
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap, y_true=y_true)
    rng = _rng(random_state)

    delong = auc_delong(y_true, y_score, confidence=confidence)
    replicates = np.empty(n_bootstrap)
    base = roc_curve(y_true, y_score, confidence=confidence)
    band = _roc_band(y_true, y_score, n_bootstrap, confidence, 101, rng, aucs_out=replicates)
    roc = RocCurve(fpr=base.fpr, tpr=base.tpr, thresholds=base.thresholds, auc=base.auc, confidence=confidence,
                   n_positive=base.n_positive, n_negative=base.n_negative, **band)
    boot = _bootstrap_estimate(y_true, y_score, replicates, confidence)

    table = confusion_table(y_true, y_score, threshold=threshold)
    metrics = table_metrics(table, confidence=confidence, n_bootstrap=n_bootstrap, random_state=rng)
    calib = calibration_summary(y_true, y_score, n_bins=n_bins, strategy=calibration_strategy,
                                confidence=confidence)
    n = int(y_true.size)
    rows = [
        ("auc", delong.auc, delong.ci_low, delong.ci_high, n, "DeLong"),
        ("auc_bootstrap", boot.auc, boot.ci_low, boot.ci_high, n, f"bootstrap ({n_bootstrap}, stratified)"),
    ]
    extra = [
        ("brier", calib.brier, np.nan, np.nan, n, "mean squared error"),
        ("ece", calib.ece, np.nan, np.nan, n, f"{n_bins} {calibration_strategy} bins"),
        ("calibration_slope", calib.fit.slope, *calib.fit.slope_ci, n, "logistic recalibration, Wald"),
        ("calibration_intercept", calib.fit.intercept, *calib.fit.intercept_ci, n,
         "calibration-in-the-large, Wald"),
    ]
    tidy = pd.concat(
        [pd.DataFrame(rows, columns=METRIC_COLUMNS), metrics, pd.DataFrame(extra, columns=METRIC_COLUMNS)],
        ignore_index=True,
    )
    if clusters is not None:
        from medai_lib.evaluation.clusters import cluster_bootstrap

        by_patient = cluster_bootstrap(y_true, y_score, clusters, threshold=threshold, n_bootstrap=n_bootstrap,
                                       confidence=confidence, random_state=rng)
        method = f"cluster bootstrap ({n_bootstrap}, {by_patient.attrs['n_clusters']} patients)"
        n_pos = int(y_true.sum())
        patient_rows = [(f"{name}_patients", *by_patient.loc[name, ["estimate", "ci_low", "ci_high"]], count, method)
                        for name, count in (("auc", n), ("sensitivity", n_pos), ("specificity", n - n_pos))]
        tidy = pd.concat([tidy, pd.DataFrame(patient_rows, columns=METRIC_COLUMNS)], ignore_index=True)
    tidy["n"] = tidy["n"].astype(int)
    subgroups = None
    if groups is not None:
        subgroups = subgroup_table(y_true, y_score, groups, threshold=threshold, confidence=confidence,
                                   min_per_class=min_per_class)
    return EvaluationReport(
        table=tidy, subgroups=subgroups, roc=roc, auc_delong=delong, auc_bootstrap=boot, confusion=table,
        calibration=calib, decision_curve=decision_curve(y_true, y_score, thresholds=dca_thresholds),
        threshold=float(threshold), confidence=confidence, n_bootstrap=n_bootstrap,
    )
