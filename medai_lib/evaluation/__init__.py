"""Clinical evaluation of binary risk models: metrics with confidence intervals, ROC/PR curves, calibration,
decision curves, operating points and subgroups; ``evaluate`` runs them all.

Convention: ``y_true`` is 0/1 (1 = disease present); a case is test-positive when ``y_score >= threshold``.
"""
from medai_lib.evaluation.calibration import (
    CalibrationFit,
    CalibrationSummary,
    IsotonicRecalibrator,
    PlattRecalibrator,
    brier_score,
    calibration_slope_intercept,
    calibration_summary,
    expected_calibration_error,
    reliability_curve,
)
from medai_lib.evaluation.clusters import cluster_bootstrap
from medai_lib.evaluation.conformal import (
    ConformalSets,
    conformal_sets,
    coverage_by_group,
    split_conformal_threshold,
)
from medai_lib.evaluation.decision_curve import (
    best_strategy_spans, decision_curve, net_benefit, net_benefit_at_prevalence, net_benefit_table,
)
from medai_lib.evaluation.fairness import (
    GroupAudit,
    age_bands,
    gap_sources,
    group_audit,
    implied_fpr,
    plot_group_audit,
    ppv_at_prevalence,
)
from medai_lib.evaluation.monitoring import (
    ShiftTest,
    detect_shift,
    false_alarm_rate,
    monitor_batches,
    plot_monitoring,
)
from medai_lib.evaluation.operating_points import OperatingPoint, operating_point
from medai_lib.evaluation.proportions import log_ratio_interval, wilson_interval
from medai_lib.evaluation.report import EvaluationReport, evaluate
from medai_lib.evaluation.reporting import ModelCard, model_card, reporting_checklist
from medai_lib.evaluation.roc import (
    AucComparison,
    AucEstimate,
    PrCurve,
    RocCurve,
    auc_bootstrap,
    auc_delong,
    compare_aucs,
    delong_covariance,
    pr_curve,
    roc_curve,
)
from medai_lib.evaluation.selective import (
    AbstentionRule,
    fit_abstention_rule,
    plot_selective_curve,
    selective_curve,
)
from medai_lib.evaluation.simulation import make_binormal
from medai_lib.evaluation.subgroups import subgroup_table
from medai_lib.evaluation.threshold import (
    ConfusionTable,
    NaturalFrequencies,
    confusion_table,
    natural_frequencies,
    predictive_values,
    table_metrics,
    threshold_metrics,
)

__all__ = [
    "best_strategy_spans", "net_benefit_table",
    "AucComparison", "AucEstimate", "CalibrationFit", "CalibrationSummary", "ConfusionTable",
    "EvaluationReport", "IsotonicRecalibrator", "NaturalFrequencies", "OperatingPoint",
    "PlattRecalibrator", "PrCurve", "RocCurve", "auc_bootstrap", "auc_delong", "brier_score",
    "calibration_slope_intercept", "calibration_summary", "cluster_bootstrap", "compare_aucs", "confusion_table",
    "decision_curve", "delong_covariance", "evaluate", "expected_calibration_error", "log_ratio_interval", "make_binormal",
    "natural_frequencies", "net_benefit", "net_benefit_at_prevalence", "operating_point", "pr_curve", "predictive_values",
    "reliability_curve", "roc_curve", "subgroup_table", "table_metrics", "threshold_metrics",
    "wilson_interval",
    # level 5: audits, conformal sets, abstention, monitoring, reporting
    "AbstentionRule", "ConformalSets", "GroupAudit", "ModelCard", "ShiftTest", "age_bands", "conformal_sets",
    "coverage_by_group", "detect_shift", "false_alarm_rate", "fit_abstention_rule", "gap_sources", "group_audit",
    "implied_fpr", "model_card", "monitor_batches", "plot_group_audit", "plot_monitoring",
    "plot_selective_curve", "ppv_at_prevalence", "reporting_checklist", "selective_curve",
    "split_conformal_threshold",
]
