"""Tests of medai_lib.plotting: each function draws what it is given on the given Axes and returns it."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation import (
    ConfusionTable,
    calibration_summary,
    decision_curve,
    make_binormal,
    pr_curve,
    roc_curve,
)
from medai_lib.plotting import (
    OKABE_ITO,
    PALETTE,
    caption_of,
    plot_calibration,
    plot_confusion_table,
    plot_decision_curve,
    plot_distribution_by_group,
    plot_pr,
    plot_roc,
)


@pytest.fixture(scope="module")
def scores():
    y, s = make_binormal(80, 120, auc=0.8, random_state=0)
    return y, 1 / (1 + np.exp(-s))


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_okabe_ito_palette():
    assert OKABE_ITO["vermillion"] == "#D55E00" and OKABE_ITO["bluish_green"] == "#009E73"
    assert set(PALETTE) <= set(OKABE_ITO.values())


def test_plot_roc_draws_curve_band_and_point(scores):
    y, p = scores
    roc = roc_curve(y, p, n_bootstrap=200)
    fig, ax = plt.subplots()
    out = plot_roc(roc, ax=ax, label="model", operating_point=(0.2, 0.7))
    assert out is ax
    curve = [line for line in ax.lines if "AUC" in line.get_label()][0]
    np.testing.assert_allclose(curve.get_xdata(), roc.fpr)
    assert f"{roc.auc:.3f}" in curve.get_label()
    assert len(ax.collections) == 1  # the band
    point = ax.lines[-1]
    assert point.get_xdata()[0] == 0.2 and point.get_ydata()[0] == 0.7
    assert mcolors.to_hex(curve.get_color()).upper() == PALETTE[0]
    assert "bootstrap band" in caption_of(ax) and "operating point" in caption_of(ax)
    assert len(plot_roc(roc_curve(y, p), show_band=False).collections) == 0
    with pytest.raises(TypeError, match="RocCurve"):
        plot_roc((roc.fpr, roc.tpr))


def test_plot_pr_calibration_decision(scores):
    y, p = scores
    pr = pr_curve(y, p)
    ax = plot_pr(pr)
    assert ax.lines[-1].get_ydata()[0] == pytest.approx(pr.prevalence)
    summary = calibration_summary(y, p, n_bins=5)
    ax = plot_calibration(summary)
    np.testing.assert_allclose(ax.containers[0].lines[0].get_ydata(), summary.curve["observed"])
    assert "calibration slope" in caption_of(ax)
    dca = decision_curve(y, p)
    ax = plot_decision_curve(dca)
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["model", "treat all", "treat none"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), dca["net_benefit_model"])


def test_plot_confusion_table_shows_counts():
    ax = plot_confusion_table(ConfusionTable(tp=9, fp=50, fn=1, tn=940))
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["FN\n1", "FP\n50", "TN\n940", "TP\n9"]
    colours = {mcolors.to_hex(p.get_facecolor()[:3]).upper() for p in ax.patches}
    assert colours == {OKABE_ITO["sky_blue"], OKABE_ITO["orange"]}  # no red-versus-green


def test_plot_distribution_by_group():
    df = pd.DataFrame({"age": [30, 41, 52, 60, np.nan, 75], "sex": ["F", "M", "F", "M", "F", None]})
    ax = plot_distribution_by_group(df, "age", "sex")
    assert ax.medai_groups == ["(missing)", "F", "M"]
    assert "1 missing value(s) left out" in caption_of(ax)
    ax = plot_distribution_by_group(df, "age", "sex", kind="box")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["(missing) (n=1)", "F (n=2)", "M (n=2)"]
    with pytest.raises(MedaiInputError, match="by='site' is not a column"):
        plot_distribution_by_group(df, "age", "site")
    with pytest.raises(MedaiInputError, match="column='sex' must be numeric"):
        plot_distribution_by_group(df, "sex")


def test_overlaid_curves_get_distinct_colours_and_one_reference_line():
    import matplotlib

    matplotlib.use("Agg")
    from medai_lib.evaluation import calibration_summary, decision_curve, make_binormal, roc_curve
    from medai_lib.plotting import plot_calibration, plot_decision_curve, plot_roc

    y, a = make_binormal(60, 60, auc=0.8, random_state=0)
    _, b = make_binormal(60, 60, auc=0.7, random_state=1)
    ax = plot_roc(roc_curve(y, a), label="A")
    plot_roc(roc_curve(y, b), label="B", ax=ax)
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count("chance") == 1
    colours = {line.get_color() for line in ax.get_lines() if line.get_label().startswith(("A", "B"))}
    assert len(colours) == 2
    pa, pb = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b))
    ax = plot_calibration(calibration_summary(y, pa), label="A")
    plot_calibration(calibration_summary(y, pb), label="B", ax=ax)
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count("perfect calibration") == 1 and any("slope" in lab for lab in labels)
    assert len(ax.texts) == 1
    ax = plot_decision_curve(decision_curve(y, pa), label="A")
    plot_decision_curve(decision_curve(y, pb), label="B", ax=ax)
    assert ax.get_legend_handles_labels()[1].count("treat all") == 1
