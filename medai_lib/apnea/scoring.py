"""AASM 2012 respiratory scoring from signals: apneas, hypopneas, arousals, desaturations, AHI, ODI.

The scorer reads only signals (flow, thoracic and abdominal effort, SpO2, EEG, chin EMG) and, when
present, the sleep-stage hypnogram; it never sees a generator's ground truth.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import signal as sps
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from medai_lib.apnea.simulate import SEVERITY_CUTOFFS, SLEEP_STAGES, severity_class
from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)

_GRID = 4.0  # Hz, the grid on which envelopes are compared
# The sliding-window envelope narrows an event by about a window; these factors (calibrated once on
# the default synthetic cohort, never on the noisy one) put the edges back.
_EXT_SCALE = 0.4
_CORE_EXT = 1.5
#: The channels the scorer reads (EEG and chin EMG for arousals); synthesise only these to score a cohort.
SCORING_CHANNELS = ("flow", "thorax", "abdomen", "spo2", "eeg", "emg")
_HYPOPNEA_RATIO = 0.7  # AASM: peak flow excursion down by >= 30% from the pre-event baseline
#: How many standard deviations of the (smoothed) oximeter noise a measured fall overstates a true one: the fall is
#: read from the highest to the lowest sample, and noise lifts the first and lowers the second. The noise is
#: estimated per night from the signal itself. Set on the development cohorts, never on the benchmark cohort.
_DESAT_NOISE_K = 1.0
_REMOVE_NOISE_FLOOR = True
_EXCLUDE_LOST_FLOW = True
#: Flow counts as absent (an apnea's >= 90% drop) where its breath amplitude is within what sensor noise alone gives
#: in 95% of windows: in a noisy recording the flat flow of an apnea never reads as 10% of baseline. Capped at 20% of
#: baseline so that a recording whose noise is as large as its breaths does not turn breathing into apneas.
_FLAT_NOISE_Q = 0.95
_FLAT_CAP = 0.2
#: Level shifts of the nasal signal (mouth breathing, a half-displaced cannula) lower every breath for minutes. Where
#: the breathing of the last two minutes (its 85th percentile over 120 s) sits below 75% of the 5-minute baseline,
#: that lower level is the pre-event baseline: events are dips below it, not the whole shifted stretch.
#: Both set on the development cohorts, never on the benchmark cohort.
_LOCAL_WIN_S = 120.0
_LOCAL_Q = 0.85
_SHIFT = 0.75
_MIN_RATES = {"flow": 8.0, "thorax": 8.0, "abdomen": 8.0, "spo2": 0.5, "eeg": 50.0, "emg": 50.0}


@dataclass(frozen=True)
class ScoringResult:
    """What the scorer found in one night.

    Attributes
    ----------
    events : pandas.DataFrame
        ``onset_s, duration_s, type`` (``obstructive_apnea``, ``central_apnea``, ``mixed_apnea``,
        ``hypopnea``), ``min_ratio`` (lowest flow amplitude relative to baseline), ``desat_pct``,
        ``arousal`` (bool).
    arousals : pandas.DataFrame
        EEG arousals detected during sleep: ``onset_s, duration_s``.
    desaturations : pandas.DataFrame
        Oxygen desaturations: ``nadir_s, drop_pct``.
    ahi : float
        Apneas plus hypopneas per hour of sleep (or of monitoring time without a hypnogram).
    odi : float
        Desaturations (>= the rule's threshold) per hour.
    arousal_index : float
        Arousals per hour of sleep.
    hours : float
        The denominator of the AHI: total sleep time, or monitoring time without a hypnogram, less the time
        without a usable flow signal (``flow_lost_s``). ODI and arousal index use the whole time.
    hypopnea_rule : str
        ``"3a"`` (>=3% desaturation or arousal, AASM 2012 recommended) or ``"4"`` (>=4%).
    per_sleep_hour : bool
        True when a hypnogram gave the hours of sleep (the index is an AHI); False when the index is per
        hour of monitoring time (a home sleep test: the REI, respiratory event index).
    flow_lost_s : float
        Seconds (of sleep, or of recording without a hypnogram) during which the airflow signal was lost
        (cannula off: flat flow while the belts keep breathing). This scorer has no backup flow sensor, so no
        event can be scored there and that time is left out of ``hours``: a lab convention borrowed from the
        home-test rule of leaving artefact out of monitoring time, not an AASM rule for PSG. Report it
        (:func:`~medai_lib.apnea.night_report` does).
    flow_lost_intervals : tuple of (float, float)
        The ``(start_s, end_s)`` intervals behind ``flow_lost_s``, so that indices restricted to a stage or a
        body position (REM AHI, supine AHI) can leave the same time out of their own hours.
    """

    events: pd.DataFrame
    arousals: pd.DataFrame
    desaturations: pd.DataFrame
    ahi: float
    odi: float
    arousal_index: float
    hours: float
    hypopnea_rule: str
    per_sleep_hour: bool = True
    flow_lost_s: float = 0.0
    flow_lost_intervals: tuple = ()

    @property
    def severity(self) -> str:
        """AASM severity class of the AHI."""
        return severity_class(self.ahi)

    def index(self, event_type: str) -> float:
        """Events of one type per hour, e.g. ``result.index("central_apnea")``."""
        return float((self.events["type"] == event_type).sum() / self.hours) if self.hours > 0 else 0.0


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and stop (exclusive) indices of True runs."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _envelope(x: np.ndarray, fs: float, window_s: float) -> np.ndarray:
    """Peak-to-trough excursion over a sliding window of about one breath, on the 4 Hz grid."""
    w = max(int(round(window_s * fs)), 3)
    env = maximum_filter1d(x, w, mode="nearest") - minimum_filter1d(x, w, mode="nearest")
    step = fs / _GRID
    idx = (np.arange(int(len(x) / step)) * step).astype(int)
    return env[idx]


def _noise_range(x: np.ndarray, fs: float, window_s: float, sos, q: float = 0.5) -> float:
    """What sensor noise alone adds to :func:`_envelope`: the median (or quantile ``q``) peak-to-trough excursion
    of white noise with the level measured in ``x`` above the breathing band, through the same filter and window.

    Breath amplitudes are compared as ratios, and an additive noise floor pulls every ratio towards 1, most for
    the deepest reductions (a flat, noisy flow never reads as zero). The floor is removed in quadrature before
    ratios are taken.
    The level comes from the upper part of the spectrum (60-90% of the Nyquist frequency), where breathing has
    no power; a median over Welch segments keeps movement bursts out of it."""
    nyq = fs / 2.0
    seg = x[: int(fs * 3600)]
    if len(seg) < int(fs * 64):
        return 0.0
    f, p = sps.welch(seg, fs=fs, nperseg=int(fs * 8), average="median")
    band = (f >= 0.6 * nyq) & (f <= 0.9 * nyq) & (f > 2.5)
    if not band.any():
        return 0.0
    sigma = float(np.sqrt(np.median(p[band]) * nyq))  # white noise: one-sided density times bandwidth
    noise = np.random.default_rng(0).standard_normal(int(fs * 600)).astype(np.float32) * sigma
    return float(np.quantile(_envelope(sps.sosfiltfilt(sos, noise).astype(np.float32), fs, window_s), q))


def _without_noise(env: np.ndarray, floor: float) -> np.ndarray:
    if not _REMOVE_NOISE_FLOOR or floor <= 0:
        return env
    return np.sqrt(np.maximum(env.astype(np.float64) ** 2 - floor**2, 0.0)).astype(np.float32)


def _rolling_quantile(x: np.ndarray, window: int, q: float) -> np.ndarray:
    s = pd.Series(x)
    return s.rolling(window, center=True, min_periods=max(window // 4, 1)).quantile(q).to_numpy()


def _breath_period(flow: np.ndarray, fs: float) -> float:
    f, p = sps.welch(flow[: int(fs * 3600)], fs=fs, nperseg=int(fs * 64))
    band = (f > 0.1) & (f < 0.7)
    peak = f[band][np.argmax(p[band])] if band.any() else 0.25
    return float(1.0 / peak)


def _detect_arousals(eeg: np.ndarray, fs_eeg: float, emg: "np.ndarray | None", fs_emg: float,
                     stage_sec: "np.ndarray | None") -> pd.DataFrame:
    """EEG arousals: >= 3 s of abrupt alpha/beta increase (with chin EMG increase in REM)."""
    per = int(round(fs_eeg))
    n_sec = len(eeg) // per
    seg = eeg[: n_sec * per].reshape(n_sec, per)
    spec = np.abs(np.fft.rfft(seg - seg.mean(axis=1, keepdims=True), axis=1)) ** 2
    f = np.fft.rfftfreq(per, 1.0 / fs_eeg)
    fast = spec[:, ((f >= 8) & (f < 11.5)) | ((f >= 16) & (f < 30))].sum(axis=1)
    slow = spec[:, (f >= 0.5) & (f < 4)].sum(axis=1)
    logf = np.log(fast + 1e-12)
    base = pd.Series(logf).rolling(121, center=True, min_periods=20).median().to_numpy()
    # a broadband movement burst raises slow power too; an arousal raises fast power on its own
    logs = np.log(slow + 1e-12)
    base_s = pd.Series(logs).rolling(121, center=True, min_periods=20).median().to_numpy()
    rise = uniform_filter1d(logf - base, 2, mode="nearest")
    cand = (rise > np.log(3.0)) & ((logs - base_s) < np.log(8.0))
    if emg is not None and stage_sec is not None:
        per_m = int(round(fs_emg))
        m = min(len(emg) // per_m, n_sec)
        emg_rms = np.log(np.sqrt((emg[: m * per_m].reshape(m, per_m) ** 2).mean(axis=1)) + 1e-9)
        emg_rms = np.r_[emg_rms, np.full(n_sec - m, emg_rms[-1] if m else 0.0)]
        emg_base = pd.Series(emg_rms).rolling(121, center=True, min_periods=20).median().to_numpy()
        rem = stage_sec[:n_sec] == "R"
        cand &= ~rem | (emg_rms - emg_base > np.log(2.0))
    if stage_sec is not None:
        cand &= np.isin(stage_sec[:n_sec], SLEEP_STAGES)
    starts, stops = _runs(cand)
    keep = (stops - starts) >= 3
    return pd.DataFrame({"onset_s": starts[keep].astype(float),
                         "duration_s": (stops - starts)[keep].astype(float)})


def _clean_spo2(spo2: np.ndarray, fs: float) -> np.ndarray:
    """Drop physiologically impossible samples (<50% or changes >4%/s) and interpolate over them."""
    x = spo2.astype(float).copy()
    bad = (x < 50) | (x > 100) | ~np.isfinite(x)
    jump = np.abs(np.diff(x, prepend=x[0])) * fs > 4.0
    bad |= maximum_filter1d(jump.astype(np.uint8), int(max(8 * fs, 1)), mode="nearest").astype(bool)
    if bad.all():
        return np.full_like(x, np.nan)
    idx = np.arange(len(x))
    x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return x


def _spo2_noise_sd(spo2: np.ndarray) -> float:
    """Robust estimate of the oximeter's sample-to-sample noise (in % saturation) from the signal itself: the
    median absolute first difference, scaled for white noise (the slow desaturations barely move it)."""
    d = np.diff(spo2[np.isfinite(spo2)])
    if d.size < 10:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def _desaturations_after(spo2: np.ndarray, fs: float, onsets: np.ndarray, ends: np.ndarray,
                         noise_sd: float = 0.0) -> np.ndarray:
    """SpO2 fall (in %) that follows each event, each fall counted for one event only.

    The nadir is sought from the event's end to 45 s after it (the usual lag of the oximeter and the
    circulation), but not past the next event's onset plus 10 s nor before the previous event's nadir;
    the fall is measured from the highest SpO2 between the event's onset (or the previous nadir, if later)
    and that nadir. A desaturation that belongs to the previous event is thereby not counted twice.
    Highest and lowest samples both carry noise, which inflates every fall: ``noise_sd`` (of the signal given)
    times ``_DESAT_NOISE_K`` is taken off each fall.
    """
    out = np.zeros(len(onsets))
    inflation = _DESAT_NOISE_K * noise_sd
    last_nadir = -np.inf
    n = len(spo2)
    for k, (on, end) in enumerate(zip(onsets, ends)):
        nxt = onsets[k + 1] + 10.0 if k + 1 < len(onsets) else np.inf
        na = int(max(end - 5.0, last_nadir + 1.0, on + 5.0) * fs)
        nb = int(min(end + 45.0, nxt) * fs)
        if nb <= na or na >= n:
            continue
        seg = spo2[na:min(nb, n)]
        if not np.isfinite(seg).any():
            continue
        i_nadir = na + int(np.nanargmin(seg))
        pa = int(max(on - 10.0, last_nadir) * fs)
        peak = float(np.nanmax(spo2[max(pa, 0):i_nadir + 1]))
        out[k] = max(peak - float(spo2[i_nadir]) - inflation, 0.0)
        last_nadir = i_nadir / fs
    return out


def _candidates(ratio: np.ndarray, effort: np.ndarray, spo2: np.ndarray, fs_o: float, ar_on: np.ndarray,
                stage_sec: "np.ndarray | None", window: float, spo2_noise: float = 0.0,
                flat: "np.ndarray | None" = None) -> pd.DataFrame:
    """Every run of >= 30% flow reduction with what the rules need to judge it (one row per run)."""
    # the sliding window widens a run by about half a window on each side and the 30% threshold
    # sits partway down the breath-amplitude ramps; calibrated on a development cohort
    ext = _EXT_SCALE * window / 2
    ext_core = _CORE_EXT * window
    starts, stops = _runs(ratio < 0.7)
    n_grid = len(ratio)
    grid_t = np.arange(n_grid) / _GRID
    rows = []
    for a, b in zip(starts, stops):
        seg = ratio[a:b]
        if (b - a) / _GRID + 2 * ext < 8.0:
            continue
        # event edges where the amplitude is halfway between baseline and the event's floor
        level = (1.0 + float(seg.min())) / 2.0
        lo = max(a - int(10 * _GRID), 0)
        above = np.flatnonzero(ratio[lo:a] >= level)
        a2 = lo + above[-1] + 1 if len(above) else lo
        hi = min(b + int(10 * _GRID), n_grid)
        above = np.flatnonzero(ratio[b:hi] >= level)
        b2 = b + above[0] if len(above) else hi
        onset = max(grid_t[a2] - ext, 0.0)
        end = grid_t[b2 - 1] + ext
        if end - onset < 10.0:
            continue
        seg_flat = seg <= 0.1 if flat is None else flat[a:b]  # no flow: an apnea's core
        flat_a, flat_b = _runs(seg_flat)
        longest = ((flat_b - flat_a).max() / _GRID + ext_core) if len(flat_a) else 0.0
        in_sleep = True
        if stage_sec is not None:
            mid = int(min((onset + end) / 2, len(stage_sec) - 1))
            in_sleep = bool(stage_sec[mid] in SLEEP_STAGES)
        core = seg_flat
        eff_core = effort[a:b][core]
        # pre-event baseline (AASM): the typical breath of the stable breathing in the 2 minutes before
        pre = ratio[max(a2 - int(120 * _GRID), 0):a2]
        pre = pre[pre >= 0.7]
        pre_base = float(np.median(pre)) if len(pre) >= 10 * _GRID else 1.0
        rows.append({"onset_s": onset, "duration_s": end - onset, "min_ratio": float(seg.min()),
                     "median_ratio": float(np.median(ratio[a2:b2])), "pre_base": pre_base,
                     "below_s": float((b - a) / _GRID + 2 * ext), "longest_flat_s": longest,
                     "effort": float(np.median(effort[a:b])), "in_sleep": in_sleep,
                     "absent": float((eff_core < 0.25).mean()) if len(eff_core) else 0.0,
                     "absent_first": float((eff_core[: max(len(eff_core) // 4, 1)] < 0.25).mean())
                     if len(eff_core) else 0.0,
                     "absent_last": float((eff_core[-max(len(eff_core) // 3, 1):] < 0.25).mean())
                     if len(eff_core) else 0.0,
                     "arousal": bool(np.any((ar_on >= end - 6) & (ar_on <= end + 6)))})
    cols = ["onset_s", "duration_s", "min_ratio", "median_ratio", "pre_base", "below_s", "longest_flat_s", "effort",
            "in_sleep", "absent", "absent_first", "absent_last", "arousal"]
    cands = pd.DataFrame(rows, columns=cols)
    on = cands["onset_s"].to_numpy(float)
    cands["desat_pct"] = _desaturations_after(spo2, fs_o, on, on + cands["duration_s"].to_numpy(float), spo2_noise)
    return cands


def _classify(cands: pd.DataFrame, hypopnea_rule: str) -> pd.DataFrame:
    """Apply the AASM rules to the candidates: which are apneas (and of which type), hypopneas, or nothing."""
    rows, lost = [], []
    for c in cands.itertuples(index=False):
        if c.duration_s > 120.0 and c.median_ratio < 0.1 and c.effort > 0.5:
            lost.append((c.onset_s, c.onset_s + c.duration_s))
            continue  # flat flow for minutes with normal effort: cannula off, not an apnea
        if not c.in_sleep:
            continue
        if c.longest_flat_s >= 45.0 and c.desat_pct < 2.0 and not c.arousal and c.effort > 0.5:
            lost.append((c.onset_s, c.onset_s + c.duration_s))
            continue  # a minute without flow, steady effort, no desaturation, no arousal: signal loss
        if c.longest_flat_s >= 10.0:
            if c.absent > 0.7:
                etype = "central_apnea"
            elif c.absent_first > 0.7 and c.absent_last < 0.3:
                etype = "mixed_apnea"
            else:
                etype = "obstructive_apnea"
        else:
            # >= 30% below the pre-event baseline over the event as a whole, not at its lowest breath: the
            # lowest point of a noisy amplitude trace dips below 70% in many shallower disturbances
            if c.median_ratio > _HYPOPNEA_RATIO * c.pre_base:
                continue
            # 0.01% slack: EDF stores SpO2 with a finite digital resolution
            ok = c.desat_pct >= 2.99 or c.arousal if hypopnea_rule == "3a" else c.desat_pct >= 3.99
            if not ok:
                continue
            etype = "hypopnea"
        rows.append((c.onset_s, c.duration_s, etype, c.min_ratio, c.desat_pct, c.arousal))
    out = pd.DataFrame(rows, columns=["onset_s", "duration_s", "type", "min_ratio", "desat_pct", "arousal"])
    out.attrs["flow_lost"] = lost
    return out


def _lost_seconds(lost: list, stage_sec: "np.ndarray | None", n_sec: int) -> float:
    """Seconds of sleep (all seconds without a hypnogram) inside the intervals where the flow signal was lost."""
    if not lost or not _EXCLUDE_LOST_FLOW:
        return 0.0
    mask = np.zeros(n_sec, bool)
    for a, b in lost:
        mask[max(int(a), 0):min(int(np.ceil(b)), n_sec)] = True
    if stage_sec is not None:
        mask &= np.isin(stage_sec[:n_sec], SLEEP_STAGES)
    return float(mask.sum())



def score_psg(
    signals: Mapping[str, np.ndarray],
    sfreq: Mapping[str, float],
    *,
    hypnogram: "np.ndarray | None" = None,
    epoch_s: float = 30.0,
    hypopnea_rule: str = "3a",
) -> ScoringResult:
    """Score respiratory events by the AASM 2012 rules from raw signals.

    Apnea: flow amplitude (peak-to-trough, per breath) down by >= 90% from the pre-event baseline
    for >= 10 s; obstructive if effort continues, central if effort is absent, mixed if absent
    first and then resumes. Hypopnea: down by >= 30% for >= 10 s (the event's median amplitude against
    the median of the stable breathing in the 2 minutes before it) with a >= 3% desaturation or an
    EEG arousal (rule ``"3a"``), or with a >= 4% desaturation (rule ``"4"``).

    A desaturation belongs to an event when its nadir falls between the event's end and 45 s after it
    (and before the next event is well under way); its depth is measured from the highest SpO2 since the
    event began (or since the previous event's nadir), so one fall is never credited to two events. An
    arousal belongs to an event when it starts within 6 s of the event's end.

    Noise is measured on each recording, not assumed: the noise floor of the flow and belt signals (from the
    spectrum above the breathing band) is removed from breath amplitudes before ratios are taken, and each
    fall of SpO2 is reduced by the oximeter noise left after smoothing (read from highest to lowest sample, a
    noisy fall looks deeper than it is). Where the flow signal is lost (flat flow for minutes while the belts
    keep breathing: a displaced cannula) no event can be scored, so that time is left out of the AHI's hours
    (``flow_lost_s``). Flow whose breaths are no larger than sensor noise alone counts as absent (an apnea), and
    where the nasal signal's level shifts down for minutes (mouth breathing) the shifted level is the pre-event
    baseline, so the events inside such a stretch are scored one by one.

    Parameters
    ----------
    signals : mapping of str to ndarray, shape (n_samples_channel,)
        Needs ``flow``, ``thorax``, ``abdomen`` and ``spo2``; ``eeg`` (and ``emg`` for REM) enable
        arousal detection, which rule ``"3a"`` uses.
    sfreq : mapping of str to float
        Sampling rate of each channel in Hz (flow and effort >= 8 Hz, SpO2 >= 0.5 Hz, EEG >= 50 Hz).
    hypnogram : ndarray of str, shape (n_epochs,), optional
        Stages ``W, N1, N2, N3, R`` (or ``?`` for unscored). With it, events in wake are ignored and
        indices are per hour of sleep; without it (home sleep test) per hour of recording.
    epoch_s : float, default 30.0
    hypopnea_rule : {"3a", "4"}, default "3a"

    Returns
    -------
    ScoringResult

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=1.0, target_ahi=25, random_state=0)
    >>> result = score_psg(night.signals, night.sfreq, hypnogram=night.hypnogram)
    >>> round(result.ahi) > 10
    True
    """
    if hypopnea_rule not in ("3a", "4"):
        raise MedaiInputError(f"hypopnea_rule must be '3a' or '4'; got {hypopnea_rule!r}.")
    required = ["flow", "thorax", "abdomen", "spo2"]
    missing = [c for c in required if c not in signals]
    if missing:
        raise MedaiInputError(
            f"signals is missing {missing}; scoring needs {required} (plus 'eeg' for arousals)."
        )
    for ch in list(signals):
        if ch in _MIN_RATES:
            if ch not in sfreq:
                raise MedaiInputError(f"sfreq has no rate for channel {ch!r}; add sfreq[{ch!r}] in Hz.")
            if float(sfreq[ch]) < _MIN_RATES[ch]:
                raise MedaiInputError(
                    f"channel {ch!r} is sampled at {sfreq[ch]} Hz; scoring needs at least "
                    f"{_MIN_RATES[ch]} Hz. Use a recording with a faster {ch} channel."
                )
    fs = float(sfreq["flow"])
    if float(sfreq["thorax"]) != fs or float(sfreq["abdomen"]) != fs:
        raise MedaiInputError(
            f"flow, thorax and abdomen must share one sampling rate; got {sfreq['flow']}, "
            f"{sfreq['thorax']} and {sfreq['abdomen']} Hz. Resample them to one rate first."
        )
    flow = np.asarray(signals["flow"], dtype=np.float32)
    duration = len(flow) / fs
    if duration < 300:
        raise MedaiInputError(f"the recording is {duration:.0f} s long; scoring needs at least 5 minutes.")
    stage_sec = None
    if hypnogram is not None:
        hyp = np.asarray(hypnogram).astype(str)
        stage_sec = np.repeat(hyp, int(epoch_s))
        n_sec = int(duration)
        if len(stage_sec) < n_sec:
            stage_sec = np.r_[stage_sec, np.full(n_sec - len(stage_sec), "?")]
        hours = float(np.isin(hyp, SLEEP_STAGES).sum() * epoch_s / 3600.0)
    else:
        hours = duration / 3600.0

    # --- flow and effort envelopes on a 4 Hz grid
    sos = sps.butter(2, [0.05, 2.0], btype="bandpass", fs=fs, output="sos")
    period = _breath_period(flow, fs)
    window = 1.1 * period
    thorax, abdomen = np.asarray(signals["thorax"], np.float32), np.asarray(signals["abdomen"], np.float32)
    floor = _noise_range(flow, fs, window, sos)
    env = _without_noise(_envelope(sps.sosfiltfilt(sos, flow).astype(np.float32), fs, window), floor)
    env_t = _without_noise(_envelope(sps.sosfiltfilt(sos, thorax), fs, window), _noise_range(thorax, fs, window, sos))
    env_a = _without_noise(_envelope(sps.sosfiltfilt(sos, abdomen), fs, window),
                           _noise_range(abdomen, fs, window, sos))
    win = int(300 * _GRID)
    base = _rolling_quantile(env, win, 0.7)
    local = _rolling_quantile(env, int(_LOCAL_WIN_S * _GRID), _LOCAL_Q)
    base = np.where(local < _SHIFT * base, local, base)  # a shifted signal level is the new baseline
    # average over about one breath so that one slightly larger breath does not split an event
    smooth = max(int(period * _GRID / 2), 1)
    ratio = uniform_filter1d(env / np.maximum(base, 1e-9), smooth, mode="nearest")
    effort = np.maximum(env_t / np.maximum(_rolling_quantile(env_t, win, 0.7), 1e-9),
                        env_a / np.maximum(_rolling_quantile(env_a, win, 0.7), 1e-9))

    # --- SpO2 and arousals
    fs_o = float(sfreq["spo2"])
    spo2 = _clean_spo2(np.asarray(signals["spo2"]), fs_o)
    n_smooth = max(int(round(3 * fs_o)), 1)
    spo2_noise = _spo2_noise_sd(spo2) / np.sqrt(n_smooth)  # what is left of white noise after the smoothing
    spo2 = uniform_filter1d(spo2, n_smooth, mode="nearest")  # oximeter noise
    if "eeg" in signals:
        arousals = _detect_arousals(np.asarray(signals["eeg"], np.float32), float(sfreq["eeg"]),
                                    None if "emg" not in signals else np.asarray(signals["emg"], np.float32),
                                    float(sfreq.get("emg", 100.0)), stage_sec)
    else:
        arousals = pd.DataFrame({"onset_s": [], "duration_s": []})
        if hypopnea_rule == "3a":
            logger.warning("no EEG channel: hypopneas are scored on desaturation only")

    # no flow: below 10% of baseline, or no larger than sensor noise alone (``env`` has the median noise removed)
    noise_hi = np.sqrt(max(_noise_range(flow, fs, window, sos, _FLAT_NOISE_Q) ** 2 - floor**2, 0.0))
    flat = (ratio <= 0.1) | (uniform_filter1d(env, smooth, mode="nearest") <= np.minimum(noise_hi, _FLAT_CAP * base))
    cands = _candidates(ratio, effort, spo2, fs_o, arousals["onset_s"].to_numpy(), stage_sec, window, spo2_noise,
                        flat)
    events = _classify(cands, hypopnea_rule)
    lost_s = _lost_seconds(events.attrs.get("flow_lost", []), stage_sec, int(duration))
    all_hours, hours = hours, max(hours - lost_s / 3600.0, 0.0)

    # --- oxygen desaturation index
    thr = 3.0 if hypopnea_rule == "3a" else 4.0
    if np.isfinite(spo2).all() and len(spo2) > 10:
        with warnings.catch_warnings():  # flat stretches (bridged probe-off periods) have no prominence
            warnings.filterwarnings("ignore", message="some peaks have a prominence of 0")
            peaks, props = sps.find_peaks(-spo2, prominence=thr, wlen=int(120 * fs_o),
                                          distance=int(max(10 * fs_o, 1)))
        nadir_s = peaks / fs_o
        drops = props["prominences"]
        if stage_sec is not None:
            keep = np.isin(stage_sec[np.minimum(nadir_s.astype(int), len(stage_sec) - 1)], SLEEP_STAGES)
            nadir_s, drops = nadir_s[keep], drops[keep]
    else:
        nadir_s, drops = np.zeros(0), np.zeros(0)
    desats = pd.DataFrame({"nadir_s": nadir_s, "drop_pct": drops})
    ahi = len(events) / hours if hours > 0 else 0.0
    odi = len(desats) / all_hours if all_hours > 0 else 0.0   # oximetry and EEG do not need the flow signal
    ar_index = len(arousals) / all_hours if all_hours > 0 else 0.0
    return ScoringResult(events=events, arousals=arousals, desaturations=desats, ahi=float(ahi),
                         odi=float(odi),
                         arousal_index=float(ar_index), hours=float(hours), hypopnea_rule=hypopnea_rule,
                         per_sleep_hour=hypnogram is not None, flow_lost_s=lost_s,
                         flow_lost_intervals=tuple((float(a), float(b)) for a, b in
                                                   (events.attrs.get("flow_lost", []) if _EXCLUDE_LOST_FLOW else [])))


def score_night(recording, *, hypopnea_rule: str = "3a", use_hypnogram: bool = True,
                home_test: bool = False) -> ScoringResult:
    """Score a :class:`Night` or :class:`PSGRecording` from its signals (and hypnogram) only.

    Parameters
    ----------
    recording : Night or PSGRecording
        Only ``signals``, ``sfreq``, ``hypnogram`` and ``epoch_s`` are read.
    hypopnea_rule : {"3a", "4"}, default "3a"
    use_hypnogram : bool, default True
        False divides by the hours of recording instead of sleep (events in wake included); EEG arousals
        still count.
    home_test : bool, default False
        Score what a home sleep apnea test records: flow, effort belts and oximetry, no EEG or EMG. No
        hypnogram (per hour of recording: the respiratory event index) and no arousals, so a hypopnea
        counts only with its desaturation. Implies ``use_hypnogram=False``.

    Returns
    -------
    ScoringResult

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> result = score_night(make_night(hours=1.0, target_ahi=5, random_state=1))
    >>> result.severity in ("normal", "mild", "moderate", "severe")
    True
    """
    hyp = getattr(recording, "hypnogram", None) if use_hypnogram and not home_test else None
    if hyp is not None and len(hyp) == 0:
        hyp = None
    epoch_s = float(getattr(recording, "epoch_s", 30.0))
    if not home_test:
        return score_psg(recording.signals, recording.sfreq, hypnogram=hyp, epoch_s=epoch_s,
                         hypopnea_rule=hypopnea_rule)
    # The channels a home device records. Without EEG the scorer warns that hypopneas count on
    # desaturation only: that is what a home test asked for, so the warning is not shown.
    signals = {ch: x for ch, x in recording.signals.items() if ch not in ("eeg", "emg", "eog")}
    quiet = logging.Filter()
    quiet.filter = lambda record: not record.getMessage().startswith("no EEG channel")
    logger.addFilter(quiet)
    try:
        return score_psg(signals, recording.sfreq, hypnogram=None, epoch_s=epoch_s, hypopnea_rule=hypopnea_rule)
    finally:
        logger.removeFilter(quiet)


#: Version of :func:`score_cohort`'s table: bump it whenever the scorer's output changes, so cached scores
#: are not reused. (The cache key also holds a hash of this module's and the simulator's source.)
SCORER_VERSION = "4"

_COHORT_COLUMNS = ("subject_id", "true_ahi", "true_ahi_4pct", "reference_ahi", "tst_h", "ahi", "odi",
                   "arousal_index", "hours", "n_events", "severity")


def score_cohort(cohort, *, hypopnea_rule: str = "3a", use_hypnogram: bool = True,
                 cache: bool = True, progress: bool = False) -> pd.DataFrame:
    """Score every night of a :class:`~medai_lib.apnea.SleepCohort` with :func:`score_night`.

    The table is cached on disk (under ``$MEDAI_DATA``) when the cohort is a plain
    :func:`~medai_lib.apnea.make_sleep_cohort` draw with an integer seed (see
    :attr:`SleepCohort.generation`), keyed by its parameters, its ``channels``, the scoring options and
    the generator and scorer versions: a second call reads it instead of simulating and scoring again.

    Parameters
    ----------
    cohort : SleepCohort
    hypopnea_rule : {"3a", "4"}, default "3a"
    use_hypnogram : bool, default True
        See :func:`score_night`.
    cache : bool, default True
        False always recomputes (and writes nothing).
    progress : bool, default False
        Show a progress bar over the nights while simulating and scoring (not when read from the cache).

    Returns
    -------
    pandas.DataFrame
        One row per subject: ``subject_id``, the night's ground truth (``true_ahi, true_ahi_4pct,
        reference_ahi, tst_h``) and what the scorer found (``ahi, odi, arousal_index, hours, n_events,
        severity``); ``ahi`` equals ``score_night(night, ...).ahi``.

    Examples
    --------
    >>> from medai_lib.apnea import make_sleep_cohort
    >>> table = score_cohort(make_sleep_cohort(2, hours=0.5, random_state=0), cache=False)
    >>> list(table["subject_id"])
    ['SYN-0000', 'SYN-0001']
    """
    from medai_lib.apnea.simulate import SleepCohort

    if not isinstance(cohort, SleepCohort):
        raise TypeError(f"cohort must be a SleepCohort from make_sleep_cohort; got {type(cohort).__name__}.")
    if hypopnea_rule not in ("3a", "4"):
        raise MedaiInputError(f"hypopnea_rule must be '3a' or '4'; got {hypopnea_rule!r}.")
    generation = cohort.generation if cache else None
    if generation is None:
        return _score_cohort(cohort, hypopnea_rule, bool(use_hypnogram), progress)
    import sys

    from medai_lib.apnea import simulate
    from medai_lib.apnea._store import cached_folder, code_digest, load_frame, save_frame

    params = {"cohort": generation, "channels": None if cohort.channels is None else list(cohort.channels),
              "hypopnea_rule": hypopnea_rule, "use_hypnogram": bool(use_hypnogram),
              "code": code_digest(simulate, sys.modules[__name__])}

    def create(folder) -> None:
        save_frame(_score_cohort(cohort, hypopnea_rule, bool(use_hypnogram), progress), folder, "scores")

    folder = cached_folder("apnea_cohort_scores", params, f"{simulate.GENERATOR_VERSION}.{SCORER_VERSION}", create)
    return load_frame(folder, "scores")


def _score_cohort(cohort, hypopnea_rule: str, use_hypnogram: bool, progress: bool = False) -> pd.DataFrame:
    rows = []
    nights = cohort
    if progress:
        from tqdm.auto import tqdm

        nights = tqdm(cohort, total=len(cohort), desc="simulating and scoring nights", unit="night")
    for night in nights:
        r = score_night(night, hypopnea_rule=hypopnea_rule, use_hypnogram=use_hypnogram)
        rows.append({"subject_id": night.subject_id, "true_ahi": float(night.true_ahi),
                     "true_ahi_4pct": float(night.true_ahi_4pct), "reference_ahi": float(night.reference_ahi),
                     "tst_h": float(night.total_sleep_time_h), "ahi": float(r.ahi), "odi": float(r.odi),
                     "arousal_index": float(r.arousal_index), "hours": float(r.hours),
                     "n_events": int(len(r.events)), "severity": str(r.severity)})
    return pd.DataFrame(rows, columns=list(_COHORT_COLUMNS))


__all__ = ["SCORER_VERSION", "SCORING_CHANNELS", "ScoringResult", "score_cohort", "score_psg", "score_night", "SEVERITY_CUTOFFS",
           "severity_class"]
