"""Synthetic overnight polysomnography: hypnogram, EEG/EOG/EMG/ECG, airflow, effort, SpO2, position.

Every night carries its ground truth (respiratory events, arousals, hypnogram, true AHI) so that a
scorer or a model can be compared with what really happened. Signals are built with vectorised NumPy.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterator, Mapping

import numpy as np
import pandas as pd
from scipy import fft as sp_fft
from scipy.ndimage import uniform_filter1d

from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)

GENERATOR_VERSION = "2"

STAGES = ("W", "N1", "N2", "N3", "R")
SLEEP_STAGES = ("N1", "N2", "N3", "R")
EVENT_TYPES = ("obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea")
POSITIONS = ("supine", "left", "right", "prone")
SEVERITY_CUTOFFS = (5.0, 15.0, 30.0)

#: Native sampling rates (Hz) of the synthetic channels, close to AASM-recommended montages.
SAMPLING_RATES = MappingProxyType({
    "eeg": 100.0, "eog": 50.0, "emg": 100.0, "ecg": 128.0,
    "flow": 32.0, "thorax": 32.0, "abdomen": 32.0, "spo2": 1.0, "position": 1.0,
})
CHANNELS = tuple(SAMPLING_RATES)
#: Physical units of each channel.
UNITS = MappingProxyType({
    "eeg": "uV", "eog": "uV", "emg": "uV", "ecg": "mV", "flow": "a.u.", "thorax": "a.u.",
    "abdomen": "a.u.", "spo2": "%", "position": "code",
})

_EVENT_COLUMNS = [
    "onset_s", "duration_s", "type", "mechanism", "flow_drop", "desat_pct", "desat_lag_s", "arousal",
    "stage", "position", "scored", "scored_4pct", "p_annotated", "annotated", "p_annotated_4pct",
    "annotated_4pct",
]
_ARTEFACT_COLUMNS = ["onset_s", "duration_s", "channel", "kind"]

#: How a human reference scorer reads an event (inter-scorer variability). Each criterion of the AASM
#: rule is judged by eye with some uncertainty: the probability that the criterion is judged met is a
#: logistic function of the true value around the cut-off, with the given scale. An arousal ending the
#: event is seen with probability ``arousal_seen``; ``lapse`` is the chance that even a clear event is
#: left out (fatigue, a busy epoch). Each night is read by its own scorer, who is a little stricter or
#: more lenient: ``drop_offset`` and ``desat_offset_pct`` shift that scorer's cut-offs (each subject's
#: draw is in ``night.covariates`` as ``scorer_drop_offset``, ``scorer_desat_offset_pct`` and
#: ``scorer_arousal_seen``).
REFERENCE_SCORER = MappingProxyType({
    "duration_scale_s": 1.5, "apnea_drop_scale": 0.03, "hypopnea_drop_scale": 0.12,
    "desat_scale_pct": 1.2, "arousal_seen": 0.7, "lapse": 0.06, "drop_offset": 0.0, "desat_offset_pct": 0.0,
})


@dataclass(frozen=True)
class NightConfig:
    """Signal quality of a synthetic night.

    Parameters
    ----------
    noise : float
        Standard deviation of additive noise on flow and effort, relative to a normal breath.
    effort_gain : float
        Amplitude of the effort belts relative to normal (weak belts: below 1).
    spo2_noise : float
        Standard deviation of the oximeter noise, in % saturation.
    flow_dropouts_per_h : float
        Rate of cannula displacements (flat flow for 1-3 min, effort and SpO2 unaffected).
    mouth_breathing_per_h : float
        Rate of mouth-breathing spells (nasal flow down to 20-60% for 2-8 min, effort and SpO2 unchanged).
    spo2_artefacts_per_h : float
        Rate of oximeter probe motion artefacts (abrupt, physiologically impossible drops of a few seconds).
    spo2_dropouts_per_h : float
        Rate of oximeter probe-off periods (30 s to 4 min of invalid readings, stored as 0%).
    movement_artefacts_per_h : float
        Rate of movement bursts (large, broadband deflections on all channels for a few seconds).
    eeg_noise_uv : float
        Extra white noise on the EEG, in microvolts.
    """

    noise: float = 0.05
    effort_gain: float = 1.0
    spo2_noise: float = 0.25
    flow_dropouts_per_h: float = 0.25
    mouth_breathing_per_h: float = 0.5
    spo2_artefacts_per_h: float = 1.0
    spo2_dropouts_per_h: float = 0.2
    movement_artefacts_per_h: float = 0.5
    eeg_noise_uv: float = 2.0

    @classmethod
    def noisy(cls) -> "NightConfig":
        """A harder configuration: more noise and artefact, weaker effort belts."""
        return cls(noise=0.12, effort_gain=0.35, spo2_noise=0.4, flow_dropouts_per_h=0.5,
                   mouth_breathing_per_h=1.0, spo2_artefacts_per_h=2.0, spo2_dropouts_per_h=0.4,
                   movement_artefacts_per_h=2.0, eeg_noise_uv=6.0)

    @classmethod
    def clean(cls) -> "NightConfig":
        """An idealised recording: little noise, no cannula, mouth-breathing or oximeter artefacts."""
        return cls(noise=0.03, spo2_noise=0.15, flow_dropouts_per_h=0.0, mouth_breathing_per_h=0.0,
                   spo2_artefacts_per_h=0.0, spo2_dropouts_per_h=0.0)


def _resolve_config(config: "NightConfig | str") -> NightConfig:
    if isinstance(config, NightConfig):
        return config
    if config == "default":
        return NightConfig()
    if config == "noisy":
        return NightConfig.noisy()
    if config == "clean":
        return NightConfig.clean()
    raise MedaiInputError(
        f"config must be 'default', 'noisy', 'clean' or a NightConfig instance; got {config!r}."
    )


@dataclass(frozen=True)
class Night:
    """One synthetic polysomnography night with its ground truth.

    Attributes
    ----------
    subject_id : str
    signals : mapping of str to ndarray, float32, shape (n_samples_channel,)
        Channels ``eeg`` (C4-M1, uV), ``eog`` (E1-M2, uV), ``emg`` (chin, uV), ``ecg`` (mV),
        ``flow`` (nasal pressure), ``thorax``, ``abdomen`` (effort belts), ``spo2`` (%),
        ``position`` (0 supine, 1 left, 2 right, 3 prone); only those asked for are present.
    sfreq : mapping of str to float
        Sampling rate of each channel in Hz.
    hypnogram : ndarray of str, shape (n_epochs,)
        Sleep stage per 30-s epoch, one of ``W, N1, N2, N3, R``.
    epoch_s : float
        Epoch length of the hypnogram in seconds.
    events : pandas.DataFrame
        Every respiratory disturbance, from RERA-like flow limitation to complete apnea, with its latent
        (true) physiology drawn on a continuum: ``onset_s, duration_s, type, mechanism, flow_drop``
        (0.1-1.0), ``desat_pct`` (true SpO2 fall, %), ``desat_lag_s`` (event end to SpO2 nadir),
        ``arousal``, ``stage``, ``position``; ``scored`` (the latent values meet the AASM 2012 rule:
        >= 10 s and an apnea, flow down >= 90%, or a hypopnea, down >= 30% with >= 3% desaturation or
        an arousal) and ``scored_4pct`` (apnea, or hypopnea with >= 4%). The human reference
        annotation: ``p_annotated``, the probability that a reference scorer marks the event, which
        depends on how clearly each criterion is met (see :data:`REFERENCE_SCORER`), ``annotated``
        (that scorer's decision, drawn once), and the same for the 4% rule (``p_annotated_4pct``,
        ``annotated_4pct``; one draw serves both, so an event annotated under 4% is annotated under 3%).
    arousals : pandas.DataFrame
        ``onset_s, duration_s, cause`` (``respiratory`` or ``spontaneous``).
    covariates : mapping
        Age, sex, BMI, neck circumference, snoring, hypertension, target AHI, and the subject's
        latent physiology and measurement traits: ``flow_gain`` (nasal-pressure amplitude),
        ``desat_gain`` (desaturation per unit of event), ``desat_lag_mean_s``, ``hr_response``
        (heart-rate swing at events), ``spo2_noise`` (oximeter noise, %), ``artefact_proneness``, and
        the night's reference scorer (``scorer_drop_offset``, ``scorer_desat_offset_pct``,
        ``scorer_arousal_seen``; see :data:`REFERENCE_SCORER`).
    true_ahi : float
        Events meeting the rule (``scored``) per hour of sleep (AASM 2012, 3% or arousal).
    true_ahi_4pct : float
        The same with the 4% hypopnea rule.
    artefacts : pandas.DataFrame
        Sensor artefacts: ``onset_s, duration_s, channel`` (``flow`` or ``spo2``), ``kind``
        (``cannula_off``, ``mouth_breathing``, ``probe_motion``, ``probe_off``).
    reference_ahi : float
        Events the reference scorer annotated (``annotated``) per hour of sleep: the AHI a human
        scorer would report, which differs from ``true_ahi`` by inter-scorer variability.
    """

    subject_id: str
    signals: Mapping[str, np.ndarray]
    sfreq: Mapping[str, float]
    hypnogram: np.ndarray
    epoch_s: float
    events: pd.DataFrame
    arousals: pd.DataFrame
    covariates: Mapping[str, object]
    true_ahi: float
    true_ahi_4pct: float
    artefacts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_ARTEFACT_COLUMNS))
    reference_ahi: float = float("nan")

    @property
    def duration_s(self) -> float:
        """Recording length in seconds."""
        return float(len(self.hypnogram) * self.epoch_s)

    @property
    def total_sleep_time_h(self) -> float:
        """Hours scored as N1, N2, N3 or R."""
        return float(np.isin(self.hypnogram, SLEEP_STAGES).sum() * self.epoch_s / 3600.0)

    def times(self, channel: str) -> np.ndarray:
        """Sample times in seconds of ``channel``."""
        return np.arange(len(self.signals[channel])) / self.sfreq[channel]


def severity_class(ahi: "float | np.ndarray") -> "str | np.ndarray":
    """AASM severity: ``normal`` (<5), ``mild`` [5, 15), ``moderate`` [15, 30), ``severe`` (>=30).

    Examples
    --------
    >>> severity_class(14.9)
    'mild'
    """
    labels = np.array(["normal", "mild", "moderate", "severe"])
    idx = np.searchsorted(np.asarray(SEVERITY_CUTOFFS), np.asarray(ahi, dtype=float), side="right")
    out = labels[idx]
    return str(out) if np.ndim(out) == 0 else out


# --------------------------------------------------------------------------------------------------
# helpers
def _smooth_noise(rng: np.random.Generator, n: int, scale: float, smooth: int) -> np.ndarray:
    """Slowly varying noise of unit-ish amplitude times ``scale``."""
    x = uniform_filter1d(rng.standard_normal(n + 2 * smooth), size=max(smooth, 1), mode="nearest")
    x = x[smooth:smooth + n]
    sd = x.std()
    return scale * x / sd if sd > 0 else x


def _band_noise(rng: np.random.Generator, n: int, fs: float, bands: list[tuple[float, float]],
                pink: bool = False) -> list[np.ndarray]:
    """Independent unit-variance noises, one per frequency band, from one random spectrum."""
    freqs = sp_fft.rfftfreq(n, 1.0 / fs)
    m = len(freqs)
    spec = np.empty(m, np.complex64)
    spec.real = rng.standard_normal(m, dtype=np.float32)
    spec.imag = rng.standard_normal(m, dtype=np.float32)
    out = []
    for lo, hi in bands:
        mask = (freqs >= lo) & (freqs < hi)
        shaped = spec * mask
        if pink:
            with np.errstate(divide="ignore"):
                shaped = shaped / np.sqrt(np.maximum(freqs, lo if lo > 0 else 0.3))
        x = sp_fft.irfft(shaped, n=n, workers=1).astype(np.float32)
        sd = float(x.std())
        out.append(x / sd if sd > 0 else x)
    return out


def _per_epoch(values: np.ndarray, fs: float, epoch_s: float, n: int, smooth_s: float = 2.0) -> np.ndarray:
    """Expand one value per epoch to a smooth per-sample envelope of length n."""
    per = int(round(fs * epoch_s))
    x = np.repeat(values.astype(np.float32), per)[:n]
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)), mode="edge")
    k = int(fs * smooth_s)
    return uniform_filter1d(x, size=k, mode="nearest") if k > 1 else x


def _intervals_mask(onsets: np.ndarray, durations: np.ndarray, fs: float, n: int) -> np.ndarray:
    """Boolean mask of samples inside any [onset, onset + duration)."""
    diff = np.zeros(n + 1, dtype=np.int32)
    a = np.clip(np.round(np.asarray(onsets) * fs).astype(int), 0, n)
    b = np.clip(np.round((np.asarray(onsets) + np.asarray(durations)) * fs).astype(int), 0, n)
    np.add.at(diff, a, 1)
    np.add.at(diff, b, -1)
    return np.cumsum(diff[:-1]) > 0


def _add_templates(x: np.ndarray, times_s: np.ndarray, amps: np.ndarray, template: np.ndarray,
                   fs: float) -> None:
    """Add ``amp * template`` starting at each time (one vectorised scatter-add)."""
    if len(times_s) == 0:
        return
    n = len(x)
    start = np.round(np.asarray(times_s) * fs).astype(np.int64)
    idx = start[:, None] + np.arange(len(template))[None, :]
    w = (np.asarray(amps, dtype=np.float32)[:, None] * template.astype(np.float32)[None, :])
    ok = (idx >= 0) & (idx < n)
    x += np.bincount(idx[ok], weights=w[ok], minlength=n)[:n].astype(np.float32)


def _plateau(t: np.ndarray, t0: float, t1: float, ramp: float) -> np.ndarray:
    """0 outside [t0, t1], 1 inside, raised-cosine edges of width ``ramp`` centred on t0 and t1."""
    up = np.clip((t - (t0 - ramp / 2)) / ramp, 0, 1)
    down = np.clip(((t1 + ramp / 2) - t) / ramp, 0, 1)
    return (0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# hypnogram
def _make_hypnogram(n_epochs: int, age: float, severity: float, rng: np.random.Generator) -> np.ndarray:
    n3_base = np.array([80, 50, 24, 8, 0, 0, 0, 0])
    rem_base = np.array([20, 40, 50, 56, 56, 56, 56, 56])
    age_factor = float(np.clip(1.6 - 0.017 * age, 0.3, 1.3))
    stages: list[str] = ["W"] * int(rng.integers(10, 50))
    cycle = 0
    while len(stages) < n_epochs:
        c = min(cycle, 7)
        n3 = max(0, int(rng.normal(n3_base[c] * age_factor, 5)))
        rem = max(6, int(rng.normal(rem_base[c], 6)))
        n1 = int(rng.integers(2, 8))
        n2 = max(20, int(rng.normal(190, 16)) - n3 - rem - n1)
        n2a = int(n2 * rng.uniform(0.4, 0.7))
        stages += ["N1"] * n1 + ["N2"] * n2a + ["N3"] * n3 + ["N2"] * (n2 - n2a) + ["R"] * rem
        cycle += 1
    hyp = np.array(stages[:n_epochs], dtype="<U2")
    first_sleep = int(np.argmax(hyp != "W"))
    # brief awakenings, more frequent with age and apnea severity; each followed by N1
    hours = n_epochs / 120.0
    n_wake = rng.poisson((1.2 + 0.02 * max(age - 30, 0) + 0.03 * severity) * hours)
    for start in rng.integers(first_sleep + 10, max(first_sleep + 11, n_epochs - 4), size=n_wake):
        w = int(rng.integers(1, 6))
        hyp[start:start + w] = "W"
        hyp[start + w:start + w + int(rng.integers(1, 4))] = "N1"
    if rng.random() < 0.7:  # final awakening
        hyp[n_epochs - int(rng.integers(1, 12)):] = "W"
    return hyp


# --------------------------------------------------------------------------------------------------
# respiratory events
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def reference_annotation_probability(events: pd.DataFrame, *, rule: str = "3a",
                                     scorer: "Mapping[str, float] | None" = None) -> np.ndarray:
    """Probability that a human reference scorer annotates each event, from its latent physiology.

    A scorer judges each AASM criterion by eye: duration >= 10 s, flow down >= 90% (apnea) or >= 30%
    (hypopnea) and, for a hypopnea, a desaturation >= 3% (rule ``"3a"``, or an arousal, seen with
    probability ``arousal_seen``) or >= 4% (rule ``"4"``). Each criterion is judged met with a
    logistic probability of the true value around its cut-off (scales in :data:`REFERENCE_SCORER`),
    so clear events are annotated almost always (``1 - lapse``), events far below the definition
    almost never, and events near a cut-off about half the time, as between real scorers.

    Parameters
    ----------
    events : DataFrame
        ``duration_s, flow_drop, desat_pct, arousal`` (``night.events``).
    rule : {"3a", "4"}, default "3a"
    scorer : mapping, optional
        Values replacing those of :data:`REFERENCE_SCORER` (e.g. one night's scorer offsets).

    Returns
    -------
    ndarray of float, shape (n_events,)

    Examples
    --------
    >>> ev = pd.DataFrame({"duration_s": [25.0, 25.0, 5.0], "flow_drop": [1.0, 0.3, 1.0],
    ...                    "desat_pct": [6.0, 1.0, 6.0], "arousal": [True, False, True]})
    >>> np.round(reference_annotation_probability(ev), 2).tolist()
    [0.94, 0.07, 0.03]
    """
    if rule not in ("3a", "4"):
        raise MedaiInputError(f"rule must be '3a' or '4'; got {rule!r}.")
    unknown = sorted(set(scorer or {}) - set(REFERENCE_SCORER))
    if unknown:
        raise MedaiInputError(f"scorer has unknown keys {unknown}; choose among {sorted(REFERENCE_SCORER)}.")
    missing = [c for c in ("duration_s", "flow_drop", "desat_pct", "arousal") if c not in events.columns]
    if missing:
        raise MedaiInputError(f"events is missing columns {missing}; pass a ground-truth table such as "
                              "night.events.")
    r = {**REFERENCE_SCORER, **dict(scorer or {})}
    dur = events["duration_s"].to_numpy(float)
    drop = events["flow_drop"].to_numpy(float)
    desat = events["desat_pct"].to_numpy(float)
    aro = events["arousal"].to_numpy(bool)
    s_dur = _sigmoid((dur - 10.0) / r["duration_scale_s"])
    s_apnea = _sigmoid((drop - 0.9 - r["drop_offset"] / 3) / r["apnea_drop_scale"])
    s_hyp = _sigmoid((drop - 0.3 - r["drop_offset"]) / r["hypopnea_drop_scale"])
    if rule == "3a":
        s_desat = _sigmoid((desat - 3.0 - r["desat_offset_pct"]) / r["desat_scale_pct"])
        second = 1 - (1 - s_desat) * (1 - r["arousal_seen"] * aro)
    else:
        second = _sigmoid((desat - 4.0 - r["desat_offset_pct"]) / r["desat_scale_pct"])
    return (1 - r["lapse"]) * s_dur * (s_apnea + (1 - s_apnea) * s_hyp * second)


def _event_physiology(n: int, phys: Mapping[str, float], central_fraction: float,
                      rng: np.random.Generator) -> pd.DataFrame:
    """Latent parameters of ``n`` breathing disturbances, drawn on a continuum (vectorised)."""
    p_central = float(np.clip(central_fraction, 0, 1))
    apnea_kind = rng.random(n) < phys["apnea_share"]
    # residual flow of apneas: mostly < 10% of baseline, some just above (scored as hypopneas)
    resid = np.minimum(rng.exponential(0.045, n), 0.3)
    hyp_drop = 0.08 + 0.82 * rng.beta(1.8, 2.0, n)
    drop = np.where(apnea_kind, 1 - resid, hyp_drop)
    r2 = rng.random(n)
    ap_type = np.where(r2 < p_central, "central_apnea",
                       np.where(r2 < p_central + 0.08, "mixed_apnea", "obstructive_apnea"))
    hyp_mech = np.where(rng.random(n) < 0.5 * p_central + 0.05, "central", "obstructive")
    is_apnea = apnea_kind & (drop >= 0.9)
    etype = np.where(is_apnea, ap_type, "hypopnea")
    ap_mech = np.where(ap_type == "central_apnea", "central",
                       np.where(ap_type == "mixed_apnea", "mixed", "obstructive"))
    mech = np.where(apnea_kind, ap_mech, hyp_mech)
    # a failed apnea of mixed type becomes an obstructive hypopnea
    mech = np.where(~is_apnea & (mech == "mixed"), "obstructive", mech)
    median = np.where(apnea_kind, 19.0, 23.0)
    duration = np.clip(rng.lognormal(np.log(median), 0.4), 6.0, 75.0)
    # true SpO2 fall: grows with event length and depth, scaled by the subject's desaturation gain
    desat = phys["desat_gain"] * (0.3 + 0.25 * duration * drop ** 1.2) * rng.lognormal(0.0, 0.45, n)
    desat = np.clip(desat, 0.0, 25.0)
    z = -2.3 + 3.2 * drop + 0.04 * (duration - 20) + 0.15 * desat
    arousal = rng.random(n) < np.clip(phys["arousability"] * _sigmoid(z), 0, 0.97)
    return pd.DataFrame({"duration_s": duration, "type": etype, "mechanism": mech, "flow_drop": drop,
                         "desat_pct": desat, "arousal": arousal})


def _meets_rule(ev: pd.DataFrame, desat_thr: float, use_arousal: bool) -> np.ndarray:
    apnea = (ev["type"] != "hypopnea").to_numpy()
    hyp = (ev["flow_drop"].to_numpy() >= 0.3) & ((ev["desat_pct"].to_numpy() >= desat_thr)
                                               | (use_arousal & ev["arousal"].to_numpy(bool)))
    return (ev["duration_s"].to_numpy() >= 10.0) & (apnea | hyp)


def _draw_events(hyp: np.ndarray, epoch_s: float, position: np.ndarray, target_ahi: float,
                 central_fraction: float, phys: Mapping[str, float],
                 rng: np.random.Generator) -> pd.DataFrame:
    n_sec = len(position)
    stage_sec = np.repeat(hyp, int(epoch_s))[:n_sec]
    sleep = np.isin(stage_sec, SLEEP_STAGES)
    tst_h = sleep.sum() / 3600.0
    stage_w = {"W": 0.0, "N1": 1.0, "N2": 1.0, "N3": 0.4, "R": 2.2}
    w = np.vectorize(stage_w.get, otypes=[float])(stage_sec) * np.where(position == 0, 2.0, 1.0)
    n_qual = int(round(target_ahi * tst_h))
    # a pool of disturbances on the continuum; take them in order until n_qual meet the rule, so the
    # share of sub-threshold disturbances is the one the physiology gives. Plus RERA-like flow
    # limitation (shallow, arousal, little desaturation) that even healthy sleepers have.
    pool = _event_physiology(max(4 * n_qual, 8), phys, central_fraction, rng)
    meets = _meets_rule(pool, 3.0, True)
    if n_qual and meets.sum() >= n_qual:
        pool = pool.iloc[: int(np.flatnonzero(meets)[n_qual - 1]) + 1]
    elif n_qual == 0:
        pool = pool.iloc[:0]
    n_rera = int(rng.poisson(phys["rera_per_h"] * tst_h))
    if n_rera:
        rera = _event_physiology(n_rera, {**phys, "apnea_share": 0.0}, 0.0, rng)
        rera["flow_drop"] = rng.uniform(0.1, 0.36, n_rera)
        rera["mechanism"] = "obstructive"
        rera["desat_pct"] = np.clip(phys["desat_gain"] * rng.lognormal(np.log(1.2), 0.6, n_rera), 0, 6)
        rera["arousal"] = rng.random(n_rera) < 0.85
        pool = pd.concat([pool, rera], ignore_index=True)
    pool = pool.iloc[rng.permutation(len(pool))].reset_index(drop=True)
    n_total = len(pool)
    if n_total == 0 or w.sum() == 0:
        return pd.DataFrame(columns=_EVENT_COLUMNS)
    # cap the local rate so that events fit (mean event plus recovery about 45 s)
    for _ in range(3):
        intensity = n_total * w / w.sum()
        w = np.minimum(intensity, 1.0 / 50.0)
    cum = np.cumsum(w)
    u = (np.arange(n_total) + 0.5 + rng.uniform(-0.35, 0.35, n_total)) / n_total
    onsets = np.searchsorted(cum, u * cum[-1]).astype(float) + rng.uniform(0, 1, n_total)
    gaps = rng.uniform(10.0, 22.0, n_total)
    lags = np.clip(phys["desat_lag_mean_s"] + rng.normal(0.0, 3.0, n_total), 10.0, 45.0)
    rows = []
    prev_end = -np.inf
    dur_a, type_a, mech_a = (pool[c].to_numpy() for c in ("duration_s", "type", "mechanism"))
    drop_a, desat_a, aro_a = (pool[c].to_numpy() for c in ("flow_drop", "desat_pct", "arousal"))
    for k in range(n_total):
        duration = float(dur_a[k])
        onset = max(float(onsets[k]), prev_end + float(gaps[k]))
        end = onset + duration
        a, b = int(onset), int(np.ceil(end))
        if b + 45 >= n_sec or not sleep[a:b].all():
            continue
        prev_end = end
        rows.append((onset, duration, str(type_a[k]), str(mech_a[k]), float(drop_a[k]), float(desat_a[k]),
                     float(lags[k]), bool(aro_a[k]), stage_sec[a], POSITIONS[int(position[a])]))
    ev = pd.DataFrame(rows, columns=_EVENT_COLUMNS[:10])
    if ev.empty:
        return pd.DataFrame(columns=_EVENT_COLUMNS)
    ev["scored"] = _meets_rule(ev, 3.0, True)
    ev["scored_4pct"] = _meets_rule(ev, 4.0, False)
    # the reference scorer: one uniform draw per event, so 4%-annotated implies 3%-annotated
    u_ref = rng.random(len(ev))
    scorer = {"drop_offset": phys["scorer_drop_offset"], "desat_offset_pct": phys["scorer_desat_offset_pct"],
              "arousal_seen": phys["scorer_arousal_seen"]}
    ev["p_annotated"] = reference_annotation_probability(ev, rule="3a", scorer=scorer)
    ev["annotated"] = u_ref < ev["p_annotated"].to_numpy()
    ev["p_annotated_4pct"] = np.minimum(reference_annotation_probability(ev, rule="4", scorer=scorer),
                                        ev["p_annotated"])
    ev["annotated_4pct"] = u_ref < ev["p_annotated_4pct"].to_numpy()
    return ev


def _subject_physiology(cov: Mapping[str, object], cfg: "NightConfig", rng: np.random.Generator) -> dict:
    """Latent traits of one subject: how the body and the sensors respond (between-subject variation)."""
    return {
        "flow_gain": float(rng.lognormal(0.0, 0.35)),
        "desat_gain": float(np.clip(rng.lognormal(0.0, 0.35), 0.4, 2.5)),
        "desat_lag_mean_s": float(np.clip(rng.normal(24.0, 4.0), 15.0, 35.0)),
        "hr_response": float(np.clip(rng.lognormal(0.0, 0.5), 0.2, 3.0)),
        "arousability": float(rng.uniform(0.6, 1.1)),
        "apnea_share": float(rng.uniform(0.1, 0.4)),
        "rera_per_h": float(rng.uniform(2.0, 8.0)),
        "rem_irregularity": float(rng.uniform(0.6, 1.6)),
        "spo2_noise": float(cfg.spo2_noise * rng.lognormal(0.0, 0.4)),
        "artefact_proneness": float(np.clip(rng.lognormal(0.0, 0.7), 0.1, 5.0)),
        # the night's reference scorer: stricter or more lenient than the textbook cut-offs
        "scorer_drop_offset": float(np.clip(rng.normal(-0.03, 0.05), -0.15, 0.1)),
        "scorer_desat_offset_pct": float(np.clip(rng.normal(-0.4, 0.5), -1.5, 1.0)),
        "scorer_arousal_seen": float(rng.uniform(0.5, 0.95)),
    }


def _draw_artefacts(n_sec: int, cfg: "NightConfig", proneness: float,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Sensor artefact periods, independent of which channels are synthesised."""
    rows = []
    hours = n_sec / 3600.0
    for kind, channel, rate, lo, hi in (("cannula_off", "flow", cfg.flow_dropouts_per_h, 60, 180),
                                        ("mouth_breathing", "flow", cfg.mouth_breathing_per_h, 120, 480),
                                        ("probe_motion", "spo2", cfg.spo2_artefacts_per_h, 2, 8),
                                        ("probe_off", "spo2", cfg.spo2_dropouts_per_h, 30, 240)):
        k = int(rng.poisson(rate * proneness * hours)) if rate > 0 else 0
        if k == 0 or n_sec <= hi + 10:
            continue
        on = rng.uniform(0, n_sec - hi - 10, k)
        du = rng.uniform(lo, hi, k)
        rows += [(float(a), float(d), channel, kind) for a, d in zip(on, du)]
    out = pd.DataFrame(rows, columns=_ARTEFACT_COLUMNS)
    return out.sort_values("onset_s", ignore_index=True)


# --------------------------------------------------------------------------------------------------
# the night
def make_night(
    *,
    hours: float = 8.0,
    target_ahi: float = 10.0,
    covariates: "Mapping[str, object] | None" = None,
    config: "NightConfig | str" = "default",
    channels: "tuple[str, ...] | None" = None,
    subject_id: str = "SYN-0000",
    random_state: "int | np.random.Generator | None" = None,
) -> Night:
    """Simulate one polysomnography night with ground-truth events, arousals and hypnogram.

    Parameters
    ----------
    hours : float, default 8.0
        Recording length (0.5 to 12 hours); rounded down to whole 30-s epochs.
    target_ahi : float, default 10.0
        Events per hour of sleep the night is built to have (the realised ``true_ahi`` is counted
        from the generated events; very severe targets are capped by how many events fit).
    covariates : mapping, optional
        ``age`` (years), ``central_fraction`` (share of apneas that are central), ``supine_pref``
        (0-1), ``heart_rate`` (bpm), ``spo2_baseline`` (%). Defaults are typical values.
    config : NightConfig or {"default", "noisy", "clean"}, default "default"
        Signal quality.
    channels : tuple of str, optional
        Channels to synthesise (default: all of :data:`CHANNELS`). Leaving out what is not needed
        saves time; the ground truth does not change.
    subject_id : str
    random_state : int, numpy Generator or None
        Seed; the same seed gives the same night.

    Returns
    -------
    Night

    Examples
    --------
    >>> night = make_night(hours=1.0, target_ahi=20, random_state=0)
    >>> night.signals["flow"].shape, night.hypnogram.shape
    ((115200,), (120,))
    """
    if not isinstance(hours, (int, float)) or not 0.5 <= hours <= 12:
        raise MedaiInputError(f"hours must be a number between 0.5 and 12; got {hours!r}.")
    if not isinstance(target_ahi, (int, float)) or not 0 <= target_ahi <= 120:
        raise MedaiInputError(f"target_ahi must be a number between 0 and 120 events/h; got {target_ahi!r}.")
    channels = CHANNELS if channels is None else tuple(channels)
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise MedaiInputError(f"channels has unknown names {unknown}; choose from {list(CHANNELS)}.")
    cfg = _resolve_config(config)
    rng = np.random.default_rng(random_state)
    cov = {"age": 50.0, "central_fraction": 0.1, "supine_pref": 0.5, "heart_rate": 64.0,
           "spo2_baseline": 96.0}
    cov.update(dict(covariates or {}))
    epoch_s = 30.0
    n_epochs = int(hours * 3600 // epoch_s)
    n_sec = int(n_epochs * epoch_s)

    phys_rng, art_rng = rng.spawn(2)
    phys = _subject_physiology(cov, cfg, phys_rng)
    hyp = _make_hypnogram(n_epochs, float(cov["age"]), float(target_ahi), rng)
    stage_sec = np.repeat(hyp, int(epoch_s))

    # body position (1 Hz): a few changes a night, mostly during wake
    n_changes = int(rng.poisson(4)) + 1
    wake_sec = np.flatnonzero(stage_sec == "W")
    cand = wake_sec if len(wake_sec) > n_changes else np.arange(n_sec)
    change_at = np.sort(rng.choice(cand, size=n_changes, replace=False))
    sp = float(np.clip(cov["supine_pref"], 0.05, 0.95))
    pos_codes = rng.choice(4, size=n_changes + 1, p=[sp, (1 - sp) * 0.45, (1 - sp) * 0.45, (1 - sp) * 0.1])
    position = pos_codes[np.searchsorted(change_at, np.arange(n_sec), side="right")].astype(np.float32)

    events = _draw_events(hyp, epoch_s, position, float(target_ahi), float(cov["central_fraction"]), phys,
                          rng)
    artefacts = _draw_artefacts(n_sec, cfg, phys["artefact_proneness"], art_rng)

    # arousals: at the end of most events, plus spontaneous ones during sleep
    ev_ar = events[events["arousal"].astype(bool)]  # an empty frame has an object column
    ar_onset = (ev_ar["onset_s"] + ev_ar["duration_s"] + rng.uniform(-1.0, 2.0, len(ev_ar))).to_numpy()
    sleep_sec = np.flatnonzero(np.isin(stage_sec, SLEEP_STAGES))
    n_spont = int(rng.poisson(6.0 * len(sleep_sec) / 3600.0))
    sp_onset = rng.choice(sleep_sec, size=n_spont).astype(float) if len(sleep_sec) else np.zeros(0)
    if len(events) and n_spont:  # keep spontaneous arousals away from respiratory events
        starts = events["onset_s"].to_numpy() - 20
        ends = (events["onset_s"] + events["duration_s"]).to_numpy() + 20
        inside = _intervals_mask(starts, ends - starts, 1.0, n_sec)[sp_onset.astype(int)]
        sp_onset = sp_onset[~inside]
    onset = np.r_[ar_onset, sp_onset]
    cause = np.r_[np.full(len(ar_onset), "respiratory"), np.full(len(sp_onset), "spontaneous")]
    dur = np.clip(rng.lognormal(np.log(7.0), 0.35, len(onset)), 3.5, 15.0)
    order = np.argsort(onset)
    arousals = pd.DataFrame({"onset_s": onset[order], "duration_s": dur[order], "cause": cause[order]})
    arousals = arousals[arousals["onset_s"] + arousals["duration_s"] < n_sec - 1].reset_index(drop=True)

    signals: dict[str, np.ndarray] = {}
    sfreq = {ch: float(SAMPLING_RATES[ch]) for ch in channels}
    stage_idx = np.array([STAGES.index(s) for s in hyp])

    # one independent stream per signal: asking for fewer channels does not change the others
    sub = rng.spawn(7)
    resp = None
    if {"flow", "thorax", "abdomen", "ecg"} & set(channels):
        resp = _respiration(stage_idx, epoch_s, n_sec, events, artefacts, phys, cfg, sub[0])
        for ch in ("flow", "thorax", "abdomen"):
            if ch in channels:
                signals[ch] = resp[ch]
    if "spo2" in channels:
        signals["spo2"] = _spo2(stage_sec, events, artefacts, phys, cfg, float(cov["spo2_baseline"]), n_sec,
                                sub[1])
    if "position" in channels:
        signals["position"] = position
    eeg_delta = None
    if "eeg" in channels or "eog" in channels:
        eeg, eeg_delta = _eeg(stage_idx, epoch_s, n_sec, arousals, cfg, sub[2])
        if "eeg" in channels:
            signals["eeg"] = eeg
    if "eog" in channels:
        signals["eog"] = _eog(stage_idx, epoch_s, n_sec, eeg_delta, sub[3])
    if "emg" in channels:
        signals["emg"] = _emg(stage_idx, epoch_s, n_sec, arousals, sub[4])
    if "ecg" in channels:
        signals["ecg"] = _ecg(stage_idx, epoch_s, n_sec, events, arousals, resp["phase"],
                              float(cov["heart_rate"]), phys["hr_response"], sub[5])
    if cfg.movement_artefacts_per_h > 0:
        _movement_artefacts(signals, sfreq, n_sec, cfg, sub[6])

    tst_h = float(np.isin(hyp, SLEEP_STAGES).sum() * epoch_s / 3600.0)
    true_ahi = float(events["scored"].sum() / tst_h) if tst_h > 0 else 0.0
    true_ahi_4 = float(events["scored_4pct"].sum() / tst_h) if tst_h > 0 else 0.0
    reference_ahi = float(events["annotated"].sum() / tst_h) if tst_h > 0 else 0.0
    traits = ("flow_gain", "desat_gain", "desat_lag_mean_s", "hr_response", "spo2_noise",
              "artefact_proneness", "scorer_drop_offset", "scorer_desat_offset_pct", "scorer_arousal_seen")
    cov = {**cov, "target_ahi": float(target_ahi), **{k: phys[k] for k in traits}}
    frozen = {k: _readonly(v) for k, v in signals.items()}
    return Night(subject_id=subject_id, signals=frozen, sfreq=sfreq,
                 hypnogram=_readonly(hyp), epoch_s=epoch_s, events=events.reset_index(drop=True),
                 arousals=arousals, covariates=cov, true_ahi=true_ahi,
                 true_ahi_4pct=true_ahi_4, artefacts=artefacts, reference_ahi=reference_ahi)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _respiration(stage_idx: np.ndarray, epoch_s: float, n_sec: int, events: pd.DataFrame,
                 artefacts: pd.DataFrame, phys: Mapping[str, float], cfg: NightConfig,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    fs = SAMPLING_RATES["flow"]
    n = int(n_sec * fs)
    t = np.arange(n, dtype=np.float32) / np.float32(fs)
    # breathing rate: regular in N3, irregular in REM and wake
    irregular = np.array([0.10, 0.07, 0.05, 0.03, 0.12], dtype=np.float32)[stage_idx]
    rate0 = rng.uniform(0.22, 0.28)
    sec = np.arange(n_sec, dtype=np.float32)
    slow = np.interp(t, sec, _smooth_noise(rng, n_sec, 1.0, 20)).astype(np.float32)
    fast = np.interp(t, sec, _smooth_noise(rng, n_sec, 1.0, 4)).astype(np.float32)
    rate = rate0 * (1 + 0.05 * slow + _per_epoch(irregular, fs, epoch_s, n) * fast)
    phase = np.cumsum(rate / fs, dtype=np.float64)
    # inspiration takes ~40% of the cycle (I:E about 1:1.5); breath-to-breath amplitude varies
    frac = phase % 1.0
    warped = np.floor(phase) + np.where(frac < 0.4, frac * 1.25, 0.5 + (frac - 0.4) / 1.2)
    warped = warped.astype(np.float32)
    # breath-to-breath amplitude: regular in NREM, irregular in REM and wake
    n_breaths = int(phase[-1]) + 2
    breath_idx = phase.astype(np.int64)
    breath_epoch = (np.searchsorted(phase, np.arange(n_breaths)) / fs / epoch_s).astype(int)
    breath_stage = stage_idx[np.minimum(breath_epoch, len(stage_idx) - 1)]
    breath_sd = np.array([0.15, 0.08, 0.07, 0.05, 0.18 * phys["rem_irregularity"]])[breath_stage]
    per_breath = np.clip(rng.normal(1.0, breath_sd), 0.5, 1.6).astype(np.float32)
    # sighs (a deep breath, then a short central pause) a few times an hour: normal, not events
    sighs = np.flatnonzero(rng.random(n_breaths) < 6.0 / 900.0)
    sigh_t = np.searchsorted(phase, sighs.astype(float)) / fs
    if len(events):
        busy = _intervals_mask(events["onset_s"] - 30, events["duration_s"] + 70, 1.0, n_sec + 1)
        sighs = sighs[~busy[np.minimum(sigh_t.astype(int), n_sec)]]
    per_breath[sighs] = rng.uniform(2.0, 2.8, len(sighs))
    per_breath = per_breath[breath_idx]
    phase = warped
    s = np.sin(2 * np.pi * phase)
    stage_amp = _per_epoch(np.array([1.15, 1.0, 0.95, 0.95, 1.05])[stage_idx], fs, epoch_s, n, 10)
    amp = per_breath * (1 + 0.1 * slow) * stage_amp
    # REM: irregular breathing, with runs of shallower breaths that are not events (no desaturation)
    rem = _per_epoch((stage_idx == 4).astype(np.float32), fs, epoch_s, n, 10)
    rem_mod = np.interp(t, sec, _smooth_noise(rng, n_sec, 1.0, 12)).astype(np.float32)
    amp = amp * np.clip(1 + 0.3 * phys["rem_irregularity"] * rem * rem_mod, 0.3, 1.8)

    drive = np.ones(n, np.float32)      # central drive (0 in central apnea)
    patency = np.ones(n, np.float32)    # upper-airway patency (residual flow in obstruction)
    effort_gain = np.ones(n, np.float32)
    paradox = np.zeros(n, np.float32)   # thoraco-abdominal phase lag in radians
    ramp = 2.0
    for ev in events.itertuples(index=False):
        t0, t1 = ev.onset_s, ev.onset_s + ev.duration_s
        a, b = int((t0 - 3) * fs), int((t1 + 30) * fs)
        a, b = max(a, 0), min(b, n)
        tt = t[a:b]
        wgt = _plateau(tt, t0, t1, ramp)
        resid = np.float32(1 - ev.flow_drop)
        frac = (tt - t0) / max(ev.duration_s, 1e-6)
        if ev.type == "central_apnea" or (ev.type == "hypopnea" and ev.mechanism == "central"):
            drive[a:b] *= 1 - wgt * (1 - resid)
        elif ev.type == "mixed_apnea":
            split = t0 + ev.duration_s * rng.uniform(0.3, 0.6)
            w_c = _plateau(tt, t0, split, ramp)
            w_o = _plateau(tt, split, t1, ramp)
            drive[a:b] *= 1 - w_c * 0.97
            patency[a:b] *= 1 - w_o * (1 - resid)
            paradox[a:b] += np.float32(np.pi) * w_o
            effort_gain[a:b] *= 1 + 0.4 * w_o * np.clip(frac, 0, 1)
        else:
            patency[a:b] *= 1 - wgt * (1 - resid)
            lag = np.pi if ev.type == "obstructive_apnea" else np.pi * rng.uniform(0.15, 0.35)
            paradox[a:b] += np.float32(lag) * wgt
            effort_gain[a:b] *= 1 + 0.5 * wgt * np.clip(frac, 0, 1)
        # recovery breaths: hyperpnoea right after the event
        after = np.clip(tt - t1, 0, None)
        hyper = np.where(tt > t1 - 1, np.exp(-after / 8.0), 0).astype(np.float32)
        drive[a:b] *= 1 + (0.6 if ev.type != "hypopnea" else 0.3) * hyper * np.clip((tt - t1 + 1), 0, 1)
    bt = np.searchsorted(phase, sighs + 1.0) / fs  # end of each sigh
    for t_s in bt[bt < n_sec - 20]:
        a, b = int(t_s * fs), int((t_s + 12) * fs)
        drive[a:b] *= 1 - 0.9 * _plateau(t[a:b], t_s + 1.0, t_s + 1.0 + rng.uniform(3.0, 7.0), 2.0)
    flow = amp * drive * np.where(s > 0, np.minimum(s, patency), s * patency)
    effort = amp * drive * effort_gain * np.float32(cfg.effort_gain)
    thorax = effort * np.sin(2 * np.pi * phase)
    abdomen = 1.2 * effort * np.sin(2 * np.pi * phase - 0.15 - paradox)
    # nasal pressure: the subject's amplitude, a slowly wandering gain (cannula position) and drift
    wander = np.interp(t, sec, _smooth_noise(rng, n_sec, 0.15, 900))
    gain = phys["flow_gain"] * np.exp(wander).astype(np.float32)
    drift = np.interp(t, sec, _smooth_noise(rng, n_sec, 0.25, 120)).astype(np.float32)
    flow = gain * flow + phys["flow_gain"] * drift + cfg.noise * rng.standard_normal(n).astype(np.float32)
    thorax = thorax + cfg.noise * rng.standard_normal(n).astype(np.float32)
    abdomen = abdomen + cfg.noise * rng.standard_normal(n).astype(np.float32)
    for art in artefacts[artefacts["channel"] == "flow"].itertuples(index=False):
        a, b = int(art.onset_s * fs), min(int((art.onset_s + art.duration_s) * fs), n)
        if art.kind == "mouth_breathing":  # the nasal cannula sees less flow; effort and SpO2 unchanged
            w = _plateau(t[a:b], art.onset_s + 5, art.onset_s + art.duration_s - 5, 10.0)
            flow[a:b] *= np.float32(rng.uniform(0.2, 0.6)) * w + (1 - w)
        else:  # cannula off: no signal, only noise
            flow[a:b] = cfg.noise * 0.3 * rng.standard_normal(b - a)
    return {"flow": flow.astype(np.float32), "thorax": thorax.astype(np.float32),
            "abdomen": abdomen.astype(np.float32), "phase": phase}


def _spo2(stage_sec: np.ndarray, events: pd.DataFrame, artefacts: pd.DataFrame, phys: Mapping[str, float],
          cfg: NightConfig, baseline: float, n_sec: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n_sec, dtype=float)
    base = baseline + _smooth_noise(rng, n_sec, 0.3, 600) - 0.4 * (stage_sec == "R")
    base = uniform_filter1d(base, 60, mode="nearest")
    deficit = np.zeros(n_sec)
    # spontaneous dips unrelated to breathing events (REM hypoventilation, posture): mostly 1-3%, some
    # deeper; more in REM, and deeper in subjects who desaturate easily
    rem_w = np.where(stage_sec == "R", 3.0, 1.0)
    n_dips = int(rng.poisson(3.0 * n_sec / 3600))
    if n_dips:
        starts = rng.choice(n_sec - 90, size=n_dips, p=rem_w[: n_sec - 90] / rem_w[: n_sec - 90].sum())
        depth = np.clip(phys["desat_gain"] * rng.lognormal(np.log(1.7), 0.4, n_dips), 0.5, 6.0)
        for st, d in zip(starts, depth):
            w = int(rng.integers(30, 70))
            deficit[st:st + w] = np.maximum(deficit[st:st + w], d * np.sin(np.linspace(0, np.pi, w)))
    for ev in events.itertuples(index=False):
        start, nadir = ev.onset_s + ev.desat_lag_s, ev.onset_s + ev.duration_s + ev.desat_lag_s
        a, b = int(start), min(int(nadir + 60), n_sec)
        tt = t[a:b]
        fall = np.clip((tt - start) / max(nadir - start, 1.0), 0, 1)
        shape = np.where(tt <= nadir, 0.5 - 0.5 * np.cos(np.pi * fall), np.exp(-(tt - nadir) / 6.0))
        deficit[a:b] = np.maximum(deficit[a:b], ev.desat_pct * shape)
    spo2 = base - deficit + phys["spo2_noise"] * rng.standard_normal(n_sec)
    for art in artefacts[artefacts["channel"] == "spo2"].itertuples(index=False):
        a, b = int(art.onset_s), min(int(np.ceil(art.onset_s + art.duration_s)), n_sec)
        if art.kind == "probe_motion":  # abrupt, physiologically impossible drop
            spo2[a:b] -= rng.uniform(10, 30)
    spo2 = np.clip(np.round(spo2, 1), 50, 100)
    for art in artefacts[artefacts["kind"] == "probe_off"].itertuples(index=False):
        spo2[int(art.onset_s): min(int(np.ceil(art.onset_s + art.duration_s)), n_sec)] = 0.0  # invalid
    return spo2.astype(np.float32)


def _eeg(stage_idx: np.ndarray, epoch_s: float, n_sec: int, arousals: pd.DataFrame, cfg: NightConfig,
         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    fs = SAMPLING_RATES["eeg"]
    n = int(n_sec * fs)
    bands = [(0.3, 40.0), (0.5, 2.0), (4.0, 7.5), (8.0, 12.0), (15.0, 30.0)]
    pink, delta, theta, alpha, beta = _band_noise(rng, n, fs, bands[:1], pink=True) + \
        _band_noise(rng, n, fs, bands[1:])
    #            W     N1    N2    N3    R      (rms, uV)
    g_pink = np.array([8, 10, 12, 14, 8])[stage_idx]
    g_delta = np.array([4, 8, 16, 45, 6])[stage_idx]
    g_theta = np.array([4, 10, 7, 6, 9])[stage_idx]
    g_alpha = np.array([16, 4, 2.5, 2, 3.5])[stage_idx]
    g_beta = np.array([5, 2.5, 1.5, 1.2, 3])[stage_idx]
    ar = _intervals_mask(arousals["onset_s"], arousals["duration_s"], fs, n)
    ar_env = uniform_filter1d(ar.astype(np.float32), int(fs * 0.5), mode="nearest")
    delta_sig = _per_epoch(g_delta, fs, epoch_s, n) * delta
    eeg = (_per_epoch(g_pink, fs, epoch_s, n) * pink + delta_sig
           + _per_epoch(g_theta, fs, epoch_s, n) * theta
           + (_per_epoch(g_alpha, fs, epoch_s, n) + 14 * ar_env) * alpha
           + (_per_epoch(g_beta, fs, epoch_s, n) + 6 * ar_env) * beta)
    # spindles (12-14 Hz, 0.5-2 s) and K-complexes in N2, fewer spindles in N3
    n2_sec = np.flatnonzero(np.repeat(stage_idx, int(epoch_s)) == 2)
    n3_sec = np.flatnonzero(np.repeat(stage_idx, int(epoch_s)) == 3)
    for sec, rate_per_min, kind in ((n2_sec, 4.0, "spindle"), (n3_sec, 1.0, "spindle"), (n2_sec, 1.5, "kc")):
        k = int(rng.poisson(rate_per_min * len(sec) / 60.0))
        if k == 0:
            continue
        times = rng.choice(sec, size=k).astype(float) + rng.uniform(0, 1, k)
        if kind == "spindle":
            for dur in (0.7, 1.2, 1.8):
                tt = np.arange(int(dur * fs)) / fs
                tmpl = np.sin(2 * np.pi * 13.0 * tt) * np.hanning(len(tt))
                sel = rng.random(k) < 1 / 3
                _add_templates(eeg, times[sel], rng.uniform(20, 35, sel.sum()), tmpl, fs)
        else:
            tt = np.arange(int(1.2 * fs)) / fs
            tmpl = -np.exp(-((tt - 0.25) / 0.09) ** 2) + 0.6 * np.exp(-((tt - 0.65) / 0.2) ** 2)
            _add_templates(eeg, times, rng.uniform(90, 160, k), tmpl, fs)
    eeg += np.float32(cfg.eeg_noise_uv) * rng.standard_normal(n).astype(np.float32)
    return eeg.astype(np.float32), delta_sig


def _eog(stage_idx: np.ndarray, epoch_s: float, n_sec: int, eeg_delta: np.ndarray,
         rng: np.random.Generator) -> np.ndarray:
    fs = SAMPLING_RATES["eog"]
    n = int(n_sec * fs)
    step = int(SAMPLING_RATES["eeg"] // fs)
    (slow,) = _band_noise(rng, n, fs, [(0.1, 0.5)])
    eog = 5 * rng.standard_normal(n).astype(np.float32) + 0.6 * eeg_delta[::step][:n]
    eog += _per_epoch(np.array([10, 40, 5, 2, 5])[stage_idx], fs, epoch_s, n, 5) * slow  # rolling in N1
    stage_sec = np.repeat(stage_idx, int(epoch_s))
    tt = np.arange(int(1.5 * fs)) / fs
    saccade = (1 - np.exp(-tt / 0.04)) * np.exp(-tt / 0.8)
    rem_sec = np.flatnonzero(stage_sec == 4)
    k = int(rng.poisson(0.5 * len(rem_sec)))  # bursts of rapid eye movements in REM
    if k:
        times = rng.choice(rem_sec, size=k).astype(float) + rng.uniform(0, 1, k)
        _add_templates(eog, times, rng.choice([-1, 1], k) * rng.uniform(60, 150, k), saccade, fs)
    wake_sec = np.flatnonzero(stage_sec == 0)
    k = int(rng.poisson(0.25 * len(wake_sec)))  # blinks and saccades in wake
    if k:
        times = rng.choice(wake_sec, size=k).astype(float) + rng.uniform(0, 1, k)
        blink = np.exp(-((tt - 0.15) / 0.07) ** 2)
        _add_templates(eog, times, rng.uniform(80, 200, k), blink, fs)
    return eog.astype(np.float32)


def _emg(stage_idx: np.ndarray, epoch_s: float, n_sec: int, arousals: pd.DataFrame,
         rng: np.random.Generator) -> np.ndarray:
    fs = SAMPLING_RATES["emg"]
    n = int(n_sec * fs)
    tone = _per_epoch(np.array([20.0, 10.0, 8.0, 7.0, 1.5])[stage_idx], fs, epoch_s, n, 3)
    ar = _intervals_mask(arousals["onset_s"], arousals["duration_s"], fs, n)
    tone = tone + 15.0 * uniform_filter1d(ar.astype(np.float32), int(fs * 0.5), mode="nearest")
    rem_sec = np.flatnonzero(np.repeat(stage_idx, int(epoch_s)) == 4)
    k = int(rng.poisson(0.1 * len(rem_sec)))  # phasic twitches during REM atonia
    if k:
        on = rng.choice(rem_sec, size=k) + rng.uniform(0, 1, k)
        tone = tone + 12.0 * _intervals_mask(on, rng.uniform(0.1, 0.25, k), fs, n)
    return (tone * rng.standard_normal(n).astype(np.float32) + 0.5).astype(np.float32)


def _ecg(stage_idx: np.ndarray, epoch_s: float, n_sec: int, events: pd.DataFrame, arousals: pd.DataFrame,
         resp_phase: np.ndarray, hr0: float, hr_response: float, rng: np.random.Generator) -> np.ndarray:
    fs = SAMPLING_RATES["ecg"]
    n = int(n_sec * fs)
    grid = 4.0  # heart rate built at 4 Hz, then interpolated
    m = int(n_sec * grid)
    tg = np.arange(m) / grid
    hr = hr0 + _smooth_noise(rng, m, 2.0, int(60 * grid))
    hr += np.repeat(np.array([6.0, 2.0, 0.0, -3.0, 3.0])[stage_idx], int(epoch_s * grid))[:m]
    rf = SAMPLING_RATES["flow"]
    hr += 2.0 * np.sin(2 * np.pi * resp_phase[(tg * rf).astype(int)])  # respiratory sinus arrhythmia
    for ev in events.itertuples(index=False):  # bradycardia during the event, deeper for deeper events ...
        a, b = int(ev.onset_s * grid), int((ev.onset_s + ev.duration_s) * grid)
        hr[a:b] -= np.linspace(0, 6 * hr_response * ev.flow_drop, max(b - a, 1))[: b - a]
    for ar in arousals.itertuples(index=False):  # ... tachycardia at any arousal, respiratory or not
        a = int(ar.onset_s * grid)
        b = min(a + int(20 * grid), m)
        hr[a:b] += 12 * hr_response * rng.uniform(0.5, 1.5) * np.exp(-np.arange(b - a) / (6 * grid))
    hr_fs = np.interp(np.arange(n) / fs, tg, hr)
    beat_phase = np.cumsum(hr_fs / 60.0 / fs) % 1.0
    u = np.linspace(0, 1, 1000, endpoint=False)
    tmpl = (0.15 * np.exp(-((u - 0.2) / 0.025) ** 2) - 0.1 * np.exp(-((u - 0.33) / 0.008) ** 2)
            + 1.0 * np.exp(-((u - 0.35) / 0.009) ** 2) - 0.25 * np.exp(-((u - 0.37) / 0.01) ** 2)
            + 0.3 * np.exp(-((u - 0.6) / 0.05) ** 2))
    ecg = tmpl[(beat_phase * 1000).astype(int) % 1000].astype(np.float32)
    ecg += 0.02 * rng.standard_normal(n).astype(np.float32)
    return ecg


def _movement_artefacts(signals: dict, sfreq: Mapping[str, float], n_sec: int, cfg: NightConfig,
                        rng: np.random.Generator) -> None:
    k = int(rng.poisson(cfg.movement_artefacts_per_h * n_sec / 3600))
    if k == 0:
        return
    starts = rng.uniform(0, n_sec - 20, k)
    durs = rng.uniform(2, 8, k)
    base_seed = int(rng.integers(2**32))
    scale = {"eeg": 150.0, "eog": 150.0, "emg": 60.0, "ecg": 0.5, "flow": 1.5, "thorax": 1.5, "abdomen": 1.5}
    for ch, s in scale.items():
        if ch not in signals:
            continue
        crng = np.random.default_rng([base_seed, CHANNELS.index(ch)])
        fs = sfreq[ch]
        x = signals[ch]
        for st, du in zip(starts, durs):
            a, b = int(st * fs), int((st + du) * fs)
            walk = np.cumsum(crng.standard_normal(b - a)).astype(np.float32) / np.sqrt(max(b - a, 1))
            x[a:b] += np.float32(s) * walk


# --------------------------------------------------------------------------------------------------
# cohorts
@dataclass(frozen=True)
class SleepCohort:
    """A cohort of synthetic subjects; nights are generated on demand (one night is ~50 MB).

    Attributes
    ----------
    subjects : pandas.DataFrame
        One row per subject: ``subject_id, age, sex, bmi, neck_cm, snoring, hypertension,
        central_fraction, supine_pref, heart_rate, spo2_baseline, target_ahi, seed``.
    hours, config, channels : settings passed to :func:`make_night`.
    """

    subjects: pd.DataFrame
    hours: float
    config: NightConfig
    channels: "tuple[str, ...] | None" = None
    _cov_cols: tuple = field(default=("age", "central_fraction", "supine_pref", "heart_rate",
                                      "spo2_baseline"), repr=False)
    # Set by make_sleep_cohort only (init=False: dataclasses.replace and hand-built cohorts have none).
    _generation: "dict | None" = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.subjects)

    @property
    def generation(self) -> "dict | None":
        """The :func:`make_sleep_cohort` arguments that reproduce this cohort, or None.

        None when the cohort was built by hand, drawn from a Generator or without a seed, made by
        ``dataclasses.replace``, or changed since (its subjects table, hours or config differ from what
        was drawn). Only a cohort with generation parameters is cached on disk by
        :func:`~medai_lib.apnea.make_minute_dataset` and :func:`~medai_lib.apnea.score_cohort`.
        """
        gen = self._generation
        if gen is None:
            return None
        params = gen["params"]
        if (self.hours != params["hours"] or dataclasses.asdict(self.config) != params["config"]
                or _frame_fingerprint(self.subjects) != gen["fingerprint"]):
            return None
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in params.items()}

    def night(self, i: int) -> Night:
        """Generate the night of subject ``i`` (deterministic)."""
        row = self.subjects.iloc[i]
        cov = {c: float(row[c]) for c in self._cov_cols}
        night = make_night(hours=self.hours, target_ahi=float(row["target_ahi"]), covariates=cov,
                           config=self.config, channels=self.channels, subject_id=str(row["subject_id"]),
                           random_state=int(row["seed"]))
        full_cov = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        return dataclasses.replace(night, covariates={**full_cov, **dict(night.covariates)})

    def __iter__(self) -> Iterator[Night]:
        for i in range(len(self)):
            yield self.night(i)


def make_sleep_cohort(
    n_subjects: int,
    *,
    hours: float = 8.0,
    config: "NightConfig | str" = "default",
    near_cutoff_fraction: float = 0.4,
    channels: "tuple[str, ...] | None" = None,
    random_state: "int | np.random.Generator | None" = None,
) -> SleepCohort:
    """Draw a cohort of subjects whose covariates are linked to apnea severity.

    Severity follows a log-linear model of BMI, neck circumference, male sex and age; snoring and
    hypertension are more likely in severe subjects. A share ``near_cutoff_fraction`` of subjects is
    moved to within 2 events/h of the nearest severity cut-off (5, 15, 30), where classification is
    hardest.

    Parameters
    ----------
    n_subjects : int
        Number of subjects (>= 1).
    hours : float, default 8.0
        Length of each night.
    config : NightConfig or {"default", "noisy", "clean"}, default "default"
    near_cutoff_fraction : float, default 0.4
        Share of subjects placed close to a severity cut-off, in [0, 1].
    channels : tuple of str, optional
        Channels to synthesise per night (default all).
    random_state : int, numpy Generator or None

    Returns
    -------
    SleepCohort
        ``cohort.subjects`` is a DataFrame; ``cohort.night(i)`` or ``for night in cohort`` generates nights.

    Examples
    --------
    >>> cohort = make_sleep_cohort(5, hours=1.0, random_state=0)
    >>> cohort.subjects.shape[0]
    5
    """
    if not isinstance(n_subjects, (int, np.integer)) or n_subjects < 1:
        raise MedaiInputError(f"n_subjects must be a positive integer; got {n_subjects!r}.")
    if not 0 <= near_cutoff_fraction <= 1:
        raise MedaiInputError(f"near_cutoff_fraction must be in [0, 1]; got {near_cutoff_fraction!r}.")
    cfg = _resolve_config(config)
    rng = np.random.default_rng(random_state)
    n = int(n_subjects)
    male = rng.random(n) < 0.6
    age = np.clip(rng.normal(52, 13, n), 20, 85)
    bmi = np.clip(rng.lognormal(np.log(29), 0.17, n), 18, 55)
    neck = np.clip(31 + 0.25 * bmi + 3.0 * male + rng.normal(0, 1.5, n), 28, 55)
    log_ahi = (np.log(8.0) + 0.07 * (bmi - 29) + 0.08 * (neck - 39) + 0.4 * male + 0.02 * (age - 50)
               + rng.normal(0, 0.7, n))
    target = np.clip(np.exp(log_ahi), 0.5, 80.0)
    near = rng.random(n) < near_cutoff_fraction
    cut = np.array(SEVERITY_CUTOFFS)
    nearest = cut[np.argmin(np.abs(np.log(target[:, None]) - np.log(cut[None, :])), axis=1)]
    target = np.where(near, nearest + rng.uniform(-1.8, 1.8, n), target)
    sev = np.log(target)
    snoring = rng.random(n) < 1 / (1 + np.exp(-(sev - 1.5) * 1.5))
    hypertension = rng.random(n) < 1 / (1 + np.exp(-(0.6 * (sev - 2.5) + 0.04 * (age - 55))))
    subjects = pd.DataFrame({
        "subject_id": [f"SYN-{i:04d}" for i in range(n)],
        "age": np.round(age, 1), "sex": np.where(male, "M", "F"), "bmi": np.round(bmi, 1),
        "neck_cm": np.round(neck, 1), "snoring": snoring, "hypertension": hypertension,
        "central_fraction": np.where(rng.random(n) < 0.1, rng.uniform(0.5, 0.8, n),
                                     rng.uniform(0.02, 0.15, n)),
        "supine_pref": rng.uniform(0.2, 0.8, n), "heart_rate": rng.normal(64, 7, n),
        "spo2_baseline": rng.uniform(94.5, 97.5, n), "target_ahi": target,
        "seed": rng.integers(0, 2**31 - 1, n),
    })
    cohort = SleepCohort(subjects=subjects, hours=float(hours), config=cfg,
                         channels=None if channels is None else tuple(channels))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        params = {"n_subjects": n, "hours": float(hours), "config": dataclasses.asdict(cfg),
                  "near_cutoff_fraction": float(near_cutoff_fraction), "random_state": int(random_state)}
        object.__setattr__(cohort, "_generation", {"params": params, "fingerprint": _frame_fingerprint(subjects)})
    return cohort


def _frame_fingerprint(df: pd.DataFrame) -> str:
    """A hash of a table's values, columns and dtypes (to notice a cohort changed after it was drawn)."""
    import hashlib

    h = hashlib.sha256(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()


#: The default benchmark cohort: 40 subjects, 8-hour nights, 40% placed near a severity cut-off.
BENCHMARK_COHORT = MappingProxyType({"n_subjects": 40, "hours": 8.0, "random_state": 2024})


def make_benchmark_cohort(*, config: "NightConfig | str" = "default",
                          channels: "tuple[str, ...] | None" = None) -> SleepCohort:
    """The cohort on which scoring targets are reported (see :data:`BENCHMARK_COHORT`).

    The ``"noisy"`` configuration has the same subjects and events with more artefact and
    weaker signals.

    Examples
    --------
    >>> len(make_benchmark_cohort())
    40
    """
    return make_sleep_cohort(BENCHMARK_COHORT["n_subjects"], hours=BENCHMARK_COHORT["hours"], config=config,
                             channels=channels, random_state=BENCHMARK_COHORT["random_state"])
