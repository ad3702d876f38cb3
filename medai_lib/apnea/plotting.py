"""Figures of polysomnography: a stacked view of a few minutes of a night, with events shaded."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

# Okabe-Ito, colour-blind safe
EVENT_COLOURS = {
    "obstructive_apnea": "#0072B2", "central_apnea": "#E69F00", "mixed_apnea": "#CC79A7",
    "hypopnea": "#009E73", "arousal": "#999999",
}
_LABELS = {"flow": "Flow\n(nasal pressure)", "thorax": "Thorax\n(effort)", "abdomen": "Abdomen\n(effort)",
           "spo2": "SpO2 (%)", "eeg": "EEG C4-M1\n(uV)", "eog": "EOG (uV)", "emg": "Chin EMG\n(uV)",
           "ecg": "ECG (mV)", "position": "Position"}


def plot_psg_window(
    recording,
    *,
    start_s: float,
    duration_s: float = 180.0,
    channels: Sequence[str] = ("flow", "thorax", "abdomen", "spo2", "eeg"),
    events: "pd.DataFrame | None" = None,
    arousals: "pd.DataFrame | None" = None,
    fig=None,
):
    """Plot ``duration_s`` seconds of a night as stacked channels, shading respiratory events.

    Parameters
    ----------
    recording : Night or PSGRecording
        Anything with ``signals`` and ``sfreq`` mappings.
    start_s, duration_s : float
        Window to show, in seconds from the start of the recording.
    channels : sequence of str
        Channels to show, top to bottom.
    events : DataFrame, optional
        ``onset_s, duration_s, type`` rows to shade (e.g. ``night.events`` or a scorer's events).
    arousals : DataFrame, optional
        ``onset_s, duration_s`` rows marked with grey bars on the EEG/EMG rows.
    fig : matplotlib Figure, optional
        Figure to draw into (cleared); a new one is made if omitted.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=0.5, target_ahi=30, random_state=0)
    >>> fig = plot_psg_window(night, start_s=600, duration_s=120, events=night.events)
    """
    import matplotlib.pyplot as plt

    missing = [c for c in channels if c not in recording.signals]
    if missing:
        raise MedaiInputError(
            f"channels {missing} are not in the recording (it has {sorted(recording.signals)}); "
            "pass channels= with names it holds."
        )
    if fig is None:
        fig = plt.figure(figsize=(11, 1.4 * len(channels) + 0.8))
    else:
        fig.clear()
    axes = fig.subplots(len(channels), 1, sharex=True)
    axes = np.atleast_1d(axes)
    end_s = start_s + duration_s
    for ax, ch in zip(axes, channels):
        fs = recording.sfreq[ch]
        a, b = int(start_s * fs), int(end_s * fs)
        x = np.asarray(recording.signals[ch][a:b])
        t = (np.arange(a, a + len(x)) / fs)
        ax.plot(t, x, color="black", lw=0.6 if fs > 10 else 1.2)
        ax.set_ylabel(_LABELS.get(ch, ch), rotation=0, ha="right", va="center", fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        if ch == "spo2":
            set_spo2_axis(ax, x)
        if events is not None:
            sel = events[(events["onset_s"] < end_s) & (events["onset_s"] + events["duration_s"] > start_s)]
            for ev in sel.itertuples(index=False):
                colour = EVENT_COLOURS.get(ev.type, "#56B4E9")
                ax.axvspan(ev.onset_s, ev.onset_s + ev.duration_s, color=colour, alpha=0.18, lw=0)
        if arousals is not None and ch in ("eeg", "emg"):
            visible = (arousals["onset_s"] < end_s) & (arousals["onset_s"] + arousals["duration_s"] > start_s)
            sel = arousals[visible]
            for ar in sel.itertuples(index=False):
                ax.axvspan(ar.onset_s, ar.onset_s + ar.duration_s, ymin=0.9, ymax=1.0,
                           color=EVENT_COLOURS["arousal"], alpha=0.9, lw=0)
    axes[-1].set_xlabel("time (s)")
    in_window = set()
    if events is not None:
        visible = (events["onset_s"] < end_s) & (events["onset_s"] + events["duration_s"] > start_s)
        in_window = set(events.loc[visible, "type"])
    axes[-1].set_xlim(start_s, end_s)
    if events is not None:
        from matplotlib.patches import Patch
        shown = sorted(in_window & set(EVENT_COLOURS))
        handles = [Patch(color=EVENT_COLOURS[k], alpha=0.4, label=k.replace("_", " ")) for k in shown]
        if arousals is not None:
            handles.append(Patch(color=EVENT_COLOURS["arousal"], label="EEG arousal"))
        if handles:
            axes[0].legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles),
                           frameon=False, fontsize=9)
    fig.align_ylabels(axes)
    return fig


_STAGE_LEVEL = {"W": 4, "R": 3, "N1": 2, "N2": 1, "N3": 0}


def set_spo2_axis(ax, spo2) -> None:
    """A fixed SpO2 scale, from 85% (or below the lowest valid value shown) to 100%.

    An autoscaled axis stretches 1% of oximeter noise to the height of the panel, so that noise looks
    like a desaturation; a sleep report draws SpO2 on a fixed scale. Samples below 50% (probe off) are
    left out of the range.
    """
    x = np.asarray(spo2, dtype=float)
    valid = x[np.isfinite(x) & (x >= 50)]
    lo = min(85.0, float(np.floor(valid.min())) - 2.0) if len(valid) else 85.0
    ax.set_ylim(max(lo, 50.0), 100.5)


def plot_hypnogram_or_note(hypnogram, *, epoch_s: float = 30.0, ax=None,
                           window: "tuple[float, float] | None" = None, duration_s: "float | None" = None):
    """:func:`plot_hypnogram`, or, for a recording without staging, an empty panel that says so.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if hypnogram is not None and len(hypnogram) > 0:
        return plot_hypnogram(hypnogram, epoch_s=epoch_s, ax=ax, window=window)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2))
    hours = (duration_s or 0.0) / 3600.0
    ax.text(0.5, 0.5, "no sleep staging in this recording (no hypnogram)", ha="center", va="center",
            transform=ax.transAxes, color="0.3")
    ax.set(xlabel="hours since lights off", yticks=[], xlim=(0, hours if hours > 0 else 1))
    if window is not None:
        ax.axvspan(window[0] / 3600.0, window[1] / 3600.0, color="#0072B2", alpha=0.3, lw=0)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_hypnogram(hypnogram, *, epoch_s: float = 30.0, ax=None, window: "tuple[float, float] | None" = None):
    """Draw a hypnogram (stages over hours), REM in a thick line, optionally shading a window in seconds.

    Parameters
    ----------
    hypnogram : array_like of str, shape (n_epochs,)
    epoch_s : float, default 30.0
    ax : matplotlib Axes, optional
    window : (start_s, end_s), optional
        Shaded, e.g. the stretch of signal shown beside it.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> ax = plot_hypnogram(make_night(hours=1.0, random_state=0, channels=("spo2",)).hypnogram)
    """
    import matplotlib.pyplot as plt

    hyp = np.asarray(hypnogram).astype(str)
    if hyp.ndim != 1 or len(hyp) == 0:
        raise MedaiInputError("hypnogram must be a non-empty 1-D array of stages (W, N1, N2, N3, R).")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2))
    level = np.array([_STAGE_LEVEL.get(s, np.nan) for s in hyp], dtype=float)
    t = np.arange(len(hyp) + 1) * epoch_s / 3600.0
    ax.step(t, np.r_[level, level[-1]], where="post", color="black", lw=0.8)
    rem = np.where(hyp == "R", level, np.nan)
    ax.step(t, np.r_[rem, rem[-1]], where="post", color="#D55E00", lw=3)
    ax.set_yticks(list(_STAGE_LEVEL.values()), list(_STAGE_LEVEL))
    ax.set(xlabel="hours since lights off", ylabel="sleep stage", xlim=(0, t[-1]), ylim=(-0.5, 4.5))
    if not ax.get_title():
        ax.set_title("Hypnogram (REM in orange)")
    ax.spines[["top", "right"]].set_visible(False)
    if window is not None:
        ax.axvspan(window[0] / 3600.0, window[1] / 3600.0, color="#0072B2", alpha=0.3, lw=0)
    return ax


def plot_model_comparison(comparison: pd.DataFrame, *, ceiling: "str | None" = None, ax=None):
    """AUC of each model with its 95% interval (a forest plot), the ``ceiling`` model as a dashed line.

    ``comparison`` as :func:`medai_lib.apnea.models.compare_models` returns it. Returns the Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 2.8))
    pos = np.arange(len(comparison))
    est = comparison["auc estimate"]
    ax.errorbar(est, pos, xerr=[est - comparison["auc ci_low"], comparison["auc ci_high"] - est], fmt="o",
                color="#0072B2", capsize=4)
    if ceiling is not None:
        ax.axvline(comparison.loc[ceiling, "auc estimate"], color="#D55E00", ls="--", lw=1,
                   label=f"{ceiling}: the ceiling")
        ax.legend(loc="lower left", fontsize=8)
    ax.set(yticks=pos, yticklabels=comparison.index, xlabel="AUC on new patients (95% CI, patients resampled)")
    ax.invert_yaxis()
    return ax


def plot_ahi_agreement(table: pd.DataFrame, *, reference: str, ax=None):
    """Each estimated AHI column of ``table`` against its ``reference`` column, with the severity cut-offs.

    Returns the Axes.
    """
    import matplotlib.pyplot as plt

    if reference not in table.columns:
        raise MedaiInputError(f"reference {reference!r} is not a column of table ({list(table.columns)}).")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    styles = [("#0072B2", "o"), ("#E69F00", "s"), ("#009E73", "^"), ("#CC79A7", "D")]
    for (colour, marker), col in zip(styles, [c for c in table.columns if c != reference]):
        ax.scatter(table[reference], table[col], color=colour, marker=marker, label=col)
    top = float(table.max().max()) * 1.05
    ax.plot([0, top], [0, top], color="grey", ls=":", label="identity")
    for cut, name in ((5, "mild"), (15, "moderate"), (30, "severe")):
        ax.axvline(cut, color="lightgrey", lw=0.8)
        ax.axhline(cut, color="lightgrey", lw=0.8)
        if cut < top:
            ax.text(cut + 0.3, top * 0.02, f"{name} from {cut}", rotation=90, va="bottom", fontsize=7, color="grey")
    ax.set(xlim=(0, top), ylim=(0, top), xlabel=f"{reference} (events/h of sleep)", ylabel="estimated AHI",
           title="AHI (grey: severity cut-offs)")
    ax.legend(loc="upper left", fontsize=8)
    return ax
