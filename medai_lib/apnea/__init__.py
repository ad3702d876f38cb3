"""Sleep apnea track: synthetic polysomnography nights, EDF+ I/O via MNE, AASM scoring and agreement,
per-minute features and models, event forecasting, questionnaire screening and widgets.

Quick start::

    from medai_lib.apnea import make_night, score_night
    night = make_night(hours=8, target_ahi=18, random_state=0)
    result = score_night(night)          # reads signals and hypnogram only
    result.ahi, night.true_ahi
"""
from medai_lib.apnea.agreement import (
    AgreementSummary,
    BlandAltman,
    agreement_summary,
    bland_altman,
    plot_bland_altman,
    severity_kappa,
)
from medai_lib.apnea.edf import (
    CHANNEL_ALIASES,
    PSGRecording,
    match_channels,
    read_edf_header,
    read_psg,
    read_psg_raw,
    write_psg_edf,
)
from medai_lib.apnea.features import (
    ECG_CHANNELS,
    FEATURE_COLUMNS,
    RESP_CHANNELS,
    MinuteDataset,
    detect_r_peaks,
    ecg_derived_signals,
    make_minute_dataset,
    minute_features,
    minute_oracle,
    minute_labels,
    minute_windows,
)
from medai_lib.apnea.files import make_sleep_cohort_files
from medai_lib.apnea.forecast import FORECAST_FEATURES, evaluate_forecast, fit_forecaster, make_forecast_table
from medai_lib.apnea.models import (
    MinuteAHIModel,
    check_windows,
    fit_feature_model,
    fit_minute_ahi,
    leakage_comparison,
    make_minute_cnn,
    predict_minutes,
    random_minute_split,
    subject_bootstrap,
    subject_split,
    train_minute_cnn,
)
from medai_lib.apnea.plotting import plot_hypnogram, plot_psg_window
from medai_lib.apnea.rules import apply_scoring_rule, flow_amplitude_ratio, flow_reductions, rule_comparison
from medai_lib.apnea.screening import screening_table, stop_bang_like
from medai_lib.apnea.realdata import (
    ApneaECGRecord,
    list_apnea_ecg_records,
    list_psg_recordings,
    read_apnea_ecg,
    read_nsrr_annotations,
)
from medai_lib.apnea.scoring import ScoringResult, score_cohort, score_night, score_psg
from medai_lib.apnea.simulate import (
    BENCHMARK_COHORT,
    CHANNELS,
    SAMPLING_RATES,
    SEVERITY_CUTOFFS,
    Night,
    NightConfig,
    REFERENCE_SCORER,
    SleepCohort,
    make_benchmark_cohort,
    make_night,
    make_sleep_cohort,
    reference_annotation_probability,
    severity_class,
)

__all__ = [
    "AgreementSummary", "ApneaECGRecord", "BENCHMARK_COHORT", "BlandAltman", "CHANNELS", "CHANNEL_ALIASES",
    "Night", "NightConfig", "PSGRecording", "REFERENCE_SCORER", "SAMPLING_RATES", "SEVERITY_CUTOFFS",
    "ScoringResult",
    "SleepCohort", "agreement_summary", "bland_altman", "list_apnea_ecg_records", "list_psg_recordings",
    "make_benchmark_cohort", "make_night", "make_sleep_cohort", "make_sleep_cohort_files",
    "match_channels", "plot_bland_altman", "plot_psg_window", "read_apnea_ecg", "read_edf_header",
    "read_nsrr_annotations", "read_psg", "reference_annotation_probability", "read_psg_raw", "score_cohort",
    "score_night",
    "score_psg", "severity_class",
    "severity_kappa", "write_psg_edf",
    # part 2: learning from signals, forecasting, screening
    "ECG_CHANNELS", "FEATURE_COLUMNS", "FORECAST_FEATURES", "MinuteAHIModel", "MinuteDataset", "RESP_CHANNELS",
    "apply_scoring_rule", "check_windows", "flow_amplitude_ratio", "flow_reductions", "detect_r_peaks", "ecg_derived_signals", "evaluate_forecast",
    "fit_feature_model", "fit_forecaster", "fit_minute_ahi", "leakage_comparison", "make_forecast_table",
    "make_minute_cnn", "make_minute_dataset", "minute_features", "minute_labels", "minute_oracle",
    "minute_windows",
    "plot_hypnogram", "predict_minutes", "random_minute_split", "rule_comparison", "screening_table",
    "stop_bang_like", "subject_bootstrap", "subject_split", "train_minute_cnn",
]
