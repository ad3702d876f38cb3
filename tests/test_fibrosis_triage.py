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


def test_compare_with_prior_pairs_each_patients_first_and_last_film():
    from medai_lib.fibrosis import make_fibrosis_manifest
    from medai_lib.fibrosis.triage import compare_with_prior

    m = make_fibrosis_manifest(30, n_visits=3, random_state=0).sample(frac=1, random_state=1)  # rows shuffled
    m = m[~((m["patient_id"] == "P0003") & (m["visit"] > 0))]  # one patient with a single film
    scores = np.random.default_rng(0).random(len(m))
    table = compare_with_prior(m, scores)
    assert "P0003" not in table.index and len(table) == 29
    films = m.assign(score=scores)
    for pid in ("P0000", "P0017"):
        mine = films[films["patient_id"] == pid].set_index("visit")
        row = table.loc[pid]
        assert (row["first_visit"], row["last_visit"]) == (0, 2)
        assert row["score_change"] == pytest.approx(mine.loc[2, "score"] - mine.loc[0, "score"])
        assert row["severity_last"] == pytest.approx(mine.loc[2, "severity"])
    assert (table["severity_last"] > table["severity_first"]).all()  # the generator's disease progresses
    with pytest.raises(MedaiInputError, match="one value per manifest row"):
        compare_with_prior(m, scores[:-1])
    with pytest.raises(MedaiInputError, match=r"lacks the column\(s\) \['visit'\]"):
        compare_with_prior(m.drop(columns="visit"), scores)
