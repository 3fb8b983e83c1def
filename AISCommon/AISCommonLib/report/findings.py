"""Findings as sentences a data steward can act on: what is wrong, what to do, and the check's code in brackets.

Our own checks (``core.validate``) already say what is wrong; :data:`ADVICE` adds what to do. The official BIDS
validator names its findings by code (``NOT_INCLUDED``, ``DWI_MISSING_BVAL`` ...); :data:`BIDS_SENTENCES` turns
each code we know into both halves, and an unknown code still gets a full sentence (its words, the file, where to
look it up). The code stays at the end, in brackets, so a tool or a search can still find it.
"""

from .model import Finding

#: What to do about a finding of ``core.validate``, by its code.
ADVICE = {
    "dataset-description-missing": "write dataset_description.json at the dataset root with at least Name and BIDSVersion",
    "dataset-description-incomplete": "add the missing fields to dataset_description.json",
    "dataset-description-invalid": "repair dataset_description.json so that it is valid JSON",
    "participants-missing": "write participants.tsv with one row per subject (participant_id and the clinical columns)",
    "identifying-column": "delete that column from participants.tsv (keep identities only in the hospital's own records)",
    "participant-not-listed": "add the subject's row to participants.tsv",
    "bad-name": "rename the file so that it starts with its folder's sub-<label>[_ses-<label>] prefix",
    "non-bids-name": "rename the file to a BIDS name (key-value entities, e.g. sub-01_ses-01_dwi.nii.gz)",
    "suffix-spelling": "rename the file with the BIDS spelling of the suffix",
    "flat-layout": "move the file into its BIDS datatype folder (dwi/ or anat/), or keep the layout knowingly",
    "sidecar-missing": "convert the series again with dcm2niix (it writes the JSON sidecar) or write the sidecar from the DICOM headers",
    "slice-spacing": "check the acquisition against the 5 mm slice limit; exclude the case if it does not meet it",
    "field-strength-missing": "add MagneticFieldStrength (tesla) to the sidecar from the DICOM header",
    "field-strength-low": "exclude the case (the consensus needs 1.5 T or more) or record why it stays",
    "slice-thickness-missing": "add SliceThickness (mm) to the sidecar from the DICOM header",
    "slice-too-thick": "exclude the case (the consensus allows at most 5 mm slices) or record why it stays",
    "slice-gap": "exclude the case (the consensus allows a gap of at most 20 % of the thickness) or record why it stays",
    "timing-missing": "add the missing timing field (seconds) to the sidecar from the DICOM header",
    "identifying-field": "remove the field from the sidecar before the dataset leaves the hospital (de-identify again with 'ais import-dicom')",
    "quasi-identifying-field": "remove the field unless the analysis needs it",
    "header-description": "clear the NIfTI header's descrip field (de-identify again with 'ais import-dicom')",
    "unreadable": "replace the file with a readable copy from the originals",
    "grid-mismatch": "export the image again on the DWI grid (same shape and matrix); images are never resampled",
    "field-of-view": "check that the image belongs to the same study; replace it if it does not",
    "mask-grid-mismatch": "write the mask again on the DWI grid (same shape and matrix) or remove it",
    "reference-mask-grid": "the shipped mask is not used; nothing to do unless it should lie on the DWI grid",
    "ambiguous-file": "keep one candidate file per sequence (rename or move the others)",
    "sequence-missing": "add the missing sequence from the originals, or exclude the case",
    "load-failed": "check the case's images with 'ais validate' and replace what cannot be read",
    "b-value-missing": "write the b value beside the DWI (.bval file, or DiffusionBValue in its sidecar)",
    "b-value-not-1000": "check that the case used b = 1000 s/mm^2 as the consensus asks, or record why it stays",
    "b-value-conflict": "correct the b value that disagrees (.bval, sidecar or file name)",
    "adc-unit-conflict": "check the ADC unit of the case with 'ais validate' and convert the ADC map if needed",
    "load-warning": "check the case with 'ais validate'",
}

#: The official BIDS validator's codes: ``code -> (what is wrong, what to do)``; ``{file}`` is the file's location.
BIDS_SENTENCES = {
    "NOT_INCLUDED": ("{file} is not a file BIDS defines", "rename it to a BIDS name, or list its pattern in .bidsignore when it must stay "
                     "(ADC and eADC maps are listed there by 'ais validate')"),
    "DWI_MISSING_BVAL": ("the DWI {file} has no .bval file", "write its b values beside it (dcm2niix writes .bval; a trace image at b = 1000 "
                         "has the single value 1000)"),
    "DWI_MISSING_BVEC": ("the DWI {file} has no .bvec file", "write its gradient directions beside it (dcm2niix writes .bvec; a trace image "
                         "has the direction 0 0 0)"),
    "SIDECAR_KEY_REQUIRED": ("a sidecar of {file} lacks a field BIDS requires", "add the field named in the validator's message from the DICOM header"),
    "SIDECAR_KEY_RECOMMENDED": ("sidecars lack fields BIDS recommends (e.g. {subCode})", "add them from the DICOM headers when they are known; "
                                "they are not needed for acceptance"),
    "JSON_KEY_REQUIRED": ("{file} lacks a field BIDS requires", "add the field named in the validator's message"),
    "JSON_KEY_RECOMMENDED": ("{file} lacks a field BIDS recommends (e.g. {subCode})", "add it when it applies"),
    "JSON_INVALID": ("{file} is not valid JSON", "repair the file"),
    "EMPTY_FILE": ("{file} is empty", "replace it with the complete file from the originals"),
    "NIFTI_HEADER_UNREADABLE": ("the NIfTI header of {file} cannot be read", "replace the file with a readable copy from the originals"),
    "FILENAME_MISMATCH": ("the name of {file} does not match its entities or folder", "rename it so that its name, folder and entities agree"),
    "INVALID_ENTITY_LABEL": ("an entity label in {file} has characters BIDS does not allow", "use letters and digits only in labels"),
    "ENTITY_NOT_IN_RULE": ("{file} uses an entity its datatype does not allow", "rename it without that entity"),
    "DATATYPE_MISMATCH": ("{file} sits in the wrong datatype folder", "move it to the folder its suffix belongs to (dwi/ or anat/)"),
    "MISSING_DATASET_DESCRIPTION": ("the dataset has no dataset_description.json", "write one at the root with at least Name and BIDSVersion"),
    "README_FILE_MISSING": ("the dataset has no README", "write a README describing the dataset, its origin and its licence"),
    "NO_AUTHORS": ("dataset_description.json lists no authors", "add Authors"),
    "TOO_FEW_AUTHORS": ("dataset_description.json lists fewer than two authors", "add every author who should be credited"),
    "PARTICIPANT_ID_MISMATCH": ("participants.tsv and the subject folders do not list the same subjects", "add the missing rows or folders"),
    "PARTICIPANT_ID_COLUMN": ("participants.tsv has no participant_id column first", "make participant_id its first column"),
    "TSV_EQUAL_ROWS": ("{file} has rows of different lengths", "give every row one value per column (n/a where unknown)"),
    "TSV_EMPTY_CELL": ("{file} has empty cells", "write n/a where a value is unknown"),
    "SIDECAR_WITHOUT_DATAFILE": ("{file} describes no data file", "remove it or add the data file it belongs to"),
    "GZIP_HEADER_MTIME": ("the gzip header of {file} keeps a modification time", "compress it again without the time (e.g. gzip -n); "
                          "it can date the scan"),
    "GZIP_HEADER_FILENAME": ("the gzip header of {file} keeps the original file name", "compress it again without the name (e.g. gzip -n); "
                             "it can identify the source"),
    "SUBJECT_FOLDERS": ("the dataset has no sub-<label> folders", "put each subject's data in its own sub-<label> folder"),
}


def _withCode(whatIsWrong: str, whatToDo: str, code: str) -> str:
    first = whatIsWrong.strip().rstrip(".")
    return f"{first[:1].upper()}{first[1:]}: {whatToDo.strip().rstrip('.')}. [{code}]"


def validationFinding(finding: dict) -> Finding:
    """A ``core.validate`` finding (its ``toDict()``) as a sentence with what to do."""
    code = finding["code"]
    advice = ADVICE.get(code, "check it with 'ais validate'")
    return Finding(finding["severity"], "format", _withCode(finding["message"], advice, code), code, finding.get("caseId", ""), finding.get("file", ""))


def _caseOf(location: str) -> str:
    return "_".join(part for part in location.strip("/").split("/")[:2] if part.startswith(("sub-", "ses-")))


def bidsValidatorFinding(issue: dict, severity: str = "error", count: int = 1) -> Finding:
    """One issue of the official BIDS validator (``code``, ``location``, ``message``, optional ``subCode``) as a sentence.

    :param count: how many issues of this code it stands for (warnings are grouped by code).
    """
    code = issue.get("code") or "UNKNOWN"
    location = issue.get("location") or "the dataset"
    subCode = issue.get("subCode") or "see the validator's output"
    if code in BIDS_SENTENCES:
        whatIsWrong, whatToDo = BIDS_SENTENCES[code]
        whatIsWrong = whatIsWrong.format(file=location, subCode=subCode)
    else:
        words = code.replace("_", " ").lower()
        message = (issue.get("message") or "").strip().splitlines()
        whatIsWrong = f"the BIDS validator reports '{words}' for {location}" + (f" ({message[0].rstrip('.')})" if message else "")
        whatToDo = f"look the code up in the BIDS validator's documentation (bids-specification, {code}) and correct the file"
    if count > 1:
        whatIsWrong += f" ({count} times; the first is {location})"
    return Finding(severity, "format", _withCode(whatIsWrong, whatToDo, f"bids-validator: {code}"), f"bids-validator:{code}", _caseOf(location), location)


def maskFinding(row: dict) -> Finding:
    """A mask file with problems (a row of the mask check) as a sentence."""
    problems = row["problems"]
    if "not on the DWI voxel grid" in problems:
        action = "write it again on the DWI grid (same shape and matrix; masks are never resampled) or remove it"
    elif "unreadable" in problems:
        action = "restore the file from the workflow's export or backup, or have the read submitted again"
    elif "not binary" in problems:
        action = "binarise it (0 and 1 only) or write it again from the annotation tool"
    else:
        action = "complete or repair its JSON sidecar (the annotation tool writes it with the mask)"
    what = {"final": "the final mask", "read": "the read", "seed": "the seed mask"}.get(row["kind"], "the mask")
    return Finding("error", "format", _withCode(f"{row['file']} ({what} of {row['case']}) is {problems}", action, "mask-file"), "mask-file",
                   row["case"], row["file"])


#: What to do about a missing step of a case (completeness), by the start of its description.
MISSING_ACTIONS = (
    ("not registered", "register it with 'ais workflow register'"),
    ("of 2 reads submitted", "readers claim it with 'ais workflow next --role reader' and submit their reads"),
    ("of 2 reads", "have two readers read it blind to each other (one mask each in derivatives/lesions)"),
    ("awaiting arbitration", "an arbiter claims it with 'ais workflow next --role arbiter' and rules"),
    ("awaiting review", "a reviewer claims it with 'ais workflow next --role reviewer' and finalises it"),
    ("no review or arbitration", "a reviewer or arbiter must settle it"),
    ("no final", "a senior reviewer must review it and write the final mask"),
)


def completenessFinding(row: dict) -> Finding:
    """A case that is not complete, with what each missing step needs."""
    actions = []
    for part in row["missing"].split("; "):
        for start, action in MISSING_ACTIONS:
            if start in part and action not in actions:
                actions.append(action)
                break
    return Finding("error", "completeness", _withCode(f"{row['case']} is not complete ({row['missing']})", "; ".join(actions) or "finish its reading",
                                                      "case-incomplete"), "case-incomplete", row["case"])


def metadataFinding(row: dict) -> Finding:
    """A sequence with missing acquisition parameters or an unreadable sidecar."""
    label = f"the {row['sequence'].upper()} of {row['case']}"
    if row.get("sidecar_problem"):
        return Finding("error", "metadata", _withCode(f"{label} has a sidecar problem ({row['sidecar_problem']})",
                                                      "repair the sidecar or write it again from the DICOM headers", "metadata-sidecar"),
                       "metadata-sidecar", row["case"])
    return Finding("error", "metadata", _withCode(f"{label} lacks {row['missing']}",
                                                  "add the missing fields to its JSON sidecar from the DICOM headers (dcm2niix writes them)",
                                                  "metadata-missing"), "metadata-missing", row["case"])


def proposalFinding(proposal: dict) -> Finding:
    """A quality exclusion the numbers call for that the workflow has not decided yet."""
    return Finding("error", "quality", _withCode(f"{proposal['case']} is proposed for exclusion: {proposal['note']}",
                                                 f"the manager decides: exclude it ('ais workflow exclude {proposal['case']} --reason "
                                                 f"{proposal['reason']}') or keep it and record why", proposal["reason"]), proposal["reason"], proposal["case"])


def sentenceFinding(severity: str, section: str, sentence: str, whatToDo: str, code: str, caseId: str = "") -> Finding:
    """Any other problem the report found, with what to do."""
    return Finding(severity, section, _withCode(sentence, whatToDo, code), code, caseId)
