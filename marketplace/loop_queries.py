"""The statements of the worker loop's hot path, written once as SQL.

Claim and submit run on every judgment. Built through the ORM, their queries cost several
milliseconds of Python each to compose and compile for well under a millisecond in the
database (profiled under load); here they are constant strings. They run unchanged on
PostgreSQL and SQLite, except for the row locks, which SQLite (one writer at a time) has no
use for. The rules they encode are the ones `marketplace.selectors` and
`workforce.selectors.worker_eligibility_q` state with the ORM; the tests hold both forms to
the same answers.
"""

import datetime
import functools
import json

from django.db import connection
from django.utils.dateparse import parse_datetime

from config.authentication import TokenCaller
from config.db import fetch_prepared, prepared, sql_list, statement_for
from marketplace.models import Assignment, Project, ProjectLanguage, Task
from qc.models import WorkerQuality
from workforce.models import User, WorkerLanguage, WorkerSkill
from workforce.selectors import WORKER_ELIGIBLE_FROM, WORKER_ELIGIBLE_SQL

TASK = Task._meta.db_table
ASSIGNMENT = Assignment._meta.db_table
PROJECT = Project._meta.db_table
ALLOWED_VENDOR = Project.allowed_vendors.through._meta.db_table
ACTIVE = Assignment.Status.ACTIVE
OPEN = Task.Status.OPEN

# How many of the most advanced open tasks a claim looks through before it turns to untouched
# ones: a worker's own earlier judgments on open tasks sit at the head of that order, and
# walking past all of them made claims slower the more a worker had done.
HEAD_WINDOW = 200


def _lock(clause: str) -> str:
    return f" {clause}" if connection.features.has_select_for_update else ""


def _now() -> str:
    if connection.vendor == "sqlite":
        return "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')"
    return "now()"


def db_now() -> datetime.datetime:
    """The database's clock: on PostgreSQL, inside a transaction, the time it began."""
    return db_datetime(_fetchone(f"SELECT {_now()}", [])[0])


def db_datetime(value) -> datetime.datetime:
    """A timestamp read by raw SQL, as an aware UTC datetime on every backend."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def db_json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def _fetchone(sql: str, params: list):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _fetchall(sql: str, params: list) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def worker_lock(*, user_id: int) -> tuple[int, int | None] | None:
    """(worker id, vendor id) of the user's worker if it may claim at all; locks the worker.

    A statement of its own on purpose: under READ COMMITTED the next statement takes a fresh
    snapshot, so once this lock is granted the worker's active count read next includes what
    the claim that held the lock before just committed. Folded into that read, the count
    would come from the snapshot taken before the wait.
    """
    sql = (
        f"SELECT w.id, c.vendor_id FROM {WORKER_ELIGIBLE_FROM} "
        f"WHERE w.user_id = %s AND {WORKER_ELIGIBLE_SQL}" + _lock("FOR UPDATE OF w")
    )
    return _fetchone(sql, [user_id])


def _in_field_order(model, names: list[str]) -> list[str]:
    """`names` in the order of the model's fields: what `Model.from_db` expects. Built that
    way, instances skip the keyword handling of `Model.__init__`, a visible cost per request;
    fields not read are deferred (reading one is a query, never a silent default)."""
    return [field.attname for field in model._meta.concrete_fields if field.attname in names]


_PROJECT_COLUMNS = _in_field_order(
    Project,
    [
        "id",
        "name",
        "task_type",
        "labels",
        "scale_min",
        "scale_max",
        "instructions",
        "guideline_version",
        "gold_ratio",
        "lease_seconds",
        "max_active_assignments",
    ],
)

# The SQL below is written once as templates over who claims (`{worker}`, `{vendor}`) and where
# (`{project}`): parameters for the step-by-step claim, columns of the one-statement claim.
_PROJECT_ELIGIBLE = (
    f"p.kind = '{Project.Kind.WORK}' AND p.status = '{Project.Status.ACTIVE}' "
    f"AND (p.required_skill_id IS NULL OR EXISTS (SELECT 1 FROM "
    f"{WorkerSkill._meta.db_table} s WHERE s.worker_id = {{worker}} "
    f"AND s.skill_id = p.required_skill_id AND s.level >= p.min_skill_level)) "
    f"AND NOT EXISTS (SELECT 1 FROM {ProjectLanguage._meta.db_table} pl "
    f"WHERE pl.project_id = p.id AND NOT EXISTS (SELECT 1 FROM "
    f"{WorkerLanguage._meta.db_table} l WHERE l.worker_id = {{worker}} AND l.code = pl.code "
    f"AND l.level >= p.min_language_level)) "
    f"AND (NOT EXISTS (SELECT 1 FROM {ALLOWED_VENDOR} av WHERE av.project_id = p.id) "
    f"OR EXISTS (SELECT 1 FROM {ALLOWED_VENDOR} av WHERE av.project_id = p.id "
    f"AND av.vendor_id = {{vendor}})) "
    f"AND NOT EXISTS (SELECT 1 FROM {WorkerQuality._meta.db_table} q "
    f"WHERE q.worker_id = {{worker}} AND q.project_id = p.id AND q.blocked)"
)
_ACTIVE_COUNT = (
    f"(SELECT count(*) FROM {ASSIGNMENT} a WHERE a.worker_id = {{worker}} "
    f"AND a.project_id = p.id AND a.status = '{ACTIVE}' AND a.lease_expires_at > {{now}})"
)
_PROJECT_ORDER = "ORDER BY p.priority DESC, p.id"


def projects_claimable(*, worker_id: int, vendor_id: int | None, project_id: int | None):
    """Active work projects the worker qualifies for (SPEC §4.2), highest priority first, each
    with `active_count`: the worker's assignments there whose lease still runs."""
    names = {"worker": "%(worker)s", "vendor": "%(vendor)s", "now": _now()}
    sql = (
        f"SELECT {', '.join('p.' + c for c in _PROJECT_COLUMNS)}, "
        f"{_ACTIVE_COUNT.format(**names)} FROM {PROJECT} p WHERE "
        f"{_PROJECT_ELIGIBLE.format(**names)} "
        + ("AND p.id = %(project)s " if project_id is not None else "")
        + _PROJECT_ORDER
    )
    params = {"worker": worker_id, "vendor": vendor_id, "project": project_id}
    projects = []
    for *values, active_count in _fetchall(sql, params):
        project = _project(values)
        project.active_count = active_count
        projects.append(project)
    return projects


def _project(values) -> Project:
    project = Project.from_db(connection.alias, _PROJECT_COLUMNS, values)
    project.labels = db_json(project.labels)
    return project


_UNSEEN = (
    f"NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} m WHERE m.task_id = t.id AND m.worker_id = {{worker}})"
)
_OPEN_REGULAR = (
    f"t.project_id = {{project}} AND t.status = '{OPEN}' AND NOT t.is_gold "
    f"AND t.live_count < t.required AND {_UNSEEN}"
)
# The regular task a worker should do next: fewest missing judgments first, then in the tasks'
# random `shuffle` order; never a task the worker already had. Three picks, each locked with
# SKIP LOCKED on PostgreSQL so that concurrent claimers each get another task, tried in turn:
# the head of that order (a worker's own earlier judgments on open tasks sit there, and walking
# past all of them made claims slower the more a worker had done), untouched tasks, everything.
# The head window is a derived table, joined by primary key and ordered by its own columns: as
# `id IN (...)`, or ordered by the task's columns, the planner walked the whole index and
# matched every row against the window (quadratic).
_REGULAR_PICKS = (
    f"SELECT {{columns}} FROM (SELECT h.id, h.required - h.live_count AS missing, h.shuffle "
    f"FROM {TASK} h WHERE h.project_id = {{project}} AND h.status = '{OPEN}' AND NOT h.is_gold "
    f"AND h.live_count < h.required ORDER BY (h.required - h.live_count), h.shuffle "
    f"LIMIT {HEAD_WINDOW}) head JOIN {TASK} t ON t.id = head.id WHERE {_OPEN_REGULAR} "
    f"ORDER BY head.missing, head.shuffle LIMIT 1{{lock}}",
    f"SELECT {{columns}} FROM {TASK} t WHERE {_OPEN_REGULAR} AND t.live_count = 0 "
    f"ORDER BY t.shuffle LIMIT 1{{lock}}",
    f"SELECT {{columns}} FROM {TASK} t WHERE {_OPEN_REGULAR} "
    f"ORDER BY (t.required - t.live_count), t.shuffle LIMIT 1{{lock}}",
)
# An unseen gold question in random order: the first from a random pivot in the tasks' random
# `shuffle`, else the first before it. Gold is not locked.
_GOLD_PICK = (
    f"SELECT id, data FROM (SELECT * FROM (SELECT t.id, t.data, 0 AS part FROM {TASK} t "
    f"WHERE t.project_id = {{project}} AND t.is_gold AND {_UNSEEN} AND t.shuffle >= {{pivot}} "
    f"ORDER BY t.shuffle LIMIT 1) AS after_pivot UNION ALL SELECT * FROM (SELECT t.id, t.data, "
    f"1 AS part FROM {TASK} t WHERE t.project_id = {{project}} AND t.is_gold AND {_UNSEEN} "
    f"AND t.shuffle < {{pivot}} ORDER BY t.shuffle LIMIT 1) AS before_pivot "
    f"ORDER BY part LIMIT 1) AS gold"
)


def task_next_regular(*, worker_id: int, project_id: int) -> tuple | None:
    """(id, data, database now) of the regular task the worker should do next, locked."""
    names = {
        "columns": f"t.id, t.data, {_now()}",
        "project": "%(project)s",
        "worker": "%(worker)s",
        "lock": _lock("FOR UPDATE OF t SKIP LOCKED"),
    }
    for pick in _REGULAR_PICKS:
        row = _fetchone(pick.format(**names), {"project": project_id, "worker": worker_id})
        if row is not None:
            return row[0], db_json(row[1]), db_datetime(row[2])
    return None


def task_next_gold(*, worker_id: int, project_id: int, pivot: float) -> tuple | None:
    """(id, data, database now) of an unseen gold question in random order."""
    sql = f"SELECT id, data, {_now()} FROM (" + _GOLD_PICK + ") AS pick"
    names = {"project": "%(project)s", "worker": "%(worker)s", "pivot": "%(pivot)s"}
    row = _fetchone(
        sql.format(**names), {"project": project_id, "worker": worker_id, "pivot": pivot}
    )
    return None if row is None else (row[0], db_json(row[1]), db_datetime(row[2]))


# --- PostgreSQL: one round trip, prepared statements (see config/db.py) -----------------------
# The caller's worker, `{who}` being their user id (or for a TokenCaller, the token's user).
_WORKER = f"{WORKER_ELIGIBLE_FROM} WHERE w.user_id = {{who}} AND {WORKER_ELIGIBLE_SQL}"

Caller = User | TokenCaller


def _execute_as(cursor, caller: Caller, statements: list[tuple[str, str, str, list]]) -> User:
    """Sends prepared statements for `caller` as one simple query (one round trip, one
    transaction), each given as (name, types of its parameters, SQL, parameters): the SQL
    names the caller `{who}`, which is `$1`, and takes its parameters as `$2`, `$3`, ...

    For a TokenCaller the token's user row is sent first and authenticated (config.api), and
    the statements know the caller as the token's user if allowed (else nobody). Returns the
    authenticated user, with `cursor` at the first statement's result."""
    token = isinstance(caller, TokenCaller)
    who_type, who, who_sql = (
        ("text", caller.key, caller.user_id_sql("$1")) if token else ("bigint", caller.pk, "$1")
    )
    sent, values = ([caller.user_statement()], [who]) if token else ([], [])
    for name, types, sql, params in statements:
        name = prepared(
            f"{name}_by_{'token' if token else 'user'}",
            ", ".join([who_type, *types]),
            sql.replace("{who}", who_sql),
        )
        sent.append(f"EXECUTE {name}({', '.join(['%s'] * (1 + len(params)))})")
        values += [who, *params]
    cursor.execute("; ".join(sent), values)
    if not token:
        return caller
    user = caller.authenticate(cursor.fetchone())
    cursor.nextset()
    return user


@functools.cache
def _claim_sql(*, one_project: bool) -> str:
    """The claim after the worker lock, as one statement over the caller, $2 project (or
    none), $3 gold draw, $4 gold pivot.

    The worker's claimable projects are walked by priority until one has a regular task for
    them (`r`): a project they have nothing left in is passed over, as the step-by-step claim
    does, and the walk stops at the first hit, so at most one task is locked. It also stops,
    with no task, at a project whose regular leases have lapsed without being expired yet: the
    step-by-step claim then frees those slots first, and serves them."""
    names = {"worker": "w.id", "vendor": "w.vendor_id", "project": "p.id", "now": "now()"}
    picks = ", ".join(
        f"({pick.format(columns='t.id', lock=' FOR UPDATE OF t SKIP LOCKED', **names)})"
        for pick in _REGULAR_PICKS
    )
    project_columns = ", ".join(f"p.{c}" for c in _PROJECT_COLUMNS)
    chosen_columns = ", ".join(f"r.{c}" for c in _PROJECT_COLUMNS)
    return (
        f"WITH w AS (SELECT w.id, c.vendor_id FROM {_WORKER}), "
        f"r AS (SELECT {project_columns}, pick.task_id FROM (SELECT {project_columns} "
        f"FROM w, {PROJECT} p WHERE {_PROJECT_ELIGIBLE.format(**names)} "
        + ("AND p.id = $2 " if one_project else "")
        + f"AND {_ACTIVE_COUNT.format(**names)} < p.max_active_assignments "
        f"{_PROJECT_ORDER}) p, w, LATERAL (SELECT COALESCE({picks}) AS task_id OFFSET 0) pick "
        f"WHERE pick.task_id IS NOT NULL OR EXISTS (SELECT 1 FROM {ASSIGNMENT} l "
        f"WHERE l.project_id = p.id AND l.status = '{ACTIVE}' AND NOT l.is_gold "
        f"AND l.lease_expires_at <= now()) LIMIT 1), "
        f"g AS (SELECT gold.id, gold.data FROM r AS p, w, LATERAL ("
        f"{_GOLD_PICK.format(pivot='$4', **names)}) AS gold "
        f"WHERE p.task_id IS NOT NULL AND $3 < p.gold_ratio), "
        f"s AS (UPDATE {TASK} t SET live_count = t.live_count + 1 FROM r WHERE t.id = r.task_id "
        f"AND NOT EXISTS (SELECT 1 FROM g) AND t.status = '{OPEN}' "
        f"AND t.live_count < t.required RETURNING t.id, t.data), "
        f"c AS (SELECT id, data, false AS is_gold FROM s UNION ALL "
        f"SELECT id, data, true FROM g), "
        f"i AS (INSERT INTO {ASSIGNMENT} (task_id, project_id, worker_id, status, is_gold, "
        f"claimed_at, lease_expires_at, attempt) SELECT c.id, r.id, w.id, '{ACTIVE}', c.is_gold, "
        f"now(), now() + make_interval(secs => r.lease_seconds), 0 FROM c, r, w "
        f"RETURNING id, task_id, lease_expires_at) "
        f"SELECT i.id, i.task_id, c.data, i.lease_expires_at, {chosen_columns} "
        f"FROM i JOIN c ON c.id = i.task_id, r"
    )


def claim_at_once(
    *, caller: Caller, project_id: int | None, gold_draw: float, pivot: float
) -> tuple[User, tuple[int, int, dict, datetime.datetime, Project] | None]:
    """The whole claim in one round trip, on PostgreSQL: the caller's user, and (assignment
    id, task id, task data, lease end, project) from the first of the worker's claimable
    projects by priority, where they are under `max_active_assignments`, that has a regular task
    for them — unless a project before it holds regular leases that lapsed unexpired (see
    `_claim_sql`); else None and nothing changed.

    Two statements sent as one simple query, so they run as one transaction: the first locks
    the worker (a worker's claims run one at a time), the second — with the fresh snapshot
    READ COMMITTED takes per statement, so it counts what the claim that held the lock before
    committed — picks the project and the task as the step-by-step claim does, takes a slot
    or serves gold (drawn with `gold_draw` < `gold_ratio`), and inserts the assignment.
    """
    one_project = project_id is not None
    with connection.cursor() as cursor:
        user = _execute_as(
            cursor,
            caller,
            [
                ("loop_worker_lock", [], f"SELECT w.id FROM {_WORKER} FOR UPDATE OF w", []),
                (
                    f"loop_claim_{'one' if one_project else 'any'}",
                    ["bigint", "float8", "float8"],
                    _claim_sql(one_project=one_project),
                    [project_id, gold_draw, pivot],
                ),
            ],
        )
        cursor.nextset()
        row = cursor.fetchone()
    if row is None:
        return user, None
    assignment_id, task_id, data, lease_expires_at, *values = row
    return user, (
        assignment_id,
        task_id,
        db_json(data),
        db_datetime(lease_expires_at),
        _project(values),
    )


def caller_user(caller: Caller) -> User:
    """The caller as a user: a TokenCaller is authenticated in a round trip of its own."""
    return caller.user() if isinstance(caller, TokenCaller) else caller


def task_take_slot(*, task_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TASK} SET live_count = live_count + 1 WHERE id = %s "
            f"AND status = '{OPEN}' AND live_count < required",
            [task_id],
        )
        return cursor.rowcount == 1


def assignment_insert(
    *,
    task_id: int,
    project_id: int,
    worker_id: int,
    is_gold: bool,
    claimed_at: datetime.datetime,
    lease_expires_at: datetime.datetime,
    attempt: int,
) -> int:
    adapt = connection.ops.adapt_datetimefield_value
    (assignment_id,) = _fetchone(
        f"INSERT INTO {ASSIGNMENT} (task_id, project_id, worker_id, status, is_gold, "
        f"claimed_at, lease_expires_at, attempt) VALUES (%s, %s, %s, '{ACTIVE}', %s, %s, %s, %s) "
        f"RETURNING id",
        [
            task_id,
            project_id,
            worker_id,
            is_gold,
            adapt(claimed_at),
            adapt(lease_expires_at),
            attempt,
        ],
    )
    return assignment_id


_SUBMIT_MODELS = {"a": Assignment, "t": Task, "p": Project}
_SUBMIT_COLUMNS = {
    alias: _in_field_order(_SUBMIT_MODELS[alias], names)
    for alias, names in {
        "a": [
            "id",
            "status",
            "task_id",
            "project_id",
            "worker_id",
            "is_gold",
            "answer",
            "check_passed",
            "claimed_at",
            "lease_expires_at",
            "submitted_at",
            "attempt",
        ],
        "t": ["id", "project_id", "data", "gold_answer", "required", "done_count"],
        "p": [
            "id",
            "name",
            "task_type",
            "labels",
            "scale_min",
            "scale_max",
            "gold_threshold",
            "gold_tolerance",
            "min_seconds_per_task",
            "kind",
            "overlap",
            "max_overlap",
            "target_confidence",
            "prior_correct",
            "prior_seen",
            "min_gold_accuracy",
            "min_gold_before_block",
        ],
    }.items()
}
_JSON = {"answer", "data", "gold_answer", "labels"}
_TIMES = {"claimed_at", "lease_expires_at", "submitted_at"}


def assignment_for_submit(*, caller: Caller, assignment_id: int) -> tuple[User, Assignment | None]:
    """The caller's user, and their own assignment with what submitting needs of its task and
    project, and the database's clock as `db_now` (None when it is not theirs or does not
    exist). On PostgreSQL one round trip, authentication included (see `_execute_as`)."""
    columns = [f"{alias}.{name}" for alias, names in _SUBMIT_COLUMNS.items() for name in names]
    sql = (
        f"SELECT {', '.join(columns)}, {_now()} FROM {ASSIGNMENT} a "
        f"JOIN {TASK} t ON t.id = a.task_id JOIN {PROJECT} p ON p.id = a.project_id "
        f"JOIN workforce_worker w ON w.id = a.worker_id WHERE w.user_id = {{who}} AND a.id = "
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            user = _execute_as(
                cursor,
                caller,
                [("loop_assignment_for_submit", ["bigint"], sql + "$2", [assignment_id])],
            )
            row = cursor.fetchone()
    else:
        user = caller
        row = _fetchone(sql.replace("{who}", "%s") + "%s", [user.pk, assignment_id])
    if row is None:
        return user, None
    values = iter(row)
    parts = {}
    for alias, names in _SUBMIT_COLUMNS.items():
        fields = []
        for name in names:
            value = next(values)
            if name in _JSON:
                value = db_json(value)
            elif name in _TIMES and value is not None:
                value = db_datetime(value)
            fields.append(value)
        parts[alias] = _SUBMIT_MODELS[alias].from_db(connection.alias, names, fields)
    assignment = parts["a"]
    assignment.task = parts["t"]
    assignment.project = parts["p"]
    assignment.db_now = db_datetime(next(values))
    return user, assignment


def assignment_store(
    *,
    assignment_id: int,
    answer,
    check_passed: bool | None,
    may_complete: bool,
    judgments_of: int | None = None,
) -> tuple[datetime.datetime, bool, list | None] | None:
    """Stores a judgment in one statement, on PostgreSQL: locks the assignment if it is still
    active within its lease, counts a regular judgment on its task (completing it when that
    was the last one, unless not `may_complete`: then nothing is stored), stores the answer
    stamped with the transaction's clock. Returns (`submitted_at`, whether the task became
    complete, the trusted judgments of task `judgments_of` read just after, in the same round
    trip — None without it), or None when any of that does not hold (nothing changed)."""
    name = prepared(
        "loop_store",
        "bigint, jsonb, boolean, boolean",
        f"WITH mine AS (SELECT id, task_id, is_gold FROM {ASSIGNMENT} WHERE id = $1 "
        f"AND status = '{ACTIVE}' AND lease_expires_at > now() FOR UPDATE), "
        f"counted AS (UPDATE {TASK} t SET done_count = t.done_count + 1, status = CASE "
        f"WHEN t.done_count + 1 >= t.required THEN '{Task.Status.COMPLETE}' ELSE t.status END "
        f"FROM mine WHERE t.id = mine.task_id AND NOT mine.is_gold "
        f"AND ($4 OR t.done_count + 1 < t.required) RETURNING t.status), "
        f"stored AS (UPDATE {ASSIGNMENT} a SET status = '{Assignment.Status.SUBMITTED}', "
        f"answer = $2, submitted_at = now(), check_passed = $3 FROM mine WHERE a.id = mine.id "
        f"AND (mine.is_gold OR EXISTS (SELECT 1 FROM counted)) RETURNING a.submitted_at) "
        f"SELECT stored.submitted_at, (SELECT status FROM counted) FROM stored",
    )
    sql = f"EXECUTE {name}(%s, %s, %s, %s)"
    params = [assignment_id, json.dumps(answer), check_passed, may_complete]
    if judgments_of is not None:
        # A statement of its own: it sees what the store just changed.
        sql += f"; {statement_for(*_TRUSTED_JUDGMENTS, 1)}"
        params.append(judgments_of)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        judgments = None
        if judgments_of is not None:
            cursor.nextset()
            judgments = _judgments(cursor.fetchall())
    if row is None:
        return None
    return db_datetime(row[0]), row[1] == Task.Status.COMPLETE, judgments


# (name, parameter types, SQL) of the statement, prepared on PostgreSQL (config.db).
_TRUSTED_JUDGMENTS = (
    "loop_trusted_judgments",
    "bigint",
    f"SELECT a.answer, COALESCE(q.gold_seen, 0), COALESCE(q.gold_correct, 0) "
    f"FROM {ASSIGNMENT} a LEFT JOIN {WorkerQuality._meta.db_table} q "
    f"ON q.worker_id = a.worker_id AND q.project_id = a.project_id WHERE a.task_id = {{}} "
    f"AND a.status IN {sql_list(Assignment.TRUSTED)} "
    f"ORDER BY a.id",
)


def _judgments(rows) -> list[tuple[object, int, int]]:
    return [(db_json(answer), seen, correct) for answer, seen, correct in rows]


def task_trusted_judgments(*, task_id: int) -> list[tuple[object, int, int]]:
    """(answer, gold_seen, gold_correct of its worker) for each trusted judgment of a task:
    what its consensus is computed from when its last judgment arrives."""
    return _judgments(fetch_prepared(*_TRUSTED_JUDGMENTS, [task_id], many=True))
