"""Headless tests of medai_lib.widgets: move the controls and check what is displayed against evaluation."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from medai_lib.data import make_clinical_table
from medai_lib.errors import MedaiInputError
from medai_lib.evaluation import confusion_table, make_binormal, natural_frequencies, predictive_values
from medai_lib.widgets import distribution_explorer, prevalence_explorer, threshold_explorer


@pytest.fixture(scope="module")
def scores():
    y, s = make_binormal(60, 140, auc=0.8, random_state=1)
    return y, np.round(1 / (1 + np.exp(-s)), 3)


def test_threshold_explorer_follows_the_slider(scores):
    y, p = scores
    ex = threshold_explorer(y, p, threshold=0.5)
    for value in (0.3, 0.62, 0.5):
        ex.slider.value = value
        shown = ex.displayed
        ref = confusion_table(y, p, threshold=value)
        assert shown["threshold"] == value and shown["table"] == ref
        assert shown["sensitivity"] == ref.sensitivity and shown["ppv"] == ref.ppv
        assert shown["roc_point"] == pytest.approx((1 - ref.specificity, ref.sensitivity))
        point = ex._point
        assert (point.get_xdata()[0], point.get_ydata()[0]) == pytest.approx(shown["roc_point"])
        assert f"<td>{ref.tp}</td>" in ex.table_html.value
        assert f"{ref.npv:.1%}" in ex.metrics_html.value and f"{ref.npv:.1%}" in ex.caption_html.value
    assert ex.image.value[:4] == b"\x89PNG"
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()
    with pytest.raises(MedaiInputError, match="threshold=5 is outside the range"):
        threshold_explorer(y, p, threshold=5)


def test_prevalence_explorer_screening_vs_referral():
    ex = prevalence_explorer(0.9, 0.95)
    assert ex.displayed["prevalence"] == 0.01
    ex.setting.value = 0.30  # the referral-clinic button
    assert ex.slider.value == 0.30
    ref = predictive_values(0.9, 0.95, 0.30).iloc[0]
    assert ex.displayed["ppv"] == pytest.approx(ref["ppv"]) and ex.displayed["npv"] == pytest.approx(ref["npv"])
    ex.slider.value = 0.05
    assert ex.setting.value is None  # no preset matches any more
    freq = natural_frequencies(0.9, 0.95, 0.05)
    assert ex.displayed["frequencies"] == freq
    assert f"<td>{freq.table.tp}</td><td>{freq.table.fn}</td>" in ex.table_html.value
    assert "Of 1,000 people, 50 have the disease" in ex.displayed["caption"]
    with pytest.raises(MedaiInputError, match="sensitivity must be a proportion"):
        prevalence_explorer(90, 0.95)


def test_distribution_explorer_dropdowns():
    df = make_clinical_table(120, random_state=0)
    ex = distribution_explorer(df)
    assert ex.displayed["by"] is None and ex.displayed["groups"] == ["all"]
    assert "sex" in ex.by.options and "age" in ex.column.options and "patient_id" not in ex.by.options
    ex.column.value = "systolic_bp_mmhg"
    ex.by.value = "sex"
    assert ex.displayed["column"] == "systolic_bp_mmhg"
    assert ex.displayed["groups"] == sorted(df["sex"].dropna().astype(str).unique())
    ex.kind.value = "box"
    assert ex.displayed["caption"].startswith("Box plots of systolic_bp_mmhg by sex")
    with pytest.raises(MedaiInputError, match="by='age' is not one of the usable columns"):
        distribution_explorer(df, by="age")
