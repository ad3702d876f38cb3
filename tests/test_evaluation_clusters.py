"""Patient-level (cluster) bootstrap against independent references: scikit-learn on the expanded
resample, a plain per-replicate loop, and coverage on clustered data with a known population AUC."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation import auc_bootstrap, cluster_bootstrap, compare_aucs
from medai_lib.evaluation._bootstrap import auc_from_weighted_counts, make_grid, weighted_grid_counts


def _clustered(rng, n_patients=60, per_patient=8, spread=1.5, effect=0.6):
    """Cases nested in patients: a shared patient effect drives both the label and the score."""
    patient = np.repeat(np.arange(n_patients), per_patient)
    u = rng.normal(size=n_patients)[patient] * spread
    y = (u + rng.normal(size=patient.size) > 0.8).astype(int)
    score = 0.5 * u + effect * y + rng.normal(size=patient.size)
    return y, score, patient


def test_weighted_auc_equals_sklearn_on_the_expanded_resample():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(y + rng.normal(size=300), 1)  # ties on purpose
    w = rng.integers(0, 4, (6, 300))
    got = auc_from_weighted_counts(*weighted_grid_counts(make_grid(y, s), w[:, y == 1].astype(float),
                                                         w[:, y == 0].astype(float)))
    ref = [roc_auc_score(np.repeat(y, w[i]), np.repeat(s, w[i])) for i in range(6)]
    np.testing.assert_allclose(got, ref, atol=1e-12)


def _loop_reference(y, s, g, threshold, n_bootstrap, seed):
    """The textbook cluster bootstrap: draw patients, concatenate their cases, recompute with sklearn."""
    rng = np.random.default_rng(seed)
    patients = np.unique(g)
    members = {p: np.flatnonzero(g == p) for p in patients}
    reps = []
    for _ in range(n_bootstrap):
        idx = np.concatenate([members[p] for p in rng.choice(patients, patients.size)])
        yy, ss = y[idx], s[idx]
        if yy.min() == yy.max():
            continue
        reps.append((roc_auc_score(yy, ss), np.mean((ss >= threshold) == yy)))
    return np.quantile(np.array(reps), [0.025, 0.975], axis=0)


def test_cluster_bootstrap_matches_a_plain_loop():
    rng = np.random.default_rng(1)
    y, s, g = _clustered(rng)
    table = cluster_bootstrap(y, s, g, threshold=0.5, n_bootstrap=2000, random_state=3)
    assert table.loc["auc", "estimate"] == pytest.approx(roc_auc_score(y, s))
    assert table.loc["accuracy", "estimate"] == pytest.approx(np.mean((s >= 0.5) == y))
    assert table.loc["sensitivity", "estimate"] == pytest.approx(np.mean(s[y == 1] >= 0.5))
    ref = _loop_reference(y, s, g, 0.5, 2000, seed=7)
    # two independent Monte Carlo runs of the same procedure: endpoints agree to Monte Carlo error
    np.testing.assert_allclose(table.loc["auc", ["ci_low", "ci_high"]].to_numpy(float), ref[:, 0], atol=0.012)
    np.testing.assert_allclose(table.loc["accuracy", ["ci_low", "ci_high"]].to_numpy(float), ref[:, 1],
                               atol=0.012)
    assert table.attrs["n_clusters"] == 60


def test_correlated_cases_widen_the_interval_and_singletons_do_not():
    rng = np.random.default_rng(2)
    y, s, g = _clustered(rng)
    plain = auc_bootstrap(y, s, random_state=0)
    clustered = auc_bootstrap(y, s, clusters=g, random_state=0)
    assert clustered.method == "cluster bootstrap"
    assert clustered.se > 1.2 * plain.se  # 8 correlated cases per patient are not 8 patients
    singletons = auc_bootstrap(y, s, clusters=np.arange(y.size), random_state=0)
    assert singletons.se == pytest.approx(plain.se, rel=0.12)


def test_paired_cluster_comparison_is_wider_than_case_level():
    rng = np.random.default_rng(4)
    y, s, g = _clustered(rng)
    other = s + rng.normal(scale=0.8, size=s.size) + 0.4 * rng.normal(size=60)[g]
    case = compare_aucs(y, s, other, method="bootstrap", random_state=0)
    cluster = compare_aucs(y, s, other, method="bootstrap", clusters=g, random_state=0)
    assert cluster.method == "cluster bootstrap" and cluster.difference == pytest.approx(case.difference)
    assert cluster.se > case.se


@pytest.mark.slow
def test_cluster_interval_covers_the_population_auc():
    """Coverage on 300 clustered studies whose population AUC is known from a very large sample."""
    big = _clustered(np.random.default_rng(99), n_patients=40000)
    truth = roc_auc_score(big[0], big[1])
    hits_cluster = hits_plain = 0
    n_sim = 300
    for k in range(n_sim):
        y, s, g = _clustered(np.random.default_rng(1000 + k), n_patients=40)
        c = auc_bootstrap(y, s, clusters=g, n_bootstrap=500, random_state=k)
        p = auc_bootstrap(y, s, n_bootstrap=500, random_state=k)
        hits_cluster += c.ci_low <= truth <= c.ci_high
        hits_plain += p.ci_low <= truth <= p.ci_high
    assert 0.90 <= hits_cluster / n_sim <= 0.99
    assert hits_plain / n_sim < hits_cluster / n_sim - 0.04  # case-level intervals under-cover


def test_few_patients_warn(caplog):
    rng = np.random.default_rng(8)
    y, s, g = _clustered(rng, n_patients=6, per_patient=30)
    auc_bootstrap(y, s, clusters=g, n_bootstrap=200)
    assert "only 6 patients" in caplog.text


def test_bad_clusters_are_named():
    rng = np.random.default_rng(5)
    y, s, g = _clustered(rng, n_patients=12)
    with pytest.raises(MedaiInputError, match="clusters has 2 distinct patient"):
        auc_bootstrap(y, s, clusters=np.where(g < 6, "P1", "P2"))
    with pytest.raises(MedaiInputError, match="Length mismatch: clusters has 10"):
        cluster_bootstrap(y, s, g[:10])
    with pytest.raises(MedaiInputError, match="method='bootstrap', clusters"):
        compare_aucs(y, s, s, clusters=g)


def test_evaluate_reports_patient_level_rows():
    from medai_lib.evaluation import evaluate

    rng = np.random.default_rng(6)
    y, s, g = _clustered(rng, n_patients=50, per_patient=10, spread=2.0)
    p = 1 / (1 + np.exp(-s))
    plain = evaluate(y, p, n_bootstrap=500).table.set_index("metric")
    table = evaluate(y, p, clusters=g, n_bootstrap=500).table.set_index("metric")
    assert "auc_patients" not in plain.index
    for name in ("auc", "sensitivity", "specificity"):
        assert table.loc[f"{name}_patients", "estimate"] == pytest.approx(table.loc[name, "estimate"])
        width = table.loc[f"{name}_patients", "ci_high"] - table.loc[f"{name}_patients", "ci_low"]
        assert width > table.loc[name, "ci_high"] - table.loc[name, "ci_low"]  # wider than case-level
    assert table.loc["sensitivity_patients", "n"] == y.sum()
    assert "50 patients" in table.loc["auc_patients", "method"]
