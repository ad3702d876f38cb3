"""Figures of chest-radiograph cohorts for the notebooks (matplotlib, imported lazily)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from medai_lib.errors import MedaiInputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from medai_lib.fibrosis.cohort import FibrosisCohort

#: Okabe-Ito colours (colour-blind safe).
OKABE_ITO = {"orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}

#: Severity groups of :func:`plot_cohort_grid`: (name, lower bound, upper bound) of the latent severity.
SEVERITY_GROUPS = (("healthy", 0.0, 0.3), ("mild", 0.45, 0.7), ("severe", 0.85, 1.01))


def plot_cohort_grid(
    cohort: "FibrosisCohort",
    *,
    sites: "list[str] | None" = None,
    groups: "tuple[tuple[str, float, float], ...]" = SEVERITY_GROUPS,
    show_masks: bool = False,
    fig: "Figure | None" = None,
    random_state: int = 0,
) -> "Figure":
    """A grid of radiographs: one row per severity group (healthy, mild, severe), one column per site.

    Parameters
    ----------
    cohort : FibrosisCohort
        A synthetic cohort (its manifest has ``severity``); real cohorts are grouped by ``label``, or shown
        by site in one row when they have no labels.
    sites : list of str, optional
        Columns; by default every site in the cohort (at most 4).
    groups : sequence of (name, low, high), default :data:`SEVERITY_GROUPS`
    show_masks : bool, default False
        Outline the ground-truth lung masks (Okabe-Ito sky blue).
    fig : matplotlib.figure.Figure, optional
        Drawn into (cleared first); a new figure by default.
    random_state : int, default 0
        Which image of each cell is shown.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from medai_lib.fibrosis import make_fibrosis_cohort, plot_cohort_grid
    >>> fig = plot_cohort_grid(make_fibrosis_cohort(30, image_size=64))
    >>> len(fig.axes) > 0
    True
    """
    import matplotlib.pyplot as plt

    m = cohort.manifest
    if "site" not in m.columns:
        raise MedaiInputError("cohort.manifest has no 'site' column; pass a FibrosisCohort.")
    sites = list(sites) if sites is not None else sorted(m["site"].unique())[:4]
    synthetic = bool(m["severity"].notna().all())
    if synthetic:
        masks_by_group = [(name, (m["severity"] >= lo) & (m["severity"] < hi)) for name, lo, hi in groups]
    elif m["label"].notna().any():
        masks_by_group = [("no finding", m["label"] == 0), ("finding", m["label"] == 1)]
    else:  # real images without labels: show them by site
        masks_by_group = [("unlabelled", m["label"].isna())]
    rng = np.random.default_rng(random_state)
    n_rows, n_cols = len(masks_by_group), len(sites)
    if fig is None:
        fig = plt.figure(figsize=(2.6 * n_cols, 2.8 * n_rows))
    else:
        fig.clear()
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (name, in_group) in enumerate(masks_by_group):
        for c, site in enumerate(sites):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            idx = np.flatnonzero(in_group.to_numpy() & (m["site"] == site).to_numpy())
            if idx.size == 0:
                ax.text(0.5, 0.5, "no image", ha="center", va="center", transform=ax.transAxes)
            else:
                i = int(rng.choice(idx))
                ax.imshow(cohort.images[i], cmap="gray", vmin=0, vmax=1)
                if show_masks and cohort.lung_masks is not None:
                    ax.contour(cohort.lung_masks[i], levels=[0.5], colors=[OKABE_ITO["sky_blue"]],
                               linewidths=0.8)
                sev = m["severity"].iloc[i]
                detail = f"severity {sev:.2f}, label {int(m['label'].iloc[i])}" if np.isfinite(sev) else ""
                ax.set_xlabel(detail, fontsize=8)
            if r == 0:
                ax.set_title(f"site {site}")
            if c == 0:
                ax.set_ylabel(name, fontsize=11)
    rows = "fibrosis severity" if synthetic else "label"
    fig.suptitle(f"{'Synthetic' if synthetic else 'Your'} chest radiographs by {rows} (rows) and site (columns)",
                 fontsize=10)
    fig.tight_layout()
    return fig
