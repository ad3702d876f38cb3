"""Paths and the sample-data cache shared by all tracks, and the level-0 clinical table."""
from medai_lib.data.cache import cache_key, data_home, get_or_create
from medai_lib.data.clinical import (
    VISIT_FEATURES, load_clinical_table, make_clinical_table, make_visit_table, read_clinical_table,
)

__all__ = [
    "VISIT_FEATURES", "cache_key", "data_home", "get_or_create", "load_clinical_table", "make_clinical_table",
    "make_visit_table", "read_clinical_table",
]
