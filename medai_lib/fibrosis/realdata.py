"""Loaders that notebooks call: the cached synthetic cohort, NIH ChestX-ray14 and any DICOM folder tree.

Expected layouts under ``DATA_DIR``
-----------------------------------
NIH ChestX-ray14 (https://nihcc.app.box.com/v/ChestXray-NIHCC; terms: see the dataset's README)::

    DATA_DIR/Data_Entry_2017.csv            (or Data_Entry_2017_v2020.csv)
    DATA_DIR/images/00000001_000.png        8-bit greyscale PNGs, or the release's split folders:
    DATA_DIR/images_001/images/00000001_000.png ... images_012/images/...

A DICOM folder tree (any depth, one single-frame radiograph per file)::

    DATA_DIR/<anything>/<file>.dcm          files with the DICOM preamble are found whatever their name
    DATA_DIR/labels.csv                     optional: columns image_id (SOP Instance UID) and label (0/1)

A cohort written by :func:`~medai_lib.fibrosis.write_fibrosis_dicom` (``manifest.csv`` + ``dicom/``) is
read with its ground truth.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis.cohort import GENERATOR_VERSION, FibrosisCohort, make_fibrosis_cohort
from medai_lib.fibrosis.dicom import _resize, read_dicom_folder, read_fibrosis_cohort, write_fibrosis_dicom

logger = logging.getLogger(__name__)

CXR14_CSV_NAMES = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")
CXR14_COLUMNS = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age",
                 "Patient Gender", "View Position")


def read_png(path: "str | os.PathLike") -> np.ndarray:
    """Read an 8-bit greyscale radiograph PNG as float32 in [0, 1].

    RGB/RGBA files whose colour channels are equal (a few ChestX-ray14 files) are accepted as grey.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    numpy.ndarray, float32, shape (height, width)

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> from PIL import Image
    >>> from medai_lib.fibrosis.realdata import read_png
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> Image.fromarray(np.full((4, 4), 255, np.uint8)).save(p)
    >>> float(read_png(p).max())
    1.0
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MedaiInputError(f"{path} does not exist; check DATA_DIR and the image folder layout.")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise MedaiInputError(
            f"{path} is not a readable image file ({exc}); the file may be corrupt."
        ) from exc
    if mode == "L":
        return arr.astype(np.float32) / 255.0
    grey = mode in ("RGB", "RGBA") and np.array_equal(arr[..., 0], arr[..., 1])
    if grey and np.array_equal(arr[..., 0], arr[..., 2]):
        return arr[..., 0].astype(np.float32) / 255.0
    raise MedaiInputError(
        f"{path} has PIL mode {mode!r} ({arr.dtype}, shape {arr.shape}); radiograph PNGs must be 8-bit "
        "greyscale (mode 'L'). Convert it, e.g. Image.open(p).convert('L').save(p) after checking the "
        "intensity scale."
    )


def _find_csv(data_dir: Path):
    for name in CXR14_CSV_NAMES:
        if (data_dir / name).is_file():
            return data_dir / name
    return None


def read_chestxray14_manifest(data_dir: "str | os.PathLike", *, finding: str = "Fibrosis") -> pd.DataFrame:
    """The ChestX-ray14 table mapped to the cohort manifest's columns (no images are read).

    Parameters
    ----------
    data_dir : str or path-like
        Folder laid out as in this module's documentation.
    finding : str, default "Fibrosis"
        The finding that makes ``label`` 1 (one of the dataset's 14 labels).

    Returns
    -------
    pandas.DataFrame
        ``patient_id, image_id, visit, site, sex, age, severity`` (NaN: unknown), ``label``, ``view``,
        ``path`` (absolute; rows whose PNG is missing are dropped with a logged warning).
    """
    data_dir = Path(data_dir)
    csv = _find_csv(data_dir)
    if csv is None:
        raise MedaiInputError(
            f"{data_dir} has no {CXR14_CSV_NAMES[0]} (or {CXR14_CSV_NAMES[1]}); put the ChestX-ray14 table "
            "in DATA_DIR, next to images/ or images_001/images/..."
        )
    table = pd.read_csv(csv)
    missing = [c for c in CXR14_COLUMNS if c not in table.columns]
    if missing:
        raise MedaiInputError(
            f"{csv} lacks the ChestX-ray14 columns {missing}; is it the original Data_Entry file?"
        )
    where = {}
    for folder in [data_dir / "images", *sorted(data_dir.glob("images_*/images"))]:
        if folder.is_dir():
            for p in folder.glob("*.png"):
                where[p.name] = p
    if not where:
        raise MedaiInputError(
            f"{data_dir} holds no PNG images in images/ or images_*/images/; extract the ChestX-ray14 "
            "archives there."
        )
    paths = table["Image Index"].map(lambda n: str(where[n]) if n in where else None)
    n_missing = int(paths.isna().sum())
    if n_missing:
        logger.warning("%d of %d images listed in %s are not on disk; they are left out",
                       n_missing, len(table), csv)
    findings = table["Finding Labels"].astype(str).str.split("|")
    out = pd.DataFrame({
        "patient_id": table["Patient ID"].astype(str),
        "image_id": table["Image Index"].astype(str),
        "visit": table["Follow-up #"].astype(int),
        "site": "NIH",
        "sex": table["Patient Gender"].astype(str),
        "age": pd.to_numeric(table["Patient Age"], errors="coerce"),
        "severity": np.nan,
        "label": findings.map(lambda f: int(finding in f)),
        "view": table["View Position"].astype(str),
        "path": paths,
    })
    return out[out["path"].notna()].reset_index(drop=True)


def load_chestxray14(
    data_dir: "str | os.PathLike",
    *,
    image_size: int = 256,
    finding: str = "Fibrosis",
    views: "tuple[str, ...]" = ("PA",),
    max_images: "int | None" = None,
    random_state: int = 0,
) -> FibrosisCohort:
    """Load (a sample of) NIH ChestX-ray14 as a cohort: manifest, images resized to ``image_size``.

    Parameters
    ----------
    data_dir : str or path-like
    image_size : int, default 256
    finding : str, default "Fibrosis"
    views : tuple of str, default ("PA",)
    max_images : int, optional
        Take a random sample of this many images (all of them by default: 112,120 in the full set).
    random_state : int, default 0
        Seed of the sample.

    Returns
    -------
    FibrosisCohort
        ``lung_masks`` is None and ``severity`` NaN (the truth is unknown for real data).
    """
    manifest = read_chestxray14_manifest(data_dir, finding=finding)
    manifest = manifest[manifest["view"].isin(views)].reset_index(drop=True)
    if max_images is not None and max_images < len(manifest):
        rng = np.random.default_rng(random_state)
        manifest = manifest.iloc[np.sort(rng.choice(len(manifest), max_images, replace=False))]
        manifest = manifest.reset_index(drop=True)
    if manifest.empty:
        raise MedaiInputError(
            f"no ChestX-ray14 image under {data_dir} has view {views}; try views=('PA', 'AP')."
        )
    images = np.stack([_resize(read_png(p), image_size) for p in manifest["path"]])
    return FibrosisCohort(manifest=manifest, images=images, lung_masks=None,
                          params={"source": str(data_dir), "dataset": "ChestX-ray14", "finding": finding})


def load_dicom_tree(
    data_dir: "str | os.PathLike", *, image_size: int = 256, on_error: str = "skip"
) -> FibrosisCohort:
    """Load every DICOM radiograph under ``data_dir`` as a cohort (labels from ``labels.csv`` if present).

    Parameters
    ----------
    data_dir : path
    image_size : int, default 256
    on_error : {"skip", "raise"}, default "skip"
        Files that cannot be read as radiographs are left out with one warning (``"skip"``), listed in
        ``cohort.params["unreadable"]`` (a DataFrame with ``path`` and ``error``); ``"raise"`` stops at the
        first. See :func:`~medai_lib.fibrosis.read_dicom_folder`.

    Returns
    -------
    FibrosisCohort
        Manifest columns ``patient_id, image_id`` (SOP Instance UID), ``visit`` (order of study dates per
        patient), ``site`` (institution), ``sex, age, severity`` (NaN), ``label`` (NaN without labels.csv),
        ``path``; ``lung_masks`` is None.
    """
    data_dir = Path(data_dir)
    meta, images = read_dicom_folder(data_dir, image_size=image_size, on_error=on_error)
    manifest = pd.DataFrame({
        "patient_id": meta["patient_id"],
        "image_id": meta["image_id"],
        "visit": meta.groupby("patient_id")["study_date"].rank(method="dense").fillna(1).astype(int) - 1,
        "site": meta["institution"].replace("", "unknown"),
        "sex": meta["sex"],
        "age": meta["age"],
        "severity": np.nan,
        "label": np.nan,
        "path": meta["path"],
    })
    labels_csv = data_dir / "labels.csv"
    if labels_csv.is_file():
        labels = pd.read_csv(labels_csv, dtype={"image_id": str})
        if not {"image_id", "label"} <= set(labels.columns):
            raise MedaiInputError(
                f"{labels_csv} must have columns image_id and label; it has {list(labels.columns)}."
            )
        manifest["label"] = manifest["image_id"].map(labels.set_index("image_id")["label"])
    return FibrosisCohort(manifest=manifest, images=images, lung_masks=None,
                          params={"source": str(data_dir), "unreadable": meta.attrs["unreadable"]})


def load_fibrosis_cohort(
    n_patients: int = 200,
    *,
    image_size: int = 256,
    data_dir: "str | os.PathLike | None" = None,
    root: "str | os.PathLike | None" = None,
    random_state: int = 0,
    **options,
) -> FibrosisCohort:
    """The cohort a notebook works on: real data from ``data_dir``, else the cached synthetic cohort.

    Without ``data_dir``, the synthetic cohort is generated once (written as DICOM with a manifest and lung
    masks into the sample-data cache, keyed by the parameters and the generator version) and read back
    through the DICOM loader. With ``data_dir``, the layout is recognised: a ``manifest.csv`` cohort folder,
    ChestX-ray14 (``Data_Entry_2017*.csv``) or any DICOM tree (see the module documentation).

    Parameters
    ----------
    n_patients : int, default 200
    image_size : int, default 256
    data_dir : path, optional
        ``DATA_DIR`` of the notebook; None for the bundled synthetic data.
    root : path, optional
        Cache folder (default ``$MEDAI_DATA``).
    random_state : int, default 0
    **options
        Further arguments of :func:`make_fibrosis_cohort` (``n_visits``, ``site_shortcut``...), or of
        :func:`load_chestxray14` for that dataset; for a DICOM tree only ``on_error`` ("skip", the default:
        unreadable files are left out with a warning; "raise": stop at the first).

    Returns
    -------
    FibrosisCohort

    Examples
    --------
    >>> import tempfile
    >>> from medai_lib.fibrosis import load_fibrosis_cohort
    >>> cohort = load_fibrosis_cohort(4, image_size=32, root=tempfile.mkdtemp())
    >>> cohort.images.shape
    (8, 32, 32)
    """
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise MedaiInputError(
                f"DATA_DIR {data_dir} is not a folder; set DATA_DIR = None for the sample data."
            )
        if (data_dir / "manifest.csv").is_file():
            return read_fibrosis_cohort(data_dir)
        if _find_csv(data_dir) is not None:
            return load_chestxray14(data_dir, image_size=image_size, random_state=random_state, **options)
        return load_dicom_tree(data_dir, image_size=image_size, on_error=options.get("on_error", "skip"))
    if not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool):
        raise MedaiInputError(
            f"random_state must be an integer seed for the cached cohort; got {random_state!r}."
        )
    params = {"n_patients": n_patients, "image_size": image_size, "random_state": int(random_state),
              **options}

    def create(tmp: Path) -> None:
        cohort = make_fibrosis_cohort(n_patients, image_size=image_size, random_state=int(random_state),
                                      **options)
        write_fibrosis_dicom(cohort, tmp)

    from medai_lib.data.cache import get_or_create

    folder = get_or_create("fibrosis_cohort", params, GENERATOR_VERSION, create, root=root)
    return read_fibrosis_cohort(folder)
