"""Simulates a crowd working one classification project through the real HTTP API.

What it shows: honest workers (each with an accuracy drawn from Beta(8, 2)) and spammers (uniform
random answers) run the worker loop concurrently against a running server — log in, then claim →
submit until the server answers 204 or time is up. Hidden gold questions score everyone (SPEC §6):
a spammer falls below `min_gold_accuracy` after `min_gold_before_block` gold answers and is
blocked (204 on claim), while honest workers keep going. At the end it prints throughput, status
counts and, per worker, the true accuracy, the accuracy observed against the simulator's ground
truth, and what `GET /api/v1/me/` reports (`accuracy_estimate` as of the previous UTC midnight,
`blocked` live).

Setup goes through the product's own services (vendor, approval, center, workers, manager — reused
by name, so running it again creates nothing twice) and API (project, tasks, publish). The server
must use the same database as this command (same DATABASE_URL).

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sim \\
        .venv/bin/python manage.py simulate_crowd --workers 20 --spammers 5 --seconds 60

Ground truth never reaches the server: each task's data carries an opaque `ref`; the true label
(and whether the simulator made it gold) is a keyed hash of that ref, so `--project` can reuse a
project an earlier run created.
"""

import hashlib
import http.client
import json
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from workforce import selectors, services
from workforce.models import DeliveryCenter, LanguageLevel, User, Vendor, Worker

PASSWORD = "crowd-sim-pass-123"
PREFIX = "crowdsim"
VENDOR_NAME = "Crowd Simulation BPO"
CENTER_NAME = "Simulation Center"
MANAGER = f"{PREFIX}_manager"
LABELS = ["cat", "dog", "bird"]
GOLD_SHARE = 10  # one task in GOLD_SHARE is gold
# Keys the hash that maps a task's `ref` to its true label; the server never sees it.
TRUTH_KEY = b"simulate_crowd ground truth v1"
PROJECT_SETTINGS = {
    "task_type": "classification",
    "labels": LABELS,
    "overlap": 3,
    "gold_ratio": 0.2,
    "languages": ["en"],
    "min_language_level": "B2",
    "instructions": "Which animal is in the photo? Answer one of the labels.",
}


# --- ground truth ------------------------------------------------------------------------------


def _digest(*parts: str) -> int:
    text = ":".join(parts).encode()
    return int.from_bytes(hashlib.blake2b(text, key=TRUTH_KEY, digest_size=8).digest(), "big")


def truth_of(ref: str, labels: list[str]) -> str:
    return labels[_digest(ref, "truth") % len(labels)]


def is_gold_ref(ref: str) -> bool:
    return _digest(ref, "gold") % GOLD_SHARE == 0


def make_tasks(project_name: str, count: int) -> list[dict]:
    """`count` tasks, one in GOLD_SHARE gold with gold_answer = truth; truth lives in the ref."""
    rows = []
    for index in range(count):
        want_gold = index % GOLD_SHARE == 0
        nonce = 0
        while True:  # pick a ref whose keyed hash says gold exactly when we want gold
            ref = f"{_digest(project_name, str(index), str(nonce)):016x}"
            if is_gold_ref(ref) == want_gold:
                break
            nonce += 1
        row = {"data": {"text": f"Photo {index + 1:05d}: which animal is this?", "ref": ref}}
        if want_gold:
            row["gold_answer"] = truth_of(ref, LABELS)
        rows.append(row)
    random.Random(project_name).shuffle(rows)
    return rows


# --- HTTP --------------------------------------------------------------------------------------


class Api:
    """A keep-alive JSON client on one connection (one per thread)."""

    def __init__(self, base_url: str, token: str | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise CommandError(f"--url must be http(s)://host:port, not {base_url!r}")
        connection = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self.conn = connection(parts.hostname, parts.port, timeout=60)
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        """One request. A connection that fails while the request is being sent (a kept-alive
        connection the server had closed, a full listen backlog) is retried: the server cannot
        have acted on it. A failure while waiting for the response is raised."""
        payload = None if body is None else json.dumps(body)
        for attempt in range(4):
            try:
                self.conn.request(method, self.prefix + path, body=payload, headers=self.headers)
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                if attempt == 3:
                    raise
                time.sleep(0.05 * 2**attempt)
        try:
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise
        if response.will_close:
            self.conn.close()
        if not raw:
            return response.status, None
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw[:200]

    def close(self):
        self.conn.close()


def login(base_url: str, username: str) -> str:
    api = Api(base_url)
    try:
        status, body = api.call(
            "POST", "/api/v1/auth/token/", {"username": username, "password": PASSWORD}
        )
    finally:
        api.close()
    if status != 200:
        raise CommandError(
            f"Login of {username} answered {status} {body}: is the server using the same "
            "DATABASE_URL as this command?"
        )
    return body["token"]


# --- simulated workers ------------------------------------------------------------------------


@dataclass
class SimWorker:
    username: str
    kind: str  # honest | spammer
    accuracy: float  # probability of the true label (spammers: chance)
    rng: random.Random
    token: str = ""
    answered: int = 0
    correct: int = 0
    gold_seen: int = 0
    gold_correct: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    stopped_by: str = "time"
    me: dict = field(default_factory=dict)

    def answer(self, truth: str | None, labels: list[str]) -> str:
        if self.kind == "spammer" or truth is None:
            return self.rng.choice(labels)
        if self.rng.random() < self.accuracy:
            return truth
        return self.rng.choice([label for label in labels if label != truth])


def _work(worker: SimWorker, base_url: str, project: dict, deadline: float) -> None:
    api = Api(base_url, worker.token)
    consecutive_errors = 0
    try:
        while time.monotonic() < deadline and consecutive_errors < 20:
            try:
                outcome = _claim_and_submit(worker, api, project)
            except (OSError, http.client.HTTPException) as error:
                worker.statuses["connection error"] += 1
                worker.errors.append(f"connection: {error!r}")
                outcome = "error"
            if outcome == "204":
                worker.stopped_by = "204"
                return
            if outcome == "error":
                consecutive_errors += 1
                time.sleep(0.2)
            else:
                consecutive_errors = 0
        if consecutive_errors >= 20:
            worker.stopped_by = "errors"
    finally:
        api.close()


def _claim_and_submit(worker: SimWorker, api: Api, project: dict) -> str:
    """One turn of the worker loop: "ok", "204" or "error"."""
    status, body = api.call("POST", "/api/v1/assignments/claim/", {"project": project["id"]})
    worker.statuses[f"claim {status}"] += 1
    if status == 204:
        return "204"
    if status == 409:
        # At the active-assignment limit: a claim whose response we lost still holds the slot.
        # Like a real client, pick that assignment up and answer it.
        status, page = api.call(
            "GET", f"/api/v1/assignments/?status=active&project={project['id']}"
        )
        held = page.get("results", []) if status == 200 and isinstance(page, dict) else []
        if not held:
            worker.errors.append(f"claim 409 and no active assignment: {body}")
            return "error"
        body = held[0]
    elif status != 201:
        worker.errors.append(f"claim {status} {body}")
        return "error"
    data = body["task"]["data"]
    ref = data.get("ref") if isinstance(data, dict) else None
    truth = truth_of(ref, project["labels"]) if ref else None
    answer = worker.answer(truth, project["labels"])
    status, reply = api.call(
        "POST", f"/api/v1/assignments/{body['id']}/submit/", {"answer": answer}
    )
    worker.statuses[f"submit {status}"] += 1
    if status != 200:
        worker.errors.append(f"submit {status} {reply}")
        return "error"
    if truth is not None:
        worker.answered += 1
        worker.correct += answer == truth
        if is_gold_ref(ref):
            worker.gold_seen += 1
            worker.gold_correct += answer == truth
    return "ok"


# --- the command ------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Runs simulated honest workers and spammers against a running server over HTTP."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=10, help="honest workers")
        parser.add_argument("--spammers", type=int, default=3)
        parser.add_argument("--seconds", type=float, default=30)
        parser.add_argument(
            "--project", type=int, help="reuse this project (made by an earlier run)"
        )
        parser.add_argument("--tasks", type=int, default=300, help="tasks of a new project")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **options):
        url = options["url"].rstrip("/")
        honest, spammers = options["workers"], options["spammers"]
        if honest < 0 or spammers < 0 or honest + spammers == 0:
            raise CommandError("Need at least one worker (--workers N --spammers M).")
        rng = random.Random(options["seed"])

        usernames = self._setup_accounts(honest, spammers)
        manager = Api(url, login(url, MANAGER))
        project = self._project(manager, options["project"], options["tasks"])
        crowd = [
            SimWorker(
                username=name,
                kind=kind,
                accuracy=rng.betavariate(8, 2) if kind == "honest" else 1 / len(project["labels"]),
                rng=random.Random(rng.random()),
            )
            for name, kind in usernames
        ]
        for worker in crowd:
            worker.token = login(url, worker.username)

        self.stdout.write(
            f"Project {project['id']} {project['name']!r}: overlap {project['overlap']}, "
            f"gold_ratio {project['gold_ratio']}, block below {project['min_gold_accuracy']} "
            f"after {project['min_gold_before_block']} gold. {honest} honest workers, "
            f"{spammers} spammer{'s' if spammers != 1 else ''}, up to {options['seconds']:g} s against {url}."
        )
        deadline = time.monotonic() + options["seconds"]
        started = time.monotonic()
        threads = [
            threading.Thread(target=_work, args=(worker, url, project, deadline), daemon=True)
            for worker in crowd
        ]
        for thread in threads:
            thread.start()
            time.sleep(0.01)  # a burst of N connects can overflow a dev server's listen backlog
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started

        for worker in crowd:
            api = Api(url, worker.token)
            status, body = api.call("GET", "/api/v1/me/")
            api.close()
            if status == 200:
                rows = [q for q in body.get("quality", []) if q["project"] == project["id"]]
                worker.me = rows[0] if rows else {}
        self._report(crowd, project, elapsed)

    # --- setup through the product's services -----------------------------------------------

    def _setup_accounts(self, honest: int, spammers: int) -> list[tuple[str, str]]:
        """Vendor (approved), center, workers (English native) and manager; reused by name."""
        wanted = [(f"{PREFIX}_h{n:03d}", "honest") for n in range(1, honest + 1)]
        wanted += [(f"{PREFIX}_s{n:03d}", "spammer") for n in range(1, spammers + 1)]
        with transaction.atomic():
            vendor = Vendor.objects.filter(name__iexact=VENDOR_NAME).first()
            if vendor is None:
                vendor = services.vendor_register(
                    name=VENDOR_NAME,
                    country="US",
                    admin_username=f"{PREFIX}_admin",
                    admin_email=f"{PREFIX}_admin@example.com",
                    admin_password=PASSWORD,
                )
            if vendor.status != Vendor.Status.APPROVED:
                services.vendor_status_change(vendor=vendor, to=Vendor.Status.APPROVED)
            center = DeliveryCenter.objects.filter(vendor=vendor, name=CENTER_NAME).first()
            if center is None:
                center = services.center_create(
                    vendor=vendor,
                    name=CENTER_NAME,
                    country="US",
                    city="Austin",
                    timezone="America/Chicago",
                    languages=["en"],
                    seats=1000,
                )
            taken = selectors.usernames_taken(usernames=[name for name, _ in wanted])
            missing = [name for name, _ in wanted if name not in taken]
            if missing:
                services.worker_bulk_create(
                    center=center,
                    specs=[
                        services.WorkerSpec(
                            username=name,
                            email=f"{name}@example.com",
                            password=PASSWORD,
                            languages=[("en", LanguageLevel.NATIVE)],
                        )
                        for name in missing
                    ],
                )
            if not User.objects.filter(username=MANAGER).exists():
                services.manager_create(
                    username=MANAGER, email=f"{MANAGER}@example.com", password=PASSWORD
                )
        inactive = Worker.objects.filter(
            user__username__in=[name for name, _ in wanted], status=Worker.Status.SUSPENDED
        ).count()
        self.stdout.write(
            f"Accounts: vendor {vendor.name!r} ({vendor.status}), center {center.name!r}, "
            f"{len(wanted)} workers ({len(missing)} new), manager {MANAGER}"
            + (f"; {inactive} of them suspended (they will get 204)" if inactive else "")
        )
        return wanted

    # --- the project, through the API as the manager ----------------------------------------

    def _project(self, manager: Api, project_id: int | None, tasks: int) -> dict:
        if project_id is not None:
            status, project = manager.call("GET", f"/api/v1/projects/{project_id}/")
            if status != 200:
                raise CommandError(
                    f"GET project {project_id} as {MANAGER} answered {status}: reuse a project "
                    "an earlier simulate_crowd run created."
                )
            if project["task_type"] != "classification":
                raise CommandError("--project must be a classification project.")
            if project["status"] in ("draft", "paused"):
                self._expect(manager.call("POST", f"/api/v1/projects/{project_id}/publish/"), 200)
            elif project["status"] != "active":
                raise CommandError(f"Project {project_id} is {project['status']}.")
            return project
        name = f"Crowd simulation {timezone.now():%Y-%m-%d %H:%M:%S}"
        project = self._expect(
            manager.call(
                "POST",
                "/api/v1/projects/",
                {"name": name, "client": "simulate_crowd", **PROJECT_SETTINGS},
            ),
            201,
        )
        rows = make_tasks(name, tasks)
        self._expect(manager.call("POST", f"/api/v1/projects/{project['id']}/tasks/", rows), 201)
        self._expect(manager.call("POST", f"/api/v1/projects/{project['id']}/publish/"), 200)
        gold = sum("gold_answer" in row for row in rows)
        self.stdout.write(f"Created {len(rows)} tasks ({gold} gold) and published.")
        return project

    @staticmethod
    def _expect(result: tuple[int, object], status: int):
        if result[0] != status:
            raise CommandError(f"Setup call answered {result[0]}, expected {status}: {result[1]}")
        return result[1]

    # --- report -------------------------------------------------------------------------------

    def _report(self, crowd: list[SimWorker], project: dict, elapsed: float) -> None:
        totals = Counter()
        for worker in crowd:
            totals.update(worker.statuses)
        judgments = totals["submit 200"]
        errors = sum(
            n for key, n in totals.items() if key.split()[1] not in ("200", "201", "204", "409")
        )
        conflicts = totals["claim 409"] + totals["submit 409"]
        write = self.stdout.write
        write("")
        write(
            f"Throughput: {judgments / elapsed:.1f} judgments/s ({judgments} in {elapsed:.1f} s); "
            f"claims 201: {totals['claim 201']}, 204: {totals['claim 204']}, 409: {conflicts}, "
            f"errors: {errors}"
        )
        prior_correct, prior_seen = project["prior_correct"], project["prior_seen"]
        write("")
        write(
            f"{'worker':<16} {'kind':<8} {'true acc':>8} {'observed':>9} {'answers':>7} "
            f"{'gold ok/seen':>12} {'sim est':>7} {'me: est':>7} {'blocked':>7}  stopped by"
        )
        for worker in sorted(crowd, key=lambda w: (w.kind, w.username)):
            observed = f"{worker.correct / worker.answered:.2f}" if worker.answered else "-"
            estimate = (worker.gold_correct + prior_correct) / (worker.gold_seen + prior_seen)
            me_estimate = worker.me.get("accuracy_estimate")
            write(
                f"{worker.username:<16} {worker.kind:<8} {worker.accuracy:>8.2f} {observed:>9} "
                f"{worker.answered:>7} {f'{worker.gold_correct}/{worker.gold_seen}':>12} "
                f"{estimate:>7.2f} {'-' if me_estimate is None else f'{me_estimate:.2f}':>7} "
                f"{str(worker.me.get('blocked', False)).lower():>7}  {worker.stopped_by}"
            )
        for worker in crowd:
            for error in worker.errors[:3]:
                write(f"  {worker.username}: {error}")

        write("")
        for kind, title in (("honest", "Honest workers"), ("spammer", "Spammers")):
            group = [w for w in crowd if w.kind == kind]
            if not group:
                continue
            blocked = sum(bool(w.me.get("blocked")) for w in group)
            answered = sum(w.answered for w in group)
            observed = sum(w.correct for w in group) / answered if answered else float("nan")
            write(
                f"{title:<14}: {blocked}/{len(group)} blocked; observed accuracy {observed:.2f} over "
                f"{answered} answers; median true accuracy "
                f"{statistics.median(w.accuracy for w in group):.2f}"
            )
        write(
            "`me: est` is GET /api/v1/me/ quality.accuracy_estimate, as of the previous UTC "
            "midnight (SPEC §4.3: the prior on a project's first day); `sim est` is the same "
            "formula over the gold this run saw (live); `blocked` is live."
        )
