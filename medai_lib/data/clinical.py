"""A small synthetic clinical table for the orientation level, and the clinical formulas it uses.

The table is what a clinic's export looks like: one row per patient, a few vital signs and labs, some
values missing. Relationships are plausible (BMI with blood pressure and HbA1c, creatinine with age and
sex), so that grouping and plotting show real patterns. All patients are synthetic.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from medai_lib.errors import MedaiInputError

CREATININE_UMOL_PER_MG_DL = 88.4

#: Adult reference intervals used for abnormal-lab flags (typical laboratory values; units in the key).
REFERENCE_RANGES: dict[str, tuple[float, float]] = {
    "sodium_mmol_l": (135.0, 145.0),
    "potassium_mmol_l": (3.5, 5.1),
    "hba1c_percent": (4.0, 5.6),
    "hemoglobin_g_dl": (12.0, 17.5),
    "systolic_bp_mmhg": (90.0, 129.0),
}


def bmi(weight_kg, height_m):
    """Body-mass index in kg/m² (weight in kilograms, height in metres).

    Examples
    --------
    >>> round(bmi(70, 1.75), 1)
    22.9
    """
    weight_kg = np.asarray(weight_kg, dtype=float)
    height_m = np.asarray(height_m, dtype=float)
    if np.any(height_m <= 0):
        raise MedaiInputError("height_m must be positive (metres, e.g. 1.75); got a value <= 0.")
    if np.nanmax(height_m) > 3:
        raise MedaiInputError(
            f"height_m looks like centimetres (max {np.nanmax(height_m):g}); divide by 100 to get metres."
        )
    out = weight_kg / height_m**2
    return float(out) if out.ndim == 0 else out


def egfr_ckd_epi_2021(creatinine, age, sex, *, unit: str = "mg/dL"):
    """Estimated GFR (mL/min/1.73 m²) by the race-free CKD-EPI 2021 creatinine equation.

    eGFR = 142 · min(Scr/κ, 1)^α · max(Scr/κ, 1)^-1.200 · 0.9938^age · 1.012 [female],
    κ = 0.7 (female) / 0.9 (male), α = -0.241 (female) / -0.302 (male); Inker et al., NEJM 2021.

    Parameters
    ----------
    creatinine : float or array
        Serum creatinine, in ``unit``.
    age : float or array
        Age in years (the equation is for adults, >= 18).
    sex : "F"/"M" (or "female"/"male"), scalar or array
    unit : {"mg/dL", "umol/L"}, default "mg/dL"
        ``"umol/L"`` (also ``"µmol/L"``) values are divided by 88.4.

    Examples
    --------
    >>> round(egfr_ckd_epi_2021(1.0, 50, "F"))
    69
    >>> round(egfr_ckd_epi_2021(88.4, 50, "F", unit="umol/L"))
    69
    """
    unit_key = unit.replace("µ", "u").replace("μ", "u").lower()
    if unit_key not in {"mg/dl", "umol/l"}:
        raise MedaiInputError(f"unit must be 'mg/dL' or 'umol/L'; got {unit!r}.")
    scr = np.asarray(creatinine, dtype=float)
    if unit_key == "umol/l":
        scr = scr / CREATININE_UMOL_PER_MG_DL
    age = np.asarray(age, dtype=float)
    sex_arr = np.asarray(sex, dtype=object)
    female = np.vectorize(lambda s: str(s).strip().lower() in {"f", "female"}, otypes=[bool])(sex_arr)
    male = np.vectorize(lambda s: str(s).strip().lower() in {"m", "male"}, otypes=[bool])(sex_arr)
    if not np.all(female | male):
        raise MedaiInputError("sex must be 'F' or 'M' (or 'female'/'male') for every patient.")
    kappa = np.where(female, 0.7, 0.9)
    alpha = np.where(female, -0.241, -0.302)
    ratio = scr / kappa
    out = (
        142.0
        * np.minimum(ratio, 1.0) ** alpha
        * np.maximum(ratio, 1.0) ** -1.200
        * 0.9938**age
        * np.where(female, 1.012, 1.0)
    )
    return float(out) if out.ndim == 0 else out


def make_clinical_table(n_patients: int = 400, *, random_state=0) -> pd.DataFrame:
    """A synthetic outpatient table: demographics, vitals and labs, with a few values missing.

    Parameters
    ----------
    n_patients : int, default 400
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    pandas.DataFrame, one row per patient, columns: patient_id, clinic, sex, age, height_cm, weight_kg,
    smoker, systolic_bp_mmhg, hba1c_percent, creatinine_mg_dl, sodium_mmol_l, potassium_mmol_l,
    hemoglobin_g_dl, diabetes.

    Examples
    --------
    >>> df = make_clinical_table(50, random_state=1)
    >>> df.shape
    (50, 14)
    """
    if not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise MedaiInputError(f"n_patients must be a positive integer; got {n_patients!r}.")
    rng = check_random_state(random_state)
    n = int(n_patients)
    clinic = rng.choice(["Cardiology", "Nephrology", "General practice"], size=n, p=[0.3, 0.2, 0.5])
    female = rng.random(n) < 0.52
    age = np.clip(rng.normal(58, 15, n) + np.where(clinic == "Nephrology", 6, 0), 18, 95).round()
    height = np.where(female, rng.normal(163, 6.5, n), rng.normal(177, 7, n))
    bmi_value = np.clip(rng.lognormal(np.log(27), 0.17, n), 16, 55)
    weight = bmi_value * (height / 100) ** 2
    smoker = rng.random(n) < 0.18
    diabetes_logit = -1.9 + 0.045 * (age - 50) + 0.15 * (bmi_value - 27) + 0.7 * smoker
    diabetes = rng.random(n) < 1 / (1 + np.exp(-diabetes_logit))
    hba1c = np.where(diabetes, rng.normal(7.4, 1.1, n), rng.normal(5.4, 0.35, n)).clip(4.2, 13)
    sbp = 105 + 0.45 * age + 0.8 * (bmi_value - 27) + 6 * diabetes + rng.normal(0, 12, n)
    kidney_loss = rng.gamma(1.2, 0.08, n) + np.where(clinic == "Nephrology", rng.gamma(2, 0.35, n), 0)
    creat_base = np.where(female, 0.72, 0.92) * (1 + 0.006 * (age - 40).clip(0)) * (1 + kidney_loss)
    creatinine = np.clip(creat_base * rng.lognormal(0, 0.1, n), 0.4, 8)
    sodium = rng.normal(139.5, 2.6, n)
    potassium = rng.normal(4.2, 0.38, n) + 0.25 * (creatinine > 1.8)
    hemoglobin = np.where(female, rng.normal(13.4, 1.2, n), rng.normal(14.8, 1.3, n)) - 0.6 * (creatinine > 2)
    df = pd.DataFrame(
        {
            "patient_id": [f"P{1000 + i}" for i in range(n)],
            "clinic": clinic,
            "sex": np.where(female, "F", "M"),
            "age": age.astype(int),
            "height_cm": height.round(0),
            "weight_kg": weight.round(1),
            "smoker": smoker,
            "systolic_bp_mmhg": sbp.round(0),
            "hba1c_percent": hba1c.round(1),
            "creatinine_mg_dl": creatinine.round(2),
            "sodium_mmol_l": sodium.round(0),
            "potassium_mmol_l": potassium.round(1),
            "hemoglobin_g_dl": hemoglobin.round(1),
            "diabetes": diabetes,
        }
    )
    # Real exports have gaps: about 3% of labs and 2% of weights are missing.
    for col, frac in [("weight_kg", 0.02), ("hba1c_percent", 0.03), ("creatinine_mg_dl", 0.03),
                      ("potassium_mmol_l", 0.03)]:
        df.loc[rng.random(n) < frac, col] = np.nan
    return df


CLINICAL_COLUMNS = ("patient_id", "clinic", "sex", "age", "height_cm", "weight_kg")


def read_clinical_table(path) -> pd.DataFrame:
    """Read a clinical table (CSV) with at least the columns of :data:`CLINICAL_COLUMNS`.

    Raises
    ------
    MedaiInputError
        When the file is missing or lacks required columns (the message lists them).
    """
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        path = path / "clinical_table.csv"
    if not path.exists():
        raise MedaiInputError(
            f"clinical table '{path}' not found; DATA_DIR must hold clinical_table.csv (one row per patient)."
        )
    df = pd.read_csv(path)
    missing = [c for c in CLINICAL_COLUMNS if c not in df.columns]
    if missing:
        raise MedaiInputError(f"'{path}' lacks column(s) {', '.join(missing)}; rename your columns to match.")
    return df


def load_clinical_table(data_dir=None, *, n_patients: int = 400, random_state=0) -> pd.DataFrame:
    """The orientation table: ``DATA_DIR/clinical_table.csv`` when ``data_dir`` is given, else synthetic."""
    if data_dir is None:
        return make_clinical_table(n_patients, random_state=random_state)
    return read_clinical_table(data_dir)


#: Routine features of the visit table that a model may use (known at the visit).
VISIT_FEATURES = ["age", "male", "height_cm", "weight_kg", "systolic_bp_mmhg", "hba1c_percent",
                  "creatinine_mg_dl", "sodium_mmol_l", "potassium_mmol_l", "hemoglobin_g_dl"]


def make_visit_table(n_patients: int = 400, *, random_state=0) -> pd.DataFrame:
    """Repeated outpatient visits (2 to 8 per patient) with a 30-day admission outcome, for leakage lessons.

    Each patient keeps the demographics of :func:`make_clinical_table`; labs and vitals vary a little from
    visit to visit; a hidden per-patient frailty (standard deviation 2 on the log-odds scale) raises the risk
    at every visit, so a model that can recognise a patient looks better when the same patient is on both
    sides of a split.

    Returns
    -------
    pandas.DataFrame, one row per visit: the clinical-table columns, ``male`` (0/1), ``admitted_30d``
    (0/1) and the ground truth ``frailty`` and ``true_risk`` (never a model feature).

    Examples
    --------
    >>> visits = make_visit_table(20, random_state=0)
    >>> visits.groupby("patient_id").size().between(2, 8).all()
    True
    """
    if not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise MedaiInputError(f"n_patients must be a positive integer; got {n_patients!r}.")
    rng = np.random.default_rng(random_state)
    patients = make_clinical_table(n_patients, random_state=random_state)
    n_visits = rng.integers(2, 9, size=n_patients)
    visits = patients.loc[patients.index.repeat(n_visits)].reset_index(drop=True)
    for column, sd in [("systolic_bp_mmhg", 6), ("hba1c_percent", 0.2), ("creatinine_mg_dl", 0.08),
                       ("potassium_mmol_l", 0.2), ("hemoglobin_g_dl", 0.4), ("weight_kg", 1.0)]:
        visits[column] += rng.normal(0, sd, len(visits))
    frailty = np.repeat(rng.normal(0, 2.0, n_patients), n_visits)
    log_odds = (-2.2 + 0.04 * (visits["age"] - 60) + 1.2 * (visits["creatinine_mg_dl"].fillna(1) - 1)
                + 0.3 * (visits["hba1c_percent"].fillna(6) - 6) + frailty)
    true_risk = 1 / (1 + np.exp(-log_odds))
    visits["admitted_30d"] = (rng.random(len(visits)) < true_risk).astype(int)
    visits["male"] = (visits["sex"] == "M").astype(int)
    visits["frailty"] = frailty
    visits["true_risk"] = true_risk
    return visits
