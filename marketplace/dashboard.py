"""The managers' web dashboard (`/dashboard/`): server-rendered pages over the stats rollups
(marketplace.selectors_stats), charts drawn on the server as SVG by pygal. Django session login;
managers see the projects they manage (staff: all), anyone else gets 403, another manager's
project is a 404."""

import datetime
from functools import wraps

import pygal
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.utils.safestring import mark_safe
from pygal.style import Style

from config.errors import NotFoundError
from config.money import money_str
from marketplace import selectors, selectors_stats
from marketplace.services import stats
from workforce.models import Role

HOURS = 48
DAYS = 30
WORKER_ROWS = 100
WORKER_ORDERINGS = {
    "judgments": "-judgments",
    "accuracy": "accuracy_estimate",
    "speed": "seconds_per_task",
    "earned": "-earned",
    "username": "username",
}

_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#333",
    foreground_strong="#111",
    foreground_subtle="#ccc",
    colors=("#2f6db3", "#e07b39", "#4f9d69", "#c94c4c", "#8a63b8"),
    font_family="system-ui, sans-serif",
    title_font_size=16,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
)


def _chart(kind, *, title: str, x_title: str, y_title: str, **options):
    # No pygal.js (tooltips) from the web: the charts are plain SVG, readable as they are.
    settings = {
        "width": 720,
        "height": 340,
        "show_legend": False,
        "margin": 16,
        "truncate_label": -1,
        "max_scale": 6,
        **options,
    }
    return kind(
        style=_STYLE,
        title=title,
        x_title=x_title,
        y_title=y_title,
        js=[],
        disable_xml_declaration=True,
        **settings,
    )


def _svg(chart) -> str:
    # pygal writes the SVG and escapes the labels (project, vendor and center names) in it.
    return mark_safe(chart.render(is_unicode=True))


def managers_only(view):
    """Signed in (else to the login page), and a manager or staff (else 403)."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if request.user.role not in (Role.MANAGER, Role.STAFF):
            return render(request, "dashboard/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return guarded


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "not yet known"
    if seconds == 0:
        return "done"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(parts[:2])


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


@managers_only
def project_list(request):
    stats.stats_ensure_fresh()
    projects = selectors.project_list_for_user(user=request.user).select_related("stats")
    rows = []
    for project in projects:
        figures = getattr(project, "stats", None)
        total = figures.tasks_total if figures else 0
        done = figures.tasks_complete if figures else 0
        rows.append(
            {
                "project": project,
                "figures": figures,
                "progress": done / total if total else 0,
                "progress_text": _percent(done / total if total else None),
                "gold_accuracy": _percent(
                    figures.gold_correct / figures.gold_answered
                    if figures and figures.gold_answered
                    else None
                ),
                "cost": money_str(figures.cost_amount, project.currency) if figures else "-",
            }
        )
    return render(request, "dashboard/project_list.html", {"rows": rows})


def _throughput_charts(body: dict) -> tuple[str, str]:
    hourly = _chart(
        pygal.Line,
        title=f"Judgments per hour, last {HOURS} hours (UTC)",
        x_title="hour (UTC)",
        y_title="judgments / hour",
        show_minor_x_labels=False,
        fill=True,
        dots_size=2,
    )
    per_hour = body["throughput"]["per_hour"]
    hourly.x_labels = [row["hour"].strftime("%a %H:00") for row in per_hour]
    hourly.x_labels_major = hourly.x_labels[-1::-6][::-1]
    hourly.add("judgments", [row["judgments"] for row in per_hour])
    daily = _chart(
        pygal.Bar,
        title=f"Judgments per day, last {DAYS} days (UTC)",
        x_title="day",
        y_title="judgments / day",
        show_minor_x_labels=False,
    )
    per_day = body["throughput"]["per_day"]
    daily.x_labels = [row["day"].strftime("%d %b") for row in per_day]
    daily.x_labels_major = daily.x_labels[-1::-5][::-1]
    daily.add("judgments", [row["judgments"] for row in per_day])
    return _svg(hourly), _svg(daily)


def _progress_chart(body: dict) -> str:
    tasks = body["tasks"]
    chart = _chart(
        pygal.HorizontalStackedBar,
        title="Progress: regular tasks",
        x_title="tasks",
        y_title="",
        show_legend=True,
        legend_at_bottom=True,
        height=200,
    )
    chart.x_labels = ["tasks"]
    chart.add(f"complete ({tasks['complete']})", [tasks["complete"]])
    chart.add(f"open ({tasks['open']})", [tasks["open"]])
    return _svg(chart)


def _accuracy_chart(body: dict) -> str:
    bins = body["quality"]["accuracy_distribution"]
    chart = _chart(
        pygal.Bar,
        title="Workers by gold-accuracy estimate",
        x_title="accuracy estimate (SPEC §6)",
        y_title="workers",
    )
    step = 1 / len(bins) if bins else 0.1
    chart.x_labels = [f"{row['min']:.1f}-{row['min'] + step:.1f}" for row in bins]
    chart.add("workers", [row["workers"] for row in bins])
    return _svg(chart)


def _center_charts(body: dict) -> tuple[str, str]:
    centers = body["centers"]
    labels = [
        f"{row['vendor_name']} / {row['name']}" if row["vendor_name"] else row["name"]
        for row in centers
    ]
    throughput = _chart(
        pygal.HorizontalBar,
        title="Judgments in the last 24 hours by delivery center",
        x_title="judgments",
        y_title="",
        height=max(200, 60 + 36 * len(centers)),
    )
    throughput.x_labels = labels
    throughput.add("last 24 h", [row["last_24h"] for row in centers])
    quality = _chart(
        pygal.HorizontalBar,
        title="Gold accuracy by delivery center",
        x_title="gold answers correct (%)",
        y_title="",
        range=(0, 100),
        height=max(200, 60 + 36 * len(centers)),
    )
    quality.x_labels = labels
    quality.add(
        "gold accuracy",
        [
            None if row["gold_accuracy"] is None else round(row["gold_accuracy"] * 100, 1)
            for row in centers
        ],
    )
    return _svg(throughput), _svg(quality)


@managers_only
def project_detail(request, project_id: int):
    try:
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
    except NotFoundError:
        raise Http404("No such project.") from None
    stats.stats_ensure_fresh()
    body = selectors_stats.project_stats(project=project, hours=HOURS, days=DAYS)
    hourly, daily = _throughput_charts(body)
    center_throughput, center_quality = _center_charts(body)
    ordering = request.GET.get("ordering", "judgments")
    workers = selectors_stats.project_worker_list(project=project).order_by(
        WORKER_ORDERINGS.get(ordering, "-judgments"), "worker_id"
    )[:WORKER_ROWS]
    tasks = body["tasks"]
    context = {
        "project": project,
        "body": body,
        "progress": _percent(tasks["complete"] / tasks["total"] if tasks["total"] else None),
        "gold_accuracy": _percent(body["gold"]["accuracy"]),
        "agreement": "-"
        if body["quality"]["agreement"] is None
        else f"{body['quality']['agreement']:.2f}",
        "eta": _duration(body["eta_seconds"]),
        "finish_at": (
            body["as_of"] + datetime.timedelta(seconds=body["eta_seconds"])
            if body["eta_seconds"]
            else None
        ),
        "charts": {
            "hourly": hourly,
            "daily": daily,
            "progress": _progress_chart(body),
            "accuracy": _accuracy_chart(body),
            "center_throughput": center_throughput,
            "center_quality": center_quality,
        },
        "workers": [
            {
                **selectors_stats.worker_row(row, project.currency),
                "accuracy": _percent(row.accuracy_estimate),
            }
            for row in workers
        ],
        "worker_count": body["workers"]["total"],
        "ordering": ordering if ordering in WORKER_ORDERINGS else "judgments",
        "orderings": list(WORKER_ORDERINGS),
    }
    return render(request, "dashboard/project_detail.html", context)


urlpatterns = [
    path("", project_list, name="dashboard"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="dashboard/login.html"),
        name="dashboard-login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="dashboard-logout"),
    path("projects/<int:project_id>/", project_detail, name="dashboard-project"),
]
