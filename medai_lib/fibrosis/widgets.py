"""An image browser for radiograph cohorts: window/level, label, model prediction, lung mask and Grad-CAM.

Headless-safe like :mod:`medai_lib.widgets`: controls are wired with ``observe``, the picture is a PNG, and
``.displayed`` holds exactly what is on screen so tests can move the controls and check it.
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis.explain import apply_window
from medai_lib.fibrosis.models import check_images
from medai_lib.widgets import _Explorer, _new_figure, _png

__all__ = ["ImageBrowser", "image_browser"]


class ImageBrowser(_Explorer):
    """Browse a cohort one image at a time.

    Attributes
    ----------
    index : ipywidgets.IntSlider
        Which image (row of the manifest).
    center, width : ipywidgets.FloatSlider
        Window level and width on the 0..1 display scale (1, 0.5 shows the stored image unchanged).
    show_mask, show_cam : ipywidgets.Checkbox
        Outline the lung mask; overlay the Grad-CAM map (only offered when given).
    widget : ipywidgets.VBox
    displayed : dict
        ``index``, ``image_id``, ``label``, ``prediction`` (or None), ``center``, ``width``, ``show_mask``,
        ``show_cam``, ``shown_pixels`` (the windowed image drawn, float32 (H, W)) and ``caption``.
    """

    def __init__(self, images, manifest: pd.DataFrame, *, predictions=None, lung_masks=None, cams=None,
                 index: int = 0):
        import ipywidgets as w

        self.images = check_images(images)
        n = len(self.images)
        if not isinstance(manifest, pd.DataFrame) or len(manifest) != n:
            raise MedaiInputError(f"manifest must be a DataFrame with one row per image ({n}); got "
                                  f"{type(manifest).__name__} of length {len(manifest) if hasattr(manifest, '__len__') else '?'}.")
        self.manifest = manifest.reset_index(drop=True)
        self.predictions = None
        if predictions is not None:
            self.predictions = np.asarray(predictions, dtype=float).reshape(-1)
            if len(self.predictions) != n:
                raise MedaiInputError(f"predictions must hold one probability per image ({n}); got "
                                      f"{len(self.predictions)}.")
        for name, value in (("lung_masks", lung_masks), ("cams", cams)):
            if value is not None and np.shape(value) != self.images.shape:
                raise MedaiInputError(f"{name} must have the shape of images {self.images.shape}; got "
                                      f"{np.shape(value)}.")
        self.lung_masks = None if lung_masks is None else np.asarray(lung_masks, bool)
        self.cams = None if cams is None else np.asarray(cams, float)
        if not 0 <= index < n:
            raise MedaiInputError(f"index must be from 0 to {n - 1}; got {index!r}.")
        layout = w.Layout(width="380px")
        style = {"description_width": "initial"}
        self.index = w.IntSlider(value=index, min=0, max=n - 1, description="Image", continuous_update=False,
                                 layout=layout, style=style)
        self.center = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="Window level",
                                    continuous_update=False, layout=layout, style=style)
        self.width = w.FloatSlider(value=1.0, min=0.05, max=2.0, step=0.05, description="Window width",
                                   continuous_update=False, layout=layout, style=style)
        self.show_mask = w.Checkbox(value=False, description="Lung mask", disabled=self.lung_masks is None)
        self.show_cam = w.Checkbox(value=False, description="Grad-CAM", disabled=self.cams is None)
        self.image = w.Image(format="png", layout=w.Layout(width="340px"))
        self.info = w.HTML()
        self.widget = w.VBox([self.index, self.center, self.width, w.HBox([self.show_mask, self.show_cam]),
                              w.HBox([self.image, self.info])])
        self._fig = _new_figure(4.0, 4.0)
        self.displayed: dict = {}
        for control in (self.index, self.center, self.width, self.show_mask, self.show_cam):
            control.observe(self._on_change, names="value")
        self._render()

    def _on_change(self, change) -> None:
        self._render()

    def _render(self) -> None:
        i = int(self.index.value)
        row = self.manifest.iloc[i]
        shown = apply_window(self.images[i], center=float(self.center.value), width=float(self.width.value))
        show_mask = bool(self.show_mask.value) and self.lung_masks is not None
        show_cam = bool(self.show_cam.value) and self.cams is not None
        self._fig.clear()
        ax = self._fig.add_subplot()
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1)
        if show_cam:
            ax.imshow(self.cams[i], cmap="magma", vmin=0, vmax=1, alpha=0.45)
        if show_mask:
            ax.contour(self.lung_masks[i].astype(float), levels=[0.5], colors=["#56B4E9"], linewidths=1,
                       linestyles="--")
        ax.set_xticks([])
        ax.set_yticks([])
        label = row.get("label", np.nan)
        label_text = "unknown" if pd.isna(label) else ("fibrosis" if int(label) == 1 else "no fibrosis")
        prediction = None if self.predictions is None else float(self.predictions[i])
        image_id = str(row.get("image_id", i))
        ax.set_title(image_id, fontsize="small")
        caption = (f"Image {image_id}: reader label {label_text}"
                   + ("" if prediction is None else f"; model probability of fibrosis {prediction:.2f}")
                   + f"; window level {self.center.value:.2f}, width {self.width.value:.2f}"
                   + ("; Grad-CAM shown (bright: raised the score)" if show_cam else "")
                   + ("; lung outline dashed" if show_mask else "") + ".")
        self.image.value = _png(self._fig)
        details = {k: row[k] for k in ("site", "sex", "age", "visit") if k in row.index}
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                       for k, v in [("label", label_text), ("prediction", "n/a" if prediction is None else f"{prediction:.2f}"),
                                    *details.items()])
        self.info.value = f"<table>{rows}</table><p>{html.escape(caption)}</p>"
        self.image.description = caption
        self.displayed = {"index": i, "image_id": image_id, "label": None if pd.isna(label) else int(label),
                          "prediction": prediction, "center": float(self.center.value),
                          "width": float(self.width.value), "show_mask": show_mask, "show_cam": show_cam,
                          "shown_pixels": shown, "caption": caption}


def image_browser(images, manifest: pd.DataFrame, *, predictions=None, lung_masks=None, cams=None,
                  index: int = 0) -> ImageBrowser:
    """An :class:`ImageBrowser` over ``images`` (shape (n_images, H, W), display values in [0, 1]).

    Parameters
    ----------
    images : numpy.ndarray, float, shape (n_images, H, W)
    manifest : pandas.DataFrame, one row per image (``image_id``, ``label``, ``site``...)
    predictions : array_like, shape (n_images,), optional
        Model probabilities of fibrosis.
    lung_masks : numpy.ndarray, bool, shape (n_images, H, W), optional
    cams : numpy.ndarray, float, shape (n_images, H, W), optional
        Grad-CAM maps (:func:`medai_lib.fibrosis.explain.grad_cam`).
    index : int, default 0
        The image shown first.

    Returns
    -------
    ImageBrowser

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.fibrosis.widgets import image_browser
    >>> b = image_browser(np.zeros((2, 16, 16), np.float32), pd.DataFrame({"label": [0, 1]}))
    >>> b.index.value = 1; b.displayed["label"]
    1
    """
    return ImageBrowser(images, manifest, predictions=predictions, lung_masks=lung_masks, cams=cams, index=index)
