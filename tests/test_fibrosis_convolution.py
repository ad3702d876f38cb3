"""Convolution, first-layer feature maps and receptive fields of the fibrosis networks (notebook 2.2)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from scipy import ndimage

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis import make_fibrosis_cohort, make_model
from medai_lib.fibrosis.convolution import (
    EXAMPLE_FILTERS,
    convolve_image,
    first_layer,
    plot_example_filters,
    plot_first_layer,
    receptive_field,
)
from medai_lib.fibrosis.models import preprocess_images


def test_convolve_image_is_the_cross_correlation_of_scipy():
    image = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    for kernel in EXAMPLE_FILTERS.values():
        expected = ndimage.correlate(image, kernel, mode="constant", cval=0.0)
        np.testing.assert_allclose(convolve_image(image, kernel), expected, atol=1e-5)


def test_edge_filters_find_the_diaphragm_and_the_heart_border():
    # On a radiograph the diaphragm domes are horizontal edges, the heart border a vertical one: the horizontal
    # filter responds most in the lower chest, at the level of the domes, more than the vertical filter there.
    image = make_fibrosis_cohort(1, n_visits=1, image_size=128, random_state=0).images[0]
    horizontal = np.abs(convolve_image(image, EXAMPLE_FILTERS["horizontal edges (e.g. the diaphragm)"]))
    vertical = np.abs(convolve_image(image, EXAMPLE_FILTERS["vertical edges (e.g. the heart border)"]))
    inner = (slice(12, 116), slice(24, 104))  # away from the burned-in letter and the image border
    rows = horizontal[inner].mean(axis=1)
    assert 0.45 * 104 < int(np.argmax(rows)) < 104  # strongest horizontal edges in the lower chest
    assert horizontal[inner].sum() > 0 and vertical[inner].sum() > 0


def test_first_layer_maps_equal_the_layer_weights_applied_to_the_preprocessed_image():
    model = make_model("small", random_state=3)
    image = np.random.default_rng(1).random((96, 96)).astype(np.float32)
    layer = first_layer(model, image, image_size=64)
    weight = model.features[0].weight.detach()
    assert layer.name == "features.0"
    np.testing.assert_array_equal(layer.filters, weight[:, 0].numpy())
    x = preprocess_images(image[None], image_size=64)[0, 0]
    np.testing.assert_allclose(layer.image, x)
    for i in range(len(layer.filters)):
        expected = ndimage.correlate(x, layer.filters[i], mode="constant", cval=0.0)
        np.testing.assert_allclose(layer.feature_maps[i], expected, atol=1e-4)


def test_first_layer_of_densenet121_is_its_7x7_stem():
    layer = first_layer(make_model("densenet121"), np.zeros((64, 64), np.float32), image_size=64)
    assert layer.filters.shape == (64, 7, 7)
    assert layer.feature_maps.shape == (64, 32, 32)  # stride 2


def _empirical_receptive_field(model, size=64):
    """Width, in input pixels, of the patch that can change the centre unit of the last layer (by probing)."""
    model = model.eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.abs_()  # positive weights: a bright spike always passes ReLU and max-pooling
        base = model.features(torch.zeros(1, 1, size, size))
        centre = (base.shape[-2] // 2, base.shape[-1] // 2)
        touched = []
        for col in range(size):
            x = torch.zeros(1, 1, size, size)
            x[0, 0, size // 2, col] = 1000.0
            out = model.features(x)
            if not torch.equal(out[0, :, centre[0], centre[1]], base[0, :, centre[0], centre[1]]):
                touched.append(col)
    return max(touched) - min(touched) + 1


def test_receptive_field_matches_a_probe_of_the_network():
    table = receptive_field(make_model("small"))
    assert table["kind"].tolist() == ["convolution", "pooling"] * 3 + ["convolution"]
    assert table["receptive_field_px"].iloc[-1] == _empirical_receptive_field(make_model("small"))


def test_bad_input_is_named():
    with pytest.raises(MedaiInputError, match="kernel must be a square 2-D array of odd size"):
        convolve_image(np.zeros((4, 4)), np.zeros((2, 2)))
    with pytest.raises(MedaiInputError, match="image must be 2-D"):
        convolve_image(np.zeros((1, 4, 4)), np.zeros((3, 3)))
    with pytest.raises(MedaiInputError, match="image must be one 2-D radiograph"):
        first_layer(make_model("small"), np.zeros((2, 64, 64)))
    with pytest.raises(MedaiInputError, match="has no 2-D convolution layer"):
        first_layer(torch.nn.Linear(2, 1), np.zeros((64, 64)))


def test_figures_draw_every_panel():
    image = make_fibrosis_cohort(1, n_visits=1, image_size=64, random_state=0).images[0]
    axes = plot_example_filters(image).axes
    assert len(axes) == 1 + len(EXAMPLE_FILTERS)
    assert [len(ax.child_axes) for ax in axes] == [0] + [1] * len(EXAMPLE_FILTERS)  # the filter, inset
    fig = plot_first_layer(first_layer(make_model("small"), image), n_filters=8)
    assert len(fig.axes) == 2 * 9
