"""DICOM reading (real bundled files and synthetic cohorts) and writing."""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis import (
    load_fibrosis_cohort,
    make_fibrosis_cohort,
    read_dicom,
    read_dicom_folder,
    read_fibrosis_cohort,
    write_dicom,
    write_fibrosis_dicom,
)
from medai_lib.fibrosis.dicom import dicom_metadata, dicom_to_display


def _bundled(name):
    path = get_testdata_file(name, download=False)
    if path is None:  # pragma: no cover - depends on the pydicom build
        pytest.skip(f"pydicom does not bundle {name}")
    return path


@pytest.fixture(scope="module")
def cohort():
    return make_fibrosis_cohort(4, image_size=48, random_state=3)


@pytest.fixture(scope="module")
def written(cohort, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    write_fibrosis_dicom(cohort, folder)
    return folder


def _uids():
    return dict(study_uid=generate_uid(), series_uid=generate_uid(), sop_uid=generate_uid())


# ---------------------------------------------------------------- real files
def test_ct_small_rescale_and_window_match_the_dicom_formula():
    path = _bundled("CT_small.dcm")
    ds = pydicom.dcmread(path)
    assert "WindowCenter" not in ds  # so the reader scales the full range of the rescaled values
    hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    expected = (hu - hu.min()) / (hu.max() - hu.min())
    np.testing.assert_allclose(read_dicom(path), expected, atol=1e-6)
    # With a lung window (centre -600 HU, width 1500) the DICOM LINEAR function applies.
    ds.WindowCenter, ds.WindowWidth = "-600", "1500"
    windowed = np.clip((hu - (-600 - 0.5)) / (1500 - 1) + 0.5, 0, 1)
    np.testing.assert_allclose(dicom_to_display(ds), windowed, atol=1e-6)


def test_voi_lut_sequence_is_applied():
    ds = pydicom.dcmread(_bundled("CT_small.dcm"))
    del ds.RescaleSlope, ds.RescaleIntercept  # the LUT then maps stored values (non-negative)
    hu = ds.pixel_array.astype(float)
    first = int(hu.min())
    n = int(hu.max()) - first + 1
    item = Dataset()
    item.add_new(0x00283002, "US", [n, first, 16])  # LUT Descriptor: 16-bit entries
    item.add_new(0x00283006, "US", [int(v) for v in np.linspace(65535, 0, n).round()])  # decreasing LUT
    ds.VOILUTSequence = [item]
    out = dicom_to_display(ds)
    brightest, darkest = np.unravel_index(hu.argmax(), hu.shape), np.unravel_index(hu.argmin(), hu.shape)
    assert out[brightest] == pytest.approx(0.0, abs=1e-6) and out[darkest] == pytest.approx(1.0, abs=1e-6)


def test_monochrome1_is_inverted(tmp_path):
    image = np.linspace(0, 1, 64).reshape(8, 8)
    m1 = write_dicom(tmp_path / "m1.dcm", image, patient_id="X", patient_name="SYNTHETIC^X", monochrome1=True,
                     modality="CR", **_uids())
    m2 = write_dicom(tmp_path / "m2.dcm", image, patient_id="X", patient_name="SYNTHETIC^X", **_uids())
    stored1 = pydicom.dcmread(m1).pixel_array
    stored2 = pydicom.dcmread(m2).pixel_array
    assert stored1[0, 0] > stored1[-1, -1] and stored2[0, 0] < stored2[-1, -1]  # opposite on disk
    np.testing.assert_allclose(read_dicom(m1), image, atol=1e-3)  # same on screen
    np.testing.assert_allclose(read_dicom(m2), image, atol=1e-3)


def test_multiframe_is_refused_with_a_clear_message():
    path = _bundled("rtdose.dcm")
    with pytest.raises(MedaiInputError, match=r"rtdose\.dcm is a multi-frame image \(15 frames\)"):
        read_dicom(path)


def test_missing_decoder_names_the_package_to_install():
    path = _bundled("MR_small_jpeg_ls_lossless.dcm")
    try:
        pydicom.dcmread(path).pixel_array
    except RuntimeError:
        pass
    else:  # pragma: no cover
        pytest.skip("a JPEG-LS decoder is installed here")
    with pytest.raises(MedaiInputError, match=r"JPEG-LS Lossless.*pip install pylibjpeg pylibjpeg-libjpeg"):
        read_dicom(path)


def test_jpeg2000_decodes_or_names_the_decoder():
    path = _bundled("JPEG2000.dcm")
    try:
        image = read_dicom(path)
    except MedaiInputError as exc:
        assert "pylibjpeg-openjpeg" in str(exc)
    else:
        assert image.ndim == 2 and 0 <= image.min() and image.max() <= 1 and image.std() > 0


def test_truncated_file_names_the_file():
    with pytest.raises(MedaiInputError, match=r"MR_truncated\.dcm .*corrupt"):
        read_dicom(_bundled("MR_truncated.dcm"))


def test_non_dicom_and_non_image_files(tmp_path):
    junk = tmp_path / "notes.dcm"
    junk.write_text("this is not an image")
    with pytest.raises(MedaiInputError, match=r"notes\.dcm is not a DICOM file"):
        read_dicom(junk)
    with pytest.raises(MedaiInputError, match=r"rtplan\.dcm holds no image \(no PixelData"):
        read_dicom(_bundled("rtplan.dcm"))
    with pytest.raises(MedaiInputError, match="does not exist"):
        read_dicom(tmp_path / "missing.dcm")


def test_folder_loader_on_real_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(_bundled("CT_small.dcm"), tmp_path / "a" / "ct.dcm")
    shutil.copy(_bundled("MR_small.dcm"), tmp_path / "a" / "b" / "IMG0001")  # no extension: preamble
    (tmp_path / "readme.txt").write_text("not DICOM")
    meta, images = read_dicom_folder(tmp_path, image_size=32)
    assert images.shape == (2, 32, 32)
    assert set(meta["modality"]) == {"CT", "MR"}
    assert meta["path"].str.endswith("IMG0001").any()
    with pytest.raises(MedaiInputError, match="differ in size.*image_size"):
        read_dicom_folder(tmp_path)


def test_empty_folder_is_explained(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(MedaiInputError, match="holds no DICOM files"):
        read_dicom_folder(tmp_path)
    with pytest.raises(MedaiInputError, match="is not a folder"):
        read_dicom_folder(tmp_path / "nope")


# ---------------------------------------------------------------- synthetic cohorts
def test_cohort_round_trip_through_the_real_data_loader(cohort, written):
    back = read_fibrosis_cohort(written)
    np.testing.assert_allclose(back.images, cohort.images, atol=1.0 / 4095 + 1e-6)
    np.testing.assert_array_equal(back.lung_masks, cohort.lung_masks)
    cols = ["patient_id", "image_id", "visit", "site", "sex", "age", "label", "reader_1"]
    pd.testing.assert_frame_equal(back.manifest[cols], cohort.manifest[cols], check_dtype=False)
    np.testing.assert_allclose(back.manifest["severity"], cohort.manifest["severity"])
    assert back.oracle_auc == pytest.approx(cohort.oracle_auc, nan_ok=True)


def test_written_files_are_valid_synthetic_radiographs(written, cohort):
    meta, _ = read_dicom_folder(written / "dicom")
    assert len(meta) == len(cohort.manifest)
    for path in meta["path"]:
        ds = pydicom.dcmread(path, force=False)
        assert "SYNTHETIC" in str(ds.PatientName)
        assert ds.Modality in ("DX", "CR") and ds.BodyPartExamined == "CHEST" and ds.ViewPosition == "PA"
        expected = "MONOCHROME1" if "SITE C" in ds.InstitutionName else "MONOCHROME2"
        assert ds.PhotometricInterpretation == expected
        assert float(ds.PixelSpacing[0]) > 0 and ds.BitsStored == 12
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    studies = meta.groupby("patient_id")["study_uid"].nunique()
    assert (studies == 2).all()  # one study per visit
    assert meta["image_id"].is_unique


def test_writing_twice_gives_identical_uids(cohort, tmp_path):
    a = pd.read_csv(write_fibrosis_dicom(cohort, tmp_path / "a"))
    b = pd.read_csv(write_fibrosis_dicom(cohort, tmp_path / "b"))
    assert a["sop_uid"].tolist() == b["sop_uid"].tolist()


def test_manifest_that_does_not_match_the_files(cohort, tmp_path):
    folder = tmp_path / "c"
    write_fibrosis_dicom(cohort, folder)
    manifest = pd.read_csv(folder / "manifest.csv")
    # A file listed but missing.
    victim = folder / manifest["path"][0]
    moved = tmp_path / "moved.dcm"
    victim.rename(moved)
    with pytest.raises(MedaiInputError, match=r"does not match the files: 1 listed file\(s\) are missing"):
        read_fibrosis_cohort(folder)
    moved.rename(victim)
    # A DICOM file on disk that the manifest does not list.
    shutil.copy(_bundled("CT_small.dcm"), folder / "dicom" / "stray.dcm")
    with pytest.raises(MedaiInputError, match=r"not in the manifest, e\.g\. .*stray\.dcm"):
        read_fibrosis_cohort(folder)
    (folder / "dicom" / "stray.dcm").unlink()
    # Two rows swapped: the SOP Instance UIDs disagree.
    manifest.loc[[0, 1], "path"] = manifest.loc[[1, 0], "path"].to_numpy()
    manifest.to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(MedaiInputError, match="has SOP Instance UID"):
        read_fibrosis_cohort(folder)
    (folder / "manifest.csv").unlink()
    with pytest.raises(MedaiInputError, match=r"manifest\.csv is missing"):
        read_fibrosis_cohort(folder)


def test_write_dicom_rejects_bad_input(tmp_path):
    with pytest.raises(MedaiInputError, match="image must be 2-D"):
        write_dicom(tmp_path / "x.dcm", np.zeros((2, 2, 2)), patient_id="X", patient_name="X", **_uids())
    with pytest.raises(MedaiInputError, match="modality must be 'DX' or 'CR'"):
        write_dicom(tmp_path / "x.dcm", np.zeros((2, 2)), patient_id="X", patient_name="X", modality="CT",
                    **_uids())


# ---------------------------------------------------------------- what researchers bring
def _chest_cr(path, *, pixel_spacing=None, imager_spacing=None, value=0.5):
    """A real-format 12-bit CR chest file (MONOCHROME1, as CR plates store it) with the given spacings."""
    image = np.full((16, 16), value)
    image[4:12, 4:12] = 0.2
    write_dicom(path, image, patient_id="P1", patient_name="SYNTHETIC^P1", modality="CR", monochrome1=True,
                **_uids())
    ds = pydicom.dcmread(path)
    for keyword, spacing in (("PixelSpacing", pixel_spacing), ("ImagerPixelSpacing", imager_spacing)):
        if spacing is None:
            del ds[keyword]
        else:
            ds[keyword].value = spacing
    ds.save_as(path, enforce_file_format=True)
    return path


def test_zero_pixel_spacing_falls_back_to_the_imager_spacing_with_a_warning(tmp_path):
    # pydicom-data's RG1_UNCR chest CR stores PixelSpacing 0.000\0.000: that is not 0 mm.
    path = _chest_cr(tmp_path / "rg1.dcm", pixel_spacing="0.000\\0.000", imager_spacing="0.175\\0.175")
    assert pydicom.dcmread(path).PixelSpacing == [0.0, 0.0]
    with pytest.warns(UserWarning, match=r"rg1\.dcm: PixelSpacing 0\.000\\0\.000 is not a valid spacing.*"
                                         r"using ImagerPixelSpacing"):
        row = dicom_metadata(pydicom.dcmread(path), path)
    assert row["pixel_spacing_mm"] == pytest.approx(0.175)
    assert row["pixel_spacing_source"] == "ImagerPixelSpacing"


def test_invalid_pixel_spacing_without_a_fallback_is_unknown_not_zero(tmp_path):
    _chest_cr(tmp_path / "a.dcm", pixel_spacing="0.000\\0.000")
    _chest_cr(tmp_path / "b.dcm", pixel_spacing="-0.2\\-0.2")
    _chest_cr(tmp_path / "c.dcm", pixel_spacing="0.143\\0.143", imager_spacing="0.16\\0.16")
    with pytest.warns(UserWarning, match=r"2 image\(s\) have an invalid PixelSpacing.*'unknown': 2"):
        meta, images = read_dicom_folder(tmp_path)
    assert images.shape == (3, 16, 16)
    by_name = meta.set_index(meta["path"].str[-5:])
    assert by_name.loc[["a.dcm", "b.dcm"], "pixel_spacing_mm"].isna().all()  # unknown, not 0 mm
    assert (by_name["pixel_spacing_source"].to_dict()
            == {"a.dcm": "unknown", "b.dcm": "unknown", "c.dcm": "PixelSpacing"})
    assert by_name.loc["c.dcm", "pixel_spacing_mm"] == pytest.approx(0.143)  # calibrated spacing preferred
    # A missing PixelSpacing with a valid ImagerPixelSpacing is ordinary for CR and DX: no warning.
    only_imager = _chest_cr(tmp_path / "d" / "d.dcm", imager_spacing="0.2\\0.2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta, _ = read_dicom_folder(only_imager.parent)
    assert meta["pixel_spacing_mm"].tolist() == [pytest.approx(0.2)]
    # MONOCHROME1 is still inverted: the square (0.2 stored as attenuation) comes back dark.
    assert read_dicom(tmp_path / "a.dcm")[8, 8] == pytest.approx(0.2, abs=1e-3)


def _tree_with_bad_files(root):
    good = [_chest_cr(root / "site1" / f"good{i}.dcm", pixel_spacing="0.15\\0.15") for i in range(2)]
    truncated = root / "site1" / "truncated.dcm"
    truncated.write_bytes(good[0].read_bytes()[:-200])  # pixel data cut short, as by an interrupted copy
    (root / "site2").mkdir()
    shutil.copy(_bundled("rtplan.dcm"), root / "site2" / "plan.dcm")  # a real non-image object in the tree
    (root / "site2" / "notes.dcm").write_text("exported report, not DICOM")
    return good, [truncated, root / "site2" / "plan.dcm", root / "site2" / "notes.dcm"]


def test_one_unreadable_file_does_not_abort_the_tree(tmp_path):
    good, bad = _tree_with_bad_files(tmp_path)
    with pytest.warns(UserWarning,
                      match=r"skipped 3 of 5 DICOM files.*attrs\['unreadable'\].*on_error='raise'"):
        meta, images = read_dicom_folder(tmp_path)
    assert images.shape == (2, 16, 16)
    assert sorted(meta["path"]) == sorted(map(str, good))
    unreadable = meta.attrs["unreadable"]
    assert sorted(unreadable["path"]) == sorted(map(str, bad))
    reasons = dict(zip(unreadable["path"], unreadable["error"]))
    assert "unreadable pixel data" in reasons[str(bad[0])]
    assert "holds no image" in reasons[str(bad[1])]
    assert "is not a DICOM file" in reasons[str(bad[2])]
    # The notebooks' DATA_DIR route does the same and keeps the report with the cohort.
    with pytest.warns(UserWarning, match="skipped 3 of 5"):
        cohort = load_fibrosis_cohort(data_dir=tmp_path, image_size=16)
    assert len(cohort) == 2 and len(cohort.params["unreadable"]) == 3


def test_unreadable_files_can_stop_the_load_and_all_bad_is_an_error(tmp_path):
    _, bad = _tree_with_bad_files(tmp_path)
    with pytest.raises(MedaiInputError, match=r"truncated\.dcm has unreadable pixel data"):
        read_dicom_folder(tmp_path, on_error="raise")
    with pytest.raises(MedaiInputError, match="on_error must be one of"):
        read_dicom_folder(tmp_path, on_error="ignore")
    for path in tmp_path.rglob("good*.dcm"):
        path.unlink()
    with pytest.raises(MedaiInputError,
                       match=r"none of the 3 DICOM files under .* could be read; the first: "):
        read_dicom_folder(tmp_path)
