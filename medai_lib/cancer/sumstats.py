"""Published GWAS summary statistics and known pathogenic variants: simulate them with the right LD, write and
read them in the formats real resources use, and line them up with a cohort's variants.

Real clinical polygenic risk scores are not trained on the local cohort: their weights come from a large
published consortium GWAS (summary statistics: one effect, standard error and p-value per variant, e.g. in
the GWAS Catalog's tab-separated format), and the local cohort only tunes and validates them. Rare
high-penetrance variants (BRCA1/2-like) are reported by a clinical gene panel from a list of known pathogenic
variants (as in ClinVar), not by the score.

Simulating a published GWAS without simulating its 100,000+ genomes
---------------------------------------------------------------------
For a study of ``N`` people of one genetic ancestry group, with standardised genotypes and a phenotype of
variance 1, the vector of marginal (one-variant-at-a-time) effect estimates is, to a very good
approximation, ``b ~ Normal(R beta, R / N)``, with ``beta`` the true standardised joint effects and ``R`` the
LD (correlation) matrix of that group. Both the mean and the noise covariance come from a reference panel
``X`` (``n_ref`` people of the same group, standardised genotypes):
``b = X' (X beta / n_ref + g / sqrt(n_ref N))`` with ``g ~ Normal(0, I_nref)``: the mean is
``X'X beta / n_ref = R beta`` and the covariance ``X'X / (n_ref N) = R / N``, so neighbouring variants carry
each other's signal and correlated noise exactly as in a real GWAS, at the cost of a few matrix products.
In the mean, ``R`` is limited to pairs within 2 Mb on the same chromosome: a panel of a few thousand people
has chance correlations of about ``1 / sqrt(n_ref)`` between any two variants, which summed over hundreds of
causal variants would exceed the study's own noise (``1 / sqrt(N)``) and put "hits" on chromosomes without
any causal variant. Effects are then converted to the per-allele scale (``b / sd``,
``sd = sqrt(2 p (1 - p))``).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from medai_lib.cancer.gwas import genotype_dosage
from medai_lib.cancer.qc import _check_genotypes
from medai_lib.errors import MedaiInputError

#: File names in a simulated cohort folder.
SUMSTATS_NAME = "published_gwas_summary_statistics.tsv.gz"
SUMSTATS_META_NAME = "published_gwas_summary_statistics.yaml"
PATHOGENIC_NAME = "known_pathogenic_variants.tsv"
#: Columns of a summary-statistics file (GWAS Catalog summary-statistics format, GWAS-SSF).
SUMSTATS_COLUMNS = ("chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
                    "standard_error", "effect_allele_frequency", "p_value", "variant_id", "n")
#: Columns of a known-pathogenic-variants file (as a gene panel lab would list them).
PATHOGENIC_COLUMNS = ("variant_id", "chromosome", "base_pair_location", "reference_allele",
                      "pathogenic_allele", "gene", "clinical_significance")
_NUMERIC = ("base_pair_location", "beta", "standard_error", "effect_allele_frequency", "p_value", "n")


def simulate_summary_statistics(genotypes, variants: pd.DataFrame, joint_effects, *, n_effective: float,
                                reference=None, ld_window_bp: int = 2_000_000, chunk_size: int = 4000,
                                random_state=0) -> pd.DataFrame:
    """Summary statistics of a large external GWAS, drawn with the LD of a reference panel.

    Marginal standardised effects ``b = X' (X beta / n_ref + g / sqrt(n_ref N))``, ``g ~ N(0, I)``:
    mean ``R beta``, covariance ``R / N`` (see the module docstring), with ``R`` in the mean limited to
    ``ld_window_bp``. Variants that do not vary in the panel are left out, as a real study cannot
    estimate them.

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
        Missing calls are replaced by the variant's mean dosage.
    variants : DataFrame, n_variants rows
        ``chrom``, ``pos``, ``id``, ``ref``, ``alt``.
    joint_effects : array_like, float, shape (n_variants,)
        True liability per ALT allele of each variant (0 for non-causal ones).
    n_effective : float
        Effective sample size of the published study (on the liability scale), >= 100.
    reference : array_like of bool or int, optional
        People (columns of ``genotypes``) forming the reference panel: the genetic ancestry group of the
        published study. Default all.
    ld_window_bp : int, default 2000000
        LD carried into the mean ``R beta`` only between variants this close on the same chromosome (the
        panel's chance correlations between distant variants are not LD of the population).
    chunk_size : int, default 4000
    random_state : int or Generator, default 0

    Returns
    -------
    DataFrame
        Columns ``SUMSTATS_COLUMNS``: effects per copy of ``effect_allele`` (the ALT allele) in liability
        standard deviations, ``n`` = ``n_effective``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer.sumstats import simulate_summary_statistics
    >>> rng = np.random.default_rng(0)
    >>> g = (rng.random((3, 500, 2)) < 0.3).astype(np.int8)
    >>> v = pd.DataFrame({"chrom": "1", "pos": [1, 2, 3], "id": ["a", "b", "c"], "ref": "A", "alt": "G"})
    >>> s = simulate_summary_statistics(g, v, [0.2, 0.0, 0.0], n_effective=100_000)
    >>> bool(s["p_value"].iloc[0] < 1e-10)
    True
    """
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    needed = {"chrom", "pos", "id", "ref", "alt"} - set(variants.columns)
    if needed or len(variants) != n_variants:
        raise MedaiInputError(
            f"'variants' must have 'chrom', 'pos', 'id', 'ref', 'alt' and {n_variants} rows; missing {sorted(needed)}."
        )
    beta = np.asarray(joint_effects, dtype=float)
    if beta.shape != (n_variants,) or not np.isfinite(beta).all():
        raise MedaiInputError(f"'joint_effects' must be {n_variants} finite numbers (one per variant).")
    if not np.isfinite(n_effective) or n_effective < 100:
        raise MedaiInputError(f"'n_effective' must be a sample size >= 100; got {n_effective!r}.")
    if reference is None:
        ref = np.arange(n_samples)
    else:
        ref = np.asarray(reference)
        ref = np.flatnonzero(ref) if ref.dtype == bool else ref.astype(int)
    if len(ref) < 50:
        raise MedaiInputError(f"the reference panel has {len(ref)} people; LD needs at least 50.")
    rng = np.random.default_rng(random_state)
    n_ref = len(ref)
    g = np.asarray(genotypes)[:, ref] if len(ref) < n_samples else np.asarray(genotypes)

    def standardised(rows):
        d = genotype_dosage(g[rows]).astype(np.float64)
        mean = d.mean(axis=1)
        sd = d.std(axis=1)
        z = np.divide(d - mean[:, None], sd[:, None], out=np.zeros_like(d), where=sd[:, None] > 0)
        return z, mean / 2, sd

    # noise: X' g / sqrt(n_ref N), covariance R / N
    v = rng.normal(size=n_ref) / np.sqrt(n_ref * n_effective)
    marginal = np.empty(n_variants)
    freq = np.empty(n_variants)
    sd = np.empty(n_variants)
    for start in range(0, n_variants, chunk_size):
        rows = np.arange(start, min(start + chunk_size, n_variants))
        z, f, s = standardised(rows)
        marginal[rows] = z @ v
        freq[rows], sd[rows] = f, s
    # mean: R beta, with R restricted to pairs on the same chromosome within ld_window_bp. A panel of n_ref
    # people has chance correlations of about 1 / sqrt(n_ref) between any two variants, even on different
    # chromosomes; summed over hundreds of causal variants they would give every variant a spurious
    # "effect" larger than the study's own noise (1 / sqrt(N)). Real LD does not reach that far.
    causal = np.flatnonzero(beta != 0)
    chrom = variants["chrom"].astype(str).to_numpy()
    pos = variants["pos"].to_numpy(dtype=np.int64)
    if len(causal):
        zc, _, sdc = standardised(causal)
        bc = beta[causal] * sdc  # true standardised joint effects
        for c in pd.unique(chrom[causal]):
            kc = np.flatnonzero(chrom[causal] == c)
            rows_c = np.flatnonzero(chrom == c)
            lo, hi = pos[causal[kc]].min() - ld_window_bp, pos[causal[kc]].max() + ld_window_bp
            rows_c = rows_c[(pos[rows_c] >= lo) & (pos[rows_c] <= hi)]
            for start in range(0, len(rows_c), chunk_size):
                rows = rows_c[start:start + chunk_size]
                z, _, _ = standardised(rows)
                r = z @ zc[kc].T / n_ref  # (rows, causal on this chromosome)
                near = np.abs(pos[rows][:, None] - pos[causal[kc]][None, :]) <= ld_window_bp
                marginal[rows] += (r * near) @ bc[kc]
    ok = sd > 0
    se_std = np.sqrt(np.clip(1 - marginal**2, 1e-6, None) / n_effective)
    chi2 = (marginal / se_std) ** 2
    table = pd.DataFrame({
        "chromosome": variants["chrom"].astype(str).to_numpy(),
        "base_pair_location": variants["pos"].to_numpy(dtype=np.int64),
        "effect_allele": variants["alt"].astype(str).to_numpy(),
        "other_allele": variants["ref"].astype(str).to_numpy(),
        "beta": np.divide(marginal, sd, out=np.zeros(n_variants), where=ok),
        "standard_error": np.divide(se_std, sd, out=np.zeros(n_variants), where=ok),
        "effect_allele_frequency": freq,
        "p_value": stats.chi2.sf(chi2, 1),
        "variant_id": variants["id"].astype(str).to_numpy(),
        "n": np.full(n_variants, int(round(n_effective))),
    })
    return table[ok].reset_index(drop=True)


def write_summary_statistics(table: pd.DataFrame, path) -> Path:
    """Write summary statistics as a tab-separated file (gzip-compressed when the name ends in ``.gz``).

    Examples
    --------
    >>> from medai_lib.cancer.sumstats import write_summary_statistics
    >>> # write_summary_statistics(sumstats, "cohort/summary_statistics_group_A.tsv.gz")
    """
    missing = [c for c in SUMSTATS_COLUMNS if c not in table.columns]
    if missing:
        raise MedaiInputError(f"summary statistics lack the column(s) {missing}; expected {list(SUMSTATS_COLUMNS)}.")
    path = Path(path)
    out = table[list(SUMSTATS_COLUMNS)].copy()
    for c in ("beta", "standard_error", "effect_allele_frequency"):
        out[c] = out[c].map(lambda x: f"{x:.6g}")
    out["p_value"] = out["p_value"].map(lambda x: f"{x:.4g}")
    out.to_csv(path, sep="\t", index=False, compression="gzip" if path.name.endswith(".gz") else None)
    return path


def _read_table(path: Path, columns, what: str, fix: str) -> pd.DataFrame:
    if not path.is_file():
        raise MedaiInputError(f"no {what} file at {path}. {fix}")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, compression="infer")
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError, gzip.BadGzipFile) as exc:
        raise MedaiInputError(f"could not read the {what} file {path} as tab-separated text: {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise MedaiInputError(f"the {what} file {path} is empty.") from exc
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MedaiInputError(
            f"the {what} file {path} lacks the column(s) {missing}; it has {list(table.columns)[:12]}. "
            f"Rename the columns to {list(columns)} (tab-separated, header on the first line)."
        )
    if table.empty:
        raise MedaiInputError(f"the {what} file {path} has a header but no rows.")
    return table


def read_summary_statistics(path) -> pd.DataFrame:
    """Read and check a GWAS summary-statistics file (tab-separated, GWAS Catalog column names).

    Required columns: ``SUMSTATS_COLUMNS`` (``chromosome``, ``base_pair_location``, ``effect_allele``,
    ``other_allele``, ``beta``, ``standard_error``, ``effect_allele_frequency``, ``p_value``,
    ``variant_id``, ``n``). Numbers must parse, p-values lie in [0, 1], standard errors be positive and
    frequencies lie in [0, 1]; a bad file raises :class:`MedaiInputError` naming the file, column and rows.

    Parameters
    ----------
    path : path
        ``.tsv`` or ``.tsv.gz``.

    Returns
    -------
    DataFrame
        One row per variant; numeric columns as float (``base_pair_location`` and ``n`` as int).

    Examples
    --------
    >>> from medai_lib.cancer.sumstats import read_summary_statistics
    >>> # sumstats = read_summary_statistics(folder / "summary_statistics_group_A.tsv.gz")
    """
    path = Path(path)
    table = _read_table(path, SUMSTATS_COLUMNS, "summary statistics",
                        "Simulated cohorts write one (summary_statistics_<group>.tsv.gz); real ones come from "
                        "the GWAS Catalog or the PGS Catalog.")
    for c in _NUMERIC:
        values = pd.to_numeric(table[c], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy())
        if len(bad):
            raise MedaiInputError(
                f"column '{c}' of {path} has {len(bad)} missing or non-numeric value(s) (data rows "
                f"{(bad[:5] + 1).tolist()}, e.g. {table[c].iloc[bad[0]]!r}); drop those rows or fix the file."
            )
        table[c] = values.astype(float)
    checks = (("p_value", (table["p_value"] < 0) | (table["p_value"] > 1), "in [0, 1]"),
              ("standard_error", table["standard_error"] <= 0, "positive"),
              ("effect_allele_frequency", (table["effect_allele_frequency"] < 0)
               | (table["effect_allele_frequency"] > 1), "in [0, 1]"),
              ("n", table["n"] <= 0, "positive"))
    for c, bad_mask, rule in checks:
        bad = np.flatnonzero(bad_mask.to_numpy())
        if len(bad):
            raise MedaiInputError(
                f"column '{c}' of {path} must be {rule}; {len(bad)} row(s) are not (data rows "
                f"{(bad[:5] + 1).tolist()}, e.g. {table[c].iloc[bad[0]]!r})."
            )
    dup = table["variant_id"].duplicated()
    if dup.any():
        raise MedaiInputError(
            f"'variant_id' of {path} repeats {int(dup.sum())} id(s) (e.g. {table['variant_id'][dup].iloc[0]!r}); "
            "keep one row per variant."
        )
    table["base_pair_location"] = table["base_pair_location"].astype(np.int64)
    table["n"] = table["n"].round().astype(np.int64)
    for c in ("effect_allele", "other_allele"):
        table[c] = table[c].str.upper()
    return table


def align_summary_statistics(sumstats: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """Line summary statistics up with a cohort's variants (by id), per ALT allele, in :func:`run_gwas` form.

    Variants are matched on ``variant_id``; when the effect allele is the cohort's REF allele the effect
    and frequency are flipped; variants absent from the summary statistics, or whose alleles do not match,
    get NaN (so :func:`clump` and :func:`fit_clumping_thresholding` skip them).

    Parameters
    ----------
    sumstats : DataFrame
        From :func:`read_summary_statistics` or :func:`simulate_summary_statistics`.
    variants : DataFrame, n_variants rows
        ``id``, ``ref``, ``alt`` of the cohort's (QC-passed) genotype rows.

    Returns
    -------
    DataFrame, n_variants rows
        ``beta`` (per ALT allele), ``se``, ``chi2``, ``p``, ``alt_freq``.

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.sumstats import align_summary_statistics
    >>> s = pd.DataFrame({"variant_id": ["a"], "effect_allele": ["A"], "other_allele": ["G"], "beta": [0.1],
    ...                   "standard_error": [0.01], "p_value": [1e-20], "effect_allele_frequency": [0.3]})
    >>> v = pd.DataFrame({"id": ["a", "b"], "ref": ["A", "C"], "alt": ["G", "T"]})
    >>> align_summary_statistics(s, v)["beta"].tolist()[0]  # flipped to the ALT allele
    -0.1
    """
    needed = {"variant_id", "effect_allele", "other_allele", "beta", "standard_error", "p_value",
              "effect_allele_frequency"} - set(sumstats.columns)
    if needed:
        raise MedaiInputError(f"'sumstats' lacks columns {sorted(needed)}; read it with read_summary_statistics.")
    if not {"id", "ref", "alt"} <= set(variants.columns):
        raise MedaiInputError("'variants' needs 'id', 'ref' and 'alt' columns (the cohort's genotype rows).")
    s = sumstats.drop_duplicates("variant_id").set_index(sumstats["variant_id"].drop_duplicates().astype(str))
    s = s.reindex(variants["id"].astype(str).to_numpy())
    ea = s["effect_allele"].astype(str).str.upper().to_numpy()
    oa = s["other_allele"].astype(str).str.upper().to_numpy()
    ref = variants["ref"].astype(str).str.upper().to_numpy()
    alt = variants["alt"].astype(str).str.upper().to_numpy()
    same = (ea == alt) & (oa == ref)
    flip = (ea == ref) & (oa == alt)
    sign = np.where(same, 1.0, np.where(flip, -1.0, np.nan))
    beta = s["beta"].to_numpy(dtype=float) * sign
    se = s["standard_error"].to_numpy(dtype=float) * np.abs(sign)
    f = s["effect_allele_frequency"].to_numpy(dtype=float)
    out = pd.DataFrame({"beta": beta, "se": se, "chi2": (beta / se) ** 2,
                        "p": s["p_value"].to_numpy(dtype=float) * np.abs(sign),
                        "alt_freq": np.where(flip, 1 - f, f) * np.abs(sign)})
    if "n" in s.columns:  # the GWAS's sample size per variant, kept so a report can quote it
        out["n"] = pd.to_numeric(s["n"], errors="coerce").to_numpy(dtype=float) * np.abs(sign)
    if not np.isfinite(out["p"]).any():
        raise MedaiInputError(
            "no variant of the summary statistics matches the cohort (by 'variant_id' with the same two "
            "alleles): they were built on another variant naming or genome build. Match the ids first."
        )
    return out


# ------------------------------------------------------------------------------- known pathogenic variants
def pathogenic_variant_table(variants: pd.DataFrame, index) -> pd.DataFrame:
    """A known-pathogenic-variants list (ClinVar-like) for rows ``index`` of ``variants`` (ALT = pathogenic).

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.sumstats import pathogenic_variant_table
    >>> v = pd.DataFrame({"chrom": ["1"], "pos": [5], "id": ["a"], "ref": ["A"], "alt": ["T"]})
    >>> pathogenic_variant_table(v, [0])["gene"].tolist()
    ['GENE1']
    """
    rows = variants.iloc[np.asarray(index, dtype=int)]
    return pd.DataFrame({
        "variant_id": rows["id"].astype(str).to_numpy(), "chromosome": rows["chrom"].astype(str).to_numpy(),
        "base_pair_location": rows["pos"].to_numpy(dtype=np.int64),
        "reference_allele": rows["ref"].astype(str).to_numpy(), "pathogenic_allele": rows["alt"].astype(str).to_numpy(),
        "gene": [f"GENE{k + 1}" for k in range(len(rows))],
        "clinical_significance": "Pathogenic",
    })


def read_pathogenic_variants(path) -> pd.DataFrame:
    """Read and check a known-pathogenic-variants list (tab-separated, columns ``PATHOGENIC_COLUMNS``).

    Examples
    --------
    >>> from medai_lib.cancer.sumstats import read_pathogenic_variants
    >>> # panel = read_pathogenic_variants(folder / "known_pathogenic_variants.tsv")
    """
    path = Path(path)
    table = _read_table(path, PATHOGENIC_COLUMNS, "known pathogenic variants",
                        "Simulated cohorts write one (known_pathogenic_variants.tsv).")
    pos = pd.to_numeric(table["base_pair_location"], errors="coerce")
    if pos.isna().any():
        raise MedaiInputError(f"column 'base_pair_location' of {path} must hold whole numbers.")
    table["base_pair_location"] = pos.astype(np.int64)
    for c in ("reference_allele", "pathogenic_allele"):
        table[c] = table[c].str.upper()
    return table


def pathogenic_carrier(genotypes, variants: pd.DataFrame, panel: pd.DataFrame) -> np.ndarray:
    """Whether each person carries at least one known pathogenic allele (what a gene-panel test reports).

    Missing calls count as not carrying (a real panel would re-test them).

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
        All called variants (before MAF filtering: pathogenic variants are rare).
    variants : DataFrame
        ``id``, ``ref``, ``alt`` of the genotype rows.
    panel : DataFrame
        From :func:`read_pathogenic_variants`.

    Returns
    -------
    ndarray, int8, shape (n_samples,)
        1 = carrier.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer.sumstats import pathogenic_carrier, pathogenic_variant_table
    >>> v = pd.DataFrame({"chrom": ["1"], "pos": [5], "id": ["a"], "ref": ["A"], "alt": ["T"]})
    >>> g = np.array([[[0, 0], [0, 1], [-1, -1]]], dtype=np.int8)
    >>> pathogenic_carrier(g, v, pathogenic_variant_table(v, [0])).tolist()
    [0, 1, 0]
    """
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    if not {"id", "ref", "alt"} <= set(variants.columns) or len(variants) != n_variants:
        raise MedaiInputError(f"'variants' needs 'id', 'ref', 'alt' and {n_variants} rows.")
    needed = {"variant_id", "pathogenic_allele"} - set(panel.columns)
    if needed:
        raise MedaiInputError(f"'panel' lacks columns {sorted(needed)}; read it with read_pathogenic_variants.")
    row_of = pd.Series(np.arange(n_variants), index=variants["id"].astype(str).to_numpy())
    row_of = row_of[~row_of.index.duplicated()]
    ids = panel["variant_id"].astype(str).to_numpy()
    found = np.isin(ids, row_of.index)
    if not found.any():
        raise MedaiInputError(
            "none of the known pathogenic variants is in the genotypes; pass the genotypes before the MAF "
            "filter of QC (pathogenic variants are rare) or check the variant ids."
        )
    carrier = np.zeros(n_samples, dtype=np.int8)
    g = np.asarray(genotypes)
    for vid, allele in zip(ids[found], panel["pathogenic_allele"].astype(str).str.upper().to_numpy()[found]):
        r = row_of[vid]
        code = 1 if allele == str(variants["alt"].iloc[r]).upper() else (
            0 if allele == str(variants["ref"].iloc[r]).upper() else None)
        if code is None:
            continue
        calls = g[r]
        carrier |= ((calls == code) & (calls >= 0)).any(axis=1).astype(np.int8)
    return carrier
