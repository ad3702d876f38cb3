"""Genotype file I/O: VCF and phenotype CSV round trips through scikit-allel, zarr/dask, bad files."""
from __future__ import annotations

import gzip
import warnings

import numpy as np
import pandas as pd
import pytest

from medai_lib.cancer import (
    LiabilityModel, make_cancer_cohort, make_cancer_cohort_files, match_samples, read_cohort,
    read_phenotypes, read_vcf, read_zarr, vcf_to_zarr, write_cancer_cohort, write_vcf,
)
from medai_lib.errors import MedaiInputError

KW = dict(n_chromosomes=2, chromosome_length=2e6, model=LiabilityModel(n_causal=40, n_rare=1))


@pytest.fixture(scope="module")
def cohort():
    return make_cancer_cohort(120, random_state=2, **KW)


@pytest.fixture(scope="module")
def folder(cohort, tmp_path_factory):
    return write_cancer_cohort(cohort, tmp_path_factory.mktemp("cohort"))


def _vcf_lines(folder):
    with gzip.open(folder / "genotypes.vcf.gz", "rt") as fh:
        return fh.read().splitlines()


def _write_text(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_vcf_round_trip_is_exact(cohort, folder):
    data = read_vcf(folder / "genotypes.vcf.gz")
    assert data.genotypes.dtype == np.int8
    np.testing.assert_array_equal(data.genotypes, cohort.genotypes)
    pd.testing.assert_frame_equal(data.variants, cohort.variants, check_dtype=False)
    assert data.samples["sample_id"].tolist() == cohort.samples["sample_id"].tolist()


def test_vcf_text_is_standard_and_says_synthetic(cohort, folder):
    lines = _vcf_lines(folder)
    assert lines[0] == "##fileformat=VCFv4.2"
    assert any(line.startswith("##source=") and "SYNTHETIC" in line for line in lines)
    body = [line for line in lines if not line.startswith("#")]
    assert len(body) == len(cohort.variants)
    fields = body[0].split("\t")
    assert fields[8] == "GT" and len(fields) == 9 + 120
    gt = cohort.genotypes[0, 0]
    expected = "|".join("." if a < 0 else str(a) for a in gt)
    assert fields[9] == expected
    assert int(fields[1]) == cohort.variants["pos"].iloc[0] >= 1


def test_read_cohort_matches_samples_whatever_the_row_order(cohort, folder, tmp_path):
    shuffled = cohort.samples.sample(frac=1.0, random_state=0)
    shuffled.to_csv(tmp_path / "pheno.csv", index=False)
    data = read_cohort(folder / "genotypes.vcf.gz", tmp_path / "pheno.csv")
    assert data.samples["sample_id"].tolist() == cohort.samples["sample_id"].tolist()
    np.testing.assert_array_equal(data.samples["case"], cohort.samples["case"])


def test_samples_missing_from_either_side_are_named(cohort, folder, tmp_path):
    cohort.samples.iloc[3:].to_csv(tmp_path / "fewer.csv", index=False)
    with pytest.raises(MedaiInputError, match=r"3 sample\(s\) in .*genotypes.vcf.gz are missing from .*fewer.csv"):
        read_cohort(folder / "genotypes.vcf.gz", tmp_path / "fewer.csv")
    extra = pd.concat([cohort.samples, cohort.samples.iloc[:1].assign(sample_id="NOT_GENOTYPED")])
    extra.to_csv(tmp_path / "extra.csv", index=False)
    with pytest.raises(MedaiInputError, match="NOT_GENOTYPED.*on_mismatch='intersect'"):
        read_cohort(folder / "genotypes.vcf.gz", tmp_path / "extra.csv")
    with pytest.warns(UserWarning, match="dropped 3 genotype-only"):
        data = read_cohort(folder / "genotypes.vcf.gz", tmp_path / "fewer.csv", on_mismatch="intersect")
    np.testing.assert_array_equal(data.genotypes, cohort.genotypes[:, 3:])


def test_phenotype_file_errors(tmp_path):
    with pytest.raises(MedaiInputError, match="does not exist"):
        read_phenotypes(tmp_path / "nothing.csv")
    pd.DataFrame({"id": ["a"], "case": [1]}).to_csv(tmp_path / "noid.csv", index=False)
    with pytest.raises(MedaiInputError, match="no 'sample_id' column.*rename"):
        read_phenotypes(tmp_path / "noid.csv")
    pd.DataFrame({"sample_id": ["a", "a"]}).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(MedaiInputError, match="more than once.*'a'"):
        read_phenotypes(tmp_path / "dup.csv")
    with pytest.raises(MedaiInputError, match="on_mismatch"):
        match_samples(["a"], pd.DataFrame({"sample_id": ["a"]}), on_mismatch="ignore")


def test_multiallelic_sites_are_dropped_with_a_count(folder, tmp_path):
    lines = _vcf_lines(folder)
    header = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")][:10]
    for k in (2, 5):
        f = body[k].split("\t")
        f[4] = f[4] + ",T" if f[4] != "T" else "G,C"
        f[9] = "0|2"
        body[k] = "\t".join(f)
    path = _write_text(tmp_path / "multi.vcf", header + body)
    with pytest.warns(UserWarning, match=r"multi.vcf.*dropped 2 multiallelic site\(s\).*bcftools norm.*of 10 "):
        data = read_vcf(path)
    assert data.genotypes.shape[0] == 8
    assert data.genotypes.max() <= 1


def test_monomorphic_reference_sites_are_dropped_with_a_count(cohort, folder, tmp_path):
    lines = _vcf_lines(folder)
    header = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")][:12]
    mono, multi = (1, 4, 7), (9,)
    for k in mono:  # a reference-only record, as gVCF-derived or joint-called files hold
        f = body[k].split("\t")
        f[4] = "."
        f[9:] = ["0|0"] * len(f[9:])
        body[k] = "\t".join(f)
    for k in multi:
        f = body[k].split("\t")
        f[4] = "G,C" if f[3] != "G" else "A,C"
        body[k] = "\t".join(f)
    path = _write_text(tmp_path / "mono.vcf", header + body)
    with pytest.warns(UserWarning, match=r"mono.vcf.*dropped 1 multiallelic site\(s\).* and 3 site\(s\) with "
                                         r"no alternative allele \(ALT '\.'.*of 12 records"):
        data = read_vcf(path)
    kept = [k for k in range(12) if k not in mono + multi]
    assert data.variants["id"].tolist() == cohort.variants["id"].iloc[kept].tolist()
    assert (data.variants["alt"] != "").all()
    np.testing.assert_array_equal(data.genotypes, cohort.genotypes[kept])


@pytest.mark.parametrize("compressed, name", [(False, "plain_named.vcf.gz"), (True, "gzip_named.vcf"),
                                              (True, "gzip_no_suffix")])
def test_compression_is_read_from_the_bytes_not_the_name(cohort, folder, tmp_path, compressed, name):
    raw = (folder / "genotypes.vcf.gz").read_bytes()
    (tmp_path / name).write_bytes(raw if compressed else gzip.decompress(raw))
    data = read_vcf(tmp_path / name)
    np.testing.assert_array_equal(data.genotypes, cohort.genotypes)
    assert data.samples["sample_id"].tolist() == cohort.samples["sample_id"].tolist()
    store = vcf_to_zarr(tmp_path / name, tmp_path / f"{name}.zarr")
    np.testing.assert_array_equal(read_zarr(store, chunked=False).genotypes, cohort.genotypes)


def test_an_empty_phenotype_file_is_named(folder, tmp_path):
    empty = tmp_path / "phenotypes.csv"
    empty.write_text("")
    with pytest.raises(MedaiInputError, match=r"phenotype file .*phenotypes.csv' is empty.*sample_id"):
        read_phenotypes(empty)
    with pytest.raises(MedaiInputError, match="phenotypes.csv' is empty"):
        read_cohort(folder / "genotypes.vcf.gz", empty)


@pytest.mark.parametrize("call, match", [("1", "haploid calls"), ("0/1/1", "non-diploid")])
def test_non_diploid_calls_raise_and_name_the_file(folder, tmp_path, call, match):
    lines = _vcf_lines(folder)
    header = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")][:5]
    f = body[1].split("\t")
    f[11] = call
    body[1] = "\t".join(f)
    path = _write_text(tmp_path / "ploidy.vcf", header + body)
    with pytest.raises(MedaiInputError, match=f"ploidy.vcf.*{match}"):
        read_vcf(path)


def test_malformed_headers_raise_and_name_the_file(folder, tmp_path):
    lines = _vcf_lines(folder)
    no_format = _write_text(tmp_path / "nofmt.vcf", lines[1:20])
    with pytest.raises(MedaiInputError, match="nofmt.vcf.*##fileformat=VCF"):
        read_vcf(no_format)
    no_chrom = _write_text(tmp_path / "nochrom.vcf", [x for x in lines[:20] if not x.startswith("#CHROM")])
    with pytest.raises(MedaiInputError, match="malformed VCF header in .*nochrom.vcf.*#CHROM"):
        read_vcf(no_chrom)
    bad_cols = [x.replace("\tQUAL\t", "\tQ\t") if x.startswith("#CHROM") else x for x in lines[:20]]
    with pytest.raises(MedaiInputError, match="badcols.vcf.*expected tab-separated columns"):
        read_vcf(_write_text(tmp_path / "badcols.vcf", bad_cols))
    with pytest.raises(MedaiInputError, match="does not exist"):
        read_vcf(tmp_path / "absent.vcf.gz")


def test_truncated_gzip_raises_and_names_the_file(folder, tmp_path):
    raw = (folder / "genotypes.vcf.gz").read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(MedaiInputError, match="cut.vcf.gz.*truncated or corrupt gzip"):
        read_vcf(cut)
    with pytest.raises(MedaiInputError, match="cut.vcf.gz.*truncated"):
        vcf_to_zarr(cut, tmp_path / "cut.zarr")
    assert not (tmp_path / "cut.zarr").exists()


def test_zarr_round_trip_with_dask_chunks(cohort, folder, tmp_path):
    import dask.array as da

    store = vcf_to_zarr(folder / "genotypes.vcf.gz", tmp_path / "g.zarr", chunk_length=500)
    lazy = read_zarr(store)
    assert isinstance(lazy.genotypes, da.Array)
    assert lazy.genotypes.chunks[0][0] == 500
    np.testing.assert_array_equal(lazy.genotypes.compute(), cohort.genotypes)
    from medai_lib.cancer import run_gwas, variant_qc

    y = cohort.truth.liability
    pd.testing.assert_frame_equal(run_gwas(lazy.genotypes, y, chunk_size=300), run_gwas(cohort.genotypes, y))
    pd.testing.assert_frame_equal(variant_qc(lazy.genotypes, chunk_size=300), variant_qc(cohort.genotypes))
    eager = read_zarr(store, chunked=False)
    np.testing.assert_array_equal(eager.genotypes, cohort.genotypes)
    assert eager.samples["sample_id"].tolist() == cohort.samples["sample_id"].tolist()
    with pytest.raises(MedaiInputError, match="exists; pass overwrite=True"):
        vcf_to_zarr(folder / "genotypes.vcf.gz", store)
    with pytest.raises(MedaiInputError, match="not a genotype zarr store"):
        read_zarr(tmp_path)


def test_write_vcf_rejects_bad_input(cohort, tmp_path):
    with pytest.raises(MedaiInputError, match="shape"):
        write_vcf(tmp_path / "x.vcf.gz", cohort.genotypes[:, :, 0], cohort.variants, cohort.samples["sample_id"])
    with pytest.raises(MedaiInputError, match="sample_ids"):
        write_vcf(tmp_path / "x.vcf.gz", cohort.genotypes, cohort.variants, ["a"])
    zero_based = cohort.variants.assign(pos=cohort.variants["pos"] - cohort.variants["pos"].min())
    with pytest.raises(MedaiInputError, match="1-based"):
        write_vcf(tmp_path / "x.vcf.gz", cohort.genotypes, zero_based, cohort.samples["sample_id"])


def test_cached_cohort_files_are_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDAI_DATA", str(tmp_path))
    first = make_cancer_cohort_files(60, random_state=4, **KW)
    assert (first / "genotypes.vcf.gz").exists() and (first / "phenotypes.csv").exists()
    stamp = (first / "genotypes.vcf.gz").stat().st_mtime_ns
    again = make_cancer_cohort_files(60, random_state=4, **KW)
    assert again == first and (again / "genotypes.vcf.gz").stat().st_mtime_ns == stamp
    other = make_cancer_cohort_files(60, random_state=5, **KW)
    assert other != first
    data = read_cohort(first / "genotypes.vcf.gz", first / "phenotypes.csv")
    direct = make_cancer_cohort(60, random_state=4, **KW)
    np.testing.assert_array_equal(data.genotypes, direct.genotypes)
    truth = np.load(first / "truth.npz")
    np.testing.assert_array_equal(truth["causal_index"], direct.truth.causal_index)
    with pytest.raises(TypeError, match="random_state"):
        make_cancer_cohort_files(60, random_state=np.random.default_rng(0), **KW)
