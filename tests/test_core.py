"""record(), the sample-data cache and the clinical formulas of the orientation level."""
from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from medai_lib import record, recorded
from medai_lib.data import get_or_create, load_clinical_table, make_clinical_table
from medai_lib.data.clinical import bmi, egfr_ckd_epi_2021
from medai_lib.errors import MedaiInputError


def test_record_converts_numpy_and_rejects_objects():
    assert record("auc", np.float64(0.8125), display=False) == 0.8125
    record("n", np.int64(3), display=False)
    record("bad_float", float("nan"), display=False)
    got = recorded()
    assert got["auc"] == 0.8125 and got["n"] == 3 and got["bad_float"] is None
    json.dumps(got)
    with pytest.raises(TypeError, match="convert arrays"):
        record("arr", object())
    with pytest.raises(ValueError, match="name"):
        record("has space", 1)


def test_cache_creates_once_and_is_atomic(tmp_path):
    calls = []

    def create(folder):
        calls.append(1)
        (folder / "data.txt").write_text("x")

    paths = []
    threads = [threading.Thread(target=lambda: paths.append(get_or_create("demo", {"n": 1}, 1, create, root=tmp_path)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and (paths[0] / "data.txt").read_text() == "x"
    assert (paths[0] / ".complete").exists()
    again = get_or_create("demo", {"n": 1}, 1, create, root=tmp_path)
    assert again == paths[0]
    n_calls = len(calls)
    get_or_create("demo", {"n": 1}, 1, create, root=tmp_path)
    assert len(calls) == n_calls, "a complete cache entry must not be regenerated"
    assert get_or_create("demo", {"n": 2}, 1, create, root=tmp_path) != paths[0]
    assert get_or_create("demo", {"n": 1}, 2, create, root=tmp_path) != paths[0]


def test_shared_read_only_cache_is_read_first(tmp_path, monkeypatch):
    """A grading sandbox reads the instructor's prepared data ($MEDAI_DATA_READONLY) and writes anything new
    to its own cache ($MEDAI_DATA), never to the shared one."""
    shared, own = tmp_path / "shared", tmp_path / "own"
    calls = []

    def create(folder):
        calls.append(folder)
        (folder / "data.txt").write_text("x")

    prepared = get_or_create("demo", {"n": 1}, 1, create, root=shared)
    monkeypatch.setenv("MEDAI_DATA_READONLY", str(shared))
    monkeypatch.setenv("MEDAI_DATA", str(own))
    assert get_or_create("demo", {"n": 1}, 1, create) == prepared and len(calls) == 1
    fresh = get_or_create("demo", {"n": 2}, 1, create)
    assert fresh.parent == own and len(calls) == 2
    assert sorted(p.name for p in shared.iterdir()) == [prepared.name]


def test_cache_leaves_nothing_behind_on_failure(tmp_path):
    def broken(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("generator crashed")

    with pytest.raises(RuntimeError):
        get_or_create("demo", {"n": 1}, 1, broken, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "scr, age, sex, unit, expected",
    [
        # Published CKD-EPI 2021 values (NKF calculator): 50-year-old, creatinine 1.0 mg/dL.
        (1.0, 50, "F", "mg/dL", 69),
        (1.0, 50, "M", "mg/dL", 92),
        (88.4, 50, "female", "µmol/L", 69),
        (0.6, 40, "F", "mg/dL", 116),
    ],
)
def test_egfr_matches_published_values(scr, age, sex, unit, expected):
    assert round(egfr_ckd_epi_2021(scr, age, sex, unit=unit)) == expected


def test_egfr_formula_by_hand_and_vectorised():
    # 142 * (2.5/0.9)^-1.2 * 0.9938^72 for a man above kappa
    by_hand = 142 * (2.5 / 0.9) ** -1.2 * 0.9938**72
    assert egfr_ckd_epi_2021(2.5, 72, "M") == pytest.approx(by_hand)
    out = egfr_ckd_epi_2021(pd.Series([1.0, np.nan]), pd.Series([50, 50]), pd.Series(["F", "M"]))
    assert out[0] == pytest.approx(68.633, abs=1e-3) and np.isnan(out[1])
    with pytest.raises(MedaiInputError, match="unit must be"):
        egfr_ckd_epi_2021(1.0, 50, "F", unit="mmol/L")
    with pytest.raises(MedaiInputError, match="sex must be"):
        egfr_ckd_epi_2021(1.0, 50, "X")


def test_bmi_and_its_unit_guard():
    assert bmi(70, 1.75) == pytest.approx(22.857, abs=1e-3)
    with pytest.raises(MedaiInputError, match="centimetres"):
        bmi(70, 175)


def test_clinical_table_is_plausible_and_reproducible():
    df = make_clinical_table(2000, random_state=3)
    assert df.equals(make_clinical_table(2000, random_state=3))
    assert not df.equals(make_clinical_table(2000, random_state=4))
    assert 0.10 < df["diabetes"].mean() < 0.35  # outpatient prevalence
    assert df.groupby("diabetes")["hba1c_percent"].median().diff().iloc[-1] > 1.0
    assert df.groupby("sex")["creatinine_mg_dl"].median()["M"] > df.groupby("sex")["creatinine_mg_dl"].median()["F"]
    egfr = egfr_ckd_epi_2021(df["creatinine_mg_dl"], df["age"], df["sex"])
    by_clinic = pd.Series(egfr < 60).groupby(df["clinic"]).mean()
    assert by_clinic["Nephrology"] > 2 * by_clinic["General practice"]
    assert 0.01 < df["weight_kg"].isna().mean() < 0.05


def test_load_clinical_table_from_data_dir(tmp_path):
    make_clinical_table(10, random_state=0).to_csv(tmp_path / "clinical_table.csv", index=False)
    assert len(load_clinical_table(tmp_path)) == 10
    pd.DataFrame({"age": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(MedaiInputError, match="lacks column"):
        load_clinical_table(tmp_path / "bad.csv")
    with pytest.raises(MedaiInputError, match="clinical_table.csv"):
        load_clinical_table(tmp_path / "nowhere")


def test_visit_table_repeats_patients_with_a_hidden_frailty():
    from sklearn.metrics import roc_auc_score

    from medai_lib.data import VISIT_FEATURES, make_visit_table

    visits = make_visit_table(300, random_state=1)
    per_patient = visits.groupby("patient_id")
    assert per_patient.size().between(2, 8).all()
    assert (per_patient["frailty"].nunique() == 1).all() and (per_patient["age"].nunique() == 1).all()
    assert per_patient["systolic_bp_mmhg"].std().median() > 2  # labs vary between visits
    assert set(VISIT_FEATURES) <= set(visits.columns) and "frailty" not in VISIT_FEATURES
    assert 0.1 < visits["admitted_30d"].mean() < 0.5
    # The oracle (true risk) is good but not perfect: the outcome is a draw from the risk.
    oracle = roc_auc_score(visits["admitted_30d"], visits["true_risk"])
    assert 0.75 < oracle < 0.97
    assert make_visit_table(30, random_state=4).equals(make_visit_table(30, random_state=4))
