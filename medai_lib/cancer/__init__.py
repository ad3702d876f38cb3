"""Cancer track: msprime genotype cohorts, VCF I/O via scikit-allel, QC, ancestry PCA, GWAS, PRS, risk
models by genetic ancestry group, survival and risk communication."""
from medai_lib.cancer.gwas import genomic_inflation, genotype_dosage, run_gwas
from medai_lib.cancer.pca import AncestryPCA, genetic_pca, ld_prune
from medai_lib.cancer.plots import plot_gwas_summary, plot_manhattan, plot_pca, plot_qq
from medai_lib.cancer.prs import (
    PolygenicScore, clump, daetwyler_expected_r2, effective_number_of_segments, fit_clumping_thresholding,
    fit_ld_lasso_prs, fit_ld_ridge_prs, fit_penalised_prs, observed_to_liability_r2, polygenic_score,
)
from medai_lib.cancer.communicate import RiskMessage, plot_icon_array, risk_message
from medai_lib.cancer.qc import (
    KING_DEGREES, QCResult, check_sex, exclusions_by_group, hardy_weinberg_exact, king_kinship, qc_filter,
    related_pairs, sample_inbreeding, sample_qc, variant_qc,
)
from medai_lib.cancer.risk import (
    CLINICAL_COVARIATES, NO_GROUP_COLUMN, ONE_GROUP, RecalibrationResult, RiskModel, RiskStudy, ancestry_groups,
    apply_score, available_covariates, case_rates_by_group, check_groups, covariate_matrix, study_groups,
    evaluate_by_group, fit_risk_model, plot_auc_by_group, plot_calibration_by_group, prepare_risk_study, read_truth,
    recalibrate_for_group, require_columns, compare_to_baseline, prs_percentile, top_share_by_reference,
    describe_scores, expected_r2_table, liability_r2_by_group, plot_decision_panels, read_optional_study_files,
    score_weights,
)
from medai_lib.cancer.simulate import (
    CancerCohort, CohortTruth, LiabilityModel, distance_to_causal, make_cancer_cohort,
    make_cancer_cohort_files,
)
from medai_lib.cancer.sumstats import (
    align_summary_statistics, pathogenic_carrier, read_pathogenic_variants, read_summary_statistics,
    simulate_summary_statistics, write_summary_statistics,
)
from medai_lib.cancer.survival import (
    SURVIVAL_COVARIATES, Concordance, SurvivalModel, bootstrap_cox_models, check_survival, concordance, fit_cox_model,
    kaplan_meier_by_group, numbers_at_risk, plot_kaplan_meier, prs_groups, AverageRiskMultiple,
    absolute_risk_calibration, risk_at_multiple_of_average,
)
from medai_lib.cancer.vcf import (
    GenotypeData, match_samples, read_cohort, read_phenotypes, read_vcf, read_zarr, vcf_to_zarr,
    write_cancer_cohort, write_vcf,
)

__all__ = [
    "AncestryPCA", "CancerCohort", "CohortTruth", "GenotypeData", "LiabilityModel", "PolygenicScore",
    "QCResult", "clump", "daetwyler_expected_r2", "distance_to_causal", "effective_number_of_segments",
    "fit_clumping_thresholding", "fit_ld_lasso_prs", "fit_ld_ridge_prs", "fit_penalised_prs", "genetic_pca", "genomic_inflation",
    "genotype_dosage", "hardy_weinberg_exact", "ld_prune", "make_cancer_cohort", "make_cancer_cohort_files",
    "match_samples", "observed_to_liability_r2", "plot_gwas_summary", "plot_manhattan", "plot_pca",
    "plot_qq", "polygenic_score", "qc_filter", "read_cohort", "read_phenotypes", "read_vcf", "read_zarr",
    "run_gwas", "sample_qc", "variant_qc", "vcf_to_zarr", "write_cancer_cohort", "write_vcf",
    # risk, survival, communication
    "CLINICAL_COVARIATES", "Concordance", "RecalibrationResult", "RiskMessage", "RiskModel", "RiskStudy",
    "SurvivalModel", "apply_score", "bootstrap_cox_models", "check_groups", "check_survival", "concordance",
    "covariate_matrix", "evaluate_by_group", "fit_cox_model", "fit_risk_model", "kaplan_meier_by_group",
    "plot_auc_by_group", "plot_icon_array", "plot_kaplan_meier", "prepare_risk_study", "prs_groups", "read_truth",
    "recalibrate_for_group", "risk_message", "score_weights",
    # cohorts without every optional column
    "NO_GROUP_COLUMN", "ONE_GROUP", "ancestry_groups", "available_covariates", "case_rates_by_group",
    "exclusions_by_group", "plot_calibration_by_group", "require_columns", "study_groups", "SURVIVAL_COVARIATES", "compare_to_baseline",
    "prs_percentile", "top_share_by_reference", "numbers_at_risk",
    "AverageRiskMultiple", "absolute_risk_calibration", "risk_at_multiple_of_average",
    # sample checks
    "KING_DEGREES", "check_sex", "king_kinship", "related_pairs", "sample_inbreeding",
    "describe_scores", "expected_r2_table", "liability_r2_by_group", "plot_decision_panels",
    "read_optional_study_files",
    # published summary statistics and gene-panel variants
    "align_summary_statistics", "pathogenic_carrier", "read_pathogenic_variants", "read_summary_statistics",
    "simulate_summary_statistics", "write_summary_statistics",
]
