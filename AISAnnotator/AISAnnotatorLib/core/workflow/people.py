"""Users, roles and the qualification rules of the consensus (staffing of reads, reviews, arbitration).

Minimums (consensus section 2.6 and 3.1): a reader is a resident or above with at least 5 years of
imaging practice and 2 years of neuroimaging; a reviewer an associate chief physician or above with at
least 5 years of neuroimaging; an arbiter a chief physician with at least 10 years of neuroimaging.
A manager may grant a role below its minimum only with a recorded reason.
"""

import dataclasses
import math
import re

from ..errors import InputError
from .states import ROLE_ARBITER, ROLE_MANAGER, ROLE_READER, ROLE_REVIEWER, ROLES

#: Professional titles, lowest first.
TITLES = ("resident", "attending", "associate_chief", "chief")
USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,32}$")


@dataclasses.dataclass(frozen=True)
class RoleMinimum:
    """Lowest title and experience (years) a role needs."""

    title: str
    yearsImaging: float = 0.0
    yearsNeuroimaging: float = 0.0


ROLE_MINIMUMS = {
    ROLE_READER: RoleMinimum("resident", yearsImaging=5, yearsNeuroimaging=2),
    ROLE_REVIEWER: RoleMinimum("associate_chief", yearsNeuroimaging=5),
    ROLE_ARBITER: RoleMinimum("chief", yearsNeuroimaging=10),
    ROLE_MANAGER: RoleMinimum("resident"),
}


@dataclasses.dataclass(frozen=True)
class Qualification:
    """What the consensus asks to know about a person.

    :param title: one of :data:`TITLES`.
    :param yearsImaging: years of imaging practice.
    :param yearsNeuroimaging: years of neuroimaging practice.
    """

    title: str
    yearsImaging: float
    yearsNeuroimaging: float

    def validate(self) -> None:
        """:raises InputError: unknown title or experience that is negative, not finite or inconsistent."""
        if self.title not in TITLES:
            raise InputError(f"Title '{self.title}' is not known; use one of {', '.join(TITLES)}.")
        for name, value in (("imaging", self.yearsImaging), ("neuroimaging", self.yearsNeuroimaging)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or value > 80:
                raise InputError(f"Years of {name} practice must be a number between 0 and 80, not {value!r}.")
        if self.yearsNeuroimaging > self.yearsImaging:
            raise InputError("Years of neuroimaging cannot exceed years of imaging practice.")


def validateUserId(userId) -> str:
    """User IDs are pseudonymous letters-and-digits IDs (they may end up in file names).

    :raises InputError: empty, too long, or with other characters.
    """
    if not isinstance(userId, str) or not USER_ID_PATTERN.match(userId):
        raise InputError(f"User ID '{userId}' is not valid: use 1-32 letters and digits (a pseudonymous ID such as R01).")
    return userId


def validateRole(role) -> str:
    """:raises InputError: not one of :data:`ROLES`."""
    if role not in ROLES:
        raise InputError(f"Role '{role}' is not known; use one of {', '.join(ROLES)}.")
    return role


def roleShortfalls(role: str, qualification: Qualification) -> list[str]:
    """What keeps ``qualification`` below the minimum of ``role``.

    :return: one phrase per unmet rule; empty when the person qualifies.
    """
    minimum = ROLE_MINIMUMS[validateRole(role)]
    shortfalls = []
    if TITLES.index(qualification.title) < TITLES.index(minimum.title):
        shortfalls.append(f"title {qualification.title} is below {minimum.title}")
    if qualification.yearsImaging < minimum.yearsImaging:
        shortfalls.append(f"{qualification.yearsImaging:g} years of imaging is below {minimum.yearsImaging:g}")
    if qualification.yearsNeuroimaging < minimum.yearsNeuroimaging:
        shortfalls.append(f"{qualification.yearsNeuroimaging:g} years of neuroimaging is below {minimum.yearsNeuroimaging:g}")
    return shortfalls
