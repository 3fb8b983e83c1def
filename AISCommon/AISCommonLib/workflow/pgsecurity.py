"""Team mode on PostgreSQL: login roles, row-level security, guard triggers and the functions behind them.

The store's own checks give the good error messages; this module makes the database the second line, the one
a hand-written SQL session cannot skip.

- **Roles**: the role that creates the workflow (``ais workflow init``: a superuser, or a site's owner role made
  with ``createuser --createrole``) owns the tables and the functions below. A NOLOGIN *worker group* (one per
  database and schema, :func:`workerRoleName`) holds the workers' privileges; every person logs in as their own
  login role, a member of that group, mapped to their workflow user ID by the ``logins`` table.
- **Who calls**: ``ais_caller()`` is the workflow ID of ``session_user`` (the authenticated login, which ``SET ROLE``
  cannot change) when that person is active; ``ais_caller_has_role(role)`` checks their workflow roles. Both are
  SECURITY DEFINER, so policies can use them whatever the caller may read.
- **Privileges**: the group may SELECT every workflow table, INSERT into the tables workers add rows to, UPDATE
  ``settings``, ``users``, ``cases``, ``slots`` and DELETE from ``user_roles`` and ``slots``; never UPDATE, DELETE or
  TRUNCATE ``events``, ``reads``, ``decisions``, ``training_scores``, ``logins``.
- **Policies** (row-level security on every table): events, reads, decisions and training scores only as the
  caller (``user_id = ais_caller()``) and only inside the action they belong to (a read for a slot the caller
  holds, a decision for the case the caller just moved); roles, users and settings only by managers.
- **Sealed reads** (``read_files``, schema version 7): the bytes of a read are added only with the read itself (same
  transaction, same author, hashing to the hashes the read row records) and handed out only to their author, a manager
  who is no reader of the case, whoever holds or held the case's review or arbitration, and anyone once both reads are
  in (trial cases: to managers, and to a trainee once they submitted their own read). Every other table stays readable.
- **Triggers** (SECURITY DEFINER): ``cases`` change state only by an allowed transition for the caller (the
  slot they hold, the role it needs), ``slots`` are claimed only by someone with the slot's role and no conflict
  of interest, given back only by their holder, a manager or an exclusion; a reader may qualify themselves only
  when their training scores meet the bar; ``events`` are append-only (row trigger and a statement-level TRUNCATE
  trigger) and record the login that wrote them (``db_login``).
- **Trusted**: the owner role and superusers (they own the tables and could drop every guard; the store lets them
  act for any declared workflow user and each event records their login), and what clients compute: the
  comparison of two reads, training scores, the files' hashes.

Names are created in the current schema; every function pins ``search_path`` to it.
"""

import hashlib
import re

from ..core.errors import InputError
from .errors import DatabaseError, PermissionDeniedError, WorkflowError

#: PostgreSQL SQLSTATE for "insufficient privilege": raised by every refusal below (and by row-level security).
REFUSED = "42501"
#: Login role names we create or accept: lower-case letters, digits and underscores (no quoting surprises).
LOGIN_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: Tables of the workflow schema the worker group may read.
READ_TABLES = ("schema_version", "settings", "users", "user_roles", "logins", "cases", "slots", "reads", "decisions", "events", "training_scores",
               "panel_members", "opinions", "read_files", "case_load")
#: Tables whose rows workers add (each guarded by a policy or a trigger).
INSERT_TABLES = ("users", "user_roles", "cases", "slots", "reads", "decisions", "events", "training_scores", "panel_members", "opinions",
                 "read_files")
UPDATE_TABLES = ("settings", "users", "cases", "slots")
DELETE_TABLES = ("user_roles", "slots")
#: Triggers this module installs (``verify`` may check that they are still there).
GUARD_TRIGGERS = {
    "cases": ("ais_guard_cases",),
    "slots": ("ais_guard_slots",),
    "users": ("ais_guard_users",),
    "events": ("events_append_only", "events_no_truncate", "events_login"),
}


def workerRoleName(database: str, schemaName: str) -> str:
    """The NOLOGIN group role of one workflow: ``ais_<database>[_<schema>]_workers`` (at most 63 characters).

    Roles are shared by the whole cluster, so the name carries the database and (unless ``public``) the schema.
    """
    base = f"ais_{database}" + ("" if schemaName == "public" else f"_{schemaName}")
    base = re.sub(r"[^a-z0-9_]", "_", base.lower())
    name = f"{base}_workers"
    if len(name) > 63:
        name = f"{base[:46]}_{hashlib.sha256(base.encode()).hexdigest()[:8]}_workers"
    return name


def defaultLogin(userId: str) -> str:
    """The login role a person gets unless another is named: their workflow ID in lower case.

    :raises InputError: the ID does not make a valid login name (start with a letter or give one).
    """
    login = str(userId).lower()
    if not LOGIN_PATTERN.match(login):
        raise InputError(f"User ID '{userId}' does not make a database login name; give one with --login (lower-case letters, digits, _).")
    return login


def validateLogin(login: str) -> str:
    """:raises InputError: not a plain lower-case role name."""
    if not isinstance(login, str) or not LOGIN_PATTERN.match(login):
        raise InputError(f"Database login '{login}' is not valid: use 1-63 lower-case letters, digits and underscores, starting with a letter.")
    return login


# ---------------------------------------------------------------------------------------------------
# Installation (schema version 5, by the owner)


_HELPERS = r"""
CREATE OR REPLACE FUNCTION ais_worker_role() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT @GROUP@::text $$;
CREATE OR REPLACE FUNCTION ais_owner_role() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT @OWNER@::text $$;

CREATE OR REPLACE FUNCTION ais_is_admin() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
  SELECT COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = session_user), false)
      OR pg_has_role(session_user, @OWNER@, 'MEMBER')
$$;

CREATE OR REPLACE FUNCTION ais_caller() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
  SELECT l.user_id::text FROM logins l JOIN users u ON u.user_id = l.user_id
  WHERE l.login_role = session_user::text AND u.active
$$;

CREATE OR REPLACE FUNCTION ais_caller_has_role(wanted text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @S@, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = ais_caller() AND r.role = wanted)
$$;

CREATE OR REPLACE FUNCTION ais_holds_slot(p_case text, p_kind text, p_statuses text[]) RETURNS boolean LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM slots s WHERE s.case_id = p_case AND s.kind = p_kind AND s.user_id = ais_caller()
                 AND s.status = ANY (p_statuses))
$$;

-- A read only for a read or trial slot the caller holds, marked done in this very transaction (the submission).
CREATE OR REPLACE FUNCTION ais_may_add_read(p_slot integer, p_case text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @S@, pg_temp AS $$
  SELECT ais_caller_has_role('reader') AND EXISTS (
    SELECT 1 FROM slots s JOIN cases c ON c.case_id = s.case_id
    WHERE s.id = p_slot AND s.case_id = p_case AND s.user_id = ais_caller() AND s.kind IN ('read', 'trial')
      AND s.status = 'done' AND s.xmin = pg_current_xact_id()::xid AND c.state = 'awaiting_reads')
$$;

-- A decision only by the holder of the case's review (review, escalate) or arbitration slot, in the transaction that
-- moved the case, once per case and action.
CREATE OR REPLACE FUNCTION ais_may_decide(p_case text, p_action text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @S@, pg_temp AS $$
  SELECT EXISTS (
      SELECT 1 FROM cases c WHERE c.case_id = p_case AND c.xmin = pg_current_xact_id()::xid
        AND c.state = CASE p_action WHEN 'escalate' THEN 'arbitration' ELSE 'final' END)
    AND CASE p_action
          WHEN 'review' THEN ais_caller_has_role('reviewer') AND ais_holds_slot(p_case, 'review', ARRAY['claimed', 'done'])
          WHEN 'escalate' THEN ais_caller_has_role('reviewer') AND ais_holds_slot(p_case, 'review', ARRAY['claimed', 'done'])
          WHEN 'arbitrate' THEN ais_caller_has_role('arbiter') AND ais_holds_slot(p_case, 'arbitration', ARRAY['claimed', 'done'])
          ELSE false END
    AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.case_id = p_case AND d.action = p_action)
$$;

-- A training score only for the caller's own trial read, submitted in this transaction.
CREATE OR REPLACE FUNCTION ais_may_score(p_read integer, p_case text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @S@, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM reads r JOIN cases c ON c.case_id = r.case_id
                 WHERE r.id = p_read AND r.case_id = p_case AND r.user_id = ais_caller() AND c.training
                   AND r.xmin = pg_current_xact_id()::xid)
$$;

-- Who may read the bytes of a sealed read (the store's blinding rule, see sealedreads): its author, and on a trial case
-- managers and the trainees who submitted their own read, otherwise a manager who reads no slot of the case, whoever
-- holds or held its review or arbitration, and anyone once both reads are in.
CREATE OR REPLACE FUNCTION ais_may_see_read_file(p_case text, p_user text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @S@, pg_temp AS $$
  SELECT ais_caller() IS NOT NULL AND (
    p_user = ais_caller()
    OR EXISTS (
      SELECT 1 FROM cases c WHERE c.case_id = p_case AND CASE WHEN c.training THEN
          ais_caller_has_role('manager') OR EXISTS (SELECT 1 FROM reads r WHERE r.case_id = p_case AND r.user_id = ais_caller())
        ELSE
          (SELECT count(*) FROM reads r WHERE r.case_id = p_case) >= 2
          OR (ais_caller_has_role('manager')
              AND NOT EXISTS (SELECT 1 FROM slots s WHERE s.case_id = p_case AND s.kind = 'read' AND s.user_id = ais_caller()))
          OR ais_holds_slot(p_case, 'review', ARRAY['claimed', 'done'])
          OR ais_holds_slot(p_case, 'arbitration', ARRAY['claimed', 'done'])
        END))
$$;

-- The bytes of a read only with the read row itself (this transaction, the caller's), and only bytes that hash to what
-- that row records for the path: the chain covers the row, so it covers the bytes.
CREATE OR REPLACE FUNCTION ais_may_add_read_file(p_path text, p_case text, p_sha256 text, p_content bytea) RETURNS boolean LANGUAGE sql
STABLE SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
  SELECT encode(sha256(p_content), 'hex') = p_sha256 AND EXISTS (
    SELECT 1 FROM reads r WHERE r.case_id = p_case AND r.user_id = ais_caller() AND r.xmin = pg_current_xact_id()::xid
      AND ((r.mask_path = p_path AND r.sha256 = p_sha256) OR (r.sidecar_path = p_path AND r.sidecar_sha256 = p_sha256)))
$$;

CREATE OR REPLACE FUNCTION ais_refuse(message text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = message;
END $$;

-- The columns whose values differ between two versions of a row.
CREATE OR REPLACE FUNCTION ais_changed_columns(old_row jsonb, new_row jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(array_agg(n.key ORDER BY n.key), ARRAY[]::text[]) FROM jsonb_each(new_row) n
  WHERE n.value IS DISTINCT FROM old_row -> n.key
$$;
"""

_READ_FILE_FUNCTIONS = r"""
-- What verify needs of the sealed reads a login may not see (a manager who reads the case): each copy's hash,
-- computed here from the bytes, never the bytes. The read rows (readable by every worker) carry the same hashes.
CREATE OR REPLACE FUNCTION ais_read_file_digests() RETURNS TABLE (path text, digest text) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = @S@, pg_temp AS $$
  SELECT f.path::text, encode(sha256(f.content), 'hex') FROM read_files f WHERE ais_caller() IS NOT NULL OR ais_is_admin() ORDER BY f.path
$$;
"""

_CASE_LOAD_FUNCTIONS = r"""
-- case_load (schema version 8) follows every slot change in the same transaction, and workers may only read it.
CREATE OR REPLACE FUNCTION ais_case_load() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE case_load SET taken = taken - (CASE WHEN OLD.status <> 'open' THEN 1 ELSE 0 END) WHERE case_id = OLD.case_id AND kind = OLD.kind;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO case_load (case_id, kind, case_seq, taken)
    SELECT NEW.case_id, NEW.kind, c.id, CASE WHEN NEW.status <> 'open' THEN 1 ELSE 0 END FROM cases c WHERE c.case_id = NEW.case_id
    ON CONFLICT (case_id, kind) DO UPDATE SET taken = case_load.taken + EXCLUDED.taken;
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS ais_case_load ON slots;
CREATE TRIGGER ais_case_load AFTER INSERT OR DELETE OR UPDATE OF status, case_id, kind ON slots FOR EACH ROW EXECUTE FUNCTION ais_case_load();
"""

_CASES_TRIGGER = r"""
CREATE OR REPLACE FUNCTION ais_guard_cases() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
DECLARE
  caller text := ais_caller();
  changes text[];
  allowed text[] := ARRAY['state', 'revision', 'updated_at'];
  permitted boolean := false;
  submitted integer;
  why text := 'the workflow does not allow that step';
BEGIN
  IF ais_is_admin() THEN RETURN NEW; END IF;
  IF caller IS NULL THEN
    PERFORM ais_refuse(format('Database login %s is not an active workflow user.', session_user));
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'awaiting_reads' OR NEW.revision <> 1 OR NEW.final_mask_path IS NOT NULL OR NEW.concordant IS NOT NULL THEN
      PERFORM ais_refuse(format('User %s may register case %s only as a new case awaiting its reads.', caller, NEW.case_id));
    END IF;
    RETURN NEW;
  END IF;
  changes := ais_changed_columns(to_jsonb(OLD), to_jsonb(NEW));
  IF cardinality(changes) = 0 THEN RETURN NEW; END IF;
  IF NEW.state = OLD.state THEN
    IF ais_caller_has_role('manager')
       AND changes <@ ARRAY['lesion_size_class', 'lesion_location', 'reference_volume_ml', 'updated_at'] THEN
      RETURN NEW;
    END IF;
    PERFORM ais_refuse(format('User %s may not change %s of case %s outside a workflow step.', caller, array_to_string(changes, ', '), OLD.case_id));
  END IF;
  IF NEW.revision IS DISTINCT FROM OLD.revision + 1 THEN
    PERFORM ais_refuse(format('User %s may move case %s only to revision %s.', caller, OLD.case_id, OLD.revision + 1));
  END IF;
  SELECT count(*) INTO submitted FROM reads r WHERE r.case_id = OLD.case_id;
  IF OLD.state = 'awaiting_reads' AND NEW.state = 'awaiting_comparison' THEN
    permitted := NOT OLD.training AND submitted >= 2
                 AND EXISTS (SELECT 1 FROM reads r WHERE r.case_id = OLD.case_id AND r.user_id = caller);
    why := 'only the reader who submits the second read does that';
  ELSIF OLD.state = 'awaiting_comparison' AND NEW.state IN ('review_confirm', 'review_adjudicate') THEN
    permitted := submitted >= 2 AND NEW.concordant IS NOT NULL AND NEW.concordant = (NEW.state = 'review_confirm');
    allowed := allowed || ARRAY['concordant', 'comparison'];
    why := 'a case goes to review only after both reads, concordant to review_confirm';
  ELSIF OLD.state IN ('review_confirm', 'review_adjudicate') AND NEW.state IN ('final', 'arbitration') THEN
    permitted := ais_caller_has_role('reviewer') AND ais_holds_slot(OLD.case_id, 'review', ARRAY['claimed']);
    allowed := allowed || ARRAY['final_mask_path', 'final_sha256'];
    why := 'only the reviewer holding the case''s review slot does that';
  ELSIF OLD.state = 'arbitration' AND NEW.state = 'final' THEN
    permitted := ais_caller_has_role('arbiter') AND ais_holds_slot(OLD.case_id, 'arbitration', ARRAY['claimed']);
    allowed := allowed || ARRAY['final_mask_path', 'final_sha256'];
    why := 'only the arbiter holding the case''s arbitration slot rules on it';
  ELSIF NEW.state = 'excluded' AND OLD.state IN ('awaiting_reads', 'awaiting_comparison', 'review_confirm', 'review_adjudicate', 'arbitration') THEN
    permitted := (ais_caller_has_role('manager')
                  OR EXISTS (SELECT 1 FROM slots s WHERE s.case_id = OLD.case_id AND s.user_id = caller AND s.status = 'claimed'))
                 AND NEW.previous_state = OLD.state AND NEW.exclusion_reason IS NOT NULL;
    allowed := allowed || ARRAY['previous_state', 'exclusion_reason', 'exclusion_note'];
    why := 'only a manager or someone assigned to the case excludes it';
  ELSIF OLD.state = 'excluded' AND NEW.state = OLD.previous_state THEN
    permitted := (ais_caller_has_role('manager') OR ais_caller_has_role('arbiter')) AND NEW.previous_state IS NULL;
    allowed := allowed || ARRAY['previous_state', 'exclusion_reason', 'exclusion_note'];
    why := 'only an arbiter or a manager reopens a case';
  END IF;
  IF NOT permitted THEN
    PERFORM ais_refuse(format('User %s may not move case %s from %s to %s: %s.', caller, OLD.case_id, OLD.state, NEW.state, why));
  END IF;
  IF NOT changes <@ allowed THEN
    PERFORM ais_refuse(format('User %s may not change %s of case %s in the step from %s to %s.', caller,
                              array_to_string(ARRAY(SELECT unnest(changes) EXCEPT SELECT unnest(allowed)), ', '), OLD.case_id, OLD.state, NEW.state));
  END IF;
  RETURN NEW;
END $$;
"""

_SLOTS_TRIGGER = r"""
CREATE OR REPLACE FUNCTION ais_guard_slots() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
DECLARE
  caller text := ais_caller();
  manager boolean;
  kase record;
  changes text[];
  needed text;
  trainingRequired boolean;
BEGIN
  IF ais_is_admin() THEN RETURN COALESCE(NEW, OLD); END IF;
  IF caller IS NULL THEN
    PERFORM ais_refuse(format('Database login %s is not an active workflow user.', session_user));
  END IF;
  manager := ais_caller_has_role('manager');
  IF TG_OP = 'DELETE' THEN
    IF OLD.kind = 'trial' AND OLD.status = 'claimed'
       AND (OLD.user_id = caller OR manager OR EXISTS (SELECT 1 FROM cases c WHERE c.case_id = OLD.case_id AND c.state = 'excluded')) THEN
      RETURN OLD;
    END IF;
    PERFORM ais_refuse(format('User %s may not remove the %s slot %s of case %s.', caller, OLD.kind, OLD.slot_index, OLD.case_id));
  END IF;
  SELECT c.state, c.training INTO kase FROM cases c WHERE c.case_id = NEW.case_id;
  IF TG_OP = 'INSERT' THEN
    IF NEW.kind = 'read' AND manager AND NEW.status = 'open' AND NEW.user_id IS NULL AND kase.state = 'awaiting_reads' AND NOT kase.training THEN
      RETURN NEW;
    ELSIF NEW.kind = 'review' AND NEW.status = 'open' AND NEW.user_id IS NULL AND kase.state IN ('review_confirm', 'review_adjudicate')
          AND NOT EXISTS (SELECT 1 FROM slots s WHERE s.case_id = NEW.case_id AND s.kind = 'review') THEN
      RETURN NEW;
    ELSIF NEW.kind = 'arbitration' AND NEW.status = 'open' AND NEW.user_id IS NULL AND kase.state = 'arbitration'
          AND NOT EXISTS (SELECT 1 FROM slots s WHERE s.case_id = NEW.case_id AND s.kind = 'arbitration')
          AND ais_holds_slot(NEW.case_id, 'review', ARRAY['claimed', 'done']) THEN
      RETURN NEW;
    ELSIF NEW.kind = 'trial' AND NEW.status = 'claimed' AND NEW.user_id = caller AND kase.training AND kase.state = 'awaiting_reads'
          AND ais_caller_has_role('reader') AND NOT (SELECT u.reader_qualified FROM users u WHERE u.user_id = caller) THEN
      RETURN NEW;
    END IF;
    PERFORM ais_refuse(format('User %s may not add a %s slot to case %s (%s).', caller, NEW.kind, NEW.case_id, kase.state));
  END IF;
  changes := ais_changed_columns(to_jsonb(OLD), to_jsonb(NEW));
  IF cardinality(changes) = 0 THEN RETURN NEW; END IF;
  IF changes && ARRAY['id', 'case_id', 'kind', 'slot_index'] THEN
    PERFORM ais_refuse(format('User %s may not move a slot of case %s.', caller, OLD.case_id));
  END IF;
  IF OLD.status = 'open' AND NEW.status = 'claimed' THEN
    -- A claim: the caller takes an open slot of a case in the right state, with the slot's role and no conflict.
    needed := CASE OLD.kind WHEN 'read' THEN 'reader' WHEN 'review' THEN 'reviewer' WHEN 'arbitration' THEN 'arbiter' END;
    IF OLD.user_id IS NOT NULL OR NEW.user_id IS DISTINCT FROM caller OR needed IS NULL OR NOT ais_caller_has_role(needed)
       OR NOT changes <@ ARRAY['status', 'user_id', 'claimed_at'] THEN
      PERFORM ais_refuse(format('User %s may not take the %s slot of case %s: it needs the %s role and is taken by its holder only.',
                                caller, OLD.kind, OLD.case_id, COALESCE(needed, 'right')));
    END IF;
    IF kase.training OR NOT (kase.state = ANY (CASE OLD.kind WHEN 'read' THEN ARRAY['awaiting_reads']
                                                           WHEN 'review' THEN ARRAY['review_confirm', 'review_adjudicate']
                                                           ELSE ARRAY['arbitration'] END)) THEN
      PERFORM ais_refuse(format('User %s may not take the %s slot of case %s while it is %s.', caller, OLD.kind, OLD.case_id, kase.state));
    END IF;
    IF EXISTS (SELECT 1 FROM slots s WHERE s.case_id = OLD.case_id AND s.user_id = caller AND s.id <> OLD.id
               AND (s.kind = OLD.kind OR s.kind = 'read' OR (OLD.kind = 'arbitration' AND s.kind = 'review'))) THEN
      PERFORM ais_refuse(format('User %s may not take the %s slot of case %s: they already read, reviewed or hold it.', caller, OLD.kind, OLD.case_id));
    END IF;
    IF OLD.kind = 'read' THEN
      SELECT COALESCE((value::jsonb ->> 'required')::boolean, false) INTO trainingRequired FROM settings WHERE key = 'training';
      IF COALESCE(trainingRequired, false) AND NOT (SELECT u.reader_qualified FROM users u WHERE u.user_id = caller) THEN
        PERFORM ais_refuse(format('Reader %s is in training and may read trial cases only.', caller));
      END IF;
    END IF;
    RETURN NEW;
  ELSIF OLD.status = 'claimed' AND NEW.status = 'done' THEN
    IF OLD.user_id = caller AND NEW.user_id = caller AND changes <@ ARRAY['status', 'done_at'] THEN RETURN NEW; END IF;
    PERFORM ais_refuse(format('User %s may finish only their own slot of case %s.', caller, OLD.case_id));
  ELSIF OLD.status = 'claimed' AND NEW.status = 'open' THEN
    IF NEW.user_id IS NULL AND changes <@ ARRAY['status', 'user_id', 'claimed_at']
       AND (OLD.user_id = caller OR manager OR kase.state = 'excluded') THEN
      RETURN NEW;
    END IF;
    PERFORM ais_refuse(format('User %s may not give back the %s slot of case %s held by %s.', caller, OLD.kind, OLD.case_id, OLD.user_id));
  END IF;
  PERFORM ais_refuse(format('User %s may not change the %s slot of case %s from %s to %s.', caller, OLD.kind, OLD.case_id, OLD.status, NEW.status));
  RETURN NULL;
END $$;
"""

_USERS_TRIGGER = r"""
-- Managers administer people (row-level security lets no one else touch another person's row). A reader may change
-- only their own qualification, and only to qualified once their training scores meet the bar's count and mean Dice.
CREATE OR REPLACE FUNCTION ais_guard_users() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
DECLARE
  caller text := ais_caller();
  changes text[];
  bar jsonb;
  scored integer;
  meanDice double precision;
BEGIN
  IF ais_is_admin() OR ais_caller_has_role('manager') THEN RETURN NEW; END IF;
  changes := ais_changed_columns(to_jsonb(OLD), to_jsonb(NEW));
  IF cardinality(changes) = 0 THEN RETURN NEW; END IF;
  IF caller IS NULL OR OLD.user_id <> caller
     OR NOT changes <@ ARRAY['reader_qualified', 'qualified_note', 'qualified_at', 'qualified_by', 'qualified_override_reason']
     OR NOT NEW.reader_qualified OR OLD.reader_qualified OR NEW.qualified_by IS NOT NULL OR NEW.qualified_override_reason IS NOT NULL THEN
    PERFORM ais_refuse(format('User %s may not change %s of user %s; a manager does that.', COALESCE(caller, session_user::text),
                              array_to_string(changes, ', '), OLD.user_id));
  END IF;
  SELECT value::jsonb INTO bar FROM settings WHERE key = 'training';
  SELECT count(*), avg(dice) INTO scored, meanDice FROM training_scores WHERE user_id = caller;
  IF scored < GREATEST(COALESCE((bar ->> 'min_cases')::integer, 5), 5) OR meanDice < COALESCE((bar ->> 'min_mean_dice')::double precision, 0.7) THEN
    PERFORM ais_refuse(format('Reader %s has not met the training bar (%s trial scores, mean Dice %s).', caller, scored, round(COALESCE(meanDice, 0)::numeric, 3)));
  END IF;
  RETURN NEW;
END $$;
"""

_EVENTS_GUARDS = r"""
CREATE OR REPLACE FUNCTION ais_events_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'the event log is append-only' USING ERRCODE = '42501'; END $$;
DROP TRIGGER IF EXISTS events_no_truncate ON events;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION ais_events_append_only();

CREATE OR REPLACE FUNCTION ais_events_login() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.db_login := session_user::text;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS events_login ON events;
CREATE TRIGGER events_login BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION ais_events_login();

DROP TRIGGER IF EXISTS ais_guard_cases ON cases;
CREATE TRIGGER ais_guard_cases BEFORE INSERT OR UPDATE ON cases FOR EACH ROW EXECUTE FUNCTION ais_guard_cases();
DROP TRIGGER IF EXISTS ais_guard_slots ON slots;
CREATE TRIGGER ais_guard_slots BEFORE INSERT OR UPDATE OR DELETE ON slots FOR EACH ROW EXECUTE FUNCTION ais_guard_slots();
DROP TRIGGER IF EXISTS ais_guard_users ON users;
CREATE TRIGGER ais_guard_users BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION ais_guard_users();
"""

_LOGIN_FUNCTIONS = r"""
-- Create (or attach) a person's login role, make it a worker, map it to their workflow ID. Managers and the owner only.
-- The password arrives as a SCRAM verifier computed by the client: the clear text never reaches the server.
CREATE OR REPLACE FUNCTION ais_create_login(p_user text, p_login text, p_verifier text) RETURNS boolean LANGUAGE plpgsql
SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
DECLARE
  existing record;
  created boolean := false;
BEGIN
  IF NOT (ais_is_admin() OR ais_caller_has_role('manager')) THEN
    PERFORM ais_refuse(format('Database login %s may not create logins: only a manager does that.', session_user));
  END IF;
  IF p_login !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
    PERFORM ais_refuse(format('%s is not a valid login name.', p_login));
  END IF;
  IF p_verifier IS NOT NULL AND p_verifier NOT LIKE 'SCRAM-SHA-256$%' THEN
    PERFORM ais_refuse('A password reaches the database only as a SCRAM-SHA-256 verifier.');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users WHERE user_id = p_user) THEN
    PERFORM ais_refuse(format('User %s is not registered in the workflow.', p_user));
  END IF;
  IF EXISTS (SELECT 1 FROM logins WHERE user_id = p_user) THEN
    PERFORM ais_refuse(format('User %s already has a database login.', p_user));
  END IF;
  IF EXISTS (SELECT 1 FROM logins WHERE login_role = p_login) THEN
    PERFORM ais_refuse(format('The database login %s already belongs to another workflow user.', p_login));
  END IF;
  SELECT r.oid, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls, r.rolcanlogin INTO existing
  FROM pg_roles r WHERE r.rolname = p_login;
  IF FOUND THEN
    IF existing.rolsuper OR existing.rolcreaterole OR existing.rolcreatedb OR existing.rolreplication OR existing.rolbypassrls
       OR NOT existing.rolcanlogin OR p_login = @OWNER@ OR pg_has_role(p_login, @OWNER@, 'MEMBER')
       OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = existing.oid) THEN
      PERFORM ais_refuse(format('The existing database role %s cannot become a worker login: it is privileged, a group or cannot log in.', p_login));
    END IF;
    IF p_verifier IS NOT NULL THEN
      PERFORM ais_refuse(format('The database role %s exists already; its password is not changed here.', p_login));
    END IF;
  ELSE
    IF p_verifier IS NULL THEN
      EXECUTE format('CREATE ROLE %I LOGIN', p_login);
    ELSE
      EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', p_login, p_verifier);
    END IF;
    created := true;
  END IF;
  EXECUTE format('GRANT %I TO %I', @GROUP@, p_login);
  INSERT INTO logins (login_role, user_id, managed, created_at, created_by)
  VALUES (p_login, p_user, created, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
          COALESCE(ais_caller(), session_user::text));
  RETURN created;
END $$;

-- Deactivation: the login leaves the worker group and, when we created it, may no longer log in. Managers and the owner.
CREATE OR REPLACE FUNCTION ais_set_login_enabled(p_user text, p_enabled boolean) RETURNS text LANGUAGE plpgsql
SECURITY DEFINER SET search_path = @S@, pg_temp AS $$
DECLARE
  mapping record;
BEGIN
  IF NOT (ais_is_admin() OR ais_caller_has_role('manager')) THEN
    PERFORM ais_refuse(format('Database login %s may not enable or disable logins: only a manager does that.', session_user));
  END IF;
  SELECT * INTO mapping FROM logins WHERE user_id = p_user;
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF p_enabled AND NOT (SELECT u.active FROM users u WHERE u.user_id = p_user) THEN
    PERFORM ais_refuse(format('User %s is deactivated; reactivate them before enabling their login.', p_user));
  END IF;
  IF p_enabled THEN
    EXECUTE format('GRANT %I TO %I', @GROUP@, mapping.login_role);
    IF mapping.managed THEN EXECUTE format('ALTER ROLE %I LOGIN', mapping.login_role); END IF;
  ELSE
    EXECUTE format('REVOKE %I FROM %I', @GROUP@, mapping.login_role);
    IF mapping.managed THEN EXECUTE format('ALTER ROLE %I NOLOGIN', mapping.login_role); END IF;
  END IF;
  RETURN mapping.login_role;
END $$;
"""

_POLICIES = {
    # table: [(name, command, using, check)]
    "schema_version": [],
    "settings": [("update", "UPDATE", "@MANAGER@", "@MANAGER@")],
    "users": [("insert", "INSERT", None, "@MANAGER@"),
              ("update", "UPDATE", "@MANAGER@ OR user_id = @CALLER@", "@MANAGER@ OR user_id = @CALLER@")],
    "user_roles": [("insert", "INSERT", None, "@MANAGER@ AND granted_by = @CALLER@"), ("delete", "DELETE", "@MANAGER@", None)],
    "logins": [],
    "cases": [("insert", "INSERT", None, "@MANAGER@"), ("update", "UPDATE", "@CALLER@ IS NOT NULL", "@CALLER@ IS NOT NULL")],
    "slots": [("insert", "INSERT", None, "@CALLER@ IS NOT NULL"), ("update", "UPDATE", "@CALLER@ IS NOT NULL", "@CALLER@ IS NOT NULL"),
              ("delete", "DELETE", "kind = 'trial' AND status = 'claimed' AND (user_id = @CALLER@ OR @MANAGER@ "
               "OR EXISTS (SELECT 1 FROM cases c WHERE c.case_id = slots.case_id AND c.state = 'excluded'))", None)],
    "reads": [("insert", "INSERT", None, "user_id = @CALLER@ AND ais_may_add_read(slot_id, case_id)")],
    "decisions": [("insert", "INSERT", None, "user_id = @CALLER@ AND ais_may_decide(case_id, action)")],
    "events": [("insert", "INSERT", None, "user_id = @CALLER@")],
    "training_scores": [("insert", "INSERT", None, "user_id = @CALLER@ AND ais_may_score(read_id, case_id)")],
    # Only the lead arbiter (holding the case's arbitration) convenes; only panel members give opinions.
    "panel_members": [("insert", "INSERT", None, "added_by = @CALLER@ AND ais_caller_has_role('arbiter') "
                       "AND ais_holds_slot(case_id, 'arbitration', ARRAY['claimed'])")],
    "opinions": [("insert", "INSERT", None, "user_id = @CALLER@ AND EXISTS (SELECT 1 FROM panel_members p "
                  "WHERE p.case_id = opinions.case_id AND p.user_id = @CALLER@)")],
    "read_files": [("insert", "INSERT", None, "user_id = @CALLER@ AND ais_may_add_read_file(path, case_id, sha256, content)")],
    # Written only by the ais_case_load trigger (SECURITY DEFINER); workers read it.
    "case_load": [],
}
#: Who may SELECT which rows, where not every worker may read every row (the default ``true``).
_SELECT_POLICIES = {"read_files": "ais_may_see_read_file(case_id, user_id)"}


def _quoteIdentifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quoteLiteral(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _statements(script: str) -> list[str]:
    """Split a script of ``CREATE FUNCTION ... $$ ... $$;`` and plain statements on the semicolons outside ``$$``."""
    statements, current, quoted = [], [], False
    for piece in re.split(r"(\$\$|;)", script):
        if piece == "$$":
            quoted = not quoted
        if piece == ";" and not quoted:
            text = "".join(current).strip()
            lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
            if "\n".join(lines).strip():
                statements.append("\n".join(lines).strip())
            current = []
            continue
        current.append(piece)
    return statements


def install(connection) -> None:
    """Create the worker group, the functions, grants, row-level security policies and guard triggers.

    Runs as the schema upgrade to version 5 and again at every later step that adds tables (6: arbitration panels, 7:
    ``read_files``); safe to run again. The role running it becomes the workflow's
    owner in the functions' eyes; it needs CREATEROLE (or superuser) to make the group and the people's logins.

    :param connection: a SQLAlchemy connection inside the upgrade's transaction, as the tables' owner.
    :raises WorkflowError: the role lacks CREATEROLE, or a role of the group's name exists and is not a plain group.
    """
    row = connection.exec_driver_sql(
        "SELECT current_database(), current_schema(), current_user::text, r.rolsuper, r.rolcreaterole "
        "FROM pg_roles r WHERE r.rolname = current_user").first()
    database, schemaName, owner, superuser, createRole = row
    if not (superuser or createRole):
        raise WorkflowError(f"The database role '{owner}' that creates the workflow needs CREATEROLE (createuser --createrole) to give "
                            "each person their own login; see 'ais workflow setup-postgres'.")
    group = workerRoleName(database, schemaName)
    existing = connection.exec_driver_sql(
        "SELECT rolcanlogin OR rolsuper OR rolcreaterole OR rolbypassrls FROM pg_roles WHERE rolname = %(name)s", {"name": group}).first()
    if existing is None:
        connection.exec_driver_sql(f"CREATE ROLE {_quoteIdentifier(group)} NOLOGIN")
    elif existing[0]:
        raise WorkflowError(f"The database role '{group}' exists and is not a plain group (it can log in or is privileged); "
                            "drop or rename it before creating the workflow.")
    replacements = {"@S@": _quoteIdentifier(schemaName), "@OWNER@": _quoteLiteral(owner), "@GROUP@": _quoteLiteral(group)}
    script = _HELPERS + _CASES_TRIGGER + _SLOTS_TRIGGER + _USERS_TRIGGER + _LOGIN_FUNCTIONS + _EVENTS_GUARDS
    if connection.exec_driver_sql("SELECT to_regclass('read_files') IS NOT NULL").scalar():  # schema version 7 on
        script += _READ_FILE_FUNCTIONS
    if connection.exec_driver_sql("SELECT to_regclass('case_load') IS NOT NULL").scalar():  # schema version 8 on
        script += _CASE_LOAD_FUNCTIONS
    for placeholder, value in replacements.items():
        script = script.replace(placeholder, value)
    for statement in _statements(script):
        connection.exec_driver_sql(statement.replace("%", "%%"))
    _grant(connection, schemaName, group)


def _grant(connection, schemaName: str, group: str) -> None:
    """Grants and policies on every table that exists yet (a later schema step runs :func:`install` again for its own)."""
    quotedGroup, quotedSchema = _quoteIdentifier(group), _quoteIdentifier(schemaName)
    present = set(connection.exec_driver_sql("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()").scalars())
    readable, insertable, updatable, deletable = ([table for table in names if table in present]
                                                  for names in (READ_TABLES, INSERT_TABLES, UPDATE_TABLES, DELETE_TABLES))
    statements = [f"GRANT USAGE ON SCHEMA {quotedSchema} TO {quotedGroup}"]
    for table in readable:
        statements.append(f"REVOKE ALL ON {table} FROM PUBLIC")
        statements.append(f"GRANT SELECT ON {table} TO {quotedGroup}")
    statements += [f"GRANT INSERT ON {table} TO {quotedGroup}" for table in insertable]
    statements += [f"GRANT UPDATE ON {table} TO {quotedGroup}" for table in updatable]
    statements += [f"GRANT DELETE ON {table} TO {quotedGroup}" for table in deletable]
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quotedSchema} TO {quotedGroup}")
    functions = ["ais_create_login(text, text, text)", "ais_set_login_enabled(text, boolean)"]
    functions += ["ais_read_file_digests()"] if "read_files" in present else []
    for function in functions:
        statements.append(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        statements.append(f"GRANT EXECUTE ON FUNCTION {function} TO {quotedGroup}")
    caller, manager = "(SELECT ais_caller())", "(SELECT ais_caller_has_role('manager'))"
    for table, policies in ((table, policies) for table, policies in _POLICIES.items() if table in present):
        statements.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        existing = connection.exec_driver_sql("SELECT policyname FROM pg_policies WHERE schemaname = current_schema() AND tablename = %(t)s",
                                              {"t": table}).scalars().all()
        statements += [f"DROP POLICY {_quoteIdentifier(name)} ON {table}" for name in existing]
        statements.append(f"CREATE POLICY ais_read ON {table} FOR SELECT TO {quotedGroup} USING ({_SELECT_POLICIES.get(table, 'true')})")
        for name, command, using, check in policies:
            clauses = ""
            if using:
                clauses += f" USING ({using.replace('@CALLER@', caller).replace('@MANAGER@', manager)})"
            if check:
                clauses += f" WITH CHECK ({check.replace('@CALLER@', caller).replace('@MANAGER@', manager)})"
            statements.append(f"CREATE POLICY ais_{name} ON {table} FOR {command} TO {quotedGroup}{clauses}")
    for statement in statements:
        connection.exec_driver_sql(statement)


# ---------------------------------------------------------------------------------------------------
# Sessions and logins (used by the store)


def sessionIdentity(connection) -> dict:
    """Who this database session is: ``login`` (``session_user``), ``user_id`` (the mapped workflow user, active or
    not), ``active``, ``admin`` (superuser or member of the owner role: trusted to act for a declared user).

    Cached on the connection once the answer cannot change (mapped, or an administrator).
    """
    cached = connection.info.get("aisSession")
    if cached is not None:
        return dict(cached)
    row = connection.exec_driver_sql(
        "SELECT session_user::text, l.user_id, u.active, ais_is_admin() FROM (SELECT 1) one "
        "LEFT JOIN logins l ON l.login_role = session_user::text LEFT JOIN users u ON u.user_id = l.user_id").first()
    session = {"login": row[0], "user_id": row[1], "active": bool(row[2]), "admin": bool(row[3]) and row[1] is None}
    if session["user_id"] is not None or session["admin"]:
        connection.info["aisSession"] = dict(session)
    return session


def sessionLogin(connection) -> str:
    """``session_user`` of this database session, asked once per connection (a login cannot change within a session;
    the events' trigger sets ``db_login`` from the server's own value, and an event hashed with another one would no
    longer verify)."""
    login = connection.info.get("aisSessionLogin")
    if login is None:
        login = connection.info["aisSessionLogin"] = connection.exec_driver_sql("SELECT session_user").scalar()
    return login


def requireActor(connection, userId: str) -> None:
    """Refuse to act as ``userId`` unless the session is that person's login (or the trusted owner).

    :raises PermissionDeniedError: logged in as someone else, or as a login no workflow user has.
    """
    session = sessionIdentity(connection)
    if session["user_id"] is not None:
        if session["user_id"] != userId:
            raise PermissionDeniedError(f"You are logged in to the workflow database as '{session['login']}', which is user "
                                        f"'{session['user_id']}'; you cannot act as '{userId}'.")
        return
    if not session["admin"]:
        raise PermissionDeniedError(f"The database login '{session['login']}' belongs to no workflow user; a manager gives each "
                                    "person a login with 'ais workflow users --add'.")


def passwordVerifier(connection, login: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of a password, computed here by libpq: the clear text never reaches the server.

    :raises InputError: a password shorter than 8 characters.
    """
    if not isinstance(password, str) or len(password) < 8:
        raise InputError("A database password needs at least 8 characters.")
    pgconn = connection.connection.dbapi_connection.pgconn
    return pgconn.encrypt_password(password.encode("utf-8"), login.encode("utf-8"), b"scram-sha-256").decode("ascii")


def createLogin(connection, userId: str, login: str, password: str | None = None) -> bool:
    """Create (or attach) the login role of ``userId`` through :sql:`ais_create_login`; True when a new role was made.

    :raises InputError: an invalid login name or a short password.
    """
    validateLogin(login)
    verifier = passwordVerifier(connection, login, password) if password else None
    return bool(connection.exec_driver_sql("SELECT ais_create_login(%(user)s, %(login)s, %(verifier)s)",
                                           {"user": userId, "login": login, "verifier": verifier}).scalar())


def setLoginEnabled(connection, userId: str, enabled: bool) -> str | None:
    """Give a person's login back its access, or take it away (NOLOGIN when we made the role); the login name or None."""
    return connection.exec_driver_sql("SELECT ais_set_login_enabled(%(user)s, %(enabled)s)", {"user": userId, "enabled": bool(enabled)}).scalar()


def changeOwnPassword(connection, password: str) -> str:
    """Set the session login's own password (any login may change its own); returns the login.

    :raises InputError: a short password.
    """
    login = connection.exec_driver_sql("SELECT session_user::text").scalar()
    verifier = passwordVerifier(connection, login, password)
    if not re.match(r"^SCRAM-SHA-256\$[A-Za-z0-9+/=:$]+$", verifier):
        raise DatabaseError("libpq returned an unexpected password verifier; the password was not changed.")
    connection.exec_driver_sql(f"ALTER ROLE SESSION_USER PASSWORD {_quoteLiteral(verifier)}")
    return login


def guardProblems(connection) -> list[str]:
    """What is missing of the team-mode guards (a sentence each): triggers, row-level security, a worker privilege
    on the event log that should not be there. Empty when the database is not in team mode or all is in place."""
    present = connection.exec_driver_sql("SELECT to_regproc('ais_worker_role') IS NOT NULL").scalar()
    if not present:
        return ["The team-mode guards (roles, row-level security, triggers) are not installed in this database."]
    group = connection.exec_driver_sql("SELECT ais_worker_role()").scalar()
    problems = []
    for table, names in GUARD_TRIGGERS.items():
        found = set(connection.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%(t)s) AND NOT tgisinternal "
                                               "AND tgenabled <> 'D'", {"t": table}).scalars())
        problems += [f"The guard trigger '{name}' on {table} is missing or disabled." for name in names if name not in found]
    for table in READ_TABLES:
        enabled = connection.exec_driver_sql("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass(%(t)s)", {"t": table}).scalar()
        if not enabled:
            problems.append(f"Row-level security is off on the table {table}.")
    for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
        if connection.exec_driver_sql("SELECT has_table_privilege(%(g)s, 'events', %(p)s)", {"g": group, "p": privilege}).scalar():
            problems.append(f"The workers' role {group} may {privilege} the event log.")
    return problems


def refusal(error) -> WorkflowError | None:
    """The :class:`PermissionDeniedError` for a database refusal (SQLSTATE 42501), else None.

    :param error: a SQLAlchemy ``DBAPIError``.
    """
    original = getattr(error, "orig", None)
    if getattr(original, "sqlstate", None) != REFUSED:
        return None
    diagnostic = getattr(original, "diag", None)
    message = (getattr(diagnostic, "message_primary", None) or str(original)).strip().splitlines()[0].rstrip(".")
    return PermissionDeniedError(f"The workflow database refused: {message}; nothing was changed.")
