"""Where the real stroke MRI lives for tests (``../shared/data/real`` beside the repository, or ``$AIS_REAL_DATA``).

The folder is outside the repository (its licence and size keep it out); tests copy a case to a temporary
folder before writing anything.
"""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = Path(os.environ.get("AIS_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))


def requireRealData() -> Path:
    """The real-data folder; the calling test skips, saying why, when this machine does not have it."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"the real stroke MRI folder {REAL_DATA} is not on this machine (set AIS_REAL_DATA)")
    return REAL_DATA


def copyRealCase(name: str, target: Path) -> Path:
    """Copy one real case folder (e.g. ``isles22-0001``) into ``target``; :return: its dataset root (``rawdata`` when present)."""
    source = requireRealData() / name
    destination = target / name
    shutil.copytree(source, destination)
    return destination / "rawdata" if (destination / "rawdata").is_dir() else destination
