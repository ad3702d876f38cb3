"""Interactive explorers for the notebooks (ipywidgets 8), safe to run headless.

Widgets are wired with ``observe`` (never ``interact``), draw figures to PNG images without a GUI
backend, and never block papermill or nbgrader. Each factory returns a small object with its
controls (e.g. ``.slider``), the container to show (``.widget``; the object displays itself) and
``.displayed``: exactly what is on screen now, so tests can move a control and check the numbers.
"""
from __future__ import annotations

import html
import io
import logging

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation import (
    confusion_table,
    natural_frequencies,
    predictive_values,
    roc_curve,
)
from medai_lib.evaluation._validation import check_labels, check_same_length, check_scores

logger = logging.getLogger(__name__)


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def _new_figure(width: float = 4.5, height: float = 4.2):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.1%}"


class _Explorer:
    widget = None

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# ------------------------------------------------------------------------------------ threshold explorer
class ThresholdExplorer(_Explorer):
    """A threshold slider with the 2x2 table, sensitivity, specificity, PPV, NPV and the ROC point.

    Attributes
    ----------
    slider : ipywidgets.FloatSlider
    widget : ipywidgets.VBox
        What the notebook shows.
    displayed : dict
        ``threshold``, ``table`` (ConfusionTable), ``sensitivity``, ``specificity``, ``ppv``, ``npv``,
        ``roc_point`` (fpr, tpr) and ``caption`` as currently shown.
    """

    def __init__(self, y_true, y_score, *, threshold: float = 0.5, step: float = 0.01):
        import ipywidgets as w

        self.y_true = check_labels(y_true)
        self.y_score = check_scores(y_score)
        check_same_length(y_true=self.y_true, y_score=self.y_score)
        if not step > 0:
            raise MedaiInputError(f"step must be a positive number such as 0.01; got {step!r}.")
        low = np.floor(self.y_score.min() / step) * step
        high = np.ceil(self.y_score.max() / step) * step
        if not low <= threshold <= high:
            raise MedaiInputError(
                f"threshold={threshold!r} is outside the range of y_score ({low:g} to {high:g}); pick a "
                "value inside it."
            )
        self.roc = roc_curve(self.y_true, self.y_score)
        self.slider = w.FloatSlider(
            value=threshold, min=low, max=high, step=step, description="Threshold",
            continuous_update=False, readout_format=".2f",
            style={"description_width": "initial"}, layout=w.Layout(width="420px"),
        )
        self.image = w.Image(format="png", layout=w.Layout(width="360px"))
        self.table_html = w.HTML()
        self.metrics_html = w.HTML()
        self.caption_html = w.HTML()
        self.widget = w.VBox([
            self.slider,
            w.HBox([self.image, w.VBox([self.table_html, self.metrics_html])]),
            self.caption_html,
        ])
        self._fig = _new_figure()
        ax = self._fig.add_subplot()
        from medai_lib.plotting import plot_roc

        plot_roc(self.roc, ax=ax, operating_point=(0.0, 0.0))
        self._point = ax.lines[-1]
        self._ax = ax
        self.displayed: dict = {}
        self.slider.observe(self._on_change, names="value")
        self._render(self.slider.value)

    def _on_change(self, change) -> None:
        self._render(change["new"])

    def _render(self, threshold: float) -> None:
        table = confusion_table(self.y_true, self.y_score, threshold=threshold)
        fpr, tpr = 1 - table.specificity, table.sensitivity
        self._point.set_data([fpr], [tpr])
        self._point.set_label(f"threshold {threshold:.2f}")
        self._ax.legend(loc="lower right", fontsize="small")
        self.image.value = _png(self._fig)
        self.table_html.value = table._repr_html_()
        rows = "".join(
            f"<tr><th scope='row'>{name}</th><td>{_pct(value)}</td></tr>"
            for name, value in (("Sensitivity", table.sensitivity), ("Specificity", table.specificity),
                                ("PPV", table.ppv), ("NPV", table.npv))
        )
        self.metrics_html.value = f"<table>{rows}</table>"
        caption = (
            f"At threshold {threshold:.2f}, {table.tp + table.fp} of {table.n} cases test positive. "
            f"The test finds {table.tp} of {table.n_positive} diseased cases (sensitivity "
            f"{_pct(table.sensitivity)}) and clears {table.tn} of {table.n_negative} healthy ones "
            f"(specificity {_pct(table.specificity)}); PPV {_pct(table.ppv)}, NPV {_pct(table.npv)}. "
            f"The dot on the ROC curve (AUC {self.roc.auc:.3f}) marks this operating point; raising the "
            "threshold moves it down and to the left."
        )
        self.caption_html.value = f"<p>{html.escape(caption)}</p>"
        self.displayed = {
            "threshold": float(threshold), "table": table, "sensitivity": table.sensitivity,
            "specificity": table.specificity, "ppv": table.ppv, "npv": table.npv,
            "roc_point": (fpr, tpr), "caption": caption,
        }


def threshold_explorer(y_true, y_score, *, threshold: float = 0.5, step: float = 0.01) -> ThresholdExplorer:
    """Slider that moves the operating point: the 2x2 table, metrics and ROC point update together.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_score : array_like of float, shape (n_cases,)
    threshold : float, default 0.5
        Starting threshold (test-positive when score >= threshold).
    step : float, default 0.01

    Returns
    -------
    ThresholdExplorer
        Show it as a cell's last value; move it with ``explorer.slider.value = 0.3``.

    Examples
    --------
    >>> ex = threshold_explorer([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> ex.slider.value = 0.3
    >>> ex.displayed["table"]
    ConfusionTable(tp=2, fp=1, fn=0, tn=1)
    """
    return ThresholdExplorer(y_true, y_score, threshold=threshold, step=step)


# ----------------------------------------------------------------------------------- prevalence explorer
DEFAULT_SETTINGS: dict[str, float] = {"Screening population": 0.01, "Referral clinic": 0.30}


class PrevalenceExplorer(_Explorer):
    """The same test (fixed sensitivity and specificity) at different prevalences.

    Attributes
    ----------
    slider : ipywidgets.FloatSlider
        Prevalence.
    setting : ipywidgets.ToggleButtons
        Preset settings (e.g. screening population, referral clinic); choosing one moves the slider.
    widget : ipywidgets.VBox
    displayed : dict
        ``prevalence``, ``ppv``, ``npv``, ``frequencies`` (NaturalFrequencies per ``population``) and
        ``caption``.
    """

    def __init__(self, sensitivity: float, specificity: float, *, prevalence: float | None = None,
                 settings: dict[str, float] | None = None, population: int = 1000):
        import ipywidgets as w

        self.settings = dict(DEFAULT_SETTINGS if settings is None else settings)
        prevalence = next(iter(self.settings.values())) if prevalence is None else prevalence
        # validates sensitivity, specificity, prevalence and population with their names
        natural_frequencies(sensitivity, specificity, prevalence, population=population)
        for name, value in self.settings.items():
            natural_frequencies(sensitivity, specificity, value, population=population)
        self.sensitivity, self.specificity, self.population = float(sensitivity), float(specificity), population
        self.slider = w.FloatSlider(
            value=prevalence, min=0.001, max=0.6, step=0.001, description="Prevalence",
            continuous_update=False, readout_format=".1%", layout=w.Layout(width="420px"),
        )
        self.setting = w.ToggleButtons(
            options=[(f"{k} ({v:.0%})", v) for k, v in self.settings.items()], value=None,
            description="Setting", tooltips=[f"prevalence {v:.1%}" for v in self.settings.values()],
        )
        self.image = w.Image(format="png", layout=w.Layout(width="400px"))
        self.table_html = w.HTML()
        self.caption_html = w.HTML()
        self.widget = w.VBox([w.HTML(f"<b>Test: sensitivity {sensitivity:.1%}, specificity "
                                     f"{specificity:.1%}</b>"), self.setting, self.slider,
                              w.HBox([self.image, self.table_html]), self.caption_html])
        self._fig = _new_figure(5, 3.6)
        self._ax = self._fig.add_subplot()
        self._draw_curves()
        self.displayed: dict = {}
        self.setting.observe(self._on_setting, names="value")
        self.slider.observe(self._on_change, names="value")
        self._render(self.slider.value)

    def _draw_curves(self) -> None:
        from medai_lib.plotting import OKABE_ITO, PALETTE

        grid = np.geomspace(0.001, 0.6, 200)
        pv = predictive_values(self.sensitivity, self.specificity, grid)
        ax = self._ax
        ax.plot(grid, pv["ppv"], color=PALETTE[0], linewidth=2, label="PPV")
        ax.plot(grid, pv["npv"], color=PALETTE[1], linewidth=2, linestyle="--", label="NPV")
        for name, value in self.settings.items():
            ax.axvline(value, color=OKABE_ITO["black"], linestyle=":", linewidth=1)
            ax.text(value, 0.02, f" {name}", rotation=90, va="bottom", fontsize="small")
        self._marker = ax.axvline(0.01, color=OKABE_ITO["vermillion"], linewidth=2, label="current")
        ax.set(xscale="log", ylim=(0, 1.02), xlabel="Prevalence (log scale)", ylabel="Predictive value")
        ax.legend(loc="center right", fontsize="small")

    def _on_setting(self, change) -> None:
        if change["new"] is not None:
            self.slider.value = change["new"]

    def _on_change(self, change) -> None:
        self._render(change["new"])

    def _render(self, prevalence: float) -> None:
        freq = natural_frequencies(self.sensitivity, self.specificity, prevalence, population=self.population)
        self._marker.set_xdata([prevalence, prevalence])
        self.image.value = _png(self._fig)
        t = freq.table
        self.table_html.value = (
            f"<table><caption>Per {self.population:,} people</caption>"
            "<tr><th></th><th scope='col'>Test positive</th><th scope='col'>Test negative</th></tr>"
            f"<tr><th scope='row'>Disease</th><td>{t.tp}</td><td>{t.fn}</td></tr>"
            f"<tr><th scope='row'>No disease</th><td>{t.fp}</td><td>{t.tn}</td></tr></table>"
            f"<p>PPV {_pct(freq.ppv)} &middot; NPV {_pct(freq.npv)}</p>"
        )
        caption = (f"Prevalence {prevalence:.1%}. " + freq.describe() + " The figure shows PPV (solid) and "
                   "NPV (dashed) across prevalences; the vertical line marks the current prevalence.")
        self.caption_html.value = f"<p>{html.escape(caption)}</p>"
        if self.setting.value is not None and abs(self.setting.value - prevalence) > 1e-12:
            self.setting.value = None
        self.displayed = {"prevalence": float(prevalence), "ppv": freq.ppv, "npv": freq.npv,
                          "frequencies": freq, "caption": caption}


def prevalence_explorer(
    sensitivity: float,
    specificity: float,
    *,
    prevalence: float | None = None,
    settings: dict[str, float] | None = None,
    population: int = 1000,
) -> PrevalenceExplorer:
    """The same test in a screening population and in a referral clinic: PPV, NPV and counts per 1,000.

    Parameters
    ----------
    sensitivity, specificity : float in [0, 1]
    prevalence : float, optional
        Starting prevalence (default: the first setting's).
    settings : dict of name -> prevalence, optional
        Preset buttons; default screening population 1% and referral clinic 30%.
    population : int, default 1000
        Size of the population for the natural-frequency counts.

    Returns
    -------
    PrevalenceExplorer

    Examples
    --------
    >>> ex = prevalence_explorer(0.9, 0.95)
    >>> ex.slider.value = 0.3
    >>> round(ex.displayed["ppv"], 3)
    0.885
    """
    return PrevalenceExplorer(sensitivity, specificity, prevalence=prevalence, settings=settings,
                              population=population)


# --------------------------------------------------------------------------------- distribution explorer
_NONE = "(none)"


class DistributionExplorer(_Explorer):
    """Dropdowns choosing a numeric column and a grouping column, showing plot_distribution_by_group.

    Attributes
    ----------
    column, by : ipywidgets.Dropdown
    kind : ipywidgets.ToggleButtons
        "hist" or "box".
    widget : ipywidgets.VBox
    displayed : dict
        ``column``, ``by`` (None for no grouping), ``kind``, ``groups`` (labels drawn) and ``caption``.
    """

    def __init__(self, df: pd.DataFrame, *, column: str | None = None, by: str | None = None,
                 max_groups: int = 8):
        import ipywidgets as w

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}.")
        numeric = [c for c in df.columns
                   if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
        groupable = [c for c in df.columns if c not in numeric or df[c].nunique() <= max_groups]
        groupable = [c for c in groupable if 1 <= df[c].nunique() <= max_groups]
        if not numeric:
            raise MedaiInputError("df has no numeric column to plot; add one (e.g. age or a lab value).")
        for arg, value, allowed in (("column", column, numeric), ("by", by, groupable)):
            if value is not None and value not in allowed:
                raise MedaiInputError(f"{arg}={value!r} is not one of the usable columns {allowed}.")
        self.df = df
        self.column = w.Dropdown(options=numeric, value=column or numeric[0], description="Variable")
        self.by = w.Dropdown(options=[_NONE] + groupable, value=by or _NONE, description="Group by")
        self.kind = w.ToggleButtons(options=[("Histogram", "hist"), ("Box plot", "box")], value="hist",
                                    description="Show")
        self.image = w.Image(format="png", layout=w.Layout(width="480px"))
        self.caption_html = w.HTML()
        self.widget = w.VBox([w.HBox([self.column, self.by]), self.kind, self.image, self.caption_html])
        self.displayed: dict = {}
        for control in (self.column, self.by, self.kind):
            control.observe(self._on_change, names="value")
        self._render()

    def _on_change(self, change) -> None:
        self._render()

    def _render(self) -> None:
        from medai_lib.plotting import caption_of, plot_distribution_by_group

        by = None if self.by.value == _NONE else self.by.value
        fig = _new_figure(6, 3.8)
        ax = plot_distribution_by_group(self.df, self.column.value, by, ax=fig.add_subplot(), kind=self.kind.value)
        self.image.value = _png(fig)
        caption = caption_of(ax)
        self.caption_html.value = f"<p>{html.escape(caption)}</p>"
        self.displayed = {"column": self.column.value, "by": by, "kind": self.kind.value,
                          "groups": list(ax.medai_groups), "caption": caption}


def distribution_explorer(df: pd.DataFrame, *, column: str | None = None, by: str | None = None) -> DistributionExplorer:
    """Explore a table: pick a numeric column and a grouping column, see their distributions.

    Parameters
    ----------
    df : pandas.DataFrame
    column : str, optional
        Starting numeric column (default: the first one).
    by : str, optional
        Starting grouping column (default: no grouping). Columns with up to 8 distinct values are offered.

    Returns
    -------
    DistributionExplorer

    Examples
    --------
    >>> df = pd.DataFrame({"age": [30, 40, 50, 60], "sex": ["F", "M", "F", "M"]})
    >>> ex = distribution_explorer(df)
    >>> ex.by.value = "sex"
    >>> ex.displayed["groups"]
    ['F', 'M']
    """
    return DistributionExplorer(df, column=column, by=by)
