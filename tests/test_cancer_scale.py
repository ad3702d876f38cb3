"""Biobank-scale path (medai_lib.cancer.scale): VCFs to a chunked store in parallel and resumably, QC, LD
pruning, PCA and GWAS on a Dask cluster, checked against the course's in-memory functions (the reference),
scikit-allel's LD estimator, and against failures: a worker killed mid-computation, an interrupted
conversion, stores of another version, chunks too large for a worker's memory.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
from pathlib import Path

import allel
import numpy as np
import pandas as pd
import pytest

from medai_lib.cancer import (
    LiabilityModel, genetic_pca, ld_prune, make_cancer_cohort, qc_filter, run_gwas, sample_qc, scale, variant_qc,
    vcf_to_zarr, write_vcf,
)
from medai_lib.errors import MedaiInputError

CHUNK_MB = 0.1  # a few hundred variants a chunk for 300 people: several chunks per chromosome


@pytest.fixture(scope="module")
def cohort():
    return make_cancer_cohort(300, n_chromosomes=2, chromosome_length=2e6, model=LiabilityModel(n_causal=20),
                              populations={"group_A": 0.7, "group_B": 0.3}, random_state=5)


def _write_vcfs(cohort, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for chrom in cohort.variants["chrom"].unique():
        rows = (cohort.variants["chrom"] == chrom).to_numpy()
        files.append(write_vcf(folder / f"chr{chrom}.vcf.gz", cohort.genotypes[rows],
                               cohort.variants[rows].reset_index(drop=True), cohort.samples["sample_id"]))
    return files


@pytest.fixture(scope="module")
def client():
    c = scale.start_cluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")
    yield c
    c.close()
    c.cluster.close()


@pytest.fixture(scope="module")
def vcfs(cohort, tmp_path_factory):
    return _write_vcfs(cohort, tmp_path_factory.mktemp("vcf"))


@pytest.fixture(scope="module")
def store(vcfs, client, tmp_path_factory):
    path = scale.convert_vcfs(vcfs, tmp_path_factory.mktemp("store") / "cohort.zarr", client=client,
                              chunk_mb=CHUNK_MB)
    return scale.open_genotype_store(path)


@pytest.fixture(scope="module")
def reference(cohort):
    """The in-memory pipeline: QC, LD pruning, PCA."""
    groups = cohort.samples["ancestry_group"].to_numpy()
    vq = variant_qc(cohort.genotypes, groups=groups)
    sq = sample_qc(cohort.genotypes)
    qc = qc_filter(vq, sq)
    g = cohort.genotypes[qc.variant_mask][:, qc.sample_mask]
    pruned = ld_prune(g, cohort.variants[qc.variant_mask].reset_index(drop=True))
    pca = genetic_pca(g, n_components=4, variant_mask=pruned, random_state=0)
    return dict(vq=vq, sq=sq, qc=qc, g=g, pruned=pruned, pca=pca, groups=groups)


def _full_mask(qc_mask, subset):
    """A mask over all variants from a mask over the QC-passing ones."""
    out = np.zeros(len(qc_mask), dtype=bool)
    out[np.flatnonzero(qc_mask)[subset]] = True
    return out


# --- the store ------------------------------------------------------------------------------------------

def test_store_holds_the_cohort_in_chunks_sized_for_its_people(cohort, store):
    np.testing.assert_array_equal(store.genotypes.compute(), cohort.genotypes)
    pd.testing.assert_frame_equal(store.variants, cohort.variants.reset_index(drop=True), check_dtype=False)
    assert store.samples["sample_id"].tolist() == cohort.samples["sample_id"].tolist()
    n = cohort.genotypes.shape[1]
    assert store.chunk_variants == int(CHUNK_MB * 2**20 // (3 * n))
    assert max(store.genotypes.chunks[0]) <= store.chunk_variants and store.genotypes.numblocks[1] == 1
    assert len(store.genotypes.chunks[0]) >= 4  # several chunks: the computations below are really chunked
    marker = json.loads((store.path / scale.MARKER_NAME).read_text())
    assert marker["version"] == scale.STORE_VERSION and marker["n_variants"] == cohort.genotypes.shape[0]


def test_converting_again_with_the_same_files_keeps_the_store(vcfs, store, client):
    before = (store.path / scale.MARKER_NAME).stat().st_mtime_ns
    assert scale.convert_vcfs(vcfs, store.path, client=client, chunk_mb=CHUNK_MB) == store.path
    assert (store.path / scale.MARKER_NAME).stat().st_mtime_ns == before
    with pytest.raises(MedaiInputError, match="other files or settings; pass overwrite=True"):
        scale.convert_vcfs(vcfs[:1], store.path, client=client, chunk_mb=CHUNK_MB)


# --- equality with the in-memory functions --------------------------------------------------------------

def test_qc_equals_the_in_memory_qc(store, reference, client):
    vq = scale.variant_qc(store, groups=reference["groups"], client=client)
    # Counts are integers: equal. HWE: sgkit's Wigginton recurrence against the course's log-factorial sums,
    # equal up to floating-point rounding.
    exact = ["call_rate", "alt_freq", "maf", "het_observed", "het_expected"]
    pd.testing.assert_frame_equal(vq[exact], reference["vq"][exact], check_exact=True)
    for column in ("hwe_p", "hwe_p_pooled"):
        np.testing.assert_allclose(vq[column], reference["vq"][column], rtol=1e-9, atol=1e-15)
    pd.testing.assert_frame_equal(scale.sample_qc(store, client=client), reference["sq"], check_exact=True)
    again = qc_filter(vq, scale.sample_qc(store))
    np.testing.assert_array_equal(again.variant_mask, reference["qc"].variant_mask)
    np.testing.assert_array_equal(again.sample_mask, reference["qc"].sample_mask)
    assert reference["qc"].summary["removed"].iloc[2] > 0  # the HWE filter had something to catch


@pytest.mark.parametrize("method", ["linear", "logistic"])
def test_gwas_equals_the_in_memory_gwas(cohort, store, reference, client, method):
    qc = reference["qc"]
    y = (cohort.truth.liability if method == "linear" else cohort.samples["case"].to_numpy())[qc.sample_mask]
    pcs = reference["pca"].components[:, :3]
    expected = run_gwas(reference["g"], y, covariates=pcs, method=method)
    got = scale.run_gwas(store, y, covariates=pcs, method=method, sample_mask=qc.sample_mask,
                         variant_mask=qc.variant_mask, client=client)
    assert list(got.columns) == list(expected.columns) and len(got) == len(expected)
    # Linear: sgkit's regression against the course's, both on float32 dosages summed in another order
    # (relative differences ~1e-5 measured). Logistic: the course's own score test, chunk by chunk.
    rtol = 2e-3 if method == "linear" else 1e-5
    for column in expected.columns:
        np.testing.assert_allclose(got[column], expected[column], rtol=rtol, atol=1e-7, err_msg=column)
    assert np.corrcoef(-np.log10(got["p"]), -np.log10(expected["p"]))[0, 1] > 0.99999


def test_pca_equals_the_in_memory_pca_on_the_same_variants(store, reference, client):
    qc = reference["qc"]
    mask = _full_mask(qc.variant_mask, reference["pruned"])
    got = scale.genetic_pca(store, n_components=4, variant_mask=mask, sample_mask=qc.sample_mask, client=client)
    expected = reference["pca"]
    # Randomised SVDs with different random matrices: the ancestry axis (PC1, a large eigengap) agrees up to
    # sign; the later PCs of two groups are noise with nearly equal eigenvalues and may rotate.
    assert abs(np.corrcoef(got.components[:, 0], expected.components[:, 0])[0, 1]) > 0.999
    np.testing.assert_allclose(got.explained_variance_ratio[0], expected.explained_variance_ratio[0], rtol=0.01)


def test_ld_prune_keeps_no_linked_pair_and_gives_the_same_ancestry_axis(store, reference, client):
    qc = reference["qc"]
    kept = scale.ld_prune(store, variant_mask=qc.variant_mask, sample_mask=qc.sample_mask, client=client)
    assert not kept[~qc.variant_mask].any()
    # Independent check with scikit-allel's Rogers-Huff r (the estimator behind the in-memory pruning):
    # within each chromosome, no two kept variants closer than the window reach r2 = 0.1.
    g = store.genotypes.compute()[:, qc.sample_mask]
    gn = np.where(g[:, :, 0] < 0, -1, g.sum(axis=2)).astype(np.int8)
    chrom = store.variants["chrom"].to_numpy()
    for c in np.unique(chrom):
        rows = np.flatnonzero(kept & (chrom == c))
        r = allel.rogers_huff_r(gn[rows])  # condensed pairwise r
        square = np.zeros((len(rows), len(rows)))
        square[np.triu_indices(len(rows), 1)] = r
        near = np.abs(np.subtract.outer(np.arange(len(rows)), np.arange(len(rows)))) < 20
        assert np.nanmax(np.where(near & (square != 0), square**2, 0)) < 0.1
    # About as many variants as the in-memory pruning keeps, and PC1 separates the groups as well.
    assert 0.5 < kept.sum() / reference["pruned"].sum() < 2
    pca = scale.genetic_pca(store, n_components=2, variant_mask=kept, sample_mask=qc.sample_mask, client=client)
    group_b = reference["groups"][qc.sample_mask] == "group_B"
    r_scale = abs(np.corrcoef(pca.components[:, 0], group_b)[0, 1])
    r_memory = abs(np.corrcoef(reference["pca"].components[:, 0], group_b)[0, 1])
    assert r_scale > 0.9 and abs(r_scale - r_memory) < 0.05


def test_course_functions_route_stores_and_large_lazy_arrays(cohort, store, reference, monkeypatch):
    y = cohort.truth.liability
    pd.testing.assert_frame_equal(run_gwas(store, y), scale.run_gwas(store, y))
    monkeypatch.setattr(scale, "LARGE_INPUT_BYTES", 0)
    routed = variant_qc(store.genotypes, groups=reference["groups"])
    np.testing.assert_allclose(routed["hwe_p"], reference["vq"]["hwe_p"], rtol=1e-9, atol=1e-15)
    small = np.zeros((3, 4, 2), dtype=np.int8)
    assert not scale.is_large(small) and scale.is_large(store)


# --- failures -------------------------------------------------------------------------------------------

def _kill_worker_once(block, flag):
    """Kill this worker process the first time any task gets here (a worker lost mid-computation)."""
    if block.size and not os.path.exists(flag):
        Path(flag).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return block


def test_a_worker_killed_mid_computation_does_not_change_the_result(cohort, store, tmp_path):
    from distributed import Client, LocalCluster

    listing = {p: p.stat().st_mtime_ns for p in store.path.rglob("*")}
    flag = tmp_path / "killed"
    y = cohort.samples["case"].to_numpy()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        genotypes = store.genotypes.map_blocks(_kill_worker_once, str(flag), meta=np.empty((0, 0, 0), np.int8))
        got = scale.run_gwas(genotypes, y, method="logistic", client=client)
        assert flag.exists()  # a worker did die
    pd.testing.assert_frame_equal(got, run_gwas(cohort.genotypes, y, method="logistic"), rtol=1e-5)
    assert {p: p.stat().st_mtime_ns for p in store.path.rglob("*")} == listing  # the store is untouched


def test_an_interrupted_conversion_resumes_and_never_looks_complete(cohort, vcfs, tmp_path, client):
    good = vcfs[1]
    bad = tmp_path / "chr2.vcf.gz"
    data = gzip.decompress(good.read_bytes())
    bad.write_bytes(gzip.compress(data)[: len(gzip.compress(data)) // 2])  # cut mid-file, as a failed copy
    path = tmp_path / "cohort.zarr"
    with pytest.raises(MedaiInputError, match="chr2.vcf.gz.*truncated.*run convert_vcfs again"):
        scale.convert_vcfs([vcfs[0], bad], path, client=client, chunk_mb=CHUNK_MB)
    assert not (path / scale.MARKER_NAME).exists()
    with pytest.raises(MedaiInputError, match="did not finish.*keeps the finished parts"):
        scale.open_genotype_store(path)
    first = path / scale.PARTS_DIR / "0000" / scale.PART_MARKER_NAME
    done_at = first.stat().st_mtime_ns
    (path / scale.PARTS_DIR / ".0001.deadbeef.tmp").mkdir()  # what a killed conversion leaves behind
    shutil.copy(good, bad)  # the file is fixed; run again
    scale.convert_vcfs([vcfs[0], bad], path, client=client, chunk_mb=CHUNK_MB)
    assert first.stat().st_mtime_ns == done_at  # the finished part was kept, not converted again
    assert not list((path / scale.PARTS_DIR).glob(".*.tmp"))
    np.testing.assert_array_equal(scale.open_genotype_store(path).genotypes.compute(), cohort.genotypes)


def test_stores_of_another_version_or_incomplete_stores_are_refused(vcfs, store, tmp_path, client):
    copy = tmp_path / "copy.zarr"
    shutil.copytree(store.path, copy)
    marker = json.loads((copy / scale.MARKER_NAME).read_text())
    (copy / scale.MARKER_NAME).write_text(json.dumps({**marker, "version": 99}))
    with pytest.raises(MedaiInputError, match=r"version 99.*convert_vcfs\(\.\.\., overwrite=True\)"):
        scale.open_genotype_store(copy)
    (copy / scale.MARKER_NAME).write_text(json.dumps(marker))
    chunk = sorted((copy / scale.PARTS_DIR / "0001" / "calldata" / "GT").glob("[0-9]*"))[-1]
    chunk.unlink()  # a chunk file lost on disk
    with pytest.raises(MedaiInputError, match="part 0001.*incomplete.*redoes only that part"):
        scale.open_genotype_store(copy)
    v3 = tmp_path / "v3.zarr"
    v3.mkdir()
    (v3 / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    with pytest.raises(MedaiInputError, match="zarr format 3.*Convert the VCFs again"):
        scale.open_genotype_store(v3)
    plain = vcf_to_zarr(vcfs[0], tmp_path / "plain.zarr")
    with pytest.raises(MedaiInputError, match="not one written by convert_vcfs"):
        scale.open_genotype_store(plain)
    with pytest.raises(MedaiInputError, match="does not exist"):
        scale.open_genotype_store(tmp_path / "nowhere.zarr")


def test_chunks_that_do_not_fit_a_worker_name_the_fix(vcfs, cohort, tmp_path):
    from distributed import Client, LocalCluster

    path = scale.convert_vcfs(vcfs, tmp_path / "big.zarr", chunk_mb=8, client=None)  # one chunk a chromosome
    big = scale.open_genotype_store(path)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, memory_limit="8MiB",
                      dashboard_address=":0") as cluster, Client(cluster) as small:
        with pytest.raises(MedaiInputError, match=r"a worker has 8 MiB.*chunk_mb=.*memory_limit"):
            scale.run_gwas(big, cohort.truth.liability, client=small)


def test_bad_inputs_are_named(vcfs, cohort, store, tmp_path, client):
    other = tmp_path / "other.vcf.gz"
    rows = (cohort.variants["chrom"] == "1").to_numpy()
    write_vcf(other, cohort.genotypes[rows][:, :10], cohort.variants[rows].reset_index(drop=True),
              cohort.samples["sample_id"][:10])
    with pytest.raises(MedaiInputError, match="other.vcf.gz.*other samples"):
        scale.convert_vcfs([vcfs[0], other], tmp_path / "x.zarr", client=client)
    with pytest.raises(MedaiInputError, match="'phenotype' must have shape"):
        scale.run_gwas(store, np.zeros(5), client=client)
    with pytest.raises(MedaiInputError, match="'variant_mask' must be a bool array"):
        scale.run_gwas(store, cohort.truth.liability, variant_mask=np.ones(3, dtype=bool), client=client)
    with pytest.raises(MedaiInputError, match="0/1"):
        scale.run_gwas(store, cohort.truth.liability, method="logistic", client=client)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MedaiInputError, match="no .vcf"):
        scale.convert_vcfs(tmp_path / "empty", tmp_path / "y.zarr")


def test_write_genotype_store_takes_blocks_of_any_size(cohort, tmp_path):
    g = cohort.genotypes
    cuts = [0, 7, 300, 301, 900, g.shape[0]]
    blocks = (g[a:b] for a, b in zip(cuts[:-1], cuts[1:]))
    path = scale.write_genotype_store(tmp_path / "s.zarr", blocks, cohort.variants, cohort.samples["sample_id"],
                                      chunk_mb=CHUNK_MB)
    back = scale.open_genotype_store(path)
    np.testing.assert_array_equal(back.genotypes.compute(), g)
    assert back.variants["pos"].tolist() == cohort.variants["pos"].tolist()
    with pytest.raises(MedaiInputError, match="blocks hold 7 variants"):
        scale.write_genotype_store(tmp_path / "t.zarr", [g[:7]], cohort.variants, cohort.samples["sample_id"])


def test_task_stream_plot_draws_one_bar_per_computed_task_on_its_worker_row():
    import matplotlib

    matplotlib.use("Agg")
    from medai_lib.cancer import scale
    from medai_lib.errors import MedaiInputError

    def rec(worker, key, start, stop, action="compute"):
        return {"worker": worker, "thread": 1, "key": key,
                "startstops": [{"action": action, "start": start, "stop": stop}]}

    records = [rec("w1", "('from-zarr-abc', 0, 0)", 10.0, 11.0), rec("w2", "('lambda-def', 0)", 10.5, 12.0),
               rec("w1", "('transfer-x', 1)", 11.0, 11.2, action="transfer")]
    ax = scale.plot_task_stream(records)
    assert len(ax.collections) == 2  # the transfer is not drawn as work
    xs = [c.get_paths()[0].vertices[:, 0] for c in ax.collections]
    spans = sorted((round(float(x.min()), 6), round(float(x.max()), 6)) for x in xs)
    assert spans == [(0.0, 1.0), (0.5, 2.0)]  # seconds since the first task
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["read chunk", "dosage"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["worker 1", "worker 2"]
    with pytest.raises(MedaiInputError, match="get_task_stream"):
        scale.plot_task_stream([])
