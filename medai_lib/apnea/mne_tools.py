"""MNE helpers for the polysomnography lessons: 30-s sleep-stage epochs and per-stage EEG spectra.

Works on any ``mne.io.Raw`` whose annotations hold sleep stages, in AASM (``Sleep stage N2``) or
Rechtschaffen & Kales (``Sleep stage 2``, Sleep-EDF) wording; R&K stages 3 and 4 become N3.
"""
from __future__ import annotations

import numpy as np

from medai_lib.errors import MedaiInputError

#: Canonical stage of each annotation description understood here.
STAGE_DESCRIPTIONS = {
    "Sleep stage W": "W", "Sleep stage N1": "N1", "Sleep stage N2": "N2", "Sleep stage N3": "N3",
    "Sleep stage R": "R", "Sleep stage 1": "N1", "Sleep stage 2": "N2", "Sleep stage 3": "N3",
    "Sleep stage 4": "N3",
}
_CODES = {"W": 1, "N1": 2, "N2": 3, "N3": 4, "R": 5}


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
        raise MedaiInputError(
            "raw has no sleep-stage annotations (e.g. 'Sleep stage N2' or 'Sleep stage 2'); for Sleep-EDF, "
            "attach the hypnogram first: raw.set_annotations(mne.read_annotations(hypnogram_path))."
        )
    event_id = {d: _CODES[STAGE_DESCRIPTIONS[d]] for d in present}
    events, _ = mne.events_from_annotations(raw, event_id=event_id, chunk_duration=epoch_s, verbose="error")
    stages = {s: c for s, c in _CODES.items() if c in set(events[:, 2])}
    tmax = epoch_s - 1.0 / raw.info["sfreq"]
    return mne.Epochs(raw, events, event_id=stages, tmin=0.0, tmax=tmax, baseline=None, preload=True,
                      verbose="error")


def plot_stage_spectra(epochs, *, fmin: float = 0.5, fmax: float = 30.0, ax=None):
    """Mean EEG power spectrum (dB) of each sleep stage, colour-blind-safe colours.

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
    for stage in ("W", "N1", "N2", "N3", "R"):
        if stage not in epochs.event_id or len(epochs[stage]) == 0:
            continue
        psd = epochs[stage].compute_psd(fmin=fmin, fmax=fmax, verbose="error")
        power = psd.get_data().mean(axis=(0, 1))
        ax.plot(psd.freqs, 10 * np.log10(power * 1e12), color=colours[stage], lw=2,
                ls="--" if stage in ("N1", "R") else "-", label=f"{stage} ({len(epochs[stage])} epochs)")
    ax.set(xlabel="frequency (Hz)", ylabel="power (dB re 1 uV^2/Hz)", title="EEG spectrum by sleep stage")
    ax.legend(fontsize="small")
    return ax


__all__ = ["STAGE_DESCRIPTIONS", "plot_stage_spectra", "stage_epochs"]
