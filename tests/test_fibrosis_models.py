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
    standardise_lungs,
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


# ----------------------------------------------------------------------- harmonising the lungs across sites
@pytest.fixture(scope="module")
def sites_cohort():
    """Sites independent of disease (the external-validation design): the site is all a classifier can learn
    from the site fingerprint, not the disease."""
    return make_fibrosis_cohort(180, image_size=SIZE, n_visits=1, site_shortcut=0.0, random_state=11)


def _reference_site_accuracy(images, masks, sites):
    """Independent reference: can a plain logistic regression tell the site from the lung pixels alone?

    Features: a 16-bin histogram of the lung pixels on a fixed range per image set, and the spread of the
    difference between each lung pixel and its four neighbours (grain and sharpening)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    inside = np.concatenate([im[m] for im, m in zip(images, masks)])
    edges = np.quantile(inside, np.linspace(0, 1, 17))
    edges[0], edges[-1] = -np.inf, np.inf
    rows = []
    for im, m in zip(images.astype(np.float64), masks):
        hist = np.histogram(im[m], edges)[0] / m.sum()
        neigh = (np.roll(im, 1, 0) + np.roll(im, -1, 0) + np.roll(im, 1, 1) + np.roll(im, -1, 1)) / 4
        inner = m & np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1)
        diff = (im - neigh)[inner]
        rows.append([*hist, diff.std(), np.abs(diff).mean(), np.percentile(np.abs(diff), 90)])
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_score(clf, np.array(rows), sites, cv=folds).mean()


def test_standardised_lungs_have_mean_0_sd_1_and_nothing_outside(sites_cohort):
    c = sites_cohort
    for method in ("rank", "zscore"):
        out = standardise_lungs(c.images, c.lung_masks, method=method)
        assert out.shape == c.images.shape and out.dtype == np.float32
        for im, m in zip(out[:20], c.lung_masks[:20]):
            assert abs(im[m].mean()) < 1e-5 and abs(im[m].std() - 1) < 1e-4
        # Two pixels beyond the lungs and further: 0, the burned-in letter included.
        from scipy.ndimage import binary_dilation

        kept = binary_dilation(c.lung_masks, np.ones((1, 3, 3), bool), iterations=2)
        assert (out[~kept] == 0).all()
        assert (c.images[~kept] >= 0.999).any()


def test_rank_standardisation_matches_normal_scores_of_the_ranks(sites_cohort):
    from scipy.stats import norm, rankdata

    c = sites_cohort
    out = standardise_lungs(c.images[:5], c.lung_masks[:5], smoothing=0)
    for im, m, o in zip(c.images[:5], c.lung_masks[:5], out):
        scores = norm.ppf((rankdata(im[m]) - 0.5) / m.sum())  # average ranks for ties
        np.testing.assert_allclose(o[m], (scores - scores.mean()) / scores.std(), atol=1e-4)
    z = standardise_lungs(c.images[:5], c.lung_masks[:5], method="zscore", smoothing=0)
    for im, m, o in zip(c.images[:5], c.lung_masks[:5], z):
        np.testing.assert_allclose(o[m], (im[m] - im[m].mean()) / im[m].std(), atol=1e-4)


def test_standardisation_removes_exposure_contrast_and_processing_curve(sites_cohort):
    images, masks = sites_cohort.images[:6], sites_cohort.lung_masks[:6]
    # The changes are computed in float64. In float32 two lung pixels one or two units in the last place
    # apart (image 5 has such a pair) can merge or swap under rounding, and whether they do depends on the
    # CPU's vector maths (AVX-512's power differs from AVX2's): the ranks would then legitimately differ.
    exact = images.astype(np.float64)
    brighter = 0.1 + 0.8 * exact  # exposure and contrast
    curved = exact ** 0.7  # another processing curve (gamma)
    for changed in (brighter, curved):  # precondition: both changes keep every lung pixel's order and ties
        for i in range(len(images)):
            before, after = exact[i][masks[i]], changed[i][masks[i]]
            order = np.argsort(before, kind="stable")
            assert np.array_equal(np.diff(before[order]) > 0, np.diff(after[order]) > 0)
    rank = standardise_lungs(images, masks, smoothing=0)
    np.testing.assert_allclose(standardise_lungs(brighter, masks, smoothing=0), rank, atol=1e-5)
    np.testing.assert_allclose(standardise_lungs(curved, masks, smoothing=0), rank, atol=1e-5)
    z = standardise_lungs(images, masks, method="zscore", smoothing=0)
    np.testing.assert_allclose(standardise_lungs(brighter, masks, method="zscore", smoothing=0), z, atol=1e-4)
    # The z-score removes brightness and contrast, not the shape of the processing curve.
    assert np.abs(standardise_lungs(curved, masks, method="zscore", smoothing=0) - z)[masks].max() > 0.05


def test_harmonised_lungs_no_longer_identify_the_site(sites_cohort):
    c = sites_cohort
    sites = c.manifest["site"].to_numpy()
    chance = pd.Series(sites).value_counts(normalize=True).max()
    masked = _reference_site_accuracy(mask_outside_lungs(c.images, c.lung_masks), c.lung_masks, sites)
    zscore = standardise_lungs(c.images, c.lung_masks, method="zscore", smoothing=0)
    zscored = _reference_site_accuracy(zscore, c.lung_masks, sites)
    harmonised = _reference_site_accuracy(standardise_lungs(c.images, c.lung_masks), c.lung_masks, sites)
    # Masking leaves the site fingerprint in the lungs (about 98% here, chance 36%); the grey-level z-score
    # alone leaves grain and sharpening (about 90%); smoothing and equalising take the site most of the way
    # down to chance (about 50%).
    assert masked > 0.9
    assert zscored > 0.75
    assert harmonised < chance + 0.25 and harmonised < zscored - 0.3


def test_standardise_lungs_errors(sites_cohort):
    images, masks = sites_cohort.images[:3], sites_cohort.lung_masks[:3]
    with pytest.raises(MedaiInputError, match="lung_masks is None"):
        standardise_lungs(images, None)
    with pytest.raises(MedaiInputError, match="shape of images"):
        standardise_lungs(images, masks[:2])
    with pytest.raises(MedaiInputError, match="boolean"):
        standardise_lungs(images, masks * 2.5)
    with pytest.raises(MedaiInputError, match="method"):
        standardise_lungs(images, masks, method="minmax")
    with pytest.raises(MedaiInputError, match="smoothing"):
        standardise_lungs(images, masks, smoothing=2)
    with pytest.raises(MedaiInputError, match="margin"):
        standardise_lungs(images, masks, margin=-1)
    with pytest.raises(MedaiInputError, match="margin"):
        mask_outside_lungs(images, masks, margin=1.5)
    empty = masks.copy()
    empty[1] = False
    with pytest.raises(MedaiInputError, match="image 1 has 0 lung pixels"):
        standardise_lungs(images, empty)
    with pytest.raises(MedaiInputError, match="floating-point"):
        standardise_lungs((images * 255).astype(np.uint8), masks)
    # A uniform lung carries no information: zeros, not NaN.
    flat = standardise_lungs(np.full_like(images, 0.4), masks)
    assert np.isfinite(flat).all() and (flat == 0).all()


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
