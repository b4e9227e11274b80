"""Reads of the stats rollups (marketplace.services.stats): a fixed number of small queries
whatever the size of the projects, and never a read of tasks or judgments themselves."""

import datetime
from decimal import Decimal

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from config.money import money_str
from marketplace.models import Project, ProjectStats, ProjectWorkerStats, StatsHour
from marketplace.selectors import project_ids_for_user
from workforce.models import DeliveryCenter, User, Vendor

HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def _hour_floor(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


def _hourly(project: Project, start) -> dict[datetime.datetime, int]:
    """Regular judgments per hour from `start` on (one query over at most one row per hour)."""
    rows = (
        StatsHour.objects.filter(project=project, hour__gte=start)
        .values("hour")
        .annotate(n=Sum("judgments"))
        .order_by()
    )
    return {row["hour"]: row["n"] for row in rows}


def _ratio(part, whole) -> float | None:
    return part / whole if whole else None


def project_stats(*, project: Project, hours: int = 24, days: int = 14) -> dict:
    """SPEC §8's stats of a project, plus breakdowns, as of its last refresh (`as_of`; null,
    with zeros, before the first refresh has seen the project).

    Two queries: the project's figures, and its judgments per hour over the longer of the two
    windows (at most 366 x 24 rows), from which both series are made.
    """
    figures = ProjectStats.objects.filter(project=project).first() or ProjectStats(
        project=project, as_of=None
    )
    end_hour = _hour_floor(figures.as_of or timezone.now())
    first_hour = end_hour - HOUR * (hours - 1)
    first_day = end_hour.replace(hour=0) - DAY * (days - 1)
    hourly = _hourly(project, min(first_hour, first_day))
    per_hour = [
        {"hour": first_hour + HOUR * n, "judgments": hourly.get(first_hour + HOUR * n, 0)}
        for n in range(hours)
    ]
    daily: dict[datetime.date, int] = {}
    for hour, n in hourly.items():
        if hour >= first_day:
            daily[hour.date()] = daily.get(hour.date(), 0) + n
    per_day = [
        {"day": day, "judgments": daily.get(day, 0)}
        for day in ((first_day + DAY * n).date() for n in range(days))
    ]
    currency = project.currency
    return {
        "project": project.pk,
        "as_of": figures.as_of,
        "tasks": {
            "total": figures.tasks_total,
            "open": figures.tasks_open,
            "complete": figures.tasks_complete,
        },
        "judgments": {
            "submitted": figures.judgments_submitted,
            "accepted": figures.judgments_accepted,
            "rejected": figures.judgments_rejected,
            "untrusted": figures.judgments_untrusted,
            "pending_review": figures.judgments_submitted
            - figures.judgments_accepted
            - figures.judgments_rejected
            - figures.judgments_untrusted,
            "remaining": figures.judgments_remaining,
        },
        "gold": {
            "answered": figures.gold_answered,
            "correct": figures.gold_correct,
            "accuracy": _ratio(figures.gold_correct, figures.gold_answered),
        },
        "workers": {
            "active": figures.workers_active,
            "blocked": figures.workers_blocked,
            "total": figures.workers,
        },
        "throughput": {
            "last_hour": figures.last_hour,
            "last_24h": figures.last_24h,
            "per_hour": per_hour,
            "per_day": per_day,
            "seconds_per_judgment": _ratio(figures.seconds, figures.judgments_submitted),
        },
        "quality": {
            "agreement": figures.agreement,
            "accuracy_distribution": [
                {"min": index / len(figures.accuracy_bins), "workers": workers}
                for index, workers in enumerate(figures.accuracy_bins)
            ],
        },
        "cost": {
            "currency": currency,
            "to_date": money_str(figures.cost_amount, currency),
            "projected_total": _projected_total(figures, currency),
        },
        "eta_seconds": _eta_seconds(figures),
        "vendors": _vendor_rows(figures.groups),
        "centers": [_group_out(group) for group in figures.groups],
    }


def _rate_per_second(figures: ProjectStats) -> float:
    """Regular judgments per second over the last 24 hours, or since the first judgment when
    the project is younger than that."""
    if not figures.last_24h or figures.first_submitted_at is None:
        return 0.0
    span = min((figures.as_of - figures.first_submitted_at).total_seconds(), DAY.total_seconds())
    return figures.last_24h / max(span, HOUR.total_seconds())


def _eta_seconds(figures: ProjectStats) -> int | None:
    if figures.as_of is None or not figures.tasks_total:
        return None
    if not figures.judgments_remaining:
        return 0
    rate = _rate_per_second(figures)
    return round(figures.judgments_remaining / rate) if rate else None


def _projected_total(figures: ProjectStats, currency: str) -> str | None:
    """What has been paid plus the judgments still to pay at the cost per judgment paid so far:
    the trusted ones not paid yet, and the open tasks' missing judgments with gold in the share
    seen so far. Null before a payroll run has paid a judgment of the project."""
    if figures.paid_judgments <= 0 or figures.as_of is None:
        return None
    per_judgment = figures.cost_amount / figures.paid_judgments
    gold_share = Decimal(figures.gold_answered) / max(figures.judgments_submitted, 1)
    to_pay = figures.unpaid_judgments + figures.judgments_remaining * (1 + gold_share)
    return money_str(figures.cost_amount + max(to_pay, Decimal(0)) * per_judgment, currency)


def _group_figures(sums: dict) -> dict:
    """What a center's or a vendor's row shows of its summed workers' figures."""
    return {
        "judgments": sums["judgments"],
        "last_hour": sums["last_hour"],
        "last_24h": sums["last_24h"],
        "gold_answered": sums["gold_answered"],
        "gold_correct": sums["gold_correct"],
        "gold_accuracy": _ratio(sums["gold_correct"], sums["gold_answered"]),
        "seconds_per_judgment": _ratio(sums["seconds"], sums["judgments"]),
        "workers": sums["workers"],
        "workers_active": sums["workers_active"],
        "workers_blocked": sums["workers_blocked"],
        "seats": sums["seats"],
        "seats_used": _ratio(sums["workers_active"], sums["seats"]),
    }


def _group_out(group: dict) -> dict:
    return {
        "center": group["center"],
        "name": group["center_name"] or "Freelancers",
        "vendor": group["vendor"],
        "vendor_name": group["vendor_name"],
        **_group_figures(group),
    }


def _vendor_rows(groups: list[dict]) -> list[dict]:
    """The centers' rows summed per vendor (vendor null: the freelancers)."""
    vendors: dict = {}
    names = ("judgments", "last_hour", "last_24h", "gold_answered", "gold_correct", "seconds")
    people = ("workers", "workers_active", "workers_blocked")
    for group in groups:
        row = vendors.setdefault(
            group["vendor"],
            {
                "vendor": group["vendor"],
                "name": group["vendor_name"] or "Freelancers",
                "centers": 0,
                "seats": 0 if group["vendor"] is not None else None,
                **dict.fromkeys(names + people, 0),
            },
        )
        row["centers"] += group["center"] is not None
        for name in names + people:
            row[name] += group[name]
        if group["seats"] is not None:
            row["seats"] += group["seats"]
    return [
        {
            "vendor": row["vendor"],
            "name": row["name"],
            "centers": row["centers"],
            **_group_figures(row),
        }
        for row in sorted(vendors.values(), key=lambda row: (row["vendor"] is None, row["vendor"]))
    ]


def project_worker_list(*, project: Project) -> QuerySet[ProjectWorkerStats]:
    """The project's worker table as of its last refresh, with usernames (one query a page)."""
    return (
        ProjectWorkerStats.objects.filter(project=project)
        .annotate(username=F("worker__user__username"))
        .order_by("worker_id")
    )


def worker_row(row: ProjectWorkerStats, currency: str) -> dict:
    return {
        "worker": row.worker_id,
        "username": row.username,
        "vendor": row.vendor_id,
        "center": row.center_id,
        "judgments": row.judgments,
        "seconds_per_task": row.seconds_per_task,
        "gold_seen": row.gold_seen,
        "gold_correct": row.gold_correct,
        "accuracy_estimate": row.accuracy_estimate,
        "blocked": row.blocked,
        "earned": money_str(row.earned, currency),
        "last_submitted_at": row.last_submitted_at,
    }


WORKER_COLUMNS = [
    "worker",
    "username",
    "vendor",
    "center",
    "judgments",
    "seconds_per_task",
    "gold_seen",
    "gold_correct",
    "accuracy_estimate",
    "blocked",
    "earned",
    "last_submitted_at",
]

# --- the cross-project throughput report -------------------------------------------------------

GROUPS = {
    "project": "project_id",
    "vendor": "vendor_id",
    "center": "center_id",
    "skill": "project__required_skill__slug",
    "language": "project__language_rows__code",
}


def throughput_report(*, user: User, group_by: str, interval: str, start, end) -> QuerySet:
    """Judgments per group and period (`interval` hour or day) from the period `start` falls in
    to `end` (exclusive) over the projects the user manages (staff: all): rows `{group,
    period, judgments, gold_answered, gold_correct, seconds}`. A project counts towards each
    of its languages; vendor and center 0 are the freelancers, a skill of null the projects that
    require none."""
    period = F("hour") if interval == "hour" else TruncDay("hour")
    # The first period is whole: `start` rounded down to its hour or UTC day, so a report
    # starting mid-hour still has that hour's row instead of losing it.
    start = _hour_floor(start)
    if interval == "day":
        start = start.replace(hour=0)
    return (
        StatsHour.objects.filter(
            project__in=project_ids_for_user(user=user), hour__gte=start, hour__lt=end
        )
        .annotate(group=F(GROUPS[group_by]), period=period)
        .values("group", "period")
        .annotate(
            judgments=Sum("judgments"),
            gold_answered=Sum("gold_answered"),
            gold_correct=Sum("gold_correct"),
            seconds=Sum("seconds"),
        )
        .order_by("period", "group")
    )


def group_names(group_by: str, keys: set) -> dict:
    """Display names of the groups of a report page (one query; none for skill and language,
    whose keys are their names)."""
    ids = [key for key in keys if key]
    if group_by == "project":
        return dict(Project.objects.filter(pk__in=ids).values_list("pk", "name"))
    if group_by == "vendor":
        return {
            0: "Freelancers",
            **dict(Vendor.objects.filter(pk__in=ids).values_list("pk", "name")),
        }
    if group_by == "center":
        return {
            0: "Freelancers",
            **dict(DeliveryCenter.objects.filter(pk__in=ids).values_list("pk", "name")),
        }
    return {key: key for key in keys}
