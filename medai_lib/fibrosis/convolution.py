"""What a convolutional network does with a radiograph: filters, feature maps and receptive fields.

Used by notebook 2.2 to show convolution on a radiograph before and after training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

#: Classic 3x3 filters a first layer often ends up resembling (Sobel edges; a Laplacian for fine texture).
EXAMPLE_FILTERS = {
    "horizontal edges (e.g. the diaphragm)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32),
    "vertical edges (e.g. the heart border)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32),
    "fine texture (lines, reticulation)": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
                                                   dtype=np.float32) / 8,
}


def _torch():
    import torch

    return torch


def convolve_image(image, kernel) -> np.ndarray:
    """Slide ``kernel`` over ``image`` as a CNN layer does (cross-correlation, zero padding, same size).

    Each output pixel is the sum of the image pixels under the kernel, each multiplied by the kernel's weight
    at that place: large where the image looks like the kernel.

    Parameters
    ----------
    image : array_like, float, shape (H, W)
    kernel : array_like, float, shape (k, k), k odd

    Returns
    -------
    numpy.ndarray, float32, shape (H, W)

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.convolution import convolve_image
    >>> step = np.zeros((5, 5)); step[3:] = 1  # dark above, bright below: a horizontal edge
    >>> convolve_image(step, [[-1, -1, -1], [0, 0, 0], [1, 1, 1]])[:4, 2].tolist()
    [0.0, 0.0, 3.0, 3.0]
    """
    torch = _torch()
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if image.ndim != 2:
        raise MedaiInputError(f"image must be 2-D (H, W); got shape {image.shape}.")
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise MedaiInputError(f"kernel must be a square 2-D array of odd size (e.g. 3 x 3); got {kernel.shape}.")
    out = torch.nn.functional.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None],
                                     padding=kernel.shape[0] // 2)
    return out[0, 0].numpy()


def _first_conv(model):
    torch = _torch()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            return name, module
    raise MedaiInputError(f"{type(model).__name__} has no 2-D convolution layer (torch.nn.Conv2d).")


@dataclass(frozen=True)
class FirstLayer:
    """The first convolution layer of a network and what it makes of one image.

    Attributes
    ----------
    name : str
        The layer's name in the model (``model.named_modules()``).
    filters : numpy.ndarray, float32, shape (n_filters, k, k)
        The learned weights of each filter (first input channel).
    feature_maps : numpy.ndarray, float32, shape (n_filters, H', W')
        The layer's output for the image (before normalisation and ReLU): one map per filter.
    image : numpy.ndarray, float32, shape (image_size, image_size)
        The image as the network sees it (preprocessed).
    """

    name: str
    filters: np.ndarray
    feature_maps: np.ndarray
    image: np.ndarray


def first_layer(model, image, *, image_size: int = 64, device="cpu") -> FirstLayer:
    """The first convolution layer's filters and its feature maps for one radiograph.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. :func:`~medai_lib.fibrosis.make_model` or a trained ``fit_fibrosis_model(...).model``.
    image : array_like, float, shape (H, W)
        A radiograph (display values); it is preprocessed as in training.
    image_size : int, default 64
    device : str or torch.device, default "cpu"

    Returns
    -------
    FirstLayer

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis import make_model
    >>> from medai_lib.fibrosis.convolution import first_layer
    >>> layer = first_layer(make_model("small"), np.random.default_rng(0).random((64, 64)))
    >>> layer.filters.shape, layer.feature_maps.shape
    ((8, 3, 3), (8, 64, 64))
    """
    torch = _torch()
    from medai_lib.device import get_device
    from medai_lib.fibrosis.models import preprocess_images

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise MedaiInputError(f"image must be one 2-D radiograph (H, W); got shape {image.shape}.")
    name, conv = _first_conv(model)
    x = preprocess_images(image[None], image_size=image_size)
    device = get_device(device)
    weight = conv.weight.detach()
    with torch.no_grad():
        maps = conv(torch.from_numpy(x).to(device=device, dtype=weight.dtype))
    return FirstLayer(name=name, filters=weight[:, 0].float().cpu().numpy(),
                      feature_maps=maps[0].float().cpu().numpy(), image=x[0, 0])


def receptive_field(model) -> pd.DataFrame:
    """Receptive field of each convolution and pooling layer, in input pixels, along the network's path.

    A unit of a layer sees a square patch of the input: ``r_l = r_{l-1} + (k_l - 1) * j_{l-1}`` with the
    jump ``j_l = j_{l-1} * s_l`` (k: kernel size, s: stride; Araujo et al., Distill 2019). Layers are
    taken in the order they are defined, which is the order data pass through them for a sequential
    network such as :class:`~medai_lib.fibrosis.SmallCNN` (for DenseNet121 it is the longest path).

    Returns
    -------
    pandas.DataFrame
        One row per layer: ``layer, kind, kernel, stride, receptive_field_px, jump_px``.

    Examples
    --------
    >>> from medai_lib.fibrosis import make_model
    >>> from medai_lib.fibrosis.convolution import receptive_field
    >>> receptive_field(make_model("small"))["receptive_field_px"].tolist()
    [3, 4, 8, 10, 18, 22, 38]
    """
    torch = _torch()
    nn = torch.nn
    rows, r, j = [], 1, 1
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            k, s, d = module.kernel_size[0], module.stride[0], module.dilation[0]
            kind = "convolution"
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s, d = module.kernel_size, module.stride, getattr(module, "dilation", 1)
            k, s, d = (v[0] if isinstance(v, tuple) else v for v in (k, s, d))
            kind = "pooling"
        else:
            continue
        r = r + d * (k - 1) * j
        j = j * s
        rows.append({"layer": name, "kind": kind, "kernel": k, "stride": s, "receptive_field_px": r,
                     "jump_px": j})
    if not rows:
        raise MedaiInputError(f"{type(model).__name__} has no convolution or pooling layer.")
    return pd.DataFrame(rows)


def plot_example_filters(image, *, filters=None, axes=None):
    """A radiograph and its response to a few hand-made 3x3 filters (what one convolution does).

    Parameters
    ----------
    image : array_like, float, shape (H, W)
    filters : dict of name -> array (k, k), default :data:`EXAMPLE_FILTERS`
    axes : sequence of matplotlib Axes, optional
        ``1 + len(filters)`` axes.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from medai_lib.fibrosis.convolution import plot_example_filters
    >>> len(plot_example_filters(np.zeros((16, 16))).axes)
    4
    """
    import matplotlib.pyplot as plt

    filters = EXAMPLE_FILTERS if filters is None else filters
    image = np.asarray(image, dtype=np.float32)
    if axes is None:
        fig, axes = plt.subplots(1, 1 + len(filters), figsize=(3 * (1 + len(filters)), 3.3))
    fig = axes[0].figure
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("radiograph", fontsize="small")
    for ax, (name, kernel) in zip(axes[1:], filters.items()):
        response = convolve_image(image, kernel)
        limit = float(np.percentile(np.abs(response), 99)) or 1.0
        ax.imshow(response, cmap="gray", vmin=-limit, vmax=limit)
        ax.set_title(name, fontsize="small")
        inset = ax.inset_axes([0.0, 0.0, 0.24, 0.24])
        inset.imshow(kernel, cmap="PuOr_r", vmin=-np.abs(kernel).max(), vmax=np.abs(kernel).max())
        inset.set_xticks([])
        inset.set_yticks([])
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_first_layer(layer: FirstLayer, *, n_filters: int = 8):
    """The first layer's filters (top row, 3x3 weights) and their feature maps on one image (bottom row).

    Filters are drawn with a diverging palette (orange: positive weight, purple: negative); feature maps
    in grey (bright: the image looks like the filter there).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from medai_lib.fibrosis import make_model
    >>> from medai_lib.fibrosis.convolution import first_layer, plot_first_layer
    >>> fig = plot_first_layer(first_layer(make_model("small"), np.zeros((64, 64))), n_filters=4)
    >>> len(fig.axes)
    10
    """
    import matplotlib.pyplot as plt

    n = min(int(n_filters), len(layer.filters))
    fig, axes = plt.subplots(2, n + 1, figsize=(1.6 * (n + 1), 3.6), squeeze=False)
    axes[0, 0].imshow(layer.image, cmap="gray")
    axes[0, 0].set_title("input", fontsize="small")
    axes[1, 0].axis("off")
    for i in range(n):
        w = layer.filters[i]
        limit = float(np.abs(w).max()) or 1.0
        axes[0, i + 1].imshow(w, cmap="PuOr_r", vmin=-limit, vmax=limit)
        axes[0, i + 1].set_title(f"filter {i + 1}", fontsize="small")
        axes[1, i + 1].imshow(layer.feature_maps[i], cmap="gray")
        axes[1, i + 1].set_title(f"map {i + 1}", fontsize="small")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
