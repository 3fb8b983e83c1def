"""The official BIDS validator, and the ``.bidsignore`` our non-standard raw files need.

ADC and eADC maps are not BIDS raw suffixes, yet the consensus layout (and ISLES 2022) keeps them beside
the DWI; ``.bidsignore`` is BIDS's own way to say so. The validator is the ``bids-validator-deno``
package from PyPI (the official TypeScript validator as one binary), optional: without it the report
says it did not run.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from .atomicio import writeTextAtomic
from .errors import AISError

#: Files of the consensus layout that BIDS raw data does not define.
NONSTANDARD_PATTERNS = ("*_adc.*", "*_ADC.*", "*_eadc.*", "*_eADC.*")
VALIDATOR_COMMAND = "bids-validator-deno"
VALIDATOR_TIMEOUT_S = 600


def ensureBidsIgnore(datasetRoot) -> bool:
    """Add the ADC/eADC patterns to ``<root>/.bidsignore`` (keeping what is there).

    :return: True when the file was created or changed.
    """
    path = Path(datasetRoot) / ".bidsignore"
    existing = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    missing = [pattern for pattern in NONSTANDARD_PATTERNS if pattern not in existing]
    if missing:
        writeTextAtomic(path, "\n".join([*existing, *missing]) + "\n")
    return bool(missing)


def validatorCommand() -> list[str] | None:
    """How to run the validator, without network access; None when it is not installed.

    The package's own launcher grants Deno network, write and git permissions the validator does not need to
    check a local dataset; run through Deno directly, the bundle gets read access only (``--deny-net``), so a
    patient dataset cannot leave the machine through it whatever the bundle does. A validator installed some
    other way (only the launcher on the PATH) runs as its launcher sets it up.
    """
    try:
        import bids_validator_deno
        from deno import find_deno_bin

        bundle = Path(bids_validator_deno.__file__).with_name("bids-validator.js")
        if bundle.is_file():
            return [str(find_deno_bin()), "run", "--allow-read", "--allow-env", "--deny-net", "--no-prompt", str(bundle)]
    except (ImportError, OSError, RuntimeError):
        pass
    besidePython = Path(sys.executable).with_name(VALIDATOR_COMMAND)
    launcher = shutil.which(VALIDATOR_COMMAND) or (str(besidePython) if besidePython.is_file() else None)
    return [launcher] if launcher else None


def runOfficialValidator(datasetRoot) -> dict | None:
    """Run the official BIDS validator on a dataset.

    :return: None when the validator is not installed; else ``{"version", "errors": [issue], "warnings":
        {code: count}, "warningExamples": {code: its first issue}}`` where an issue is ``{"code", "location", "message",
        "subCode"}`` (``subCode``: the field a sidecar lacks, or "").
    :raises AISError: the validator crashed or printed something that is not its JSON report.
    """
    command = validatorCommand()
    if command is None:
        return None
    try:
        completed = subprocess.run([*command, str(datasetRoot), "--json"], capture_output=True, text=True,
                                   timeout=VALIDATOR_TIMEOUT_S, check=False)
        report = json.loads(completed.stdout)
    except subprocess.TimeoutExpired:
        raise AISError(f"The BIDS validator did not finish within {VALIDATOR_TIMEOUT_S} s on '{datasetRoot}'.") from None
    except (OSError, ValueError) as error:
        detail = completed.stderr.strip().splitlines()[-1] if "completed" in locals() and completed.stderr.strip() else error
        raise AISError(f"The BIDS validator could not check '{datasetRoot}' ({detail}).") from None
    errors, warnings, examples = [], {}, {}
    for issue in report.get("issues", {}).get("issues", []):
        found = {"code": issue.get("code", ""), "location": issue.get("location", ""), "message": (issue.get("issueMessage") or "").strip(),
                 "subCode": issue.get("subCode") or ""}
        if issue.get("severity") == "error":
            errors.append(found)
        elif issue.get("severity") == "warning":
            warnings[found["code"]] = warnings.get(found["code"], 0) + 1
            examples.setdefault(found["code"], found)
    return {"version": report.get("summary", {}).get("schemaVersion", ""), "errors": errors, "warnings": warnings, "warningExamples": examples}
