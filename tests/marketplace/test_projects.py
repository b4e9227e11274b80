"""Projects over HTTP (SPEC §3 Project, §4.5, §4.7, §5, §7, §8): every setting shown with its
effective value, bad settings refused whole, settings locked once tasks exist, the status machine,
who may see which project, and all-or-nothing bulk task creation."""

from decimal import Decimal

import pytest

from marketplace.exceptions import ProjectStateError
from marketplace.models import Project, Task
from marketplace.services import projects, tasks
from tests import factories
from tests.utils import api_client, requires_postgres
from workforce.models import Skill

PROJECTS = "/api/v1/projects/"
LABELS = ["positive", "negative", "neutral"]
BOX_LABELS = ["car", "person"]
DEFAULT_TIERS = [
    {"min_accuracy": "0.90", "multiplier": "1.10"},
    {"min_accuracy": "0.75", "multiplier": "1.00"},
    {"min_accuracy": "0.60", "multiplier": "0.50"},
]
# SPEC §3 defaults, as the API shows them.
DEFAULTS = {
    "client": "",
    "instructions": "",
    "guideline_version": 1,
    "required_skill": "",  # optional: none means anyone may work on it (SPEC: never null)
    "min_skill_level": 0,
    "languages": ["en"],
    "min_language_level": "B2",
    "overlap": 1,
    "target_confidence": 0.0,  # adaptive overlap off
    "max_overlap": 1,  # effective: the overlap
    "gold_ratio": 0.1,
    "min_gold_accuracy": 0.7,
    "min_gold_before_block": 5,
    "prior_correct": 4,
    "prior_seen": 5,
    "min_seconds_per_task": 0,
    "lease_seconds": 600,
    "max_active_assignments": 1,
    "priority": 0,
    "allowed_vendors": [],
    "currency": "USD",
    "tiers": DEFAULT_TIERS,
    "status": "draft",
}
# Shown for every task type; the type-specific ones come from TYPE_SETTINGS.
COMMON_KEYS = {
    "id",
    "name",
    "task_type",
    "managers",
    "rate",
    "created_at",
    "updated_at",
    *DEFAULTS,
}

# task_type: (settings it needs, the type-specific settings the API then shows)
TYPE_SETTINGS = {
    "classification": ({"labels": LABELS}, {"labels": LABELS}),
    "multi_label": ({"labels": LABELS}, {"labels": LABELS, "gold_threshold": 1.0}),
    "text": ({}, {"gold_threshold": 0.9}),
    "rating": (
        {"scale": {"min": 1, "max": 5}},
        {"scale": {"min": 1, "max": 5}, "gold_tolerance": 0},
    ),
    "ranking": ({}, {"gold_threshold": 1.0}),
    "bbox": ({"labels": BOX_LABELS}, {"labels": BOX_LABELS, "gold_threshold": 0.5}),
}

RESPONSES = {
    "prompt": "Which answer is better?",
    "responses": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}],
}
# task_type: (task data, a valid gold answer, its stored, normalised form)
TYPE_TASKS = {
    "classification": ({"text": "great"}, "positive", "positive"),
    "multi_label": ({"text": "meh"}, ["neutral", "positive"], ["positive", "neutral"]),
    "text": ({"audio": "a.wav"}, "hello world", "hello world"),
    "rating": ({"text": "ok"}, 4, 4),
    "ranking": (RESPONSES, ["b", "a"], ["b", "a"]),
    "bbox": (
        {"image": "a.jpg"},
        [{"label": "car", "x": 0, "y": 0, "w": 10, "h": 5}],
        [{"label": "car", "x": 0, "y": 0, "w": 10, "h": 5}],
    ),
}
ERROR_CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}


def project_url(project, action: str = "") -> str:
    return f"{PROJECTS}{project.pk}/{action + '/' if action else ''}"


def new_project_body(task_type: str = "classification", **settings) -> dict:
    return {
        "name": "Sentiment",
        "task_type": task_type,
        "languages": ["en"],
        **TYPE_SETTINGS[task_type][0],
        **settings,
    }


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert body["detail"]
    assert body["code"] == (code or ERROR_CODES[status])


def assert_names_field(response, field: str) -> None:
    """SPEC §8: a 400 is per field `{field: [...]}` or `{detail, code}` whose message names it."""
    assert response.status_code == 400, response.content
    body = response.json()
    if field in body:
        assert body[field], body
    else:
        assert set(body) == {"detail", "code"}, body
        assert field in body["detail"], body


def project_state(project) -> dict:
    """The settings a refused request could have changed."""
    row = Project.objects.filter(pk=project.pk).values().get()
    row.pop("updated_at")
    row["managers"] = sorted(
        Project.objects.get(pk=project.pk).managers.values_list("pk", flat=True)
    )
    return row


def task_rows(project) -> list[tuple]:
    return list(
        Task.objects.filter(project=project)
        .order_by("pk")
        .values_list("pk", "is_gold", "required", "status", "live_count", "done_count")
    )


def make_project(manager, **settings) -> Project:
    """factories.project_create with settings shaped as in the API (a scale is two columns)."""
    scale = settings.pop("scale", None)
    if scale is not None:
        settings |= {"scale_min": scale["min"], "scale_max": scale["max"]}
    return factories.project_create(manager, **settings)


def make_typed_project(manager, task_type: str, **settings) -> Project:
    return make_project(manager, task_type=task_type, **TYPE_SETTINGS[task_type][0], **settings)


@pytest.fixture
def manager_mo(db):
    return factories.ManagerFactory(username="manager_mo")


@pytest.fixture
def pat(manager_pat):
    return api_client(manager_pat)


def complete_one_task(project, worker) -> Task:
    """A worker claims and answers one task of the project, over HTTP."""
    client = api_client(worker.user)
    claim = client.post("/api/v1/assignments/claim/", {"project": project.pk}, format="json")
    assert claim.status_code == 201, claim.content
    answer = {"answer": "positive"}
    submit = client.post(f"/api/v1/assignments/{claim.json()['id']}/submit/", answer, format="json")
    assert submit.status_code == 200, submit.content
    return Task.objects.get(pk=claim.json()["task"]["id"])


# --- create: every setting with its effective value -------------------------------------------


@pytest.mark.parametrize("task_type", list(TYPE_SETTINGS))
def test_create_shows_every_applicable_setting_with_its_default(pat, manager_pat, task_type):
    shown = TYPE_SETTINGS[task_type][1]

    response = pat.post(PROJECTS, new_project_body(task_type, rate="0.0525"), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    # Settings of other task types are left out, the applicable ones are all there.
    assert set(body) == COMMON_KEYS | set(shown)
    assert {key: body[key] for key in DEFAULTS} == DEFAULTS
    assert {key: body[key] for key in shown} == shown
    assert [key for key, value in body.items() if value is None] == []
    assert body["task_type"] == task_type
    assert body["rate"] == "0.0525"
    assert body["managers"] == [manager_pat.pk]
    # Ratios are JSON numbers; money and tiers are decimal strings (SPEC §8).
    assert isinstance(body["gold_ratio"], float)
    project = Project.objects.get(pk=body["id"])
    assert project.created_by == manager_pat
    assert project.rate == Decimal("0.0525")
    assert project.status == Project.Status.DRAFT


@pytest.mark.parametrize("none", ["", None])
def test_a_required_skill_is_cleared_with_an_empty_slug_or_null(pat, manager_pat, none):
    factories.SkillFactory(slug="ner")
    project = factories.project_create(manager_pat, required_skill=Skill.objects.get(slug="ner"))

    response = pat.patch(project_url(project), {"required_skill": none}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["required_skill"] == ""
    project.refresh_from_db()
    assert project.required_skill is None


def test_create_keeps_given_settings(pat, manager_pat, manager_mo, vendor_acme):
    factories.SkillFactory(slug="ner")
    settings = {
        "client": "Acme AI",
        "instructions": "Tag the sentiment.",
        "required_skill": "ner",
        "min_skill_level": 40,
        "languages": ["en", "fil"],
        "min_language_level": "native",
        "overlap": 3,
        "gold_ratio": 0.25,
        "min_gold_accuracy": 0.8,
        "min_gold_before_block": 10,
        "prior_correct": 2,
        "prior_seen": 3,
        "min_seconds_per_task": 4,
        "lease_seconds": 86400,
        "max_active_assignments": 2,
        "priority": 7,
        "allowed_vendors": [vendor_acme.pk],
        "currency": "JPY",
        "tiers": [{"min_accuracy": "0.5", "multiplier": "1"}],
    }

    response = pat.post(
        PROJECTS,
        new_project_body("multi_label", managers=[manager_mo.pk], gold_threshold=0.5, **settings),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert {key: body[key] for key in settings} == settings
    assert body["gold_threshold"] == 0.5
    assert sorted(body["managers"]) == sorted([manager_pat.pk, manager_mo.pk])


def test_create_without_rate_shows_it_as_a_decimal_string(pat):
    response = pat.post(PROJECTS, new_project_body(), format="json")

    assert response.status_code == 201, response.content
    rate = response.json()["rate"]
    assert isinstance(rate, str)
    assert Decimal(rate) >= 0


def test_create_with_an_explicit_null_gold_threshold_shows_the_type_default(pat):
    response = pat.post(PROJECTS, new_project_body("text", gold_threshold=None), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["gold_threshold"] == 0.9


# --- create: bad settings ---------------------------------------------------------------------
CLASSIFICATION = {"task_type": "classification", "labels": LABELS}
RATING = {"task_type": "rating", "scale": {"min": 1, "max": 5}}


def bad(field: str, case_id: str, **settings):
    """Settings laid over a valid classification project; a None value leaves the key out."""
    return pytest.param(settings, field, id=case_id)


BAD_SETTINGS = [
    bad("overlap", "overlap 0", overlap=0),
    bad("gold_ratio", "gold_ratio 1", gold_ratio=1),
    bad("gold_ratio", "gold_ratio negative", gold_ratio=-0.1),
    bad("lease_seconds", "lease 0", lease_seconds=0),
    bad("lease_seconds", "lease over a day", lease_seconds=86401),
    bad("max_active_assignments", "max active 0", max_active_assignments=0),
    bad("labels", "duplicate labels", labels=["yes", "no", "yes"]),
    bad("labels", "empty labels", labels=[]),
    bad("labels", "no labels", labels=None),
    bad("labels", "blank label", labels=["yes", " "]),
    bad("labels", "labels on rating", **RATING, labels=["yes"]),
    bad("scale", "scale on classification", scale={"min": 1, "max": 5}),
    bad("gold_tolerance", "gold_tolerance on classification", gold_tolerance=1),
    bad("scale", "rating without scale", task_type="rating", labels=None),
    bad("scale", "rating min = max", **RATING | {"scale": {"min": 3, "max": 3}}, labels=None),
    bad("scale", "rating min > max", **RATING | {"scale": {"min": 5, "max": 1}}, labels=None),
    bad("gold_threshold", "text threshold 1.5", task_type="text", labels=None, gold_threshold=1.5),
    bad("required_skill", "unknown skill", required_skill="no-such-skill"),
    bad("languages", "language xx", languages=["xx"]),
    bad("languages", "language twice", languages=["en", "en"]),
    bad("min_language_level", "level B3", min_language_level="B3"),
    bad("rate", "rate as JSON float", rate=0.05),
    bad("rate", "rate NaN", rate="NaN"),
    bad("rate", "rate negative", rate="-1"),
    bad("rate", "rate with 5 decimals", rate="0.00001"),
    bad("currency", "currency ZZZ", currency="ZZZ"),
    bad("currency", "currency without minor unit", currency="XAU"),
    bad(
        "tiers",
        "tiers duplicate min_accuracy",
        tiers=[
            {"min_accuracy": "0.5", "multiplier": "1"},
            {"min_accuracy": "0.50", "multiplier": "2"},
        ],
    ),
    bad("tiers", "tier min_accuracy 1.5", tiers=[{"min_accuracy": "1.5", "multiplier": "1"}]),
    bad("tiers", "tier negative multiplier", tiers=[{"min_accuracy": "0.5", "multiplier": "-1"}]),
    bad("allowed_vendors", "unknown vendor", allowed_vendors=[999_999]),
    bad("prior_correct", "prior_correct above prior_seen", prior_correct=6, prior_seen=5),
]


@pytest.mark.parametrize(("settings", "field"), BAD_SETTINGS)
def test_create_with_bad_settings_is_refused_naming_the_field(pat, settings, field):
    body = {"name": "Sentiment", "languages": ["en"], **CLASSIFICATION, **settings}
    body = {key: value for key, value in body.items() if value is not None}
    before = Project.objects.count()

    response = pat.post(PROJECTS, body, format="json")

    assert_names_field(response, field)
    assert Project.objects.count() == before


# --- change settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instructions", "version"),
    [
        pytest.param("Tag the sentiment. Sarcasm is negative.", 2, id="new instructions"),
        pytest.param("Tag the sentiment.", 1, id="identical instructions"),
    ],
)
def test_patch_instructions_bumps_guideline_version_only_when_they_change(
    pat, manager_pat, instructions, version
):
    project = factories.project_create(manager_pat, instructions="Tag the sentiment.")

    response = pat.patch(project_url(project), {"instructions": instructions}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["guideline_version"] == version
    assert response.json()["instructions"] == instructions
    project.refresh_from_db()
    assert project.guideline_version == version


def test_patch_other_settings_keeps_guideline_version(pat, manager_pat):
    project = factories.project_create(manager_pat, instructions="Tag the sentiment.")

    response = pat.patch(project_url(project), {"name": "Sentiment v2"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["guideline_version"] == 1


def test_growing_overlap_reopens_complete_tasks(pat, manager_pat, worker_alice):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    factories.tasks_create(project, 2, gold=1)
    done = complete_one_task(project, worker_alice)
    assert (done.status, done.required) == (Task.Status.COMPLETE, 1)

    response = pat.patch(project_url(project), {"overlap": 3}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["overlap"] == 3
    rows = {
        (is_gold, done_count): (required, status)
        for _, is_gold, required, status, _, done_count in task_rows(project)
    }
    assert rows == {
        (False, 1): (3, Task.Status.OPEN),  # was complete: needs two more judgments
        (False, 0): (3, Task.Status.OPEN),
        (True, 0): (0, Task.Status.OPEN),  # gold is not subject to overlap
    }


def test_growing_overlap_without_tasks_is_plain(pat, manager_pat):
    project = factories.project_create(manager_pat)

    response = pat.patch(project_url(project), {"overlap": 2}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["overlap"] == 2


LOCKED_CHANGES = [
    pytest.param(CLASSIFICATION | {"overlap": 3}, {"overlap": 2}, id="overlap shrinks"),
    pytest.param(CLASSIFICATION, {"task_type": "multi_label"}, id="task_type changes"),
    pytest.param(CLASSIFICATION, {"labels": LABELS[:2]}, id="label removed"),
    pytest.param(CLASSIFICATION, {"labels": [*LABELS[1:], "positive"]}, id="labels reordered"),
    pytest.param(
        CLASSIFICATION,
        {"labels": ["positive", "mixed", "negative", "neutral"]},
        id="label inserted",
    ),
    pytest.param(RATING, {"scale": {"min": 0, "max": 5}}, id="scale changes"),
]


@pytest.mark.parametrize(("settings", "change"), LOCKED_CHANGES)
def test_answer_format_is_locked_once_tasks_exist(pat, manager_pat, settings, change):
    project = make_project(manager_pat, **settings)
    factories.tasks_create(project, 2, answer=None)
    before, tasks_before = project_state(project), task_rows(project)

    response = pat.patch(project_url(project), change, format="json")

    assert_error(response, 409, "project_setting_locked")
    assert project_state(project) == before
    assert task_rows(project) == tasks_before


@pytest.mark.parametrize(
    ("settings", "change"),
    [
        pytest.param(CLASSIFICATION, {"labels": [*LABELS, "mixed"]}, id="label appended"),
        pytest.param(CLASSIFICATION, {"labels": LABELS}, id="same labels"),
        pytest.param(CLASSIFICATION, {"task_type": "classification"}, id="same task_type"),
        pytest.param(RATING, {"scale": {"min": 1, "max": 5}}, id="same scale"),
    ],
)
def test_answer_format_may_grow_or_stay_once_tasks_exist(pat, manager_pat, settings, change):
    project = make_project(manager_pat, **settings)
    factories.tasks_create(project, 2, answer=None)

    response = pat.patch(project_url(project), change, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert {key: body[key] for key in change} == change


@pytest.mark.parametrize(
    ("settings", "change", "stale"),
    [
        pytest.param(
            CLASSIFICATION,
            RATING | {"gold_tolerance": 0.5},
            {"labels": []},
            id="classification to rating",
        ),
        pytest.param(
            RATING | {"gold_tolerance": 0.5},
            {"task_type": "text"},
            {"scale_min": None, "scale_max": None, "gold_tolerance": 0},
            id="rating to text",
        ),
        pytest.param(
            {"task_type": "multi_label", "labels": LABELS, "gold_threshold": 0.5},
            {"task_type": "classification"},
            {"gold_threshold": None},
            id="multi_label to classification",
        ),
        pytest.param(
            {"task_type": "bbox", "labels": BOX_LABELS},
            {"task_type": "ranking"},
            {"labels": []},
            id="bbox to ranking",
        ),
    ],
)
def test_task_type_changes_without_tasks_and_drops_stale_settings(
    pat, manager_pat, settings, change, stale
):
    project = make_project(manager_pat, **settings)

    response = pat.patch(project_url(project), change, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    task_type = change["task_type"]
    assert body["task_type"] == task_type
    assert set(body) == COMMON_KEYS | set(TYPE_SETTINGS[task_type][1])
    project.refresh_from_db()
    assert {name: getattr(project, name) for name in stale} == stale


def test_patch_refuses_settings_of_another_task_type(pat, manager_pat):
    project = factories.project_create(manager_pat)
    before = project_state(project)

    response = pat.patch(project_url(project), {"scale": {"min": 1, "max": 5}}, format="json")

    assert_names_field(response, "scale")
    assert project_state(project) == before


def test_adding_a_manager_gives_them_access(pat, manager_pat, manager_mo):
    project = factories.project_create(manager_pat)
    mo = api_client(manager_mo)
    assert mo.get(project_url(project)).status_code == 404

    response = pat.patch(project_url(project), {"managers": [manager_mo.pk]}, format="json")

    assert response.status_code == 200, response.content
    assert sorted(response.json()["managers"]) == sorted([manager_pat.pk, manager_mo.pk])
    assert mo.get(project_url(project)).status_code == 200
    assert [row["id"] for row in mo.get(PROJECTS).json()["results"]] == [project.pk]
    assert mo.post(project_url(project, "pause")).json()["status"] == "paused"


def test_a_project_created_with_managers_is_theirs_too(pat, manager_mo):
    response = pat.post(PROJECTS, new_project_body(managers=[manager_mo.pk]), format="json")

    assert response.status_code == 201, response.content
    assert api_client(manager_mo).get(f"{PROJECTS}{response.json()['id']}/").status_code == 200


# --- transitions --------------------------------------------------------------------------------
OK, CONFLICT = 200, 409
# (start status, action) → end status, or CONFLICT. SPEC §8: publish also resumes a paused
# project, complete from active or paused, archive from any state; asking for the status the
# project already has is idempotent.
TRANSITIONS = {
    ("draft", "publish"): "active",
    ("active", "publish"): "active",
    ("paused", "publish"): "active",
    ("completed", "publish"): CONFLICT,
    ("archived", "publish"): CONFLICT,
    ("draft", "pause"): CONFLICT,
    ("active", "pause"): "paused",
    ("paused", "pause"): "paused",
    ("completed", "pause"): CONFLICT,
    ("archived", "pause"): CONFLICT,
    ("draft", "complete"): CONFLICT,
    ("active", "complete"): "completed",
    ("paused", "complete"): "completed",
    ("completed", "complete"): "completed",
    ("archived", "complete"): CONFLICT,
    **{(status, "archive"): "archived" for status in Project.Status.values},
}


@pytest.mark.parametrize(
    ("start", "action", "end"),
    [
        pytest.param(start, action, end, id=f"{action} {start}")
        for (start, action), end in TRANSITIONS.items()
    ],
)
def test_transition(pat, manager_pat, start, action, end):
    project = factories.project_create(manager_pat, status=start)

    response = pat.post(project_url(project, action))

    if end == CONFLICT:
        assert_error(response, 409, "project_state_conflict")
        end = start
    else:
        assert response.status_code == OK, response.content
        assert response.json()["status"] == end
        assert response.json()["id"] == project.pk
    project.refresh_from_db()
    assert project.status == end


def test_every_status_and_action_is_in_the_transition_table():
    actions = {"publish", "pause", "complete", "archive"}
    assert set(TRANSITIONS) == {(s, a) for s in Project.Status.values for a in actions}


def test_an_archived_project_cannot_change_settings(pat, manager_pat):
    project = factories.project_create(manager_pat, status="archived")
    before = project_state(project)

    response = pat.patch(project_url(project), {"name": "Revived"}, format="json")

    assert_error(response, 409, "project_state_conflict")
    assert project_state(project) == before


# --- access (SPEC §4.7) -----------------------------------------------------------------------
NEW_TASKS = [{"data": {"text": "new"}}]
# (method, action, body, status for someone who may use it) on one project.
PROJECT_ENDPOINTS = [
    pytest.param("get", "", None, 200, id="GET project"),
    pytest.param("patch", "", {"name": "Renamed"}, 200, id="PATCH project"),
    pytest.param("post", "publish", None, 200, id="publish"),
    pytest.param("post", "pause", None, 200, id="pause"),
    pytest.param("post", "complete", None, 200, id="complete"),
    pytest.param("post", "archive", None, 200, id="archive"),
    pytest.param("post", "tasks", NEW_TASKS, 201, id="POST tasks"),
]
# actor fixture → expected status, or None for "allowed".
ACTORS = {
    "manager_pat": None,
    "staff_sam": None,
    "manager_mo": 404,  # not one of the project's managers: as if it did not exist
    "worker_alice": 403,
    "vendor_admin_acme": 403,
    "anonymous": 401,
}


@pytest.fixture
def client_of(request):
    def client(actor: str):
        if actor == "anonymous":
            return request.getfixturevalue("anonymous")
        user = request.getfixturevalue(actor)
        return api_client(getattr(user, "user", user))  # a Worker stands for its user

    return client


@pytest.fixture
def pat_project(manager_pat):
    project = factories.project_create(manager_pat)
    factories.tasks_create(project, 2)
    return project


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize(("method", "action", "body", "ok"), PROJECT_ENDPOINTS)
def test_project_endpoint_access(client_of, pat_project, actor, method, action, body, ok):
    client = client_of(actor)
    before, tasks_before = project_state(pat_project), task_rows(pat_project)

    response = getattr(client, method)(project_url(pat_project, action), body, format="json")

    refused = ACTORS[actor]
    if refused is None:
        assert response.status_code == ok, response.content
    else:
        assert_error(response, refused)
        assert project_state(pat_project) == before
        assert task_rows(pat_project) == tasks_before


@pytest.mark.parametrize(
    ("actor", "list_status", "create_status", "sees_pat_project"),
    [
        ("manager_pat", 200, 201, True),
        ("staff_sam", 200, 201, True),
        ("manager_mo", 200, 201, False),
        ("worker_alice", 403, 403, False),
        ("vendor_admin_acme", 403, 403, False),
        ("anonymous", 401, 401, False),
    ],
)
def test_projects_collection_access(
    client_of, pat_project, actor, list_status, create_status, sees_pat_project
):
    client = client_of(actor)
    before = Project.objects.count()

    listed = client.get(PROJECTS)
    created = client.post(PROJECTS, new_project_body(), format="json")

    assert listed.status_code == list_status, listed.content
    assert created.status_code == create_status, created.content
    if list_status == 200:
        ids = {row["id"] for row in listed.json()["results"]}
        assert (pat_project.pk in ids) == sees_pat_project
    else:
        assert_error(listed, list_status)
        assert_error(created, create_status)
        assert Project.objects.count() == before


def test_a_manager_lists_only_the_projects_they_manage(manager_pat, manager_mo):
    mine = [factories.project_create(manager_pat, name=f"pat {n}") for n in range(2)]
    factories.project_create(manager_mo, name="mo")

    response = api_client(manager_pat).get(PROJECTS)

    assert response.status_code == 200, response.content
    assert sorted(row["id"] for row in response.json()["results"]) == [p.pk for p in mine]


@pytest.mark.parametrize("count", [2, 20])
def test_project_list_is_paginated_in_constant_queries(
    manager_pat, manager_mo, vendor_acme, django_assert_num_queries, count
):
    skill = factories.SkillFactory(slug="ner")
    for n in range(count):
        project = factories.project_create(
            manager_pat,
            name=f"p{n}",
            languages=["en", "fil"],
            allowed_vendors=[vendor_acme.pk],
            required_skill=skill,
        )
        project.managers.add(manager_mo)
    client = api_client(manager_pat)

    # 1 token and user, 2 count, 3 the page (with required_skill joined), then one prefetch
    # each for 4 languages, 5 allowed_vendors and 6 managers.
    with django_assert_num_queries(6):
        response = client.get(PROJECTS)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == count
    assert len(body["results"]) == count
    first = body["results"][0]
    assert (first["languages"], first["allowed_vendors"], first["required_skill"]) == (
        ["en", "fil"],
        [vendor_acme.pk],
        "ner",
    )
    assert sorted(first["managers"]) == sorted([manager_pat.pk, manager_mo.pk])


def test_project_list_pages_and_filters(pat, manager_pat):
    for n in range(3):
        factories.project_create(manager_pat, name=f"active {n}")
    draft = factories.project_create(manager_pat, name="draft", status="draft")
    text = factories.project_create(manager_pat, task_type="text", status="draft")

    page = pat.get(PROJECTS, {"page_size": 2}).json()
    drafts = pat.get(PROJECTS, {"status": "draft"}).json()
    texts = pat.get(PROJECTS, {"task_type": "text"}).json()

    assert (page["count"], len(page["results"]), page["previous"]) == (5, 2, None)
    assert page["next"] is not None
    assert sorted(row["id"] for row in drafts["results"]) == [draft.pk, text.pk]
    assert [row["id"] for row in texts["results"]] == [text.pk]


# --- tasks ------------------------------------------------------------------------------------


def tasks_url(project) -> str:
    return project_url(project, "tasks")


@pytest.mark.parametrize("task_type", list(TYPE_TASKS))
def test_post_tasks_stores_regular_and_gold_rows(pat, manager_pat, task_type):
    project = make_typed_project(manager_pat, task_type, overlap=3)
    data, gold, stored_gold = TYPE_TASKS[task_type]
    rows = [
        {"data": data},
        {"data": data, "gold_answer": gold},
        {"data": data, "gold_answer": None},
    ]

    response = pat.post(tasks_url(project), rows, format="json")

    assert response.status_code == 201, response.content
    assert response.json() == {"created": 3}
    stored = list(
        Task.objects.filter(project=project)
        .order_by("pk")
        .values_list("data", "is_gold", "gold_answer", "required", "status")
    )
    assert stored == [
        (data, False, None, 3, "open"),
        (data, True, stored_gold, 0, "open"),
        (data, False, None, 3, "open"),
    ]


BAD_GOLD = [
    ("classification", {"text": "x"}, "maybe", "gold_answer"),
    ("classification", {"text": "x"}, ["positive"], "gold_answer"),
    ("multi_label", {"text": "x"}, ["positive", "positive"], "gold_answer"),
    ("multi_label", {"text": "x"}, ["mixed"], "gold_answer"),
    ("text", {"audio": "a.wav"}, "  \n ", "gold_answer"),
    ("text", {"audio": "a.wav"}, 7, "gold_answer"),
    ("rating", {"text": "x"}, 6, "gold_answer"),
    ("rating", {"text": "x"}, 0.5, "gold_answer"),
    ("rating", {"text": "x"}, True, "gold_answer"),
    ("rating", {"text": "x"}, "4", "gold_answer"),
    ("ranking", RESPONSES, ["a"], "gold_answer"),
    ("ranking", RESPONSES, ["a", "c"], "gold_answer"),
    ("ranking", RESPONSES, ["a", "a"], "gold_answer"),
    ("ranking", {"prompt": "no responses"}, ["a", "b"], "data"),
    ("ranking", {"responses": [{"id": "a", "text": "A"}]}, ["a"], "data"),
    ("bbox", {"image": "a.jpg"}, [{"label": "car", "x": 0, "y": 0, "w": 0, "h": 5}], "gold_answer"),
    ("bbox", {"image": "a.jpg"}, [{"label": "bus", "x": 0, "y": 0, "w": 1, "h": 5}], "gold_answer"),
    ("bbox", {"image": "a.jpg"}, [{"label": "car", "x": 0, "y": 0, "w": 1}], "gold_answer"),
]


@pytest.mark.parametrize(
    ("task_type", "data", "gold", "field"),
    [pytest.param(*case, id=f"{case[0]} {case[2]!r}") for case in BAD_GOLD],
)
def test_post_tasks_refuses_an_invalid_gold_answer_or_data(
    pat, manager_pat, task_type, data, gold, field
):
    project = make_typed_project(manager_pat, task_type)
    good = {"data": TYPE_TASKS[task_type][0], "gold_answer": TYPE_TASKS[task_type][1]}

    response = pat.post(
        tasks_url(project), [good, {"data": data, "gold_answer": gold}], format="json"
    )

    assert response.status_code == 400, response.content
    errors = response.json()
    assert len(errors) == 2
    assert errors[0] == {}
    assert list(errors[1]) == [field]
    assert errors[1][field][0]
    assert not Task.objects.filter(project=project).exists()


def test_post_tasks_is_all_or_nothing_with_errors_aligned_to_the_rows(pat, manager_pat):
    project = factories.project_create(manager_pat)
    rows = [{"data": {"text": f"item {n}"}} for n in range(1000)]
    rows[10] = {"data": {"text": "gold"}, "gold_answer": "sarcastic"}  # not one of the labels
    rows[987] = {"data": "just a string"}

    response = pat.post(tasks_url(project), rows, format="json")

    assert response.status_code == 400, response.content
    errors = response.json()
    assert isinstance(errors, list)
    assert len(errors) == 1000
    assert {n: row for n, row in enumerate(errors) if row} == {
        10: {"gold_answer": [errors[10]["gold_answer"][0]]},
        987: {"data": [errors[987]["data"][0]]},
    }
    assert "sarcastic" in errors[10]["gold_answer"][0]
    assert not Task.objects.filter(project=project).exists()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"data": {"text": "one"}}, id="an object, not a list"),
        pytest.param("tasks", id="a string"),
        pytest.param([], id="empty list"),
    ],
)
def test_post_tasks_needs_a_non_empty_list(pat, manager_pat, body):
    project = factories.project_create(manager_pat)

    response = pat.post(tasks_url(project), body, format="json")

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"detail", "code"}
    assert not Task.objects.filter(project=project).exists()


@pytest.mark.parametrize(
    ("row", "field"),
    [
        pytest.param(
            {"data": {"text": "x"}, "answer": "positive"}, "non_field_errors", id="unknown key"
        ),
        pytest.param({"gold_answer": "positive"}, "data", id="no data"),
        pytest.param({"data": ["x"]}, "data", id="data a list"),
        pytest.param("x", "non_field_errors", id="row not an object"),
    ],
)
def test_post_tasks_refuses_a_malformed_row(pat, manager_pat, row, field):
    project = factories.project_create(manager_pat)

    response = pat.post(tasks_url(project), [{"data": {"text": "ok"}}, row], format="json")

    assert response.status_code == 400, response.content
    errors = response.json()
    assert errors[0] == {}
    assert errors[1][field]
    assert not Task.objects.filter(project=project).exists()


@pytest.mark.parametrize(
    ("count", "status"),
    [pytest.param(10_000, 201, id="10,000 rows"), pytest.param(10_001, 400, id="10,001 rows")],
)
def test_post_tasks_takes_at_most_10000_rows(pat, manager_pat, count, status):
    project = factories.project_create(manager_pat)
    rows = [{"data": {"n": n}} for n in range(count)]

    response = pat.post(tasks_url(project), rows, format="json")

    assert response.status_code == status, response.content
    assert Task.objects.filter(project=project).count() == (count if status == 201 else 0)


@pytest.mark.parametrize("status", ["draft", "active", "paused"])
def test_post_tasks_to_an_open_project(pat, manager_pat, status):
    project = factories.project_create(manager_pat, status=status)

    response = pat.post(tasks_url(project), NEW_TASKS, format="json")

    assert response.status_code == 201, response.content
    assert Task.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("status", ["completed", "archived"])
def test_post_tasks_to_a_closed_project_is_a_conflict(pat, manager_pat, status):
    project = factories.project_create(manager_pat, status=status)

    response = pat.post(tasks_url(project), NEW_TASKS, format="json")

    assert_error(response, 409, "project_state_conflict")
    assert not Task.objects.filter(project=project).exists()


@pytest.mark.parametrize(
    ("row", "field"),
    [
        pytest.param({"data": {"text": "a\u0000b"}}, "data", id="NUL in data"),
        pytest.param({"data": {"a\u0000": "b"}}, "data", id="NUL in a data key"),
        pytest.param(
            {"data": {"t": "x"}, "source": {"id": "a\u0000"}}, "source", id="NUL in source"
        ),
    ],
)
def test_post_tasks_refuses_json_the_database_cannot_store(pat, manager_pat, row, field):
    # PostgreSQL's jsonb cannot hold U+0000: refused up front as a 400, the same on every
    # database, rather than a 500 at insert time.
    project = factories.project_create(manager_pat)

    response = pat.post(tasks_url(project), [{"data": {"text": "ok"}}, row], format="json")

    assert response.status_code == 400, response.content
    good, bad_row = response.json()
    assert good == {}
    assert field in str(bad_row)  # its key, or a refusal of the key itself
    assert not Task.objects.filter(project=project).exists()


@requires_postgres
@pytest.mark.parametrize("count", [10, 2000])
def test_post_tasks_in_constant_queries(pat, manager_pat, django_assert_num_queries, count):
    project = factories.project_create(manager_pat)
    rows = [{"data": {"n": n}} for n in range(count)]

    # 1 token and user, 2 the project (access), 3 savepoint, 4 the project locked,
    # 5 one multi-row INSERT (SQLite would split it), 6 the project marked changed (for the
    # stats refresh), 7 release.
    with django_assert_num_queries(7):
        response = pat.post(tasks_url(project), rows, format="json")

    assert response.status_code == 201, response.content
    assert Task.objects.filter(project=project).count() == count


# --- interleavings ------------------------------------------------------------------------------
# A request reads its project, then writes. Another request can change the project in between:
# each test below replays such an interleaving in order, with the first request's stale copy.


def pause(project):
    projects.project_transition(project=project, action="pause")


def edit_instructions(project):
    projects.project_update(project=project, changes={"instructions": "Edited by another"})


@pytest.mark.parametrize(
    ("concurrent", "expected"),
    [
        pytest.param(pause, {"status": "paused", "guideline_version": 2}, id="pause"),
        pytest.param(edit_instructions, {"guideline_version": 3}, id="instructions edit"),
    ],
)
def test_a_settings_change_keeps_what_changed_since_it_read_the_project(
    manager_pat, concurrent, expected
):
    project = factories.project_create(manager_pat, instructions="v1")
    stale = Project.objects.get(pk=project.pk)

    concurrent(Project.objects.get(pk=project.pk))
    projects.project_update(project=stale, changes={"instructions": "Edited"})

    row = Project.objects.filter(pk=project.pk).values(*expected).get()
    assert row == expected


def grow_overlap(project):
    projects.project_update(project=project, changes={"overlap": 3})


def complete(project):
    projects.project_transition(project=project, action="complete")


def test_tasks_added_while_overlap_grows_need_the_new_overlap(manager_pat):
    project = factories.project_create(manager_pat)
    stale = Project.objects.get(pk=project.pk)

    grow_overlap(Project.objects.get(pk=project.pk))
    tasks.task_bulk_create(project=stale, rows=NEW_TASKS)

    assert list(Task.objects.filter(project=project).values_list("required", flat=True)) == [3]


def test_tasks_are_not_added_to_a_project_completed_meanwhile(manager_pat):
    project = factories.project_create(manager_pat)
    stale = Project.objects.get(pk=project.pk)

    complete(Project.objects.get(pk=project.pk))

    with pytest.raises(ProjectStateError):
        tasks.task_bulk_create(project=stale, rows=NEW_TASKS)
    assert not Task.objects.filter(project=project).exists()
