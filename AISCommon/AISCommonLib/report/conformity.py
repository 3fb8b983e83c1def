"""Format, naming and metadata (consensus section 3.3): the header-only validation, the official BIDS validator, every
mask file, and the acquisition parameters and clinical columns each case must carry.
"""

from ..core.errors import AISError, InputError
from .findings import bidsValidatorFinding, maskFinding, metadataFinding, sentenceFinding, validationFinding
from .model import METADATA_FIELDS, METADATA_SEQUENCES, Section

MASK_COLUMNS = ["case", "file", "kind", "status", "problems"]
FINDING_COLUMNS = ["severity", "section", "case", "file", "finding", "code"]


def runValidation(root) -> list[dict]:
    """``core.validate.validateDataset`` (headers only) as dicts; a worker can run it beside the case jobs.

    :raises AISError: the dataset cannot be validated at all.
    """
    from ..core.validate import validateDataset

    return [finding.toDict() for finding in validateDataset(root, deep=False)]


def formatSection(validation, official, caseResults: list[dict]) -> dict:
    """The format and naming part of the report.

    :param validation: :func:`runValidation`'s findings, or an :class:`AISError` it raised.
    :param official: ``core.bidsvalidator.runOfficialValidator``'s result, None when it is not installed, or the
        :class:`AISError` it raised.
    :param caseResults: the case jobs' results (their ``masks`` rows and ``problems``).
    :return: ``{"section", "findings" (:class:`Finding`), "masks" (rows), "errors", "warnings"}``.
    """
    section = Section("Format and naming")
    findings = []
    if isinstance(validation, AISError):
        section.problems.append(f"Validation could not run: {validation}")
        findings.append(sentenceFinding("error", "format", f"The dataset could not be validated ({validation})",
                                        "run 'ais validate' on it and correct what it reports", "validation-failed"))
    else:
        findings += [validationFinding(finding) for finding in validation]
    if isinstance(official, AISError):
        section.problems.append(str(official))
        findings.append(sentenceFinding("error", "format", str(official), "run bids-validator-deno on the dataset by hand to see why",
                                        "bids-validator-failed"))
    elif official is None:
        section.notes.append("The official BIDS validator is not installed (pip install bids-validator-deno); it did not run.")
    else:
        warnings = ", ".join(f"{code} x{count}" for code, count in sorted(official["warnings"].items()))
        section.notes.append(f"Official BIDS validator (schema {official['version']}): {len(official['errors'])} error(s); warnings: {warnings or 'none'}.")
        findings += [bidsValidatorFinding(issue) for issue in official["errors"]]
        examples = official.get("warningExamples", {})
        findings += [bidsValidatorFinding(examples.get(code, {"code": code}), "warning", count) for code, count in sorted(official["warnings"].items())]
    maskRows = [row for result in caseResults for row in result["masks"]]
    for result in caseResults:
        section.problems.extend(result["problems"])
    findings += [maskFinding(row) for row in maskRows if row["status"] != "ok"]
    errors = sum(finding.severity == "error" for finding in findings)
    warnings = sum(finding.severity == "warning" for finding in findings)
    badMasks = sum(row["status"] != "ok" for row in maskRows)
    section.passed = not errors and not section.problems
    section.notes.append(f"{errors} error(s), {warnings} warning(s); {len(maskRows)} mask file(s) checked, {badMasks} with problems.")
    return {"section": section, "findings": findings, "masks": maskRows, "errors": errors, "warnings": warnings}


def metadataSection(root, cases) -> dict:
    """Acquisition parameters per sequence and the filled columns of ``participants.tsv``.

    :return: ``{"section", "rows", "participants", "findings"}``.
    """
    section = Section("Metadata completeness")
    rows = []
    for case in cases:
        for key in METADATA_SEQUENCES:
            if key not in case.files:
                continue
            try:
                sidecar = case.sidecar(key)
                sidecarProblem = "" if case.sidecarPath(key) else "no JSON sidecar"
            except InputError as error:
                sidecar, sidecarProblem = {}, str(error)
            row = {"case": case.caseId, "sequence": key}
            for field in METADATA_FIELDS:
                row[field] = sidecar.get(field)
            if key == "dwi":
                bValue = sidecar.get("DiffusionBValue")
                if bValue is None and case.bvalPath():
                    try:
                        bValue = max(float(value) for value in case.bvalPath().read_text(encoding="utf-8").split())
                    except (OSError, ValueError):
                        bValue = None
                row["BValue"] = bValue
            required = [*METADATA_FIELDS[:2], *METADATA_FIELDS[3:]] + (["BValue"] if key == "dwi" else [])
            row["missing"] = ", ".join(field for field in required if row.get(field) is None)
            row["sidecar_problem"] = sidecarProblem
            rows.append(row)
    participants = []
    findings = []
    path = root / "participants.tsv"
    if path.is_file():
        lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if lines:
            header, body = lines[0], lines[1:]
            for index, column in enumerate(header[1:], start=1):
                filled = sum(1 for line in body if len(line) > index and line[index].strip() not in ("", "n/a"))
                participants.append({"column": column, "filled": filled, "participants": len(body)})
    else:
        section.problems.append("participants.tsv is missing: no clinical data is listed.")
        findings.append(sentenceFinding("error", "metadata", "participants.tsv is missing, so no clinical data is listed",
                                        "write it with one row per subject and the clinical columns the dataset needs", "participants-missing"))
    incomplete = [row for row in rows if row["missing"] or row["sidecar_problem"]]
    findings[:0] = [metadataFinding(row) for row in incomplete]
    section.passed = not incomplete and not section.problems
    section.notes.append(f"{len(rows)} sequence(s) checked; {len(incomplete)} with missing acquisition parameters "
                         f"(SpacingBetweenSlices is optional: the voxel spacing stands in for it).")
    return {"section": section, "rows": rows, "participants": participants, "findings": findings}
