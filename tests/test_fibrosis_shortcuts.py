"""Helpers of the shortcut lesson (notebook 2.4): scoring, per-site scores, the external-validation table."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis import make_fibrosis_cohort, patient_split, predict_fibrosis
from medai_lib.fibrosis.shortcuts import (
    external_validation_table,
    fit_and_predict,
    mean_score_by_site,
    plot_cam_row,
    plot_lung_histograms_by_site,
)


def test_fit_and_predict_scores_both_cohorts_with_the_trained_model():
    c = make_fibrosis_cohort(24, image_size=32, random_state=0)
    ext = make_fibrosis_cohort(6, image_size=32, random_state=1)
    model, internal, external = fit_and_predict(c.images, c.manifest, patient_split(c.manifest), ext.images,
                                                image_size=32, epochs=1, device="cpu", progress=False)
    np.testing.assert_allclose(external, predict_fibrosis(model, ext.images, image_size=32, device="cpu"))
    assert internal.shape == (48,) and ((0 <= internal) & (internal <= 1)).all()


def test_mean_score_by_site_is_pandas_groupby_of_the_healthy():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"score": rng.random(200), "label": rng.integers(0, 2, 200),
                       "site": rng.choice(list("ABC"), 200)})
    expected = df[df["label"] == 0].groupby("site")["score"].mean()
    got = mean_score_by_site(df["score"], df["label"], df["site"])
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy())
    assert got.index.tolist() == ["A", "B", "C"]
    with pytest.raises(MedaiInputError, match="no image has label 1"):
        mean_score_by_site([0.1], [0], ["A"], label=1)
    with pytest.raises(MedaiInputError, match="1-D of one length"):
        mean_score_by_site([0.1, 0.2], [0], ["A"])


def test_external_validation_table_against_sklearn():
    rng = np.random.default_rng(1)
    y_test, y_ext = rng.integers(0, 2, 80), np.repeat(rng.integers(0, 2, 50), 2)
    shortcut = (y_test + rng.normal(0, 0.5, 80), rng.random(100), 0.99)
    fixed = (y_test + rng.normal(0, 0.8, 80), y_ext + rng.normal(0, 1.0, 100), 0.57)
    table = external_validation_table(y_test, y_ext, {"shortcut": shortcut, "fixed": fixed},
                                      external_clusters=np.repeat(np.arange(50), 2), n_bootstrap=300)
    for name, (internal, external, accuracy) in (("shortcut", shortcut), ("fixed", fixed)):
        assert table.loc[name, "internal AUC"] == pytest.approx(roc_auc_score(y_test, internal))
        assert table.loc[name, "external AUC"] == pytest.approx(roc_auc_score(y_ext, external))
        assert table.loc[name, "site named from lungs"] == accuracy
        assert table.loc[name, "95% CI low (patients)"] < table.loc[name, "external AUC"]
    ref_int, ref_ext = roc_auc_score(y_test, shortcut[0]), roc_auc_score(y_ext, shortcut[1])
    expected = (roc_auc_score(y_ext, fixed[1]) - ref_ext) / (ref_int - ref_ext)
    assert table.loc["fixed", "loss recovered"] == pytest.approx(expected)
    assert np.isnan(table.loc["shortcut", "loss recovered"])
    with pytest.raises(MedaiInputError, match="reference 'x' is not one of the runs"):
        external_validation_table(y_test, y_ext, {"a": shortcut}, external_clusters=np.arange(100), reference="x")


def test_figures_have_a_panel_per_image_and_site():
    c = make_fibrosis_cohort(6, n_visits=1, image_size=32, random_state=0)
    m = c.manifest
    fig = plot_cam_row(c.images, c.images[:2], np.full(6, 0.5), [0, 1], lung_masks=c.lung_masks,
                       markers=np.zeros_like(c.lung_masks), labels=m["label"].to_numpy(),
                       sites=m["site"].to_numpy(), title="t")
    assert len(fig.axes) == 3  # two images and the colour bar
    fig = plot_lung_histograms_by_site({"as is": (c.images, 0, 1), "twice": (2 * c.images, 0, 2)},
                                       c.lung_masks, m["site"])
    n_sites = m["site"].nunique()
    assert len(fig.axes) == 2 * (n_sites + 1)
    assert len(fig.axes[n_sites].get_legend().get_texts()) == n_sites
