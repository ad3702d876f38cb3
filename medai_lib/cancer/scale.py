"""Genomes at biobank scale: VCFs converted in parallel to a chunked zarr store (resumable), then QC, LD
pruning, PCA and the GWAS as chunked computations (sgkit on Dask) on a LocalCluster or any dask cluster.

The in-memory functions of :mod:`medai_lib.cancer` stay the teaching surface and the reference: the
functions here have the same names, take a :class:`GenotypeStore` (or a lazy dask genotype array) instead
of an in-memory array, and return the same tables. Memory per task is one chunk of the store, whatever the
number of people; the chunk size is chosen from the number of people when the VCFs are converted.

Typical use::

    from medai_lib.cancer import scale
    client = scale.start_cluster()                     # or scale.start_cluster("tcp://scheduler:8786")
    store = scale.convert_vcfs(["chr1.vcf.gz", "chr2.vcf.gz"], "cohort.zarr")
    data = scale.open_genotype_store(store)
    vq = scale.variant_qc(data, groups=phenotypes["ancestry_group"])
    gwas = scale.run_gwas(data, phenotypes["case"], covariates=pcs, method="logistic")
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
import threading
import uuid
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medai_lib.cancer.pca import AncestryPCA
from medai_lib.errors import MedaiInputError

# sgkit compiles its kernels with numba; caching them on disk spares each new kernel or worker seconds of
# compilation. Only a default: an explicit SGKIT_DISABLE_NUMBA_CACHE wins.
os.environ.setdefault("SGKIT_DISABLE_NUMBA_CACHE", "0")

logger = logging.getLogger(__name__)

STORE_FORMAT = "medai-genotype-zarr"
STORE_VERSION = 1
MARKER_NAME = "medai_store.json"       # written last: its presence means the store is complete
PART_MARKER_NAME = "medai_part.json"   # written inside a part before the part is moved into place
PARTS_DIR = "parts"
DEFAULT_CHUNK_MB = 32
# Working memory of one chunk task, in bytes per genotype (variant x person): the int8 calls (3 stored
# allele slots), the float32 dosage and the float64 covariate-adjusted copies of sgkit's regression.
_BYTES_PER_CALL_AT_WORK = 40
LARGE_INPUT_BYTES = 2**30  # a lazy genotype array larger than this goes from the course's functions to these
_TARGET_FRACTION = 0.5  # of a worker's memory limit, per thread, that one task may use


def is_large(genotypes) -> bool:
    """Whether the course's in-memory functions hand these genotypes to this module: a
    :class:`GenotypeStore`, or a lazy (dask) array of more than ``LARGE_INPUT_BYTES``. Smaller lazy arrays
    stay on the in-memory path, which reads them a chunk at a time.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import scale
    >>> scale.is_large(np.zeros((10, 4, 2), dtype=np.int8))
    False
    """
    if isinstance(genotypes, GenotypeStore):
        return True
    return hasattr(genotypes, "dask") and getattr(genotypes, "nbytes", 0) > LARGE_INPUT_BYTES


# --- the cluster ------------------------------------------------------------------------------------------

def start_cluster(scheduler_address=None, *, n_workers: int = 2, threads_per_worker: int = 1,
                  memory_limit="auto", processes: bool = True, dashboard_address: "str | None" = ":0"):
    """Connect to a Dask cluster, or start a local one.

    Parameters
    ----------
    scheduler_address : None, str, ``distributed.Client`` or a cluster object
        ``None`` starts a ``LocalCluster`` on this machine; a string such as ``"tcp://10.0.0.5:8786"``
        connects to a running scheduler; a cluster object (``dask_jobqueue.SLURMCluster``,
        ``dask_kubernetes.operator.KubeCluster``, ``LocalCluster``) or a ``Client`` is used as it is.
    n_workers, threads_per_worker, memory_limit, processes, dashboard_address
        ``LocalCluster`` settings (ignored for a remote cluster). One thread per worker process keeps
        NumPy's and numba's work from competing inside a worker. ``processes=False`` runs the workers as
        threads of this process (fast to start, no isolation).

    Returns
    -------
    distributed.Client
        Becomes the default for every computation of this module; ``client.dashboard_link`` is the
        dashboard (task stream, memory per worker). Closing a client that started a local cluster stops it.

    Examples
    --------
    >>> from medai_lib.cancer import scale
    >>> client = scale.start_cluster(n_workers=1, processes=False, dashboard_address=None)
    >>> len(client.scheduler_info()["workers"])
    1
    >>> client.close()
    """
    from distributed import Client

    if isinstance(scheduler_address, Client):
        return scheduler_address
    if scheduler_address is None:
        for name, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise MedaiInputError(f"'{name}' must be an int >= 1; got {value!r}.")
        # A client that starts its own LocalCluster also stops it when it is closed.
        return Client(n_workers=int(n_workers), threads_per_worker=int(threads_per_worker),
                      memory_limit=memory_limit, processes=processes, dashboard_address=dashboard_address,
                      silence_logs=logging.ERROR, **({"env": _QUIET_WORKERS} if processes else {}))
    if isinstance(scheduler_address, str):
        try:
            return Client(scheduler_address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise MedaiInputError(
                f"cannot reach the Dask scheduler at {scheduler_address!r} ({exc}); check the address and "
                "that the scheduler runs (dask scheduler / SLURMCluster / KubeCluster), or pass None for a "
                "local cluster."
            ) from exc
    return Client(scheduler_address)  # a cluster object: SLURMCluster, PBSCluster, KubeCluster, ...


def _sgkit():
    """sgkit, imported without the deprecation warning of its pkg_resources import."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import sgkit
    return sgkit


# sgkit 0.8 imports pkg_resources, whose deprecation warning every worker would print once.
_QUIET_WORKERS = {"PYTHONWARNINGS": "ignore:pkg_resources is deprecated:UserWarning"}


def _client(client=None):
    if client is not None:
        return client
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _import_attribute(module: str, name: str):
    if module.startswith("sgkit"):
        _sgkit()
    return getattr(importlib.import_module(module), name)


def _reduce_gufunc(gufunc):
    """Pickle a numba gufunc of an importable module by reference. By value (numba's default) the copy is
    rebuilt from numba's on-disk cache on the worker, and such a copy of sgkit's ``count_hom`` crashes the
    process when called; by reference the worker uses its own, imported kernel."""
    module, name = getattr(gufunc, "__module__", None), getattr(gufunc, "__name__", None)
    try:
        if module and name and _import_attribute(module, name) is gufunc:
            return _import_attribute, (module, name)
    except (ImportError, AttributeError):
        pass
    return gufunc.__reduce__()


def _register_gufunc_pickling() -> None:
    import copyreg

    from numba.np.ufunc.gufunc import GUFunc

    copyreg.pickle(GUFunc, _reduce_gufunc)


_WARM = threading.Lock()
_WARM_CLIENTS: set = set()
_warm_done = False


def _warm_up() -> bool:
    """Compile (or load from numba's cache) sgkit's kernels once per process, in one thread: two worker
    threads loading the same kernel at once can crash the process."""
    global _warm_done
    with _WARM:
        if _warm_done:
            return True
        _register_gufunc_pickling()
        import dask
        sgkit = _sgkit()

        ds = sgkit.simulate_genotype_call_dataset(n_variant=4, n_sample=6, missing_pct=0.1, seed=0)
        with dask.config.set(scheduler="sync"):
            sgkit.variant_stats(ds).compute()
            sgkit.sample_stats(ds).compute()
            sgkit.hardy_weinberg_test(ds).compute()
            ds["call_dosage"] = ds["call_genotype"].sum(dim="ploidy")
            ds = sgkit.window_by_variant(ds, size=2)
            sgkit.maximal_independent_set(sgkit.ld_matrix(ds, threshold=0.1).compute())
        _warm_done = True
        return True


def _prepare(client=None, *, kernels: bool = True):
    """The client to use (None: the local scheduler), with sgkit's kernels ready here and, when the
    computation uses them (``kernels``), on its workers."""
    client = _client(client)
    _warm_up()
    if kernels and client is not None and id(client) not in _WARM_CLIENTS:
        client.run(_warm_up)
        _WARM_CLIENTS.add(id(client))
    return client


def _compute(*collections, client=None, progress: bool = False, desc: str = "chunks"):
    """Compute dask collections on the client (or the local threaded scheduler), with a progress bar
    counting finished chunks when asked."""
    import dask

    client = _prepare(client, kernels=False)
    if client is None:
        return dask.compute(*collections)
    if not progress:
        return tuple(client.compute(list(collections), sync=True))
    from distributed import as_completed, futures_of
    from tqdm import tqdm

    persisted = client.persist(list(collections))
    futures = futures_of(persisted)
    # A text bar: its last state stays readable in a saved notebook (a widget would show its first).
    with tqdm(total=len(futures), desc=desc, unit="chunk", leave=True, file=sys.stdout) as bar:
        for _ in as_completed(futures):
            bar.update()
    return tuple(client.compute(persisted, sync=True))


def _worker_memory(client) -> "tuple[int, int] | None":
    """(smallest memory limit in bytes, most threads) over the workers; None when unknown."""
    if client is None:
        try:
            import psutil

            return int(psutil.virtual_memory().available), os.cpu_count() or 1
        except ImportError:  # pragma: no cover
            return None
    workers = client.scheduler_info().get("workers", {}).values()
    limits = [w.get("memory_limit") or 0 for w in workers]
    threads = [w.get("nthreads") or 1 for w in workers]
    if not limits or min(limits) <= 0:
        return None
    return int(min(limits)), int(max(threads))


def check_chunk_memory(genotypes, *, client=None, bytes_per_call: int = _BYTES_PER_CALL_AT_WORK) -> None:
    """Fail early, with the fix, when one chunk's working memory does not fit a worker.

    Parameters
    ----------
    genotypes : dask array, shape (n_variants, n_samples, 2)
    client : distributed.Client, optional
        Default: the active client, else this machine's available memory.
    bytes_per_call : int
        Working bytes per (variant, person) of the computation.

    Raises
    ------
    MedaiInputError
        Naming the chunk size, the memory it needs and the two fixes (smaller chunks, more memory).
    """
    chunk_variants = int(max(genotypes.chunks[0])) if genotypes.shape[0] else 0
    chunk_samples = int(max(genotypes.chunks[1])) if genotypes.shape[1] else 0
    need = chunk_variants * chunk_samples * bytes_per_call
    memory = _worker_memory(_client(client))
    if memory is None or need == 0:
        return
    limit, threads = memory
    if need * threads > _TARGET_FRACTION * limit:
        fit = max(1, int(_TARGET_FRACTION * limit / threads / (chunk_samples * bytes_per_call)))
        raise MedaiInputError(
            f"chunks of {chunk_variants:,} variants x {chunk_samples:,} people need about {need / 2**20:,.0f} MiB "
            f"each at work, {threads} at a time, but a worker has {limit / 2**20:,.0f} MiB. Convert again with "
            f"smaller chunks (convert_vcfs(..., chunk_mb={fit * chunk_samples * 3 / 2**20:.2g}, "
            f"overwrite=True), about {fit:,} variants a chunk) or give workers more memory "
            "(start_cluster(memory_limit=...), or fewer threads per worker)."
        )


# --- VCF to a chunked zarr store, in parallel and resumable ----------------------------------------------

def _vcf_files(vcf_paths) -> list[Path]:
    if isinstance(vcf_paths, (str, os.PathLike)):
        vcf_paths = [vcf_paths]
    files = []
    for item in vcf_paths:
        item = Path(item)
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.name.endswith((".vcf", ".vcf.gz", ".vcf.bgz")))
            if not found:
                raise MedaiInputError(f"folder {str(item)!r} holds no .vcf or .vcf.gz file; point to the VCFs.")
            files.extend(found)
        else:
            files.append(item)
    if not files:
        raise MedaiInputError("'vcf_paths' is empty; pass one VCF per chromosome (or one VCF).")
    if len(set(files)) != len(files):
        raise MedaiInputError("'vcf_paths' lists a file twice; pass each VCF once.")
    return files


def _source_stamp(path: Path) -> dict:
    st = path.stat()
    return {"source": str(path.resolve()), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _chunk_length(n_samples: int, chunk_mb: float) -> int:
    return int(max(16, chunk_mb * 2**20 // (3 * max(n_samples, 1))))


def _convert_part(vcf_path: str, part_dir: str, chunk_length: int, n_samples: int) -> dict:
    """One VCF into one part of the store (runs on a worker). Writes to a private temporary folder, checks
    it, marks it, then moves it into place: a part folder is either absent or complete."""
    import allel
    import zarr

    from medai_lib.cancer.vcf import _FIELDS, _check_ploidy, _open_binary

    vcf_path, part_dir = Path(vcf_path), Path(part_dir)
    stamp = _source_stamp(vcf_path)
    marker = _read_json(part_dir / PART_MARKER_NAME)
    if marker and {k: marker.get(k) for k in stamp} == stamp and marker.get("chunk_length") == chunk_length:
        return marker  # done by an earlier attempt (a retried task or a resumed conversion)
    tmp = part_dir.with_name(f".{part_dir.name}.{uuid.uuid4().hex}.tmp")
    try:
        try:
            with _open_binary(vcf_path) as stream:
                allel.vcf_to_zarr(stream, str(tmp), fields=_FIELDS, numbers={"calldata/GT": 3}, alt_number=3,
                                  chunk_length=chunk_length, chunk_width=max(n_samples, 1))
        except (EOFError, OSError, zlib.error) as exc:
            raise MedaiInputError(
                f"cannot read {str(vcf_path)!r}: truncated or corrupt gzip ({exc}). Copy the file again (check its "
                "size/checksum) or recompress it with bgzip, then run convert_vcfs again: finished files are kept."
            ) from exc
        except (RuntimeError, ValueError) as exc:
            raise MedaiInputError(f"cannot parse VCF {str(vcf_path)!r}: {exc}. Check it with bcftools view.") \
                from exc
        if not (tmp / "calldata" / "GT").exists():
            raise MedaiInputError(f"{str(vcf_path)!r} contains no variant records; leave it out or fix it.")
        gt = zarr.open_group(str(tmp), mode="r")["calldata/GT"]
        for start in range(0, gt.shape[0], chunk_length):
            _check_ploidy(vcf_path, gt[start:start + chunk_length])
        info = {**stamp, "chunk_length": int(chunk_length), "n_variants": int(gt.shape[0]),
                "n_samples": int(gt.shape[1]), "n_chunks": int(-(-gt.shape[0] // chunk_length))}
        _write_json_atomic(tmp / PART_MARKER_NAME, info)
        if part_dir.exists():  # an incomplete or outdated part: replaced as a whole
            shutil.rmtree(part_dir)
        try:
            os.rename(tmp, part_dir)
        except OSError:
            # Another attempt of the same task finished first; keep its (identical) part.
            done = _read_json(part_dir / PART_MARKER_NAME)
            if done and {k: done.get(k) for k in stamp} == stamp:
                return done
            raise
        return info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def convert_vcfs(vcf_paths, store, *, client=None, chunk_mb: float = DEFAULT_CHUNK_MB,
                 overwrite: bool = False, progress: bool = False) -> Path:
    """Convert VCFs (one per chromosome, as biobanks release them) to one chunked zarr store, in parallel.

    Each VCF becomes one part, converted on a Dask worker with scikit-allel's chunked parser
    (``allel.vcf_to_zarr``). The conversion is **resumable**: parts finished by an earlier, interrupted run
    (same source file, size and modification time) are kept, unfinished ones are redone from scratch, and
    the store's marker ``medai_store.json`` is written last, so a store without it is never read as complete.

    Parameters
    ----------
    vcf_paths : path, folder or sequence of paths
        Biallelic diploid VCFs (plain, gzip or bgzip) with the same samples in the same order. A folder
        means every ``*.vcf``/``*.vcf.gz`` in it. One file converts in one task: split a whole-genome VCF
        by chromosome first (``bcftools view -r chr1``) to convert it in parallel.
    store : path
        The store folder to write.
    client : distributed.Client, optional
        Default: the active client; without one the files convert one after another here.
    chunk_mb : float, default 32
        Size of one chunk of genotype calls; the variants per chunk follow from the number of people, so
        the memory of a task does not grow with the cohort.
    overwrite : bool, default False
        Replace a complete store made from other files.
    progress : bool, default False
        A progress bar over the files.

    Returns
    -------
    pathlib.Path
        The store; open it with :func:`open_genotype_store`.

    Raises
    ------
    MedaiInputError
        Unreadable or inconsistent VCFs (the message names the file; finished files are kept for the next
        run), or a complete store in the way without ``overwrite``.

    Examples
    --------
    >>> from medai_lib.cancer import scale
    >>> # scale.convert_vcfs(["chr1.vcf.gz", "chr2.vcf.gz"], "cohort.zarr")
    """
    from medai_lib.cancer.vcf import _check_header

    files = _vcf_files(vcf_paths)
    if not chunk_mb > 0:
        raise MedaiInputError(f"'chunk_mb' must be a positive number of MiB; got {chunk_mb!r}.")
    samples = None
    for f in files:
        names = _check_header(f)
        if samples is None:
            samples = names
        elif names != samples:
            raise MedaiInputError(
                f"{str(f)!r} lists other samples (or another order) than {str(files[0])!r}; every VCF of a "
                "store must hold the same people in the same order (bcftools view -s / -S to align them)."
            )
    store = Path(store)
    stamps = [_source_stamp(f) for f in files]
    chunk_length = _chunk_length(len(samples), chunk_mb)
    marker = _read_json(store / MARKER_NAME)
    if marker is not None:
        same = (marker.get("format") == STORE_FORMAT and marker.get("version") == STORE_VERSION
                and [{k: p.get(k) for k in ("source", "size", "mtime_ns")} for p in marker.get("parts", [])]
                == stamps and marker.get("chunk_length") == chunk_length)
        if same:
            return store
        if not overwrite:
            raise MedaiInputError(
                f"{str(store)!r} is a complete store made from other files or settings; pass overwrite=True "
                "to replace it, or choose another path."
            )
        shutil.rmtree(store)
    elif store.exists() and not (store / PARTS_DIR).is_dir() and any(store.iterdir()):
        if not overwrite:
            raise MedaiInputError(f"{str(store)!r} exists and is not a genotype store; pass overwrite=True or "
                                  "choose another path.")
        shutil.rmtree(store)
    parts = store / PARTS_DIR
    parts.mkdir(parents=True, exist_ok=True)
    for leftover in parts.glob(".*.tmp"):  # temporary folders of a run that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    names = [f"{i:04d}" for i in range(len(files))]
    expected = set(names)
    for stale in parts.iterdir():
        if stale.name not in expected:
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()

    args = [(str(f), str(parts / n), chunk_length, len(samples)) for f, n in zip(files, names)]
    client = _client(client)
    results, errors = {}, []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(args), desc="VCF to zarr", unit="file", file=sys.stdout)
    if client is None:
        for i, a in enumerate(args):
            try:
                results[i] = _convert_part(*a)
            except MedaiInputError as exc:
                errors.append(exc)
            if bar is not None:
                bar.update()
    else:
        from distributed import as_completed

        futures = {client.submit(_convert_part, *a, pure=False, key=f"convert-vcf-{names[i]}-{uuid.uuid4().hex}"):
                   i for i, a in enumerate(args)}
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except MedaiInputError as exc:  # keep going: the other files' parts are kept for the next run
                errors.append(exc)
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    if errors:
        raise errors[0]
    _write_json_atomic(store / MARKER_NAME, {
        "format": STORE_FORMAT, "version": STORE_VERSION, "chunk_length": chunk_length,
        "n_samples": len(samples), "n_variants": int(sum(results[i]["n_variants"] for i in range(len(args)))),
        "parts": [{"name": n, **results[i]} for i, n in enumerate(names)],
    })
    return store


def write_genotype_store(store, genotype_blocks, variants: pd.DataFrame, sample_ids, *,
                         chunk_mb: float = DEFAULT_CHUNK_MB, overwrite: bool = False) -> Path:
    """Write genotypes that arrive block by block (a simulation, another format's reader) as a store with the
    layout of :func:`convert_vcfs`, holding one block in memory at a time.

    Parameters
    ----------
    store : path
    genotype_blocks : iterable of arrays, int8, shape (n_block_variants, n_samples, 2)
        Consecutive variants, -1 = missing; together ``len(variants)`` rows.
    variants : DataFrame
        ``chrom``, ``pos``, ``id``, ``ref``, ``alt``, one row per variant.
    sample_ids : sequence of str, length n_samples
    chunk_mb : float, default 32
    overwrite : bool, default False

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from medai_lib.cancer import scale
    >>> v = pd.DataFrame({"chrom": ["1", "1"], "pos": [5, 9], "id": ["a", "b"], "ref": ["A", "C"], "alt": ["G", "T"]})
    >>> g = np.array([[[0, 1], [1, 1]], [[0, 0], [-1, -1]]], dtype=np.int8)
    >>> path = scale.write_genotype_store(os.path.join(tempfile.mkdtemp(), "s.zarr"), [g], v, ["p1", "p2"])
    >>> scale.open_genotype_store(path).genotypes.compute().tolist() == g.tolist()
    True
    """
    import numcodecs
    import zarr

    store = Path(store)
    if store.exists():
        if not overwrite:
            raise MedaiInputError(f"{str(store)!r} exists; pass overwrite=True or choose another path.")
        shutil.rmtree(store)
    missing = {"chrom", "pos", "id", "ref", "alt"} - set(variants.columns)
    if missing:
        raise MedaiInputError(f"'variants' lacks the columns {sorted(missing)}.")
    sample_ids = [str(s) for s in sample_ids]
    n_variants, n_samples = len(variants), len(sample_ids)
    chunk_length = _chunk_length(n_samples, chunk_mb)
    parts = store / PARTS_DIR
    parts.mkdir(parents=True)
    tmp = parts / f".0000.{uuid.uuid4().hex}.tmp"
    root = zarr.open_group(str(tmp), mode="w")
    compressor = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    gt = root.create_dataset("calldata/GT", shape=(n_variants, n_samples, 3), chunks=(chunk_length, n_samples, 3),
                             dtype=np.int8, compressor=compressor, fill_value=-1)
    text = numcodecs.VLenUTF8()
    for name, column in (("CHROM", "chrom"), ("ID", "id"), ("REF", "ref")):
        root.create_dataset(f"variants/{name}", data=variants[column].astype(str).to_numpy().astype(object),
                            dtype=object, object_codec=text)
    alt = np.full((n_variants, 3), "", dtype=object)
    alt[:, 0] = variants["alt"].astype(str).to_numpy()
    root.create_dataset("variants/ALT", data=alt, dtype=object, object_codec=text)
    root.create_dataset("variants/POS", data=variants["pos"].to_numpy().astype(np.int32))
    root.create_dataset("variants/numalt", data=np.ones(n_variants, dtype=np.int32))
    root.create_dataset("samples", data=np.array(sample_ids, dtype=object), dtype=object, object_codec=text)
    start, pending = 0, np.empty((0, n_samples, 2), dtype=np.int8)

    def flush(rows):
        nonlocal start
        if start + len(rows) > n_variants:
            raise MedaiInputError(f"the genotype blocks hold more than the {n_variants} variants listed.")
        gt[start:start + len(rows), :, :2] = rows
        start += len(rows)

    for block in genotype_blocks:  # whole chunks at a time: each chunk is compressed once
        block = np.asarray(block, dtype=np.int8)
        if block.ndim != 3 or block.shape[1:] != (n_samples, 2):
            raise MedaiInputError(f"each genotype block must have shape (n, {n_samples}, 2); got {block.shape}.")
        pending = np.concatenate([pending, block])
        while len(pending) >= chunk_length:
            flush(pending[:chunk_length])
            pending = pending[chunk_length:]
    if len(pending):
        flush(pending)
    if start != n_variants:
        raise MedaiInputError(f"the genotype blocks hold {start} variants; 'variants' lists {n_variants}.")
    info = {"source": "write_genotype_store", "size": 0, "mtime_ns": 0, "chunk_length": chunk_length,
            "n_variants": n_variants, "n_samples": n_samples, "n_chunks": int(-(-n_variants // chunk_length))}
    _write_json_atomic(tmp / PART_MARKER_NAME, info)
    os.rename(tmp, parts / "0000")
    _write_json_atomic(store / MARKER_NAME, {
        "format": STORE_FORMAT, "version": STORE_VERSION, "chunk_length": chunk_length, "n_samples": n_samples,
        "n_variants": n_variants, "parts": [{"name": "0000", **info}]})
    return store


# --- opening a store ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GenotypeStore:
    """A complete genotype store, opened lazily.

    Attributes
    ----------
    path : pathlib.Path
    genotypes : dask array, int8, shape (n_variants, n_samples, 2)
        -1 = missing; chunks of ``chunk_variants`` variants x all people, as stored.
    variants : DataFrame, n_variants rows
        ``chrom``, ``pos``, ``id``, ``ref``, ``alt`` (multiallelic sites dropped with a warning).
    samples : DataFrame, n_samples rows
        ``sample_id`` in genotype column order.
    chunk_variants : int
    """

    path: Path
    genotypes: object
    variants: pd.DataFrame
    samples: pd.DataFrame
    chunk_variants: int

    @property
    def shape(self):
        return self.genotypes.shape


def _not_a_store(path: Path) -> MedaiInputError:
    if (path / "zarr.json").exists():
        return MedaiInputError(
            f"{str(path)!r} is a zarr format 3 store; this environment reads zarr format 2 (zarr<3, what "
            "scikit-allel writes). Convert the VCFs again with convert_vcfs(..., overwrite=True)."
        )
    if (path / PARTS_DIR).is_dir():
        return MedaiInputError(
            f"{str(path)!r} has no completion marker ({MARKER_NAME}): its conversion did not finish. Run "
            "convert_vcfs again with the same files and store; it keeps the finished parts and redoes the rest."
        )
    if (path / ".zgroup").exists():
        return MedaiInputError(
            f"{str(path)!r} is a zarr store but not one written by convert_vcfs (no {MARKER_NAME}); convert "
            "the VCFs with medai_lib.cancer.scale.convert_vcfs, or read a vcf_to_zarr store with read_zarr."
        )
    return MedaiInputError(f"{str(path)!r} is not a genotype store; convert the VCFs with convert_vcfs first.")


def open_genotype_store(store) -> GenotypeStore:
    """Open a store written by :func:`convert_vcfs`, checking that it is complete and of this version.

    Parameters
    ----------
    store : path

    Returns
    -------
    GenotypeStore

    Raises
    ------
    MedaiInputError
        Missing store, no completion marker (conversion interrupted: run it again, it resumes), a store of
        another format version or zarr format, or a part with missing chunk files.

    Examples
    --------
    >>> from medai_lib.cancer import scale
    >>> # data = scale.open_genotype_store("cohort.zarr"); data.genotypes
    """
    import dask.array as da
    import zarr

    from medai_lib.cancer.vcf import _FIELDS, _multiallelic_mask, _variant_table

    path = Path(store)
    if not path.is_dir():
        raise MedaiInputError(f"genotype store {str(path)!r} does not exist; convert the VCFs with convert_vcfs.")
    marker = _read_json(path / MARKER_NAME)
    if marker is None:
        raise _not_a_store(path)
    if marker.get("format") != STORE_FORMAT or marker.get("version") != STORE_VERSION:
        raise MedaiInputError(
            f"{str(path)!r} was written as {marker.get('format')!r} version {marker.get('version')!r}; this "
            f"library reads {STORE_FORMAT!r} version {STORE_VERSION}. Convert the VCFs again with "
            "convert_vcfs(..., overwrite=True)."
        )
    arrays, tables, sample_ids = [], [], None
    for part in marker["parts"]:
        part_path = path / PARTS_DIR / part["name"]
        gt_path = part_path / "calldata" / "GT"
        n_files = sum(1 for p in gt_path.iterdir() if not p.name.startswith(".")) if gt_path.is_dir() else 0
        if _read_json(part_path / PART_MARKER_NAME) is None or n_files < part["n_chunks"]:
            raise MedaiInputError(
                f"part {part['name']} of {str(path)!r} (from {part['source']!r}) is incomplete: {n_files} of "
                f"{part['n_chunks']} chunk files. Delete {MARKER_NAME} and that part's folder, then run "
                "convert_vcfs again: it redoes only that part."
            )
        try:
            root = zarr.open_group(str(part_path), mode="r")
            gt = root["calldata/GT"]
            fields = {k: root[k][:] for k in _FIELDS if k.startswith("variants/")}
            ids = [str(s) for s in root["samples"][:]]
        except (KeyError, ValueError, OSError) as exc:
            raise MedaiInputError(f"part {part['name']} of {str(path)!r} cannot be read ({exc}); delete the "
                                  "store and convert the VCFs again.") from exc
        if sample_ids is None:
            sample_ids = ids
        keep = _multiallelic_mask(part["source"], fields["variants/numalt"])
        g = da.from_zarr(gt)[:, :, :2]
        if not keep.all():
            g = g[np.flatnonzero(keep)]
        arrays.append(g)
        tables.append(_variant_table(fields, keep))
    genotypes = da.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]
    return GenotypeStore(path=path, genotypes=genotypes, variants=pd.concat(tables, ignore_index=True),
                         samples=pd.DataFrame({"sample_id": sample_ids}), chunk_variants=int(marker["chunk_length"]))


def _as_store(data) -> GenotypeStore:
    """A GenotypeStore from a store, a path, GenotypeData or a (dask) genotype array."""
    import dask.array as da

    if isinstance(data, GenotypeStore):
        return data
    if isinstance(data, (str, os.PathLike)):
        return open_genotype_store(data)
    variants = samples = None
    if hasattr(data, "genotypes") and hasattr(data, "variants"):  # GenotypeData
        variants, samples, data = data.variants, data.samples, data.genotypes
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 2:
        raise MedaiInputError(
            f"'genotypes' must be a genotype store, its path, or an array of shape (n_variants, n_samples, 2); "
            f"got {type(data).__name__} of shape {shape}. Convert VCFs with convert_vcfs first."
        )
    # Arrays from elsewhere get chunks of all people and DEFAULT_CHUNK_MB, like a store of convert_vcfs.
    length = _chunk_length(shape[1], DEFAULT_CHUNK_MB)
    g = data if isinstance(data, da.Array) else da.from_array(np.asarray(data), chunks=(length, -1, -1))
    if g.numblocks[1] != 1 or g.numblocks[2] != 1 or max(g.chunks[0]) > length:
        g = g.rechunk({0: min(length, max(g.chunks[0])), 1: -1, 2: -1})
    if variants is None:
        variants = pd.DataFrame({"chrom": "1", "pos": np.arange(1, shape[0] + 1), "id": "", "ref": "A",
                                 "alt": "C"})
    if samples is None:
        samples = pd.DataFrame({"sample_id": [f"s{i}" for i in range(shape[1])]})
    return GenotypeStore(path=Path(""), genotypes=g, variants=variants.reset_index(drop=True),
                         samples=samples.reset_index(drop=True), chunk_variants=int(max(g.chunks[0])))


def _mask(mask, n: int, name: str) -> np.ndarray:
    if mask is None:
        return np.ones(n, dtype=bool)
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != (n,):
        raise MedaiInputError(f"'{name}' must be a bool array of length {n}; got {m.dtype} {m.shape}.")
    return m


def _select_block(block, keep_variants, keep_samples):
    return block[keep_variants][:, keep_samples]


def _subset(x, variant_mask=None, sample_mask=None):
    """Rows (variants) and columns (people) of a chunked array, chunk by chunk: each chunk keeps its own
    rows, so no data moves between workers (dask's general fancy indexing would shuffle)."""
    import dask.array as da
    from dask.base import tokenize

    n_variants, n_samples = x.shape[:2]
    vm = np.ones(n_variants, dtype=bool) if variant_mask is None else np.asarray(variant_mask, dtype=bool)
    sm = np.ones(n_samples, dtype=bool) if sample_mask is None else np.asarray(sample_mask, dtype=bool)
    if vm.all() and sm.all():
        return x
    bounds = np.cumsum((0,) + x.chunks[0])
    rows = tuple(int(vm[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:]))
    index = "vsp"[:x.ndim]
    out = da.blockwise(_select_block, index, x, index, da.from_array(vm, chunks=(x.chunks[0],)), "v",
                       da.from_array(sm, chunks=-1), "s", adjust_chunks={"v": rows, "s": int(sm.sum())},
                       dtype=x.dtype, name="select-" + tokenize(x, vm, sm), meta=np.empty((0,) * x.ndim, x.dtype))
    if 0 in rows and any(rows):  # chunks left empty (sgkit's windows do not expect them) join a neighbour
        out = out.rechunk({0: tuple(r for r in rows if r)})
    return out


def _dataset(data: GenotypeStore, variant_mask=None, sample_mask=None):
    """sgkit dataset of the store (lazy), optionally restricted to some variants and people."""
    sgkit = _sgkit()

    g = data.genotypes
    v = data.variants
    ids = data.samples["sample_id"].astype(str).to_numpy()
    g = _subset(g, variant_mask, sample_mask)
    if variant_mask is not None:
        v = v[variant_mask].reset_index(drop=True)
    if sample_mask is not None:
        ids = ids[sample_mask]
    contigs, codes = np.unique(v["chrom"].astype(str).to_numpy(), return_inverse=True)
    alleles = np.stack([v["ref"].astype(str).to_numpy(), v["alt"].astype(str).to_numpy()], axis=1).astype(object)
    return sgkit.create_genotype_call_dataset(
        variant_contig_names=list(contigs), variant_contig=codes.astype(np.int32),
        variant_position=v["pos"].to_numpy().astype(np.int32), variant_allele=alleles, sample_id=ids,
        call_genotype=g, variant_id=v["id"].astype(str).to_numpy().astype(object))


def _dosage(g, *, impute: bool = True):
    """ALT dosage per chunk with the course's genotype_dosage (same imputation), as a dask array."""
    from medai_lib.cancer.gwas import genotype_dosage

    return g.map_blocks(lambda b: genotype_dosage(b, impute=impute), drop_axis=2, dtype=np.float32)


# --- QC -------------------------------------------------------------------------------------------------

def variant_qc(data, *, groups=None, client=None, progress: bool = False) -> pd.DataFrame:
    """Per-variant QC statistics as a chunked computation (sgkit ``variant_stats`` and
    ``hardy_weinberg_test``), equal to :func:`medai_lib.cancer.variant_qc`.

    Parameters
    ----------
    data : GenotypeStore, store path, or dask array (n_variants, n_samples, 2)
    groups : array_like of str, shape (n_samples,), optional
        Genetic ancestry group of each person: ``hwe_p`` is then the smallest within-group p-value (the
        Wahlund effect makes the pooled test fail under structure); ``hwe_p_pooled`` is always the pooled test.
    client : distributed.Client, optional
    progress : bool, default False

    Returns
    -------
    DataFrame, n_variants rows
        ``call_rate``, ``alt_freq``, ``maf``, ``het_observed``, ``het_expected``, ``hwe_p``,
        ``hwe_p_pooled``.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import scale
    >>> g = np.array([[[0, 0], [0, 1], [1, 1], [-1, -1]]], dtype=np.int8)
    >>> scale.variant_qc(g)[["call_rate", "alt_freq"]].round(2).values.tolist()
    [[0.75, 0.5]]
    """
    sgkit = _sgkit()

    data = _as_store(data)
    client = _prepare(client)
    n_samples = data.genotypes.shape[1]
    check_chunk_memory(data.genotypes, client=client, bytes_per_call=8)
    ds = _dataset(data)
    stats = sgkit.variant_stats(ds, merge=False)
    hwe = {"pooled": sgkit.hardy_weinberg_test(ds, merge=False)["variant_hwe_p_value"].data}
    if groups is not None:
        groups = np.asarray(groups).astype(str)
        if groups.shape != (n_samples,):
            raise MedaiInputError(f"'groups' must have one entry per sample ({n_samples}); got {groups.shape}.")
        for k in np.unique(groups):
            sub = ds.isel(samples=np.flatnonzero(groups == k))
            hwe[k] = sgkit.hardy_weinberg_test(sub, merge=False)["variant_hwe_p_value"].data
    keys = list(hwe)
    called, het, hom_alt, *p_values = _compute(
        stats["variant_n_called"].data, stats["variant_n_het"].data, stats["variant_n_hom_alt"].data,
        *[hwe[k] for k in keys], client=client, progress=progress, desc="variant QC")
    with np.errstate(invalid="ignore", divide="ignore"):
        alt_freq = (het + 2 * hom_alt) / (2.0 * called)
    out = pd.DataFrame({
        "call_rate": called / n_samples,
        "alt_freq": alt_freq,
        "maf": np.minimum(alt_freq, 1 - alt_freq),
        "het_observed": np.divide(het, called, out=np.full(len(called), np.nan), where=called > 0),
        "het_expected": 2 * alt_freq * (1 - alt_freq),
    })
    if groups is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no one called in any group
            out["hwe_p"] = np.nanmin(np.vstack(p_values[1:]), axis=0)
    else:
        out["hwe_p"] = p_values[0]
    out["hwe_p_pooled"] = p_values[0]
    return out


def sample_qc(data, *, client=None, progress: bool = False) -> pd.DataFrame:
    """Per-person QC (sgkit ``sample_stats``), equal to :func:`medai_lib.cancer.sample_qc`.

    Parameters
    ----------
    data : GenotypeStore, store path, or dask array (n_variants, n_samples, 2)

    Returns
    -------
    DataFrame, n_samples rows
        ``missing_rate`` and ``heterozygosity`` (share of called variants heterozygous).

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import scale
    >>> g = np.array([[[0, 1], [-1, -1]], [[0, 0], [1, 1]]], dtype=np.int8)
    >>> scale.sample_qc(g)["missing_rate"].tolist()
    [0.0, 0.5]
    """
    sgkit = _sgkit()

    data = _as_store(data)
    client = _prepare(client)
    check_chunk_memory(data.genotypes, client=client, bytes_per_call=8)
    stats = sgkit.sample_stats(_dataset(data), merge=False)
    called, het = _compute(stats["sample_n_called"].data, stats["sample_n_het"].data, client=client,
                           progress=progress, desc="sample QC")
    n_variants = data.genotypes.shape[0]
    return pd.DataFrame({
        "missing_rate": (n_variants - called) / max(n_variants, 1),
        "heterozygosity": np.divide(het, called, out=np.full(len(called), np.nan), where=called > 0),
    })


# --- LD pruning and PCA ---------------------------------------------------------------------------------

def ld_prune(data, variants: "pd.DataFrame | None" = None, *, variant_mask=None, sample_mask=None,
             size: int = 100, step: int = 20, threshold: float = 0.1, min_maf: float = 0.05, client=None,
             progress: bool = False) -> np.ndarray:
    """Approximately independent common variants, with sgkit's windowed LD matrix and maximal independent set.

    sgkit computes the Rogers-Huff r-squared (the estimator scikit-allel's ``locate_unlinked`` uses) of
    every pair of variants within windows of ``size`` variants moving by ``step`` (never across
    chromosomes), then drops as few variants as possible so that no kept pair reaches ``threshold``,
    preferring to keep the more common variant (PLINK's rule). The in-memory :func:`medai_lib.cancer.ld_prune`
    drops greedily window by window, so the two keep different, equally valid sets; the PCs they lead to
    agree (tests).

    Parameters
    ----------
    data : GenotypeStore, store path, or dask array (n_variants, n_samples, 2)
    variants : DataFrame, optional
        With a ``chrom`` column, for a bare array (a store knows its variants).
    variant_mask, sample_mask : bool arrays, optional
        Variants considered (e.g. those passing QC) and people used for the LD estimates.
    size, step : int
    threshold : float, default 0.1
        r-squared at or above which one variant of a pair is dropped.
    min_maf : float, default 0.05

    Returns
    -------
    ndarray, bool, shape (n_variants,)

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import scale
    >>> g = np.tile((np.random.default_rng(0).random((1, 50, 2)) < 0.5).astype(np.int8), (3, 1, 1))
    >>> int(scale.ld_prune(g).sum())  # three copies: one is kept
    1
    """
    sgkit = _sgkit()

    data = _as_store(data)
    client = _prepare(client)
    n_variants, n_samples, _ = data.genotypes.shape
    if variants is not None:
        if len(variants) != n_variants or "chrom" not in variants.columns:
            raise MedaiInputError(f"'variants' must have a 'chrom' column and {n_variants} rows.")
        table = variants.reset_index(drop=True)
        if "pos" not in table.columns:
            table = table.assign(pos=np.arange(1, n_variants + 1))
        for column, fill in (("id", ""), ("ref", "A"), ("alt", "C")):
            if column not in table.columns:
                table[column] = fill
        data = GenotypeStore(data.path, data.genotypes, table, data.samples, data.chunk_variants)
    vmask = _mask(variant_mask, n_variants, "variant_mask")
    smask = _mask(sample_mask, n_samples, "sample_mask")
    if not 0 < threshold <= 1:
        raise MedaiInputError(f"'threshold' must be an r-squared in (0, 1]; got {threshold!r}.")
    for name, value in (("size", size), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise MedaiInputError(f"'{name}' must be an int >= 1; got {value!r}.")
    check_chunk_memory(data.genotypes, client=client, bytes_per_call=8)
    g = _subset(data.genotypes, sample_mask=smask)
    gn = g.sum(axis=2, dtype=np.int8)
    gn = _where(g[:, :, 0] < 0, np.int8(-1), gn)
    called = (gn >= 0).sum(axis=1)
    alt = _where(gn >= 0, gn, np.int8(0)).sum(axis=1, dtype=np.int64)
    called, alt = _compute(called, alt, client=client)
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = np.where(called > 0, alt / (2.0 * np.maximum(called, 1)), 0.0)
    maf = np.minimum(freq, 1 - freq)
    rows = np.flatnonzero(vmask & (maf >= min_maf))
    keep = np.zeros(n_variants, dtype=bool)
    if len(rows) < 2:
        keep[rows] = True
        return keep
    ds = _dataset(GenotypeStore(data.path, g, data.variants, data.samples[smask].reset_index(drop=True),
                                data.chunk_variants), variant_mask=np.isin(np.arange(n_variants), rows))
    ds["call_dosage"] = (("variants", "samples"), _subset(gn, np.isin(np.arange(n_variants), rows)))
    ds["variant_score"] = (("variants",), maf[rows])
    ds = sgkit.window_by_variant(ds, size=int(size), step=int(step))
    # sgkit's LD matrix expects a window to start in every chunk: chunk boundaries on window starts.
    bounds = [0]
    for start in ds["window_start"].values[1:]:
        if start - bounds[-1] >= max(data.chunk_variants, 2 * size):
            bounds.append(int(start))
    ds["call_dosage"] = ds["call_dosage"].chunk({"variants": tuple(np.diff(bounds + [len(rows)]).tolist())})
    pairs = sgkit.ld_matrix(ds, dosage="call_dosage", threshold=threshold, variant_score="variant_score")
    (table,) = _compute(pairs, client=client, progress=progress, desc="LD windows")
    table = table.sort_values(["i", "j"], kind="stable").reset_index(drop=True)
    drop = sgkit.maximal_independent_set(table)["ld_prune_index_to_drop"].values
    kept = np.ones(len(rows), dtype=bool)
    kept[np.asarray(drop, dtype=int)] = False
    keep[rows[kept]] = True
    return keep


def _where(condition, x, y):
    import dask.array as da

    return da.where(condition, x, y)


def genetic_pca(data, *, n_components: int = 10, variant_mask=None, sample_mask=None,
                random_state: "int | None" = 0, n_iter: int = 4, client=None,
                progress: bool = False) -> AncestryPCA:
    """Randomised PCA of Patterson-scaled dosages on a cluster (sgkit ``pca``, dask-ml's randomised SVD),
    equal (up to sign) to :func:`medai_lib.cancer.genetic_pca` on the components that carry structure.

    Parameters
    ----------
    data : GenotypeStore, store path, or dask array (n_variants, n_samples, 2)
    n_components : int, default 10
    variant_mask : bool array, shape (n_variants,), optional
        E.g. from :func:`ld_prune`.
    sample_mask : bool array, shape (n_samples,), optional
        People to use (e.g. those passing QC); ``components`` then has one row per kept person.
    random_state : int or None, default 0
    n_iter : int, default 4
        Power iterations of the randomised SVD (more: closer to the exact PCs).

    Returns
    -------
    AncestryPCA

    Examples
    --------
    >>> from medai_lib.cancer import make_cancer_cohort, LiabilityModel, scale
    >>> c = make_cancer_cohort(100, n_chromosomes=1, chromosome_length=5e6,
    ...                        model=LiabilityModel(n_causal=20), random_state=0)
    >>> scale.genetic_pca(c.genotypes, n_components=2).components.shape
    (100, 2)
    """
    sgkit = _sgkit()

    data = _as_store(data)
    client = _prepare(client)
    n_variants, n_samples, _ = data.genotypes.shape
    vmask = _mask(variant_mask, n_variants, "variant_mask")
    smask = _mask(sample_mask, n_samples, "sample_mask")
    n_used = (int(vmask.sum()), int(smask.sum()))
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or not 1 <= n_components < min(n_used):
        raise MedaiInputError(
            f"'n_components' must be an int in [1, {min(n_used) - 1}] for {n_used[1]} samples and {n_used[0]} "
            f"variants; got {n_components!r}."
        )
    check_chunk_memory(data.genotypes, client=client, bytes_per_call=16)
    g = _subset(data.genotypes, vmask, smask)
    dose = _dosage(g)
    (freq,) = _compute(dose.mean(axis=1, dtype=np.float64) / 2, client=client)
    poly = (freq > 0) & (freq < 1)
    rows = np.flatnonzero(vmask)[poly]
    ds = _dataset(data, variant_mask=np.isin(np.arange(n_variants), rows), sample_mask=smask)
    ds["call_dosage"] = (("variants", "samples"), _subset(dose, poly))
    out = sgkit.pca(ds, n_components=int(n_components), algorithm="randomized", n_iter=int(n_iter),
                    random_state=random_state, variable="call_dosage", check_missing=False, merge=False)
    coords, ratio = _compute(out["sample_pca_projection"].data, out["sample_pca_explained_variance_ratio"].data,
                             client=client, progress=progress, desc="PCA")
    return AncestryPCA(components=np.asarray(coords, dtype=float), explained_variance_ratio=np.asarray(ratio),
                       variant_mask=vmask)


# --- GWAS -------------------------------------------------------------------------------------------------

def _logistic_block(g, y, x):
    from medai_lib.cancer.gwas import run_gwas as _in_memory

    res = _in_memory(g, y, covariates=x[:, 1:] if x.shape[1] > 1 else None, method="logistic",
                     chunk_size=max(1, g.shape[0]))
    return res[["beta", "se", "chi2", "p", "alt_freq"]].to_numpy()


def run_gwas(data, phenotype, *, covariates=None, method: str = "linear", sample_mask=None, variant_mask=None,
             client=None, progress: bool = False) -> pd.DataFrame:
    """Genome-wide association as a chunked computation on a Dask cluster, equal to
    :func:`medai_lib.cancer.run_gwas`.

    ``"linear"``: sgkit's ``gwas_linear_regression`` (least squares of the phenotype on dosage +
    covariates, covariates projected out once). ``"logistic"``: the course's score test (null model with
    covariates, one score statistic per variant; sgkit has no logistic GWAS) applied chunk by chunk.
    Missing calls take the variant's mean dosage, as in the in-memory function.

    Parameters
    ----------
    data : GenotypeStore, store path, or dask array (n_variants, n_samples, 2)
    phenotype : array_like, shape (n_kept_samples,)
        One value per person kept by ``sample_mask`` (all people by default); 0/1 for logistic.
    covariates : array_like or DataFrame, shape (n_kept_samples, n_covariates), optional
        E.g. principal components; an intercept is always added.
    method : {"linear", "logistic"}
    sample_mask, variant_mask : bool arrays, optional
        People and variants to test (e.g. ``QCResult.sample_mask``, ``QCResult.variant_mask``).
    client : distributed.Client, optional
    progress : bool, default False

    Returns
    -------
    DataFrame, one row per tested variant
        ``beta``, ``se``, ``chi2``, ``p``, ``alt_freq``.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import scale
    >>> rng = np.random.default_rng(0)
    >>> g = (rng.random((3, 400, 2)) < 0.3).astype(np.int8)
    >>> y = g[0].sum(axis=1) + rng.normal(size=400)
    >>> bool(scale.run_gwas(g, y)["p"].iloc[0] < 1e-10)
    True
    """
    import dask.array as da

    from medai_lib.cancer.gwas import _design

    data = _as_store(data)
    client = _prepare(client, kernels=method == "linear")
    n_variants, n_samples, _ = data.genotypes.shape
    vmask = _mask(variant_mask, n_variants, "variant_mask")
    smask = _mask(sample_mask, n_samples, "sample_mask")
    n = int(smask.sum())
    if method not in {"linear", "logistic"}:
        raise MedaiInputError(f"'method' must be 'linear' or 'logistic'; got {method!r}.")
    y = np.asarray(phenotype, dtype=float)
    if y.shape != (n,):
        raise MedaiInputError(f"'phenotype' must have shape ({n},), one value per sample kept; got {y.shape}.")
    if not np.all(np.isfinite(y)):
        raise MedaiInputError("'phenotype' contains NaN; drop those samples (sample_mask) first.")
    if method == "logistic" and not np.all(np.isin(y, (0, 1))):
        raise MedaiInputError("'phenotype' must be 0/1 for method='logistic'; use method='linear' otherwise.")
    if method == "logistic" and y.min() == y.max():
        raise MedaiInputError("'phenotype' has only one class; a case-control GWAS needs cases and controls.")
    x = _design(covariates, n)  # validates: rows, NaN, collinearity; column 0 is the intercept
    if n - x.shape[1] - 1 < 1:
        raise MedaiInputError(f"{n} samples are too few for {x.shape[1]} covariates (with intercept).")
    check_chunk_memory(data.genotypes, client=client)
    g = _subset(data.genotypes, vmask, smask)

    if method == "linear":
        sgkit = _sgkit()

        ds = _dataset(data, variant_mask=vmask, sample_mask=smask)
        dose = _dosage(g)
        ds["call_dosage"] = (("variants", "samples"), dose)
        names = [f"covariate_{i}" for i in range(1, x.shape[1])]
        for i, name in enumerate(names, start=1):
            ds[name] = (("samples",), x[:, i])
        ds["trait"] = (("samples",), y)
        res = sgkit.gwas_linear_regression(ds, dosage="call_dosage", covariates=names, traits=["trait"],
                                           merge=False)
        beta, t, p, freq = _compute(res["variant_linreg_beta"].data[:, 0], res["variant_linreg_t_value"].data[:, 0],
                                    res["variant_linreg_p_value"].data[:, 0],
                                    dose.mean(axis=1, dtype=np.float64) / 2,
                                    client=client, progress=progress, desc="GWAS")
        beta, t = np.asarray(beta, dtype=float), np.asarray(t, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.abs(beta / t)
        return pd.DataFrame({"beta": beta, "se": se, "chi2": t**2, "p": np.asarray(p, dtype=float),
                             "alt_freq": np.asarray(freq, dtype=float)})

    y_d = da.from_array(y, chunks=-1)
    x_d = da.from_array(x, chunks=(-1, -1))
    from dask.base import tokenize

    stats = da.blockwise(_logistic_block, "vk", g, "vsp", y_d, "s", x_d, "sc", new_axes={"k": 5},
                         concatenate=True, dtype=float, meta=np.empty((0, 0)),
                         name="logistic-score-test-" + tokenize(g, y, x))
    (table,) = _compute(stats, client=client, progress=progress, desc="GWAS")
    return pd.DataFrame(np.asarray(table), columns=["beta", "se", "chi2", "p", "alt_freq"])


# --- helpers for lessons and researchers ----------------------------------------------------------------

def write_chromosome_vcfs(genotypes, variants: pd.DataFrame, sample_ids, folder) -> list[Path]:
    """Write one VCF per chromosome (``chr<name>.vcf.gz``), the layout biobanks release and
    :func:`convert_vcfs` converts in parallel.

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
    variants : DataFrame
        ``chrom``, ``pos``, ``id``, ``ref``, ``alt``.
    sample_ids : sequence of str
    folder : path
        Created if absent.

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> from medai_lib.cancer import scale
    >>> # files = scale.write_chromosome_vcfs(cohort.genotypes, cohort.variants, cohort.samples["sample_id"], "vcf")
    """
    from medai_lib.cancer.vcf import write_vcf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chrom = variants["chrom"].astype(str).to_numpy()
    files = []
    for name in pd.unique(chrom):
        rows = np.flatnonzero(chrom == name)
        files.append(write_vcf(folder / f"chr{name}.vcf.gz", np.asarray(genotypes[rows[0]:rows[-1] + 1]),
                               variants.iloc[rows].reset_index(drop=True), sample_ids))
    return files


def plot_task_stream(records, *, ax=None):
    """What each worker did and when: one row per worker thread, one bar per task, coloured by kind
    (reading chunks, dosages, regression, ...), from ``distributed.get_task_stream``.

    Parameters
    ----------
    records : list of dict
        ``get_task_stream(client).data`` (each with ``worker``, ``thread``, ``key`` and ``startstops``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from medai_lib.cancer import scale
    >>> # with distributed.get_task_stream(client) as ts: scale.run_gwas(data, y)
    >>> # scale.plot_task_stream(ts.data)
    """
    import matplotlib.pyplot as plt
    from dask.utils import key_split

    from medai_lib.plotting import PALETTE, _describe

    if not records:
        raise MedaiInputError("'records' is empty: record tasks with distributed.get_task_stream(client) while "
                              "computing.")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3))
    rows = sorted({(r["worker"], r.get("thread", 0)) for r in records})
    start = min(s["start"] for r in records for s in r["startstops"])
    friendly = {"original-from-zarr": "read chunk", "from-zarr": "read chunk", "select": "keep QC-passing rows",
                "logistic-score-test": "score test", "lambda": "dosage", "_select_block": "keep QC-passing rows",
                "concatenate": "join pieces", "finalize": "collect results", "array": "phenotype, covariates"}
    kinds = {}
    for r in records:
        computed = [s for s in r["startstops"] if s.get("action") == "compute"]
        if not computed:  # transfers and disk reads are not work of a kind: no bar, no legend entry
            continue
        kind = key_split(r["key"])
        kind = next((label for prefix, label in friendly.items() if kind.startswith(prefix)), kind)
        color = kinds.setdefault(kind, PALETTE[len(kinds) % len(PALETTE)])
        y = rows.index((r["worker"], r.get("thread", 0)))
        for s in computed:
            ax.broken_barh([(s["start"] - start, s["stop"] - s["start"])], (y - 0.4, 0.8), color=color)
    ax.set_yticks(range(len(rows)), [f"worker {i + 1}" for i in range(len(rows))])
    ax.set_xlabel("seconds since the first task")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in kinds.values()]
    shown = list(kinds)[:8]
    ax.legend(handles[:8], shown, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="task kind")
    _describe(ax, f"{len(records)} tasks on {len(rows)} worker threads; bars side by side run at the same time.")
    return ax
