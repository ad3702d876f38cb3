"""Fibrosis track: synthetic chest-radiograph cohorts, DICOM I/O, de-identification and real-data loaders."""
from medai_lib.fibrosis.cohort import (
    GENERATOR_VERSION,
    FibrosisCohort,
    lung_histogram_features,
    make_fibrosis_cohort,
    make_fibrosis_manifest,
)
from medai_lib.fibrosis.deid import deidentify_dataset, deidentify_folder
from medai_lib.fibrosis.dicom import (
    read_dicom,
    read_dicom_folder,
    read_fibrosis_cohort,
    write_dicom,
    write_fibrosis_dicom,
)
from medai_lib.fibrosis.plots import plot_cohort_grid
from medai_lib.fibrosis.realdata import (
    load_chestxray14,
    load_dicom_tree,
    load_fibrosis_cohort,
    read_chestxray14_manifest,
    read_png,
)

__all__ = [
    "GENERATOR_VERSION", "FibrosisCohort", "lung_histogram_features", "make_fibrosis_cohort",
    "make_fibrosis_manifest",
    "deidentify_dataset", "deidentify_folder",
    "read_dicom", "read_dicom_folder", "read_fibrosis_cohort", "write_dicom", "write_fibrosis_dicom",
    "plot_cohort_grid",
    "load_chestxray14", "load_dicom_tree", "load_fibrosis_cohort", "read_chestxray14_manifest", "read_png",
]
