"""Rendering of posteroanterior (PA) chest-radiograph phantoms, a batch at a time, with PyTorch.

Anatomy, fibrosis, nodules and site processing are drawn from per-image parameters on any torch device;
the cohort module draws those parameters (and the ground truth) and calls :func:`render_chest_radiographs`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from medai_lib.errors import MedaiInputError

# Image convention: x in [-1, 1] from image left to image right, y in [-1, 1] from top to bottom.
# PA view displayed as usual: the patient's right is on the image left, so the heart bulges to the
# image right and the gastric bubble sits under the image-right hemidiaphragm.

#: Per-image anatomical and acquisition parameters (arrays of shape (n_images,)).
ANATOMY_FIELDS = (
    "body_scale",  # overall thorax size, ~1
    "inspiration",  # standardised depth of inspiration (+ deeper, diaphragm lower)
    "rotation_deg",  # in-plane rotation (patient positioning)
    "shift_x",  # horizontal positioning offset, normalised units
    "shift_y",
    "heart_ratio",  # cardiothoracic ratio
    "lesion_load",  # fibrosis burden in [0, 1] (0: none)
    "exposure",  # relative exposure (mAs), ~1
    "contrast",  # relative contrast (kVp), ~1
    "gamma",  # display gamma of the site processing
    "unsharp",  # edge-enhancement strength of the site processing
    "noise",  # quantum-noise standard deviation
    "breast",  # breast soft-tissue shadows over the lower zones, 0 (none) to 1
)


@dataclass(frozen=True)
class RenderedBatch:
    """Output of :func:`render_chest_radiographs` (torch tensors on the rendering device).

    Attributes
    ----------
    images : torch.Tensor, float32, shape (n_images, size, size)
        Display values in [0, 1]; bright = attenuating (bone, heart), dark = air (lungs).
    lung_masks : torch.Tensor, bool, shape (n_images, size, size)
    fibrosis : torch.Tensor, float32, shape (n_images, size, size)
        The fibrotic opacity added to the attenuation map (ground truth of where disease is drawn).
    """

    images: object
    lung_masks: object
    fibrosis: object


def _torch():
    import torch

    return torch


def _smooth_field(torch, gen, n, size, cells, device):
    """Band-limited random field: white noise on a coarse grid, upsampled smoothly, about unit variance."""
    interpolate = torch.nn.functional.interpolate
    coarse = torch.randn((n, 1, cells, cells), generator=gen, device=device)
    # Bicubic to half size, then bilinear: smooth enough, at a quarter of the bicubic cost.
    half = max(cells, size // 2)
    field = interpolate(coarse, size=(half, half), mode="bicubic", align_corners=False)
    if half != size:
        field = interpolate(field, size=(size, size), mode="bilinear", align_corners=False)
    field = field[:, 0]
    return field / field[:, ::4, ::4].flatten(1).std(dim=1).clamp_min(1e-6)[:, None, None]


def _gauss(u2):
    """A cheap Gaussian bump of a squared argument: (1 - u2/4)^4, close to exp(-u2), zero beyond u2 = 4."""
    g = (1 - 0.25 * u2).clamp_min(0)
    g = g * g
    return g * g


def _tube(d, half_width):
    """Projected thickness of a hollow bone (cortex brighter than marrow) at distance ``d`` from its axis."""
    d2 = d * d
    outer = (half_width**2 - d2).clamp_min(0).sqrt()
    inner = ((0.65 * half_width) ** 2 - d2).clamp_min(0).sqrt()
    return (outer - 0.55 * inner) / half_width


def _soft_inside(signed, edge):
    """Soft indicator of ``signed > 0`` with an edge of width ``edge`` (normalised units)."""
    return (signed / edge).sigmoid()


def render_chest_radiographs(params: dict, *, image_size: int = 256, random_state: int = 0, device="cpu"):
    """Render a batch of PA chest-radiograph phantoms from per-image parameters.

    Parameters
    ----------
    params : dict of str to array_like, each of shape (n_images,)
        One entry per name in :data:`ANATOMY_FIELDS`, plus ``n_nodules`` (int counts).
    image_size : int, default 256
        Width and height in pixels (32 to 2048).
    random_state : int, default 0
        Seed of the torch generator that draws textures, nodules and noise for this batch.
    device : str or torch.device, default "cpu"
        Where to render; a CUDA device renders much faster for large batches.

    Returns
    -------
    RenderedBatch
        ``images`` (float32 in [0, 1]), ``lung_masks`` (bool) and ``fibrosis`` (float32), all of shape
        (n_images, image_size, image_size), on ``device``.

    Examples
    --------
    >>> from medai_lib.fibrosis.phantom import default_anatomy, render_chest_radiographs
    >>> batch = render_chest_radiographs(default_anatomy(2), image_size=64)
    >>> tuple(batch.images.shape)
    (2, 64, 64)
    """
    torch = _torch()
    if not isinstance(image_size, (int, np.integer)) or not 32 <= image_size <= 2048:
        raise MedaiInputError(f"image_size must be an integer from 32 to 2048; got {image_size!r}.")
    missing = [f for f in ANATOMY_FIELDS + ("n_nodules",) if f not in params]
    if missing:
        raise MedaiInputError(
            f"params is missing {missing}; start from default_anatomy(n) and change fields."
        )
    device = torch.device(device)
    size = int(image_size)
    p = {k: torch.as_tensor(np.asarray(params[k], dtype=np.float32), device=device) for k in ANATOMY_FIELDS}
    n = int(p["body_scale"].shape[0])
    n_nodules = np.asarray(params["n_nodules"], dtype=np.int64)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(random_state))

    def col(t):
        return t[:, None, None]

    # The patient is drawn in an upright frame where x varies along columns only and y along rows only,
    # so that everything depending on one of them costs a row or a column, not an image; the in-plane
    # rotation of the positioning is applied at the end with one resampling.
    lin = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size * 2 - 1
    scale = col(p["body_scale"])
    x = (lin[None, None, :] - col(p["shift_x"])) / scale  # (n, 1, size)
    y = (lin[None, :, None] - col(p["shift_y"])) / scale  # (n, size, 1)
    edge = 2.0 / size / scale  # one pixel, in patient units

    load = col(p["lesion_load"].clamp(0, 1))
    insp = col(p["inspiration"])
    ax = x.abs()

    # Thorax: the lateral chest wall widens from the apices to the lower ribs (a bell), then the abdomen.
    thorax_w = 0.70 + 0.015 * insp
    bell = ((y + 0.92) / 0.72).clamp(0, 1).sqrt()
    wall = thorax_w * (0.50 + 0.50 * bell) + 0.02 * ((y - 0.1) / 0.5).clamp(0, 1)
    body_w = wall + 0.12
    # Arms at the sides below the shoulders; above them the trapezius slopes up to the neck.
    body_w = body_w + 0.17 * torch.exp(-(((y + 0.70).clamp_min(0) / 0.30) ** 2))
    shoulder_w = thorax_w * (0.50 + 0.50 * (0.22 / 0.72) ** 0.5) + 0.12 + 0.17
    slope = 0.19 + (shoulder_w - 0.19) * ((y + 1.02) / 0.32).clamp(0, 1) ** 0.8
    body_w = torch.where(y < -0.70, slope, body_w)
    body = _soft_inside(body_w - ax, edge)
    across = x * (1 / body_w.clamp_min(0.1))
    soft = body * (1 - across * across).clamp_min(0).sqrt()

    # Diaphragm: level at the costophrenic sulcus; the image-left (patient's right) dome sits higher.
    # Fibrosis shrinks the lungs (volume loss): the diaphragm rises and the lungs narrow.
    dia = 0.55 + 0.07 * insp - 0.16 * load
    dome_level = dia + 0.035 * (x > 0)
    medial = 0.11 + 0.03 * ((y + 0.2) / 0.5).clamp(0, 1)
    apex = -0.84 + 0.03 * load
    lateral = wall - 0.035 - 0.04 * load
    lat_y = medial + 0.02 + (lateral - medial - 0.02) * ((y - apex) / 0.42).clamp(0, 1).sqrt()
    uc = (medial + lateral) / 2
    half = (lateral - medial) / 2
    t_lat = ((ax - uc) / half).clamp(-1.5, 1.5)
    t_lat2 = t_lat * t_lat
    dome = dome_level - 0.17 * (1 - t_lat2).clamp_min(0)  # domes, falling into the costophrenic angles
    lungs = (_soft_inside(lat_y - ax, edge) * _soft_inside(ax - medial, edge)
             * _soft_inside(y - apex, edge) * _soft_inside(dome - y, edge))
    # Heart (two-thirds to the image right) sits on the diaphragm; aortic knob above it.
    heart_hw = col(p["heart_ratio"]) * thorax_w
    hcx = 0.30 * heart_hw
    hcy = dia - 0.10
    # Long axis tilted towards the apex (image right, down).
    tilt_c, tilt_s = math.cos(0.5), math.sin(0.5)
    ha = tilt_c * (x - hcx) + tilt_s * (y - hcy)
    hb = -tilt_s * (x - hcx) + tilt_c * (y - hcy)
    ha = ha / heart_hw
    hb = hb * 4.0
    heart_r = ha * ha + hb * hb
    heart = _soft_inside(1 - heart_r, edge * 4)
    knob_r = ((x - 0.12) / 0.065) ** 2 + ((y + 0.36) / 0.075) ** 2
    knob = _soft_inside(1 - knob_r, edge * 3)
    lungs = lungs * (1 - heart) * (1 - knob)
    depth = lungs * (0.55 + 0.45 * (1 - t_lat2).clamp_min(0).sqrt())
    depth = depth * (0.70 + 0.30 * ((y - apex) / 0.4).clamp(0, 1))

    # Attenuation map (arbitrary units): soft tissue minus air, plus heart, great vessels and bone.
    att = 1.0 * soft - 0.66 * depth
    heart_thick = (1 - heart_r).clamp_min(0).sqrt()
    att = att + 0.14 * heart_thick * _soft_inside(dome_level + 0.05 - y, edge * 4) + 0.03 * knob
    # Trachea: an air column in the midline down to the carina.
    trachea = _soft_inside(0.032 - ax, edge * 2) * _soft_inside(-0.30 - y, 0.03)
    att = att - 0.16 * trachea
    # Gastric bubble under the image-right hemidiaphragm.
    bubble = ((x - 0.32) / 0.09) ** 2 + ((y - dome_level - 0.07) / 0.045) ** 2
    att = att - 0.22 * _soft_inside(1 - bubble, edge * 3)

    # Breast shadows: soft-tissue density over the lower zones with a curved lower border.
    bx = (ax - 0.42) * (1 / 0.30)
    by = (y - 0.30) * (1 / 0.30)
    att = att + 0.07 * col(p["breast"]) * _soft_inside(1 - bx * bx - by * by, 0.08)

    # Spine: vertebral bodies separated by darker discs, pedicles as paired ovals.
    spine = _soft_inside(0.06 - ax, edge) * _soft_inside(y + 0.98, edge)
    level = (y + 0.98) / (0.085 + 0.004 * insp)
    disc = 0.5 + 0.5 * torch.cos(2 * math.pi * level)
    att = att + 0.10 * spine * (0.7 + 0.3 * disc)
    ped = ((ax - 0.042) / 0.016) ** 2 + ((torch.frac(level) - 0.45) / 0.22) ** 2
    att = att + 0.05 * spine * _soft_inside(1 - ped, 0.3)

    # Ribs: posterior arcs leave the spine, rise a little and turn down at the chest wall; anterior arcs
    # run from the chest wall down and medially to the costal cartilage (which is not visible).
    # Only the nearest posterior and anterior rib is evaluated at each pixel (they do not overlap),
    # which keeps the cost independent of the number of ribs.
    tt = (ax / wall).clamp(0, 1.15)
    inside_thorax = _soft_inside(wall + 0.045 - ax, edge * 2)
    spacing = 0.118 + 0.008 * insp
    tt2 = tt * tt
    tt3 = tt2 * tt

    def nearest(offset):
        k = ((y + 0.90 - offset + 0.10 * tt - 0.24 * tt3) / spacing).round().clamp(0, 10)
        yk = -0.90 + k * spacing + 0.002 * k * k
        curl = 0.30 - 0.014 * k
        return k, yk, curl

    k, yk, curl = nearest(0.0)
    rise = (-0.10 + 3 * curl * tt2) / wall
    d_post = (y - (yk - 0.10 * tt + curl * tt3)).abs() * (1 + rise * rise).rsqrt()
    ribs = _tube(d_post, 0.022 + 0.0015 * k) * _soft_inside(ax - 0.05, edge)
    ramp = 0.40 * (1 - tt).clamp_min(0) ** 1.2
    k, yk, curl = nearest(0.14 + ramp - 0.10 * tt + 0.24 * tt3)
    d_ant = (y - (yk - 0.10 + curl + ramp)).abs() / (1 + (0.40 / wall) ** 2) ** 0.5
    ribs = (ribs + 0.5 * _tube(d_ant, 0.017) * _soft_inside(tt - 0.40, 0.05)) * inside_thorax
    att = att + 0.10 * ribs

    # Clavicles (gently S-shaped) and humeral heads.
    tcl = ((ax - 0.05) / 0.55).clamp(0, 1)
    y_cl = -0.62 - 0.12 * tcl + 0.025 * torch.sin(2 * math.pi * tcl)
    clav = _tube((y - y_cl).abs(), 0.030) * _soft_inside(0.64 - ax, edge * 2)
    clav = clav * _soft_inside(ax - 0.05, edge * 2)
    att = att + 0.14 * clav
    hum = ((ax - wall - 0.16) / 0.12) ** 2 + ((y + 0.70) / 0.12) ** 2
    att = att + 0.14 * (1 - hum).clamp_min(0).sqrt()

    # Normal lung markings: vessels fan out from the hila, fading toward the periphery.
    wobble = _smooth_field(torch, gen, n, size, max(8, size // 16), device)
    hilum_u, hilum_y = 0.17, -0.12
    radius = ((ax - hilum_u) ** 2 + (y - hilum_y) ** 2).sqrt()
    angle = torch.atan2(y - hilum_y, ax - hilum_u)
    rays = torch.sin(9 * angle + 0.5 * wobble + 3 * radius)
    r = radius / 0.35
    sharp = rays * 4.0 * (1 + r + 0.5 * r * r)  # lines thin out away from the hilum
    q = radius / 0.28
    fade = 1 / (1 + q + 0.5 * q * q)
    markings = _gauss(sharp * sharp) * fade
    att = att + 0.10 * markings * lungs

    # Fibrosis: basal and peripheral (subpleural) reticulation, honeycombing at high load, haze.
    basal = ((y - (dome - 0.55)) / 0.4).clamp(0, 1)
    periph = ((ax - uc) / half + 0.2).clamp(0, 1.2) / 1.2
    where = lungs * (0.15 + 0.85 * basal) * (0.10 + 0.90 * periph * periph)
    extent = (where * (0.6 + 2.2 * load) - (1 - load) * 0.35).clamp(0, 1) * (load > 0)
    f1 = _smooth_field(torch, gen, n, size, max(8, size // 7), device)
    f2 = _smooth_field(torch, gen, n, size, max(8, size // 7), device)
    retic = torch.maximum(_gauss(f1 * f1 * (1 / 0.28**2)), _gauss(f2 * f2 * (1 / 0.28**2)))
    hc = _smooth_field(torch, gen, n, size, max(6, size // 14), device)
    walls = _gauss(hc * hc * (1 / 0.30**2))
    honey = ((extent - 0.55) / 0.3).clamp(0, 1) * (load > 0.45)
    fib = extent * (0.14 * retic + 0.05) + honey * (0.16 * walls - 0.03 * (1 - walls))
    att = att + fib

    # Nodules: small round opacities anywhere in the lungs (not disease-specific).
    max_nod = int(n_nodules.max()) if n > 0 else 0
    if max_nod > 0:
        centres = torch.rand((n, max_nod, 2), generator=gen, device=device) * 2 - 1
        radii = 0.015 + 0.03 * torch.rand((n, max_nod), generator=gen, device=device)
        active = torch.as_tensor(np.arange(max_nod)[None] < n_nodules[:, None], device=device)
        for j in range(max_nod):
            cxj, cyj = centres[:, j, 0] * 0.6, centres[:, j, 1] * 0.45 - 0.15
            dx, dy = (x - col(cxj)) / col(radii[:, j]), (y - col(cyj)) / col(radii[:, j])
            att = att + 0.18 * _gauss(dx * dx + dy * dy) * lungs * col(active[:, j].float())

    # Positioning: rotate the patient in the image plane (one bilinear resampling of the three maps).
    theta = p["rotation_deg"] * math.pi / 180
    affine = torch.zeros((n, 2, 3), device=device)
    affine[:, 0, 0], affine[:, 0, 1] = torch.cos(theta), -torch.sin(theta)
    affine[:, 1, 0], affine[:, 1, 1] = torch.sin(theta), torch.cos(theta)
    grid = torch.nn.functional.affine_grid(affine, [n, 3, size, size], align_corners=False)
    maps = torch.stack([att.expand(n, size, size), lungs.expand(n, size, size), fib.expand(n, size, size)], 1)
    maps = torch.nn.functional.grid_sample(maps, grid, mode="bilinear", padding_mode="border",
                                           align_corners=False)
    att, lung_mask, fib = maps[:, 0], maps[:, 1] > 0.5, maps[:, 2]

    # Acquisition: exposure and beam quality, then the site's processing (gamma, edge enhancement), noise.
    # Processed radiographs display log exposure, i.e. roughly attenuation; exposure shifts the level.
    img = (att * col(p["contrast"]) - 0.08 * col(p["exposure"])) / 1.3
    img = img.clamp(0, 1) ** col(p["gamma"])
    blur_k = max(3, (size // 32) | 1)
    pool = torch.nn.functional.avg_pool2d
    blurred = pool(img[:, None], (blur_k, 1), stride=1, padding=(blur_k // 2, 0), count_include_pad=False)
    blurred = pool(blurred, (1, blur_k), stride=1, padding=(0, blur_k // 2), count_include_pad=False)[:, 0]
    img = img + col(p["unsharp"]) * (img - blurred)
    noise = torch.randn(img.shape, generator=gen, device=device) * col(p["noise"])
    img = (img + noise * (0.4 + img.clamp_min(0)).sqrt()).clamp(0, 1)
    return RenderedBatch(images=img.float(), lung_masks=lung_mask, fibrosis=fib.float())


def default_anatomy(n_images: int) -> dict:
    """Average-patient parameters for ``n_images`` images (no disease, no nodules, standard exposure).

    Examples
    --------
    >>> from medai_lib.fibrosis.phantom import default_anatomy
    >>> default_anatomy(3)["lesion_load"].tolist()
    [0.0, 0.0, 0.0]
    """
    base = {
        "body_scale": 1.0, "inspiration": 0.0, "rotation_deg": 0.0, "shift_x": 0.0, "shift_y": 0.0,
        "heart_ratio": 0.45, "lesion_load": 0.0, "exposure": 1.0, "contrast": 1.0, "gamma": 1.0,
        "unsharp": 0.3, "noise": 0.01, "breast": 0.0,
    }
    out = {k: np.full(n_images, v, dtype=np.float64) for k, v in base.items()}
    out["n_nodules"] = np.zeros(n_images, dtype=np.int64)
    return out
