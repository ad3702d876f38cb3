"""MNE helpers for the polysomnography lessons: 30-s sleep-stage epochs and per-stage EEG spectra.

Works on any ``mne.io.Raw`` whose annotations hold sleep stages, in AASM (``Sleep stage N2``) or
Rechtschaffen & Kales (``Sleep stage 2``, Sleep-EDF) wording; R&K stages 3 and 4 become N3. A recording
without staging gives "unstaged" epochs: the whole night's spectrum.
"""
from __future__ import annotations

import logging

import numpy as np

from medai_lib.errors import MedaiInputError

#: Canonical stage of each annotation description understood here.
STAGE_DESCRIPTIONS = {
    "Sleep stage W": "W", "Sleep stage N1": "N1", "Sleep stage N2": "N2", "Sleep stage N3": "N3",
    "Sleep stage R": "R", "Sleep stage 1": "N1", "Sleep stage 2": "N2", "Sleep stage 3": "N3",
    "Sleep stage 4": "N3",
}
_CODES = {"W": 1, "N1": 2, "N2": 3, "N3": 4, "R": 5}
_UNSTAGED = 9
logger = logging.getLogger(__name__)


def recording_to_raw(recording, *, channels: "tuple[str, ...]" = ("eeg",)):
    """An ``mne.io.RawArray`` of some channels of a :class:`~medai_lib.apnea.PSGRecording` (or a ``Night``),
    with its hypnogram as ``Sleep stage ...`` annotations, whatever file the stages came from.

    The channels must share one sampling rate. EEG, EOG and EMG are taken in microvolts (as PSG files store
    them) and handed to MNE in volts.

    Parameters
    ----------
    recording : PSGRecording or Night
    channels : tuple of str, default ("eeg",)

    Returns
    -------
    mne.io.RawArray

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> raw = recording_to_raw(make_night(hours=0.5, random_state=0, channels=("eeg",)))
    >>> raw.ch_names, raw.info["sfreq"], len(raw.annotations)
    (['eeg'], 100.0, 60)
    """
    import mne

    missing = [ch for ch in channels if ch not in recording.signals]
    if missing:
        raise MedaiInputError(f"the recording has no {missing} channel(s); it has {sorted(recording.signals)}.")
    rates = {float(recording.sfreq[ch]) for ch in channels}
    if len(rates) != 1:
        raise MedaiInputError(f"channels {list(channels)} have different sampling rates {sorted(rates)}; "
                              "ask for channels sampled alike.")
    scale = {"eeg": 1e-6, "eog": 1e-6, "emg": 1e-6}
    n = min(len(recording.signals[ch]) for ch in channels)
    data = np.stack([np.asarray(recording.signals[ch][:n], float) * scale.get(ch, 1.0) for ch in channels])
    types = [ch if ch in ("eeg", "eog", "emg", "ecg") else "misc" for ch in channels]
    raw = mne.io.RawArray(data, mne.create_info(list(channels), rates.pop(), types), verbose="error")
    hyp = np.asarray(getattr(recording, "hypnogram", [])).astype(str)
    epoch_s = float(getattr(recording, "epoch_s", 30.0))
    text = {v: k for k, v in STAGE_DESCRIPTIONS.items() if k.endswith(("W", "N1", "N2", "N3", "R"))}
    keep = np.flatnonzero(np.isin(hyp, list(text)) & ((np.arange(len(hyp)) + 1) * epoch_s <= n / raw.info["sfreq"] + 1e-9))
    if len(keep):
        raw.set_annotations(mne.Annotations(keep * epoch_s, epoch_s, [text[s] for s in hyp[keep]]))
    return raw


def stage_epochs(raw, *, epoch_s: float = 30.0):
    """Cut a Raw into 30-s epochs labelled by sleep stage (``epochs["N3"]``, ``epochs["R"]``...).

    Parameters
    ----------
    raw : mne.io.Raw
        With sleep-stage annotations (see :data:`STAGE_DESCRIPTIONS`).
    epoch_s : float, default 30.0

    Returns
    -------
    mne.Epochs
        ``event_id`` maps the stages present to codes; no baseline correction.

    Examples
    --------
    >>> epochs = stage_epochs(raw)  # doctest: +SKIP
    >>> epochs["N3"].compute_psd(fmax=30)  # doctest: +SKIP
    """
    import mne

    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(f"raw must be an mne.io.Raw (e.g. from read_psg_raw); got {type(raw).__name__}.")
    present = sorted(set(raw.annotations.description) & set(STAGE_DESCRIPTIONS))
    if not present:
        logger.warning("raw has no sleep-stage annotations (e.g. 'Sleep stage N2'): the epochs are "
                       "'unstaged'. To stage them, attach a hypnogram, e.g. "
                       "raw.set_annotations(mne.read_annotations(hypnogram_path)).")
        events = mne.make_fixed_length_events(raw, id=_UNSTAGED, duration=epoch_s)
        return mne.Epochs(raw, events, event_id={"unstaged": _UNSTAGED}, tmin=0.0,
                          tmax=epoch_s - 1.0 / raw.info["sfreq"], baseline=None, preload=True, verbose="error")
    event_id = {d: _CODES[STAGE_DESCRIPTIONS[d]] for d in present}
    events, _ = mne.events_from_annotations(raw, event_id=event_id, chunk_duration=epoch_s, verbose="error")
    stages = {s: c for s, c in _CODES.items() if c in set(events[:, 2])}
    tmax = epoch_s - 1.0 / raw.info["sfreq"]
    return mne.Epochs(raw, events, event_id=stages, tmin=0.0, tmax=tmax, baseline=None, preload=True,
                      verbose="error")


def plot_stage_spectra(epochs, *, fmin: float = 0.5, fmax: float = 30.0, ax=None):
    """Mean EEG power spectrum (dB) of each sleep stage, colour-blind-safe colours.

    ``epochs`` from :func:`stage_epochs`; unstaged epochs give one grey line; None (no EEG) a note.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    from medai_lib.plotting import OKABE_ITO

    colours = {"W": OKABE_ITO["orange"], "N1": OKABE_ITO["sky_blue"], "N2": OKABE_ITO["blue"],
               "N3": OKABE_ITO["black"], "R": OKABE_ITO["vermillion"]}
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    colours["unstaged"] = "0.4"
    if epochs is None:  # no EEG channel: say so where the figure would be
        ax.text(0.5, 0.5, "no EEG channel in this recording:\nno spectrum to show", ha="center", va="center",
                transform=ax.transAxes)
        ax.set(xticks=[], yticks=[], title="EEG spectrum by sleep stage")
        return ax
    for stage in ("W", "N1", "N2", "N3", "R", "unstaged"):
        if stage not in epochs.event_id or len(epochs[stage]) == 0:
            continue
        psd = epochs[stage].compute_psd(fmin=fmin, fmax=fmax, verbose="error")
        power = psd.get_data().mean(axis=(0, 1))
        ax.plot(psd.freqs, 10 * np.log10(power * 1e12), color=colours[stage], lw=2,
                ls="--" if stage in ("N1", "R") else "-", label=f"{stage} ({len(epochs[stage])} epochs)")
    title = ("EEG spectrum of the whole recording (no sleep staging)" if list(epochs.event_id) == ["unstaged"]
             else "EEG spectrum by sleep stage")
    ax.set(xlabel="frequency (Hz)", ylabel="power (dB re 1 uV^2/Hz)", title=title)
    ax.legend(fontsize="small")
    return ax


__all__ = ["STAGE_DESCRIPTIONS", "plot_stage_spectra", "recording_to_raw", "stage_epochs"]
