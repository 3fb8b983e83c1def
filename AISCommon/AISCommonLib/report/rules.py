"""The rules the report applied, how far the recorded identities can be trusted, and every manager override: what a
data steward must see before signing, because each one changes what the numbers mean.
"""

import dataclasses

from ..core.quality import QualityThresholds
from .model import Section
from .workflowinfo import managerOverrides, trainingBar

OVERRIDE_COLUMNS = ["when", "who", "action", "case", "what", "reason"]
RULE_COLUMNS = ["rule", "setting", "value", "source"]
#: What each setting of the rules means, for the table.
SETTING_WORDS = {
    "min_dice": "concordant when Dice is at least",
    "max_missed_lesions": "concordant when at most this many lesions are missed by one reader",
    "min_extent_mm3": "discordant extent regions smaller than this (mm^3) are grouped as small",
    "minLikert": "exclusion proposed below this mean Likert score",
    "minSnr": "exclusion proposed below this SNR",
    "minCnr": "exclusion proposed below this lesion CNR",
    "sequences": "sequences whose SNR/CNR can propose an exclusion",
    "required": "new readers must pass training first",
    "min_cases": "trial cases at least",
    "min_mean_dice": "mean Dice against the reference at least",
    "max_missed_lesions_training": "missed lesions per trial case at most",
    "max_median_minutes": "median minutes per trial case at most",
    "min_size_classes": "lesion size classes among the trial cases at least",
    "min_locations": "lesion locations among the trial cases at least",
}


def _value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    if value is None:
        return "no limit"
    return f"{value:g}" if isinstance(value, float) else str(value)


def rulesSection(rule: dict, thresholds: QualityThresholds, workflow) -> dict:
    """The rules applied, the identity statement and the overrides.

    :param rule: the concordance rule applied (``AgreementParameters.ruleDict()``).
    :param thresholds: the quality limits applied.
    :param workflow: :class:`~AISCommonLib.report.workflowinfo.WorkflowInfo` or None.
    :return: ``{"section", "rules" (rows), "overrides" (rows), "identity" (dict or None), "statement" (sentence or None)}``.
    """
    section = Section("Rules applied, identities and overrides")
    tables = workflow.tables if workflow is not None else None
    source = "the workflow's settings" if workflow is not None else "the default rule (no workflow database)"
    rows = [{"rule": "concordance", "setting": key, "value": _value(value), "source": source, "meaning": SETTING_WORDS.get(key, key)}
            for key, value in rule.items()]
    defaults = dataclasses.asdict(QualityThresholds())
    for key, value in dataclasses.asdict(thresholds).items():
        changed = value != defaults[key] and not (isinstance(value, (list, tuple)) and list(value) == list(defaults[key]))
        rows.append({"rule": "image quality", "setting": key, "value": _value(value),
                     "source": f"set for this report (default {_value(defaults[key])})" if changed else "default",
                     "meaning": SETTING_WORDS.get(key, key)})
    bar = trainingBar(tables)
    if bar is None:
        section.notes.append("No workflow database: no training bar applied; whether the readers were qualified is not known to this report.")
    else:
        for key, value in bar.items():
            meaning = SETTING_WORDS.get("max_missed_lesions_training" if key == "max_missed_lesions" else key, key)
            rows.append({"rule": "training bar", "setting": key, "value": _value(value), "source": "the workflow's settings", "meaning": meaning})
    overrides = managerOverrides(tables)
    identity = workflow.identity if workflow is not None else None
    statement = identity.get("statement") if identity else None
    if workflow is None:
        section.notes.append("No workflow database: who read, reviewed and decided is not recorded, so no identity can be stated and no "
                             "override can be listed.")
    elif not overrides:
        section.notes.append("The workflow records no manager override and no decision taken with a reason.")
    return {"section": section, "rules": rows, "overrides": overrides, "identity": identity, "statement": statement}
