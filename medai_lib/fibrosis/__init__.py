"""Fibrosis track: synthetic chest-radiograph cohorts, DICOM I/O, de-identification, real-data loaders,
image models (MONAI), Grad-CAM explanations and an image browser."""
from medai_lib.fibrosis.cohort import (
    GENERATOR_VERSION,
    FibrosisCohort,
    lung_histogram_features,
    make_fibrosis_cohort,
    make_fibrosis_manifest,
)
from medai_lib.fibrosis.convolution import (
    FirstLayer,
    convolve_image,
    first_layer,
    plot_example_filters,
    plot_first_layer,
    receptive_field,
)
from medai_lib.fibrosis.deid import deidentify_dataset, deidentify_folder
from medai_lib.fibrosis.dicom import (
    read_dicom,
    read_dicom_folder,
    read_fibrosis_cohort,
    write_dicom,
    write_fibrosis_dicom,
)
from medai_lib.fibrosis.explain import (
    SiteIdentification,
    apply_window,
    cam_mass,
    grad_cam,
    lung_appearance_features,
    marker_masks,
    marker_occlusion_effect,
    plot_cam_examples,
    plot_cam_overlay,
    site_identification_accuracy,
)
from medai_lib.fibrosis.models import (
    SmallCNN,
    build_preprocessing,
    fit_fibrosis_model,
    histogram_baseline_scores,
    image_split,
    make_augmentation,
    make_model,
    mask_outside_lungs,
    patient_split,
    predict_fibrosis,
    preprocess_images,
    rebalance_sites,
    standardise_lungs,
)
from medai_lib.fibrosis.plots import plot_cohort_grid
from medai_lib.fibrosis.realdata import (
    load_chestxray14,
    load_dicom_tree,
    load_fibrosis_cohort,
    read_chestxray14_manifest,
    read_png,
)
from medai_lib.fibrosis.shortcuts import (
    external_validation_table,
    fit_and_predict,
    mean_score_by_site,
    plot_cam_row,
    plot_lung_histograms_by_site,
)
from medai_lib.fibrosis.triage import compare_with_prior, triage_at_prevalence
from medai_lib.fibrosis.widgets import ImageBrowser, image_browser

__all__ = [
    "GENERATOR_VERSION", "FibrosisCohort", "lung_histogram_features", "make_fibrosis_cohort",
    "make_fibrosis_manifest",
    "deidentify_dataset", "deidentify_folder",
    "read_dicom", "read_dicom_folder", "read_fibrosis_cohort", "write_dicom", "write_fibrosis_dicom",
    "plot_cohort_grid",
    "load_chestxray14", "load_dicom_tree", "load_fibrosis_cohort", "read_chestxray14_manifest", "read_png",
    "SmallCNN", "build_preprocessing", "fit_fibrosis_model", "histogram_baseline_scores", "image_split",
    "make_augmentation", "make_model",
    "mask_outside_lungs", "patient_split", "predict_fibrosis", "preprocess_images", "rebalance_sites",
    "standardise_lungs",
    "apply_window", "cam_mass", "grad_cam", "marker_masks", "marker_occlusion_effect", "plot_cam_examples",
    "plot_cam_overlay",
    "SiteIdentification", "lung_appearance_features", "site_identification_accuracy",
    "ImageBrowser", "image_browser",
    "FirstLayer", "convolve_image", "first_layer", "plot_example_filters", "plot_first_layer", "receptive_field",
    "external_validation_table", "fit_and_predict", "mean_score_by_site", "plot_cam_row",
    "plot_lung_histograms_by_site", "triage_at_prevalence", "compare_with_prior",
]
