"""Cancer-track explorers (ipywidgets, headless-safe): a PRS percentile explorer with absolute 10-year risk
and its uncertainty, and a zoomable Manhattan plot. Each has ``.widget`` and ``.displayed`` (what is shown).
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from medai_lib.cancer.communicate import plot_icon_array, risk_message
from medai_lib.errors import MedaiInputError
from medai_lib.widgets import _Explorer, _new_figure, _png


class PrsExplorer(_Explorer):
    """One person's PRS percentile against the population, with absolute risk over ``years`` and its range.

    Attributes
    ----------
    percentile : ipywidgets.IntSlider
        The person's PRS percentile in the reference population (1-99).
    age : ipywidgets.IntSlider
        The person's current age (risk is for the next ``years`` years, if cancer-free now).
    widget : ipywidgets.VBox
    displayed : dict
        ``percentile``, ``age``, ``prs``, ``risk`` (point estimate), ``ci_low``, ``ci_high`` (2.5th and 97.5th
        percentiles over the bootstrap models), ``baseline`` (risk at the 50th percentile), ``message``
        (RiskMessage) and ``caption``.
    """

    def __init__(self, population_prs, model, *, bootstrap_models=(), person: dict | None = None,
                 percentile: int = 50, age: int = 50, years: float = 10, reference: str | None = None):
        import ipywidgets as w

        prs = np.asarray(population_prs, dtype=float)
        if prs.ndim != 1 or prs.size < 20 or not np.isfinite(prs).all():
            raise MedaiInputError(
                "'population_prs' must be at least 20 finite scores (the reference population)."
            )
        if "prs" not in getattr(model, "columns", ()):
            raise MedaiInputError(
                "'model' must be a SurvivalModel fitted with a PRS (fit_cox_model(..., prs=...))."
            )
        if not 1 <= percentile <= 99:
            raise MedaiInputError(f"'percentile' must be in 1..99; got {percentile!r}.")
        self.population_prs, self.model, self.years = prs, model, float(years)
        self.reference = reference
        self.bootstrap_models = list(bootstrap_models)
        defaults = {"sex": "female", "smoking": 0, "family_history": 0}
        self.person = {**defaults, **(person or {})}
        self.percentile = w.IntSlider(value=int(percentile), min=1, max=99, description="PRS percentile",
                                      continuous_update=False, style={"description_width": "initial"},
                                      layout=w.Layout(width="420px"))
        self.age = w.IntSlider(value=int(age), min=30, max=75, description="Age now", continuous_update=False,
                               style={"description_width": "initial"}, layout=w.Layout(width="420px"))
        self.image = w.Image(format="png", layout=w.Layout(width="640px"))
        self.text_html = w.HTML()
        self.widget = w.VBox([self.percentile, self.age, self.image, self.text_html])
        self.displayed: dict = {}
        self.percentile.observe(self._on_change, names="value")
        self.age.observe(self._on_change, names="value")
        self._render()

    def risk_at(self, percentile: float, age: float, models=None) -> np.ndarray:
        """Absolute risk over ``years`` at a PRS percentile and age, one value per model."""
        models = [self.model] if models is None else models
        prs = float(np.percentile(self.population_prs, percentile))
        row = pd.DataFrame([{**self.person, "age": float(age)}])
        return np.array([m.absolute_risk(row, prs=[prs], from_age=float(age), years=self.years)[0]
                         for m in models])

    def _on_change(self, change) -> None:
        self._render()

    def _render(self) -> None:
        q, age = int(self.percentile.value), int(self.age.value)
        prs = float(np.percentile(self.population_prs, q))
        risk = float(self.risk_at(q, age)[0])
        baseline = float(self.risk_at(50, age)[0])
        if self.bootstrap_models:
            boot = self.risk_at(q, age, self.bootstrap_models)
            # Under 100 refits the 2.5th and 97.5th percentiles are in effect the extremes: say so.
            few = len(boot) < 100
            bounds = (boot.min(), boot.max()) if few else np.quantile(boot, [0.025, 0.975])
            low, high = (float(v) for v in bounds)
            range_name = f"range over {len(boot)} refits" if few else "95% range"
        else:
            low = high = float("nan")
        message = risk_message(risk, baseline=max(baseline, 1e-9), years=self.years, population=1000,
                               comparison="people of the same age with a middle (50th percentile) score")
        fig = _new_figure(8, 3.4)
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.3, 1])
        from medai_lib.plotting import OKABE_ITO

        ax1.hist(self.population_prs, bins=40, color=OKABE_ITO["sky_blue"], edgecolor="white")
        ax1.axvline(prs, color=OKABE_ITO["vermillion"], linewidth=2.5, label=f"this person: {q}th percentile")
        ax1.set(xlabel="Polygenic risk score", ylabel="People in the reference group"
                + (f"\n({self.reference})" if self.reference else ""))
        ax1.legend(loc="upper right", fontsize="small")
        title = f"{self.years:g}-year risk: {risk:.1%}"
        if np.isfinite(low):
            title += f" ({range_name} {low:.1%} to {high:.1%})"
        plot_icon_array(risk, baseline=baseline, ax=ax2, title=title)
        ax2.title.set_fontsize("small")
        self.image.value = _png(fig)
        rng_text = (f" The range {low:.1%} to {high:.1%} shows how much this estimate moves when the model "
                    "is refitted on resampled data." if np.isfinite(low) else "")
        caption = (f"A PRS at the {q}th percentile (score {prs:.3g}), age {age}: estimated risk of a "
                   f"diagnosis in the next {self.years:g} years {risk:.1%}, against {baseline:.1%} at the "
                   "50th percentile." + rng_text + " " + message.text.replace("\n", " "))
        if self.reference:
            caption += (f" Percentile and risk computed in {self.reference}; not valid for other genetic "
                        "ancestry groups.")
        self.text_html.value = f"<p>{html.escape(caption)}</p>"
        self.displayed = {"percentile": q, "age": age, "prs": prs, "risk": risk, "ci_low": low,
                          "ci_high": high, "baseline": baseline, "message": message, "caption": caption}


def prs_explorer(population_prs, model, *, bootstrap_models=(), person: dict | None = None,
                 percentile: int = 50, age: int = 50, years: float = 10,
                 reference: str | None = None) -> PrsExplorer:
    """PRS percentile explorer: move a person along the score distribution and read their absolute risk.

    Parameters
    ----------
    population_prs : array_like, shape (n,)
        Scores of the reference population (defines the percentiles).
    model : SurvivalModel
        Cox model with a PRS (see :func:`~medai_lib.cancer.survival.fit_cox_model`).
    bootstrap_models : sequence of SurvivalModel, optional
        From :func:`~medai_lib.cancer.survival.bootstrap_cox_models`; gives the 95% range (the extremes under 100 refits).
    person : dict, optional
        Other covariates (default female, never smoker, no family history).
    percentile, age : int
        Starting values.
    years : float, default 10
    reference : str, optional
        Who the percentiles and the model come from (e.g. ``"group_A of this cohort"``): named on the
        histogram and in the caption, which then says they are not valid for other genetic ancestry groups.

    Returns
    -------
    PrsExplorer

    Examples
    --------
    >>> from medai_lib.cancer.widgets import prs_explorer
    >>> # ex = prs_explorer(prs, cox, bootstrap_models=boot); ex.percentile.value = 95; ex.displayed["risk"]
    """
    return PrsExplorer(population_prs, model, bootstrap_models=bootstrap_models, person=person,
                       percentile=percentile, age=age, years=years, reference=reference)


class ManhattanExplorer(_Explorer):
    """A Manhattan plot that zooms: pick a chromosome, then a window in megabases.

    Attributes
    ----------
    chromosome : ipywidgets.Dropdown
        "all" or one chromosome.
    window : ipywidgets.FloatRangeSlider
        Start and end (Mb) on the chosen chromosome.
    widget : ipywidgets.VBox
    displayed : dict
        ``chromosome``, ``start_mb``, ``end_mb``, ``n_variants`` shown, ``n_significant`` (p below
        ``threshold``), ``top_id`` and ``top_p`` (smallest p in view) and ``caption``.
    """

    def __init__(self, gwas: pd.DataFrame, variants: pd.DataFrame, *, threshold: float = 5e-8):
        import ipywidgets as w

        if ("p" not in gwas.columns or len(gwas) != len(variants)
                or not {"chrom", "pos"} <= set(variants.columns)):
            raise MedaiInputError(
                "'gwas' (with 'p') and 'variants' (with 'chrom', 'pos') must have the same rows."
            )
        if not 0 < threshold < 1:
            raise MedaiInputError(f"'threshold' must be a p-value in (0, 1); got {threshold!r}.")
        self.gwas, self.variants = gwas.reset_index(drop=True), variants.reset_index(drop=True)
        self.threshold = threshold
        self._chrom = self.variants["chrom"].astype(str).to_numpy()
        self._pos_mb = self.variants["pos"].to_numpy(dtype=float) / 1e6
        self._p = np.clip(self.gwas["p"].to_numpy(dtype=float), 1e-300, 1)
        chroms = list(pd.unique(self._chrom))
        self.chromosome = w.Dropdown(options=["all"] + chroms, value="all", description="Chromosome")
        self.window = w.FloatRangeSlider(
            value=(0.0, 1.0), min=0.0, max=1.0, step=0.1, description="Window (Mb)",
            continuous_update=False, readout_format=".1f", style={"description_width": "initial"},
            layout=w.Layout(width="520px"),
        )
        self.window.disabled = True
        self.image = w.Image(format="png", layout=w.Layout(width="720px"))
        self.caption_html = w.HTML()
        self.widget = w.VBox([w.HBox([self.chromosome, self.window]), self.image, self.caption_html])
        self.displayed: dict = {}
        self.chromosome.observe(self._on_chromosome, names="value")
        self.window.observe(self._on_window, names="value")
        self._render()

    def _on_chromosome(self, change) -> None:
        c = change["new"]
        if c == "all":
            self.window.disabled = True
        else:
            top = float(np.ceil(self._pos_mb[self._chrom == c].max() * 10) / 10)
            self.window.disabled = False
            with self.window.hold_trait_notifications():
                self.window.max = max(top, 0.1)
                self.window.min = 0.0
                self.window.value = (0.0, max(top, 0.1))
        self._render()

    def _on_window(self, change) -> None:
        self._render()

    def _render(self) -> None:
        from medai_lib.cancer.plots import plot_manhattan
        from medai_lib.plotting import OKABE_ITO

        c = self.chromosome.value
        fig = _new_figure(9, 3.2)
        ax = fig.add_subplot()
        if c == "all":
            mask = np.ones(len(self._p), dtype=bool)
            start = end = float("nan")
            plot_manhattan(self.gwas, self.variants, ax=ax, threshold=self.threshold)
        else:
            start, end = (float(v) for v in self.window.value)
            mask = (self._chrom == c) & (self._pos_mb >= start) & (self._pos_mb <= end)
            y = -np.log10(self._p[mask])
            sig = self._p[mask] < self.threshold
            ax.scatter(self._pos_mb[mask][~sig], y[~sig], s=8, color=OKABE_ITO["blue"], linewidths=0)
            ax.scatter(self._pos_mb[mask][sig], y[sig], s=18, marker="D", color=OKABE_ITO["vermillion"],
                       linewidths=0, label="genome-wide significant")
            ax.axhline(-np.log10(self.threshold), color="0.3", linestyle="--", linewidth=0.8)
            ax.set(xlabel=f"chromosome {c} position (Mb)", ylabel=r"$-\log_{10}\,p$", xlim=(start, end))
            if sig.any():
                ax.legend(loc="upper right", fontsize="small")
        self.image.value = _png(fig)
        n = int(mask.sum())
        n_sig = int((self._p[mask] < self.threshold).sum())
        if n:
            top = np.flatnonzero(mask)[np.argmin(self._p[mask])]
            top_id = str(self.variants["id"].iloc[top]) if "id" in self.variants else str(top)
            top_p = float(self._p[top])
        else:
            top_id, top_p = None, float("nan")
        where = "the whole genome" if c == "all" else f"chromosome {c}, {start:.1f} to {end:.1f} Mb"
        caption = (f"Showing {where}: {n:,} variants, {n_sig} below p = {self.threshold:g}."
                   + (f" Strongest: {top_id} (p = {top_p:.2g})." if n else ""))
        self.caption_html.value = f"<p>{html.escape(caption)}</p>"
        self.displayed = {"chromosome": c, "start_mb": start, "end_mb": end, "n_variants": n,
                          "n_significant": n_sig, "top_id": top_id, "top_p": top_p, "caption": caption}


def manhattan_explorer(gwas: pd.DataFrame, variants: pd.DataFrame, *,
                       threshold: float = 5e-8) -> ManhattanExplorer:
    """Zoomable Manhattan plot: the whole genome, then one chromosome and a window on it.

    Parameters
    ----------
    gwas : DataFrame
        With ``p`` (from :func:`run_gwas`).
    variants : DataFrame
        ``chrom``, ``pos`` (and ``id``), same rows.
    threshold : float, default 5e-8

    Returns
    -------
    ManhattanExplorer

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.widgets import manhattan_explorer
    >>> v = pd.DataFrame({"chrom": ["1", "1", "2"], "pos": [100, 2_000_000, 50], "id": ["a", "b", "c"]})
    >>> ex = manhattan_explorer(pd.DataFrame({"p": [0.5, 1e-9, 0.2]}), v)
    >>> ex.chromosome.value = "1"; ex.displayed["top_id"]
    'b'
    """
    return ManhattanExplorer(gwas, variants, threshold=threshold)
