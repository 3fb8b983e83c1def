"""Where a report goes, written all at once or not at all.

``--out`` is either an HTML path (``x.html``: ``x.html``, ``x_data/``, ``x.pdf`` beside it, as before) or a folder
(``report.html``, ``report_data/``, ``report.pdf`` inside it; created when missing). Everything is first written into
a hidden temporary folder beside the targets (same file system), then moved into place by renames: a new folder is
one rename; otherwise each older file or ``_data`` folder is first set aside (renamed into the temporary folder),
the new one renamed into place, and what was set aside removed only once everything is in place. Any error before the end removes the temporary folder (and a folder the
report created) and puts back what was set aside, so nothing new remains and nothing old is lost.
"""

import contextlib
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

from ..core.errors import AISError

HTML_SUFFIXES = (".html", ".htm")
DEFAULT_STEM = "report"


@dataclasses.dataclass
class ReportPaths:
    """The files of one report.

    :param parent: the folder the names below go into. :param stem: ``x`` of ``x.html`` and ``x_data``.
    :param newFolder: ``parent`` itself is new (created by moving the whole staging folder there).
    """

    parent: Path
    stem: str
    newFolder: bool

    @property
    def html(self) -> Path:
        return self.parent / f"{self.stem}.html"

    @property
    def dataFolder(self) -> Path:
        return self.parent / f"{self.stem}_data"

    @property
    def pdf(self) -> Path:
        return self.parent / f"{self.stem}.pdf"


def resolveOutput(out) -> ReportPaths:
    """Where the report goes: ``x.html`` -> beside it; anything else is a folder (existing or to be created).

    :raises AISError: the path exists and is a file that is not HTML.
    """
    out = Path(out)
    if out.suffix.lower() in HTML_SUFFIXES:
        return ReportPaths(out.parent, out.stem, False)
    if out.exists() and not out.is_dir():
        raise AISError(f"The report output '{out}' is a file; give a folder or a path ending in .html.")
    return ReportPaths(out, DEFAULT_STEM, not out.exists())


class StagedReport:
    """A temporary folder laid out like the final output; :meth:`commit` moves it into place.

    Use as a context manager: leaving the block without :meth:`commit` (an error, a cancel) removes everything.

    :param paths: where the report goes.
    """

    def __init__(self, paths: ReportPaths):
        self.paths = paths
        self._root = None
        self._createdParents = []

    def __enter__(self):
        anchor = self.paths.parent.parent if self.paths.newFolder else self.paths.parent
        missing = [folder for folder in [anchor, *anchor.parents] if not folder.exists()]
        try:
            anchor.mkdir(parents=True, exist_ok=True)
            self._createdParents = missing
            self._root = Path(tempfile.mkdtemp(prefix=f".{self.paths.stem}.", suffix=".report-tmp", dir=anchor))
        except OSError as error:
            self._removeCreatedParents()
            raise AISError(f"Cannot write the report into '{anchor}': {error.strerror}.") from None
        return self

    @property
    def staged(self) -> ReportPaths:
        """The same layout inside the temporary folder."""
        return ReportPaths(self._root / (self.paths.parent.name if self.paths.newFolder else ""), self.paths.stem, False)

    def commit(self, written: list[Path]) -> None:
        """Move the staged files into place.

        :param written: the staged top-level files and folders (under :attr:`staged`).
        :raises AISError: a rename failed (what was moved is moved back; older files are restored).
        """
        if self.paths.newFolder:
            try:
                os.rename(self.staged.parent, self.paths.parent)
            except OSError as error:
                raise AISError(f"Cannot create the report folder '{self.paths.parent}': {error.strerror}.") from None
            return
        aside = self._root / ".previous"
        aside.mkdir()
        moved, setAside = [], []
        try:
            for staged in written:
                target = self.paths.parent / staged.name
                if target.exists() or target.is_symlink():
                    os.rename(target, aside / target.name)
                    setAside.append(target)
                os.rename(staged, target)
                moved.append((staged, target))
        except OSError as error:
            for staged, target in reversed(moved):
                with contextlib.suppress(OSError):
                    os.replace(target, staged)
            for target in setAside:
                with contextlib.suppress(OSError):
                    os.rename(aside / target.name, target)
            raise AISError(f"Cannot put the report into '{self.paths.parent}': {error.strerror}. Nothing was changed.") from None

    def _removeCreatedParents(self):
        for folder in self._createdParents:
            with contextlib.suppress(OSError):
                folder.rmdir()

    def __exit__(self, kind, error, trace):
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
        if error is not None:
            self._removeCreatedParents()
        return False
