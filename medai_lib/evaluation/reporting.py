"""A model card and reporting checklists (TRIPOD+AI, CLAIM) filled from a recorded run.

Every number comes from the run's recorded results (``medai_lib.recorded()`` in the notebook, or a run's
``summary.json``); the authors add prose (intended use, data source) without numbers, so nothing can be
typed in by hand and drift from what was computed. Guidelines: TRIPOD+AI, Collins et al., BMJ
2024;385:e078378; CLAIM 2024 update, Tejani et al., Radiol Artif Intell 2024;6(4):e240300. Model cards:
Mitchell et al., FAT* 2019.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from numbers import Number
from typing import Mapping

import pandas as pd

from medai_lib.errors import MedaiInputError

#: Prose the authors give (no numbers: those come from the run).
FACT_FIELDS = ("model", "intended_use", "intended_users", "out_of_scope", "data_source", "outcome",
               "predictors", "ethics", "limitations")

#: Model card: (section, [(label, recorded key or "fact:<field>")]).
CARD_SECTIONS = (
    ("Model", [("Model", "fact:model"), ("Track", "track"), ("Intended use", "fact:intended_use"),
               ("Intended users", "fact:intended_users"), ("Not for", "fact:out_of_scope")]),
    ("Data", [("Data source", "fact:data_source"), ("Outcome", "fact:outcome"), ("Predictors", "fact:predictors"),
              ("Development cases", "n_development"), ("Test cases", "n_test"),
              ("Prevalence in the test cases", "test_prevalence")]),
    ("Performance (test cases)", [("AUC", "auc"), ("AUC 95% CI low", "auc_ci_low"), ("AUC 95% CI high", "auc_ci_high"),
                                  ("Calibration slope", "calibration_slope"),
                                  ("Calibration intercept", "calibration_intercept"),
                                  ("Operating threshold", "threshold"), ("Sensitivity", "sensitivity"),
                                  ("Specificity", "specificity")]),
    ("Subgroups", [("Groups audited", "audit_variables"), ("Largest AUC gap between groups", "audit_auc_gap"),
                   ("Largest sensitivity gap", "audit_sensitivity_gap"),
                   ("Group with the lowest sensitivity", "audit_lowest_sensitivity_group")]),
    ("Uncertainty and abstention", [("Conformal set level", "conformal_confidence"),
                                    ("Conformal coverage on test cases", "conformal_coverage"),
                                    ("Share referred (unsure)", "referred_share"),
                                    ("Accuracy on decided cases", "decided_accuracy")]),
    ("External site and monitoring", [("AUC at the new site", "external_auc"),
                                      ("Shift alarm raised before labels", "shift_detected"),
                                      ("False-alarm rate on an unshifted site", "false_alarm_rate")]),
    ("Ethics and limitations", [("Ethics", "fact:ethics"), ("Limitations", "fact:limitations")]),
)


@dataclass(frozen=True)
class ChecklistItem:
    """One reporting item (by its section and topic in the published checklist, whose numbering is the
    reference) and what in the run answers it (recorded keys and author facts)."""

    guideline: str
    section: str
    topic: str
    requirement: str
    keys: tuple = ()
    facts: tuple = ()


TRIPOD_AI = (
    ChecklistItem("TRIPOD+AI", "Introduction", "Target population", "Intended population, place in the care pathway and users",
                  facts=("intended_use", "intended_users")),
    ChecklistItem("TRIPOD+AI", "Methods", "Data sources", "Source of the data and its representativeness",
                  facts=("data_source",)),
    ChecklistItem("TRIPOD+AI", "Methods", "Outcome", "Outcome predicted and how it was assessed", facts=("outcome",)),
    ChecklistItem("TRIPOD+AI", "Methods", "Predictors", "Predictors (inputs) and how they were measured",
                  facts=("predictors",)),
    ChecklistItem("TRIPOD+AI", "Methods", "Sample size", "Number of cases and of events used", keys=("n_development", "n_test")),
    ChecklistItem("TRIPOD+AI", "Methods", "Performance measures", "Discrimination and calibration with their uncertainty",
                  keys=("auc", "auc_ci_low", "auc_ci_high", "calibration_slope", "calibration_intercept")),
    ChecklistItem("TRIPOD+AI", "Methods", "Fairness", "How fairness across groups was assessed",
                  keys=("audit_variables", "audit_auc_gap", "audit_sensitivity_gap")),
    ChecklistItem("TRIPOD+AI", "Methods", "Model output", "Form of the output and any threshold used for decisions",
                  keys=("threshold", "sensitivity", "specificity")),
    ChecklistItem("TRIPOD+AI", "Methods", "Training versus evaluation", "Differences between development and evaluation data",
                  keys=("external_auc",)),
    ChecklistItem("TRIPOD+AI", "Methods", "Ethical approval", "Ethics committee approval and consent", facts=("ethics",)),
    ChecklistItem("TRIPOD+AI", "Results", "Model performance", "Performance estimates with confidence intervals",
                  keys=("auc", "auc_ci_low", "auc_ci_high")),
    ChecklistItem("TRIPOD+AI", "Results", "Performance in subgroups", "Performance in key subgroups",
                  keys=("audit_auc_gap", "audit_lowest_sensitivity_group")),
    ChecklistItem("TRIPOD+AI", "Discussion", "Limitations", "Limitations, including non-representative data and bias",
                  facts=("limitations",)),
    ChecklistItem("TRIPOD+AI", "Discussion", "Usability in context", "How uncertain predictions and missing inputs are handled",
                  keys=("conformal_coverage", "referred_share")),
)

CLAIM = (
    ChecklistItem("CLAIM 2024", "Methods", "Data sources", "Sources of the images, sites and scanners", facts=("data_source",)),
    ChecklistItem("CLAIM 2024", "Methods", "Reference standard", "Definition and rationale of the reference standard",
                  facts=("outcome",)),
    ChecklistItem("CLAIM 2024", "Methods", "Data partitions", "How cases were assigned to partitions, at patient level",
                  keys=("n_development", "n_test")),
    ChecklistItem("CLAIM 2024", "Methods", "Performance metrics", "Metrics with statistical uncertainty",
                  keys=("auc", "auc_ci_low", "auc_ci_high")),
    ChecklistItem("CLAIM 2024", "Results", "Subgroup and failure analysis", "Performance across subgroups; failure cases",
                  keys=("audit_auc_gap", "audit_sensitivity_gap")),
    ChecklistItem("CLAIM 2024", "Results", "External testing", "Performance on data from another site or scanner",
                  keys=("external_auc", "shift_detected")),
    ChecklistItem("CLAIM 2024", "Discussion", "Limitations", "Limitations and potential bias", facts=("limitations",)),
)

CHECKLISTS = {"TRIPOD+AI": TRIPOD_AI, "CLAIM": CLAIM}


def _format(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Number):
        return f"{value:.3g}" if isinstance(value, float) else str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value)
    return str(value)


def _check_inputs(results, facts):
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict of recorded values (medai_lib.recorded()); got {type(results).__name__}.")
    facts = dict(facts or {})
    unknown = sorted(set(facts) - set(FACT_FIELDS))
    if unknown:
        raise MedaiInputError(f"facts has unknown field(s) {unknown}; the fields are {list(FACT_FIELDS)}.")
    for name, text in facts.items():
        if not isinstance(text, str):
            raise MedaiInputError(f"facts[{name!r}] must be text; got {type(text).__name__}.")
        if re.search(r"\d", text):
            raise MedaiInputError(
                f"facts[{name!r}] contains a number ({text!r}): numbers must come from the run. Record the value "
                "with record(name, value) and it will appear in the card from the run.")
    return facts


@dataclass(frozen=True, eq=False)
class ModelCard:
    """A model card filled from a run. ``table``: section, item, value, source ("run: <key>", "authors" or
    "missing"). ``missing``: recorded keys the card asks for that the run did not record."""

    table: pd.DataFrame
    missing: tuple = field(default=())

    def to_markdown(self) -> str:
        lines = ["# Model card", "", "*Every number below was recorded by the run; text fields are the authors'.*",
                 "**Not for clinical use.**", ""]
        for section, rows in self.table.groupby("section", sort=False):
            lines += [f"## {section}", "", "| item | value | source |", "|---|---|---|"]
            lines += [f"| {r.item} | {r.value} | {r.source} |" for r in rows.itertuples()]
            lines.append("")
        return "\n".join(lines)

    def to_html(self) -> str:
        parts = ["<h2>Model card</h2><p><em>Every number was recorded by the run; text fields are the authors'. "
                 "Not for clinical use.</em></p>"]
        for section, rows in self.table.groupby("section", sort=False):
            parts.append(f"<h3>{html.escape(section)}</h3>")
            parts.append(rows[["item", "value", "source"]].to_html(index=False, escape=True))
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return self.to_markdown()


def model_card(results: Mapping, *, facts: Mapping | None = None) -> ModelCard:
    """A model card (Mitchell et al. 2019) whose numbers all come from ``results``.

    Parameters
    ----------
    results : dict
        Recorded values of a run, e.g. ``medai_lib.recorded()`` at the end of a notebook. Keys the card
        uses: see :data:`CARD_SECTIONS` (``auc``, ``auc_ci_low``, ``threshold``, ``audit_auc_gap``...).
    facts : dict of str, optional
        The authors' prose for the fields in :data:`FACT_FIELDS`; it may not contain digits.

    Returns
    -------
    ModelCard

    Examples
    --------
    >>> card = model_card({"auc": 0.81234}, facts={"model": "logistic regression"})
    >>> card.table.set_index("item").loc["AUC", "value"]
    '0.812'
    """
    facts = _check_inputs(results, facts)
    rows, missing = [], []
    for section, items in CARD_SECTIONS:
        for label, key in items:
            if key.startswith("fact:"):
                name = key[5:]
                value, source = (facts[name], "authors") if name in facts else ("to be written by the authors",
                                                                                  "missing")
            elif key in results and results[key] is not None:
                value, source = _format(results[key]), f"run: {key}"
            else:
                value, source = "not recorded in this run", "missing"
                missing.append(key)
            rows.append({"section": section, "item": label, "value": value, "source": source})
    return ModelCard(table=pd.DataFrame(rows), missing=tuple(missing))


def reporting_checklist(results: Mapping, *, facts: Mapping | None = None, guideline: str = "TRIPOD+AI") -> pd.DataFrame:
    """Which items of a reporting guideline the run (and the authors' facts) answers, with the evidence.

    Parameters
    ----------
    results : dict
        Recorded values of the run.
    facts : dict of str, optional
        As for :func:`model_card`.
    guideline : {"TRIPOD+AI", "CLAIM"}, default "TRIPOD+AI"
        CLAIM is the checklist for AI in medical imaging; an imaging prediction study reports against both.

    Returns
    -------
    DataFrame
        ``section, topic, requirement, status`` ("reported", "partly" or "to complete") and ``evidence``
        ("key = value" from the run, or the authors' text).

    Examples
    --------
    >>> reporting_checklist({"auc": 0.8}).set_index("topic").loc["Model performance", "status"]
    'partly'
    """
    facts = _check_inputs(results, facts)
    if guideline not in CHECKLISTS:
        raise MedaiInputError(f"guideline must be one of {list(CHECKLISTS)}; got {guideline!r}.")
    rows = []
    for it in CHECKLISTS[guideline]:
        evidence = [f"{k} = {_format(results[k])}" for k in it.keys if results.get(k) is not None]
        evidence += [f"{f}: {facts[f]}" for f in it.facts if f in facts]
        needed = len(it.keys) + len(it.facts)
        status = "reported" if len(evidence) == needed else "partly" if evidence else "to complete"
        rows.append({"section": it.section, "topic": it.topic, "requirement": it.requirement, "status": status,
                     "evidence": "; ".join(evidence)})
    return pd.DataFrame(rows)
