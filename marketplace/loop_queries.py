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
import json

from django.db import connection
from django.utils.dateparse import parse_datetime

from marketplace.models import Assignment, Project, ProjectLanguage, Task
from qc.models import WorkerQuality
from workforce.models import WorkerLanguage, WorkerSkill
from workforce.selectors import WORKER_ELIGIBLE_FROM, WORKER_ELIGIBLE_SQL

TASK = Task._meta.db_table
ASSIGNMENT = Assignment._meta.db_table
PROJECT = Project._meta.db_table
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


_PROJECT_COLUMNS = [
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
]


def projects_claimable(*, worker_id: int, vendor_id: int | None, project_id: int | None):
    """Active work projects the worker qualifies for (SPEC §4.2), highest priority first, each
    with `active_count`: the worker's assignments there whose lease still runs."""
    allowed = Project.allowed_vendors.through._meta.db_table
    sql = (
        f"SELECT {', '.join('p.' + c for c in _PROJECT_COLUMNS)}, "
        f"(SELECT count(*) FROM {ASSIGNMENT} a WHERE a.worker_id = %s AND a.project_id = p.id "
        f"AND a.status = '{ACTIVE}' AND a.lease_expires_at > {_now()}) "
        f"FROM {PROJECT} p WHERE p.kind = '{Project.Kind.WORK}' "
        f"AND p.status = '{Project.Status.ACTIVE}' "
        + ("AND p.id = %s " if project_id is not None else "")
        + f"AND (p.required_skill_id IS NULL OR EXISTS (SELECT 1 FROM "
        f"{WorkerSkill._meta.db_table} s WHERE s.worker_id = %s "
        f"AND s.skill_id = p.required_skill_id AND s.level >= p.min_skill_level)) "
        f"AND NOT EXISTS (SELECT 1 FROM {ProjectLanguage._meta.db_table} pl "
        f"WHERE pl.project_id = p.id AND NOT EXISTS (SELECT 1 FROM "
        f"{WorkerLanguage._meta.db_table} l WHERE l.worker_id = %s AND l.code = pl.code "
        f"AND l.level >= p.min_language_level)) "
        f"AND (NOT EXISTS (SELECT 1 FROM {allowed} av WHERE av.project_id = p.id) "
        f"OR EXISTS (SELECT 1 FROM {allowed} av WHERE av.project_id = p.id "
        f"AND av.vendor_id = %s)) "
        f"AND NOT EXISTS (SELECT 1 FROM {WorkerQuality._meta.db_table} q "
        f"WHERE q.worker_id = %s AND q.project_id = p.id AND q.blocked) "
        f"ORDER BY p.priority DESC, p.id"
    )
    params = [worker_id, *([project_id] if project_id is not None else [])]
    params += [worker_id, worker_id, vendor_id, worker_id]
    projects = []
    for *values, active_count in _fetchall(sql, params):
        project = Project(**dict(zip(_PROJECT_COLUMNS, values, strict=True)))
        project.labels = db_json(project.labels)
        project.active_count = active_count
        projects.append(project)
    return projects


_UNSEEN = f"NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} m WHERE m.task_id = t.id AND m.worker_id = %s)"
_OPEN_REGULAR = (
    f"t.project_id = %s AND t.status = '{OPEN}' AND NOT t.is_gold AND t.live_count < t.required"
)


def task_next_regular(*, worker_id: int, project_id: int) -> tuple | None:
    """(id, data, database now) of the regular task the worker should do next, locked.

    Fewest missing judgments first, then in the tasks' random `shuffle` order; never a task the
    worker already had. Locked
    with SKIP LOCKED on PostgreSQL, so concurrent claimers each get another task. Looks at the
    head of that order first, then at untouched tasks, then at everything.
    """
    select = f"SELECT t.id, t.data, {_now()} FROM {TASK} t WHERE "
    lock = _lock("FOR UPDATE OF t SKIP LOCKED")
    order = " ORDER BY (t.required - t.live_count), t.shuffle LIMIT 1" + lock
    # The window is a derived table, joined by primary key and ordered by its own columns: as
    # `id IN (...)`, or ordered by the task's columns, the planner walked the whole index and
    # matched every row against the window (quadratic).
    head = (
        f"SELECT t.id, t.data, {_now()} FROM (SELECT h.id, h.required - h.live_count AS missing, "
        f"h.shuffle "
        f"FROM {TASK} h WHERE h.project_id = %s AND h.status = '{OPEN}' AND NOT h.is_gold "
        f"AND h.live_count < h.required ORDER BY (h.required - h.live_count), h.shuffle "
        f"LIMIT {HEAD_WINDOW}) head JOIN {TASK} t ON t.id = head.id WHERE "
    )
    head_order = " ORDER BY head.missing, head.shuffle LIMIT 1" + lock
    untouched = " ORDER BY t.shuffle LIMIT 1" + lock
    attempts = [
        (head + _OPEN_REGULAR + " AND " + _UNSEEN + head_order, [project_id, project_id]),
        (select + _OPEN_REGULAR + " AND t.live_count = 0 AND " + _UNSEEN + untouched, [project_id]),
        (select + _OPEN_REGULAR + " AND " + _UNSEEN + order, [project_id]),
    ]
    for sql, params in attempts:
        row = _fetchone(sql, [*params, worker_id])
        if row is not None:
            return row[0], db_json(row[1]), db_datetime(row[2])
    return None


def task_next_gold(*, worker_id: int, project_id: int, pivot: float) -> tuple | None:
    """(id, data, database now) of an unseen gold question in random order: the first from
    `pivot` in the tasks' random `shuffle`, else the first before it. Gold is not locked."""
    branch = (
        f"SELECT * FROM (SELECT t.id, t.data, {_now()} AS now, %s AS part FROM {TASK} t "
        f"WHERE t.project_id = %s AND t.is_gold AND {_UNSEEN} AND t.shuffle {{}} %s "
        f"ORDER BY t.shuffle LIMIT 1) AS {{}}"
    )
    sql = (
        branch.format(">=", "after_pivot")
        + " UNION ALL "
        + branch.format("<", "before_pivot")
        + " ORDER BY part LIMIT 1"
    )
    row = _fetchone(sql, [0, project_id, worker_id, pivot, 1, project_id, worker_id, pivot])
    return None if row is None else (row[0], db_json(row[1]), db_datetime(row[2]))


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


_SUBMIT_COLUMNS = {
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
    "t": ["id", "data", "gold_answer", "required"],
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
}
_JSON = {"answer", "data", "gold_answer", "labels"}
_TIMES = {"claimed_at", "lease_expires_at", "submitted_at"}


def assignment_for_submit(*, user_id: int, assignment_id: int) -> Assignment | None:
    """The user's own assignment with what submitting needs of its task and project, and the
    database's clock as `db_now`; None when it is not theirs (or does not exist)."""
    columns = [f"{alias}.{name}" for alias, names in _SUBMIT_COLUMNS.items() for name in names]
    row = _fetchone(
        f"SELECT {', '.join(columns)}, {_now()} FROM {ASSIGNMENT} a "
        f"JOIN {TASK} t ON t.id = a.task_id JOIN {PROJECT} p ON p.id = a.project_id "
        f"JOIN workforce_worker w ON w.id = a.worker_id WHERE a.id = %s AND w.user_id = %s",
        [assignment_id, user_id],
    )
    if row is None:
        return None
    values = iter(row)
    parts = {}
    for alias, names in _SUBMIT_COLUMNS.items():
        fields = {}
        for name in names:
            value = next(values)
            if name in _JSON:
                value = db_json(value)
            elif name in _TIMES and value is not None:
                value = db_datetime(value)
            fields[name] = value
        parts[alias] = fields
    assignment = Assignment(**parts["a"])
    assignment.task = Task(project_id=parts["p"]["id"], **parts["t"])
    assignment.project = Project(**parts["p"])
    assignment.db_now = db_datetime(next(values))
    return assignment


def task_trusted_judgments(*, task_id: int) -> list[tuple[object, int, int]]:
    """(answer, gold_seen, gold_correct of its worker) for each trusted judgment of a task:
    what its consensus is computed from when its last judgment arrives."""
    quality = WorkerQuality._meta.db_table
    rows = _fetchall(
        f"SELECT a.answer, COALESCE(q.gold_seen, 0), COALESCE(q.gold_correct, 0) "
        f"FROM {ASSIGNMENT} a LEFT JOIN {quality} q ON q.worker_id = a.worker_id "
        f"AND q.project_id = a.project_id WHERE a.task_id = %s "
        f"AND a.status IN ('{Assignment.Status.SUBMITTED}', '{Assignment.Status.ACCEPTED}') "
        f"ORDER BY a.id",
        [task_id],
    )
    return [(db_json(answer), seen, correct) for answer, seen, correct in rows]
