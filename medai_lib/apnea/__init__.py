"""Sleep apnea track: synthetic polysomnography nights, EDF+ I/O via MNE, AASM scoring and agreement.

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
from medai_lib.apnea.files import make_sleep_cohort_files
from medai_lib.apnea.plotting import plot_psg_window
from medai_lib.apnea.realdata import (
    ApneaECGRecord,
    list_apnea_ecg_records,
    list_psg_recordings,
    read_apnea_ecg,
    read_nsrr_annotations,
)
from medai_lib.apnea.scoring import ScoringResult, score_night, score_psg
from medai_lib.apnea.simulate import (
    BENCHMARK_COHORT,
    CHANNELS,
    SAMPLING_RATES,
    SEVERITY_CUTOFFS,
    Night,
    NightConfig,
    SleepCohort,
    make_benchmark_cohort,
    make_night,
    make_sleep_cohort,
    severity_class,
)

__all__ = [
    "AgreementSummary", "ApneaECGRecord", "BENCHMARK_COHORT", "BlandAltman", "CHANNELS", "CHANNEL_ALIASES",
    "Night", "NightConfig", "PSGRecording", "SAMPLING_RATES", "SEVERITY_CUTOFFS", "ScoringResult",
    "SleepCohort", "agreement_summary", "bland_altman", "list_apnea_ecg_records", "list_psg_recordings",
    "make_benchmark_cohort", "make_night", "make_sleep_cohort", "make_sleep_cohort_files",
    "match_channels", "plot_bland_altman", "plot_psg_window", "read_apnea_ecg", "read_edf_header",
    "read_nsrr_annotations", "read_psg", "read_psg_raw", "score_night", "score_psg", "severity_class",
    "severity_kappa", "write_psg_edf",
]
