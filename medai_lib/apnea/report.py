"""What a sleep physician reads in a PSG report beyond the AHI: sleep architecture (latency, WASO),
oximetry (nadir, T90, hypoxic burden), and event indices by type, body position and sleep stage.

Definitions follow the AASM Scoring Manual v3 (2023); hypoxic burden follows Azarbarzin et al., Eur Heart J
2019;40:1149-57 (area of the event-related SpO2 fall, per hour of sleep). Every function works without a
hypnogram (a home sleep test): sleep measures are then ``None`` and indices are per hour of monitoring time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.apnea.simulate import SLEEP_STAGES
from medai_lib.errors import MedaiInputError


@dataclass(frozen=True)
class SleepSummary:
    """Sleep architecture of one night (AASM Manual v3 definitions).

    Attributes
    ----------
    staged : bool
        False when the recording has no hypnogram: every sleep measure is then None.
    recording_h : float
        Time in bed (lights off to lights on), here the whole recording: the monitoring time of a home test.
    total_sleep_time_h : float or None
        Epochs of N1, N2, N3 or R.
    sleep_efficiency : float or None
        Total sleep time / time in bed.
    sleep_latency_min : float or None
        Lights off (start of the recording) to the first epoch of any sleep stage.
    rem_latency_min : float or None
        Sleep onset to the first epoch of R (None when the night has no REM).
    waso_min : float or None
        Wake after sleep onset: minutes of stage W from sleep onset to lights on.
    stage_minutes : dict of str to float
        Minutes in W, N1, N2, N3 and R (empty without a hypnogram).
    """

    staged: bool
    recording_h: float
    total_sleep_time_h: "float | None"
    sleep_efficiency: "float | None"
    sleep_latency_min: "float | None"
    rem_latency_min: "float | None"
    waso_min: "float | None"
    stage_minutes: dict

    def table(self) -> pd.Series:
        """The summary as a labelled Series (minutes and hours as a report lists them)."""
        def fmt(x, spec):
            return "not available (no hypnogram)" if x is None else format(x, spec)
        rows = {"time in bed (h)": f"{self.recording_h:.2f}",
                "total sleep time (h)": fmt(self.total_sleep_time_h, ".2f"),
                "sleep efficiency": fmt(self.sleep_efficiency, ".0%"),
                "sleep latency (min)": fmt(self.sleep_latency_min, ".1f"),
                "REM latency (min)": "no REM" if self.staged and self.rem_latency_min is None
                else fmt(self.rem_latency_min, ".1f"),
                "wake after sleep onset (min)": fmt(self.waso_min, ".1f")}
        rows.update({f"{s} (min)": f"{m:.1f}" for s, m in self.stage_minutes.items()})
        return pd.Series(rows, name="value")


def summarize_sleep(hypnogram, *, epoch_s: float = 30.0, recording_s: "float | None" = None) -> SleepSummary:
    """Sleep latency, WASO, REM latency, total sleep time and efficiency from a hypnogram.

    Parameters
    ----------
    hypnogram : array_like of str, shape (n_epochs,), or None
        Stages ``W, N1, N2, N3, R`` (``?`` for unscored). None or empty: no staging (a home test).
    epoch_s : float, default 30.0
    recording_s : float, optional
        Length of the recording in seconds; needed without a hypnogram (default: the hypnogram's length).

    Returns
    -------
    SleepSummary

    Examples
    --------
    >>> s = summarize_sleep(["W", "W", "N1", "N2", "W", "N2", "R", "W"])
    >>> s.sleep_latency_min, s.waso_min, s.rem_latency_min, round(s.total_sleep_time_h, 4)
    (1.0, 1.0, 2.0, 0.0333)
    """
    hyp = np.array([], dtype=str) if hypnogram is None else np.asarray(hypnogram).astype(str)
    if hyp.ndim != 1:
        raise MedaiInputError(f"hypnogram must be 1-D (one stage per epoch); got shape {hyp.shape}.")
    if not epoch_s > 0:
        raise MedaiInputError(f"epoch_s must be a positive number of seconds such as 30; got {epoch_s!r}.")
    if recording_s is None:
        if len(hyp) == 0:
            raise MedaiInputError("without a hypnogram, pass recording_s (the recording's length in seconds).")
        recording_s = len(hyp) * epoch_s
    rec_h = float(recording_s) / 3600.0
    sleep = np.isin(hyp, SLEEP_STAGES)
    if len(hyp) == 0 or not np.isin(hyp, ("W",) + SLEEP_STAGES).any():
        return SleepSummary(False, rec_h, None, None, None, None, None, {})
    epoch_min = epoch_s / 60.0
    tst_h = float(sleep.sum() * epoch_s / 3600.0)
    stage_minutes = {s: float((hyp == s).sum() * epoch_min) for s in ("W",) + SLEEP_STAGES}
    if not sleep.any():
        return SleepSummary(True, rec_h, 0.0, 0.0, None, None, None, stage_minutes)
    onset = int(np.argmax(sleep))
    rem = np.flatnonzero(hyp == "R")
    return SleepSummary(
        staged=True, recording_h=rec_h, total_sleep_time_h=tst_h,
        sleep_efficiency=float(sleep.sum() * epoch_s / float(recording_s)),
        sleep_latency_min=float(onset * epoch_min),
        rem_latency_min=float((rem[0] - onset) * epoch_min) if len(rem) else None,
        waso_min=float((hyp[onset:] == "W").sum() * epoch_min), stage_minutes=stage_minutes)


@dataclass(frozen=True)
class OximetrySummary:
    """Oxygen saturation over the night.

    Attributes
    ----------
    baseline_pct : float
        Median SpO2 of valid samples.
    nadir_pct : float
        Lowest SpO2 (after artefact removal; a single-sample dip is not a nadir).
    t90_min, t90_share : float
        Minutes (and share of the analysed time) with SpO2 below 90%.
    hypoxic_burden : float or None
        Sum of the event-related desaturation areas (%·min) per hour (Azarbarzin 2019); None without events.
    hours : float
        The analysed time (sleep with a hypnogram, otherwise the valid recording).
    """

    baseline_pct: float
    nadir_pct: float
    t90_min: float
    t90_share: float
    hypoxic_burden: "float | None"
    hours: float


def summarize_oximetry(spo2, fs: float, *, events: "pd.DataFrame | None" = None, hypnogram=None,
                       epoch_s: float = 30.0) -> OximetrySummary:
    """SpO2 nadir, T90 and hypoxic burden of a night.

    Hypoxic burden (Azarbarzin et al. 2019): for each respiratory event, the area between the pre-event
    baseline (the highest SpO2 in the 100 s before the event's end) and the SpO2 curve, over a window from
    the event's end minus its duration to 60 s after its end (the average event-related desaturation
    window of that paper is about that long), summed and divided by the hours analysed. The original method
    derives the window from the ensemble-averaged SpO2 of each patient; this fixed window is a simplification
    stated as such.

    Parameters
    ----------
    spo2 : ndarray, shape (n_samples,)
        Percent saturation; values < 50 or > 100 (probe off) are ignored, and falls faster than 4% per
        second (probe motion) are bridged.
    fs : float
        Sampling rate in Hz.
    events : DataFrame, optional
        Scored respiratory events (``onset_s, duration_s``), e.g. ``score_night(...).events``.
    hypnogram : array_like of str, optional
        With it, only sleep counts (AASM: T90 over total sleep time).
    epoch_s : float, default 30.0

    Returns
    -------
    OximetrySummary

    Examples
    --------
    >>> import numpy as np
    >>> x = np.r_[np.full(3000, 96.0), np.full(600, 88.0)]
    >>> s = summarize_oximetry(x, 1.0)
    >>> s.nadir_pct, s.t90_min
    (88.0, 10.0)
    """
    from medai_lib.apnea.scoring import _clean_spo2

    raw = np.asarray(spo2, dtype=float)
    if raw.ndim != 1 or len(raw) < 60 * fs:
        raise MedaiInputError(f"spo2 must be one channel of at least a minute; got shape {raw.shape} at {fs} Hz.")
    if not fs > 0:
        raise MedaiInputError(f"fs must be the SpO2 sampling rate in Hz (> 0); got {fs!r}.")
    valid = np.isfinite(raw) & (raw >= 50) & (raw <= 100)
    # probe-off samples and physiologically impossible jumps (> 4%/s, a moving probe) are bridged, as the
    # scorer does, so that an artefact sets neither the nadir nor T90
    x = _clean_spo2(raw, fs)
    analysed = valid.copy()
    if hypnogram is not None and len(hypnogram):
        stage = np.repeat(np.asarray(hypnogram).astype(str), int(round(epoch_s * fs)))
        stage = np.r_[stage, np.full(max(len(x) - len(stage), 0), "?")][: len(x)]
        analysed &= np.isin(stage, SLEEP_STAGES)
    if not analysed.any():
        raise MedaiInputError("spo2 has no valid samples (50-100%) in the analysed time; check the channel.")
    # a nadir must last: the lowest value of a 3-s running median, so one bad sample does not set it
    from scipy.ndimage import median_filter
    smooth = median_filter(np.where(valid, x, np.nan), size=max(int(round(3 * fs)), 1), mode="nearest")
    hours = analysed.sum() / fs / 3600.0
    below = analysed & (x < 90)
    burden = None
    if events is not None and len(events) and hours > 0:
        area = 0.0
        for on, dur in zip(events["onset_s"].to_numpy(float), events["duration_s"].to_numpy(float)):
            end = on + dur
            pre = smooth[int(max(end - 100, 0) * fs):int(end * fs)]
            pre = pre[np.isfinite(pre)]
            if len(pre) == 0:
                continue
            seg = smooth[int(max(end - dur, 0) * fs):int(min(end + 60, len(x) / fs) * fs)]
            seg = seg[np.isfinite(seg)]
            area += float(np.clip(pre.max() - seg, 0, None).sum() / fs / 60.0)  # %·min
        burden = area / hours
    return OximetrySummary(baseline_pct=float(np.median(x[analysed])),
                           nadir_pct=float(np.nanmin(np.where(analysed, smooth, np.nan))),
                           t90_min=float(below.sum() / fs / 60.0), t90_share=float(below.sum() / analysed.sum()),
                           hypoxic_burden=burden, hours=float(hours))


def event_indices(events: pd.DataFrame, hours: float, *, position: "np.ndarray | None" = None,
                  position_fs: float = 1.0, hypnogram=None, epoch_s: float = 30.0,
                  excluded=()) -> pd.DataFrame:
    """Events per hour by type, and the AHI in supine and non-supine sleep and in REM and NREM sleep.

    Parameters
    ----------
    events : DataFrame
        ``onset_s, duration_s, type`` (scored events).
    hours : float
        Denominator of the overall indices (total sleep time, or monitoring time for a home test).
    position : ndarray, optional
        Body position codes at ``position_fs`` (0 supine, 1 left, 2 right, 3 prone; as the sample data).
    hypnogram : array_like of str, optional
        Needed for the REM and NREM indices.
    excluded : sequence of (start_s, end_s), optional
        Time left out of every index's hours, as the scorer left it out of ``hours`` (``result.flow_lost_intervals``:
        no flow signal, so no event could be scored there). The REM, NREM, supine and non-supine hours then add up
        to ``hours``.

    Returns
    -------
    DataFrame indexed by index name with ``events``, ``hours`` and ``per_hour`` (NaN when the time is 0
    or the needed channel is missing).

    Examples
    --------
    >>> ev = pd.DataFrame({"onset_s": [10.0, 100.0], "duration_s": [15.0, 20.0],
    ...                    "type": ["central_apnea", "hypopnea"]})
    >>> float(event_indices(ev, 2.0).loc["central apnea index", "per_hour"])
    0.5
    """
    if not hours > 0:
        raise MedaiInputError(f"hours must be positive (total sleep or monitoring time); got {hours!r}.")
    missing = [c for c in ("onset_s", "duration_s", "type") if c not in events.columns]
    if missing:
        raise MedaiInputError(f"events is missing columns {missing}; pass score_night(...).events.")
    try:
        excluded = [(float(a), float(b)) for a, b in excluded]
    except (TypeError, ValueError):
        raise MedaiInputError("excluded must be a sequence of (start_s, end_s) pairs, as "
                              "score_night(...).flow_lost_intervals gives.") from None
    t = events["type"].astype(str)
    rows = {
        "apnea-hypopnea index": (len(events), hours),
        "obstructive apnea index": (int((t == "obstructive_apnea").sum()), hours),
        "central apnea index": (int((t == "central_apnea").sum()), hours),
        "mixed apnea index": (int((t == "mixed_apnea").sum()), hours),
        "hypopnea index": (int((t == "hypopnea").sum()), hours),
    }
    mid = (events["onset_s"].to_numpy(float) + events["duration_s"].to_numpy(float) / 2)
    staged = hypnogram is not None and len(hypnogram) > 0
    hyp = np.asarray(hypnogram).astype(str) if staged else None
    sleep_sec = None
    if staged:
        sleep_sec = np.isin(np.repeat(hyp, int(epoch_s)), SLEEP_STAGES)
    span = max([len(sleep_sec) if staged else 0, int(len(position) / position_fs) if position is not None else 0]
               + [int(np.ceil(b)) for _, b in excluded])
    kept = np.ones(span, bool)  # seconds whose time counts (not inside an excluded interval)
    for a, b in excluded:
        kept[max(int(a), 0):max(int(np.ceil(b)), 0)] = False
    if position is not None:
        pos = np.asarray(position)
        pos_sec = pos[np.minimum((np.arange(int(len(pos) / position_fs)) * position_fs).astype(int), len(pos) - 1)]
        n = len(pos_sec) if sleep_sec is None else min(len(pos_sec), len(sleep_sec))
        counted = (np.ones(n, bool) if sleep_sec is None else sleep_sec[:n]) & kept[:n]
        ev_pos = pos_sec[np.minimum(mid.astype(int), len(pos_sec) - 1)]
        for name, sel in (("supine AHI", pos_sec[:n] == 0), ("non-supine AHI", pos_sec[:n] != 0)):
            h = float((sel & counted).sum() / 3600.0)
            k = int((ev_pos == 0).sum()) if name.startswith("supine") else int((ev_pos != 0).sum())
            rows[name] = (k, h)
    if staged:
        stage_sec = np.repeat(hyp, int(epoch_s))
        ev_stage = stage_sec[np.minimum(mid.astype(int), len(stage_sec) - 1)]
        rows["REM AHI"] = (int((ev_stage == "R").sum()), float(((stage_sec == "R") & kept[:len(stage_sec)]).sum() / 3600.0))
        nrem = np.isin(stage_sec, ("N1", "N2", "N3")) & kept[:len(stage_sec)]
        rows["NREM AHI"] = (int(np.isin(ev_stage, ("N1", "N2", "N3")).sum()), float(nrem.sum() / 3600.0))
    out = pd.DataFrame(rows, index=["events", "hours"]).T
    out["events"] = out["events"].astype(int)
    out["per_hour"] = np.where(out["hours"] > 0, out["events"] / out["hours"].where(out["hours"] > 0), np.nan)
    return out


#: AASM Manual v3 (2023) technical specifications: (minimum, desirable) sampling rate in Hz per channel.
AASM_SAMPLING_RATES = {
    "eeg": (200.0, 500.0), "eog": (200.0, 500.0), "emg": (200.0, 500.0), "ecg": (200.0, 500.0),
    "flow": (25.0, 100.0), "thorax": (25.0, 100.0), "abdomen": (25.0, 100.0), "spo2": (10.0, 25.0),
    "position": (1.0, 1.0),
}


def sampling_rate_check(sfreq) -> pd.DataFrame:
    """Each channel's sampling rate against the AASM minimum and desirable rates (AASM Manual v3, 2023).

    Parameters
    ----------
    sfreq : mapping of str to float
        Canonical channel name to rate in Hz, e.g. ``read_psg(...).sfreq``.

    Returns
    -------
    DataFrame indexed by channel: ``rate_hz, aasm_minimum_hz, aasm_desirable_hz, meets_minimum``
    (channels without an AASM specification are left out).

    Examples
    --------
    >>> sampling_rate_check({"eeg": 100.0, "spo2": 25.0})["meets_minimum"].tolist()
    [False, True]
    """
    rows = [{"channel": ch, "rate_hz": float(fs), "aasm_minimum_hz": AASM_SAMPLING_RATES[ch][0],
             "aasm_desirable_hz": AASM_SAMPLING_RATES[ch][1],
             "meets_minimum": bool(float(fs) >= AASM_SAMPLING_RATES[ch][0])}
            for ch, fs in dict(sfreq).items() if ch in AASM_SAMPLING_RATES]
    cols = ["channel", "rate_hz", "aasm_minimum_hz", "aasm_desirable_hz", "meets_minimum"]
    return pd.DataFrame(rows, columns=cols).set_index("channel")


def night_report(recording, result) -> pd.DataFrame:
    """The measures of a sleep report for one scored night, each with what it is based on.

    Parameters
    ----------
    recording : Night or PSGRecording
        Its ``signals`` (``spo2``; ``position`` when recorded), ``sfreq``, ``hypnogram``, ``epoch_s``.
    result : ScoringResult
        ``score_night(recording)`` or ``score_psg(...)``. Without a hypnogram the respiratory index is the
        REI (per hour of monitoring time) and the sleep measures are reported as not available.

    Returns
    -------
    DataFrame indexed by measure with ``value`` (float, NaN when not available) and ``unit``.

    Examples
    --------
    >>> from medai_lib.apnea import make_night, score_night
    >>> night = make_night(hours=1.0, target_ahi=20, random_state=0)
    >>> report = night_report(night, score_night(night))
    >>> "T90 (time with SpO2 < 90%)" in report.index
    True
    """
    hyp = getattr(recording, "hypnogram", None)
    staged = bool(result.per_sleep_hour) and hyp is not None and len(hyp) > 0 and result.hours > 0
    epoch_s = float(getattr(recording, "epoch_s", 30.0))
    n_sec = min(len(x) / float(recording.sfreq[ch]) for ch, x in recording.signals.items())
    sleep = summarize_sleep(hyp if staged else None, epoch_s=epoch_s, recording_s=n_sec)
    pos = recording.signals.get("position")
    idx = event_indices(result.events, result.hours, position=pos,
                        position_fs=float(recording.sfreq.get("position", 1.0)), hypnogram=hyp if staged else None,
                        epoch_s=epoch_s, excluded=getattr(result, "flow_lost_intervals", ()))
    oxi = summarize_oximetry(recording.signals["spo2"], float(recording.sfreq["spo2"]), events=result.events,
                             hypnogram=hyp if staged else None, epoch_s=epoch_s)
    main = "AHI (per hour of sleep)" if staged else "REI (per hour of monitoring time)"
    rows = [(main, result.ahi, "events/h"),
            # the AHI's hours leave out time with the cannula off (a lab convention, not an AASM rule): report it
            ("time without a flow signal (left out of the index)", getattr(result, "flow_lost_s", 0.0) / 60, "min")]
    for name in ("obstructive apnea index", "central apnea index", "mixed apnea index", "hypopnea index",
                 "supine AHI", "non-supine AHI", "REM AHI", "NREM AHI"):
        if name in idx.index:
            label = name if staged or "AHI" not in name else name.replace("AHI", "REI")
            rows.append((label, float(idx.loc[name, "per_hour"]), "events/h"))
    # an index from a few minutes means little: the time each stage or position index is based on
    for name, label in (("supine AHI", "supine sleep time" if staged else "supine monitoring time"),
                        ("REM AHI", "REM sleep time")):
        if name in idx.index:
            rows.append((label, 60 * float(idx.loc[name, "hours"]), "min"))
    rows += [("arousal index", result.arousal_index if staged else np.nan, "/h"),
             (f"ODI ({'3' if result.hypopnea_rule == '3a' else '4'}% desaturations)", result.odi, "/h"),
             ("SpO2 baseline (median)", oxi.baseline_pct, "%"), ("SpO2 nadir", oxi.nadir_pct, "%"),
             ("T90 (time with SpO2 < 90%)", oxi.t90_min, "min"),
             ("T90 share of the analysed time", 100 * oxi.t90_share, "%"),
             ("hypoxic burden", np.nan if oxi.hypoxic_burden is None else oxi.hypoxic_burden, "%min/h"),
             ("total sleep time", np.nan if sleep.total_sleep_time_h is None else sleep.total_sleep_time_h, "h"),
             ("sleep efficiency", np.nan if sleep.sleep_efficiency is None else 100 * sleep.sleep_efficiency, "%"),
             ("sleep latency", np.nan if sleep.sleep_latency_min is None else sleep.sleep_latency_min, "min"),
             ("wake after sleep onset", np.nan if sleep.waso_min is None else sleep.waso_min, "min")]
    out = pd.DataFrame(rows, columns=["measure", "value", "unit"]).set_index("measure")
    out["value"] = out["value"].astype(float)
    return out


__all__ = ["AASM_SAMPLING_RATES", "OximetrySummary", "night_report", "sampling_rate_check", "SleepSummary", "event_indices", "summarize_oximetry", "summarize_sleep"]
