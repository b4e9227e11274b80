"""The managers' web dashboard: session login, who may see what, and the pages in a real
headless Chromium."""

import datetime
import shutil
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from marketplace.services import stats
from tests import factories
from tests.factories import PASSWORD
from tests.marketplace.test_stats import gold, regular

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture
def project(manager_pat, worker_alice, worker_bob, freelancer_fay):
    """A project with judgments over the last two days from two centers and a freelancer."""
    project = factories.project_create(manager_pat, name="Product reviews", client="Acme Retail")
    factories.tasks_create(project, 20)
    now = timezone.now()
    for hours, worker in [
        (0, worker_alice),
        (1, worker_bob),
        (3, worker_alice),
        (30, freelancer_fay),
    ]:
        for _ in range(3):
            regular(worker, project, at=now - datetime.timedelta(hours=hours))
    gold(worker_alice, project, correct=4, wrong=1)
    gold(worker_bob, project, correct=2, wrong=2)
    stats.stats_refresh()
    return project


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboard_asks_to_sign_in(project):
    response = Client().get(f"/dashboard/projects/{project.pk}/")

    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/login/?next=/dashboard/projects/{project.pk}/"


def test_signing_in_leads_to_the_project_list(project, manager_pat):
    client = Client()
    response = client.post(
        "/dashboard/login/", {"username": "manager_pat", "password": PASSWORD}, follow=True
    )

    assert response.status_code == 200
    assert b"Product reviews" in response.content


@pytest.mark.parametrize("actor", ["worker_alice", "vendor_admin_acme"])
@pytest.mark.parametrize("page", ["list", "project"])
def test_workers_and_vendor_admins_get_403(request, project, actor, page):
    user = request.getfixturevalue(actor)
    client = signed_in(getattr(user, "user", user))
    url = "/dashboard/" if page == "list" else f"/dashboard/projects/{project.pk}/"

    response = client.get(url)

    assert response.status_code == 403
    assert b"for project managers" in response.content


def test_another_managers_project_is_404_and_not_listed(project):
    client = signed_in(factories.ManagerFactory())

    assert client.get(f"/dashboard/projects/{project.pk}/").status_code == 404
    assert b"Product reviews" not in client.get("/dashboard/").content


@pytest.mark.parametrize("actor", ["manager_pat", "staff_sam"])
def test_a_project_page_shows_its_figures_charts_and_workers(request, project, actor):
    client = signed_in(request.getfixturevalue(actor))

    response = client.get(f"/dashboard/projects/{project.pk}/", {"ordering": "accuracy"})

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") == 6
    assert "Judgments per hour, last 48 hours (UTC)" in page
    assert "Workers by gold-accuracy estimate" in page
    assert "Manila 1" in page and "Pune" in page and "Freelancers" in page
    # Bob (4 of 8 gold right after the prior) first when sorted by accuracy
    assert page.index("worker_bob") < page.index("worker_alice")
    assert f"/api/v1/projects/{project.pk}/workers/?format=csv" in page


def test_the_csv_links_work_with_the_dashboard_session(project, manager_pat):
    client = signed_in(manager_pat)

    response = client.get(f"/api/v1/projects/{project.pk}/workers/?format=csv")

    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().count("\n") == 4  # header + 3 workers


@pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"needs Debian's chromium at {CHROMIUM} (.ci/run installs it)",
)
def test_in_a_real_browser_the_charts_draw_their_data(live_server, project, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's database fixtures
    # tear down in the same thread afterwards.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            # given a manager signing in
            page.goto(f"{live_server.url}/dashboard/")
            page.fill("#id_username", "manager_pat")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/dashboard/")
            # when they open the project
            page.click("text=Product reviews")
            page.wait_for_url(f"{live_server.url}/dashboard/projects/{project.pk}/")
            # then every chart is drawn with data points: dots on lines, bars in bar charts
            marks = {
                chart: page.locator(
                    f"[data-chart={chart}] svg circle.dot, [data-chart={chart}] svg rect.rect"
                ).count()
                for chart in ("hourly", "daily", "progress", "accuracy", "center-throughput")
            }
            assert all(count > 0 for count in marks.values()), marks
            assert marks["hourly"] == 48  # one dot an hour
            assert page.locator("[data-table=workers] tbody tr").count() == 3
            page.screenshot(path=str(OUTPUT / "dashboard-project.png"), full_page=True)
        finally:
            browser.close()
