"""Fibrosis image models: MONAI preprocessing, augmentation, patient-level splits, training, shortcut fixes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from medai_lib.errors import DeviceNotAvailableError, MedaiInputError
from medai_lib.fibrosis import (
    fit_fibrosis_model,
    image_split,
    lung_histogram_features,
    make_augmentation,
    make_fibrosis_cohort,
    make_model,
    mask_outside_lungs,
    patient_split,
    predict_fibrosis,
    preprocess_images,
    rebalance_sites,
)

SIZE = 64


@pytest.fixture(scope="module")
def cohort():
    return make_fibrosis_cohort(260, image_size=SIZE, random_state=3)


@pytest.fixture(scope="module")
def trained(cohort):
    split = patient_split(cohort.manifest, test_size=0.3, val_size=0.2, random_state=0)
    res = fit_fibrosis_model(cohort.images, cohort.manifest, split, epochs=10, device="cpu", random_state=0)
    return split, res


# ------------------------------------------------------------------------------------------ preprocessing
def test_preprocess_resizes_by_area_and_standardises_each_image():
    rng = np.random.default_rng(0)
    images = rng.random((3, 64, 64)).astype("float32")
    out = preprocess_images(images, image_size=32)
    assert out.shape == (3, 1, 32, 32) and out.dtype == np.float32
    # Reference: 2x2 block means (area resampling), then z-score per image.
    blocks = images.reshape(3, 32, 2, 32, 2).mean(axis=(2, 4))
    ref = (blocks - blocks.mean(axis=(1, 2), keepdims=True)) / blocks.std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out[:, 0], ref, atol=2e-3)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((2, 64, 64), np.uint8), "floating-point"),
        (np.zeros((2, 3, 64, 64), np.float32), "shape"),
        (np.zeros((64, 64), np.float32), r"image\[None\]"),
        (np.full((1, 64, 64), np.nan, np.float32), "NaN"),
    ],
)
def test_preprocess_rejects_bad_images(images, match):
    with pytest.raises(MedaiInputError, match=match):
        preprocess_images(images)


def test_preprocess_rejects_a_list():
    with pytest.raises(TypeError, match="numpy array"):
        preprocess_images([[0.0]])


# ------------------------------------------------------------------------------------------- augmentation
def test_augmentation_is_seeded_and_identity_at_zero_strength():
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(4, 1, 32, 32)).astype("float32"))
    a1 = make_augmentation(random_state=5)(x)
    a2 = make_augmentation(random_state=5)(x)
    assert a1.shape == x.shape
    assert torch.equal(a1, a2)
    assert not torch.allclose(a1, make_augmentation(random_state=6)(x))
    none = make_augmentation(max_rotation_deg=0, max_shift=0, max_zoom=0, intensity=0)
    torch.testing.assert_close(none(x), x, atol=1e-5, rtol=0)


def test_augmentation_rejects_bad_strength_and_input():
    with pytest.raises(MedaiInputError, match="max_rotation_deg"):
        make_augmentation(max_rotation_deg=90)
    with pytest.raises(MedaiInputError, match="shape"):
        make_augmentation()(torch.zeros(32, 32))


# ------------------------------------------------------------------------------------------------ splits
def test_patient_split_keeps_patients_together_and_image_split_does_not(cohort):
    m = cohort.manifest
    split = patient_split(m, test_size=0.3, val_size=0.2, random_state=0)
    assert (split.groupby(m["patient_id"]).nunique() == 1).all()
    shares = split.groupby(m["patient_id"]).first().value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.3, abs=0.01) and shares["val"] == pytest.approx(0.2, abs=0.01)
    assert split.equals(patient_split(m, test_size=0.3, val_size=0.2, random_state=0))
    wrong = image_split(m, test_size=0.3, val_size=0.2, random_state=0)
    assert (wrong.groupby(m["patient_id"]).nunique() > 1).sum() > 50


def test_split_errors_name_the_argument():
    with pytest.raises(MedaiInputError, match="patient_id"):
        patient_split(pd.DataFrame({"id": [1, 2]}))
    with pytest.raises(MedaiInputError, match="test_size \\+ val_size"):
        patient_split(pd.DataFrame({"patient_id": [1, 2]}), test_size=0.6, val_size=0.5)


# ---------------------------------------------------------------------------------------------- training
def test_small_cnn_beats_the_histogram_baseline_on_held_out_patients(cohort, trained):
    split, res = trained
    m = cohort.manifest
    test = (split == "test").to_numpy()
    y = m["label"].to_numpy()
    scores = predict_fibrosis(res.model, cohort.images[test], device="cpu")
    assert scores.shape == (test.sum(),) and ((scores >= 0) & (scores <= 1)).all()
    cnn_auc = roc_auc_score(y[test], scores)
    feats = lung_histogram_features(cohort.images, cohort.lung_masks)
    base = LogisticRegression(max_iter=2000).fit(feats[~test], y[~test])
    base_auc = roc_auc_score(y[test], base.predict_proba(feats[test])[:, 1])
    oracle_auc = roc_auc_score(y[test], m["severity"][test])
    assert base_auc + 0.05 < cnn_auc < oracle_auc + 0.02
    assert cnn_auc > 0.72
    assert res.history["val_auc"].notna().all()


def test_training_is_deterministic_on_cpu(cohort):
    m = cohort.manifest.iloc[:120]
    split = patient_split(m, random_state=1)
    preds = [predict_fibrosis(fit_fibrosis_model(cohort.images[:120], m, split, epochs=2, device="cpu",
                                                 random_state=7).model, cohort.images[:20], device="cpu")
             for _ in range(2)]
    np.testing.assert_array_equal(preds[0], preds[1])


def test_densenet121_takes_a_radiograph_batch():
    model = make_model("densenet121")
    assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 1)


def test_training_errors(cohort):
    m = cohort.manifest.iloc[:40].copy()
    images = cohort.images[:40]
    split = patient_split(m)
    unlabelled = m.assign(label=np.nan)
    with pytest.raises(MedaiInputError, match="without a label"):
        fit_fibrosis_model(images, unlabelled, split, epochs=1, device="cpu")
    with pytest.raises(MedaiInputError, match="one row per image"):
        fit_fibrosis_model(images[:10], m, split, epochs=1, device="cpu")
    with pytest.raises(MedaiInputError, match="patient_split"):
        fit_fibrosis_model(images, m, pd.Series(["train"] * 40), epochs=1, device="cpu")
    with pytest.raises(MedaiInputError, match="kind"):
        make_model("resnet")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceNotAvailableError, match="DEVICE = 'auto'"):
            fit_fibrosis_model(images, m, split, epochs=1, device="cuda")


# -------------------------------------------------------------------------------------- shortcut fixes
def test_mask_outside_lungs_removes_the_site_marker(cohort):
    masked = mask_outside_lungs(cohort.images, cohort.lung_masks)
    assert masked.shape == cohort.images.shape
    # The marker is burned in at full brightness in a corner: none of its pixels survive.
    corners = np.s_[:, :12, :12], np.s_[:, :12, -12:], np.s_[:, -12:, -12:]
    assert min((cohort.images[c] >= 0.999).sum() for c in corners) > 0
    assert all(((cohort.images[c] >= 0.999) & (masked[c] != 0)).sum() == 0 for c in corners)
    inside = cohort.lung_masks
    np.testing.assert_array_equal(masked[inside], cohort.images[inside])
    with pytest.raises(MedaiInputError, match="lung_masks"):
        mask_outside_lungs(cohort.images, None)


def test_rebalance_sites_equalises_prevalence_across_sites():
    m = make_fibrosis_cohort(150, image_size=32, site_shortcut=0.9, random_state=0).manifest
    before = m.groupby("site")["label"].mean()
    assert before.max() - before.min() > 0.3
    idx = rebalance_sites(m, random_state=0)
    after = m.iloc[idx].groupby("site")["label"].mean()
    assert after.max() - after.min() < 0.03
    assert len(np.unique(idx)) == len(idx)
    over = rebalance_sites(m, method="oversample", random_state=0)
    after = m.iloc[over].groupby("site")["label"].mean()
    assert after.max() - after.min() < 0.03
    assert set(range(len(m))) <= set(over)  # every image kept, some repeated
    with pytest.raises(MedaiInputError, match="method"):
        rebalance_sites(m, method="smote")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_augmentation_and_prediction_run_on_cuda(cohort):
    x = torch.from_numpy(preprocess_images(cohort.images[:8])).to("cuda")
    out = make_augmentation(random_state=0)(x)
    assert out.device.type == "cuda" and out.shape == x.shape
    cpu = make_augmentation(random_state=0)(x.cpu())
    assert cpu.shape == out.shape
    model = make_model("small")
    scores = predict_fibrosis(model, cohort.images[:8], device="cuda")
    assert scores.shape == (8,) and np.isfinite(scores).all()
