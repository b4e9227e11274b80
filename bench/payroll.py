"""Payroll run over 1,000,000 judgments by 5,000 workers in 20 projects (BENCHMARKS.md).

Builds a fresh PostgreSQL database: 5,000 workers (1,000 freelancers, 4,000 vendor workers in
40 centers of 10 vendors), 20 projects in USD, EUR and JPY with the default tiers, and
1,000,000 judgments in set-based SQL — one in ten a gold check passed at the worker's own
accuracy, 2% rejected and 1% untrusted (not payable; failed checks, answered too fast), all
submitted in the last week. Then runs the product's payroll job
(billing.services.runs.payroll_run_execute) in a child process over that week and prints its
wall time and the child's peak RSS; twice, on emptied billing tables, reporting the median. Before printing it checks: every payable judgment paid exactly once,
lines add up to the run's totals and to the invoices, lines count every gold check of the
period, and the ledger balances per currency.

    .venv/bin/python bench/payroll.py [--judgments 1000000] [--workers 5000] [--projects 20]
"""

import argparse
import statistics
import sys
import time

import benchdb
import psycopg

DATABASE = "bench_payroll"
DSN = benchdb.url(DATABASE)
FREELANCER_SHARE = 5  # one worker in five is a freelancer
CENTERS = 40
VENDORS = 10
CURRENCIES = ["USD", "EUR", "JPY"]


def load(judgments: int, workers: int, projects: int) -> None:
    """Synthetic workforce, projects and judgments, in set-based SQL."""
    with psycopg.connect(DSN, autocommit=True) as db:
        benchdb.insert_users(db, workers)
        db.execute(
            "INSERT INTO workforce_vendor (name, country, status, created_at, "
            "status_changed_at) SELECT 'vendor ' || g, 'PH', 'approved', now(), now() "
            "FROM generate_series(1, %s) g",
            [VENDORS],
        )
        db.execute(
            "INSERT INTO workforce_deliverycenter (vendor_id, name, country, city, timezone, "
            "languages, seats, status, created_at) SELECT v.id, 'center ' || g, 'PH', 'Manila', "
            "'Asia/Manila', '[\"en\"]', 100, 'active', now() FROM generate_series(1, %s) g "
            "JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM workforce_vendor) v "
            "ON v.n = g %% %s",
            [CENTERS, VENDORS],
        )
        db.execute(
            "INSERT INTO workforce_worker (user_id, kind, center_id, status, created_at) "
            "SELECT u.id, CASE WHEN c.id IS NULL THEN 'freelancer' ELSE 'vendor' END, c.id, "
            "'active', now() FROM (SELECT id, row_number() OVER (ORDER BY id) AS n "
            "FROM workforce_user WHERE role = 'worker') u LEFT JOIN (SELECT id, "
            "row_number() OVER (ORDER BY id) - 1 AS n FROM workforce_deliverycenter) c "
            "ON u.n %% %s <> 0 AND c.n = u.n %% %s",
            [FREELANCER_SHARE, CENTERS],
        )
        db.execute(
            "INSERT INTO marketplace_project (name, client, instructions, guideline_version, "
            "task_type, labels, min_skill_level, min_language_level, overlap, gold_ratio, "
            "min_gold_accuracy, min_gold_before_block, prior_correct, prior_seen, "
            "gold_tolerance, min_seconds_per_task, lease_seconds, max_active_assignments, "
            "priority, currency, rate, tiers, status, kind, target_confidence, created_by_id, "
            "created_at, updated_at) SELECT 'bench ' || g, '', '', 1, 'classification', "
            '\'["a", "b"]\', 0, 4, 1, 0.1, 0.7, 5, 4, 5, 0, 0, 600, 1, 0, '
            "(ARRAY['USD', 'EUR', 'JPY'])[g %% 3 + 1], "
            "CASE WHEN g %% 3 = 2 THEN 5 + g ELSE 0.0125 * g END, "
            '\'[{"min_accuracy": "0.90", "multiplier": "1.10"}, '
            '{"min_accuracy": "0.75", "multiplier": "1.00"}, '
            '{"min_accuracy": "0.60", "multiplier": "0.50"}]\', \'active\', \'work\', 0, '
            "u.id, now(), now() FROM generate_series(1, %s) g "
            "JOIN workforce_user u ON u.username = 'bench_manager'",
            [projects],
        )
        # Each worker's accuracy, uniform in [0.5, 1): every tier (and no tier) is reached.
        db.execute(
            "CREATE TABLE bench_worker AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS n, "
            "0.5 + random() / 2 AS accuracy FROM workforce_worker"
        )
        db.execute(
            "CREATE TABLE bench_project AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS n "
            "FROM marketplace_project"
        )
        # One task per judgment (overlap 1): judgment g by worker g mod W on project g mod P.
        db.execute(
            "INSERT INTO marketplace_task (project_id, data, is_gold, shuffle, status, "
            "required, live_count, done_count, created_at) SELECT p.id, '{}'::jsonb, "
            "g %% 10 = 0, random(), 'complete', 1, 1, 1, now() FROM generate_series(0, %s - 1) g "
            "JOIN bench_project p ON p.n = g %% %s",
            [judgments, projects],
        )
        db.execute(
            "INSERT INTO marketplace_assignment (task_id, project_id, worker_id, status, "
            "is_gold, answer, check_passed, claimed_at, lease_expires_at, submitted_at, attempt) "
            "SELECT t.id, t.project_id, w.id, CASE WHEN r < 0.02 THEN 'rejected' "
            "WHEN r < 0.03 THEN 'untrusted' WHEN r < 0.3 THEN 'accepted' ELSE 'submitted' END, "
            "t.is_gold, '\"a\"', CASE WHEN t.is_gold THEN random() < w.accuracy "
            # The untrusted: a blocked worker's answers too fast, failed checks never paid.
            "WHEN r >= 0.02 AND r < 0.03 THEN false END, "
            "now() - interval '8 days', now(), now() - random() * interval '7 days', 0 "
            "FROM (SELECT id, project_id, is_gold, random() AS r, "
            "row_number() OVER (ORDER BY id) - 1 AS n FROM marketplace_task) t "
            "JOIN bench_worker w ON w.n = (t.n * 7919) %% %s",
            [workers],
        )
        db.execute("ANALYZE")


def queue_run() -> int:
    with psycopg.connect(DSN, autocommit=True) as db:
        return db.execute(
            'INSERT INTO billing_payrollrun (start, "end", status, totals, error, '
            "created_by_id, created_at) SELECT now() - interval '30 days', now(), "
            "'pending', '[]', '', id, now() FROM workforce_user WHERE username = "
            "'bench_manager' RETURNING id"
        ).fetchone()[0]


def empty_billing() -> None:
    """Billing tables emptied between repeats (TRUNCATE: the ledger refuses DELETE)."""
    with psycopg.connect(DSN, autocommit=True) as db:
        db.execute(
            "TRUNCATE billing_ledgerentry, billing_payout, billing_account, billing_reversal, "
            "billing_paidjudgment, billing_statementline, billing_invoice, billing_payrollrun"
        )
        db.execute("VACUUM ANALYZE")


def violations(run_id: int) -> list[str]:
    """Correctness of the run, in SQL; an empty list when it holds."""
    checks = {
        "payable judgments not paid exactly once": (
            "SELECT count(*) FROM marketplace_assignment a JOIN marketplace_project p ON "
            "p.id = a.project_id AND p.kind = 'work' LEFT JOIN billing_paidjudgment j ON "
            "j.assignment_id = a.id JOIN billing_payrollrun r ON r.id = %(run)s "
            "WHERE (a.status IN ('submitted', 'accepted') AND a.submitted_at >= r.start "
            "AND a.submitted_at < r.end) <> (j.assignment_id IS NOT NULL)"
        ),
        "judgments counted in lines minus judgments paid": (
            "SELECT (SELECT coalesce(sum(judgments), 0) FROM billing_statementline) "
            "- (SELECT count(*) FROM billing_paidjudgment)"
        ),
        "currencies whose ledger does not balance": (
            "SELECT count(*) FROM (SELECT a.currency FROM billing_ledgerentry e JOIN "
            "billing_account a ON a.id = e.account_id GROUP BY a.currency "
            "HAVING sum(e.amount) <> 0) x"
        ),
        "currencies whose lines differ from the run's totals": (
            "SELECT count(*) FROM (SELECT currency, sum(amount) AS s FROM "
            "billing_statementline GROUP BY currency) l FULL JOIN (SELECT t->>'currency' AS "
            "currency, (t->>'amount')::numeric AS s FROM billing_payrollrun, "
            "jsonb_array_elements(totals::jsonb) t WHERE id = %(run)s) r USING (currency) "
            "WHERE l.s IS DISTINCT FROM r.s"
        ),
        "invoices that differ from their lines": (
            "SELECT count(*) FROM billing_invoice i WHERE amount <> (SELECT sum(amount) FROM "
            "billing_statementline l WHERE l.invoice_id = i.id)"
        ),
        "vendor workers' lines not on an invoice, or freelancers' on one": (
            "SELECT count(*) FROM billing_statementline l JOIN workforce_worker w ON "
            "w.id = l.worker_id WHERE (w.kind = 'vendor') <> (l.invoice_id IS NOT NULL)"
        ),
        "pay lines whose gold counts are not every check of the period": (
            "SELECT count(*) FROM billing_statementline l LEFT JOIN (SELECT a.worker_id, "
            "a.project_id, count(*) AS seen, count(*) FILTER (WHERE a.check_passed) AS correct "
            "FROM marketplace_assignment a JOIN billing_payrollrun r ON r.id = %(run)s "
            "WHERE a.check_passed IS NOT NULL AND a.submitted_at >= r.start "
            "AND a.submitted_at < r.end GROUP BY a.worker_id, a.project_id) g "
            "ON g.worker_id = l.worker_id AND g.project_id = l.project_id "
            "WHERE l.run_id = %(run)s AND l.kind = 'pay' AND (l.gold_seen, l.gold_correct) "
            "IS DISTINCT FROM (coalesce(g.seen, 0), coalesce(g.correct, 0))"
        ),
        "project cost booked minus the lines' amounts": (
            "SELECT (SELECT coalesce(sum(e.amount), 0) FROM billing_ledgerentry e JOIN "
            "billing_account a ON a.id = e.account_id WHERE a.name LIKE 'project_cost:%%') - "
            "(SELECT coalesce(sum(amount), 0) FROM billing_statementline)"
        ),
    }
    problems = []
    with psycopg.connect(DSN) as db:
        for name, sql in checks.items():
            value = db.execute(sql, {"run": run_id}).fetchone()[0]
            if value != 0:
                problems.append(f"{name}: {value}")
    return problems


def summary(run_id: int) -> str:
    with psycopg.connect(DSN) as db:
        lines, invoices, paid = db.execute(
            "SELECT (SELECT count(*) FROM billing_statementline), (SELECT count(*) FROM "
            "billing_invoice), (SELECT count(*) FROM billing_paidjudgment)"
        ).fetchone()
        totals = db.execute(
            "SELECT totals FROM billing_payrollrun WHERE id = %s", [run_id]
        ).fetchone()[0]
    amounts = ", ".join(f"{t['currency']} {t['amount']}" for t in totals)
    return f"{paid:,} judgments paid on {lines:,} lines, {invoices} invoices; totals {amounts}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=5_000)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    options = parser.parse_args()
    benchdb.create_database(DATABASE)
    try:
        started = time.perf_counter()
        load(options.judgments, options.workers, options.projects)
        print(
            f"load: {options.judgments:,} judgments, {options.workers:,} workers, "
            f"{options.projects} projects in {time.perf_counter() - started:.1f} s"
        )
        measured = []
        for repeat in range(options.runs):
            if repeat:
                empty_billing()
            run_id = queue_run()
            seconds, rss = benchdb.run_job(
                DATABASE,
                "billing.services.runs.payroll_run_execute",
                "billing.PayrollRun",
                run_id=run_id,
            )
            problems = violations(run_id)
            if problems:
                sys.exit("invariant violations:\n  " + "\n  ".join(problems))
            measured.append((seconds, rss))
            print(f"run {repeat + 1}: {seconds:.1f} s, {rss:.0f} MB; {summary(run_id)}")
        print(
            f"payroll run seconds (median of {options.runs}): "
            f"{statistics.median(m[0] for m in measured):.1f}"
        )
        print(f"payroll run peak RSS MB (median): {statistics.median(m[1] for m in measured):.0f}")
        print("invariant violations: 0")
    finally:
        benchdb.drop_database(DATABASE)


if __name__ == "__main__":
    main()
