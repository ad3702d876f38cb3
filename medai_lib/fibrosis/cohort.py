"""Synthetic chest-radiograph cohorts for the fibrosis track: patients, visits, sites, readers, images.

Every cohort carries its ground truth (latent severity, lesion load, lung masks), so the oracle AUC (latent
severity scored against the reader labels) is known exactly for each cohort.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis.phantom import render_chest_radiographs

logger = logging.getLogger(__name__)

#: Bump whenever the images or the manifest of a cohort change for the same parameters (cache key).
GENERATOR_VERSION = 2  # 2: readers judge the visible extent of fibrosis (agree on obvious disease)

#: Lesion load (visible extent of fibrosis, 0 to 1) at which a reader without bias calls an image fibrotic:
#: the load of severity 0.5. Changes start to show at severity 0.3 (load 0); honeycombing from load 0.45.
READER_THRESHOLD = 2 / 7

#: Acquisition and processing of the first sites (further sites are drawn at random).
SITE_PROFILES = (
    {"name": "A", "exposure": 1.00, "contrast": 1.00, "gamma": 1.00, "unsharp": 0.35, "noise": 0.012,
     "corner": "top_left"},
    {"name": "B", "exposure": 1.60, "contrast": 1.10, "gamma": 0.85, "unsharp": 0.90, "noise": 0.020,
     "corner": "top_right"},
    {"name": "C", "exposure": 0.55, "contrast": 0.90, "gamma": 1.20, "unsharp": 0.10, "noise": 0.030,
     "corner": "bottom_right"},
)

# 5x7 bitmaps of the site letters burned into the image corner (the shortcut marker).
_GLYPHS = {
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "C": ["01111", "10000", "10000", "10000", "10000", "10000", "01111"],
    "D": ["11110", "10001", "10001", "10001", "10001", "10001", "11110"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "G": ["01111", "10000", "10000", "10011", "10001", "10001", "01111"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
}


@dataclass(frozen=True)
class FibrosisCohort:
    """A chest-radiograph cohort: one manifest row per image, with the images and lung masks.

    Attributes
    ----------
    manifest : pandas.DataFrame, one row per image
        ``patient_id, image_id, visit, site, sex, age, severity`` (latent, ground truth), ``label``
        (reader majority), ``reader_1..reader_k``, ``lesion_load``, ``opacity_fraction``, ``n_nodules``,
        ``exposure``, and ``path`` once written to disk. Real data have NaN where the truth is unknown.
    images : numpy.ndarray, float32, shape (n_images, size, size)
        Display values in [0, 1], bright = attenuating (MONOCHROME2 convention).
    lung_masks : numpy.ndarray, bool, shape (n_images, size, size), or None for real data without masks.
    params : dict
        The arguments the cohort was made with.
    """

    manifest: pd.DataFrame
    images: np.ndarray
    lung_masks: "np.ndarray | None"
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def reader_columns(self) -> list[str]:
        return [c for c in self.manifest.columns if c.startswith("reader_")]

    @property
    def oracle_auc(self) -> float:
        """AUC of the latent severity against the reader labels: the ceiling for any model."""
        from sklearn.metrics import roc_auc_score

        m = self.manifest
        if m["severity"].isna().any() or m["label"].nunique() < 2:
            return float("nan")
        return float(roc_auc_score(m["label"].astype(int), m["severity"]))


def _check_int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
        high is not None and value > high
    ):
        rng = f"from {low} to {high}" if high is not None else f">= {low}"
        raise MedaiInputError(f"{name} must be an integer {rng}; got {value!r}.")
    return int(value)


def _check_float(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
        low <= float(value) <= high
    ):
        raise MedaiInputError(f"{name} must be a number from {low} to {high}; got {value!r}.")
    return float(value)


def _site_profiles(n_sites, rng):
    profiles = [dict(p) for p in SITE_PROFILES[:n_sites]]
    corners = ["top_left", "top_right", "bottom_right", "bottom_left"]
    for i in range(len(profiles), n_sites):
        profiles.append({
            "name": "ABCDEFGH"[i],
            "exposure": float(rng.lognormal(0, 0.35)),
            "contrast": float(rng.uniform(0.9, 1.1)),
            "gamma": float(rng.uniform(0.8, 1.25)),
            "unsharp": float(rng.uniform(0.1, 0.9)),
            "noise": float(rng.uniform(0.01, 0.03)),
            "corner": corners[i % 4],
        })
    return profiles


def burn_in_marker(image: np.ndarray, letter: str, corner: str) -> np.ndarray:
    """Burn a bright site letter into a corner of ``image`` (shape (size, size)), in place; returns it.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis.cohort import burn_in_marker
    >>> float(burn_in_marker(np.zeros((64, 64), np.float32), "A", "top_left").max())
    1.0
    """
    size = image.shape[-1]
    glyph = np.array([[c == "1" for c in row] for row in _GLYPHS[letter]], dtype=bool)
    cell = max(1, size // 64)
    bitmap = np.kron(glyph, np.ones((cell, cell), dtype=bool))
    h, w = bitmap.shape
    margin = max(2, size // 32)
    r0 = margin if corner.startswith("top") else size - margin - h
    c0 = margin if corner.endswith("left") else size - margin - w
    region = image[..., r0:r0 + h, c0:c0 + w]
    region[..., bitmap] = 1.0
    return image


def _draw_cohort(n_patients, *, n_visits, n_sites, site_shortcut, n_readers, reader_noise, shared_noise,
                 nodule_rate, random_state, batch_size):
    """Draw everything but the pixels: the manifest, the rendering parameters and the batch seeds."""
    n_patients = _check_int("n_patients", n_patients, 1, 100_000)
    n_visits = _check_int("n_visits", n_visits, 1, 10)
    n_sites = _check_int("n_sites", n_sites, 1, 8)
    n_readers = _check_int("n_readers", n_readers, 1, 9)
    batch_size = _check_int("batch_size", batch_size, 1)
    site_shortcut = _check_float("site_shortcut", site_shortcut, 0.0, 1.0)
    reader_noise = _check_float("reader_noise", reader_noise, 0.0, 1.0)
    shared_noise = _check_float("shared_noise", shared_noise, 0.0, 1.0)
    nodule_rate = _check_float("nodule_rate", nodule_rate, 0.0, 5.0)
    rng = check_random_state(random_state)
    sites = _site_profiles(n_sites, rng)

    # Patients: age, sex and a liability for fibrosis that rises with age (and is higher in men).
    age = np.clip(rng.normal(63, 11, n_patients), 30, 92).round().astype(int)
    male = rng.random_sample(n_patients) < 0.5
    liability = -1.0 + 0.6 * (age - 63) / 10 + 0.3 * male + rng.normal(0, 1, n_patients)
    progression = rng.lognormal(np.log(0.25), 0.5, n_patients)
    body_scale = rng.normal(1.0, 0.04, n_patients) + 0.03 * male
    heart_ratio = np.clip(rng.normal(0.45, 0.035, n_patients), 0.36, 0.58)
    ever_diseased = 1 / (1 + np.exp(-1.4 * (liability + progression * (n_visits - 1)))) > 0.5
    probs = np.full((n_patients, n_sites), 1.0 / n_sites)
    if n_sites > 1 and site_shortcut > 0:
        others = np.r_[0, np.ones(n_sites - 1)] / (n_sites - 1)
        target = np.where(ever_diseased[:, None], np.eye(n_sites)[0], others)
        probs = (1 - site_shortcut) * probs + site_shortcut * target
    site_idx = np.array([rng.choice(n_sites, p=row) for row in probs])

    # Images: one per patient and visit, about a year apart.
    pid = np.repeat(np.arange(n_patients), n_visits)
    visit = np.tile(np.arange(n_visits), n_patients)
    n_images = pid.size
    lv = liability[pid] + progression[pid] * visit
    severity = 1 / (1 + np.exp(-1.4 * lv))
    lesion_load = np.clip((severity - 0.3) / 0.7, 0, 1)
    # Readers judge the extent of fibrosis the image shows (the lesion load), each with a bias of their own,
    # and call it fibrosis above READER_THRESHOLD. Perception noise is on the same scale, so disagreement
    # concentrates near the threshold of visibility and obvious disease (honeycombing) is called by all.
    # A shared part of the noise (what the image hides from everyone) makes readers agree with each other
    # more than with the truth.
    biases = np.linspace(-0.05, 0.05, n_readers) if n_readers > 1 else np.zeros(1)
    shared = rng.normal(0, shared_noise, (n_images, 1))
    own = rng.normal(0, reader_noise, (n_images, n_readers))
    readers = (lesion_load[:, None] + shared + own + biases[None]) > READER_THRESHOLD
    label = (readers.sum(axis=1) * 2 > n_readers).astype(int)
    img_site = site_idx[pid]
    prof = {k: np.array([sites[s][k] for s in img_site])
            for k in ("exposure", "contrast", "gamma", "unsharp", "noise")}
    render_params = {
        "body_scale": body_scale[pid],
        "inspiration": rng.normal(0, 1, n_images),
        "rotation_deg": rng.normal(0, 2.0, n_images),
        "shift_x": rng.normal(0, 0.025, n_images),
        "shift_y": rng.normal(0, 0.02, n_images),
        "heart_ratio": heart_ratio[pid],
        "lesion_load": lesion_load,
        "exposure": prof["exposure"] * rng.lognormal(0, 0.25, n_images),
        "contrast": prof["contrast"] * rng.normal(1, 0.05, n_images),
        "gamma": prof["gamma"] * rng.lognormal(0, 0.08, n_images),
        "unsharp": prof["unsharp"],
        "noise": prof["noise"],
        "n_nodules": rng.poisson(nodule_rate, n_images),
        "breast": np.where(male, 0.0, rng.uniform(0.4, 1.0, n_patients))[pid],
    }
    seeds = rng.randint(0, 2**31 - 1, size=(n_images + batch_size - 1) // batch_size)

    width = max(4, len(str(n_patients)))
    manifest = pd.DataFrame({
        "patient_id": [f"P{p:0{width}d}" for p in pid],
        "image_id": [f"P{p:0{width}d}_V{v}" for p, v in zip(pid, visit)],
        "visit": visit,
        "site": [sites[s]["name"] for s in img_site],
        "sex": np.where(male[pid], "M", "F"),
        "age": age[pid] + visit,
        "severity": severity,
        "label": label,
        **{f"reader_{r + 1}": readers[:, r].astype(int) for r in range(n_readers)},
        "lesion_load": lesion_load,
        "n_nodules": render_params["n_nodules"],
        "exposure": render_params["exposure"],
    })
    return manifest, render_params, seeds, sites, img_site


def make_fibrosis_cohort(
    n_patients: int = 200,
    *,
    image_size: int = 256,
    n_visits: int = 2,
    n_sites: int = 3,
    site_shortcut: float = 0.0,
    n_readers: int = 3,
    reader_noise: float = 0.12,
    shared_noise: float = 0.12,
    nodule_rate: float = 0.3,
    random_state: "int | np.random.RandomState | None" = 0,
    device="cpu",
    batch_size: int = 64,
) -> FibrosisCohort:
    """Synthesise a cohort of PA chest radiographs with fibrosis from a latent severity.

    Each patient (age, sex; severity rises with age and is higher in men) is imaged ``n_visits`` times
    about a year apart at one site, the severity progressing between visits. Fibrosis is drawn from the
    severity as basal, peripheral reticulation, honeycombing and volume loss; nodules, exposure, site
    processing and noise are confounders. ``n_readers`` simulated readers label each image by judging the
    extent of fibrosis it shows (``lesion_load``) through their own noise and bias against a threshold
    (``READER_THRESHOLD``, the load at severity 0.5); ``label`` is their majority. Readers agree on obvious
    disease and disagree near the threshold of visibility, as radiologists do; the label is the readers'
    majority, not the truth (HRCT and a multidisciplinary discussion are the reference in practice).

    Parameters
    ----------
    n_patients : int, default 200
        Number of patients (1 to 100000); the cohort has ``n_patients * n_visits`` images.
    image_size : int, default 256
        Width and height of the square images, in pixels (32 to 2048).
    n_visits : int, default 2
        Images per patient (follow-up visits), 1 to 10.
    n_sites : int, default 3
        Number of hospitals (1 to 8), each with its own exposure, processing, noise and burned-in letter.
    site_shortcut : float, default 0.0
        From 0 to 1: how strongly patients with fibrosis are sent to site ``A`` (0: sites independent of
        disease; 1: every diseased patient at site A). Makes the burned-in site letter a shortcut.
    n_readers : int, default 3
        Simulated readers per image (1 to 9, odd for a clear majority).
    reader_noise : float, default 0.12
        Standard deviation of each reader's own perception noise, on the scale of the lesion load (visible
        extent of fibrosis, 0 to 1); from 0 to 1.
    shared_noise : float, default 0.12
        Standard deviation of the perception noise all readers share for an image, same scale (0 to 1).
        With ``reader_noise`` it sets how far the oracle AUC is below 1 (the defaults give about 0.95).
    nodule_rate : float, default 0.3
        Mean number of incidental nodules per image (Poisson).
    random_state : int, RandomState or None, default 0
        Seed; the same seed gives the same cohort on the same kind of device.
    device : str or torch.device, default "cpu"
        Where to render the images (a GPU renders large cohorts much faster).
    batch_size : int, default 64
        Images rendered at a time (memory: about 40 float32 images of ``image_size`` per image in the
        batch). The manifest does not depend on it; the random textures do.

    Returns
    -------
    FibrosisCohort
        ``manifest`` (n_images rows), ``images`` float32 (n_images, image_size, image_size) in [0, 1] and
        ``lung_masks`` bool of the same shape.

    Examples
    --------
    >>> from medai_lib.fibrosis import make_fibrosis_cohort
    >>> cohort = make_fibrosis_cohort(6, image_size=64, random_state=0)
    >>> cohort.images.shape
    (12, 64, 64)
    >>> list(cohort.manifest.columns[:4])
    ['patient_id', 'image_id', 'visit', 'site']
    """
    image_size = _check_int("image_size", image_size, 32, 2048)
    manifest, render_params, seeds, sites, img_site = _draw_cohort(
        n_patients, n_visits=n_visits, n_sites=n_sites, site_shortcut=site_shortcut, n_readers=n_readers,
        reader_noise=reader_noise, shared_noise=shared_noise, nodule_rate=nodule_rate,
        random_state=random_state, batch_size=batch_size)
    n_images = len(manifest)
    params = dict(n_patients=n_patients, image_size=image_size, n_visits=n_visits, n_sites=n_sites,
                  site_shortcut=site_shortcut, n_readers=n_readers, reader_noise=reader_noise,
                  shared_noise=shared_noise, nodule_rate=nodule_rate,
                  random_state=random_state if isinstance(random_state, int) else None)
    images = np.empty((n_images, image_size, image_size), dtype=np.float32)
    masks = np.empty((n_images, image_size, image_size), dtype=bool)
    opacity = np.empty(n_images, dtype=np.float64)
    for b, start in enumerate(range(0, n_images, batch_size)):
        sl = slice(start, min(start + batch_size, n_images))
        out = render_chest_radiographs({k: v[sl] for k, v in render_params.items()}, image_size=image_size,
                                       random_state=int(seeds[b]), device=device)
        images[sl] = out.images.cpu().numpy()
        masks[sl] = out.lung_masks.cpu().numpy()
        lung = out.lung_masks.float()
        opaque = ((out.fibrosis > 0.04).float() * lung).sum((1, 2)) / lung.sum((1, 2)).clamp_min(1)
        opacity[sl] = opaque.cpu().numpy()
    for i in range(n_images):
        s = sites[img_site[i]]
        burn_in_marker(images[i], s["name"], s["corner"])

    manifest.insert(manifest.columns.get_loc("lesion_load") + 1, "opacity_fraction", opacity)
    logger.info("made a fibrosis cohort of %d images (%d patients, %d sites)", n_images, n_patients, n_sites)
    return FibrosisCohort(manifest=manifest, images=images, lung_masks=masks, params=params)


def make_fibrosis_manifest(
    n_patients: int = 200,
    *,
    n_visits: int = 2,
    n_sites: int = 3,
    site_shortcut: float = 0.0,
    n_readers: int = 3,
    reader_noise: float = 0.12,
    shared_noise: float = 0.12,
    nodule_rate: float = 0.3,
    random_state: "int | np.random.RandomState | None" = 0,
) -> pd.DataFrame:
    """The manifest of :func:`make_fibrosis_cohort` without rendering any image (fast).

    Same arguments and, for the same arguments, the same rows as the cohort's manifest (less the measured
    ``opacity_fraction``): use it to study labels, readers and the oracle AUC of large cohorts.

    Returns
    -------
    pandas.DataFrame, one row per image

    Examples
    --------
    >>> from medai_lib.fibrosis import make_fibrosis_manifest
    >>> len(make_fibrosis_manifest(10, n_visits=3))
    30
    """
    return _draw_cohort(n_patients, n_visits=n_visits, n_sites=n_sites, site_shortcut=site_shortcut,
                        n_readers=n_readers, reader_noise=reader_noise, shared_noise=shared_noise,
                        nodule_rate=nodule_rate, random_state=random_state, batch_size=64)[0]


def lung_histogram_features(images, lung_masks, *, n_bins: int = 32) -> np.ndarray:
    """Normalised intensity histograms of the lung fields: the naive baseline's features.

    Parameters
    ----------
    images : array_like, float, shape (n_images, height, width)
        Values in [0, 1].
    lung_masks : array_like, bool, shape (n_images, height, width)
    n_bins : int, default 32

    Returns
    -------
    numpy.ndarray, float64, shape (n_images, n_bins)
        Each row sums to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.fibrosis import lung_histogram_features
    >>> lung_histogram_features(np.full((1, 4, 4), 0.5), np.ones((1, 4, 4), bool), n_bins=4).tolist()
    [[0.0, 0.0, 1.0, 0.0]]
    """
    images = np.asarray(images)
    lung_masks = np.asarray(lung_masks, dtype=bool)
    if images.ndim != 3 or images.shape != lung_masks.shape:
        raise MedaiInputError(
            f"images and lung_masks must both have shape (n_images, height, width); got {images.shape} "
            f"and {lung_masks.shape}."
        )
    n_bins = _check_int("n_bins", n_bins, 2, 1024)
    idx = np.clip((images * n_bins).astype(np.int64), 0, n_bins - 1)
    out = np.zeros((images.shape[0], n_bins))
    for i in range(images.shape[0]):
        counts = np.bincount(idx[i][lung_masks[i]], minlength=n_bins)
        out[i] = counts / max(counts.sum(), 1)
    return out
