"""The steps that set up team mode (PostgreSQL) for a site, as text for its IT person (``ais workflow setup-postgres``).

Nothing here runs a command or touches a database: it only writes out, with the site's names filled in, what
:mod:`pgsecurity` expects. The owner role owns the tables and creates the people's logins, so it needs CREATEROLE
but not superuser; each person logs in as their own role and keeps their password in ``~/.pgpass`` (or uses a
client certificate).
"""

import shlex

from .pgsecurity import defaultLogin, validateLogin


def setupSteps(host: str = "localhost", port: int = 5432, database: str = "ais_workflow", owner: str = "ais_owner", manager: str = "M01",
               dataDir: str | None = None, datasetRoot: str = "/path/to/bids") -> str:
    """The numbered steps, ready to copy, for one site.

    :param host: the server's host name as the workstations reach it.
    :param port: the server's port.
    :param database: the workflow's database (one per dataset).
    :param owner: the owner role (made with CREATEROLE, no superuser).
    :param manager: the first manager's workflow ID.
    :param dataDir: a new server's data folder (adds ``initdb`` and ``pg_ctl``); None for a running server.
    :param datasetRoot: the BIDS dataset as the workstations see it.
    :return: the text (shell commands and comments), ending with a newline.
    :raises InputError: an owner or manager name that cannot be a database role.
    """
    validateLogin(owner)
    managerLogin = defaultLogin(manager)
    server = f"-h {shlex.quote(host)} -p {int(port)}"
    base = f"postgresql+psycopg://{{login}}@{host}:{int(port)}/{database}"
    ownerUrl, managerUrl, readerUrl = base.format(login=owner), base.format(login=managerLogin), base.format(login="r01")
    lines = [
        "# Team mode for the AIS review workflow: one PostgreSQL database per dataset; every person logs in as their own",
        "# database role, and the database itself refuses what their workflow roles do not allow.",
        "",
    ]
    step = 1
    if dataDir:
        folder = shlex.quote(dataDir)
        lines += [
            f"# {step}. A server of its own (as the account that will run it, never root):",
            f"initdb -D {folder} -U postgres -E UTF8 --auth-local=peer --auth-host=scram-sha-256",
            f"pg_ctl -D {folder} -l {folder}/server.log -o '-p {int(port)}' start",
            "#    For workstations on the network: listen_addresses in postgresql.conf and one line per subnet in pg_hba.conf,",
            "#    e.g. 'hostssl all all 10.1.2.0/24 scram-sha-256' (or 'cert' for client certificates), then pg_ctl reload.",
            "",
        ]
        step += 1
    lines += [
        f"# {step}. The owner role (owns the tables and the security functions, creates each person's login; not a superuser)",
        "#    and the database, as a superuser of the server:",
        f"createuser {server} -U postgres --createrole --no-superuser --no-createdb --pwprompt {shlex.quote(owner)}",
        f"createdb {server} -U postgres -O {shlex.quote(owner)} {shlex.quote(database)}",
        "",
        f"# {step + 1}. Create the workflow as the owner (installs the worker group, row-level security and guard triggers) with its",
        f"#    first manager, whose login '{managerLogin}' is created at the same time (password asked, never shown or stored):",
        f"ais workflow init --db {ownerUrl} --root {shlex.quote(datasetRoot)} --user {shlex.quote(manager)} \\",
        "    --title chief --years-imaging 20 --years-neuroimaging 12 --password-prompt",
        "",
        f"# {step + 2}. Each person: the manager adds them, which creates their login role (here R01 gets 'r01'), then a role:",
        f"ais workflow users --db {managerUrl} --add R01 --title resident --years-imaging 6 --years-neuroimaging 3 --password-prompt",
        f"ais workflow users --db {managerUrl} --grant R01 reader",
        "#    The person changes the first password at once:   ais workflow password --db " + readerUrl,
        "",
        f"# {step + 3}. On each workstation, the person keeps their password in ~/.pgpass (chmod 600), one line:",
        f"{host}:{int(port)}:{database}:r01:THEIR-PASSWORD",
        "#    and sets the database once:",
        f"export AIS_DB_URL={readerUrl}",
        "#    Then 'ais workflow next --role reader' acts as R01; --user may be left out and is refused if it names someone else.",
        "#    Client certificates instead of passwords: add '?sslmode=verify-full&sslcert=r01.crt&sslkey=r01.key' to the URL and",
        "#    a 'hostssl ... cert' line to pg_hba.conf (the certificate's CN is the login name).",
        "",
        f"# {step + 4}. When someone leaves: their login is disabled (NOLOGIN), their open claims are released, all of it audited:",
        f"ais workflow users --db {managerUrl} --deactivate R01 --reason 'left the team'",
        "",
        "# The owner's login stays with IT: it owns the tables and could remove every guard, so it is not used for reading.",
        "# Check the audit trail at any time:   ais workflow verify --db " + managerUrl,
    ]
    return "\n".join(lines) + "\n"
