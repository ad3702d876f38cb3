"""Per-minute labels, hand-made features and raw-signal windows for learning apnea from signals.

One row per minute of recording, as in the PhysioNet/CinC 2000 Apnea-ECG challenge: SpO2 dips, flow
envelope, effort, heart-rate variability from ECG R-peaks; and fixed-length signal windows for 1D CNNs.
"""
from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import signal as sps
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from medai_lib.apnea.scoring import _clean_spo2, _envelope, _rolling_quantile
from medai_lib.apnea.simulate import SLEEP_STAGES, SleepCohort
from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)

#: Channels of the respiratory CNN, in this order.
RESP_CHANNELS = ("flow", "thorax", "abdomen", "spo2")
#: Channels of the ECG-only CNN: R-R interval series and R-peak amplitude derived from the ECG (as in
#: most Apnea-ECG models), sampled on a 4 Hz grid by :func:`ecg_derived_signals`.
ECG_CHANNELS = ("rr", "r_amp")
_ECG_RATE = 4.0
#: Columns of :func:`minute_features`.
FEATURE_COLUMNS = (
    "spo2_mean", "spo2_drop", "spo2_drop_next", "spo2_range", "flow_ratio_min", "flow_below_70",
    "flow_below_10", "effort_ratio_min", "effort_below_25", "hr_mean", "hr_std", "hr_range", "rmssd_ms",
    "hr_rise_next",
)
#: Columns of :func:`minute_features` computed from the ECG alone.
ECG_FEATURE_COLUMNS = ("hr_mean", "hr_std", "hr_range", "rmssd_ms", "hr_rise_next")

_MIN_RATES = {"flow": 8.0, "thorax": 8.0, "abdomen": 8.0, "spo2": 0.5, "ecg": 50.0}
#: Version of the per-minute labels, features and windows: bump it (with the simulator's
#: ``GENERATOR_VERSION``) whenever :func:`make_minute_dataset`'s output changes, so cached datasets are not
#: reused. (The cache key also holds a hash of this module's, the simulator's and the scorer's source.)
DATASET_VERSION = "1"


def _n_minutes(signals: Mapping[str, np.ndarray], sfreq: Mapping[str, float], channels: Sequence[str]) -> int:
    return int(min(len(signals[c]) / float(sfreq[c]) for c in channels) // 60)


def _check_signals(signals, sfreq, channels: Sequence[str], name: str = "signals") -> None:
    if not isinstance(signals, Mapping) or not isinstance(sfreq, Mapping):
        raise TypeError(f"{name} and sfreq must be mappings of channel name to array / rate, e.g. night.signals "
                        f"and night.sfreq; got {type(signals).__name__} and {type(sfreq).__name__}.")
    missing = [c for c in channels if c not in signals]
    if missing:
        raise MedaiInputError(f"{name} is missing channels {missing}; this step needs {list(channels)}. Rename "
                              "channels with medai_lib.apnea.match_channels or pick a recording that has them.")
    for c in channels:
        if c not in sfreq:
            raise MedaiInputError(f"sfreq has no rate for channel {c!r}; add sfreq[{c!r}] in Hz.")
        if float(sfreq[c]) < _MIN_RATES.get(c, 0.0):
            raise MedaiInputError(f"channel {c!r} is sampled at {sfreq[c]} Hz; at least {_MIN_RATES[c]} Hz is "
                                  f"needed. Use a recording with a faster {c} channel.")
    if _n_minutes(signals, sfreq, channels) < 3:
        raise MedaiInputError(f"{name} holds less than 3 minutes of {list(channels)}; per-minute analysis "
                              "needs at least 3 whole minutes.")


# ------------------------------------------------------------------------------------------------ labels
def minute_labels(events: pd.DataFrame, n_minutes: int, *, min_overlap_s: float = 5.0,
                  column: "str | None" = "scored") -> np.ndarray:
    """Label each minute 1 when a respiratory event covers at least ``min_overlap_s`` seconds of it.

    Parameters
    ----------
    events : DataFrame
        ``onset_s, duration_s`` (and the boolean ``column`` when given), e.g. ``night.events`` or a scorer's
        events.
    n_minutes : int
        Number of whole minutes in the recording.
    min_overlap_s : float, default 5.0
    column : str or None, default "scored"
        Keep only rows where this column is True (ground-truth tables list sub-threshold disturbances too);
        ignored when the table has no such column. ``"scored_4pct"`` gives the 4% rule.

    Returns
    -------
    ndarray of int8, shape (n_minutes,)

    Examples
    --------
    >>> ev = pd.DataFrame({"onset_s": [50.0, 130.0], "duration_s": [20.0, 12.0]})
    >>> minute_labels(ev, 4, column=None).tolist()
    [1, 1, 1, 0]
    """
    if not isinstance(events, pd.DataFrame) or not {"onset_s", "duration_s"} <= set(events.columns):
        raise MedaiInputError("events must be a DataFrame with columns 'onset_s' and 'duration_s' (seconds), "
                              "e.g. night.events or score_night(night).events.")
    if not isinstance(n_minutes, (int, np.integer)) or n_minutes < 1:
        raise MedaiInputError(f"n_minutes must be a positive integer; got {n_minutes!r}.")
    ev = events
    if column is not None and column in ev.columns:
        ev = ev[ev[column].astype(bool)]
    on = ev["onset_s"].to_numpy(float)
    off = on + ev["duration_s"].to_numpy(float)
    starts = np.arange(n_minutes) * 60.0
    overlap = np.clip(np.minimum(off[None, :], starts[:, None] + 60) - np.maximum(on[None, :], starts[:, None]),
                      0, None)
    return (overlap >= min_overlap_s).any(axis=1).astype(np.int8) if len(on) else np.zeros(n_minutes, np.int8)


def minute_oracle(events: pd.DataFrame, n_minutes: int, *, min_overlap_s: float = 5.0,
                  column: str = "p_annotated") -> np.ndarray:
    """The oracle for the per-minute task: P(minute labelled apnea | the generator's latent events).

    A minute's reference label is 1 when the reference scorer annotated an event covering at least
    ``min_overlap_s`` seconds of it (:func:`minute_labels` with ``column="annotated"``). The scorer
    annotates each event independently with probability ``p_annotated``, which depends on how clearly
    the event's latent flow drop, desaturation, arousal and duration meet the AASM definition. So the
    oracle probability of minute ``m`` is ``1 - prod(1 - p_annotated[e])`` over the events ``e`` that
    cover it. No model can beat this score from the signals (it knows the hidden physiology, not only
    its measurement): its AUC is the **oracle ceiling** of the per-minute task.

    Parameters
    ----------
    events : DataFrame
        ``onset_s, duration_s`` and ``column``: a generator's ``night.events``.
    n_minutes : int
    min_overlap_s : float, default 5.0
        As in :func:`minute_labels`.
    column : str, default "p_annotated"
        Annotation probability per event; ``"p_annotated_4pct"`` for the 4% rule.

    Returns
    -------
    ndarray of float, shape (n_minutes,)

    Examples
    --------
    >>> ev = pd.DataFrame({"onset_s": [50.0, 62.0], "duration_s": [20.0, 30.0], "p_annotated": [0.5, 0.5]})
    >>> minute_oracle(ev, 3).tolist()
    [0.5, 0.75, 0.0]
    """
    if not isinstance(events, pd.DataFrame) or not {"onset_s", "duration_s"} <= set(events.columns):
        raise MedaiInputError("events must be a DataFrame with columns 'onset_s' and 'duration_s' (seconds), "
                              "e.g. night.events.")
    if column not in events.columns:
        raise MedaiInputError(f"events has no column {column!r}: the oracle needs the generator's ground "
                              "truth (night.events of a synthetic night); a scorer's or a real recording's "
                              "events have none.")
    if not isinstance(n_minutes, (int, np.integer)) or n_minutes < 1:
        raise MedaiInputError(f"n_minutes must be a positive integer; got {n_minutes!r}.")
    on = events["onset_s"].to_numpy(float)
    if not len(on):
        return np.zeros(n_minutes)
    off = on + events["duration_s"].to_numpy(float)
    p = np.clip(events[column].to_numpy(float), 0, 1)
    starts = np.arange(n_minutes) * 60.0
    overlap = np.clip(np.minimum(off[None, :], starts[:, None] + 60) - np.maximum(on[None, :], starts[:, None]),
                      0, None)
    covers = overlap >= min_overlap_s
    return 1.0 - np.prod(np.where(covers, 1.0 - p[None, :], 1.0), axis=1)


def minute_stages(hypnogram: np.ndarray, n_minutes: int, *, epoch_s: float = 30.0) -> np.ndarray:
    """The stage of each minute (its first epoch's), ``"?"`` past the end of the hypnogram.

    Examples
    --------
    >>> minute_stages(np.array(["W", "W", "N1", "N2"]), 3).tolist()
    ['W', 'N1', '?']
    """
    hyp = np.asarray(hypnogram).astype(str)
    idx = (np.arange(n_minutes) * 60.0 / epoch_s).astype(int)
    return np.where(idx < len(hyp), hyp[np.minimum(idx, max(len(hyp) - 1, 0))], "?")


# ------------------------------------------------------------------------------------------------ ECG
def detect_r_peaks(ecg: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices: band-pass 5-20 Hz, squared slope, adaptive height, 0.3 s refractory period.

    Parameters
    ----------
    ecg : ndarray, shape (n_samples,)
    fs : float
        Sampling rate in Hz (at least 50).

    Returns
    -------
    ndarray of int, shape (n_beats,)

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=0.5, random_state=0, channels=("ecg",))
    >>> 20 < len(detect_r_peaks(night.signals["ecg"], 128.0)) / 30 < 120
    True
    """
    x = np.asarray(ecg, dtype=float)
    if x.ndim != 1 or len(x) < fs * 10:
        raise MedaiInputError(f"ecg must be one channel of at least 10 s; got shape {x.shape}.")
    if fs < 50:
        raise MedaiInputError(f"fs is {fs} Hz; R-peak detection needs an ECG sampled at 50 Hz or more.")
    sos = sps.butter(2, [5.0, min(20.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    y = sps.sosfiltfilt(sos, x)
    energy = uniform_filter1d(np.gradient(y) ** 2, max(int(0.08 * fs), 1))
    # adaptive height: a fraction of the local (10-s) maximum, robust to slow amplitude changes
    local = maximum_filter1d(energy, int(10 * fs))
    peaks, _ = sps.find_peaks(energy, height=0.3 * local, distance=int(0.3 * fs))
    # refine onto the band-passed signal's maximum within 50 ms
    w = max(int(0.05 * fs), 1)
    idx = peaks[:, None] + np.arange(-w, w + 1)[None, :]
    idx = np.clip(idx, 0, len(y) - 1)
    return idx[np.arange(len(peaks)), np.argmax(y[idx], axis=1)]


def ecg_derived_signals(ecg: np.ndarray, fs: float, *, rate: float = _ECG_RATE) -> dict:
    """R-R intervals (s) and R-peak amplitudes from an ECG, interpolated onto a regular ``rate`` Hz grid.

    Apnea shows in the ECG as cyclic slowing and speeding of the heart (R-R series) and as a change in
    the R amplitude with breathing effort; these two series are what the ECG-only CNN reads.

    Parameters
    ----------
    ecg : ndarray, shape (n_samples,)
    fs : float
        ECG sampling rate in Hz (>= 50).
    rate : float, default 4.0

    Returns
    -------
    dict with ``rr`` and ``r_amp``: ndarrays of float32, shape (int(n_samples / fs * rate),)

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=0.5, random_state=0, channels=("ecg",))
    >>> d = ecg_derived_signals(night.signals["ecg"], 128.0)
    >>> d["rr"].shape, bool(0.6 < np.median(d["rr"]) < 1.4)
    ((7200,), True)
    """
    x = np.asarray(ecg, dtype=float)
    peaks = detect_r_peaks(x, fs)
    n_out = int(len(x) / fs * rate)
    grid = np.arange(n_out) / rate
    if len(peaks) < 3:
        raise MedaiInputError("ecg: fewer than 3 R-peaks found; check the channel is an ECG (not flat or noise).")
    t = peaks / fs
    rr = np.diff(t)
    ok = (rr > 0.3) & (rr < 2.0)
    rr_i = np.interp(grid, t[1:][ok], rr[ok]) if ok.sum() >= 2 else np.full(n_out, np.nan)
    amp = np.interp(grid, t, x[peaks])
    return {"rr": rr_i.astype(np.float32), "r_amp": amp.astype(np.float32)}


def _hrv_per_minute(ecg: np.ndarray, fs: float, n_minutes: int) -> pd.DataFrame:
    peaks = detect_r_peaks(ecg, fs)
    t = peaks / fs
    rr = np.diff(t)
    tr = t[1:]
    ok = (rr > 0.3) & (rr < 2.0)
    rr, tr = rr[ok], tr[ok]
    minute = (tr // 60).astype(int)
    keep = minute < n_minutes
    rr, minute = rr[keep], minute[keep]
    hr = 60.0 / rr
    df = pd.DataFrame({"minute": minute, "hr": hr, "rr": rr})
    df["drr2"] = np.r_[np.nan, np.diff(rr)] ** 2
    g = df.groupby("minute")
    out = pd.DataFrame(index=pd.RangeIndex(n_minutes, name="minute"))
    out["hr_mean"] = g["hr"].mean()
    out["hr_std"] = g["hr"].std()
    out["hr_range"] = g["hr"].max() - g["hr"].min()
    out["rmssd_ms"] = 1000 * np.sqrt(g["drr2"].mean())
    out = out.interpolate(limit_direction="both").fillna(0.0)
    # post-event tachycardia shows in the next minute
    out["hr_rise_next"] = np.r_[out["hr_mean"].to_numpy()[1:], out["hr_mean"].to_numpy()[-1]] - out["hr_mean"]
    return out.reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ features
def minute_features(signals: Mapping[str, np.ndarray], sfreq: Mapping[str, float], *,
                    channels: Sequence[str] = ("flow", "thorax", "abdomen", "spo2", "ecg")) -> pd.DataFrame:
    """Hand-made features for each whole minute of a recording.

    SpO2: mean, dip below the 2-minute pre-minute maximum (``spo2_drop``) and the same for the next minute
    (desaturations lag events by 15-40 s); flow: the lowest envelope relative to the 5-minute baseline and
    the fraction of time below 70% and 10% of it; effort: lowest belt envelope and time below 25%; ECG:
    mean heart rate, its SD and range, RMSSD, and the rise of heart rate into the next minute.

    Parameters
    ----------
    signals, sfreq : mappings of channel name to ndarray / Hz
        ``night.signals`` and ``night.sfreq``, or a ``PSGRecording``'s.
    channels : sequence of str
        Which channels to use; features of channels left out are omitted (``("ecg",)`` gives the
        ECG-only set of the Apnea-ECG challenge).

    Returns
    -------
    DataFrame, shape (n_minutes, n_features)
        Columns among :data:`FEATURE_COLUMNS`, one row per whole minute.

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=0.5, target_ahi=20, random_state=0)
    >>> minute_features(night.signals, night.sfreq).shape
    (30, 14)
    """
    channels = tuple(channels)
    unknown = sorted(set(channels) - {"flow", "thorax", "abdomen", "spo2", "ecg"})
    if unknown or not channels:
        raise MedaiInputError(f"channels has unknown or no names {unknown}; choose among flow, thorax, abdomen, "
                              "spo2 and ecg.")
    if ("thorax" in channels) != ("abdomen" in channels):
        raise MedaiInputError("channels must hold both effort belts ('thorax' and 'abdomen') or neither.")
    _check_signals(signals, sfreq, channels)
    n_min = _n_minutes(signals, sfreq, channels)
    cols: dict[str, np.ndarray] = {}
    if "spo2" in channels:
        fs = float(sfreq["spo2"])
        x = _clean_spo2(np.asarray(signals["spo2"]), fs)
        x = np.interp(np.arange(n_min * 60), np.arange(len(x)) / fs, x)  # 1 Hz
        per = x.reshape(n_min, 60)
        # baseline: the highest saturation in the 2 minutes before the minute starts
        pre = pd.Series(x).rolling(120, min_periods=1).max().to_numpy()  # max over (t-120, t]
        base = np.maximum(pre[np.maximum(np.arange(n_min) * 60 - 1, 0)], per[:, 0])
        drop = np.clip(base - per.min(axis=1), 0, None)
        cols["spo2_mean"] = per.mean(axis=1)
        cols["spo2_drop"] = drop
        cols["spo2_drop_next"] = np.r_[drop[1:], drop[-1]]
        cols["spo2_range"] = per.max(axis=1) - per.min(axis=1)
    grid = 4.0
    if "flow" in channels or "thorax" in channels:
        for name, chans in (("flow", ("flow",)), ("effort", ("thorax", "abdomen"))):
            if not all(c in channels for c in chans):
                continue
            ratios = []
            for c in chans:
                fs = float(sfreq[c])
                sos = sps.butter(2, [0.05, 2.0], btype="bandpass", fs=fs, output="sos")
                env = _envelope(sps.sosfiltfilt(sos, np.asarray(signals[c], np.float32)), fs, 5.0)
                base = _rolling_quantile(env, int(300 * grid), 0.7)
                ratios.append(env / np.maximum(base, 1e-9))
            r = np.maximum.reduce(ratios)[: int(n_min * 60 * grid)]
            r = np.pad(r, (0, int(n_min * 60 * grid) - len(r)), mode="edge").reshape(n_min, -1)
            r = uniform_filter1d(r, 8, axis=1, mode="nearest")
            if name == "flow":
                cols["flow_ratio_min"] = r.min(axis=1)
                cols["flow_below_70"] = (r < 0.7).mean(axis=1)
                cols["flow_below_10"] = (r < 0.1).mean(axis=1)
            else:
                cols["effort_ratio_min"] = r.min(axis=1)
                cols["effort_below_25"] = (r < 0.25).mean(axis=1)
    if "ecg" in channels:
        hrv = _hrv_per_minute(np.asarray(signals["ecg"]), float(sfreq["ecg"]), n_min)
        for c in hrv.columns:
            cols[c] = hrv[c].to_numpy()
    order = [c for c in FEATURE_COLUMNS if c in cols]
    return pd.DataFrame({c: np.asarray(cols[c], dtype=float) for c in order})


# ------------------------------------------------------------------------------------------------ windows
def _resample_to(x: np.ndarray, fs: float, rate: float, n_out: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if fs == rate:
        y = x
    elif fs > rate and float(fs / rate).is_integer():
        k = int(fs / rate)
        m = len(x) // k
        y = x[: m * k].reshape(m, k).mean(axis=1)
    else:
        y = np.interp(np.arange(int(len(x) / fs * rate)) / rate, np.arange(len(x)) / fs, x).astype(np.float32)
    if len(y) < n_out:
        y = np.pad(y, (0, n_out - len(y)), mode="edge")
    return y[:n_out]


def _normalise(x: np.ndarray, channel: str) -> np.ndarray:
    if channel == "spo2":
        return (x - 95.0) / 5.0
    med = np.median(x)
    scale = np.subtract(*np.percentile(x, [95, 5]))
    return (x - med) / (scale if scale > 0 else 1.0)


def minute_windows(signals: Mapping[str, np.ndarray], sfreq: Mapping[str, float], *,
                   channels: Sequence[str] = RESP_CHANNELS, rate: float = 8.0,
                   context_min: int = 1) -> np.ndarray:
    """Fixed-length windows centred on each whole minute, for a 1D CNN.

    Each window holds the minute and ``context_min`` minutes on either side (desaturation and the
    heart-rate response lag the event), resampled to ``rate`` Hz and normalised per night (SpO2 as
    (x - 95) / 5, other channels by their 5-95% range). Invalid SpO2 readings (probe off, below 50%, or
    jumps faster than 4%/s) are bridged by interpolation first. Edges are padded with the edge value.

    Parameters
    ----------
    signals, sfreq : mappings of channel name to ndarray / Hz
    channels : sequence of str, default ("flow", "thorax", "abdomen", "spo2")
        Channels in the order the model expects.
    rate : float, default 8.0
        Output sampling rate in Hz.
    context_min : int, default 1

    Returns
    -------
    ndarray of float32, shape (n_minutes, n_channels, (1 + 2 * context_min) * 60 * rate)

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=0.5, random_state=0, channels=("flow", "thorax", "abdomen", "spo2"))
    >>> minute_windows(night.signals, night.sfreq).shape
    (30, 4, 1440)
    """
    channels = tuple(channels)
    if not channels:
        raise MedaiInputError("channels is empty; name the channels of the windows, e.g. RESP_CHANNELS.")
    if not isinstance(context_min, (int, np.integer)) or context_min < 0:
        raise MedaiInputError(f"context_min must be a non-negative integer; got {context_min!r}.")
    if not rate > 0:
        raise MedaiInputError(f"rate must be a positive number of Hz; got {rate!r}.")
    _check_signals(signals, sfreq, channels)
    n_min = _n_minutes(signals, sfreq, channels)
    per_min = int(round(60 * rate))
    pad = context_min * per_min
    length = per_min * (1 + 2 * context_min)
    out = np.empty((n_min, len(channels), length), dtype=np.float32)
    starts = np.arange(n_min) * per_min
    idx = starts[:, None] + np.arange(length)[None, :]
    for j, c in enumerate(channels):
        raw = np.asarray(signals[c])
        if c == "spo2":  # oximeter artefacts (probe off, motion) are invalid readings: bridge them
            raw = _clean_spo2(raw, float(sfreq[c]))
            raw = np.nan_to_num(raw, nan=95.0)
        x = _normalise(_resample_to(raw, float(sfreq[c]), rate, n_min * per_min), c)
        xp = np.pad(x, (pad, pad), mode="edge")
        out[:, j, :] = xp[idx]
    return out


# ------------------------------------------------------------------------------------------------ cohort
@dataclass(frozen=True)
class MinuteDataset:
    """Per-minute data of a cohort of nights.

    Attributes
    ----------
    table : DataFrame, shape (n_minutes_total, ...)
        ``subject_id, minute, label`` (the reference scorer's annotation, see :func:`night_minutes`),
        ``oracle`` (:func:`minute_oracle`), ``stage, sleep, position`` and the columns of
        :data:`FEATURE_COLUMNS`.
    resp : ndarray of float32, shape (n_minutes_total, 4, n_resp_samples)
        Windows of :data:`RESP_CHANNELS` (see :func:`minute_windows`).
    ecg : ndarray of float32, shape (n_minutes_total, 2, n_ecg_samples)
        Windows of :data:`ECG_CHANNELS` (R-R intervals and R amplitudes from the ECG).
    subjects : DataFrame
        One row per subject: ``subject_id, true_ahi, true_ahi_4pct, reference_ahi, tst_h, n_minutes`` and
        covariates (including the subject's latent traits, e.g. ``desat_gain``, ``flow_gain``).
    rate, ecg_rate : float
        Sampling rates of the windows.
    context_min : int
    """

    table: pd.DataFrame
    resp: np.ndarray
    ecg: np.ndarray
    subjects: pd.DataFrame
    rate: float
    ecg_rate: float
    context_min: int
    ecg_context_min: int = 2

    @property
    def groups(self) -> np.ndarray:
        """Subject of each minute (for subject-wise splits)."""
        return self.table["subject_id"].to_numpy()

    @property
    def labels(self) -> np.ndarray:
        """0/1 per minute."""
        return self.table["label"].to_numpy()

    @property
    def features(self) -> pd.DataFrame:
        """The feature columns of :attr:`table`."""
        return self.table[[c for c in FEATURE_COLUMNS if c in self.table.columns]]


def night_minutes(night, *, rate: float = 8.0, ecg_rate: float = _ECG_RATE, context_min: int = 1,
                  ecg_context_min: int = 2, windows: bool = True):
    """Table, respiratory windows and ECG windows of one night (see :class:`MinuteDataset`).

    The label of a minute is the human reference annotation (``night.events["annotated"]``, see
    :func:`minute_labels`) when the night has one, else the rule-based truth (``scored``); ``oracle``
    is :func:`minute_oracle`, the best achievable probability of that label.

    Returns
    -------
    (DataFrame, ndarray, ndarray)
    """
    chans = ("flow", "thorax", "abdomen", "spo2", "ecg") if "ecg" in night.signals else RESP_CHANNELS
    label_column = "annotated" if "annotated" in night.events.columns else "scored"
    feats = minute_features(night.signals, night.sfreq, channels=chans)
    n_min = len(feats)
    table = pd.DataFrame({
        "subject_id": night.subject_id, "minute": np.arange(n_min),
        "label": minute_labels(night.events, n_min, column=label_column),
        "stage": minute_stages(night.hypnogram, n_min, epoch_s=night.epoch_s),
    })
    if "p_annotated" in night.events.columns:
        table["oracle"] = minute_oracle(night.events, n_min)
    table["sleep"] = np.isin(table["stage"], SLEEP_STAGES)
    if "position" in night.signals:
        pos = np.asarray(night.signals["position"])
        fs = float(night.sfreq["position"])
        table["position"] = pos[np.minimum((np.arange(n_min) * 60 * fs).astype(int), len(pos) - 1)].astype(int)
    else:
        table["position"] = -1
    table = pd.concat([table, feats], axis=1)
    if not windows:
        return table, np.zeros((n_min, 0, 0), np.float32), np.zeros((n_min, 0, 0), np.float32)
    resp = minute_windows(night.signals, night.sfreq, channels=RESP_CHANNELS, rate=rate, context_min=context_min)
    if "ecg" not in night.signals:
        return table, resp[:n_min], np.zeros((n_min, 0, 0), np.float32)
    derived = ecg_derived_signals(night.signals["ecg"], float(night.sfreq["ecg"]), rate=ecg_rate)
    ecg = minute_windows(derived, {c: ecg_rate for c in ECG_CHANNELS}, channels=ECG_CHANNELS, rate=ecg_rate,
                         context_min=ecg_context_min)
    return table, resp[:n_min], ecg[:n_min]


_DATASET_CHANNELS = ("ecg", "flow", "thorax", "abdomen", "spo2", "position")


def make_minute_dataset(cohort: SleepCohort, *, rate: float = 8.0, ecg_rate: float = _ECG_RATE,
                        context_min: int = 1, ecg_context_min: int = 2, windows: bool = True,
                        with_ecg: bool = True, cache: bool = True) -> MinuteDataset:
    """Generate every night of ``cohort`` and cut it into labelled minutes, features and windows.

    Only the channels the models use are synthesised (ECG, flow, effort, SpO2, position): about 0.1 s
    per hour of recording. The result is cached on disk (under ``$MEDAI_DATA``, see
    :func:`medai_lib.data.data_home`) when ``cohort`` is a plain :func:`make_sleep_cohort` draw with an
    integer seed (:attr:`SleepCohort.generation`), keyed by the cohort's parameters, these arguments and
    the generator and feature versions: later calls load it in a fraction of the time, with the same
    values and dtypes.

    Parameters
    ----------
    cohort : SleepCohort
        From :func:`medai_lib.apnea.make_sleep_cohort`.
    rate, ecg_rate : float
        Sampling rate of the respiratory windows and of the ECG-derived (R-R, R amplitude) windows.
    context_min, ecg_context_min : int, default 1 and 2
        Minutes on either side of each minute (ECG: 5-minute windows, the heart-rate cycle is slow).
    windows : bool, default True
        False skips the signal windows (``resp`` and ``ecg`` then have shape (n, 0, 0)): enough for
        feature models and forecasting, and faster.
    with_ecg : bool, default True
        False leaves out the ECG (not synthesised, no heart-rate features, ``ecg`` of shape (n, 0, 0)).
    cache : bool, default True
        False always recomputes (and writes nothing). Cohorts without generation parameters (built by
        hand, changed after drawing, drawn from a Generator) are never cached.

    Returns
    -------
    MinuteDataset

    Examples
    --------
    >>> from medai_lib.apnea import make_sleep_cohort
    >>> ds = make_minute_dataset(make_sleep_cohort(2, hours=0.5, random_state=0))
    >>> ds.resp.shape, ds.ecg.shape
    ((60, 4, 1440), (60, 2, 1200))
    """
    if not isinstance(cohort, SleepCohort):
        raise TypeError(f"cohort must be a SleepCohort from make_sleep_cohort; got {type(cohort).__name__}.")
    options = {"rate": float(rate), "ecg_rate": float(ecg_rate), "context_min": int(context_min),
               "ecg_context_min": int(ecg_context_min), "windows": bool(windows), "with_ecg": bool(with_ecg)}
    generation = cohort.generation if cache else None
    if generation is None:
        return _compute_minute_dataset(cohort, **options)
    from medai_lib.apnea import scoring, simulate
    from medai_lib.apnea._store import cached_folder, code_digest

    params = {"cohort": generation, **options,
              "code": code_digest(simulate, scoring, sys.modules[__name__])}

    def create(folder) -> None:
        _save_minute_dataset(_compute_minute_dataset(cohort, **options), folder)

    folder = cached_folder("apnea_minute_dataset", params, f"{simulate.GENERATOR_VERSION}.{DATASET_VERSION}",
                           create)
    return _load_minute_dataset(folder)


def _save_minute_dataset(ds: MinuteDataset, folder) -> None:
    from medai_lib.apnea._store import save_array, save_frame

    save_frame(ds.table, folder, "table")
    save_frame(ds.subjects, folder, "subjects")
    save_array(ds.resp, folder, "resp")
    save_array(ds.ecg, folder, "ecg")
    (folder / "dataset.json").write_text(json.dumps({
        "rate": ds.rate, "ecg_rate": ds.ecg_rate, "context_min": ds.context_min,
        "ecg_context_min": ds.ecg_context_min}))


def _load_minute_dataset(folder) -> MinuteDataset:
    from medai_lib.apnea._store import load_array, load_frame

    meta = json.loads((folder / "dataset.json").read_text())
    return MinuteDataset(table=load_frame(folder, "table"), resp=load_array(folder, "resp"),
                         ecg=load_array(folder, "ecg"), subjects=load_frame(folder, "subjects"),
                         rate=float(meta["rate"]), ecg_rate=float(meta["ecg_rate"]),
                         context_min=int(meta["context_min"]), ecg_context_min=int(meta["ecg_context_min"]))


def _compute_minute_dataset(cohort: SleepCohort, *, rate: float, ecg_rate: float, context_min: int,
                            ecg_context_min: int, windows: bool, with_ecg: bool) -> MinuteDataset:
    import dataclasses

    channels = _DATASET_CHANNELS if with_ecg else tuple(c for c in _DATASET_CHANNELS if c != "ecg")
    cohort = dataclasses.replace(cohort, channels=channels)
    tables, resps, ecgs, rows = [], [], [], []
    for night in cohort:
        t, r, e = night_minutes(night, rate=rate, ecg_rate=ecg_rate, context_min=context_min,
                                ecg_context_min=ecg_context_min, windows=windows)
        tables.append(t)
        resps.append(r)
        ecgs.append(e)
        cov = {k: v for k, v in night.covariates.items() if k != "seed"}
        rows.append({**cov, "subject_id": night.subject_id, "true_ahi": night.true_ahi,
                     "true_ahi_4pct": night.true_ahi_4pct, "reference_ahi": night.reference_ahi,
                     "tst_h": night.total_sleep_time_h,
                     "n_minutes": len(t)})
    return MinuteDataset(table=pd.concat(tables, ignore_index=True), resp=np.concatenate(resps),
                         ecg=np.concatenate(ecgs), subjects=pd.DataFrame(rows), rate=float(rate),
                         ecg_rate=float(ecg_rate), context_min=int(context_min),
                         ecg_context_min=int(ecg_context_min))


__all__ = ["ECG_CHANNELS", "ECG_FEATURE_COLUMNS", "FEATURE_COLUMNS", "MinuteDataset", "RESP_CHANNELS",
           "detect_r_peaks", "ecg_derived_signals", "make_minute_dataset", "minute_features", "minute_labels",
           "minute_oracle", "minute_stages",
           "minute_windows", "night_minutes"]
