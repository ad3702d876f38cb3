"""Figures for genotype analyses: Manhattan, QQ and genetic-ancestry PCA plots (``ax=None`` style,
Okabe-Ito colours, which stay distinguishable with colour-vision deficiency).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from medai_lib.errors import MedaiInputError

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
GENOME_WIDE = 5e-8


def _axes(ax, figsize=(8, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_manhattan(gwas: pd.DataFrame, variants: pd.DataFrame, *, ax=None, threshold: float = GENOME_WIDE,
                   highlight=None, title: str | None = None):
    """Manhattan plot: -log10 p along the genome, chromosomes in alternating colours.

    Parameters
    ----------
    gwas : DataFrame
        With a ``p`` column, n_variants rows.
    variants : DataFrame
        ``chrom``, ``pos``, same rows.
    ax : matplotlib Axes, optional
    threshold : float, default 5e-8
        Genome-wide significance line.
    highlight : array of int, optional
        Rows to mark (e.g. the true causal variants), drawn as open circles.
    title : str, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from medai_lib.cancer import plot_manhattan
    >>> ax = plot_manhattan(pd.DataFrame({"p": [0.5, 1e-9]}), pd.DataFrame({"chrom": ["1", "2"], "pos": [1, 5]}))
    """
    if "p" not in gwas.columns or len(gwas) != len(variants) or not {"chrom", "pos"} <= set(variants.columns):
        raise MedaiInputError("'gwas' (with 'p') and 'variants' (with 'chrom', 'pos') must have the same rows.")
    ax = _axes(ax)
    p = np.clip(gwas["p"].to_numpy(dtype=float), 1e-300, 1)
    chrom = variants["chrom"].astype(str).to_numpy()
    pos = variants["pos"].to_numpy(dtype=float)
    x = np.empty(len(p))
    offset, ticks, labels = 0.0, [], []
    for k, c in enumerate(pd.unique(chrom)):
        rows = chrom == c
        x[rows] = pos[rows] + offset
        ticks.append(offset + pos[rows].max() / 2)
        labels.append(c)
        ax.scatter(x[rows], -np.log10(p[rows]), s=3, color=OKABE_ITO[0] if k % 2 == 0 else OKABE_ITO[4],
                   rasterized=True, linewidths=0)
        offset += pos[rows].max() * 1.02
    if highlight is not None and len(highlight):
        h = np.asarray(highlight, dtype=int)
        ax.scatter(x[h], -np.log10(p[h]), s=14, facecolors="none", edgecolors=OKABE_ITO[5], linewidths=0.6,
                   label="true causal variant")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.axhline(-np.log10(threshold), color="0.3", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, max(-np.log10(threshold), float(np.max(-np.log10(p)))) + 1.5)  # room for the legend
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}\,p$")
    ax.set_xlim(0, offset)
    if title:
        ax.set_title(title)
    return ax


def plot_qq(p_values, *, ax=None, label: str | None = None, color: str | None = None):
    """QQ plot of -log10 p against its expectation under the null, with the genomic inflation in the label.

    Parameters
    ----------
    p_values : array_like, shape (n_variants,)
    ax : matplotlib Axes, optional
    label : str, optional
        Legend label; lambda_GC is appended.
    color : str, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from medai_lib.cancer import plot_qq
    >>> ax = plot_qq(np.random.default_rng(0).uniform(size=1000), label="null")
    """
    from medai_lib.cancer.gwas import genomic_inflation

    p = np.asarray(p_values, dtype=float)
    p = np.sort(np.clip(p[np.isfinite(p)], 1e-300, 1))
    if p.size == 0:
        raise MedaiInputError("'p_values' holds no finite value.")
    ax = _axes(ax, figsize=(4, 4))
    n = p.size
    expected = -np.log10((np.arange(1, n + 1) - 0.5) / n)
    lam = genomic_inflation(p)
    text = f"{label + ': ' if label else ''}$\\lambda_{{GC}}$ = {lam:.2f}"
    ax.scatter(expected, -np.log10(p), s=4, color=color or OKABE_ITO[0], label=text, rasterized=True,
               linewidths=0)
    ranks = np.arange(1, n + 1)
    lo = -np.log10(stats.beta.ppf(0.975, ranks, n - ranks + 1))
    hi = -np.log10(stats.beta.ppf(0.025, ranks, n - ranks + 1))
    ax.fill_between(expected, lo, hi, color="0.85", linewidth=0,
                    label="95% range if no variant were associated")
    top = expected.max()
    ax.plot([0, top], [0, top], color="0.3", linewidth=0.8)
    ax.set_xlabel(r"expected $-\log_{10}\,p$")
    ax.set_ylabel(r"observed $-\log_{10}\,p$")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return ax


def plot_pca(components, groups, *, ax=None, pcs=(1, 2), explained_variance_ratio=None):
    """Scatter of two principal components, coloured (and shaped) by genetic ancestry group.

    Parameters
    ----------
    components : array, shape (n_samples, n_components)
    groups : array_like of str, shape (n_samples,), or None
        Genetic ancestry group of each sample; None (no group recorded) draws everyone in one colour.
    ax : matplotlib Axes, optional
    pcs : tuple of two int, default (1, 2)
        1-based component numbers.
    explained_variance_ratio : array, optional
        Shown in the axis labels.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from medai_lib.cancer import plot_pca
    >>> ax = plot_pca(np.random.default_rng(0).normal(size=(20, 2)), ["A"] * 10 + ["B"] * 10)
    """
    comps = np.asarray(components, dtype=float)
    title = "genetic ancestry group"
    if groups is None:  # a phenotype table without ancestry_group: one colour, and the legend says why
        groups, title = np.full(comps.shape[0] if comps.ndim == 2 else 0, "everyone"), \
            "genetic ancestry group\n(not in phenotypes.csv)"
    groups = np.asarray(groups).astype(str)
    if comps.ndim != 2 or groups.shape != (comps.shape[0],):
        raise MedaiInputError("'components' must be (n_samples, n_components) and 'groups' one label per sample.")
    i, j = pcs[0] - 1, pcs[1] - 1
    if not (0 <= i < comps.shape[1] and 0 <= j < comps.shape[1]):
        raise MedaiInputError(f"'pcs' {pcs} out of range for {comps.shape[1]} components.")
    ax = _axes(ax, figsize=(4.5, 4))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    for k, g in enumerate(np.unique(groups)):
        m = groups == g
        ax.scatter(comps[m, i], comps[m, j], s=6, alpha=0.6, color=OKABE_ITO[k % len(OKABE_ITO)],
                   marker=markers[k % len(markers)], label=f"{g} (n={m.sum()})", linewidths=0)
    evr = explained_variance_ratio
    ax.set_xlabel(f"PC{pcs[0]}" + (f" ({100 * evr[i]:.1f}%)" if evr is not None else ""))
    ax.set_ylabel(f"PC{pcs[1]}" + (f" ({100 * evr[j]:.1f}%)" if evr is not None else ""))
    ax.legend(title=title, fontsize=8, title_fontsize=8, frameon=False, markerscale=2)
    return ax


def plot_gwas_summary(gwas_uncorrected: pd.DataFrame, gwas_corrected: pd.DataFrame, variants: pd.DataFrame,
                      pca, groups, *, highlight=None, null_mask=None):
    """One figure: PCA by genetic ancestry group, QQ plots without and with PC correction, Manhattan plot.

    Parameters
    ----------
    gwas_uncorrected, gwas_corrected : DataFrame
        GWAS results (``p``) without and with principal components as covariates.
    variants : DataFrame
    pca : AncestryPCA
    groups : array_like of str, shape (n_samples,)
    highlight : array of int, optional
        True causal variants to mark in the Manhattan plot.
    null_mask : array of bool, optional
        Variants for the QQ plots (e.g. those >= 1 Mb from any causal variant); default all.

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    >>> from medai_lib.cancer import plot_gwas_summary
    >>> # fig = plot_gwas_summary(res0, res_pc, variants, pca, groups); fig.savefig("gwas.png")
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 7), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    plot_pca(pca.components, groups, ax=fig.add_subplot(grid[0, 0]),
             explained_variance_ratio=pca.explained_variance_ratio)
    mask = np.ones(len(variants), bool) if null_mask is None else np.asarray(null_mask, bool)
    ax_qq = fig.add_subplot(grid[0, 1])
    plot_qq(gwas_uncorrected["p"].to_numpy()[mask], ax=ax_qq, label="no PCs", color=OKABE_ITO[5])
    ax_qq.set_title("QQ, variants far from causal: no PCs")
    ax_qq2 = fig.add_subplot(grid[0, 2])
    plot_qq(gwas_corrected["p"].to_numpy()[mask], ax=ax_qq2, label="with PCs", color=OKABE_ITO[0])
    ax_qq2.set_title("QQ, variants far from causal: with PCs")
    plot_manhattan(gwas_corrected, variants, ax=fig.add_subplot(grid[1, :]), highlight=highlight,
                   title="GWAS adjusted for principal components")
    return fig
