"""The case state machine: states, the actions that move a case between them, and who may act.

::

    awaiting_reads --submit (2nd read)--> awaiting_comparison --compare--> review_confirm    (concordant)
                                                                     `--> review_adjudicate (discordant)
    review_confirm | review_adjudicate --review--> final
    review_confirm | review_adjudicate --escalate--> arbitration --arbitrate--> final
    arbitration --convene_panel | opinion--> arbitration   (a panel discusses; the lead arbiter rules)
    any state but final/excluded --exclude--> excluded --reopen--> the state it was excluded from

A case waits in ``awaiting_comparison`` when the second read came from a client without the agreement
engine (the reader-side module); the next client that has it (review side, ``ais workflow``) compares
the reads. No path reaches ``final`` without a review or an arbitration.
"""

from .errors import IllegalTransitionError

AWAITING_READS = "awaiting_reads"
AWAITING_COMPARISON = "awaiting_comparison"
REVIEW_CONFIRM = "review_confirm"
REVIEW_ADJUDICATE = "review_adjudicate"
ARBITRATION = "arbitration"
FINAL = "final"
EXCLUDED = "excluded"
STATES = (AWAITING_READS, AWAITING_COMPARISON, REVIEW_CONFIRM, REVIEW_ADJUDICATE, ARBITRATION, FINAL, EXCLUDED)
REVIEW_STATES = (REVIEW_CONFIRM, REVIEW_ADJUDICATE)
#: States a case can be excluded from (and so reopened into).
EXCLUDABLE_STATES = (AWAITING_READS, AWAITING_COMPARISON, REVIEW_CONFIRM, REVIEW_ADJUDICATE, ARBITRATION)

ROLE_READER = "reader"
ROLE_REVIEWER = "reviewer"
ROLE_ARBITER = "arbiter"
ROLE_MANAGER = "manager"
ROLES = (ROLE_READER, ROLE_REVIEWER, ROLE_ARBITER, ROLE_MANAGER)

ACTION_INITIALISE = "initialise"
ACTION_ADD_USER = "add_user"
ACTION_GRANT_ROLE = "grant_role"
ACTION_REVOKE_ROLE = "revoke_role"
ACTION_SETTINGS = "settings"
ACTION_REGISTER = "register"
ACTION_CLAIM = "claim"
ACTION_RELEASE = "release"
ACTION_SUBMIT = "submit"
ACTION_COMPARE = "compare"
ACTION_REVIEW = "review"
ACTION_ESCALATE = "escalate"
ACTION_ARBITRATE = "arbitrate"
ACTION_EXCLUDE = "exclude"
ACTION_REOPEN = "reopen"
ACTION_TRAINING_SCORE = "training_score"
ACTION_QUALIFY = "qualify"
ACTION_TRIAL_LABELS = "trial_labels"
ACTION_CREATE_LOGIN = "create_login"
ACTION_DEACTIVATE = "deactivate_user"
ACTION_REACTIVATE = "reactivate_user"
ACTION_CONVENE = "convene_panel"
ACTION_OPINION = "opinion"

#: Work slots: two reads, one review, one arbitration per case.
SLOT_READ = "read"
SLOT_REVIEW = "review"
SLOT_ARBITRATION = "arbitration"
READS_PER_CASE = 2
#: A trainee's read of a trial case: made when claimed (one per trainee and case, any number per case),
#: scored against the case's reference mask; a trial case stays in ``awaiting_reads`` for good.
SLOT_TRIAL = "trial"
SLOT_STATES = {SLOT_READ: (AWAITING_READS,), SLOT_REVIEW: REVIEW_STATES, SLOT_ARBITRATION: (ARBITRATION,), SLOT_TRIAL: (AWAITING_READS,)}
SLOT_ROLES = {SLOT_READ: ROLE_READER, SLOT_REVIEW: ROLE_REVIEWER, SLOT_ARBITRATION: ROLE_ARBITER}
ROLE_SLOTS = {role: kind for kind, role in SLOT_ROLES.items()}
SLOT_OPEN = "open"
SLOT_CLAIMED = "claimed"
SLOT_DONE = "done"

#: (state, action) -> states the action may lead to.
TRANSITIONS = {
    (AWAITING_READS, ACTION_SUBMIT): (AWAITING_READS, AWAITING_COMPARISON),
    (AWAITING_COMPARISON, ACTION_COMPARE): REVIEW_STATES,
    (REVIEW_CONFIRM, ACTION_REVIEW): (FINAL,),
    (REVIEW_ADJUDICATE, ACTION_REVIEW): (FINAL,),
    (REVIEW_CONFIRM, ACTION_ESCALATE): (ARBITRATION,),
    (REVIEW_ADJUDICATE, ACTION_ESCALATE): (ARBITRATION,),
    (ARBITRATION, ACTION_ARBITRATE): (FINAL,),
    # An arbitration panel meets on the case without moving it: the lead arbiter's ruling does.
    (ARBITRATION, ACTION_CONVENE): (ARBITRATION,),
    (ARBITRATION, ACTION_OPINION): (ARBITRATION,),
    **{(state, ACTION_EXCLUDE): (EXCLUDED,) for state in EXCLUDABLE_STATES},
    (EXCLUDED, ACTION_REOPEN): EXCLUDABLE_STATES,
}

#: Action -> roles that may take it (beyond that, submit/review/arbitrate need the matching claimed slot).
ACTION_ROLES = {
    ACTION_SUBMIT: (ROLE_READER,),
    ACTION_COMPARE: ROLES,
    ACTION_REVIEW: (ROLE_REVIEWER,),
    ACTION_ESCALATE: (ROLE_REVIEWER,),
    ACTION_ARBITRATE: (ROLE_ARBITER,),
    ACTION_EXCLUDE: (ROLE_READER, ROLE_REVIEWER, ROLE_ARBITER, ROLE_MANAGER),
    ACTION_REOPEN: (ROLE_ARBITER, ROLE_MANAGER),
    ACTION_REGISTER: (ROLE_MANAGER,),
}

#: Structured exclusion reasons (consensus sections 2.1 and 3.2).
EXCLUSION_REASONS = (
    "motion_artifact",
    "susceptibility_artifact",
    "deformation",
    "signal_inhomogeneity",
    "likert_below_3",
    "low_snr_cnr",
    "tumor",
    "vascular_malformation",
    "hemorrhage",
    "other",
)

def requireTransition(caseId: str, state: str, action: str, target: str | None = None) -> None:
    """Refuse an action the state machine does not allow from ``state``.

    :param target: the state the action would lead to, when already known.
    :raises IllegalTransitionError: naming the case, its state and the action.
    """
    targets = TRANSITIONS.get((state, action))
    if targets is None:
        allowed = sorted(action for (fromState, action) in TRANSITIONS if fromState == state)
        hint = f"allowed there: {', '.join(allowed)}" if allowed else "nothing more can happen to it"
        raise IllegalTransitionError(f"Case {caseId} is {state}, where '{action}' is not allowed ({hint}).")
    if target is not None and target not in targets:
        raise IllegalTransitionError(f"Case {caseId} cannot go from {state} to {target} by '{action}'.")


def isTerminal(state: str) -> bool:
    """A final case has no further action (an excluded case can still be reopened)."""
    return state == FINAL
