"""Explaining fibrosis models: MONAI Grad-CAM maps, overlays, and where the Grad-CAM mass falls.

:func:`cam_mass` measures the share of each map inside the lungs and on the burned-in site marker: a model
that looks at the marker instead of the lungs has learned a shortcut.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis.models import check_images, default_target_layer, preprocess_images

logger = logging.getLogger(__name__)

__all__ = ["grad_cam", "marker_masks", "cam_mass", "marker_occlusion_effect", "plot_cam_overlay",
           "plot_cam_examples",
           "apply_window", "SiteIdentification", "lung_appearance_features", "site_identification_accuracy"]


def apply_window(values, *, center: float, width: float) -> np.ndarray:
    """Linear window/level: map ``center - width/2 .. center + width/2`` to 0..1, clipping outside.

    Works on any scale: Hounsfield units of a CT (lung window: center -600, width 1500) or the 0..1 display
    values of a radiograph.

    Parameters
    ----------
    values : array_like, float
    center, width : float
        Window level and width, in the units of ``values``; ``width`` > 0.

    Returns
    -------
    numpy.ndarray, float32, same shape as ``values``, in [0, 1]

    Examples
    --------
    >>> from medai_lib.fibrosis.explain import apply_window
    >>> apply_window([-1000, -600, 400], center=-600, width=800).tolist()
    [0.0, 0.5, 1.0]
    """
    if not np.isfinite(width) or width <= 0:
        raise MedaiInputError(f"width must be a positive number (the window width); got {width!r}.")
    values = np.asarray(values, dtype=np.float64)
    return np.clip((values - (center - width / 2)) / width, 0, 1).astype(np.float32)


def _scale_each(maps):
    flat = maps.flatten(1)
    low = flat.min(dim=1, keepdim=True)[0]
    span = (flat.max(dim=1, keepdim=True)[0] - low).clamp_min(1e-12)
    return ((flat - low) / span).reshape(maps.shape)


def grad_cam(model, images, *, image_size: int = 64, target_layer: str | None = None, device="cpu",
             batch_size: int = 32) -> np.ndarray:
    """Grad-CAM maps (MONAI's ``GradCAM``) of a fibrosis model, at the size of the input images.

    Parameters
    ----------
    model : torch.nn.Module
        A trained one-logit model (e.g. ``fit_fibrosis_model(...).model``).
    images : numpy.ndarray, float, shape (n_images, H, W)
        Display values; preprocessed as in training.
    image_size : int, default 64
        The size the model was trained at.
    target_layer : str, optional
        Module name of the convolutional layer to explain; default: the last features of the course networks.
    device : str or torch.device, default "cpu"
    batch_size : int, default 32

    Returns
    -------
    numpy.ndarray, float32, shape (n_images, H, W)
        Each map scaled to [0, 1] (1: the region that most raised the fibrosis score).

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.explain import grad_cam
    >>> from medai_lib.fibrosis.models import make_model
    >>> grad_cam(make_model(), np.random.default_rng(0).random((2, 64, 64)).astype("float32")).shape
    (2, 64, 64)
    """
    import torch
    from monai.visualize import GradCAM

    from medai_lib.device import get_device

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    images = check_images(images)
    layer = target_layer or default_target_layer(model)
    names = dict(model.named_modules())
    if layer not in names:
        raise MedaiInputError(f"target_layer {layer!r} is not a module of the model; choose one of "
                              f"{[n for n in names if n][-5:]} (last five shown).")
    device = get_device(device)
    x = preprocess_images(images, image_size=image_size)
    was_training = model.training
    model = model.to(device).eval()
    # MONAI's default post-processing maps (min, max) to (1, 0), flipping the map; scale to (0, 1) instead.
    cam = GradCAM(nn_module=model, target_layers=layer, postprocessing=_scale_each)
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[start:start + batch_size]).to(device)
        maps = cam(xb, class_idx=0)
        out.append(maps.detach().float())
    maps = torch.cat(out)
    height, width = images.shape[1:]
    if maps.shape[-2:] != (height, width):
        maps = torch.nn.functional.interpolate(maps, size=(height, width), mode="bilinear", align_corners=False)
    model.train(was_training)
    return maps[:, 0].clamp(0, 1).cpu().numpy().astype(np.float32)


def marker_masks(manifest: pd.DataFrame, image_size: int, *, margin: int | None = None) -> np.ndarray:
    """Where each image's burned-in site marker is: its bounding box, widened by ``margin`` pixels.

    Uses the site corners of the synthetic cohort (sites A to C have fixed corners); images from other
    sites get all four corners.

    Parameters
    ----------
    manifest : pandas.DataFrame with a ``site`` column, one row per image
    image_size : int
        Width and height of the images.
    margin : int, optional
        Default ``image_size // 16``.

    Returns
    -------
    numpy.ndarray, bool, shape (n_images, image_size, image_size)

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.fibrosis.explain import marker_masks
    >>> m = marker_masks(pd.DataFrame({"site": ["A"]}), 64)
    >>> bool(m[0, 4, 4]), bool(m[0, 60, 60])
    (True, False)
    """
    from medai_lib.fibrosis.cohort import SITE_PROFILES, burn_in_marker

    if not isinstance(manifest, pd.DataFrame) or "site" not in manifest.columns:
        raise MedaiInputError("manifest must be a DataFrame with a 'site' column (cohort.manifest).")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 32:
        raise MedaiInputError(f"image_size must be an integer of at least 32; got {image_size!r}.")
    margin = image_size // 16 if margin is None else int(margin)
    corners = {p["name"]: [p["corner"]] for p in SITE_PROFILES}
    every = ["top_left", "top_right", "bottom_right", "bottom_left"]
    boxes = {}
    for corner in every:
        glyph = burn_in_marker(np.zeros((image_size, image_size), np.float32), "H", corner) > 0
        rows, cols = np.nonzero(glyph)
        box = np.zeros((image_size, image_size), bool)
        box[max(rows.min() - margin, 0):rows.max() + margin + 1, max(cols.min() - margin, 0):cols.max() + margin + 1] = True
        boxes[corner] = box
    out = np.zeros((len(manifest), image_size, image_size), bool)
    for i, site in enumerate(manifest["site"].astype(str)):
        for corner in corners.get(site, every):
            out[i] |= boxes[corner]
    return out


def cam_mass(cams, lung_masks, marker_masks) -> pd.DataFrame:
    """Share of each Grad-CAM map's total mass inside the lungs and on the site marker.

    Parameters
    ----------
    cams : numpy.ndarray, float, shape (n_images, H, W), non-negative (from :func:`grad_cam`)
    lung_masks : numpy.ndarray, bool, shape (n_images, H, W)
    marker_masks : numpy.ndarray, bool, shape (n_images, H, W) (from :func:`marker_masks`)

    Returns
    -------
    pandas.DataFrame, one row per image
        ``lung_fraction``, ``marker_fraction``, ``other_fraction`` (each from 0 to 1, summing to 1 when the
        regions do not overlap), and ``marker_to_lung_density``: the mean map value per pixel on the marker
        over that in the lungs (above 1: the model looks harder at the marker than at the lungs).

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.explain import cam_mass
    >>> cam = np.zeros((1, 4, 4)); cam[0, :2] = 1.0
    >>> lung = np.zeros((1, 4, 4), bool); lung[0, :2] = True
    >>> cam_mass(cam, lung, ~lung)["lung_fraction"].tolist()
    [1.0]
    """
    cams = np.asarray(cams, dtype=np.float64)
    lung_masks = np.asarray(lung_masks, dtype=bool)
    marker_masks = np.asarray(marker_masks, dtype=bool)
    if cams.ndim != 3 or cams.shape != lung_masks.shape or cams.shape != marker_masks.shape:
        raise MedaiInputError(
            f"cams, lung_masks and marker_masks must share a shape (n_images, H, W); got {cams.shape}, "
            f"{lung_masks.shape} and {marker_masks.shape}."
        )
    if (cams < 0).any() or not np.isfinite(cams).all():
        raise MedaiInputError("cams must be finite and non-negative (Grad-CAM maps from grad_cam).")
    total = cams.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1.0)
    lung = (cams * lung_masks).sum(axis=(1, 2)) / safe
    marker = (cams * marker_masks).sum(axis=(1, 2)) / safe
    lung_density = (cams * lung_masks).sum(axis=(1, 2)) / np.maximum(lung_masks.sum(axis=(1, 2)), 1)
    marker_density = (cams * marker_masks).sum(axis=(1, 2)) / np.maximum(marker_masks.sum(axis=(1, 2)), 1)
    empty = total == 0
    frame = pd.DataFrame({
        "lung_fraction": np.where(empty, np.nan, lung),
        "marker_fraction": np.where(empty, np.nan, marker),
        "other_fraction": np.where(empty, np.nan, 1 - lung - marker),
        "marker_to_lung_density": np.where(empty | (lung_density == 0), np.nan,
                                           marker_density / np.where(lung_density > 0, lung_density, 1)),
    })
    return frame


def plot_cam_overlay(image, cam, *, lung_mask=None, ax=None, alpha: float = 0.45, title: str | None = None):
    """A radiograph in grey with its Grad-CAM map over it (colour-blind-safe ``magma``), lung outline dashed.

    Parameters
    ----------
    image : numpy.ndarray, float, shape (H, W)
    cam : numpy.ndarray, float, shape (H, W), in [0, 1]
    lung_mask : numpy.ndarray, bool, shape (H, W), optional
    ax : matplotlib Axes, optional
    alpha : float, default 0.45
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from medai_lib.fibrosis.explain import plot_cam_overlay
    >>> ax = plot_cam_overlay(np.zeros((8, 8)), np.ones((8, 8)))
    """
    import matplotlib.pyplot as plt

    image = np.asarray(image, dtype=float)
    cam = np.asarray(cam, dtype=float)
    if image.ndim != 2 or cam.shape != image.shape:
        raise MedaiInputError(f"image and cam must be 2-D arrays of one shape; got {image.shape} and {cam.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.imshow(cam, cmap="magma", vmin=0, vmax=1, alpha=alpha)
    if lung_mask is not None:
        ax.contour(np.asarray(lung_mask, float), levels=[0.5], colors=["#56B4E9"], linewidths=1, linestyles="--")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small")
    return ax


#: The colour-bar label of Grad-CAM figures: what the brightness means, in words.
CAM_LABEL = "Grad-CAM: 0 = no influence, 1 = pushed the fibrosis score up most"


def plot_cam_examples(model, images, groups, *, captions=None, lung_masks=None, per_group: int = 4,
                      image_size: int = 64, device="cpu", title: str | None = None):
    """Grad-CAM overlays of example cases, one row per group (e.g. true positives, false positives, missed
    cases), with one shared colour bar.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model (as for :func:`grad_cam`).
    images : numpy.ndarray, float, shape (n_images, H, W)
    groups : mapping of str to array of int or bool
        Row label to the cases of that row: indices into ``images`` or a boolean mask; the first
        ``per_group`` are drawn (a group with none leaves an empty row).
    captions : sequence of str, optional
        One per image (indexed like ``images``), written under the row label, e.g. the predicted
        probability and the true severity.
    lung_masks : numpy.ndarray, bool, shape (n_images, H, W), optional
        Drawn as a dashed outline.
    per_group : int, default 4
    image_size : int, default 64
        The size the model was trained at.
    device : str or torch.device, default "cpu"
    title : str, optional
        Figure title; by default a key to the colours and the outline.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from medai_lib.fibrosis import make_model
    >>> images = np.random.default_rng(0).random((3, 64, 64)).astype("float32")
    >>> fig = plot_cam_examples(make_model(), images, {"flagged": [0, 1], "not flagged": [2]}, per_group=2)
    >>> len(fig.axes)  # 2 x 2 panels and the colour bar
    5
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    images = check_images(images, name="images")
    if images.ndim == 4:  # (n, 1, H, W)
        images = images[:, 0]
    if not groups:
        raise MedaiInputError("groups is empty: give at least one row, e.g. {'true positive': indices}.")
    if per_group < 1:
        raise MedaiInputError(f"per_group must be at least 1; got {per_group!r}.")
    if captions is not None and len(captions) != len(images):
        raise MedaiInputError(f"captions has {len(captions)} entries for {len(images)} images: give one per "
                              "image.")
    if lung_masks is not None and np.shape(lung_masks) != images.shape:
        raise MedaiInputError(f"lung_masks has shape {np.shape(lung_masks)}; it must match images "
                              f"{images.shape}.")
    chosen = {}
    for name, which in groups.items():
        which = np.asarray(which)
        index = np.flatnonzero(which) if which.dtype == bool else which.astype(int).ravel()
        if which.dtype == bool and len(which) != len(images):
            raise MedaiInputError(f"the mask of group {name!r} has {len(which)} entries for {len(images)} "
                                  "images: give one per image.")
        if index.size and (index.min() < 0 or index.max() >= len(images)):
            raise MedaiInputError(f"group {name!r} holds indices outside 0..{len(images) - 1}.")
        chosen[name] = index[:per_group]
    fig, axes = plt.subplots(len(chosen), per_group, figsize=(2.5 * per_group + 0.8, 2.6 * len(chosen)),
                             squeeze=False, layout="constrained")
    for row, (name, index) in zip(axes, chosen.items()):
        cams = grad_cam(model, images[index], image_size=image_size, device=device) if len(index) else []
        for ax, i, cam in zip(row, index, cams):
            caption = name if captions is None else f"{name}\n{captions[i]}"
            plot_cam_overlay(images[i], cam, lung_mask=None if lung_masks is None else lung_masks[i], ax=ax,
                             title=caption)
        for ax in row[len(index):]:
            ax.axis("off")
        if not len(index):
            row[0].text(0.0, 0.5, f"{name}: none", transform=row[0].transAxes, fontsize="small")
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap="magma"), ax=axes, shrink=0.8)
    bar.set_label(CAM_LABEL, fontsize="small")
    fig.suptitle(title or "Grad-CAM over each radiograph (dashed line: lung outline)")
    return fig


def marker_occlusion_effect(model, images, markers, *, image_size: int = 64, device="cpu") -> np.ndarray:
    """Change of the predicted probability when the site-marker region is blanked out (occlusion test).

    The marker region is filled with its median (the local background, the letter being thin); a model that relies on the
    marker changes its score, a model that reads the lungs does not. Sharper than Grad-CAM for small
    regions on coarse feature maps.

    Parameters
    ----------
    model : torch.nn.Module
    images : numpy.ndarray, float, shape (n_images, H, W)
    markers : numpy.ndarray, bool, shape (n_images, H, W) (from :func:`marker_masks`)
    image_size : int, default 64
    device : str or torch.device, default "cpu"

    Returns
    -------
    numpy.ndarray, float, shape (n_images,)
        Probability with the marker minus probability without it (positive: the marker raised the score).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.fibrosis.explain import marker_masks, marker_occlusion_effect
    >>> from medai_lib.fibrosis.models import make_model
    >>> imgs = np.random.default_rng(0).random((2, 64, 64)).astype("float32")
    >>> marker_occlusion_effect(make_model(), imgs, marker_masks(pd.DataFrame({"site": ["A", "B"]}), 64)).shape
    (2,)
    """
    from medai_lib.fibrosis.models import predict_fibrosis

    images = check_images(images)
    markers = np.asarray(markers, dtype=bool)
    if markers.shape != images.shape:
        raise MedaiInputError(f"markers must have the shape of images {images.shape}; got {markers.shape}.")
    occluded = images.astype(np.float32, copy=True)
    for i in range(len(images)):
        if markers[i].any():
            # The box is mostly background around a thin letter: its median is the local background.
            occluded[i][markers[i]] = np.median(images[i][markers[i]])
    with_marker = predict_fibrosis(model, images, image_size=image_size, device=device)
    without = predict_fibrosis(model, occluded, image_size=image_size, device=device)
    return (with_marker - without).astype(np.float64)


# ----------------------------------------------------------------------------- site fingerprints in the lungs
_APPEARANCE_FEATURES = ("lung_mean", "lung_sd", "lung_q05", "lung_q25", "lung_q50", "lung_q75", "lung_q95",
                        "grain_mean_abs", "grain_sd", "edge_mean_abs", "edge_sd")


def lung_appearance_features(images, lung_masks) -> pd.DataFrame:
    """How the lungs of each image look, regardless of disease: grey levels, grain and sharpness.

    Grey levels: mean, standard deviation and 5th to 95th percentiles of the lung pixels. Grain: the
    difference between each pixel and the mean of its 3x3 neighbourhood. Edges: the discrete Laplacian.
    Both texture measures are summarised (mean absolute value, standard deviation) over the lung pixels whose
    neighbourhood lies inside the lungs.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W)
    lung_masks : numpy.ndarray, bool, shape (n_images, H, W)

    Returns
    -------
    pandas.DataFrame, one row per image
        ``lung_mean, lung_sd, lung_q05 ... lung_q95, grain_mean_abs, grain_sd, edge_mean_abs, edge_sd``.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.explain import lung_appearance_features
    >>> f = lung_appearance_features(np.full((1, 16, 16), 0.5), np.ones((1, 16, 16), bool))
    >>> float(f.loc[0, "lung_mean"]), float(f.loc[0, "grain_sd"])
    (0.5, 0.0)
    """
    from scipy.ndimage import binary_erosion, laplace, uniform_filter

    from medai_lib.fibrosis.models import _check_lung_masks

    images, lung_masks = _check_lung_masks(images, lung_masks)
    rows = []
    for image, lung in zip(images.astype(np.float64), lung_masks):
        if lung.sum() < 2:
            raise MedaiInputError("every image needs a lung mask of at least two pixels (check lung_masks).")
        inner = binary_erosion(lung, np.ones((3, 3), bool))
        if not inner.any():
            inner = lung
        values = image[lung]
        grain = (image - uniform_filter(image, 3, mode="nearest"))[inner]
        edge = laplace(image, mode="nearest")[inner]
        rows.append([values.mean(), values.std(), *np.percentile(values, [5, 25, 50, 75, 95]),
                     np.abs(grain).mean(), grain.std(), np.abs(edge).mean(), edge.std()])
    return pd.DataFrame(rows, columns=list(_APPEARANCE_FEATURES))


@dataclass(frozen=True)
class SiteIdentification:
    """How well a simple classifier names the site from the lungs alone (:func:`site_identification_accuracy`).

    Attributes
    ----------
    accuracy : float
        Cross-validated share of images whose site is named correctly.
    chance : float
        Share of the most common site: the accuracy of always naming it.
    n_images, n_sites : int
    """

    accuracy: float
    chance: float
    n_images: int
    n_sites: int


def site_identification_accuracy(images, lung_masks, sites, *, cv: int = 5,
                                 random_state: int = 0) -> SiteIdentification:
    """Can the site be recognised from the lungs alone? Cross-validated accuracy of a simple classifier.

    A logistic regression on :func:`lung_appearance_features` (grey levels, grain, sharpness of the lung
    pixels; nothing outside the lungs, so no burned-in letter) predicts each image's site. Far above
    ``chance``, the lungs carry a site fingerprint that a network can learn as a shortcut, even after
    masking; near chance, that fingerprint is gone. Use images where the site does not depend on the disease
    (an external cohort), so that the classifier cannot name the site through the disease.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W)
        As the model would see them (raw, masked or standardised).
    lung_masks : numpy.ndarray, bool, shape (n_images, H, W)
    sites : array_like, shape (n_images,)
        Site of each image (``cohort.manifest["site"]``), at least two sites with ``cv`` images each.
    cv : int, default 5
        Folds of the stratified cross-validation (2 to 20).
    random_state : int, default 0

    Returns
    -------
    SiteIdentification

    Examples
    --------
    >>> from medai_lib.fibrosis import make_fibrosis_cohort
    >>> from medai_lib.fibrosis.explain import site_identification_accuracy
    >>> c = make_fibrosis_cohort(60, image_size=64, n_visits=1, random_state=0)
    >>> r = site_identification_accuracy(c.images, c.lung_masks, c.manifest["site"])
    >>> r.accuracy > r.chance + 0.3
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sites = np.asarray(sites).astype(str)
    features = lung_appearance_features(images, lung_masks)
    if sites.shape != (len(features),):
        raise MedaiInputError(f"sites needs one entry per image ({len(features)}); got shape {sites.shape}.")
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or not 2 <= cv <= 20:
        raise MedaiInputError(f"cv must be an integer number of folds from 2 to 20; got {cv!r}.")
    names, counts = np.unique(sites, return_counts=True)
    if len(names) < 2 or counts.min() < cv:
        raise MedaiInputError(f"site identification needs at least two sites with {cv} images each; got "
                              f"{dict(zip(names.tolist(), counts.tolist()))}.")
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    folds = StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
    accuracy = cross_val_score(classifier, features.to_numpy(), sites, cv=folds).mean()
    return SiteIdentification(accuracy=float(accuracy), chance=float(counts.max() / counts.sum()),
                              n_images=len(sites), n_sites=len(names))
