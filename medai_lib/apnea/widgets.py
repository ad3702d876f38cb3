"""Apnea widgets: a PSG browser and a scoring-rule explorer, headless-safe (ipywidgets 8, ``observe``).

Like :mod:`medai_lib.widgets`, each object has its controls, ``.widget`` (what the notebook shows; the
object displays itself) and ``.displayed``: exactly what is on screen, so tests can move a control and
check the numbers against the library.
"""
from __future__ import annotations

import html
import logging
from typing import Sequence

import numpy as np
import pandas as pd

from medai_lib.apnea.rules import apply_scoring_rule
from medai_lib.errors import MedaiInputError
from medai_lib.widgets import _Explorer, _new_figure, _png

logger = logging.getLogger(__name__)

_TRUE_COLOUR = "#56B4E9"   # sky blue: true events
_SCORED_COLOUR = "#E69F00"  # orange: scored events
_LABELS = {"flow": "Nasal flow", "thorax": "Thorax", "abdomen": "Abdomen", "spo2": "SpO2 (%)", "ecg": "ECG",
           "eeg": "EEG", "eog": "EOG", "emg": "Chin EMG", "position": "Position"}


def _in_window(df: "pd.DataFrame | None", start: float, end: float) -> pd.DataFrame:
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=["onset_s", "duration_s", "type"])
    sel = (df["onset_s"] < end) & (df["onset_s"] + df["duration_s"] > start)
    return df.loc[sel]


class PSGBrowser(_Explorer):
    """Scroll through a night: channels, true and scored events, and where the window sits on the hypnogram.

    Parameters
    ----------
    night : Night or PSGRecording
        Needs ``signals``, ``sfreq``, ``hypnogram``, ``epoch_s``; ``events`` (ground truth, only rows with
        ``scored`` True are drawn) when present.
    scored_events : DataFrame, optional
        ``onset_s, duration_s`` of a scorer's events (e.g. ``score_night(night).events``).
    channels : sequence of str
    window_s : float, default 120

    Attributes
    ----------
    slider : ipywidgets.FloatSlider (window start, seconds)
    channel_select : ipywidgets.SelectMultiple
    widget : ipywidgets.VBox
    displayed : dict
        ``start_s, end_s, channels, stage`` (most common stage in the window), ``n_true``, ``n_scored``,
        ``caption``.
    """

    def __init__(self, night, *, scored_events: "pd.DataFrame | None" = None,
                 channels: Sequence[str] = ("flow", "thorax", "abdomen", "spo2"), window_s: float = 120.0,
                 start_s: float = 0.0):
        import ipywidgets as w

        for attr in ("signals", "sfreq", "hypnogram"):
            if not hasattr(night, attr):
                raise TypeError(f"night must be a Night or PSGRecording (it has no {attr!r}).")
        channels = tuple(channels)
        missing = [c for c in channels if c not in night.signals]
        if missing or not channels:
            raise MedaiInputError(f"channels {missing or '()'} are not in the recording (it has "
                                  f"{sorted(night.signals)}); pass channels= with names it holds.")
        duration = min(len(night.signals[c]) / float(night.sfreq[c]) for c in channels)
        if not 10 <= window_s <= duration:
            raise MedaiInputError(f"window_s must be between 10 s and the recording length ({duration:.0f} s); "
                                  f"got {window_s!r}.")
        self.night = night
        self.duration_s = duration
        self.epoch_s = float(getattr(night, "epoch_s", 30.0))
        true = getattr(night, "events", None)
        if true is not None and "scored" in getattr(true, "columns", []):
            true = true[true["scored"].astype(bool)]
        self.true_events = true
        self.scored_events = scored_events
        self.window_s = float(window_s)
        max_start = float(np.floor((duration - window_s) / 10) * 10)
        self.slider = w.FloatSlider(value=float(np.clip(start_s, 0, max_start)), min=0.0, max=max_start,
                                    step=min(window_s / 2, max(max_start, 1.0)),
                                    description="Start (s)", continuous_update=False, readout_format=".0f",
                                    layout=w.Layout(width="520px"))
        self.channel_select = w.SelectMultiple(options=[c for c in night.signals if c in _LABELS],
                                               value=channels, description="Channels", rows=5)
        self.image = w.Image(format="png", layout=w.Layout(width="720px"))
        self.caption_html = w.HTML()
        self.widget = w.VBox([w.HBox([self.slider, self.channel_select]), self.image, self.caption_html])
        self.displayed: dict = {}
        self.slider.observe(self._on_change, names="value")
        self.channel_select.observe(self._on_change, names="value")
        self._render()

    def _on_change(self, change) -> None:
        self._render()

    def snapshot(self):
        """The current view as a static PNG image (what a saved or exported notebook shows)."""
        from IPython.display import Image

        return Image(data=self.image.value, format="png")

    def _render(self) -> None:
        from medai_lib.apnea.plotting import plot_hypnogram_or_note, set_spo2_axis

        start = float(self.slider.value)
        end = start + self.window_s
        channels = tuple(self.channel_select.value) or ("flow",)
        true = _in_window(self.true_events, start, end)
        scored = _in_window(self.scored_events, start, end)
        fig = _new_figure(9.0, 1.3 * len(channels) + 1.6)
        axes = fig.subplots(len(channels) + 1, 1, gridspec_kw={"height_ratios": [1.2] + [1] * len(channels)})
        plot_hypnogram_or_note(self.night.hypnogram, epoch_s=self.epoch_s, ax=axes[0], window=(start, end),
                               duration_s=self.duration_s)
        axes[0].set(xlabel="", ylabel="", title="")
        axes[0].set_title("Hypnogram, hours since lights off (blue band: the window below)", fontsize=8, loc="left")
        for ax, ch in zip(axes[1:], channels):
            fs = float(self.night.sfreq[ch])
            a, b = int(start * fs), int(end * fs)
            x = np.asarray(self.night.signals[ch][a:b])
            ax.plot(np.arange(a, a + len(x)) / fs, x, color="black", lw=0.6)
            ax.set_ylabel(_LABELS.get(ch, ch), rotation=0, ha="right", va="center", fontsize=8)
            ax.set_xlim(start, end)
            if ch == "spo2":
                set_spo2_axis(ax, x)
            ax.spines[["top", "right"]].set_visible(False)
            for ev in true.itertuples(index=False):
                ax.axvspan(ev.onset_s, ev.onset_s + ev.duration_s, ymin=0.0, ymax=0.5, color=_TRUE_COLOUR,
                           alpha=0.35, lw=0)
            for ev in scored.itertuples(index=False):
                ax.axvspan(ev.onset_s, ev.onset_s + ev.duration_s, ymin=0.5, ymax=1.0, color=_SCORED_COLOUR,
                           alpha=0.35, lw=0)
        axes[-1].set_xlabel("time (s)")
        from matplotlib.patches import Patch

        axes[1].legend(handles=[Patch(color=_TRUE_COLOUR, alpha=0.5, label="true event (lower half)"),
                                Patch(color=_SCORED_COLOUR, alpha=0.5, label="scored event (upper half)")],
                       loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=8)
        self.image.value = _png(fig)
        hyp = np.asarray(self.night.hypnogram).astype(str)
        e0, e1 = int(start // self.epoch_s), max(int(np.ceil(end / self.epoch_s)), int(start // self.epoch_s) + 1)
        stages, counts = np.unique(hyp[e0:e1], return_counts=True)
        stage = str(stages[np.argmax(counts)]) if len(stages) else "?"
        where = f"mostly stage {stage}" if len(stages) else "no sleep staging"
        caption = (f"{start / 60:.1f} to {end / 60:.1f} min, {where}: {len(true)} true event(s) "
                   f"(blue, lower half of each row) and {len(scored)} scored event(s) (orange, upper half). "
                   "The blue band on the hypnogram marks this window.")
        self.caption_html.value = f"<p>{html.escape(caption)}</p>"
        self.displayed = {"start_s": start, "end_s": end, "channels": channels, "stage": stage,
                          "n_true": int(len(true)), "n_scored": int(len(scored)), "caption": caption}


class ScoringRuleExplorer(_Explorer):
    """Change the hypopnea rule and watch the AHI and severity of the same patient change.

    Parameters
    ----------
    events : DataFrame
        Disturbances with ``duration_s, type, flow_drop, desat_pct, arousal`` (``night.events``).
    hours : float
        Hours of sleep (``night.total_sleep_time_h``).

    Attributes
    ----------
    rule : ipywidgets.ToggleButtons ("3% or arousal", "4%", "custom")
    desat_slider, flow_slider, duration_slider : ipywidgets.FloatSlider
    arousal_box : ipywidgets.Checkbox
    widget : ipywidgets.VBox
    displayed : dict
        ``desat_pct, use_arousal, min_flow_drop, min_duration_s, ahi, severity, n_apneas, n_hypopneas,
        caption``.
    """

    _PRESETS = {"3% or arousal (AASM 2012)": (3.0, True), "4% only (CMS)": (4.0, False)}

    def __init__(self, events: pd.DataFrame, hours: float):
        import ipywidgets as w

        apply_scoring_rule(events, hours)  # validates the inputs at the entry point
        self.events, self.hours = events, float(hours)
        self.reference = apply_scoring_rule(events, hours)
        self.rule = w.ToggleButtons(options=list(self._PRESETS) + ["custom"], value=list(self._PRESETS)[0],
                                    description="Rule")
        self.desat_slider = w.FloatSlider(value=3.0, min=1.0, max=6.0, step=0.5, description="Desat. (%)",
                                          continuous_update=False)
        self.arousal_box = w.Checkbox(value=True, description="arousal also qualifies a hypopnea")
        self.flow_slider = w.FloatSlider(value=0.3, min=0.1, max=0.8, step=0.05, description="Flow drop",
                                         continuous_update=False)
        self.duration_slider = w.FloatSlider(value=10.0, min=5.0, max=20.0, step=1.0, description="Min. dur. (s)",
                                             continuous_update=False)
        self.image = w.Image(format="png", layout=w.Layout(width="480px"))
        self.caption_html = w.HTML()
        self.widget = w.VBox([self.rule, w.HBox([self.desat_slider, self.arousal_box]),
                              w.HBox([self.flow_slider, self.duration_slider]), self.image, self.caption_html])
        self.displayed: dict = {}
        self._syncing = False
        self.rule.observe(self._on_rule, names="value")
        for c in (self.desat_slider, self.arousal_box, self.flow_slider, self.duration_slider):
            c.observe(self._on_control, names="value")
        self._render()

    def snapshot(self):
        """The current view as a static PNG image (what a saved or exported notebook shows)."""
        from IPython.display import Image

        return Image(data=self.image.value, format="png")

    def _on_rule(self, change) -> None:
        if change["new"] in self._PRESETS:
            d, a = self._PRESETS[change["new"]]
            self._syncing = True
            self.desat_slider.value, self.arousal_box.value = d, a
            self.flow_slider.value, self.duration_slider.value = 0.3, 10.0
            self._syncing = False
        self._render()

    def _on_control(self, change) -> None:
        if self._syncing:
            return
        current = (float(self.desat_slider.value), bool(self.arousal_box.value))
        preset = next((k for k, v in self._PRESETS.items() if v == current
                       and self.flow_slider.value == 0.3 and self.duration_slider.value == 10.0), "custom")
        if preset != self.rule.value:
            self._syncing = True
            self.rule.value = preset
            self._syncing = False
        self._render()

    def _render(self) -> None:
        from medai_lib.apnea.simulate import SEVERITY_CUTOFFS

        kw = dict(desat_pct=float(self.desat_slider.value), use_arousal=bool(self.arousal_box.value),
                  min_flow_drop=float(self.flow_slider.value), min_duration_s=float(self.duration_slider.value))
        r = apply_scoring_rule(self.events, self.hours, **kw)
        fig = _new_figure(5.5, 2.0)
        ax = fig.add_subplot()
        edges = [0, *SEVERITY_CUTOFFS, max(60.0, r.ahi * 1.2, self.reference.ahi * 1.2)]
        colours = ["#F0E442", "#56B4E9", "#E69F00", "#CC79A7"]
        for (lo, hi), c, name in zip(zip(edges[:-1], edges[1:]), colours, ["normal", "mild", "moderate", "severe"]):
            ax.axvspan(lo, hi, color=c, alpha=0.35, lw=0)
            ax.text((lo + hi) / 2, 0.85, name, ha="center", fontsize=8, transform=ax.get_xaxis_transform())
        ax.axvline(self.reference.ahi, color="grey", ls=":", lw=1.5, label=f"AASM 2012: {self.reference.ahi:.1f}")
        ax.plot([r.ahi], [0.4], marker="v", ms=12, color="black", label=f"this rule: {r.ahi:.1f}")
        ax.set(xlim=(0, edges[-1]), yticks=[], xlabel="AHI (events per hour of sleep)")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        self.image.value = _png(fig)
        caption = (f"Desaturation >= {kw['desat_pct']:g}%{' or an arousal' if kw['use_arousal'] else ''}, flow "
                   f"down >= {kw['min_flow_drop']:.0%}, >= {kw['min_duration_s']:g} s: {r.n_apneas} apneas + "
                   f"{r.n_hypopneas} hypopneas in {self.hours:.1f} h of sleep = AHI {r.ahi:.1f} ({r.severity}). "
                   f"Under the AASM 2012 rule the same night has AHI {self.reference.ahi:.1f} "
                   f"({self.reference.severity}).")
        self.caption_html.value = f"<p>{html.escape(caption)}</p>"
        self.displayed = {**kw, "ahi": r.ahi, "severity": r.severity, "n_apneas": r.n_apneas,
                          "n_hypopneas": r.n_hypopneas, "caption": caption}


__all__ = ["PSGBrowser", "ScoringRuleExplorer"]
