"""De-identification: no identifying attribute survives, and one patient's studies stay linked."""
from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis import deidentify_dataset, deidentify_folder, read_dicom, write_dicom
from medai_lib.fibrosis.deid import REMOVED_KEYWORDS, date_shift_days, pseudonym, remap_uid

KEY = "course-secret-key"


def _identified(tmp_path, name, *, patient="MRN-0042", study_date="20230115", study_uid=None, burned="NO"):
    """A radiograph full of identifying attributes, each holding the marker text SECRET."""
    path = write_dicom(
        tmp_path / name, np.linspace(0, 1, 64).reshape(8, 8), patient_id=patient,
        patient_name=f"SECRET^Smith^{patient}", sex="F", age=71, study_uid=study_uid or generate_uid(),
        series_uid=generate_uid(), sop_uid=generate_uid(),
        study_date=dt.datetime.strptime(study_date, "%Y%m%d").date(),
        institution="SECRET General Hospital",
    )
    ds = pydicom.dcmread(path)
    ds.PatientBirthDate = "19520304"
    ds.PatientAddress = "SECRET 1 Main Street"
    ds.OtherPatientIDs = "SECRET-OTHER"
    ds.ReferringPhysicianName = "SECRET^Doctor"
    ds.PerformingPhysicianName = "SECRET^Radiographer"
    ds.OperatorsName = "SECRET^Operator"
    ds.AccessionNumber = "SECRET-ACC"
    ds.StationName = "SECRET-STATION"
    ds.InstitutionAddress = "SECRET Road"
    ds.DeviceSerialNumber = "SECRET-SN"
    ds.StudyDescription = "SECRET chest"
    ds.ImageComments = "SECRET comment"
    ds.PatientTelephoneNumbers = "SECRET 555"
    ds.AcquisitionDateTime = study_date + "101500"
    ds.BurnedInAnnotation = burned
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ds.ReferencedImageSequence = [ref]
    person = Dataset()
    person.PersonName = "SECRET^Nested"  # a removed attribute inside a kept sequence
    person.CodeMeaning = "chest"
    ds.ProcedureCodeSequence = [person]
    observer = Dataset()
    observer.VerifyingObserverName = "SECRET^Observer"
    ds.VerifyingObserverSequence = [observer]
    block = ds.private_block(0x0011, "SECRET VENDOR", create=True)
    block.add_new(0x01, "LO", "SECRET private value")
    ds.save_as(path)
    return path


def _all_text(ds) -> str:
    parts = []

    def visit(dataset, elem):
        parts.append(str(elem.value) if elem.VR not in ("OB", "OW") else "")

    ds.walk(visit)
    if getattr(ds, "file_meta", None) is not None:
        parts += [str(e.value) for e in ds.file_meta]
    return "\n".join(parts)


@pytest.fixture()
def studies(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    first = _identified(src, "a_first.dcm", study_date="20230115")
    second = _identified(src, "b_second.dcm", study_date="20240320")
    other = _identified(src, "c_other.dcm", patient="MRN-0099", study_date="20230115")
    return src, first, second, other


def test_no_identifying_attribute_survives(studies, tmp_path):
    src, first, *_ = studies
    original = pydicom.dcmread(first)
    clean = deidentify_dataset(original, key=KEY)
    text = _all_text(clean)
    assert "SECRET" not in text
    assert "MRN-0042" not in text and "Smith" not in text
    for uid in (original.SOPInstanceUID, original.StudyInstanceUID, original.SeriesInstanceUID):
        assert uid not in text
    assert "19520304" not in text and "20230115" not in text
    assert not any(elem.tag.is_private for elem in clean.iterall())
    present = {elem.keyword for elem in clean.iterall()}
    assert not present & set(REMOVED_KEYWORDS)
    assert clean.ProcedureCodeSequence[0].CodeMeaning == "chest"
    assert clean.PatientIdentityRemoved == "YES"
    assert [c.CodeValue for c in clean.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108"]
    # Kept: what the course needs (sex, age, image), standard UIDs.
    assert clean.PatientSex == "F" and clean.PatientAge == "071Y"
    assert clean.SOPClassUID == original.SOPClassUID
    np.testing.assert_array_equal(clean.pixel_array, original.pixel_array)
    # The original dataset is untouched.
    assert "SECRET" in str(original.PatientName)


def test_relationships_between_studies_of_one_patient_are_kept(studies, tmp_path):
    src, first, second, other = studies
    out = tmp_path / "out"
    log = deidentify_folder(src, out, key=KEY)
    assert (log["status"] == "ok").all() and len(log) == 3
    cleaned = {row.source: pydicom.dcmread(row.output) for row in log.itertuples()}
    a, b, c = cleaned["a_first.dcm"], cleaned["b_second.dcm"], cleaned["c_other.dcm"]
    assert a.PatientID == b.PatientID == pseudonym("MRN-0042", key=KEY)
    assert c.PatientID != a.PatientID
    # Dates shifted by one offset per patient: the interval between the studies is kept exactly.
    days = lambda d: dt.datetime.strptime(d, "%Y%m%d").date()  # noqa: E731
    assert (days(b.StudyDate) - days(a.StudyDate)).days == (dt.date(2024, 3, 20) - dt.date(2023, 1, 15)).days
    shift = (dt.date(2023, 1, 15) - days(a.StudyDate)).days
    assert shift == date_shift_days("MRN-0042", key=KEY) and 1 <= shift <= 365
    assert a.AcquisitionDateTime == a.StudyDate + "101500"
    # UIDs remapped consistently: references inside a file follow the file's own new UID.
    assert a.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    original = pydicom.dcmread(first)
    assert a.StudyInstanceUID == remap_uid(original.StudyInstanceUID, key=KEY)
    assert len(a.SOPInstanceUID) <= 64 and a.SOPInstanceUID.startswith("2.25.")
    # Same key, same result; another key, other pseudonyms.
    again = deidentify_dataset(pydicom.dcmread(first), key=KEY)
    assert again.SOPInstanceUID == a.SOPInstanceUID and again.PatientID == a.PatientID
    assert deidentify_dataset(pydicom.dcmread(first), key="another-key-123").PatientID != a.PatientID
    # Files are written under the pseudonym and remain readable images.
    assert {p.name for p in out.iterdir()} == {a.PatientID, c.PatientID}
    assert read_dicom(log["output"][0]).shape == (8, 8)


def test_burned_in_annotation_is_respected(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _identified(src, "ok.dcm")
    _identified(src, "text.dcm", burned="YES")
    with pytest.raises(MedaiInputError, match=r"text\.dcm: the image has BurnedInAnnotation = YES"):
        deidentify_folder(src, tmp_path / "out1", key=KEY)
    log = deidentify_folder(src, tmp_path / "out2", key=KEY, on_refused="skip")
    assert log.set_index("source")["status"]["ok.dcm"] == "ok"
    assert log.set_index("source")["status"]["text.dcm"].startswith("refused")


def test_real_file_without_burned_in_flag(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    assert "BurnedInAnnotation" not in ds
    with pytest.raises(MedaiInputError, match="allow_unknown_burned_in=True"):
        deidentify_dataset(ds, key=KEY)
    clean = deidentify_dataset(ds, key=KEY, allow_unknown_burned_in=True)
    assert str(ds.PatientName) not in _all_text(clean)
    assert ds.StudyInstanceUID not in _all_text(clean)
    assert not any(elem.tag.is_private for elem in clean.iterall())
    assert any(elem.tag.is_private for elem in ds.iterall())  # CT_small has private tags to drop


def test_bad_arguments(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm", download=False), src / "ct.dcm")
    with pytest.raises(MedaiInputError, match="key must be a secret string of at least 8 characters"):
        deidentify_folder(src, tmp_path / "out", key="short")
    with pytest.raises(MedaiInputError, match="must not be inside source"):
        deidentify_folder(src, src / "out", key=KEY)
    with pytest.raises(MedaiInputError, match="on_refused must be 'raise' or 'skip'"):
        deidentify_folder(src, tmp_path / "out", key=KEY, on_refused="ignore")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MedaiInputError, match="holds no DICOM files"):
        deidentify_folder(empty, tmp_path / "out", key=KEY)
