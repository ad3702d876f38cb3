"""DICOM I/O for chest radiographs: read one file or a folder tree into display-ready arrays, write cohorts.

The reader is the same for real and synthetic data: modality LUT (rescale), VOI LUT or window, MONOCHROME1
inversion, so that every image comes back as float32 in [0, 1] with bright = attenuating.
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

if TYPE_CHECKING:  # pragma: no cover
    import pydicom

    from medai_lib.fibrosis.cohort import FibrosisCohort

logger = logging.getLogger(__name__)

# Which package decodes which compressed transfer syntax (pip names).
_DECODERS = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg pylibjpeg-libjpeg (or pillow)",
    "1.2.840.10008.1.2.4.51": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.57": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.70": "pylibjpeg pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.80": "pylibjpeg pylibjpeg-libjpeg (or pyjpegls)",
    "1.2.840.10008.1.2.4.81": "pylibjpeg pylibjpeg-libjpeg (or pyjpegls)",
    "1.2.840.10008.1.2.4.90": "pylibjpeg pylibjpeg-openjpeg (or pillow)",
    "1.2.840.10008.1.2.4.91": "pylibjpeg pylibjpeg-openjpeg (or pillow)",
    "1.2.840.10008.1.2.4.201": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg pylibjpeg-openjpeg",
}

#: Metadata columns returned by :func:`read_dicom_folder` (one row per file).
METADATA_COLUMNS = (
    "path", "patient_id", "patient_name", "sex", "age", "study_uid", "series_uid", "image_id", "modality",
    "study_date", "institution", "photometric", "rows", "columns", "pixel_spacing_mm", "pixel_spacing_source",
)

#: What :func:`read_dicom_folder` does with a file it cannot read: skip it (and report it) or stop.
ON_ERROR = ("skip", "raise")


def _dcmread(path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise MedaiInputError(
            f"{path} is not a DICOM file ({exc}). Pass a .dcm file, or check that the file was copied "
            "completely."
        ) from exc
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise MedaiInputError(f"{path} could not be read as DICOM ({exc}); the file may be corrupt.") from exc


def dicom_to_display(ds: "pydicom.Dataset", *, path: "str | os.PathLike" = "<dataset>") -> np.ndarray:
    """Pixel data of a single-frame greyscale dataset as float32 in [0, 1] (bright = attenuating).

    Applies, in order: the modality LUT (RescaleSlope/Intercept), the VOI LUT or the first window
    (WindowCenter/Width), otherwise a min-max scaling; then inverts MONOCHROME1.

    Parameters
    ----------
    ds : pydicom.Dataset
    path : str, optional
        Named in error messages.

    Returns
    -------
    numpy.ndarray, float32, shape (rows, columns)

    Examples
    --------
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> from medai_lib.fibrosis.dicom import dicom_to_display
    >>> ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    >>> dicom_to_display(ds).shape
    (128, 128)
    """
    from pydicom.pixels import apply_modality_lut, apply_voi

    if "PixelData" not in ds:
        raise MedaiInputError(
            f"{path} holds no image (no PixelData; SOP class {ds.get('SOPClassUID', 'unknown')}). "
            "Pass image files only (e.g. CR, DX, CT, MR)."
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise MedaiInputError(
            f"{path} is a multi-frame image ({frames} frames); only single-frame radiographs are supported. "
            "Split the frames first (e.g. pydicom.pixels.iter_pixels) or pass a single-frame file."
        )
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise MedaiInputError(
            f"{path} is a colour image ({photometric}); radiographs must be greyscale (MONOCHROME1/2)."
        )
    tsyntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
    try:
        raw = ds.pixel_array
    except (RuntimeError, NotImplementedError) as exc:
        package = _DECODERS.get(tsyntax, "pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg")
        name = getattr(getattr(ds.file_meta, "TransferSyntaxUID", None), "name", tsyntax)
        raise MedaiInputError(
            f"{path} is compressed with {name} ({tsyntax}) and no installed package can decode it. "
            f"Install a decoder: pip install {package}"
        ) from exc
    except (ValueError, AttributeError, KeyError, TypeError, EOFError) as exc:
        raise MedaiInputError(f"{path} has unreadable pixel data ({exc}); the file may be corrupt.") from exc
    values = apply_modality_lut(raw, ds).astype(np.float64)
    if "VOILUTSequence" in ds:
        # LUT lookups need integer input; modality values of integer-valued rescales are exact integers.
        lookup = np.round(values).astype(np.int64) if np.allclose(values, np.round(values)) else values
        out = apply_voi(lookup, ds).astype(np.float64)
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        out = out / (2**bits - 1)
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        center = ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter
        width = ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth
        center, width = float(center), max(float(width), 1.0)
        # DICOM PS3.3 C.11.2.1.2.1 (LINEAR), scaled to [0, 1].
        out = (values - (center - 0.5)) / (width - 1 if width > 1 else 1) + 0.5
    else:
        lo, hi = float(values.min()), float(values.max())
        out = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    out = np.clip(out, 0, 1)
    if photometric == "MONOCHROME1":
        out = 1.0 - out
    return out.astype(np.float32)


def read_dicom(path: "str | os.PathLike") -> np.ndarray:
    """Read a single-frame greyscale DICOM image as float32 in [0, 1], bright = attenuating.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    numpy.ndarray, float32, shape (rows, columns)

    Raises
    ------
    MedaiInputError
        Not a DICOM file, corrupt or truncated, no pixel data, multi-frame, colour, or compressed with a
        transfer syntax no installed package can decode (the message says what to install).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from medai_lib.fibrosis import read_dicom
    >>> img = read_dicom(get_testdata_file("CT_small.dcm", download=False))
    >>> img.dtype, img.shape
    (dtype('float32'), (128, 128))
    """
    path = Path(path)
    if not path.is_file():
        raise MedaiInputError(f"{path} does not exist or is not a file; pass the path of a DICOM file.")
    return dicom_to_display(_dcmread(path), path=path)


def _age(ds):
    text = str(ds.get("PatientAge", "") or "")
    if len(text) == 4 and text[:3].isdigit():
        factor = {"Y": 1, "M": 1 / 12, "W": 1 / 52, "D": 1 / 365}.get(text[3].upper(), 1)
        return float(int(text[:3]) * factor)
    return np.nan


def _spacing_value(ds, keyword):
    """The row spacing of ``keyword`` in mm if it is a usable positive number, else None (and why)."""
    if keyword not in ds:
        return None, None
    try:
        raw = ds[keyword].value
        items = [raw] if isinstance(raw, (str, bytes, int, float)) or raw is None else list(raw)
        values = [float(v) for v in items if v not in (None, "", b"")]
    except (TypeError, ValueError, AttributeError) as exc:
        return None, f"{keyword} is not a number ({exc})"
    if not values:  # present but empty (allowed for type 2 attributes): as if absent
        return None, None
    if not all(math.isfinite(v) and v > 0 for v in values):
        text = "\\".join(f"{v:.3f}" for v in values)
        return None, f"{keyword} {text} is not a valid spacing (it must be positive)"
    return values[0], None


def pixel_spacing(ds: "pydicom.Dataset") -> tuple[float, str, "str | None"]:
    """The pixel spacing of a radiograph in mm, where it came from, and what was wrong on the way.

    ``PixelSpacing`` (calibrated to the patient) is used when it holds positive numbers; otherwise
    ``ImagerPixelSpacing`` (at the detector: about 10% larger than in the patient for a PA chest film, by
    geometric magnification); otherwise the spacing is unknown (NaN). Some real files store
    ``PixelSpacing 0.000\\0.000`` (e.g. pydicom-data's RG1_UNCR chest CR): that is not a spacing of 0 mm.

    Returns
    -------
    spacing_mm : float
        Row spacing in millimetres, NaN when unknown.
    source : str
        ``"PixelSpacing"``, ``"ImagerPixelSpacing"`` or ``"unknown"``.
    problem : str or None
        Why ``PixelSpacing`` was not used although present (None when nothing was wrong).

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> from medai_lib.fibrosis.dicom import pixel_spacing
    >>> ds = Dataset(); ds.PixelSpacing = ["0.000", "0.000"]; ds.ImagerPixelSpacing = ["0.15", "0.15"]
    >>> pixel_spacing(ds)[:2]
    (0.15, 'ImagerPixelSpacing')
    """
    problems = []
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value, problem = _spacing_value(ds, keyword)
        if value is not None:
            return value, keyword, ("; ".join(problems) or None)
        if problem:
            problems.append(problem)
    return float("nan"), "unknown", ("; ".join(problems) or None)


def _spacing_warning(problem, source, where):
    fallback = ("using ImagerPixelSpacing (at the detector, about 10% larger than in the patient)"
                if source == "ImagerPixelSpacing" else "the pixel spacing is unknown (NaN)")
    return (f"{where}: {problem}; {fallback}. Sizes in mm cannot be trusted for these images; check the "
            "export settings of the system that wrote them.")


def dicom_metadata(ds: "pydicom.Dataset", path: "str | os.PathLike", *, warn: bool = True) -> dict:
    """The manifest-style metadata of one dataset (see :data:`METADATA_COLUMNS`).

    An invalid ``PixelSpacing`` (zero, negative, not a number) is not used: see :func:`pixel_spacing`;
    with ``warn=True`` a ``UserWarning`` names the file and the fallback.
    """
    spacing, source, problem = pixel_spacing(ds)
    if problem and warn:
        warnings.warn(_spacing_warning(problem, source, str(path)), UserWarning, stacklevel=2)
    return {
        "path": str(path),
        "patient_id": str(ds.get("PatientID", "")),
        "patient_name": str(ds.get("PatientName", "")),
        "sex": str(ds.get("PatientSex", "")) or None,
        "age": _age(ds),
        "study_uid": str(ds.get("StudyInstanceUID", "")),
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "image_id": str(ds.get("SOPInstanceUID", "")),
        "modality": str(ds.get("Modality", "")),
        "study_date": str(ds.get("StudyDate", "")),
        "institution": str(ds.get("InstitutionName", "")),
        "photometric": str(ds.get("PhotometricInterpretation", "")),
        "rows": int(ds.get("Rows", 0) or 0),
        "columns": int(ds.get("Columns", 0) or 0),
        "pixel_spacing_mm": spacing,
        "pixel_spacing_source": source,
    }


def _resize(image, size):
    if size is None or image.shape == (size, size):
        return image
    from PIL import Image

    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def find_dicom_files(folder: "str | os.PathLike") -> list[Path]:
    """All DICOM files under ``folder`` (recursively), sorted: by the 'DICM' preamble, any extension."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MedaiInputError(f"{folder} is not a folder; pass the folder that holds the DICOM files.")
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() in (".dcm", ".dicom"):
            found.append(path)
            continue
        try:
            with open(path, "rb") as fh:
                head = fh.read(132)
        except OSError:
            continue
        if len(head) == 132 and head[128:132] == b"DICM":
            found.append(path)
    return found


def read_dicom_folder(
    folder: "str | os.PathLike", *, image_size: "int | None" = None, on_error: str = "skip"
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read every DICOM image under ``folder`` (any depth): metadata table and stacked images.

    Parameters
    ----------
    folder : str or path-like
        A folder tree of DICOM files (``.dcm``/``.dicom``, or any file with the DICOM preamble).
    image_size : int, optional
        Resize every image to ``(image_size, image_size)``; required when the files differ in size.
    on_error : {"skip", "raise"}, default "skip"
        What to do with a file that cannot be read as a greyscale single-frame image (corrupt or
        truncated, no pixel data such as a structured report, colour, multi-frame, or compressed with no
        decoder installed). ``"skip"`` (the default) loads the good files, leaves the bad ones out and warns
        once with their number and the first few reasons; the full list is ``metadata.attrs["unreadable"]``
        (a DataFrame with ``path`` and ``error``). ``"raise"`` stops at the first bad file. When no file
        can be read, the first error is raised either way.

    Returns
    -------
    metadata : pandas.DataFrame, one row per file read, columns :data:`METADATA_COLUMNS`
    images : numpy.ndarray, float32, shape (n_files, rows, columns)

    Examples
    --------
    >>> import pathlib, shutil, tempfile
    >>> from pydicom.data import get_testdata_file
    >>> from medai_lib.fibrosis import read_dicom_folder
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = shutil.copy(get_testdata_file("CT_small.dcm", download=False), tmp / "a.dcm")
    >>> meta, images = read_dicom_folder(tmp)
    >>> images.shape
    (1, 128, 128)
    """
    if on_error not in ON_ERROR:
        raise MedaiInputError(f"on_error must be one of {ON_ERROR}; got {on_error!r}.")
    files = find_dicom_files(folder)
    if not files:
        raise MedaiInputError(
            f"{folder} holds no DICOM files (searched recursively for .dcm/.dicom files and files with the "
            "DICOM preamble). Check DATA_DIR, or write a cohort with write_fibrosis_dicom."
        )
    rows, images, bad, spacing_issues, first_error = [], [], [], [], None
    for path in files:
        try:
            ds = _dcmread(path)
            image = _resize(dicom_to_display(ds, path=path), image_size)
        except MedaiInputError as exc:
            if on_error == "raise":
                raise
            first_error = first_error or exc
            bad.append({"path": str(path), "error": str(exc)})
            continue
        images.append(image)
        rows.append(dicom_metadata(ds, path, warn=False))
        _, source, problem = pixel_spacing(ds)
        if problem:
            spacing_issues.append((path, problem, source))
    if not images:
        raise MedaiInputError(
            f"none of the {len(files)} DICOM files under {folder} could be read; the first: {first_error}"
        ) from first_error
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise MedaiInputError(
            f"the images under {folder} differ in size ({sorted(shapes)[:3]}...); pass image_size=256 (or "
            "another size) to resize them to one size."
        )
    metadata = pd.DataFrame(rows, columns=list(METADATA_COLUMNS))
    metadata.attrs["unreadable"] = pd.DataFrame(bad, columns=["path", "error"])
    if bad:
        examples = "; ".join(row["error"] for row in bad[:3])
        warnings.warn(
            f"{folder}: skipped {len(bad)} of {len(files)} DICOM files that could not be read as radiographs "
            f"(e.g. {examples}). The full list is metadata.attrs['unreadable']; pass on_error='raise' to "
            "stop at the first bad file instead.", UserWarning, stacklevel=2)
    _warn_spacing(folder, spacing_issues)
    return metadata, np.stack(images)


def _warn_spacing(folder, issues):
    """One warning for all the files of a folder whose PixelSpacing is invalid (not one per file)."""
    if not issues:
        return
    path, problem, source = issues[0]
    counts = pd.Series([source for _, _, source in issues]).value_counts().to_dict()
    warnings.warn(
        f"{folder}: {len(issues)} image(s) have an invalid PixelSpacing (e.g. {path}: {problem}); their "
        f"spacing comes from {counts} (ImagerPixelSpacing is at the detector, about 10% larger than in the "
        "patient; 'unknown' gives NaN in pixel_spacing_mm). Sizes in mm cannot be trusted for them; check "
        "the export settings of the system that wrote them.", UserWarning, stacklevel=3)


def write_dicom(
    path: "str | os.PathLike",
    image: np.ndarray,
    *,
    patient_id: str,
    patient_name: str,
    sex: str = "O",
    age: "int | None" = None,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    study_date: "_dt.date | None" = None,
    modality: str = "DX",
    institution: str = "",
    monochrome1: bool = False,
    field_of_view_mm: float = 430.0,
    burned_in_annotation: bool = False,
) -> Path:
    """Write one greyscale radiograph (float in [0, 1], bright = attenuating) as a 12-bit DX/CR DICOM file.

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> from pydicom.uid import generate_uid
    >>> from medai_lib.fibrosis import read_dicom, write_dicom
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.dcm"
    >>> _ = write_dicom(out, np.full((8, 8), 0.5), patient_id="P1", patient_name="SYNTHETIC^P1",
    ...                 study_uid=generate_uid(), series_uid=generate_uid(), sop_uid=generate_uid())
    >>> round(float(read_dicom(out)[0, 0]), 2)
    0.5
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import (
        ComputedRadiographyImageStorage,
        DigitalXRayImageStorageForPresentation,
        ExplicitVRLittleEndian,
        PYDICOM_IMPLEMENTATION_UID,
    )

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise MedaiInputError(f"image must be 2-D (rows, columns); got shape {image.shape}.")
    if modality not in ("DX", "CR"):
        raise MedaiInputError(f"modality must be 'DX' or 'CR'; got {modality!r}.")
    stored = np.round(np.clip(image, 0, 1) * 4095).astype(np.uint16)
    if monochrome1:
        stored = (4095 - stored).astype(np.uint16)
    if modality == "DX":
        sop_class = DigitalXRayImageStorageForPresentation
    else:
        sop_class = ComputedRadiographyImageStorage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    date = (study_date or _dt.date(2020, 1, 1)).strftime("%Y%m%d")
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.ContentTime = "090000"
    ds.Modality = modality
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientSex = sex
    if age is not None:
        ds.PatientAge = f"{int(age):03d}Y"
    ds.PatientBirthDate = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "SYNTHETIC: generated by medai_lib, no real patient"
    ds.InstitutionName = institution
    ds.Manufacturer = "medai_lib synthetic phantom"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PatientOrientation = ["L", "F"]
    ds.ImageLaterality = "U"
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1
    ds.ImageType = ["DERIVED", "PRIMARY"]
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.PresentationLUTShape = "INVERSE" if monochrome1 else "IDENTITY"
    ds.Rows, ds.Columns = stored.shape
    spacing = f"{field_of_view_mm / stored.shape[1]:.4f}"
    ds.PixelSpacing = [spacing, spacing]
    ds.ImagerPixelSpacing = [spacing, spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.WindowCenter = "2048"
    ds.WindowWidth = "4096"
    ds.PixelData = stored.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


#: How each synthetic site stores its images (vendors differ: CR plates often store MONOCHROME1).
_SITE_STORAGE = {"A": ("DX", False), "B": ("DX", False), "C": ("CR", True)}


def write_fibrosis_dicom(
    cohort: "FibrosisCohort", folder: "str | os.PathLike", *, uid_seed: str = "medai"
) -> Path:
    """Write a cohort as DICOM files, PNG lung masks and a manifest CSV, in the layout real data come in.

    Layout::

        folder/manifest.csv                      one row per image; ``path`` and ``mask_path`` relative
        folder/dicom/<patient_id>/<image_id>.dcm DX (sites A, B) or CR MONOCHROME1 (site C), 12 bit
        folder/masks/<image_id>.png              lung masks, 8 bit, 255 = lung

    Patient names are ``SYNTHETIC^<patient_id>``; UIDs are derived from ``uid_seed`` and the image ids, so
    writing the same cohort twice gives identical files.

    Parameters
    ----------
    cohort : FibrosisCohort
    folder : str or path-like
        Created if needed.
    uid_seed : str, default "medai"

    Returns
    -------
    pathlib.Path
        The manifest CSV.

    Examples
    --------
    >>> import tempfile
    >>> from medai_lib.fibrosis import make_fibrosis_cohort, write_fibrosis_dicom
    >>> path = write_fibrosis_dicom(make_fibrosis_cohort(2, image_size=32), tempfile.mkdtemp())
    >>> path.name
    'manifest.csv'
    """
    from PIL import Image
    from pydicom.uid import generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = cohort.manifest.copy()
    paths, mask_paths, sop_uids = [], [], []
    for i, row in enumerate(manifest.itertuples(index=False)):
        pid, iid = str(row.patient_id), str(row.image_id)
        modality, mono1 = _SITE_STORAGE.get(str(row.site), ("DX", False))
        offset = int.from_bytes(pid.encode()[-3:], "big") % 365
        date = _dt.date(2020, 1, 1) + _dt.timedelta(days=offset + 365 * int(row.visit))
        study = generate_uid(entropy_srcs=[uid_seed, pid, str(row.visit), "study"])
        sop = generate_uid(entropy_srcs=[uid_seed, iid, "sop"])
        rel = Path("dicom") / pid / f"{iid}.dcm"
        write_dicom(
            folder / rel, cohort.images[i], patient_id=pid, patient_name=f"SYNTHETIC^{pid}",
            sex=str(row.sex), age=int(row.age), study_uid=study,
            series_uid=generate_uid(entropy_srcs=[uid_seed, pid, str(row.visit), "series"]), sop_uid=sop,
            study_date=date, modality=modality, institution=f"SYNTHETIC SITE {row.site}", monochrome1=mono1,
        )
        paths.append(rel.as_posix())
        sop_uids.append(sop)
        if cohort.lung_masks is not None:
            mrel = Path("masks") / f"{iid}.png"
            (folder / mrel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(cohort.lung_masks[i].astype(np.uint8) * 255).save(folder / mrel)
            mask_paths.append(mrel.as_posix())
    manifest["sop_uid"] = sop_uids
    manifest["path"] = paths
    if mask_paths:
        manifest["mask_path"] = mask_paths
    out = folder / "manifest.csv"
    manifest.to_csv(out, index=False)
    logger.info("wrote %d DICOM files and %s", len(manifest), out)
    return out


def read_fibrosis_cohort(folder: "str | os.PathLike") -> "FibrosisCohort":
    """Read a cohort written by :func:`write_fibrosis_dicom` (or laid out the same way) back from disk.

    The DICOM files are read with :func:`read_dicom_folder`, the loader used for real data, and checked
    against ``manifest.csv``: every listed file must exist, every DICOM file must be listed, and the
    SOP Instance UIDs must agree.

    Parameters
    ----------
    folder : str or path-like
        Holding ``manifest.csv``, ``dicom/`` and optionally ``masks/``.

    Returns
    -------
    FibrosisCohort
        ``manifest['path']`` holds absolute paths.

    Examples
    --------
    >>> import tempfile
    >>> from medai_lib.fibrosis import make_fibrosis_cohort, read_fibrosis_cohort, write_fibrosis_dicom
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_fibrosis_dicom(make_fibrosis_cohort(2, image_size=32), folder)
    >>> read_fibrosis_cohort(folder).images.shape
    (4, 32, 32)
    """
    from PIL import Image

    from medai_lib.fibrosis.cohort import FibrosisCohort

    folder = Path(folder)
    manifest_path = folder / "manifest.csv"
    if not manifest_path.is_file():
        raise MedaiInputError(
            f"{manifest_path} is missing; a cohort folder holds manifest.csv, dicom/ and masks/ "
            "(write one with write_fibrosis_dicom)."
        )
    try:
        manifest = pd.read_csv(manifest_path, dtype={"patient_id": str, "image_id": str, "site": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MedaiInputError(f"{manifest_path} is not a readable CSV file ({exc}).") from exc
    for column in ("image_id", "path"):
        if column not in manifest.columns:
            raise MedaiInputError(
                f"{manifest_path} has no '{column}' column; columns are {list(manifest.columns)}."
            )
    listed = [(folder / p).resolve() for p in manifest["path"]]
    missing = [str(p) for p in listed if not p.is_file()]
    if missing:
        raise MedaiInputError(
            f"{manifest_path} does not match the files: {len(missing)} listed file(s) are missing, e.g. "
            f"{missing[0]}. Restore the files or rewrite the cohort (delete the folder to regenerate)."
        )
    extra = sorted(set(p.resolve() for p in find_dicom_files(folder / "dicom")) - set(listed))
    if extra:
        raise MedaiInputError(
            f"{manifest_path} does not match the files: {len(extra)} DICOM file(s) are not in the manifest, "
            f"e.g. {extra[0]}. Remove them or add them to the manifest."
        )
    meta, images = read_dicom_folder(folder / "dicom")
    on_disk = {Path(p).resolve(): i for i, p in enumerate(meta["path"])}
    order = np.array([on_disk[p] for p in listed])
    meta = meta.iloc[order].reset_index(drop=True)
    if "sop_uid" in manifest.columns:
        bad = np.flatnonzero(manifest["sop_uid"].astype(str).to_numpy() != meta["image_id"].to_numpy())
        if bad.size:
            raise MedaiInputError(
                f"{manifest_path} does not match the files: {listed[bad[0]]} has SOP Instance UID "
                f"{meta['image_id'][bad[0]]}, the manifest says {manifest['sop_uid'][bad[0]]}."
            )
    masks = None
    if "mask_path" in manifest.columns:
        masks = []
        for rel in manifest["mask_path"]:
            mpath = folder / rel
            if not mpath.is_file():
                raise MedaiInputError(f"{manifest_path} lists the lung mask {mpath}, which is missing.")
            masks.append(np.asarray(Image.open(mpath)) > 127)
        masks = np.stack(masks)
    manifest["path"] = [str(p) for p in listed]
    return FibrosisCohort(manifest=manifest, images=images[order], lung_masks=masks,
                          params={"source": str(folder)})
