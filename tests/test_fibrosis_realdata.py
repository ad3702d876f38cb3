"""Real-data loaders (ChestX-ray14 layout, DICOM trees) and the cached synthetic cohort."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

import medai_lib.fibrosis.realdata as realdata
from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis import (
    load_chestxray14,
    load_dicom_tree,
    load_fibrosis_cohort,
    make_fibrosis_cohort,
    read_chestxray14_manifest,
    read_png,
    write_fibrosis_dicom,
)

CXR14_ROWS = [
    # Image Index, Finding Labels, Follow-up #, Patient ID, Age, Gender, View
    ("00000001_000.png", "Fibrosis|Effusion", 0, 1, 58, "M", "PA"),
    ("00000001_001.png", "Fibrosis", 1, 1, 59, "M", "PA"),
    ("00000002_000.png", "No Finding", 0, 2, 81, "F", "PA"),
    ("00000003_000.png", "Cardiomegaly", 0, 3, 74, "F", "AP"),
    ("00000004_000.png", "No Finding", 0, 4, 33, "M", "PA"),  # listed, not on disk
]


@pytest.fixture()
def cxr14(tmp_path):
    """A miniature ChestX-ray14 folder in the release layout (images split into images_NNN/images/)."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(CXR14_ROWS, columns=["Image Index", "Finding Labels", "Follow-up #", "Patient ID",
                                              "Patient Age", "Patient Gender", "View Position"])
    table["OriginalImage[Width"] = 1024
    table["Height]"] = 1024
    table.to_csv(tmp_path / "Data_Entry_2017.csv", index=False)
    for i, name in enumerate(table["Image Index"][:4]):
        folder = tmp_path / f"images_00{1 + i // 2}" / "images"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (64, 64), dtype=np.uint8)
        image = Image.fromarray(pixels)
        if i == 2:  # a few real files are RGBA with equal channels
            image = image.convert("RGBA")
        image.save(folder / name)
    return tmp_path


def test_chestxray14_manifest_maps_the_columns(cxr14, caplog):
    m = read_chestxray14_manifest(cxr14)
    assert list(m["image_id"]) == [r[0] for r in CXR14_ROWS[:4]]
    assert list(m["label"]) == [1, 1, 0, 0]
    assert list(m["visit"]) == [0, 1, 0, 0] and list(m["patient_id"]) == ["1", "1", "2", "3"]
    assert m["severity"].isna().all() and (m["site"] == "NIH").all()
    assert "1 of 5 images" in caplog.text  # the missing file is reported, not silently dropped
    effusion = read_chestxray14_manifest(cxr14, finding="Effusion")
    assert list(effusion["label"]) == [1, 0, 0, 0]


def test_load_chestxray14_reads_pa_images(cxr14):
    cohort = load_chestxray14(cxr14, image_size=32)
    assert cohort.images.shape == (3, 32, 32) and cohort.lung_masks is None
    assert list(cohort.manifest["view"]) == ["PA"] * 3
    direct = np.asarray(Image.open(cohort.manifest["path"][0]), dtype=np.float32) / 255
    expected = np.asarray(Image.fromarray(direct).resize((32, 32), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(cohort.images[0], expected, atol=1e-6)
    assert np.isnan(cohort.oracle_auc)
    sample = load_chestxray14(cxr14, image_size=32, views=("PA", "AP"), max_images=2, random_state=1)
    assert len(sample) == 2
    # load_fibrosis_cohort recognises the layout.
    assert len(load_fibrosis_cohort(image_size=32, data_dir=cxr14)) == 3


def test_chestxray14_layout_errors(tmp_path, cxr14):
    with pytest.raises(MedaiInputError, match="has no Data_Entry_2017.csv"):
        read_chestxray14_manifest(tmp_path / "images_001")
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(cxr14 / "Data_Entry_2017.csv", empty)
    with pytest.raises(MedaiInputError, match="holds no PNG images in images/ or images_\\*/images/"):
        read_chestxray14_manifest(empty)


def test_png_depth_is_checked(tmp_path):
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)).save(deep)
    with pytest.raises(MedaiInputError, match=r"deep\.png has PIL mode 'I;16'.*8-bit greyscale"):
        read_png(deep)
    colour = tmp_path / "colour.png"
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(colour)
    with pytest.raises(MedaiInputError, match=r"colour\.png has PIL mode 'RGB'"):
        read_png(colour)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(MedaiInputError, match=r"broken\.png is not a readable image"):
        read_png(broken)
    grey = tmp_path / "grey.png"
    Image.fromarray(np.array([[0, 255]], np.uint8)).save(grey)
    np.testing.assert_array_equal(read_png(grey), [[0.0, 1.0]])


def test_dicom_tree_with_labels(tmp_path):
    (tmp_path / "site1" / "p1").mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm", download=False), tmp_path / "site1" / "p1" / "1.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm", download=False), tmp_path / "site1" / "2.dcm")
    cohort = load_dicom_tree(tmp_path, image_size=32)
    assert cohort.images.shape == (2, 32, 32) and cohort.manifest["label"].isna().all()
    pd.DataFrame({"image_id": [cohort.manifest["image_id"][0]], "label": [1]}).to_csv(
        tmp_path / "labels.csv", index=False)
    labelled = load_fibrosis_cohort(image_size=32, data_dir=tmp_path)
    assert labelled.manifest["label"].iloc[0] == 1 and np.isnan(labelled.manifest["label"].iloc[1])
    pd.DataFrame({"name": ["x"]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(MedaiInputError, match="labels.csv must have columns image_id and label"):
        load_dicom_tree(tmp_path, image_size=32)


def test_cached_synthetic_cohort_is_generated_once(tmp_path, monkeypatch):
    calls = []
    real = realdata.make_fibrosis_cohort

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(realdata, "make_fibrosis_cohort", counting)
    monkeypatch.setenv("MEDAI_DATA", str(tmp_path / "cache"))
    first = load_fibrosis_cohort(3, image_size=32, random_state=2)
    second = load_fibrosis_cohort(3, image_size=32, random_state=2)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.images, second.images)
    direct = make_fibrosis_cohort(3, image_size=32, random_state=2)
    np.testing.assert_allclose(first.images, direct.images, atol=1.0 / 4095 + 1e-6)
    np.testing.assert_array_equal(first.lung_masks, direct.lung_masks)
    assert str(tmp_path / "cache") in first.manifest["path"][0]
    load_fibrosis_cohort(3, image_size=32, random_state=2, site_shortcut=0.5)  # other parameters: new entry
    assert len(calls) == 2
    # A written cohort folder as DATA_DIR is read with its ground truth.
    folder = tmp_path / "mine"
    write_fibrosis_dicom(direct, folder)
    mine = load_fibrosis_cohort(data_dir=folder)
    np.testing.assert_allclose(mine.manifest["severity"], direct.manifest["severity"])


def test_bad_data_dir(tmp_path):
    with pytest.raises(MedaiInputError, match="is not a folder; set DATA_DIR = None"):
        load_fibrosis_cohort(data_dir=tmp_path / "absent")
    with pytest.raises(MedaiInputError, match="random_state must be an integer seed"):
        load_fibrosis_cohort(2, image_size=32, random_state=None, root=tmp_path)


def test_notebook_2_1_on_an_unlabelled_dicom_tree_with_a_corrupt_file(tmp_path):
    # A researcher's export: DICOM files in patient folders, no manifest, no labels.csv, one file cut short
    # by an interrupted copy and one non-image object (an RT plan). The notebook loads the good films,
    # names the bad one in its output, and says there are no labels and no known ceiling.
    import json

    import nbformat

    from conftest import run_medai

    write_fibrosis_dicom(make_fibrosis_cohort(8, image_size=64, random_state=0), tmp_path / "cohort")
    tree = tmp_path / "export"
    shutil.copytree(tmp_path / "cohort" / "dicom", tree)
    first = sorted(tree.rglob("*.dcm"))[0]
    (first.parent / "cut_short.dcm").write_bytes(first.read_bytes()[:-300])
    shutil.copy(get_testdata_file("rtplan.dcm", download=False), tree / "plan.dcm")
    out = tmp_path / "out"
    proc = run_medai("run", "course/02_fibrosis/01_dicom_and_images.ipynb", "--quick", "-p", "DATA_DIR", str(tree),
                     "--out", str(out), "--timeout", "600")
    result = json.loads((out / "summary.json").read_text())["results"][0]
    assert result["status"] == "ok", f"{result.get('error')}\n{proc.stdout[-2000:]}"
    assert result["metrics"]["n_images"] == 16  # 8 patients x 2 visits; the two bad files left out
    assert result["metrics"]["prevalence"] is None and result["metrics"]["oracle_auc"] is None
    executed = nbformat.read(next(out.rglob("01_dicom_and_images.ipynb")), as_version=4)
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "skipped 2 of 18 DICOM files" in text and "cut_short.dcm" in text
    assert "16 images of 8 patients; no labels" in text and "nan%" not in text
    assert "unknown (no true severity outside the synthetic data)" in text
