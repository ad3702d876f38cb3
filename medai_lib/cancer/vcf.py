"""Genotype file I/O: (b)gzipped VCF and phenotype CSV written and read with scikit-allel, zarr for cohorts
that do not fit in memory. The readers are the ones real data goes through.

Layout of a genotype folder (``DATA_DIR`` for real data, e.g. a 1000 Genomes subset)::

    DATA_DIR/
      genotypes.vcf.gz   biallelic SNPs, diploid GT calls (one file; bgzip, gzip or plain text, told
                         apart by the file's bytes, not its name; multiallelic sites and reference-only
                         records (ALT '.') are dropped with a warning that counts them: split multiallelic
                         sites first with `bcftools norm -m-` to keep them)
      phenotypes.csv     one row per sample: a `sample_id` column matching the VCF header, then
                         covariates and outcomes (e.g. ancestry_group, sex, age, case)

For 1000 Genomes, convert the panel file (sample, pop, super_pop, gender) to ``phenotypes.csv`` with
``sample`` renamed to ``sample_id``.
"""
from __future__ import annotations

import gzip
import logging
import shutil
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)

_FIXED = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
_FIELDS = ["variants/CHROM", "variants/POS", "variants/ID", "variants/REF", "variants/ALT",
           "variants/numalt", "samples", "calldata/GT"]
VCF_NAME = "genotypes.vcf.gz"
PHENOTYPE_NAME = "phenotypes.csv"


@dataclass(frozen=True)
class GenotypeData:
    """Genotypes read from a file, with their variants and samples.

    Attributes
    ----------
    genotypes : ndarray or dask array, int8, shape (n_variants, n_samples, 2)
        Diploid calls, -1 = missing (scikit-allel's layout).
    variants : DataFrame, n_variants rows
        ``chrom``, ``pos``, ``id``, ``ref``, ``alt``.
    samples : DataFrame, n_samples rows
        ``sample_id`` in the genotype column order, plus phenotype columns when read with
        :func:`read_cohort`.
    source : str
        The file the genotypes came from.
    """

    genotypes: object
    variants: pd.DataFrame
    samples: pd.DataFrame
    source: str = ""


def write_vcf(path, genotypes, variants: pd.DataFrame, sample_ids, *, phased: bool = True,
              source: str = "medai_lib SYNTHETIC cohort (simulated, not real people)",
              compresslevel: int = 1) -> Path:
    """Write diploid biallelic genotypes to a gzip-compressed VCF 4.2 file.

    Parameters
    ----------
    path : path
        Output file, normally ending in ``.vcf.gz``.
    genotypes : array, int, shape (n_variants, n_samples, 2)
        0 = REF, 1 = ALT, -1 = missing.
    variants : DataFrame, n_variants rows
        ``chrom``, ``pos`` (1-based, > 0), ``id``, ``ref``, ``alt``.
    sample_ids : sequence of str, length n_samples
    phased : bool, default True
        Separate alleles with ``|`` (phased) or ``/``.
    source : str
        Written to the ``##source`` header line.
    compresslevel : int, default 1
        gzip level (1 is fast; 9 is small).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from medai_lib.cancer import write_vcf, read_vcf
    >>> g = np.array([[[0, 1], [1, 1]]], dtype=np.int8)
    >>> v = pd.DataFrame({"chrom": ["1"], "pos": [10], "id": ["rs1"], "ref": ["A"], "alt": ["G"]})
    >>> f = write_vcf(os.path.join(tempfile.mkdtemp(), "x.vcf.gz"), g, v, ["s1", "s2"])
    >>> read_vcf(f).genotypes.tolist()
    [[[0, 1], [1, 1]]]
    """
    path = Path(path)
    g = np.asarray(genotypes)
    if g.ndim != 3 or g.shape[2] != 2:
        raise MedaiInputError(
            f"'genotypes' must have shape (n_variants, n_samples, 2); got {g.shape}."
        )
    sample_ids = [str(s) for s in sample_ids]
    if len(sample_ids) != g.shape[1]:
        raise MedaiInputError(
            f"'sample_ids' has {len(sample_ids)} names for {g.shape[1]} genotype columns."
        )
    missing_cols = {"chrom", "pos", "id", "ref", "alt"} - set(variants.columns)
    if missing_cols or len(variants) != g.shape[0]:
        raise MedaiInputError(
            f"'variants' must have columns chrom, pos, id, ref, alt and {g.shape[0]} rows; "
            f"missing {sorted(missing_cols)}, {len(variants)} rows."
        )
    pos = variants["pos"].to_numpy()
    if len(pos) and pos.min() < 1:
        raise MedaiInputError("'variants.pos' must be 1-based (>= 1); shift 0-based positions by +1.")
    if g.size and (g.min() < -1 or g.max() > 1):
        raise MedaiInputError("'genotypes' must hold 0, 1 or -1 (missing) for biallelic SNPs.")

    header = [
        "##fileformat=VCFv4.2",
        f"##source={source}",
    ]
    for chrom, end in variants.groupby("chrom", sort=False)["pos"].max().items():
        header.append(f"##contig=<ID={chrom},length={int(end) + 1}>")
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.append("\t".join(_FIXED + sample_ids))
    sep = ord("|") if phased else ord("/")
    prefixes = (variants["chrom"].astype(str) + "\t" + variants["pos"].astype(str) + "\t"
                + variants["id"].astype(str) + "\t" + variants["ref"].astype(str) + "\t"
                + variants["alt"].astype(str) + "\t.\tPASS\t.\tGT\t").tolist()
    lookup = np.array([ord("."), ord("0"), ord("1")], dtype=np.uint8)
    n_samples = g.shape[1]
    step = max(1, 2_000_000 // max(n_samples, 1))
    with gzip.open(path, "wb", compresslevel=compresslevel) as out:
        out.write(("\n".join(header) + "\n").encode())
        for start in range(0, g.shape[0], step):
            block = g[start:start + step]
            text = np.empty((block.shape[0], n_samples, 4), dtype=np.uint8)
            text[:, :, 0] = lookup[block[:, :, 0] + 1]
            text[:, :, 1] = sep
            text[:, :, 2] = lookup[block[:, :, 1] + 1]
            text[:, :, 3] = ord("\t")
            text[:, -1, 3] = ord("\n")
            rows = text.reshape(block.shape[0], -1)
            out.write(b"".join(prefixes[start + i].encode() + rows[i].tobytes()
                               for i in range(block.shape[0])))
    return path


def _is_gzip(path: Path) -> bool:
    """Whether the file is gzip (or bgzip) compressed, from its first two bytes, whatever its name says."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path):
    if _is_gzip(path):
        return gzip.open(path, "rt", errors="replace")
    return open(path, "rt", errors="replace")


def _open_binary(path: Path):
    """A binary stream of the VCF text for scikit-allel, which would otherwise judge compression by the name
    (a plain file named .vcf.gz, or a gzip named .vcf, is common after a rename or a browser download)."""
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _check_header(path: Path) -> list[str]:
    """Validate the meta lines and the #CHROM line; return the sample names."""
    if not path.is_file():
        raise MedaiInputError(f"VCF file {str(path)!r} does not exist; check the path or DATA_DIR.")
    try:
        with _open_text(path) as fh:
            first = fh.readline()
            if not first.startswith("##fileformat=VCF"):
                raise MedaiInputError(
                    f"{str(path)!r} is not a VCF file: the first line must start with '##fileformat=VCF', "
                    f"found {first[:40]!r}. Fix the header or export the file again as VCF."
                )
            for line in fh:
                if line.startswith("##"):
                    continue
                if not line.startswith("#CHROM"):
                    raise MedaiInputError(
                        f"malformed VCF header in {str(path)!r}: the '#CHROM POS ID REF ALT QUAL FILTER INFO "
                        f"FORMAT <samples>' line is missing (found {line[:40]!r}). Fix the header."
                    )
                columns = line.rstrip("\n").split("\t")
                if columns[:9] != _FIXED or len(columns) < 10:
                    raise MedaiInputError(
                        f"malformed VCF header in {str(path)!r}: expected tab-separated columns "
                        f"{' '.join(_FIXED)} then sample names; got {' '.join(columns[:10])[:120]!r}."
                    )
                return columns[9:]
    except (EOFError, OSError, zlib.error) as exc:
        raise MedaiInputError(
            f"cannot read {str(path)!r}: truncated or corrupt gzip ({exc}). Copy or download the file "
            "again (check its size/checksum), or recompress it with bgzip."
        ) from exc
    raise MedaiInputError(f"malformed VCF header in {str(path)!r}: no '#CHROM' line; fix the header.")


def _allel_read(path: Path, samples=None) -> dict:
    import allel

    try:
        with _open_binary(path) as stream:
            data = allel.read_vcf(stream, fields=_FIELDS, numbers={"calldata/GT": 3}, alt_number=3,
                                  samples=samples)
    except (EOFError, OSError, zlib.error) as exc:
        raise MedaiInputError(
            f"cannot read {str(path)!r}: truncated or corrupt gzip ({exc}). Copy or download the file "
            "again (check its size/checksum), or recompress it with bgzip."
        ) from exc
    except (RuntimeError, ValueError, UnicodeDecodeError) as exc:
        raise MedaiInputError(f"cannot parse VCF {str(path)!r}: {exc}. Check the file with bcftools view.") \
            from exc
    return data


def _check_ploidy(path, gt) -> None:
    third = np.asarray(gt[:, :, 2])
    if np.any(third >= 0):
        v, s = np.argwhere(third >= 0)[0]
        raise MedaiInputError(
            f"{str(path)!r} holds non-diploid calls (e.g. variant row {v}, sample column {s} has more than 2 "
            "alleles); this loader expects diploid GT. Remove polyploid samples/sites (bcftools) first."
        )
    first, second = np.asarray(gt[:, :, 0]), np.asarray(gt[:, :, 1])
    haploid = (first >= 0) & (second < 0)
    if np.any(haploid):
        v, s = np.argwhere(haploid)[0]
        raise MedaiInputError(
            f"{str(path)!r} holds haploid calls (e.g. variant row {v}, sample column {s}); this loader expects "
            "diploid GT such as 0/1. Drop haploid regions (chrY, chrM, male chrX) or recode them as diploid."
        )


def _multiallelic_mask(path, numalts) -> np.ndarray:
    """Keep biallelic sites; drop multiallelic ones and monomorphic reference sites (ALT '.'), with a warning
    that counts each kind."""
    numalts = np.asarray(numalts)
    multi, monomorphic = numalts > 1, numalts < 1
    keep = ~(multi | monomorphic)
    parts = []
    if multi.any():
        parts.append(f"{int(multi.sum())} multiallelic site(s) (split them into biallelic records first with "
                     "bcftools norm -m- to keep them)")
    if monomorphic.any():
        parts.append(f"{int(monomorphic.sum())} site(s) with no alternative allele (ALT '.', monomorphic "
                     "reference calls: nothing to test or score there)")
    if parts:
        warnings.warn(f"{str(path)!r}: dropped " + " and ".join(parts) + f", of {len(keep)} records.",
                      UserWarning, stacklevel=3)
    return keep


def _variant_table(data, keep) -> pd.DataFrame:
    alt = np.asarray(data["variants/ALT"])[keep]
    return pd.DataFrame({
        "chrom": np.asarray(data["variants/CHROM"])[keep].astype(str),
        "pos": np.asarray(data["variants/POS"])[keep].astype(np.int64),
        "id": np.asarray(data["variants/ID"])[keep].astype(str),
        "ref": np.asarray(data["variants/REF"])[keep].astype(str),
        "alt": alt[:, 0].astype(str) if alt.ndim == 2 else alt.astype(str),
    })


def read_vcf(path, *, samples=None) -> GenotypeData:
    """Read biallelic diploid genotypes from a VCF (plain, gzip or bgzip) with scikit-allel.

    Parameters
    ----------
    path : path
    samples : sequence of str, optional
        Read only these samples (in file order).

    Returns
    -------
    GenotypeData
        ``genotypes`` int8 shape (n_variants, n_samples, 2); multiallelic sites and reference-only
        records (ALT ``.``) are dropped with a ``UserWarning`` that says how many of each. Compression is
        read from the file's first bytes, so a plain file named ``.vcf.gz`` or a gzip named ``.vcf`` reads.

    Raises
    ------
    MedaiInputError
        Missing file, malformed header, truncated gzip, non-diploid calls; the message names the file.

    Examples
    --------
    >>> from medai_lib.cancer import read_vcf
    >>> # data = read_vcf("DATA_DIR/genotypes.vcf.gz"); data.genotypes.shape
    """
    path = Path(path)
    header_samples = _check_header(path)
    data = _allel_read(path, samples=samples)
    if data is None:
        raise MedaiInputError(f"{str(path)!r} contains no variant records; check that it is not empty.")
    gt = data["calldata/GT"]
    _check_ploidy(path, gt)
    keep = _multiallelic_mask(path, data["variants/numalt"])
    genotypes = np.ascontiguousarray(gt[keep, :, :2]).astype(np.int8, copy=False)
    if np.any(genotypes > 1):  # pragma: no cover - only after the multiallelic filter fails
        raise MedaiInputError(f"{str(path)!r}: allele index > 1 at a biallelic site; check the ALT column.")
    sample_ids = [str(s) for s in data["samples"]] if samples is not None else header_samples
    return GenotypeData(genotypes=genotypes, variants=_variant_table(data, keep),
                        samples=pd.DataFrame({"sample_id": sample_ids}), source=str(path))


def read_phenotypes(path) -> pd.DataFrame:
    """Read a phenotype table (CSV, or TSV when the name ends in .tsv/.txt) with a ``sample_id`` column.

    Parameters
    ----------
    path : path

    Returns
    -------
    DataFrame
        One row per sample, ``sample_id`` as str.

    Examples
    --------
    >>> from medai_lib.cancer import read_phenotypes
    >>> # read_phenotypes("DATA_DIR/phenotypes.csv").columns
    """
    path = Path(path)
    if not path.is_file():
        raise MedaiInputError(f"phenotype file {str(path)!r} does not exist; check the path or DATA_DIR.")
    sep = "\t" if path.suffix.lower() in {".tsv", ".txt", ".panel"} else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype={"sample_id": str})
    except pd.errors.EmptyDataError:
        raise MedaiInputError(
            f"phenotype file {str(path)!r} is empty: it needs a header line with 'sample_id' (the VCF sample "
            "names) and one row per sample. Export the table again."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise MedaiInputError(f"cannot parse phenotype file {str(path)!r}: {exc}.") from exc
    if "sample_id" not in table.columns:
        raise MedaiInputError(
            f"phenotype file {str(path)!r} has no 'sample_id' column (columns: {list(table.columns)[:8]}); "
            "rename the column that holds the VCF sample names to 'sample_id'."
        )
    duplicated = table["sample_id"][table["sample_id"].duplicated()]
    if len(duplicated):
        raise MedaiInputError(
            f"phenotype file {str(path)!r} lists {len(duplicated)} sample_id(s) more than once "
            f"(e.g. {duplicated.iloc[0]!r}); keep one row per sample."
        )
    return table


def match_samples(genotype_samples, phenotypes: pd.DataFrame, *, on_mismatch: str = "error",
                  vcf_name: str = "the VCF", phenotype_name: str = "the phenotype file"):
    """Align a phenotype table to the genotype sample order.

    Parameters
    ----------
    genotype_samples : sequence of str
        Sample names in genotype column order.
    phenotypes : DataFrame
        With a ``sample_id`` column.
    on_mismatch : {"error", "intersect"}
        ``"error"`` raises when a sample is in one source only; ``"intersect"`` keeps the shared
        samples (with a warning that says how many were dropped).

    Returns
    -------
    columns : ndarray of int
        Genotype columns to keep, in order.
    table : DataFrame
        Phenotype rows in that order.

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer import match_samples
    >>> cols, table = match_samples(["b", "a"], pd.DataFrame({"sample_id": ["a", "b"], "case": [0, 1]}))
    >>> cols.tolist(), table["case"].tolist()
    ([0, 1], [1, 0])
    """
    if on_mismatch not in {"error", "intersect"}:
        raise MedaiInputError(f"'on_mismatch' must be 'error' or 'intersect'; got {on_mismatch!r}.")
    genotype_samples = [str(s) for s in genotype_samples]
    pheno_ids = phenotypes["sample_id"].astype(str)
    in_pheno = set(pheno_ids)
    in_vcf = set(genotype_samples)
    only_vcf = [s for s in genotype_samples if s not in in_pheno]
    only_pheno = [s for s in pheno_ids if s not in in_vcf]
    if (only_vcf or only_pheno) and on_mismatch == "error":
        parts = []
        if only_vcf:
            parts.append(f"{len(only_vcf)} sample(s) in {vcf_name} are missing from {phenotype_name} "
                         f"(e.g. {only_vcf[:3]})")
        if only_pheno:
            parts.append(f"{len(only_pheno)} sample(s) in {phenotype_name} are missing from {vcf_name} "
                         f"(e.g. {only_pheno[:3]})")
        raise MedaiInputError("; ".join(parts) + ". Fix the sample_id column, or pass "
                              "on_mismatch='intersect' to keep only the samples found in both.")
    if only_vcf or only_pheno:
        message = (f"kept {len(genotype_samples) - len(only_vcf)} samples found in both files; dropped "
                   f"{len(only_vcf)} genotype-only and {len(only_pheno)} phenotype-only sample(s).")
        warnings.warn(message, UserWarning, stacklevel=2)
    columns = np.array([i for i, s in enumerate(genotype_samples) if s in in_pheno], dtype=int)
    table = phenotypes.assign(sample_id=pheno_ids).set_index("sample_id").loc[
        [genotype_samples[i] for i in columns]].reset_index()
    return columns, table


def read_cohort(vcf_path, phenotype_path, *, on_mismatch: str = "error") -> GenotypeData:
    """Read a VCF and its phenotype table, matched by sample.

    Parameters
    ----------
    vcf_path, phenotype_path : path
        See the folder layout in this module's docstring.
    on_mismatch : {"error", "intersect"}, default "error"

    Returns
    -------
    GenotypeData
        ``samples`` holds the phenotype columns in genotype column order.

    Examples
    --------
    >>> from medai_lib.cancer import make_cancer_cohort_files, read_cohort
    >>> # folder = make_cancer_cohort_files(500, random_state=0)
    >>> # data = read_cohort(folder / "genotypes.vcf.gz", folder / "phenotypes.csv")
    """
    phenotypes = read_phenotypes(phenotype_path)
    data = read_vcf(vcf_path)
    columns, table = match_samples(data.samples["sample_id"], phenotypes, on_mismatch=on_mismatch,
                                   vcf_name=str(vcf_path), phenotype_name=str(phenotype_path))
    genotypes = data.genotypes if len(columns) == data.genotypes.shape[1] else data.genotypes[:, columns]
    return GenotypeData(genotypes=genotypes, variants=data.variants, samples=table, source=data.source)


def vcf_to_zarr(vcf_path, zarr_path, *, chunk_length: int = 10_000, overwrite: bool = False) -> Path:
    """Convert a VCF to a zarr (v2) store with scikit-allel, for chunked reading with dask.

    Parameters
    ----------
    vcf_path, zarr_path : path
    chunk_length : int, default 10000
        Variants per chunk.
    overwrite : bool, default False

    Returns
    -------
    pathlib.Path
        The zarr folder; read it with :func:`read_zarr`.

    Examples
    --------
    >>> from medai_lib.cancer import vcf_to_zarr, read_zarr
    >>> # store = vcf_to_zarr("genotypes.vcf.gz", "genotypes.zarr"); read_zarr(store).genotypes
    """
    import allel

    vcf_path, zarr_path = Path(vcf_path), Path(zarr_path)
    _check_header(vcf_path)
    if zarr_path.exists():
        if not overwrite:
            raise MedaiInputError(f"{str(zarr_path)!r} exists; pass overwrite=True or choose another path.")
        shutil.rmtree(zarr_path)
    try:
        with _open_binary(vcf_path) as stream:
            allel.vcf_to_zarr(stream, str(zarr_path), fields=_FIELDS, numbers={"calldata/GT": 3},
                              alt_number=3, chunk_length=chunk_length)
    except (EOFError, OSError, zlib.error) as exc:
        shutil.rmtree(zarr_path, ignore_errors=True)
        raise MedaiInputError(
            f"cannot read {str(vcf_path)!r}: truncated or corrupt gzip ({exc}). Copy or download the file "
            "again, or recompress it with bgzip."
        ) from exc
    import zarr

    root = zarr.open_group(str(zarr_path), mode="r")
    gt = root["calldata/GT"]
    try:
        for start in range(0, gt.shape[0], chunk_length):
            _check_ploidy(vcf_path, gt[start:start + chunk_length])
    except MedaiInputError:
        shutil.rmtree(zarr_path, ignore_errors=True)
        raise
    return zarr_path


def read_zarr(zarr_path, *, chunked: bool = True) -> GenotypeData:
    """Open a zarr store written by :func:`vcf_to_zarr`.

    Parameters
    ----------
    zarr_path : path
    chunked : bool, default True
        Return genotypes as a lazy dask array (chunks of variants); ``False`` loads a NumPy array.

    Returns
    -------
    GenotypeData
        ``genotypes`` shape (n_variants, n_samples, 2); multiallelic sites dropped with a warning.

    Examples
    --------
    >>> from medai_lib.cancer import read_zarr
    >>> # g = read_zarr("genotypes.zarr").genotypes   # dask array; g[:1000].compute()
    """
    import zarr

    zarr_path = Path(zarr_path)
    try:
        root = zarr.open_group(str(zarr_path), mode="r")
        gt = root["calldata/GT"]
        variants = {k: root[k][:] for k in _FIELDS if k.startswith("variants/")}
        sample_ids = [str(s) for s in root["samples"][:]]
    except (KeyError, ValueError, OSError) as exc:
        raise MedaiInputError(
            f"{str(zarr_path)!r} is not a genotype zarr store written by vcf_to_zarr ({exc}); convert the VCF "
            "again."
        ) from exc
    keep = _multiallelic_mask(zarr_path, variants["variants/numalt"])
    if chunked:
        import dask.array as da

        genotypes = da.from_zarr(gt)[:, :, :2]
        if not keep.all():
            genotypes = genotypes[np.flatnonzero(keep)]
    else:
        genotypes = np.ascontiguousarray(gt[:][keep, :, :2])
    return GenotypeData(genotypes=genotypes, variants=_variant_table(variants, keep),
                        samples=pd.DataFrame({"sample_id": sample_ids}), source=str(zarr_path))


def write_cancer_cohort(cohort, folder) -> Path:
    """Write a simulated cohort as ``genotypes.vcf.gz``, ``phenotypes.csv`` and ``truth.npz``, plus the
    published GWAS summary statistics and the known pathogenic variants when the cohort has them.

    Parameters
    ----------
    cohort : CancerCohort
    folder : path
        Created if absent.

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> from medai_lib.cancer import make_cancer_cohort, write_cancer_cohort
    >>> # write_cancer_cohort(make_cancer_cohort(200, random_state=0), "cohort_dir")
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_vcf(folder / VCF_NAME, cohort.genotypes, cohort.variants, cohort.samples["sample_id"])
    cohort.samples.to_csv(folder / PHENOTYPE_NAME, index=False)
    t = cohort.truth
    np.savez_compressed(
        folder / "truth.npz", causal_index=t.causal_index, causal_effect=t.causal_effect,
        rare_index=t.rare_index, polygenic_liability=t.polygenic_liability,
        genetic_liability=t.genetic_liability, covariate_liability=t.covariate_liability,
        liability=t.liability, risk=t.risk, threshold=np.float64(t.threshold),
        genotyping_error_index=t.genotyping_error_index,
    )
    if getattr(cohort, "summary_statistics", None) is not None:
        from medai_lib.cancer.sumstats import (
            PATHOGENIC_NAME, SUMSTATS_META_NAME, SUMSTATS_NAME, write_summary_statistics,
        )

        write_summary_statistics(cohort.summary_statistics, folder / SUMSTATS_NAME)
        info = cohort.demography
        (folder / SUMSTATS_META_NAME).write_text(
            "# SYNTHETIC summary statistics of a simulated external GWAS (medai_lib.cancer.sumstats)\n"
            f"data_file_name: {SUMSTATS_NAME}\n"
            "file_type: GWAS-SSF-like (tab-separated, one row per variant)\n"
            f"genetic_ancestry_group: {info.get('published_gwas_group', 'group_A')}\n"
            f"effective_sample_size: {int(round(info.get('published_gwas_n') or 0))}\n"
            "trait: cancer liability (liability-threshold model)\n"
            "effect_scale: liability standard deviations per copy of effect_allele\n"
            "genome_assembly: synthetic (msprime)\n")
    if getattr(cohort, "pathogenic_variants", None) is not None:
        from medai_lib.cancer.sumstats import PATHOGENIC_NAME

        cohort.pathogenic_variants.to_csv(folder / PATHOGENIC_NAME, sep="\t", index=False)
    return folder
