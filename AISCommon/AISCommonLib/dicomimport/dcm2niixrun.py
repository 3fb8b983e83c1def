"""Run dcm2niix on de-identified copies: find the executable, convert one series, report failures without
identifiers (the copies it reads are de-identified, and its messages name only the staging folder)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

from ..core.errors import AISError

DCM2NIIX_TIMEOUT_S = 600
#: Environment variable naming a dcm2niix executable to use instead of the one the PyPI package ships.
DCM2NIIX_ENVIRONMENT_VARIABLE = "AIS_DCM2NIIX"


def findDcm2niix() -> str:
    """Path of the dcm2niix executable: ``$AIS_DCM2NIIX``, else the binary of the PyPI ``dcm2niix``
    package (not its Python wrapper script), else ``dcm2niix`` on the PATH.

    :raises AISError: none is found.
    """
    override = os.environ.get(DCM2NIIX_ENVIRONMENT_VARIABLE)
    if override:
        if not Path(override).is_file():
            raise AISError(f"{DCM2NIIX_ENVIRONMENT_VARIABLE} names '{override}', which does not exist.")
        return override
    try:
        import dcm2niix

        if Path(dcm2niix.bin).is_file():
            return str(dcm2niix.bin)
    except ImportError:
        pass
    found = shutil.which("dcm2niix")
    if found:
        return found
    raise AISError("DICOM import needs dcm2niix, which is not installed; install it with: pip install 'ais-annotation[import]'.")


def dcm2niixVersion(executable: str) -> str:
    """The version string dcm2niix reports (``v1.0.20240202``), or ``unknown``."""
    try:
        completed = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"v\d+\.\d+\.\d+\w*", completed.stdout + completed.stderr)
    return match.group(0) if match else "unknown"


def runDcm2niix(executable: str, inputFolder: Path, outputFolder: Path, seriesName: str) -> None:
    """Convert the de-identified copies of one series in ``inputFolder`` into ``outputFolder``.

    :param seriesName: how messages name the series (``series 3 'ep2d_diff_trace'``, cleaned).
    :raises AISError: dcm2niix cannot start, fails, times out or writes no image.
    """
    outputFolder.mkdir(parents=True, exist_ok=True)
    # -g i: ignore the user's ~/.dcm2nii.ini so every machine converts the same way; -i n: keep derived
    # images (ADC, eADC are derived); -ba y: anonymised sidecars (a second guard after the allow-list);
    # -f without %n/%i/%j/%t: no identifier or time can reach a file name.
    command = [executable, "-g", "i", "-b", "y", "-ba", "y", "-i", "n", "-z", "y", "-w", "1", "-d", "0", "-v", "0",
               "-f", "image", "-o", str(outputFolder), str(inputFolder)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=DCM2NIIX_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AISError(f"dcm2niix took longer than {DCM2NIIX_TIMEOUT_S} s on {seriesName}; nothing was imported.") from None
    except OSError as error:
        raise AISError(f"dcm2niix could not be started ('{executable}': {error.strerror}).") from None
    if completed.returncode != 0 or not list(outputFolder.glob("*.nii*")):
        lines = [line for line in (completed.stderr + completed.stdout).splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"exit status {completed.returncode}"
        raise AISError(f"dcm2niix could not convert {seriesName} ({detail}); nothing was imported.")
