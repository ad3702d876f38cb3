"""Cancer-track widgets, driven headless: what they display equals the library's numbers."""
from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from medai_lib.cancer.survival import bootstrap_cox_models, fit_cox_model
from medai_lib.cancer.widgets import manhattan_explorer, prs_explorer
from medai_lib.errors import MedaiInputError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def cox():
    rng = np.random.default_rng(0)
    n = 600
    samples = pd.DataFrame({"sex": rng.choice(["male", "female"], n), "smoking": rng.integers(0, 2, n),
                            "family_history": rng.integers(0, 2, n)})
    prs = rng.normal(size=n)
    onset = 30 + rng.exponential(1 / (0.01 * np.exp(0.5 * prs + 0.7 * samples["smoking"])))
    end = rng.uniform(50, 85, n)
    t, e = np.minimum(onset, end), (onset <= end).astype(int)
    model = fit_cox_model(samples, time=t, event=e, prs=prs)
    boot = bootstrap_cox_models(samples, time=t, event=e, prs=prs, n_bootstrap=10, random_state=1)
    return prs, model, boot


def test_prs_explorer_shows_the_model_risk(cox):
    prs, model, boot = cox
    ex = prs_explorer(prs, model, bootstrap_models=boot, person={"smoking": 1})
    ex.percentile.value = 90
    ex.age.value = 60
    shown = ex.displayed
    person = pd.DataFrame([{"sex": "female", "smoking": 1, "family_history": 0, "age": 60.0}])
    expected = model.absolute_risk(person, prs=[np.percentile(prs, 90)], years=10)[0]
    assert shown["percentile"] == 90 and shown["prs"] == pytest.approx(np.percentile(prs, 90))
    assert shown["risk"] == pytest.approx(expected)
    assert shown["ci_low"] <= shown["risk"] <= shown["ci_high"] or shown["ci_low"] < shown["ci_high"]
    assert shown["risk"] > shown["baseline"]  # 90th percentile, positive PRS hazard ratio
    assert f"{expected:.1%}" in shown["caption"]
    assert ex.image.value[:4] == b"\x89PNG"
    assert "not valid for other genetic ancestry groups" not in shown["caption"]
    named = prs_explorer(prs, model, percentile=90, reference="group_A of this cohort").displayed["caption"]
    assert named.endswith("Percentile and risk computed in group_A of this cohort; not valid for other "
                          "genetic ancestry groups.")
    with pytest.raises(MedaiInputError, match="fitted with a PRS"):
        prs_explorer(prs, object())


def test_manhattan_explorer_zooms_and_reports_the_view():
    rng = np.random.default_rng(2)
    n = 400
    variants = pd.DataFrame({"chrom": np.repeat(["1", "2"], n // 2),
                             "pos": np.r_[np.sort(rng.integers(1, 5_000_000, n // 2)),
                                          np.sort(rng.integers(1, 3_000_000, n // 2))],
                             "id": [f"snp{i}" for i in range(n)]})
    p = rng.uniform(size=n)
    p[[30, 250]] = [1e-12, 1e-9]
    ex = manhattan_explorer(pd.DataFrame({"p": p}), variants)
    assert ex.displayed["n_variants"] == n and ex.displayed["n_significant"] == 2
    assert ex.displayed["top_id"] == "snp30"
    ex.chromosome.value = "2"
    assert ex.displayed["n_variants"] == n // 2 and ex.displayed["top_id"] == "snp250"
    ex.window.value = (0.0, 1.0)
    inside = (variants["chrom"] == "2") & (variants["pos"] <= 1_000_000)
    assert ex.displayed["n_variants"] == int(inside.sum())
    expected_top = variants["id"][inside].iloc[np.argmin(p[inside.to_numpy()])]
    assert ex.displayed["top_id"] == expected_top
    with pytest.raises(MedaiInputError, match="same rows"):
        manhattan_explorer(pd.DataFrame({"p": p[:-1]}), variants)
