"""Image models for the fibrosis track: MONAI preprocessing, networks, device-side augmentation, splits.

Quick mode trains :class:`SmallCNN` on 64 px images on the CPU; full mode trains MONAI's DenseNet121 at
224-256 px on a GPU kernel, both through the shared loop :func:`medai_lib.training.fit`.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)

__all__ = [
    "SmallCNN", "make_model", "default_target_layer", "build_preprocessing", "preprocess_images",
    "make_augmentation", "patient_split", "image_split", "mask_outside_lungs", "standardise_lungs",
    "rebalance_sites",
    "fit_fibrosis_model", "predict_fibrosis", "histogram_baseline_scores",
]

_FLOAT_KINDS = "f"


def _torch():
    import torch

    return torch


def check_images(images, *, name: str = "images") -> np.ndarray:
    """Validate a stack of greyscale images: float, finite, shape (n, H, W) or (n, 1, H, W)."""
    torch = _torch()
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (n_images, height, width); got "
                        f"{type(images).__name__}.")
    if images.dtype.kind not in _FLOAT_KINDS:
        raise MedaiInputError(
            f"{name} must hold floating-point display values in [0, 1]; got dtype {images.dtype}. Convert "
            "them first, e.g. images.astype('float32') / images.max() or read_dicom(...)."
        )
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or min(images.shape[1:]) < 8:
        raise MedaiInputError(
            f"{name} must have shape (n_images, height, width) or (n_images, 1, height, width) with at least "
            f"8 pixels a side; got shape {images.shape}. For one image use image[None]."
        )
    if len(images) == 0:
        raise MedaiInputError(f"{name} is empty; pass at least one image.")
    if not np.isfinite(images).all():
        raise MedaiInputError(f"{name} contains NaN or infinite pixels; check how the images were read.")
    return images


# ----------------------------------------------------------------------------------------------- networks
class SmallCNN(_torch().nn.Module):
    """A small convolutional network for 1-channel radiographs (quick mode on a CPU).

    Four convolution blocks (3x3 convolution, batch normalisation, ReLU, 2x2 max-pooling) widen from
    ``width`` to ``8 * width`` channels, then global average pooling and a linear layer give one logit.

    Parameters
    ----------
    width : int, default 8
        Channels of the first block.
    dropout : float, default 0.2

    Examples
    --------
    >>> import torch
    >>> from medai_lib.fibrosis.models import SmallCNN
    >>> SmallCNN()(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 1])
    """

    def __init__(self, width: int = 8, *, dropout: float = 0.2):
        super().__init__()
        nn = _torch().nn
        layers, c_in = [], 1
        for i in range(4):
            c_out = width * 2**i
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU()]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, 1))

    def forward(self, x):
        return self.head(self.features(x))


def make_model(kind: str = "small", *, width: int = 8, random_state: int = 0):
    """A fresh binary classifier for (n, 1, H, W) radiographs: one logit per image.

    Parameters
    ----------
    kind : {"small", "densenet121"}
        ``"small"``: :class:`SmallCNN` (CPU quick mode); ``"densenet121"``: MONAI's
        ``DenseNet121(spatial_dims=2, in_channels=1, out_channels=1)`` (GPU full mode, 224-256 px).
    width : int, default 8
        First-layer channels of the small network.
    random_state : int, default 0
        Seeds the initial weights (same seed, same starting model).

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> from medai_lib.fibrosis.models import make_model
    >>> type(make_model("densenet121")).__name__
    'DenseNet121'
    """
    torch = _torch()
    if kind not in ("small", "densenet121"):
        raise MedaiInputError(f"kind must be 'small' or 'densenet121'; got {kind!r}.")
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise MedaiInputError(f"random_state must be an integer seed; got {random_state!r}.")
    state = torch.random.get_rng_state()
    torch.manual_seed(int(random_state))
    try:
        if kind == "small":
            return SmallCNN(width)
        from monai.networks.nets import DenseNet121

        return DenseNet121(spatial_dims=2, in_channels=1, out_channels=1)
    finally:
        torch.random.set_rng_state(state)


def default_target_layer(model) -> str:
    """Name of the layer Grad-CAM reads for the course's networks (the last convolutional features).

    Examples
    --------
    >>> from medai_lib.fibrosis.models import default_target_layer, make_model
    >>> default_target_layer(make_model("small"))
    'features.14'
    """
    if isinstance(model, SmallCNN):
        return "features.14"  # ReLU of the last block, before global pooling
    if type(model).__name__ == "DenseNet121":
        return "class_layers.relu"
    raise MedaiInputError(
        f"no default Grad-CAM layer for a {type(model).__name__}; pass target_layer='<module name>' (see "
        "[name for name, _ in model.named_modules()])."
    )


# ----------------------------------------------------------------------------------------- preprocessing
def build_preprocessing(*, image_size: int = 64):
    """MONAI transforms for one image of shape (1, H, W): resize to ``image_size``, then z-score.

    Parameters
    ----------
    image_size : int, default 64
        Output width and height (64 for quick mode, 224-256 for DenseNet121).

    Returns
    -------
    monai.transforms.Compose
        Maps a float array (1, H, W) to a float32 tensor (1, image_size, image_size), mean 0, SD 1.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.models import build_preprocessing
    >>> build_preprocessing(image_size=32)(np.random.default_rng(0).random((1, 64, 64))).shape
    torch.Size([1, 32, 32])
    """
    from monai.transforms import Compose, EnsureType, NormalizeIntensity, Resize

    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or not 16 <= image_size <= 1024:
        raise MedaiInputError(f"image_size must be an integer from 16 to 1024; got {image_size!r}.")
    return Compose([
        EnsureType(data_type="tensor", dtype=_torch().float32),
        Resize((int(image_size), int(image_size)), mode="area"),
        NormalizeIntensity(),
    ])


def preprocess_images(images, *, image_size: int = 64) -> np.ndarray:
    """Apply :func:`build_preprocessing` to a stack of images.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W) or (n_images, 1, H, W)
        Display values (e.g. ``cohort.images``).
    image_size : int, default 64

    Returns
    -------
    numpy.ndarray, float32, shape (n_images, 1, image_size, image_size)
        Each image with mean 0 and standard deviation 1: what the networks take.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.models import preprocess_images
    >>> preprocess_images(np.random.default_rng(0).random((3, 64, 64)), image_size=32).shape
    (3, 1, 32, 32)
    """
    images = check_images(images)
    transform = build_preprocessing(image_size=image_size)
    out = np.empty((len(images), 1, image_size, image_size), dtype=np.float32)
    for i, image in enumerate(images):
        out[i] = np.asarray(transform(image[None]))
    return out


def make_augmentation(*, max_rotation_deg: float = 5.0, max_shift: float = 0.04, max_zoom: float = 0.05,
                      intensity: float = 0.1, random_state: int = 0) -> Callable:
    """Random affine and intensity augmentation applied to a whole batch on its device (GPU-friendly).

    Each image gets its own small rotation, shift and zoom (one ``grid_sample`` call for the batch) and a
    random contrast and brightness change. There is no left-right flip: it would put the heart on the wrong
    side of a chest radiograph.

    Parameters
    ----------
    max_rotation_deg, max_shift, max_zoom : float
        Largest rotation (degrees), shift (fraction of the image) and zoom (relative).
    intensity : float, default 0.1
        Largest relative change of contrast and brightness (on z-scored images).
    random_state : int, default 0
        Seeds the augmentation's own generator (independent of the global torch state).

    Returns
    -------
    callable
        ``augment(x)`` for a float tensor ``x`` of shape (n, 1, H, W) on any device; returns the same shape.

    Examples
    --------
    >>> import torch
    >>> from medai_lib.fibrosis.models import make_augmentation
    >>> make_augmentation(random_state=0)(torch.zeros(4, 1, 32, 32)).shape
    torch.Size([4, 1, 32, 32])
    """
    torch = _torch()
    for name, value, high in (("max_rotation_deg", max_rotation_deg, 45), ("max_shift", max_shift, 0.5),
                              ("max_zoom", max_zoom, 0.5), ("intensity", intensity, 1.0)):
        if not 0 <= float(value) <= high:
            raise MedaiInputError(f"{name} must be from 0 to {high}; got {value!r}.")
    generators: dict = {}

    def augment(x):
        if not (isinstance(x, torch.Tensor) and x.ndim == 4):
            raise MedaiInputError(f"augment takes a tensor of shape (n, channels, H, W); got "
                                  f"{getattr(x, 'shape', type(x).__name__)}.")
        gen = generators.get(x.device)
        if gen is None:
            gen = generators[x.device] = torch.Generator(device=x.device).manual_seed(int(random_state))
        n = len(x)

        def uniform(scale):
            return (torch.rand(n, generator=gen, device=x.device) * 2 - 1) * scale

        angle = uniform(np.deg2rad(max_rotation_deg))
        zoom = 1 + uniform(max_zoom)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, uniform(2 * max_shift)], 1),
                             torch.stack([sin, cos, uniform(2 * max_shift)], 1)], 1).to(x.dtype)
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        background = x.amin(dim=(1, 2, 3), keepdim=True)
        out = torch.nn.functional.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros",
                                              align_corners=False) + background
        gain = (1 + uniform(intensity)).to(x.dtype).view(n, 1, 1, 1)
        bias = uniform(intensity).to(x.dtype).view(n, 1, 1, 1)
        return out * gain + bias

    return augment


# ------------------------------------------------------------------------------------------------ splits
def _check_manifest(manifest, columns, *, name="manifest"):
    if not isinstance(manifest, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame (e.g. cohort.manifest); got {type(manifest).__name__}.")
    missing = [c for c in columns if c not in manifest.columns]
    if missing:
        raise MedaiInputError(f"{name} has no column {missing[0]!r}; it has {list(manifest.columns)}.")


def patient_split(manifest: pd.DataFrame, *, test_size: float = 0.3, val_size: float = 0.2,
                  random_state: int = 0) -> pd.Series:
    """Assign each image to ``"train"``, ``"val"`` or ``"test"`` so that all images of a patient go together.

    Patients (not images) are shuffled and cut into the three parts, so no patient's follow-up image can
    leak from training into the held-out parts.

    Parameters
    ----------
    manifest : pandas.DataFrame with a ``patient_id`` column, one row per image
    test_size, val_size : float
        Fractions of the patients held out for testing and for validation (each from 0 to 0.8; together
        below 1).
    random_state : int, default 0

    Returns
    -------
    pandas.Series of str, index of ``manifest``, named ``split``

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.fibrosis.models import patient_split
    >>> m = pd.DataFrame({"patient_id": ["a", "a", "b", "b", "c", "c", "d", "d"]})
    >>> s = patient_split(m, test_size=0.25, val_size=0.25)
    >>> bool((s.groupby(m["patient_id"]).nunique() == 1).all())
    True
    """
    _check_manifest(manifest, ["patient_id"])
    for name, value in (("test_size", test_size), ("val_size", val_size)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 0.8:
            raise MedaiInputError(f"{name} must be a fraction from 0 to 0.8; got {value!r}.")
    if test_size + val_size >= 1:
        raise MedaiInputError(f"test_size + val_size must be below 1 to leave patients for training; got "
                              f"{test_size} + {val_size}.")
    rng = np.random.default_rng(random_state)
    patients = pd.unique(manifest["patient_id"])
    order = rng.permutation(len(patients))
    n_test = int(round(test_size * len(patients)))
    n_val = int(round(val_size * len(patients)))
    part = np.full(len(patients), "train", dtype=object)
    part[order[:n_test]] = "test"
    part[order[n_test:n_test + n_val]] = "val"
    lookup = dict(zip(patients, part))
    return manifest["patient_id"].map(lookup).astype(str).rename("split")


def image_split(manifest: pd.DataFrame, *, test_size: float = 0.3, val_size: float = 0.2,
                random_state: int = 0) -> pd.Series:
    """The WRONG way, for teaching: split images at random, ignoring which patient each belongs to.

    Same arguments and output as :func:`patient_split`; follow-up images of one patient land in training and
    test, and held-out scores come out optimistic.

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.fibrosis.models import image_split
    >>> image_split(pd.DataFrame({"patient_id": list("aabb")}), test_size=0.5, val_size=0.0).tolist()
    ['test', 'train', 'test', 'train']
    """
    _check_manifest(manifest, ["patient_id"])
    fake = pd.DataFrame({"patient_id": np.arange(len(manifest))}, index=manifest.index)
    return patient_split(fake, test_size=test_size, val_size=val_size, random_state=random_state)


# ------------------------------------------------------------------------------------- shortcut fixes
def mask_outside_lungs(images, lung_masks, *, margin: int = 2, fill: float = 0.0) -> np.ndarray:
    """Blank everything outside the (slightly widened) lung fields: removes burned-in markers and labels.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W)
    lung_masks : numpy.ndarray, bool, shape (n_images, H, W)
    margin : int, default 2
        Pixels by which the lung masks are widened (keeps the lung borders).
    fill : float, default 0.0
        Value written outside the lungs.

    Returns
    -------
    numpy.ndarray, float32, shape (n_images, H, W)

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.models import mask_outside_lungs
    >>> m = np.zeros((1, 16, 16), bool); m[0, 4:12, 4:12] = True
    >>> float(mask_outside_lungs(np.ones((1, 16, 16), np.float32), m)[0, 0, 0])
    0.0
    """
    from scipy.ndimage import binary_dilation

    images, lung_masks = _check_lung_masks(images, lung_masks)
    margin = _check_margin(margin)
    keep = lung_masks
    if margin > 0:
        keep = binary_dilation(lung_masks, structure=np.ones((1, 3, 3), bool), iterations=margin)
    return np.where(keep, images, np.float32(fill)).astype(np.float32)


def _check_lung_masks(images, lung_masks):
    images = check_images(images)
    if lung_masks is None:
        raise MedaiInputError("lung_masks is None: masking needs one lung mask per image (cohort.lung_masks).")
    lung_masks = np.asarray(lung_masks)
    if lung_masks.ndim == 4 and lung_masks.shape[1] == 1:
        lung_masks = lung_masks[:, 0]
    if lung_masks.shape != images.shape:
        raise MedaiInputError(f"lung_masks must have the shape of images {images.shape}; got {lung_masks.shape}.")
    if lung_masks.dtype != bool:
        if not np.isin(lung_masks, (0, 1)).all():
            raise MedaiInputError("lung_masks must be boolean (True inside the lungs) or hold only 0 and 1.")
        lung_masks = lung_masks.astype(bool)
    return images, lung_masks


def _check_margin(margin):
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or not 0 <= margin <= 64:
        raise MedaiInputError(f"margin must be an integer number of pixels from 0 to 64; got {margin!r}.")
    return int(margin)


def standardise_lungs(images, lung_masks, *, method: str = "rank", smoothing: float = 1 / 64,
                      margin: int = 2) -> np.ndarray:
    """Harmonise the lungs of radiographs from different sites: smooth, standardise grey levels, mask.

    Masking (:func:`mask_outside_lungs`) removes burned-in letters, but every site's equipment also leaves
    a fingerprint *inside* the lungs: its exposure and processing curve (how bright and how contrasted the
    lungs look) and its grain and edge enhancement (noise and sharpening). A network can still recognise
    the site from those and, where the site predicts the diagnosis, learn the site instead of the disease.
    This function removes the fingerprint, image by image, in three steps:

    1. **smooth** with a small Gaussian blur (``smoothing`` of the image width; 1/64: one pixel at 64 px),
       so that every image has the same, slightly lower sharpness and the sites' grain and edge
       enhancement no longer differ; fibrotic reticulation, which is coarser, remains;
    2. **standardise the grey levels inside the lung mask**: ``method="rank"`` replaces each lung pixel by
       its rank among that image's lung pixels (histogram equalisation to normal scores), which removes any
       brightness, contrast or processing-curve (gamma) difference; ``method="zscore"`` subtracts the lung
       mean and divides by the lung standard deviation, which removes brightness and contrast only. Either
       way the lung pixels end with mean 0 and standard deviation 1;
    3. **mask**: pixels further than ``margin`` pixels from the lungs are set to 0 (the lung average), the
       site letter included.

    The disease is left to be read from *where* and *how* the lungs are patterned (basal, peripheral
    reticulation, volume loss), not from how bright they are. Apply it to training, test and external
    images alike.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W) or (n_images, 1, H, W)
        Display values (e.g. ``cohort.images``).
    lung_masks : numpy.ndarray, bool, shape of ``images``
        One lung mask per image (``cohort.lung_masks``), each with at least two lung pixels.
    method : {"rank", "zscore"}, default "rank"
    smoothing : float, default 1/64
        Standard deviation of the Gaussian blur as a fraction of the image width (0: no smoothing; at most
        0.1).
    margin : int, default 2
        Pixels by which the lung masks are widened before masking (keeps the lung borders, which are mapped
        with the same grey-level transform as the lungs).

    Returns
    -------
    numpy.ndarray, float32, shape (n_images, H, W)
        Standardised values: mean 0 and standard deviation 1 over each image's lung mask, 0 outside the
        widened mask (and everywhere in an image whose lungs are uniform).

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.models import standardise_lungs
    >>> rng = np.random.default_rng(0)
    >>> img = rng.random((1, 32, 32)).astype("float32")
    >>> lung = np.zeros((1, 32, 32), bool); lung[0, 8:24, 6:26] = True
    >>> out = standardise_lungs(img, lung)
    >>> bool(abs(out[0][lung[0]].mean()) < 1e-6), round(float(out[0][lung[0]].std()), 4), float(out[0, 0, 0])
    (True, 1.0, 0.0)

    Without smoothing, the rank method ignores any brightness, contrast or gamma change:

    >>> other = standardise_lungs(0.3 + 0.5 * img**2, lung, smoothing=0)
    >>> float(np.abs(other - standardise_lungs(img, lung, smoothing=0)).max()) < 1e-5
    True
    """
    from scipy.ndimage import binary_dilation, gaussian_filter
    from scipy.special import ndtri

    images, lung_masks = _check_lung_masks(images, lung_masks)
    if method not in ("rank", "zscore"):
        raise MedaiInputError(f"method must be 'rank' (histogram equalisation) or 'zscore'; got {method!r}.")
    number = (int, float, np.floating, np.integer)
    if isinstance(smoothing, bool) or not isinstance(smoothing, number) or not 0 <= float(smoothing) <= 0.1:
        raise MedaiInputError(f"smoothing must be a fraction of the image width from 0 to 0.1 (e.g. 1/64); "
                              f"got {smoothing!r}.")
    margin = _check_margin(margin)
    n_lung = lung_masks.sum(axis=(1, 2))
    if (n_lung < 2).any():
        bad = int(np.flatnonzero(n_lung < 2)[0])
        raise MedaiInputError(f"image {bad} has {int(n_lung[bad])} lung pixels in its mask; standardising "
                              "the lungs needs a lung mask of at least two pixels in every image (check the "
                              "masks).")
    sigma = float(smoothing) * images.shape[-1]
    keep = lung_masks
    if margin > 0:
        keep = binary_dilation(lung_masks, structure=np.ones((1, 3, 3), bool), iterations=margin)
    out = np.zeros(images.shape, dtype=np.float32)
    for i in range(len(images)):
        image = images[i].astype(np.float64)
        if sigma > 0:
            image = gaussian_filter(image, sigma, mode="nearest")
        lung, kept = image[lung_masks[i]], image[keep[i]]
        if method == "rank":
            # Mid-ranks among the lung pixels (ties share their average rank), as normal scores.
            ordered = np.sort(lung)
            ranks = (np.searchsorted(ordered, kept, "left") + np.searchsorted(ordered, kept, "right")) / 2
            n = len(ordered)
            kept = ndtri(np.clip(ranks / n, 0.5 / n, 1 - 0.5 / n))
            lung = kept[lung_masks[i][keep[i]]]
        sd = lung.std()
        if sd > 0:
            out[i][keep[i]] = (kept - lung.mean()) / sd
    return out


def rebalance_sites(manifest: pd.DataFrame, *, method: str = "undersample", random_state: int = 0) -> np.ndarray:
    """Row positions of a subsample in which every site has the same share of positive labels.

    Site by site, the over-represented class is undersampled (or the under-represented class repeated) to
    the pooled prevalence, so that the site no longer predicts the label.

    Parameters
    ----------
    manifest : pandas.DataFrame with ``site`` and ``label`` columns
    method : {"undersample", "oversample"}, default "undersample"
        "undersample" drops images (each kept once); "oversample" keeps every image and repeats images of
        the under-represented class (positions may repeat).
    random_state : int, default 0

    Returns
    -------
    numpy.ndarray of int
        Sorted positions (for ``images[idx]`` and ``manifest.iloc[idx]``).

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.fibrosis.models import rebalance_sites
    >>> m = pd.DataFrame({"site": list("AAAABBBB"), "label": [1, 1, 1, 0, 0, 0, 0, 1]})
    >>> m.iloc[rebalance_sites(m)].groupby("site")["label"].mean().tolist()
    [0.5, 0.5]
    """
    _check_manifest(manifest, ["site", "label"])
    if manifest["label"].isna().any():
        raise MedaiInputError("manifest has images without a label; drop or label them before rebalancing.")
    if method not in ("undersample", "oversample"):
        raise MedaiInputError(f"method must be 'undersample' or 'oversample'; got {method!r}.")
    rng = np.random.default_rng(random_state)
    prevalence = float(manifest["label"].mean())
    keep = []
    positions = np.arange(len(manifest))
    for _, rows in manifest.groupby("site", sort=True).indices.items():
        labels = manifest["label"].to_numpy()[rows]
        pos, neg = positions[rows][labels == 1], positions[rows][labels == 0]
        if method == "oversample":
            # Smallest superset of this site with the pooled prevalence: repeat the rarer class.
            n_pos = max(len(pos), int(round(len(neg) * prevalence / (1 - prevalence)))) if len(pos) else 0
            n_neg = max(len(neg), int(round(len(pos) * (1 - prevalence) / prevalence))) if len(neg) else 0
            for group, n in ((pos, n_pos), (neg, n_neg)):
                keep += list(group) + list(rng.choice(group, n - len(group), replace=True)) if len(group) else []
            continue
        # Largest subsample of this site with the pooled prevalence.
        n_total = min(len(pos) / prevalence if prevalence > 0 else np.inf,
                      len(neg) / (1 - prevalence) if prevalence < 1 else np.inf)
        n_pos = int(round(n_total * prevalence))
        n_neg = int(round(n_total * (1 - prevalence)))
        keep += list(rng.choice(pos, min(n_pos, len(pos)), replace=False))
        keep += list(rng.choice(neg, min(n_neg, len(neg)), replace=False))
    return np.sort(np.asarray(keep, dtype=int))


# ------------------------------------------------------------------------------------ train and predict
def fit_fibrosis_model(
    images,
    manifest: pd.DataFrame,
    split: pd.Series,
    *,
    model="small",
    image_size: int = 64,
    epochs: int = 8,
    batch_size: int = 32,
    lr: float = 2e-3,
    augment: "bool | Callable" = True,
    pos_weight: "float | str | None" = "balanced",
    device="auto",
    patience: int | None = None,
    random_state: int = 0,
    progress: bool = True,
    **fit_options,
):
    """Preprocess, then train a radiograph classifier on the ``"train"`` images, validating on ``"val"``.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W)
        Display values (``cohort.images``).
    manifest : pandas.DataFrame with a 0/1 ``label`` column, one row per image
    split : pandas.Series of "train"/"val"/"test", one per image (e.g. :func:`patient_split`)
    model : "small", "densenet121" or a torch.nn.Module
    image_size : int, default 64
    epochs, batch_size, lr : training schedule (see :func:`medai_lib.training.fit`)
    augment : bool or callable, default True
        True: :func:`make_augmentation` seeded with ``random_state``.
    pos_weight : float, "balanced" or None, default "balanced"
        Class-imbalance weighting of the loss.
    device : str or torch.device, default "auto"
    patience : int, optional
        Early stopping on the validation AUC.
    random_state : int, default 0
    progress : bool, default True
        A progress bar over the epochs (training takes from seconds to minutes); False in scripts and tests.
    **fit_options
        Passed on to :func:`medai_lib.training.fit` (``amp``, ``channels_last``, ``compile``...).

    Returns
    -------
    medai_lib.training.FitResult
        ``.model`` (best validation epoch restored), ``.history``, ``.plot()``.

    Examples
    --------
    >>> from medai_lib.fibrosis import make_fibrosis_cohort
    >>> from medai_lib.fibrosis.models import fit_fibrosis_model, patient_split
    >>> c = make_fibrosis_cohort(30, image_size=64, random_state=0)
    >>> res = fit_fibrosis_model(c.images, c.manifest, patient_split(c.manifest), epochs=1, device="cpu",
    ...                          progress=False)
    >>> int(res.history["epoch"].max())
    1
    """
    torch = _torch()
    images = check_images(images)
    _check_manifest(manifest, ["label"])
    if len(manifest) != len(images):
        raise MedaiInputError(f"manifest has {len(manifest)} rows but there are {len(images)} images; one row "
                              "per image is needed.")
    if manifest["label"].isna().any():
        raise MedaiInputError(
            f"manifest has {int(manifest['label'].isna().sum())} images without a label; training needs a 0/1 "
            "label for every image: drop unlabelled rows or add labels (labels_csv=...)."
        )
    split = pd.Series(np.asarray(split), dtype=object)
    if len(split) != len(images) or not set(split) <= {"train", "val", "test"}:
        raise MedaiInputError("split must hold 'train', 'val' or 'test' for every image (see patient_split).")
    train, val = (split == "train").to_numpy(), (split == "val").to_numpy()
    if train.sum() == 0 or val.sum() == 0:
        raise MedaiInputError("split needs both 'train' and 'val' images; use patient_split(manifest).")
    if isinstance(model, str):
        model = make_model(model, random_state=random_state)
    elif not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be 'small', 'densenet121' or a torch.nn.Module; got {type(model).__name__}.")
    x = preprocess_images(images, image_size=image_size)
    y = manifest["label"].to_numpy(dtype=np.float32)
    if augment is True:
        augment = make_augmentation(random_state=random_state)
    elif augment is False:
        augment = None
    from medai_lib.training import fit

    return fit(model, (x[train], y[train]), (x[val], y[val]), epochs=epochs, batch_size=batch_size, lr=lr,
               pos_weight=pos_weight, device=device, augment=augment, monitor="val_auc", patience=patience,
               random_state=random_state, progress=progress, **fit_options)


def predict_fibrosis(model, images, *, image_size: int = 64, device="auto") -> np.ndarray:
    """Probability of fibrosis for each image (preprocessed as in training).

    Parameters
    ----------
    model : torch.nn.Module
        A trained model (e.g. ``fit_fibrosis_model(...).model``).
    images : numpy.ndarray, float, shape (n_images, H, W)
    image_size : int, default 64
        The size the model was trained at.
    device : str or torch.device, default "auto"

    Returns
    -------
    numpy.ndarray, float32, shape (n_images,), values in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.models import make_model, predict_fibrosis
    >>> predict_fibrosis(make_model(), np.zeros((2, 64, 64), np.float32), device="cpu").shape
    (2,)
    """
    from medai_lib.training import predict

    if not isinstance(model, _torch().nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    return predict(model, preprocess_images(images, image_size=image_size), device=device)


def histogram_baseline_scores(images, lung_masks, labels, train, *, n_bins: int = 32) -> np.ndarray:
    """The naive baseline: logistic regression on grey-level histograms of the lungs, fitted on ``train``.

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W), values in [0, 1]
    lung_masks : numpy.ndarray, bool, shape (n_images, H, W), or None
        None (real data without masks): histograms of the whole image.
    labels : array_like of 0/1, shape (n_images,)
    train : array_like of bool, shape (n_images,)
        Images the baseline is fitted on.
    n_bins : int, default 32

    Returns
    -------
    numpy.ndarray, float, shape (n_images,)
        Predicted probability of fibrosis for every image.

    Examples
    --------
    >>> from medai_lib.fibrosis import make_fibrosis_cohort
    >>> from medai_lib.fibrosis.models import histogram_baseline_scores
    >>> c = make_fibrosis_cohort(20, image_size=32, random_state=0)
    >>> histogram_baseline_scores(c.images, c.lung_masks, c.manifest["label"], c.manifest.index < 30).shape
    (40,)
    """
    from sklearn.linear_model import LogisticRegression

    from medai_lib.fibrosis.cohort import lung_histogram_features

    images = check_images(images)
    masks = np.ones(images.shape, bool) if lung_masks is None else lung_masks
    labels = np.asarray(labels, dtype=float)
    train = np.asarray(train, dtype=bool)
    if labels.shape != (len(images),) or train.shape != (len(images),):
        raise MedaiInputError(f"labels and train need one entry per image ({len(images)}); got {labels.shape} "
                              f"and {train.shape}.")
    if np.isnan(labels[train]).any() or len(np.unique(labels[train])) < 2:
        raise MedaiInputError("the training images need 0/1 labels of both classes to fit the baseline.")
    features = lung_histogram_features(images, masks, n_bins=n_bins)
    model = LogisticRegression(max_iter=3000).fit(features[train], labels[train].astype(int))
    return model.predict_proba(features)[:, 1]
