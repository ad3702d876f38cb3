"""Re-scoring a night's respiratory disturbances under different rules (3% vs 4%, arousals, thresholds).

Each disturbance's measured flow drop, desaturation, arousal and duration are fixed; the rule decides
which ones count. The AHI and the severity class of the same patient move with the rule.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.apnea.simulate import severity_class
from medai_lib.errors import MedaiInputError

_NEEDED = ("duration_s", "type", "flow_drop", "desat_pct", "arousal")


@dataclass(frozen=True)
class RuleResult:
    """What one scoring rule gives: ``counted`` (bool per disturbance), counts, AHI and severity."""

    counted: np.ndarray
    n_apneas: int
    n_hypopneas: int
    ahi: float
    severity: str
    hours: float


def apply_scoring_rule(events: pd.DataFrame, hours: float, *, desat_pct: float = 3.0, use_arousal: bool = True,
                       min_flow_drop: float = 0.3, min_duration_s: float = 10.0) -> RuleResult:
    """Count apneas and hypopneas under a hypopnea rule and return the AHI.

    Apneas (flow down by >= 90%) count when they last ``min_duration_s``; hypopneas when they last as
    long, the flow drops by at least ``min_flow_drop`` and the SpO2 falls by ``desat_pct`` or more (or,
    with ``use_arousal``, an EEG arousal ends them). AASM 2012 recommended: 3% or arousal; the CMS /
    AASM "acceptable" rule: 4% without arousals.

    Parameters
    ----------
    events : DataFrame
        One row per disturbance with ``duration_s, type, flow_drop, desat_pct, arousal`` (``night.events``).
    hours : float
        The denominator (hours of sleep for a PSG).
    desat_pct, use_arousal, min_flow_drop, min_duration_s : the rule

    Returns
    -------
    RuleResult

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=2, target_ahi=20, random_state=0)
    >>> r = apply_scoring_rule(night.events, night.total_sleep_time_h)
    >>> bool(np.isclose(r.ahi, night.true_ahi))
    True
    """
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"events must be a DataFrame such as night.events; got {type(events).__name__}.")
    missing = [c for c in _NEEDED if c not in events.columns]
    if missing:
        raise MedaiInputError(f"events is missing columns {missing}; pass a ground-truth table such as "
                              "night.events (scorer output has no flow_drop for rejected events).")
    if not (isinstance(hours, (int, float, np.floating)) and hours > 0):
        raise MedaiInputError(f"hours must be a positive number of hours of sleep; got {hours!r}.")
    if not 0 <= desat_pct <= 20:
        raise MedaiInputError(f"desat_pct must be between 0 and 20 (% saturation); got {desat_pct!r}.")
    if not 0 < min_flow_drop < 0.9:
        raise MedaiInputError(f"min_flow_drop must be a fraction between 0 and 0.9, e.g. 0.3; got {min_flow_drop!r}.")
    long_enough = events["duration_s"].to_numpy(float) >= min_duration_s
    apnea = (events["type"] != "hypopnea").to_numpy()
    hyp_ok = (events["flow_drop"].to_numpy(float) >= min_flow_drop) & (
        (events["desat_pct"].to_numpy(float) >= desat_pct)
        | (bool(use_arousal) & events["arousal"].to_numpy(bool)))
    counted = long_enough & (apnea | hyp_ok)
    n_ap = int((counted & apnea).sum())
    n_hy = int((counted & ~apnea).sum())
    ahi = (n_ap + n_hy) / float(hours)
    return RuleResult(counted=counted, n_apneas=n_ap, n_hypopneas=n_hy, ahi=float(ahi),
                      severity=str(severity_class(ahi)), hours=float(hours))


def rule_comparison(events: pd.DataFrame, hours: float) -> pd.DataFrame:
    """AHI and severity of one night under the common rules (3% or arousal, 3%, 4%, 4% or arousal).

    Returns
    -------
    DataFrame indexed by rule: ``n_apneas, n_hypopneas, ahi, severity``.
    """
    rows = []
    for name, d, a in (("3% or arousal (AASM 2012)", 3.0, True), ("3% only", 3.0, False),
                       ("4% only (CMS)", 4.0, False), ("4% or arousal", 4.0, True)):
        r = apply_scoring_rule(events, hours, desat_pct=d, use_arousal=a)
        rows.append({"rule": name, "n_apneas": r.n_apneas, "n_hypopneas": r.n_hypopneas, "ahi": r.ahi,
                     "severity": r.severity})
    return pd.DataFrame(rows).set_index("rule")


def rule_effect_by_subgroup(ahi_3a, ahi_4, covariates: pd.DataFrame) -> pd.DataFrame:
    """How much the 4% rule lowers the AHI against the 3%-or-arousal rule, by sex, age and BMI group.

    Parameters
    ----------
    ahi_3a, ahi_4 : array_like of float, shape (n_subjects,)
        Each subject's AHI under rule 1A (3% or arousal) and rule 1B (4%).
    covariates : DataFrame, n_subjects rows in the same order
        ``sex`` (``"F"``/``"M"``), ``age`` (years) and ``bmi`` (kg/m2), as ``cohort.subjects``.

    Returns
    -------
    DataFrame indexed by subgroup (``women``, ``men``, ``age < 50``, ``age >= 50``, ``BMI < 30``,
    ``BMI >= 30``) with ``n``, ``ahi_3a`` and ``ahi_4`` (means), ``drop_pct`` (mean of each subject's
    relative drop, subjects with an AHI of 0 left out) and ``reclassified`` (share changing severity class).

    Examples
    --------
    >>> cov = pd.DataFrame({"sex": ["F", "M"], "age": [40.0, 60.0], "bmi": [25.0, 35.0]})
    >>> rule_effect_by_subgroup([10.0, 20.0], [5.0, 18.0], cov)["drop_pct"].round(0).tolist()
    [50.0, 10.0, 50.0, 10.0, 50.0, 10.0]
    """
    a3 = np.asarray(ahi_3a, dtype=float)
    a4 = np.asarray(ahi_4, dtype=float)
    missing = [c for c in ("sex", "age", "bmi") if c not in covariates.columns]
    if missing:
        raise MedaiInputError(f"covariates is missing columns {missing}; pass cohort.subjects (sex, age, bmi).")
    if not len(a3) == len(a4) == len(covariates):
        raise MedaiInputError(f"ahi_3a, ahi_4 and covariates must have one row per subject; got {len(a3)}, "
                              f"{len(a4)} and {len(covariates)}.")
    cov = covariates.reset_index(drop=True)
    groups = {"women": cov["sex"] == "F", "men": cov["sex"] == "M", "age < 50": cov["age"] < 50,
              "age >= 50": cov["age"] >= 50, "BMI < 30": cov["bmi"] < 30, "BMI >= 30": cov["bmi"] >= 30}
    drop = np.where(a3 > 0, 100 * (1 - a4 / np.where(a3 > 0, a3, 1)), np.nan)
    moved = severity_class(a3) != severity_class(a4)
    rows = []
    for name, sel in groups.items():
        m = sel.to_numpy(bool)
        rows.append({"subgroup": name, "n": int(m.sum()),
                     "ahi_3a": float(a3[m].mean()) if m.any() else np.nan,
                     "ahi_4": float(a4[m].mean()) if m.any() else np.nan,
                     "drop_pct": float(np.nanmean(drop[m])) if np.isfinite(drop[m]).any() else np.nan,
                     "reclassified": float(moved[m].mean()) if m.any() else np.nan})
    return pd.DataFrame(rows).set_index("subgroup")


def flow_amplitude_ratio(flow: np.ndarray, fs: float, *, grid_hz: float = 4.0) -> np.ndarray:
    """Breath amplitude relative to the recent baseline (1 = normal breathing, 0 = no flow), on a grid.

    The peak-to-trough excursion over a sliding ~5-s window (about one breath), divided by the 70th
    percentile of that envelope over the surrounding 5 minutes (the pre-event baseline of the AASM rules).

    Parameters
    ----------
    flow : ndarray, shape (n_samples,)
        Nasal pressure or airflow.
    fs : float
        Its sampling rate in Hz (>= 8).
    grid_hz : float, default 4.0
        Rate of the returned series.

    Returns
    -------
    ndarray of float, shape (int(n_samples / fs * grid_hz),)

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=0.5, random_state=0, channels=("flow",))
    >>> r = flow_amplitude_ratio(night.signals["flow"], night.sfreq["flow"])
    >>> r.shape, bool(0.8 < np.median(r) < 1.2)
    ((7200,), True)
    """
    from scipy import signal as sps
    from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

    x = np.asarray(flow, dtype=np.float32)
    if x.ndim != 1 or len(x) < 60 * fs:
        raise MedaiInputError(f"flow must be one channel of at least 60 s; got shape {x.shape} at {fs} Hz.")
    if fs < 8:
        raise MedaiInputError(f"fs is {fs} Hz; the flow envelope needs at least 8 Hz.")
    sos = sps.butter(2, [0.05, 2.0], btype="bandpass", fs=fs, output="sos")
    y = sps.sosfiltfilt(sos, x)
    w = max(int(round(5.0 * fs)), 3)
    env = maximum_filter1d(y, w, mode="nearest") - minimum_filter1d(y, w, mode="nearest")
    idx = (np.arange(int(len(x) / fs * grid_hz)) * fs / grid_hz).astype(int)
    env = uniform_filter1d(env[idx], max(int(grid_hz * 2), 1), mode="nearest")
    base = pd.Series(env).rolling(int(300 * grid_hz), center=True, min_periods=int(30 * grid_hz)).quantile(0.7)
    return (env / np.maximum(base.to_numpy(), 1e-9)).astype(float)


def flow_reductions(ratio: np.ndarray, grid_hz: float, *, threshold: float = 0.7,
                    min_duration_s: float = 10.0) -> pd.DataFrame:
    """Runs where ``ratio`` stays below ``threshold`` for at least ``min_duration_s`` seconds.

    Parameters
    ----------
    ratio : ndarray, shape (n,)
        E.g. :func:`flow_amplitude_ratio` (0.7 = flow down by 30%, the hypopnea threshold).
    grid_hz : float
        Samples per second of ``ratio``.

    Returns
    -------
    DataFrame with ``onset_s, duration_s`` (seconds).

    Examples
    --------
    >>> r = np.ones(200); r[40:100] = 0.5; r[150:160] = 0.5
    >>> flow_reductions(r, 4.0).values.tolist()
    [[10.0, 15.0]]
    """
    r = np.asarray(ratio, dtype=float)
    if r.ndim != 1:
        raise MedaiInputError(f"ratio must be 1-D; got shape {r.shape}.")
    if not grid_hz > 0:
        raise MedaiInputError(f"grid_hz must be a positive rate in Hz; got {grid_hz!r}.")
    d = np.diff(np.r_[0, (r < threshold).astype(np.int8), 0])
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    dur = (stops - starts) / grid_hz
    keep = dur >= min_duration_s
    return pd.DataFrame({"onset_s": starts[keep] / grid_hz, "duration_s": dur[keep]})


__all__ = ["RuleResult", "apply_scoring_rule", "flow_amplitude_ratio", "flow_reductions", "rule_comparison",
           "rule_effect_by_subgroup"]
