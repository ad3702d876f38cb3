"""The shortcut lesson (notebook 2.4): train and score on two cohorts, compare fixes at an external site.

The figures and tables of the lesson live here so the notebook's cells stay short.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

#: Okabe-Ito colours of the three synthetic sites (colour-blind safe).
SITE_COLOURS = {"A": "#0072B2", "B": "#E69F00", "C": "#009E73"}


def fit_and_predict(images, manifest: pd.DataFrame, split, external_images, *, image_size: int = 64,
                    device="auto", random_state: int = 0, **fit_options):
    """Train on the ``"train"`` images (validating on ``"val"``), then score every image of both cohorts.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W)
        The training network's images (as the model should see them: original, masked or harmonised).
    manifest : pandas.DataFrame with ``label``; split : "train"/"val"/"test" per image
    external_images : numpy.ndarray, float, shape (n_external, H, W)
        The external cohort, prepared the same way as ``images``.
    image_size, device, random_state, **fit_options
        Passed to :func:`~medai_lib.fibrosis.fit_fibrosis_model` (``model``, ``epochs``...).

    Returns
    -------
    model : torch.nn.Module
    internal : numpy.ndarray, float, shape (n_images,)
        Probability of fibrosis for every image of the network (use the test part for the internal AUC).
    external : numpy.ndarray, float, shape (n_external,)

    Examples
    --------
    >>> from medai_lib.fibrosis import make_fibrosis_cohort, patient_split
    >>> from medai_lib.fibrosis.shortcuts import fit_and_predict
    >>> c = make_fibrosis_cohort(30, image_size=64, random_state=0)
    >>> _, internal, external = fit_and_predict(c.images, c.manifest, patient_split(c.manifest),
    ...                                         c.images[:3], epochs=1, device="cpu", progress=False)
    >>> internal.shape, external.shape
    ((60,), (3,))
    """
    from medai_lib.fibrosis.models import fit_fibrosis_model, predict_fibrosis

    result = fit_fibrosis_model(images, manifest, split, image_size=image_size, device=device,
                                random_state=random_state, **fit_options)
    internal = predict_fibrosis(result.model, images, image_size=image_size, device=device)
    external = predict_fibrosis(result.model, external_images, image_size=image_size, device=device)
    return result.model, internal, external


def mean_score_by_site(scores, labels, sites, *, label: int = 0) -> pd.Series:
    """Mean predicted probability of the images with ``label`` (0: without fibrosis), site by site.

    A model that reads the disease gives patients without fibrosis similar scores at every site; one that
    reads the site gives those at the site where fibrosis is common higher scores.

    Examples
    --------
    >>> from medai_lib.fibrosis.shortcuts import mean_score_by_site
    >>> mean_score_by_site([0.9, 0.7, 0.2, 0.8], [0, 0, 0, 1], ["A", "A", "B", "B"]).tolist()
    [0.8, 0.2]
    """
    scores, labels, sites = np.asarray(scores, float), np.asarray(labels), np.asarray(sites)
    if not scores.shape == labels.shape == sites.shape or scores.ndim != 1:
        raise MedaiInputError(f"scores, labels and sites must be 1-D of one length; got {scores.shape}, "
                              f"{labels.shape} and {sites.shape}.")
    keep = labels == label
    if not keep.any():
        raise MedaiInputError(f"no image has label {label}; pass label=0 or 1.")
    return pd.Series(scores[keep]).groupby(sites[keep]).mean().rename(f"mean score, label {label}")


def external_validation_table(y_test, y_external, runs: dict, *, external_clusters, reference: str | None = None,
                              n_bootstrap: int = 2000, random_state: int = 0) -> pd.DataFrame:
    """Internal and external AUC of several models, and the share of the reference's external loss won back.

    Parameters
    ----------
    y_test : array_like of 0/1, shape (n_test,)
        Labels of the internal test images.
    y_external : array_like of 0/1, shape (n_external,)
    runs : dict of name -> (internal test scores (n_test,), external scores (n_external,), site accuracy)
        The first is the reference (the shortcut model) unless ``reference`` names another; the site accuracy
        (how often the hospital is named from what the model sees) is shown as given (NaN if unknown).
    external_clusters : array_like, shape (n_external,)
        Patient of each external image: the external interval resamples whole patients.

    Returns
    -------
    pandas.DataFrame indexed by model
        ``internal AUC, external AUC, 95% CI low (patients), 95% CI high (patients), loss recovered`` (1: the
        external AUC reaches the reference's internal AUC; 0: no better than the reference externally;
        NaN for the reference), ``site named from lungs``.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.shortcuts import external_validation_table
    >>> y = np.tile([0, 1], 20); noise = np.random.default_rng(0).random(40)
    >>> runs = {"shortcut": (y + noise, noise, 0.9), "fixed": (y + noise, y + 2 * noise, 0.5)}
    >>> table = external_validation_table(y, y, runs, external_clusters=np.arange(40), n_bootstrap=200)
    >>> bool(table.loc["fixed", "loss recovered"] > 0)
    True
    """
    from medai_lib.evaluation import auc_bootstrap, auc_delong

    if not runs:
        raise MedaiInputError("runs is empty; pass {'name': (internal_test_scores, external_scores, accuracy)}.")
    reference = next(iter(runs)) if reference is None else reference
    if reference not in runs:
        raise MedaiInputError(f"reference {reference!r} is not one of the runs {list(runs)}.")
    y_test, y_external = np.asarray(y_test), np.asarray(y_external)
    rows = {}
    for name, (internal, external, site_accuracy) in runs.items():
        ext = auc_bootstrap(y_external, external, clusters=external_clusters, n_bootstrap=n_bootstrap,
                            random_state=random_state)
        rows[name] = {"internal AUC": auc_delong(y_test, internal).auc, "external AUC": ext.auc,
                      "95% CI low (patients)": ext.ci_low, "95% CI high (patients)": ext.ci_high,
                      "site named from lungs": float(site_accuracy) if site_accuracy is not None else np.nan}
    ref = rows[reference]
    loss = ref["internal AUC"] - ref["external AUC"]
    for name, row in rows.items():
        row["loss recovered"] = np.nan if name == reference or loss <= 0 else (
            (row["external AUC"] - ref["external AUC"]) / loss)
    columns = ["internal AUC", "external AUC", "95% CI low (patients)", "95% CI high (patients)",
               "loss recovered", "site named from lungs"]
    return pd.DataFrame.from_dict(rows, orient="index")[columns].rename_axis("model")


def plot_cam_row(images, cams, scores, indices, *, lung_masks, markers, labels, sites, title: str,
                 cam_rows=None):
    """Grad-CAM over a few images in a row: lungs dashed blue, the site-letter region dotted yellow.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W)
        As the model sees them, scaled to [0, 1] for display.
    cams : numpy.ndarray, float, shape (n_cams, H, W)
        Grad-CAM maps; ``cam_rows[k]`` is the map of image ``indices[k]`` (default: ``cams[k]``).
    scores, labels, sites : array_like, shape (n_images,)
    indices : sequence of int
        The images to show.
    lung_masks, markers : numpy.ndarray, bool, shape (n_images, H, W)
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from medai_lib.fibrosis.shortcuts import plot_cam_row
    >>> z = np.zeros((2, 8, 8)); m = np.zeros((2, 8, 8), bool)
    >>> fig = plot_cam_row(z, z, [0.1, 0.9], [0, 1], lung_masks=m, markers=m, labels=[0, 0], sites=["A", "A"],
    ...                    title="t")
    >>> len(fig.axes)
    3
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable

    from medai_lib.fibrosis.explain import plot_cam_overlay

    indices = list(indices)
    if not indices:
        raise MedaiInputError("indices is empty: pass the positions of the images to show.")
    cam_rows = list(range(len(indices))) if cam_rows is None else list(cam_rows)
    fig, axes = plt.subplots(1, len(indices), figsize=(3 * len(indices), 3.3), squeeze=False,
                             layout="constrained")
    for ax, i, k in zip(axes[0], indices, cam_rows):
        plot_cam_overlay(images[i], cams[k], lung_mask=lung_masks[i], ax=ax,
                         title=f"site {sites[i]}, label {labels[i]}, p={scores[i]:.2f}")
        if np.any(markers[i]):
            ax.contour(np.asarray(markers[i], float), levels=[0.5], colors=["#F0E442"], linewidths=1,
                       linestyles=":")
    fig.colorbar(ScalarMappable(cmap="magma", norm=plt.Normalize(0, 1)), ax=axes[0].tolist(), shrink=0.9,
                 label="Grad-CAM (1: raised the score most)")
    fig.suptitle(title, fontsize="medium")
    return fig


def plot_lung_histograms_by_site(panels: dict, lung_masks, sites, *, example_per_site: bool = True):
    """One image per site and the lung grey-level histograms of every site, for each way of preparing images.

    Parameters
    ----------
    panels : dict of name -> (images (n, H, W), vmin, vmax)
        E.g. ``{"masked": (masked, 0, 1), "harmonised": (harmonised, -2.5, 2.5)}``: one row each.
    lung_masks : numpy.ndarray, bool, shape (n, H, W)
    sites : array_like of str, shape (n,)

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from medai_lib.fibrosis.shortcuts import plot_lung_histograms_by_site
    >>> x = np.random.default_rng(0).random((3, 8, 8)); m = np.ones((3, 8, 8), bool)
    >>> len(plot_lung_histograms_by_site({"raw": (x, 0, 1)}, m, ["A", "B", "C"]).axes)
    4
    """
    import matplotlib.pyplot as plt

    sites = np.asarray(sites)
    names = [s for s in SITE_COLOURS if s in set(sites)] + sorted(set(sites) - set(SITE_COLOURS))
    fig, axes = plt.subplots(len(panels), len(names) + 1, figsize=(3 * (len(names) + 1), 3 * len(panels)),
                             squeeze=False)
    for row, (title, (images, vmin, vmax)) in enumerate(panels.items()):
        hist_ax = axes[row, -1]
        for col, site in enumerate(names):
            rows = np.flatnonzero(sites == site)
            axes[row, col].imshow(images[rows[0]], cmap="gray", vmin=vmin, vmax=vmax)
            axes[row, col].set_title(f"site {site}, {title}", fontsize="small")
            axes[row, col].axis("off")
            values = np.concatenate([images[i][lung_masks[i]] for i in rows])
            hist_ax.hist(values, bins=40, weights=np.full(values.size, 1 / values.size), histtype="step",
                         linewidth=1.5, color=SITE_COLOURS.get(site), label=f"site {site}")
        hist_ax.set_title(f"lung grey levels, {title}", fontsize="small")
        hist_ax.set_xlabel(f"grey level ({vmin:g} black, {vmax:g} white)", fontsize="small")
        hist_ax.set_ylabel("share of lung pixels in each bin", fontsize="small")
        hist_ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
