"""The stats rollups behind the manager analytics (docs/stats.md): refreshed by a periodic job,
read by the stats, workers and throughput endpoints and the dashboard, which then cost the same
on a project of 1,000,000 tasks as on one of 100.

Nothing here runs on the claim/submit path. One refresh, in one transaction:

1. Hourly buckets (`StatsHour`) per project x hour x vendor x center, appended from a watermark:
   judgments submitted in `[settled_until, settle)` are added to the settled buckets, and the
   watermark moves to `settle`: `now - SETTLE_SECONDS`, or on PostgreSQL the start of the
   oldest transaction still open in another session if that is earlier. Judgments of the last
   SETTLE_SECONDS go into provisional buckets, replaced whole by each refresh: a submit stamps
   `submitted_at` with its transaction's start, so a judgment may become visible a little after
   the time it carries, and settling only what is older than that margin counts each once.
2. Per project with something to show since the last refresh (see `_projects_due`), one
   GROUP BY worker over its judgments, its task counts, its workers' gold records and its payroll
   lines give the project's figures (`ProjectStats`) and its worker table (`ProjectWorkerStats`).
"""

import datetime
import time
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, DurationField, Exists, F, Max, Min, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, Now, TruncHour

from config.aggregates import ExactSum
from config.db import other_transactions
from marketplace.models import (
    Assignment,
    Project,
    ProjectStats,
    ProjectWorkerStats,
    StatsHour,
    StatsState,
    Task,
)
from qc import reports, scoring
from qc.models import WorkerQuality
from workforce.models import DeliveryCenter

# How long after its `submitted_at` a judgment is taken as committed for good (see above).
SETTLE_SECONDS = 120
# A project with no judgments, claims, reviews or changes is still refreshed this often: blocks
# change its judgments' states without leaving a time behind (reviews mark it, `stats_dirty_at`).
STALE_AFTER = datetime.timedelta(hours=1)
# Krippendorff's alpha reads every answer of a project: at most this often per project.
AGREEMENT_EVERY = datetime.timedelta(minutes=10)
ACCURACY_BINS = 10
# A read of the analytics (stats, workers view, throughput report, dashboard) first brings the
# rollups up to date (see stats_ensure_fresh). The rollups are a cache of figures computed from
# the judgments, not data of their own: filling it on a read changes nothing a user did.
# - A small system, whose refreshes take at most INLINE_REFRESH_SECONDS, refreshes in the request:
#   its figures are those of the moment. At most INLINE_PER_SECOND times a second per server
#   process however often managers read; further reads in that second serve the last figures.
# - A larger one, where a broker runs the jobs, queues the job, at most once per QUEUE_EVERY, and
#   serves the figures as they are. Without a broker it refreshes in the request once its figures
#   are INLINE_SPACING times as old as a refresh is long, so refreshing takes at most a tenth of
#   the time.
# A refresh's length is kept as the longest of the last few (it halves at each refresh): one
# quick refresh on a large system, or one slow one on a small system, does not swap the cases.
INLINE_REFRESH_SECONDS = 0.1
INLINE_PER_SECOND = 2
INLINE_SPACING = 10
QUEUE_EVERY = datetime.timedelta(seconds=5)
_QUEUED = "marketplace:stats-refresh-queued"
_INLINE = "marketplace:stats-refreshes-inline"

_DONE = (
    Assignment.Status.SUBMITTED,
    Assignment.Status.ACCEPTED,
    Assignment.Status.REJECTED,
    Assignment.Status.UNTRUSTED,
)
_REGULAR_DONE = Q(is_gold=False, status__in=_DONE)
_GOLD_DONE = Q(is_gold=True, status__in=_DONE)
_SPENT = F("submitted_at") - F("claimed_at")


def stats_ensure_fresh() -> None:
    """Before a read of the rollups: brings them up to date as the constants above say, in this
    request or through the job; the read then serves them, `as_of` saying how old."""
    state = (
        StatsState.objects.filter(pk=1)
        .annotate(age=Now() - F("refreshed_at"))
        .values("age", "refresh_seconds")
        .first()
    )
    if state is None or state["refresh_seconds"] is None:
        stats_refresh()  # the first: how long one takes is not known yet
        return
    took = state["refresh_seconds"]
    if took <= INLINE_REFRESH_SECONDS:
        second = f"{_INLINE}:{_this_second()}"
        cache.add(second, 0, timeout=2)
        if cache.incr(second) <= INLINE_PER_SECOND:
            stats_refresh()
    elif not settings.CELERY_TASK_ALWAYS_EAGER:
        if cache.add(_QUEUED, True, timeout=QUEUE_EVERY.total_seconds()):
            from marketplace.tasks import stats_refresh_task  # that module imports this one

            transaction.on_commit(stats_refresh_task.delay)
    elif state["age"].total_seconds() >= took * INLINE_SPACING:
        stats_refresh()


def _this_second() -> int:
    return int(time.time())


def stats_refresh() -> dict:
    """Brings the stats rollups up to date (see the module docstring); returns what it did.

    Idempotent; locks the `StatsState` row, and a refresh that finds it locked returns at once
    (`skipped`): the one holding it is doing the same work.
    """
    started = time.monotonic()
    StatsState.objects.bulk_create([StatsState(pk=1)], ignore_conflicts=True)
    with transaction.atomic(durable=True):
        state = (
            StatsState.objects.select_for_update(skip_locked=True)
            .annotate(db_now=Now())
            .filter(pk=1)
            .first()
        )
        if state is None:
            return {"skipped": True, "projects": 0}
        now = state.db_now
        settle = now - datetime.timedelta(seconds=SETTLE_SECONDS)
        oldest = _oldest_open_transaction()
        if oldest is not None:
            settle = min(settle, oldest)
        if state.settled_until is not None:
            # The watermark never moves back (a clock step, a longer margin): what is settled
            # must not be counted again as provisional.
            settle = max(settle, state.settled_until)
        work = list(Project.objects.filter(kind=Project.Kind.WORK).values_list("pk", flat=True))
        touched = _hours_settle(work, state.settled_until, settle)
        touched |= _hours_provisional(work, settle)
        since = (state.refreshed_at or now) - datetime.timedelta(seconds=SETTLE_SECONDS)
        dirty = dict(
            ProjectStats.objects.filter(stats_dirty_at__isnull=False).values_list(
                "project_id", "stats_dirty_at"
            )
        )
        due = _projects_due(touched | set(dirty), since=since, now=now)
        for project in due:
            _project_refresh(project, now)
            if project.pk in dirty:
                # Cleared only if no review marked it again meanwhile: one that committed after
                # this project's judgments were read is left for the next refresh.
                ProjectStats.objects.filter(
                    project=project, stats_dirty_at=dirty[project.pk]
                ).update(stats_dirty_at=None)
        state.settled_until = settle
        state.refreshed_at = now
        state.refresh_seconds = max(time.monotonic() - started, (state.refresh_seconds or 0.0) / 2)
        state.save(update_fields=["settled_until", "refreshed_at", "refresh_seconds"])
    return {"skipped": False, "projects": len(due)}


def _oldest_open_transaction():
    """The start of the oldest transaction open on this database in another session (PostgreSQL;
    None when there is none, and on SQLite, where this refresh holds the only writer slot).

    A judgment's `submitted_at` is never earlier than the start of the transaction that stores
    it, so one that runs longer than SETTLE_SECONDS would commit behind a watermark of
    `now - SETTLE_SECONDS` and never be counted: the watermark stops short of it instead. Read
    without waiting, unlike a payroll run (billing.services.runs): what it holds back stays
    provisional until a later refresh.
    """
    if connection.vendor != "postgresql":
        return None
    transactions = other_transactions()
    return transactions[0][3] if transactions else None


# --- hourly buckets -----------------------------------------------------------------------------


def _hour_rows(project_ids: list[int], since, until) -> list[dict]:
    judgments = Assignment.objects.filter(project_id__in=project_ids, status__in=_DONE)
    if since is not None:
        judgments = judgments.filter(submitted_at__gte=since)
    if until is not None:
        judgments = judgments.filter(submitted_at__lt=until)
    return list(
        judgments.values(
            "project_id",
            hour=TruncHour("submitted_at"),
            center=Coalesce(F("worker__center_id"), 0),
            vendor=Coalesce(F("worker__center__vendor_id"), 0),
        )
        .annotate(
            judgments=Count("pk", filter=Q(is_gold=False)),
            gold_answered=Count("pk", filter=Q(is_gold=True)),
            gold_correct=Count("pk", filter=Q(is_gold=True, check_passed=True)),
            spent=Sum(_SPENT, filter=Q(is_gold=False), output_field=DurationField()),
        )
        .order_by()
    )


def _bucket(row: dict, *, provisional: bool) -> StatsHour:
    return StatsHour(
        project_id=row["project_id"],
        hour=row["hour"],
        vendor_id=row["vendor"],
        center_id=row["center"],
        provisional=provisional,
        judgments=row["judgments"],
        gold_answered=row["gold_answered"],
        gold_correct=row["gold_correct"],
        seconds=row["spent"].total_seconds() if row["spent"] else 0.0,
    )


def _hours_settle(project_ids: list[int], since, until) -> set[int]:
    """Adds the judgments submitted in `[since, until)` to the settled buckets; returns the
    projects they are on."""
    rows = _hour_rows(project_ids, since, until)
    if not rows:
        return set()
    new = [_bucket(row, provisional=False) for row in rows]
    key = ("project_id", "hour", "vendor_id", "center_id")
    existing = {
        tuple(getattr(bucket, name) for name in key): bucket
        for bucket in StatsHour.objects.filter(
            provisional=False,
            project_id__in={bucket.project_id for bucket in new},
            hour__gte=min(bucket.hour for bucket in new),
        )
    }
    created, updated = [], []
    for bucket in new:
        old = existing.get(tuple(getattr(bucket, name) for name in key))
        if old is None:
            created.append(bucket)
            continue
        old.judgments += bucket.judgments
        old.gold_answered += bucket.gold_answered
        old.gold_correct += bucket.gold_correct
        old.seconds += bucket.seconds
        updated.append(old)
    StatsHour.objects.bulk_create(created, batch_size=1000)
    StatsHour.objects.bulk_update(
        updated, ["judgments", "gold_answered", "gold_correct", "seconds"], batch_size=1000
    )
    return {bucket.project_id for bucket in new}


def _hours_provisional(project_ids: list[int], since) -> set[int]:
    """Replaces the provisional buckets with the judgments submitted from `since` on."""
    StatsHour.objects.filter(provisional=True).delete()
    rows = _hour_rows(project_ids, since, None)
    StatsHour.objects.bulk_create([_bucket(row, provisional=True) for row in rows])
    return {row["project_id"] for row in rows}


# --- per project --------------------------------------------------------------------------------


def _held(now) -> Q:
    """Leases held at `now`: an expired one not yet swept (marketplace.services.assignments)
    holds nothing and makes no worker active."""
    return Q(status=Assignment.Status.ACTIVE, lease_expires_at__gt=now)


def _projects_due(touched: set[int], *, since, now) -> list[Project]:
    """Projects whose figures may have changed: judgments submitted or reviewed (`touched`) or
    leases held (not expired) now, figures that decay with time (last hour, last 24 h, active workers),
    settings or status changed, payroll lines written, no figures yet, or figures older than
    STALE_AFTER."""
    due = set(touched)
    due.update(
        Assignment.objects.filter(_held(now)).values_list("project_id", flat=True).distinct()
    )
    lines = apps.get_model("billing", "StatementLine")
    due.update(
        lines.objects.filter(run__finished_at__gte=since)
        .values_list("project_id", flat=True)
        .distinct()
    )
    stale = (
        Q(stats__isnull=True)
        | Q(stats__as_of__lt=now - STALE_AFTER)
        | Q(stats__last_24h__gt=0)
        | Q(stats__workers_active__gt=0)
        | Q(updated_at__gte=since)
    )
    return list(
        Project.objects.filter(Q(pk__in=due) | stale, kind=Project.Kind.WORK).order_by("pk")
    )


def _worker_rows(project: Project, now) -> list[dict]:
    """One row per worker with judgments on the project: a single pass over them."""
    regular_since = {
        name: Count("pk", filter=_REGULAR_DONE & Q(submitted_at__gte=now - span))
        for name, span in (
            ("last_hour", datetime.timedelta(hours=1)),
            ("last_24h", datetime.timedelta(hours=24)),
        )
    }
    # Paid judgments stay paid when they later leave `payable` (a block untrusts them, SPEC §6:
    # no clawback), so what is still to pay is counted directly, not as payable - paid.
    paid = apps.get_model("billing", "PaidJudgment").objects.filter(assignment_id=OuterRef("pk"))
    return list(
        Assignment.objects.filter(project=project)
        .values(
            "worker_id",
            center=F("worker__center_id"),
            vendor=F("worker__center__vendor_id"),
        )
        .annotate(
            judgments=Count("pk", filter=_REGULAR_DONE),
            accepted=Count("pk", filter=Q(is_gold=False, status=Assignment.Status.ACCEPTED)),
            rejected=Count("pk", filter=Q(is_gold=False, status=Assignment.Status.REJECTED)),
            untrusted=Count("pk", filter=Q(is_gold=False, status=Assignment.Status.UNTRUSTED)),
            pending=Count("pk", filter=Q(is_gold=False, status=Assignment.Status.SUBMITTED)),
            gold_answered=Count("pk", filter=_GOLD_DONE),
            gold_correct=Count("pk", filter=_GOLD_DONE & Q(check_passed=True)),
            payable=Count("pk", filter=Q(status__in=Assignment.TRUSTED)),
            unpaid=Count("pk", filter=Q(status__in=Assignment.TRUSTED) & ~Exists(paid)),
            active=Count("pk", filter=_held(now)),
            spent=Sum(_SPENT, filter=_REGULAR_DONE, output_field=DurationField()),
            first=Min("submitted_at"),
            last=Max("submitted_at"),
            **regular_since,
        )
        .order_by()
    )


def _lines(project: Project) -> tuple[dict[int, Decimal], int]:
    """Pay per worker (payroll lines in the project's currency, corrections included) and the
    judgments those lines paid, summed in one GROUP BY worker. Read through the app registry:
    billing reads marketplace, so marketplace may not import it (STYLE.md); these are
    read-only sums. ExactSum keeps the amounts exact on SQLite too, which sums decimals as
    floats."""
    lines = apps.get_model("billing", "StatementLine")
    rows = (
        lines.objects.filter(project=project, currency=project.currency)
        .values("worker_id")
        .annotate(amount=ExactSum("amount"), judgments=Sum("judgments"))
        .order_by()
    )
    earned: dict[int, Decimal] = {}
    paid = 0
    for row in rows:
        earned[row["worker_id"]] = row["amount"]
        paid += row["judgments"]
    return earned, paid


def _project_refresh(project: Project, now) -> None:
    """Recomputes one project's figures and worker table from its rows, set-based."""
    tasks = {
        row["status"]: row
        for row in Task.objects.filter(project=project, is_gold=False)
        .values("status")
        .annotate(n=Count("pk"), missing=Sum(F("required") - F("done_count")))
        .order_by()
    }
    workers = _worker_rows(project, now)
    quality = {
        row[0]: row[1:]
        for row in WorkerQuality.objects.filter(project=project).values_list(
            "worker_id", "gold_seen", "gold_correct", "blocked"
        )
    }
    earned, paid = _lines(project)
    hour_ago = now - datetime.timedelta(hours=1)

    table, bins = [], [0] * ACCURACY_BINS
    for row in workers:
        seen, correct, blocked = quality.get(row["worker_id"], (0, 0, False))
        estimate = scoring.accuracy_estimate(
            gold_correct=correct,
            gold_seen=seen,
            prior_correct=project.prior_correct,
            prior_seen=project.prior_seen,
        )
        if seen:
            bins[min(int(estimate * ACCURACY_BINS), ACCURACY_BINS - 1)] += 1
        row["blocked"] = blocked
        row["is_active"] = row["active"] > 0 or (
            row["last"] is not None and row["last"] >= hour_ago
        )
        row["seconds"] = row["spent"].total_seconds() if row["spent"] else 0.0
        table.append(
            ProjectWorkerStats(
                project=project,
                worker_id=row["worker_id"],
                vendor_id=row["vendor"],
                center_id=row["center"],
                judgments=row["judgments"],
                seconds_per_task=row["seconds"] / row["judgments"] if row["judgments"] else None,
                gold_seen=seen,
                gold_correct=correct,
                accuracy_estimate=estimate,
                blocked=blocked,
                earned=earned.get(row["worker_id"], Decimal(0)),
                last_submitted_at=row["last"],
            )
        )
    ProjectWorkerStats.objects.filter(project=project).delete()
    ProjectWorkerStats.objects.bulk_create(table, batch_size=1000)

    def total(name: str) -> int:
        return sum(row[name] for row in workers)

    open_, complete = tasks.get(Task.Status.OPEN, {}), tasks.get(Task.Status.COMPLETE, {})
    firsts = [row["first"] for row in workers if row["first"] is not None]
    figures = {
        "as_of": now,
        "tasks_total": open_.get("n", 0) + complete.get("n", 0),
        "tasks_open": open_.get("n", 0),
        "tasks_complete": complete.get("n", 0),
        "judgments_remaining": max(open_.get("missing") or 0, 0),
        "judgments_submitted": total("judgments"),
        "judgments_accepted": total("accepted"),
        "judgments_rejected": total("rejected"),
        "judgments_untrusted": total("untrusted"),
        "gold_answered": total("gold_answered"),
        "gold_correct": total("gold_correct"),
        "workers": len(workers),
        "workers_active": sum(row["is_active"] for row in workers),
        "workers_blocked": sum(blocked for _, _, blocked in quality.values()),
        "last_hour": total("last_hour"),
        "last_24h": total("last_24h"),
        "first_submitted_at": min(firsts) if firsts else None,
        "seconds": sum(row["seconds"] for row in workers),
        "cost_amount": sum(earned.values(), Decimal(0)),
        "paid_judgments": paid,
        "payable_judgments": total("payable"),
        "unpaid_judgments": total("unpaid"),
        "accuracy_bins": bins,
        "groups": _group_rows(workers),
    }
    current = ProjectStats.objects.filter(project=project).first()
    if (
        current is None
        or current.agreement_at is None
        or current.agreement_at < now - AGREEMENT_EVERY
    ):
        figures["agreement"] = reports.agreement_report(project=project)["krippendorff_alpha"]
        figures["agreement_at"] = now
    ProjectStats.objects.update_or_create(project=project, defaults=figures)


_GROUP_SUMS = (
    "judgments",
    "last_hour",
    "last_24h",
    "gold_answered",
    "gold_correct",
    "seconds",
)


def _group_rows(workers: list[dict]) -> list[dict]:
    """Per delivery center (vendor and center null: the freelancers) the sums of its workers'
    rows, with its name, vendor name and seats as they are now."""
    groups: dict[int | None, dict] = {}
    for row in workers:
        group = groups.setdefault(
            row["center"],
            {
                "center": row["center"],
                "vendor": row["vendor"],
                **dict.fromkeys(_GROUP_SUMS, 0),
                "workers": 0,
                "workers_active": 0,
                "workers_blocked": 0,
            },
        )
        for name in _GROUP_SUMS:
            group[name] += row[name]
        group["workers"] += 1
        group["workers_active"] += row["is_active"]
        group["workers_blocked"] += row["blocked"]
    centers = {
        center.pk: center
        for center in DeliveryCenter.objects.filter(pk__in=[c for c in groups if c]).select_related(
            "vendor"
        )
    }
    rows = []
    for center_id, group in sorted(groups.items(), key=lambda item: item[0] or 0):
        center = centers.get(center_id)
        group["center_name"] = center.name if center else None
        group["vendor_name"] = center.vendor.name if center else None
        group["seats"] = center.seats if center else None
        rows.append(group)
    return rows
