"""De-identification of DICOM files: a documented subset of the DICOM PS3.15 basic confidentiality profile.

Pseudonyms, date shifts and new UIDs are derived from a secret key with HMAC-SHA256, so that every file of
one patient gets the same pseudonym and date shift, and every UID the same replacement, across runs.

What is done (PS3.15 Annex E, Basic Application Level Confidentiality Profile, with the options
"Retain Longitudinal Temporal Information with Modified Dates" and "Retain Patient Characteristics"):

- **Names and IDs** (action Z/D): PatientName and PatientID become the pseudonym ``ANON-<10 hex>``;
  every other person name (PN) anywhere in the file, including in sequences, is emptied.
- **Removed** (action X): the identifying attributes listed in :data:`REMOVED_KEYWORDS` (other IDs and
  names, addresses, telephone numbers, institution and station, physicians and operators, accession
  number, study ID, device serial numbers, free-text comments and descriptions, request sequences...).
- **Dates** (option: modified dates): every DA value, and the date part of every DT value, is shifted by
  the patient's offset (1 to 365 days back), so intervals between a patient's studies are kept.
  PatientBirthDate is emptied; PatientAge is kept.
- **UIDs** (action U): every UI value that is not a standard DICOM UID (``1.2.840.10008.*``: SOP classes,
  transfer syntaxes) is replaced by ``2.25.<decimal HMAC>``, in the dataset, its sequences and the file
  meta information, so references between files stay consistent.
- **Private tags** are removed (action X for private attributes).
- **Burned-in annotation**: files with BurnedInAnnotation = YES are refused (pixel text cannot be removed
  safely by attribute rules); files without the attribute are refused unless ``allow_unknown_burned_in``.
- PatientIdentityRemoved = YES, DeidentificationMethod and the method code sequence (113100, 113107,
  113108) record what was done.

Not done: pixel de-identification (cleaning burned-in text), structured reports, overlays and curves
(removed only as part of unrecognised groups: overlays 60xx are removed), clinical trial attributes.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from medai_lib.errors import MedaiInputError

if TYPE_CHECKING:  # pragma: no cover
    import pydicom

logger = logging.getLogger(__name__)

#: Attributes removed outright (keywords of the PS3.15 basic profile, X/Z/D actions without a kept value).
REMOVED_KEYWORDS = (
    "AccessionNumber", "AdditionalPatientHistory", "AdmissionID", "AdmittingDiagnosesDescription",
    "Allergies", "BranchOfService", "CountryOfResidence", "CurrentPatientLocation", "DeviceSerialNumber",
    "EthnicGroup", "FillerOrderNumberImagingServiceRequest", "FrameComments", "ImageComments",
    "InstitutionAddress", "InstitutionName", "InstitutionalDepartmentName", "IssuerOfPatientID",
    "MedicalAlerts", "MedicalRecordLocator", "MilitaryRank", "NameOfPhysiciansReadingStudy",
    "Occupation", "OperatorsName", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames",
    "PatientAddress", "PatientBirthName", "PatientBirthTime", "PatientComments",
    "PatientInsurancePlanCodeSequence", "PatientMotherBirthName", "PatientReligiousPreference",
    "PatientTelephoneNumbers", "PerformedProcedureStepDescription", "PerformedProcedureStepID",
    "PerformingPhysicianIdentificationSequence", "PerformingPhysicianName", "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence", "PlacerOrderNumberImagingServiceRequest",
    "ReferencedPatientSequence", "ReferringPhysicianAddress", "ReferringPhysicianIdentificationSequence",
    "ReferringPhysicianName", "ReferringPhysicianTelephoneNumbers", "RequestAttributesSequence",
    "RequestedProcedureDescription", "RequestedProcedureID", "RequestingPhysician", "RequestingService",
"ScheduledProcedureStepDescription", "ScheduledProcedureStepID",
    "SeriesDescription", "StationName", "StudyDescription", "StudyID", "PatientState",
    "PregnancyStatus", "SmokingStatus", "ProtocolName", "DerivationDescription", "TextComments",
    "StudyComments", "InterpretationText", "ContentCreatorName", "VerifyingObserverName",
    "PersonName", "PersonAddress", "PersonTelephoneNumbers", "InstitutionCodeSequence",
)

_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
)


def _check_key(key):
    if not isinstance(key, (str, bytes)) or len(key) < 8:
        raise MedaiInputError(
            "key must be a secret string of at least 8 characters (keep it outside the data: the same key "
            f"gives the same pseudonyms); got {type(key).__name__} of length {len(key) if key else 0}."
        )
    return key.encode() if isinstance(key, str) else key


def _digest(key: bytes, kind: str, value: str) -> bytes:
    return hmac.new(key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()


def pseudonym(patient_id: str, *, key: str) -> str:
    """The pseudonym that replaces ``patient_id`` under ``key``.

    Examples
    --------
    >>> from medai_lib.fibrosis.deid import pseudonym
    >>> pseudonym("12345", key="course-secret") == pseudonym("12345", key="course-secret")
    True
    """
    return "ANON-" + _digest(_check_key(key), "pid", str(patient_id)).hex()[:10].upper()


def date_shift_days(patient_id: str, *, key: str) -> int:
    """Days (1 to 365) by which every date of ``patient_id`` is moved back under ``key``."""
    return 1 + int.from_bytes(_digest(_check_key(key), "date", str(patient_id))[:4], "big") % 365


def remap_uid(uid: str, *, key: str) -> str:
    """The replacement of ``uid`` under ``key``: ``2.25.<integer>`` (at most 45 characters).

    Standard DICOM UIDs (``1.2.840.10008.*``) are returned unchanged.

    Examples
    --------
    >>> from medai_lib.fibrosis.deid import remap_uid
    >>> remap_uid("1.2.3.4", key="course-secret").startswith("2.25.")
    True
    """
    uid = str(uid).strip()
    if not uid or uid.startswith("1.2.840.10008."):
        return uid
    return "2.25." + str(int.from_bytes(_digest(_check_key(key), "uid", uid)[:16], "big"))


def _shift_date(text: str, days: int) -> str:
    text = str(text).strip()
    if len(text) < 8 or not text[:8].isdigit():
        return ""
    try:
        date = _dt.datetime.strptime(text[:8], "%Y%m%d").date() - _dt.timedelta(days=days)
    except ValueError:
        return ""
    return date.strftime("%Y%m%d") + text[8:]


def deidentify_dataset(
    ds: "pydicom.Dataset", *, key: str, allow_unknown_burned_in: bool = False
) -> "pydicom.Dataset":
    """De-identify a pydicom dataset (a modified copy is returned; ``ds`` is left unchanged).

    See the module documentation for the rules. The same ``key`` gives the same pseudonym, date shift and
    UIDs for the same patient and the same original UIDs, so studies of one patient stay linked.

    Parameters
    ----------
    ds : pydicom.Dataset
    key : str
        Secret of at least 8 characters. Keep it outside the de-identified data.
    allow_unknown_burned_in : bool, default False
        Accept files without a BurnedInAnnotation attribute (files saying YES are always refused).

    Returns
    -------
    pydicom.Dataset

    Raises
    ------
    MedaiInputError
        BurnedInAnnotation is YES (or absent, unless allowed).

    Examples
    --------
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> from medai_lib.fibrosis.deid import deidentify_dataset
    >>> ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    >>> out = deidentify_dataset(ds, key="course-secret", allow_unknown_burned_in=True)
    >>> str(out.PatientName).startswith("ANON-")
    True
    """
    import copy

    from pydicom.datadict import tag_for_keyword
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    _check_key(key)
    burned = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    if burned == "YES":
        raise MedaiInputError(
            "the image has BurnedInAnnotation = YES: identifying text may be drawn in the pixels, which "
            "attribute rules cannot remove. Exclude this file or clean its pixels first."
        )
    if not burned and not allow_unknown_burned_in:
        raise MedaiInputError(
            "the image does not say whether text is burned into its pixels (no BurnedInAnnotation). Check "
            "the images, then pass allow_unknown_burned_in=True."
        )
    out = copy.deepcopy(ds)
    patient = str(ds.get("PatientID", "")) or str(ds.get("PatientName", ""))
    days = date_shift_days(patient, key=key)
    alias = pseudonym(patient, key=key)
    out.remove_private_tags()
    removed = {tag_for_keyword(k) for k in REMOVED_KEYWORDS}

    def clean(dataset):
        for elem in list(dataset):
            group = elem.tag.group
            if elem.tag in removed or (0x6000 <= group <= 0x60FF and group % 2 == 0):  # overlays: annotations
                del dataset[elem.tag]
                continue
            if elem.VR == "SQ":
                for item in elem.value:
                    clean(item)
            elif elem.VR == "PN":
                elem.value = ""
            elif elem.VR == "DA" and elem.value:
                elem.value = "\\".join(_shift_date(v, days) for v in str(elem.value).split("\\"))
            elif elem.VR == "DT" and elem.value:
                elem.value = _shift_date(str(elem.value), days)
            elif elem.VR == "UI" and elem.value:
                if elem.VM > 1:
                    elem.value = [remap_uid(v, key=key) for v in elem.value]
                else:
                    elem.value = remap_uid(elem.value, key=key)

    clean(out)
    if getattr(out, "file_meta", None) is not None and "MediaStorageSOPInstanceUID" in out.file_meta:
        meta = out.file_meta
        meta.MediaStorageSOPInstanceUID = remap_uid(meta.MediaStorageSOPInstanceUID, key=key)
    out.PatientName = alias
    out.PatientID = alias
    out.PatientBirthDate = ""
    out.PatientIdentityRemoved = "YES"
    out.LongitudinalTemporalInformationModified = "MODIFIED"
    out.DeidentificationMethod = "medai_lib PS3.15 basic profile subset; dates shifted per patient"
    codes = []
    for value, meaning in _METHOD_CODES:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        codes.append(item)
    out.DeidentificationMethodCodeSequence = Sequence(codes)
    return out


def deidentify_folder(
    source: "str | os.PathLike",
    destination: "str | os.PathLike",
    *,
    key: str,
    allow_unknown_burned_in: bool = False,
    on_refused: str = "raise",
) -> pd.DataFrame:
    """De-identify every DICOM file under ``source`` into ``destination`` (``<pseudonym>/<new SOP UID>.dcm``).

    Parameters
    ----------
    source, destination : str or path-like
        ``destination`` must not be inside ``source``.
    key : str
        Secret of at least 8 characters; the same key links the same patients across runs.
    allow_unknown_burned_in : bool, default False
        See :func:`deidentify_dataset`.
    on_refused : {"raise", "skip"}, default "raise"
        What to do with a file the rules refuse (burned-in annotation): stop, or leave it out and list it.

    Returns
    -------
    pandas.DataFrame
        One row per source file: ``source`` (path relative to ``source``), ``output`` (absolute path or
        None), ``status`` ("ok" or "refused: ..."). Source paths may name patients: keep the table
        with the key, not with the de-identified data.

    Examples
    --------
    >>> import pathlib, shutil, tempfile
    >>> from pydicom.data import get_testdata_file
    >>> from medai_lib.fibrosis.deid import deidentify_folder
    >>> src = pathlib.Path(tempfile.mkdtemp())
    >>> _ = shutil.copy(get_testdata_file("CT_small.dcm", download=False), src / "ct.dcm")
    >>> log = deidentify_folder(src, tempfile.mkdtemp(), key="course-secret", allow_unknown_burned_in=True)
    >>> log["status"].tolist()
    ['ok']
    """
    from medai_lib.fibrosis.dicom import _dcmread, find_dicom_files

    if on_refused not in ("raise", "skip"):
        raise MedaiInputError(f"on_refused must be 'raise' or 'skip'; got {on_refused!r}.")
    _check_key(key)
    source, destination = Path(source).resolve(), Path(destination).resolve()
    if destination == source or source in destination.parents:
        raise MedaiInputError(
            f"destination {destination} must not be inside source {source}; pick another folder."
        )
    files = find_dicom_files(source)
    if not files:
        raise MedaiInputError(f"{source} holds no DICOM files to de-identify.")
    rows = []
    for path in files:
        rel = path.relative_to(source).as_posix()
        ds = _dcmread(path)
        try:
            clean = deidentify_dataset(ds, key=key, allow_unknown_burned_in=allow_unknown_burned_in)
        except MedaiInputError as exc:
            if on_refused == "raise":
                raise MedaiInputError(f"{path}: {exc}") from exc
            rows.append({"source": rel, "output": None, "status": f"refused: {exc}"})
            continue
        out = destination / str(clean.PatientID) / f"{clean.SOPInstanceUID}.dcm"
        out.parent.mkdir(parents=True, exist_ok=True)
        clean.save_as(out, enforce_file_format=False)
        rows.append({"source": rel, "output": str(out), "status": "ok"})
    logger.info("de-identified %d of %d files", sum(r["status"] == "ok" for r in rows), len(rows))
    return pd.DataFrame(rows, columns=["source", "output", "status"])
