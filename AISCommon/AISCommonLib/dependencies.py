"""Installing the Python packages the modules need into Slicer's Python: asked first, once, at first use.

Slicer ships numpy and SimpleITK; the workflow store needs SQLAlchemy (and psycopg for PostgreSQL), NIfTI is
read best with nibabel, passwords go to the keyring package, and the report draws with matplotlib. Nothing is
installed when a module is imported or shown: the action that needs a package asks the user (Slicer's
confirmation dialog, which in ``--testing`` mode answers OK and logs the question) and installs it with
``slicer.util.pip_install``. Slicer's ``pip_ensure`` is not used because it does nothing in testing mode,
which left the self-tests of a clean Slicer without SQLAlchemy.

The rules are plain Python (:class:`DependencyInstaller`, tested without Slicer); :func:`slicerInstaller`
wires them to Slicer's dialog and pip.
"""

import importlib
import importlib.metadata
import logging
import re

logger = logging.getLogger(__name__)

#: The workflow store (any database).
WORKFLOW_REQUIREMENTS = ["SQLAlchemy>=2.0"]
#: The PostgreSQL driver, for team databases (``postgresql+psycopg://`` URLs) only.
POSTGRESQL_REQUIREMENTS = ["psycopg[binary]>=3.1"]
#: The reference NIfTI reader; without it the library reads NIfTI with SimpleITK.
NIFTI_REQUIREMENTS = ["nibabel"]
#: The ``ais`` command's progress bars on a terminal. The modules never ask for it: they run ``ais`` with
#: machine-readable progress lines (:mod:`AISCommonLib.progresslines`), and without tqdm a bar becomes plain lines.
COMMAND_LINE_REQUIREMENTS = ["tqdm>=4.66"]


class DependencyError(Exception):
    """A package an action needs is missing and was not installed (the user declined, or pip failed)."""


def requirementName(requirement: str) -> str:
    """The distribution name of a requirement (``psycopg[binary]>=3.1`` -> ``psycopg``)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ValueError(f"'{requirement}' is not a package requirement.")
    return match.group(1)


def isSatisfied(requirement: str) -> bool:
    """True when the installed distribution meets ``requirement`` (name, and version when ``packaging`` is there)."""
    name = requirementName(requirement)
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    try:
        from packaging.requirements import Requirement
    except ImportError:  # Slicer ships packaging; a bare Python may not: the name is then enough
        return True
    specifier = Requirement(requirement).specifier
    return not specifier or specifier.contains(installed, prereleases=True)


def workflowRequirements(databaseUrl: str | None) -> list[str]:
    """What the workflow store needs for this database: SQLAlchemy, plus psycopg for a PostgreSQL URL."""
    needed = list(WORKFLOW_REQUIREMENTS)
    if (databaseUrl or "").strip().lower().startswith("postgresql"):
        needed += POSTGRESQL_REQUIREMENTS
    return needed


class DependencyInstaller:
    """Asks before installing what an action needs, and asks about an optional package only once per session.

    :param requester: who asks, shown in the dialog (the module title).
    :param confirm: ``confirm(text, details) -> bool``, the user's answer.
    :param install: ``install(requirements)`` installs a list of requirements (raises when pip fails).
    :param satisfied: ``satisfied(requirement) -> bool``; :func:`isSatisfied` by default.
    """

    def __init__(self, requester: str, confirm, install, satisfied=isSatisfied):
        self.requester = requester
        self._confirm = confirm
        self._install = install
        self._satisfied = satisfied
        self._declined: set[str] = set()

    def missing(self, requirements) -> list[str]:
        """The requirements not met yet, in order."""
        return [requirement for requirement in requirements if not self._satisfied(requirement)]

    def ensure(self, requirements, purpose: str, optional: bool = False) -> bool:
        """Make sure ``requirements`` are installed before ``purpose`` runs.

        :param purpose: what needs them, completing "... needs ...", e.g. ``"The workflow database"``.
        :param optional: the action can run without them (then a "no" is remembered and not asked again).
        :return: True when everything is installed; False when an optional package was declined (now or before).
        :raises DependencyError: a required package was declined, or is still missing after pip ran.
        """
        missing = self.missing(requirements)
        if not missing:
            return True
        names = ", ".join(requirementName(requirement) for requirement in missing)
        if optional and all(requirement in self._declined for requirement in missing):
            return False
        how = "works without it but better with it" if optional else "cannot run without it"
        text = (f"{purpose} needs the Python package(s) {names}, which this Slicer does not have yet; it {how}.\n\n"
                f"Install {names} into Slicer's Python now (from the Python Package Index)?")
        if not self._confirm(text, "\n".join(missing)):
            if optional:
                self._declined.update(missing)
                logger.info("%s: the user declined installing %s; %s runs without it.", self.requester, names, purpose)
                return False
            raise DependencyError(f"{purpose} needs {names}; it was not installed. Install it when asked, or in Slicer's "
                                  f"Python console with: slicer.util.pip_install({missing!r})")
        logger.info("%s: installing %s for %s.", self.requester, names, purpose)
        self._install(missing)
        importlib.invalidate_caches()
        still = self.missing(missing)
        if still:
            raise DependencyError(f"{', '.join(still)} is still missing after installing it; restart Slicer and try again.")
        return True


_slicerInstallers: dict[str, DependencyInstaller] = {}


def slicerInstaller(requester: str) -> DependencyInstaller:
    """The installer of one module inside Slicer (one per module and session, so "once" holds across panels).

    Asks with ``slicer.util.confirmOkCancelDisplay`` and installs with ``slicer.util.pip_install``.
    """
    if requester not in _slicerInstallers:
        import slicer

        def confirm(text: str, details: str) -> bool:
            return slicer.util.confirmOkCancelDisplay(text, f"{requester}: install Python packages", detailedText=details)

        def install(requirements: list[str]) -> None:
            slicer.util.pip_install(requirements)

        _slicerInstallers[requester] = DependencyInstaller(requester, confirm, install)
    return _slicerInstallers[requester]
