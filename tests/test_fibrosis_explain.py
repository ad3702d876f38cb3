"""Explaining fibrosis models: windowing, Grad-CAM against its textbook formula, CAM mass, occlusion, browser."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis import (
    apply_window,
    cam_mass,
    grad_cam,
    image_browser,
    lung_appearance_features,
    make_fibrosis_cohort,
    make_model,
    marker_masks,
    marker_occlusion_effect,
    plot_cam_examples,
    plot_cam_overlay,
    preprocess_images,
    site_identification_accuracy,
)

SIZE = 64


@pytest.fixture(scope="module")
def cohort():
    return make_fibrosis_cohort(12, image_size=SIZE, random_state=0)


def test_lung_window_on_the_real_ct():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    hu = apply_modality_lut(ds.pixel_array, ds)
    shown = apply_window(hu, center=-600, width=1500)
    assert shown.shape == (128, 128) and shown.min() >= 0 and shown.max() <= 1
    # Linear between the window edges, clipped outside (DICOM PS3.3 C.11.2.1.2, up to the 1-unit offset).
    inside = (hu > -1350) & (hu < 150)
    np.testing.assert_allclose(shown[inside], (hu[inside] + 1350) / 1500, atol=1e-6)
    assert (shown[hu >= 150] == 1).all()
    with pytest.raises(MedaiInputError, match="width"):
        apply_window(hu, center=40, width=0)


def _manual_grad_cam(model, x, layer):
    """Textbook Grad-CAM (Selvaraju et al. 2017): ReLU(sum_k mean(dy/dA_k) A_k), upsampled, min-max scaled."""
    acts = {}
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    model.eval()
    logit = model(x)
    handle.remove()
    a = acts["a"]
    grads = torch.autograd.grad(logit[:, 0].sum(), a)[0]
    cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    flat = cam.flatten(1)
    lo, hi = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).reshape(cam.shape)[:, 0].detach().numpy()


@pytest.mark.parametrize("layer", ["features.14", "features.10"])
def test_grad_cam_matches_the_textbook_formula(cohort, layer):
    model = make_model("small", random_state=1)
    cams = grad_cam(model, cohort.images[:4], target_layer=layer)
    assert cams.shape == (4, SIZE, SIZE) and cams.dtype == np.float32
    assert cams.min() >= 0 and cams.max() <= 1
    ref = _manual_grad_cam(model, torch.from_numpy(preprocess_images(cohort.images[:4])), layer)
    assert np.corrcoef(cams.ravel(), ref.ravel())[0, 1] > 0.99


def test_grad_cam_errors(cohort):
    with pytest.raises(MedaiInputError, match="target_layer"):
        grad_cam(make_model(), cohort.images[:2], target_layer="nope")
    with pytest.raises(MedaiInputError, match="target_layer="):
        grad_cam(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64 * 64, 1)), cohort.images[:2])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        grad_cam("model", cohort.images[:2])


def test_cam_mass_fractions_on_known_maps():
    cam = np.zeros((2, 8, 8))
    cam[0, 2:6, 2:6] = 1.0  # all in the lungs
    cam[1, :2, :2] = 3.0  # all on the marker
    cam[1, 4, 4] = 4.0  # ... and some in the lungs: 12 vs 4
    lung = np.zeros((2, 8, 8), bool)
    lung[:, 2:6, 2:6] = True
    marker = np.zeros((2, 8, 8), bool)
    marker[:, :2, :2] = True
    out = cam_mass(cam, lung, marker)
    np.testing.assert_allclose(out["lung_fraction"], [1.0, 0.25])
    np.testing.assert_allclose(out["marker_fraction"], [0.0, 0.75])
    np.testing.assert_allclose(out["other_fraction"], [0.0, 0.0], atol=1e-12)
    # Density: marker 12/4 = 3 per pixel, lungs 4/16 = 0.25 per pixel.
    assert out["marker_to_lung_density"][1] == pytest.approx(12.0)
    with pytest.raises(MedaiInputError, match="share a shape"):
        cam_mass(cam, lung[:1], marker)
    with pytest.raises(MedaiInputError, match="non-negative"):
        cam_mass(-cam, lung, marker)


def test_marker_masks_cover_the_burned_in_letters(cohort):
    masks = marker_masks(cohort.manifest, SIZE)
    assert masks.shape == cohort.images.shape
    # Ground truth: the letters are the only full-brightness pixels near the corners.
    corner_band = np.zeros((SIZE, SIZE), bool)
    for rows in (slice(0, 14), slice(SIZE - 14, SIZE)):
        for cols in (slice(0, 14), slice(SIZE - 14, SIZE)):
            corner_band[rows, cols] = True
    letters = (cohort.images >= 0.999) & corner_band
    assert letters.sum() > 0
    assert (masks[letters]).all()
    assert masks.mean() < 0.06  # a small region, not a corner quadrant
    with pytest.raises(MedaiInputError, match="'site'"):
        marker_masks(pd.DataFrame({"x": [1]}), SIZE)


class _CornerReader(torch.nn.Module):
    """A deliberately shortcut-prone model: its logit is the mean of the top-left 12x12 pixels."""

    def forward(self, x):
        return x[:, :, :12, :12].mean(dim=(1, 2, 3))[:, None] * 5


class _CentreReader(torch.nn.Module):
    def forward(self, x):
        return x[:, :, 24:40, 24:40].mean(dim=(1, 2, 3))[:, None]


def test_occlusion_flags_a_model_that_reads_the_marker(cohort):
    site_a = (cohort.manifest["site"] == "A").to_numpy()
    assert site_a.any()
    masks = marker_masks(cohort.manifest, SIZE)
    corner = marker_occlusion_effect(_CornerReader(), cohort.images, masks)
    centre = marker_occlusion_effect(_CentreReader(), cohort.images, masks)
    assert (corner[site_a] > 0.01).all() and corner[site_a].mean() > 0.05  # site A's letter sits top left: hiding it lowers the score
    # Hiding a corner barely moves a model reading the centre (only through the per-image z-score).
    assert np.abs(centre).max() < 0.02 and np.abs(centre).mean() < corner[site_a].mean() / 5


def test_overlay_draws_image_cam_and_outline(cohort):
    ax = plot_cam_overlay(cohort.images[0], np.ones((SIZE, SIZE)) * 0.5, lung_mask=cohort.lung_masks[0], title="x")
    assert len(ax.images) == 2 and ax.get_title() == "x"
    with pytest.raises(MedaiInputError, match="one shape"):
        plot_cam_overlay(cohort.images[0], np.ones((4, 4)))


def test_cam_examples_draw_each_group_with_grad_cam_and_one_colour_bar(cohort):
    model = make_model("small", random_state=0).eval()
    images = cohort.images
    captions = [f"case {i}" for i in range(len(images))]
    mask = np.zeros(len(images), bool)
    mask[[5, 7]] = True
    fig = plot_cam_examples(model, images, {"first": [0, 1, 2], "masked": mask, "empty": []},
                            captions=captions, lung_masks=cohort.lung_masks, per_group=2)
    panels, bars = fig.axes[:6], fig.axes[6:]
    assert len(bars) == 1 and "Grad-CAM" in bars[0].get_ylabel()
    # Row by row: the first per_group cases of each group, captioned, with the map grad_cam computes.
    assert [ax.get_title() for ax in panels[:4]] == ["first\ncase 0", "first\ncase 1", "masked\ncase 5",
                                                     "masked\ncase 7"]
    expected = grad_cam(model, images[[5, 7]], image_size=SIZE)
    np.testing.assert_allclose(panels[3].images[1].get_array(), expected[1], atol=1e-5)
    assert not panels[4].axison and not panels[5].axison  # the empty group
    assert "empty: none" in [t.get_text() for t in panels[4].texts]
    with pytest.raises(MedaiInputError, match="captions has 2 entries"):
        plot_cam_examples(model, images, {"a": [0]}, captions=["x", "y"])
    with pytest.raises(MedaiInputError, match=f"outside 0..{len(images) - 1}"):
        plot_cam_examples(model, images, {"a": [len(images)]})
    with pytest.raises(MedaiInputError, match="groups is empty"):
        plot_cam_examples(model, images, {})


def test_image_browser_shows_what_the_library_computes(cohort):
    preds = np.linspace(0.1, 0.9, len(cohort))
    cams = np.random.default_rng(0).random(cohort.images.shape)
    b = image_browser(cohort.images, cohort.manifest, predictions=preds, lung_masks=cohort.lung_masks, cams=cams)
    assert b.displayed["index"] == 0 and not b.displayed["show_cam"]
    b.index.value = 5
    b.center.value, b.width.value = 0.3, 0.4
    b.show_cam.value = True
    b.show_mask.value = True
    d = b.displayed
    assert d["image_id"] == cohort.manifest["image_id"].iloc[5]
    assert d["label"] == int(cohort.manifest["label"].iloc[5])
    assert d["prediction"] == pytest.approx(preds[5])
    np.testing.assert_array_equal(d["shown_pixels"], apply_window(cohort.images[5], center=0.3, width=0.4))
    assert d["show_cam"] and d["show_mask"] and "Grad-CAM" in d["caption"]
    assert b.image.value[:4] == b"\x89PNG"
    no_cam = image_browser(cohort.images, cohort.manifest)
    assert no_cam.show_cam.disabled and no_cam.displayed["prediction"] is None
    with pytest.raises(MedaiInputError, match="one probability per image"):
        image_browser(cohort.images, cohort.manifest, predictions=[0.5])
    with pytest.raises(MedaiInputError, match="one row per image"):
        image_browser(cohort.images, cohort.manifest.iloc[:3])


# ------------------------------------------------------------------------- site fingerprints in the lungs
def test_lung_appearance_features_against_direct_computation(cohort):
    f = lung_appearance_features(cohort.images, cohort.lung_masks)
    assert len(f) == len(cohort.images) and f.notna().all().all()
    for i in (0, 5):
        lung = cohort.images[i][cohort.lung_masks[i]].astype(float)
        assert f.loc[i, "lung_mean"] == pytest.approx(lung.mean())
        assert f.loc[i, "lung_sd"] == pytest.approx(lung.std())
        assert f.loc[i, "lung_q50"] == pytest.approx(np.median(lung))
    # Grain: in a checkerboard of +-e on a flat lung, a pixel's 3x3 neighbourhood holds 5 of its own sign and
    # 4 of the other (mean +-e/9), so every inner pixel differs from it by 8e/9.
    flat = np.full((1, 32, 32), 0.5)
    board = flat + 0.1 * np.where((np.indices((32, 32)).sum(0) % 2) == 0, 1, -1)[None]
    mask = np.zeros((1, 32, 32), bool)
    mask[0, 8:24, 8:24] = True
    grain = lung_appearance_features(board, mask)["grain_mean_abs"].iloc[0]
    assert grain == pytest.approx(0.1 * 8 / 9, rel=1e-6)
    assert lung_appearance_features(flat, mask)["grain_mean_abs"].iloc[0] == 0


def test_site_identification_finds_a_real_fingerprint_and_not_a_random_one():
    c = make_fibrosis_cohort(90, image_size=SIZE, n_visits=1, random_state=4)
    sites = c.manifest["site"].to_numpy()
    real = site_identification_accuracy(c.images, c.lung_masks, sites)
    assert real.n_images == 90 and real.n_sites == 3
    assert real.chance == pytest.approx(pd.Series(sites).value_counts(normalize=True).max())
    assert real.accuracy > 0.9
    # The same images with site labels shuffled: nothing to find, accuracy near chance.
    shuffled = np.random.default_rng(0).permutation(sites)
    assert site_identification_accuracy(c.images, c.lung_masks, shuffled).accuracy < real.chance + 0.2


def test_site_identification_errors(cohort):
    sites = cohort.manifest["site"].to_numpy()
    with pytest.raises(MedaiInputError, match="one entry per image"):
        site_identification_accuracy(cohort.images, cohort.lung_masks, sites[:-1])
    with pytest.raises(MedaiInputError, match="at least two sites"):
        site_identification_accuracy(cohort.images, cohort.lung_masks, np.array(["A"] * len(sites)))
    with pytest.raises(MedaiInputError, match="cv"):
        site_identification_accuracy(cohort.images, cohort.lung_masks, sites, cv=1)
    with pytest.raises(MedaiInputError, match="lung_masks"):
        site_identification_accuracy(cohort.images, None, sites)
