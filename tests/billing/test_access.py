"""Who may use the billing endpoints (SPEC §4.7), exports, and flat query counts on lists."""

import csv
import io
from decimal import Decimal

import pytest

from billing.models import Account, Invoice, LedgerEntry, PayrollRun, StatementLine
from marketplace.models import Assignment
from tests import factories
from tests.billing.utils import BALANCES, PAYOUTS, RUNS, days_ago, judge, post_run
from tests.utils import api_client


@pytest.fixture
def paid_run(manager_pat, freelancer_fay, worker_alice, django_capture_on_commit_callbacks):
    """A done run paying a freelancer and a vendor worker on manager_pat's project."""
    project = factories.project_create(manager_pat, rate=Decimal("0.10"))
    judge(freelancer_fay, project, 5)
    judge(worker_alice, project, 7)
    response = post_run(manager_pat, days_ago(2), days_ago(0.5), django_capture_on_commit_callbacks)
    return response.json()["id"]


def actor(name, request):
    return None if name == "anonymous" else request.getfixturevalue(name)


def client_of(user):
    if user is None:
        return api_client()
    return api_client(user.user if hasattr(user, "user") else user)


# (method, path template, actor, expected status); {run}, {vendor}, {other_vendor}, {line}
MATRIX = [
    *[
        (method, path, "anonymous", 401)
        for method, path in [
            ("get", RUNS),
            ("post", RUNS),
            ("get", RUNS + "{run}/"),
            ("get", RUNS + "{run}/lines/"),
            ("get", "/api/v1/me/earnings/"),
            ("get", "/api/v1/vendors/{vendor}/invoices/"),
            ("post", PAYOUTS),
            ("get", BALANCES),
        ]
    ],
    *[
        (method, path, role, 403)
        for role in ("worker_alice", "vendor_admin_acme")
        for method, path in [
            ("get", RUNS),
            ("post", RUNS),
            ("get", RUNS + "{run}/"),
            ("get", RUNS + "{run}/lines/"),
            ("post", PAYOUTS),
            ("get", BALANCES),
        ]
    ],
    ("get", "/api/v1/me/earnings/", "vendor_admin_acme", 403),
    ("get", "/api/v1/me/earnings/", "manager_pat", 403),
    ("get", "/api/v1/vendors/{vendor}/invoices/", "manager_pat", 403),
    ("get", "/api/v1/vendors/{vendor}/invoices/", "worker_alice", 403),
    ("get", BALANCES, "manager_pat", 403),
    ("get", "/api/v1/vendors/{other_vendor}/invoices/", "vendor_admin_acme", 404),
    ("get", "/api/v1/vendors/{vendor}/invoices/", "vendor_admin_acme", 200),
    ("get", "/api/v1/vendors/{other_vendor}/invoices/", "staff_sam", 200),
    ("get", RUNS + "999999/", "manager_pat", 404),
    ("get", RUNS + "{run}/", "manager_pat", 200),
    ("get", "/api/v1/me/earnings/", "worker_alice", 200),
    ("get", "/api/v1/me/earnings/", "staff_sam", 200),
    ("get", BALANCES, "staff_sam", 200),
]


@pytest.mark.parametrize(("method", "path", "who", "expected"), MATRIX)
def test_access(paid_run, vendor_globex, worker_alice, request, method, path, who, expected):
    url = path.format(
        run=paid_run,
        vendor=worker_alice.center.vendor_id,
        other_vendor=vendor_globex.pk,
    )
    response = getattr(client_of(actor(who, request)), method)(url, {}, format="json")

    assert response.status_code == expected, response.content


def test_a_manager_sees_every_run_but_only_the_lines_of_projects_they_manage(
    paid_run, manager_pat, staff_sam
):
    other = factories.ManagerFactory()

    assert api_client(other).get(RUNS).json()["count"] == 1
    assert api_client(other).get(f"{RUNS}{paid_run}/lines/").json()["count"] == 0
    assert api_client(manager_pat).get(f"{RUNS}{paid_run}/lines/").json()["count"] == 2
    assert api_client(staff_sam).get(f"{RUNS}{paid_run}/lines/").json()["count"] == 2


def test_a_manager_sees_run_totals_of_the_projects_they_manage_only(
    manager_pat, staff_sam, freelancer_fay, worker_alice, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    other = factories.ManagerFactory()
    mine = factories.project_create(manager_pat, rate=Decimal("0.10"))
    mine_in_euro = factories.project_create(
        manager_pat, name="Euro", currency="EUR", rate=Decimal("1")
    )
    theirs = factories.project_create(other, name="Theirs", rate=Decimal("3.00"))
    judge(freelancer_fay, mine, 5)
    judge(worker_alice, mine, 2)
    judge(freelancer_fay, mine_in_euro, 3)
    judge(worker_alice, theirs, 7)
    start, end = days_ago(2), days_ago(0.5)
    run_id = post_run(manager_pat, start, end, capture).json()["id"]

    def totals(user):
        client = api_client(user)
        listed = client.get(RUNS).json()["results"][0]["totals"]
        detail = client.get(f"{RUNS}{run_id}/").json()["totals"]
        replay = post_run(user, start, end, capture)
        assert replay.status_code == 200
        assert listed == detail == replay.json()["totals"]
        return listed

    assert totals(manager_pat) == [
        {"currency": "EUR", "amount": "3.00"},
        {"currency": "USD", "amount": "0.70"},
    ]
    assert totals(other) == [{"currency": "USD", "amount": "21.00"}]
    assert totals(factories.ManagerFactory()) == []
    assert totals(staff_sam) == [
        {"currency": "EUR", "amount": "3.00"},
        {"currency": "USD", "amount": "21.70"},
    ]


def test_ledger_balances_are_exact_on_every_database(staff_sam, manager_pat):
    # Summed as floats, 188 entries of 7,560,170,010.31 and one taking them back but 0.01
    # show 0.02.
    run = PayrollRun.objects.create(start=days_ago(3), end=days_ago(2), created_by=manager_pat)
    many, back = (
        Account.objects.create(name="many", currency="USD"),
        Account.objects.create(name="back", currency="USD"),
    )
    step = Decimal("7560170010.31")
    LedgerEntry.objects.bulk_create(
        [LedgerEntry(account=many, amount=step, run=run) for _ in range(188)]
        + [
            LedgerEntry(account=many, amount=-step * 188 + Decimal("0.01"), run=run),
            LedgerEntry(account=back, amount=Decimal("-0.01"), run=run),
        ]
    )

    rows = api_client(staff_sam).get(BALANCES).json()["results"]

    assert {row["account"]: row["balance"] for row in rows} == {"many": "0.01", "back": "-0.01"}


def test_a_worker_sees_only_their_own_earnings(paid_run, worker_alice, freelancer_fay):
    rows = api_client(worker_alice.user).get("/api/v1/me/earnings/").json()["results"]

    assert [(row["worker"], row["judgments"], row["amount"]) for row in rows] == [
        (worker_alice.pk, 7, "0.70")
    ]
    assert rows[0]["payee"] == "vendor"


def test_a_vendor_admin_sees_their_invoices_itemised(
    paid_run, vendor_admin_acme, worker_alice, center_manila
):
    body = (
        api_client(vendor_admin_acme)
        .get(f"/api/v1/vendors/{center_manila.vendor_id}/invoices/")
        .json()
    )

    (invoice,) = body["results"]
    assert {key: invoice[key] for key in ("vendor", "run", "currency", "amount", "payout")} == {
        "vendor": center_manila.vendor_id,
        "run": paid_run,
        "currency": "USD",
        "amount": "0.70",
        "payout": None,
    }
    assert [
        (line["worker"], line["center"], line["amount"], line["invoice"])
        for line in invoice["lines"]
    ] == [(worker_alice.pk, center_manila.pk, "0.70", invoice["id"])]


def test_lines_filter_by_worker_and_payee(paid_run, manager_pat, freelancer_fay):
    client = api_client(manager_pat)

    by_worker = client.get(f"{RUNS}{paid_run}/lines/", {"worker": freelancer_fay.pk}).json()
    by_payee = client.get(f"{RUNS}{paid_run}/lines/", {"payee": "vendor"}).json()

    assert [row["worker"] for row in by_worker["results"]] == [freelancer_fay.pk]
    assert [row["payee"] for row in by_payee["results"]] == ["vendor"]


def test_lines_and_invoices_export_as_csv(paid_run, manager_pat, vendor_admin_acme, center_manila):
    lines = api_client(manager_pat).get(f"{RUNS}{paid_run}/lines/", {"format": "csv"})
    invoices = api_client(vendor_admin_acme).get(
        f"/api/v1/vendors/{center_manila.vendor_id}/invoices/", {"format": "csv"}
    )

    assert lines["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(lines.streaming_content).decode())))
    assert sorted(row["amount"] for row in rows) == ["0.50", "0.70"]
    assert {"accuracy", "multiplier", "rate", "payee", "vendor", "center"} <= set(rows[0])
    rows = list(csv.DictReader(io.StringIO(b"".join(invoices.streaming_content).decode())))
    invoice = Invoice.objects.get()
    assert [(row["invoice"], row["amount"]) for row in rows] == [(str(invoice.pk), "0.70")]


def test_a_correction_exports_as_a_negative_number_not_as_text(
    paid_run, manager_pat, freelancer_fay, django_capture_on_commit_callbacks
):
    rejected = Assignment.objects.filter(worker=freelancer_fay).order_by("pk")[:1]
    Assignment.objects.filter(pk__in=rejected.values("pk")).update(status="rejected")
    run = post_run(
        manager_pat, days_ago(0.5), days_ago(0.1), django_capture_on_commit_callbacks
    ).json()["id"]

    export = api_client(manager_pat).get(f"{RUNS}{run}/lines/", {"format": "csv"})

    (row,) = csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    assert (row["kind"], row["judgments"], row["amount"]) == ("correction", "-1", "-0.10")


def grow(manager, workers: int, capture) -> None:
    """Another run with more lines, to show list queries do not grow with rows."""
    project = factories.project_create(manager, name=f"More {workers}", rate=Decimal("0.10"))
    center = factories.CenterFactory()
    for worker in factories.WorkerFactory.create_batch(workers, center=center):
        judge(worker, project, 2, at=days_ago(0.4))
    for worker in factories.WorkerFactory.create_batch(workers, freelancer=True):
        judge(worker, project, 2, at=days_ago(0.4))
    post_run(manager, days_ago(0.5), days_ago(0.1), capture)


@pytest.mark.parametrize(
    ("who", "path", "queries"),
    [
        # token+user, run, count, page (lines with their payout)
        ("manager_pat", RUNS + "{run}/lines/", 4),
        ("staff_sam", RUNS + "{run}/lines/", 4),
        # token+user, count, page, the page's totals over the manager's lines
        ("manager_pat", RUNS, 4),
        # token+user, count, page (totals stored on the runs)
        ("staff_sam", RUNS, 3),
        # token+user, count, page (with payout)
        ("worker_alice", "/api/v1/me/earnings/", 3),
        # token+user, vendor, count, page (with payout), the page's lines
        ("vendor_admin_acme", "/api/v1/vendors/{vendor}/invoices/", 5),
        # token+user, count, page
        ("staff_sam", BALANCES, 3),
    ],
)
def test_list_query_counts_do_not_grow_with_rows(
    paid_run,
    center_manila,
    request,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
    who,
    path,
    queries,
):
    user = actor(who, request)
    client = client_of(user)
    url = path.format(run=paid_run, vendor=center_manila.vendor_id)
    with django_assert_num_queries(queries):
        small = client.get(url)
    manager = request.getfixturevalue("manager_pat")
    grow(manager, 6, django_capture_on_commit_callbacks)
    worker = request.getfixturevalue("worker_alice")
    judge(worker, StatementLine.objects.first().project, 3, at=days_ago(0.05))
    post_run(manager, days_ago(0.1), days_ago(0.01), django_capture_on_commit_callbacks)

    with django_assert_num_queries(queries):
        large = client.get(url)

    assert small.status_code == large.status_code == 200
