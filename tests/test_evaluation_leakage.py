"""Level 1.4's traps, measured by medai_lib.evaluation.leakage, and 1.3's imported-model cohort: each test
fails if the trap (or the miscalibration) it demonstrates did not show."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler

from medai_lib.data import VISIT_FEATURES, make_visit_table
from medai_lib.errors import MedaiInputError
from medai_lib.evaluation.leakage import compare_splits, random_settings, tuning_optimism
from medai_lib.evaluation.simulation import make_imported_risks


def simple_model(strength=1.0):
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                         LogisticRegression(C=strength, max_iter=1000))


def flexible_model(n_knots=8, strength=100.0):
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), SplineTransformer(n_knots=n_knots),
                         LogisticRegression(C=strength, max_iter=3000))


@pytest.fixture(scope="module")
def visits():
    return make_visit_table(300, random_state=0)


@pytest.fixture(scope="module")
def split_comparison(visits):
    return compare_splits({"simple": simple_model, "flexible": flexible_model}, visits[VISIT_FEATURES],
                          visits["admitted_30d"], visits["patient_id"], n_bootstrap=400, random_state=0)


def test_visit_level_split_inflates_the_flexible_models_auc(split_comparison):
    diff = split_comparison.differences.set_index("model")
    # The paired, patient-resampled interval of (visit-level minus patient-level) lies above zero.
    assert diff.loc["flexible", "ci_low"] > 0, diff
    # The model that can memorise a patient gains more than the one that barely can.
    assert diff.loc["flexible", "difference"] > diff.loc["simple", "difference"]
    # On new patients (patient-level split) the flexible model is no better than the simple one.
    assert split_comparison.auc("flexible", "patient-level split") <= split_comparison.auc("simple", "patient-level split")
    for _, row in split_comparison.aucs.iterrows():
        assert row["ci_low"] < row["auc"] < row["ci_high"]


def test_patient_level_auc_matches_scikit_learn(visits, split_comparison):
    X, y, patient = visits[VISIT_FEATURES], visits["admitted_30d"], visits["patient_id"]
    scores = cross_val_predict(simple_model(), X, y, groups=patient, cv=GroupKFold(5), method="predict_proba")[:, 1]
    assert split_comparison.auc("simple", "patient-level split") == pytest.approx(roc_auc_score(y, scores))
    with pytest.raises(MedaiInputError, match="no AUC for model='logistic'"):
        split_comparison.auc("logistic", "patient-level split")


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_tuning_on_the_test_patients_is_optimistic_across_repeated_studies(seed):
    """The notebook's quick configuration: the luck the winner picks is positive on average, with an interval
    above zero, for more than one seed."""
    result = tuning_optimism(simple_model, random_settings(20, VISIT_FEATURES, random_state=seed),
                             features=VISIT_FEATURES, n_patients=300, n_new_patients=1000, n_repeats=8,
                             random_state=seed)
    summary = result.summary()
    luck = summary.loc["difference (luck selected)"]
    assert luck["ci_low"] > 0, summary
    assert luck["studies_positive"] >= 7, summary
    assert summary.loc["winner on the test patients", "mean"] > summary.loc["setting fixed in advance", "mean"]
    # The winner of each study is the setting with the best AUC on its test patients.
    assert (result.repeats["winner_test_auc"] >= result.repeats["blind_test_auc"]).all()
    first = result.candidates
    assert first.loc[first["chosen"], "test_auc"].item() == first["test_auc"].max()
    assert result.repeats["winner_test_auc"].iloc[0] == first["test_auc"].max()


def test_no_choice_no_selected_luck():
    """Control: when every candidate is the same model, choosing on the test patients selects nothing."""
    same = [{"features": ("age", "creatinine_mg_dl"), "strength": 1.0}] * 3
    result = tuning_optimism(simple_model, same, features=VISIT_FEATURES, n_patients=120,
                             n_new_patients=300, n_repeats=2, random_state=0)
    assert np.allclose(result.selection_gain, 0.0)
    assert np.allclose(result.optimism, result.blind_gap)


def test_leakage_inputs_are_checked(visits):
    X, y, patient = visits[VISIT_FEATURES], visits["admitted_30d"], visits["patient_id"]
    with pytest.raises(MedaiInputError, match="n_folds must be an integer of at least 2"):
        compare_splits({"simple": simple_model}, X, y, patient, n_folds=1)
    with pytest.raises(MedaiInputError, match="one row per visit"):
        compare_splits({"simple": simple_model}, X, y[:-1], patient)
    with pytest.raises(MedaiInputError, match="models is empty"):
        compare_splits({}, X, y, patient)
    with pytest.raises(MedaiInputError, match="at least 2 candidate settings"):
        tuning_optimism(simple_model, [{"strength": 1.0}], features=VISIT_FEATURES)
    with pytest.raises(MedaiInputError, match="test_size must be a fraction"):
        tuning_optimism(simple_model, [{}, {}], features=VISIT_FEATURES, test_size=30)
    with pytest.raises(MedaiInputError, match="n_candidates must be an integer of at least 2"):
        random_settings(1, VISIT_FEATURES)
    with pytest.raises(MedaiInputError, match="min_features must be between 1 and the 10 features"):
        random_settings(5, VISIT_FEATURES, min_features=11)


def test_random_settings_are_reproducible_subsets():
    settings = random_settings(50, VISIT_FEATURES, min_features=3, strength_range=(1e-3, 10), random_state=3)
    assert settings == random_settings(50, VISIT_FEATURES, min_features=3, strength_range=(1e-3, 10), random_state=3)
    for s in settings:
        assert 3 <= len(s["features"]) <= len(VISIT_FEATURES) and set(s["features"]) <= set(VISIT_FEATURES)
        assert len(set(s["features"])) == len(s["features"]) and 1e-3 <= s["strength"] <= 10
    assert len({s["features"] for s in settings}) > 40   # varied, not one subset repeated


def test_imported_risks_are_miscalibrated_as_described():
    cohort = make_imported_risks(40_000, 0.10, auc=0.80, development_prevalence=0.30, spread=1.5, random_state=0)
    y = cohort["outcome"].to_numpy()
    assert y.mean() == pytest.approx(0.10)
    # Both risks rank patients like the signal: the population AUC.
    assert roc_auc_score(y, cohort["true_risk"]) == pytest.approx(0.80, abs=0.01)
    assert roc_auc_score(y, cohort["model_risk"]) == pytest.approx(roc_auc_score(y, cohort["true_risk"]))

    def recalibration(risk):  # logistic recalibration: outcome ~ a + b * logit(risk), unpenalised
        fit = LogisticRegression(C=np.inf).fit(logit(risk).to_numpy()[:, None], y)
        return fit.intercept_[0], fit.coef_[0, 0]

    intercept, slope = recalibration(cohort["true_risk"])      # the true risk is calibrated
    assert slope == pytest.approx(1.0, abs=0.06) and intercept == pytest.approx(0.0, abs=0.1)
    assert cohort["true_risk"].mean() == pytest.approx(0.10, abs=0.01)
    _, slope = recalibration(cohort["model_risk"])              # too extreme: slope 1 / spread
    assert slope == pytest.approx(1 / 1.5, abs=0.05)
    assert cohort["model_risk"].mean() > 0.15                   # too high: developed where 30% had the outcome


def test_imported_risks_inputs_are_checked():
    with pytest.raises(MedaiInputError, match="prevalence must be a proportion"):
        make_imported_risks(100, 10)
    with pytest.raises(MedaiInputError, match="spread must be a positive number"):
        make_imported_risks(100, 0.1, spread=0)
    with pytest.raises(MedaiInputError, match="use more patients"):
        make_imported_risks(3, 0.1)
