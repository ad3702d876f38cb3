"""A synthetic cohort written as EDF+ files (cached on disk), read back through the real-data loader."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from medai_lib.apnea.edf import write_psg_edf
from medai_lib.apnea.simulate import GENERATOR_VERSION, NightConfig, make_sleep_cohort
from medai_lib.data.cache import get_or_create


def make_sleep_cohort_files(
    n_subjects: int,
    *,
    hours: float = 8.0,
    config: "NightConfig | str" = "default",
    labels: str = "aasm",
    random_state: int = 0,
    root: "str | os.PathLike | None" = None,
) -> Path:
    """Write a synthetic cohort as a flat EDF+ folder (cached under ``$MEDAI_DATA``) and return it.

    The folder holds ``SYN-0000.edf`` ... (signals at native rates; hypnogram, scored events and
    arousals as annotations), ``subjects.csv`` (covariates, ``true_ahi``, ``true_ahi_4pct``) and
    ``events.csv`` (every respiratory disturbance, with ``scored``). It is the "flat" layout of
    :func:`medai_lib.apnea.list_psg_recordings`. Written once per parameter set; later calls
    return the cached folder at once.

    Parameters
    ----------
    n_subjects : int
    hours : float, default 8.0
    config : NightConfig or {"default", "noisy"}
    labels : {"aasm", "shhs"}, default "aasm"
        Channel naming in the files.
    random_state : int, default 0
    root : path-like, optional
        Cache root (default: :func:`medai_lib.data.data_home`).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> folder = make_sleep_cohort_files(3, hours=1.0, random_state=0)  # doctest: +SKIP
    >>> sorted(p.name for p in folder.glob("*.edf"))  # doctest: +SKIP
    ['SYN-0000.edf', 'SYN-0001.edf', 'SYN-0002.edf']
    """
    cohort = make_sleep_cohort(n_subjects, hours=hours, config=config, random_state=random_state)
    cfg_params = cohort.config.__dict__

    def create(folder: Path) -> None:
        subjects, events = [], []
        for night in cohort:
            write_psg_edf(night, folder / f"{night.subject_id}.edf", labels=labels)
            subjects.append({**dict(night.covariates), "true_ahi": night.true_ahi,
                             "true_ahi_4pct": night.true_ahi_4pct,
                             "total_sleep_time_h": night.total_sleep_time_h})
            events.append(night.events.assign(subject_id=night.subject_id))
        pd.DataFrame(subjects).to_csv(folder / "subjects.csv", index=False)
        pd.concat(events, ignore_index=True).to_csv(folder / "events.csv", index=False)

    params = {"n_subjects": int(n_subjects), "hours": float(hours), "config": cfg_params, "labels": labels,
              "random_state": int(random_state)}
    return get_or_create("apnea_psg_cohort", params, GENERATOR_VERSION, create, root=root)
