"""PPV, NPV and referrals of a triage rule at other prevalences, against counted populations."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_score

from medai_lib.errors import MedaiInputError
from medai_lib.fibrosis.triage import triage_at_prevalence


def _population(n, prevalence, sensitivity, specificity):
    """A population of n people with exact counts: the rule refers sens of the sick and 1-spec of the well."""
    sick = int(round(n * prevalence))
    y = np.r_[np.ones(sick, int), np.zeros(n - sick, int)]
    referred = np.r_[np.arange(sick) < round(sensitivity * sick),
                     np.arange(n - sick) < round((1 - specificity) * (n - sick))].astype(int)
    return y, referred


@pytest.mark.parametrize("prevalence", [0.3, 0.05, 0.02, 0.01])
def test_matches_the_counts_of_a_population(prevalence):
    sens, spec, n = 0.9, 0.6, 100_000
    y, referred = _population(n, prevalence, sens, spec)
    tn, fp, fn, tp = confusion_matrix(y, referred).ravel()
    row = triage_at_prevalence(sens, spec, [prevalence], per=n).iloc[0]
    assert row["ppv"] == pytest.approx(precision_score(y, referred))
    assert row["npv"] == pytest.approx(tn / (tn + fn))
    assert (row["found"], row["missed"], row["referred_without_disease"]) == pytest.approx((tp, fn, fp))
    assert row["referred"] == pytest.approx(tp + fp) and row["with_disease"] == pytest.approx(tp + fn)


def test_ppv_falls_with_prevalence_while_sensitivity_stays():
    table = triage_at_prevalence(0.9, 0.8, [0.3, 0.1, 0.02])
    assert table["ppv"].is_monotonic_decreasing and table["npv"].is_monotonic_increasing
    np.testing.assert_allclose(table["found"] / table["with_disease"], 0.9)


def test_bad_input_is_named():
    with pytest.raises(MedaiInputError, match="sensitivity must be a proportion"):
        triage_at_prevalence(1.2, 0.5, [0.1])
    with pytest.raises(MedaiInputError, match="prevalences must be proportions strictly between 0 and 1"):
        triage_at_prevalence(0.9, 0.5, [0.0])
    with pytest.raises(MedaiInputError, match="per must be a positive integer"):
        triage_at_prevalence(0.9, 0.5, [0.1], per=0)
