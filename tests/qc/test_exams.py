"""Qualification exams: pass grants the skill, fail waits out the retry delay (SPEC §6)."""

import datetime

import pytest
from django.utils import timezone

from marketplace.models import Assignment
from qc.models import ExamAttempt
from tests import factories
from tests.utils import api_client
from workforce.models import Skill, WorkerSkill

CLAIM = "/api/v1/assignments/claim/"
QUESTIONS = [
    {"data": {"text": "I love it"}, "gold_answer": "positive"},
    {"data": {"text": "I hate it"}, "gold_answer": "negative"},
    {"data": {"text": "It is a chair"}, "gold_answer": "neutral"},
    {"data": {"text": "Best day ever"}, "gold_answer": "positive"},
]
EXAM = {
    "skill": "sentiment",
    "level": 60,
    "pass_mark": 0.75,
    "retry_after_hours": 12,
    "task_type": "classification",
    "labels": ["positive", "negative", "neutral"],
    "tasks": QUESTIONS,
}


@pytest.fixture
def exam(manager_pat):
    factories.SkillFactory(slug="sentiment", name="Sentiment")
    response = api_client(manager_pat).post("/api/v1/exams/", EXAM, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def take(worker, exam_id, answers) -> list[int]:
    """Claims with {exam} until 204, answering from `answers` by question text."""
    client = api_client(worker.user)
    codes = []
    while (response := client.post(CLAIM, {"exam": exam_id}, format="json")).status_code == 201:
        body = response.json()
        submitted = client.post(
            f"/api/v1/assignments/{body['id']}/submit/",
            {"answer": answers[body["task"]["data"]["text"]]},
            format="json",
        )
        codes.append(submitted.status_code)
    assert response.status_code == 204
    return codes


def right_answers(wrong: int = 0) -> dict[str, str]:
    answers = {q["data"]["text"]: q["gold_answer"] for q in QUESTIONS}
    for question in QUESTIONS[:wrong]:
        answers[question["data"]["text"]] = (
            "neutral" if question["gold_answer"] != "neutral" else "positive"
        )
    return answers


def test_a_manager_defines_an_exam(exam):
    assert exam["skill"] == "sentiment"
    assert (exam["level"], exam["pass_mark"], exam["questions"]) == (60, 0.75, 4)


def test_exam_questions_need_gold_answers(manager_pat):
    factories.SkillFactory(slug="sentiment")
    body = {**EXAM, "tasks": [*QUESTIONS[:1], {"data": {"text": "x"}}]}

    response = api_client(manager_pat).post("/api/v1/exams/", body, format="json")

    assert response.status_code == 400
    assert response.json()["tasks"][1] == {
        "gold_answer": ["Every exam question needs a gold answer."]
    }


@pytest.mark.parametrize(
    ("answer_format", "task_type", "data", "gold_answer"),
    [
        ({"labels": ["a", "b"]}, "classification", {"text": "x"}, "a"),
        ({"labels": ["a", "b"]}, "multi_label", {"text": "x"}, ["a"]),
        ({}, "text", {"audio": "x.wav"}, "hello"),
        ({"scale": {"min": 1, "max": 5}}, "rating", {"text": "x"}, 4),
        (
            {},
            "ranking",
            {"responses": [{"id": "r1", "text": "one"}, {"id": "r2", "text": "two"}]},
            ["r2", "r1"],
        ),
        (
            {"labels": ["car"]},
            "bbox",
            {"image": "x.png"},
            [{"label": "car", "x": 1, "y": 1, "w": 5, "h": 5}],
        ),
    ],
)
def test_an_exam_takes_every_task_type(manager_pat, answer_format, task_type, data, gold_answer):
    factories.SkillFactory(slug="sentiment")
    body = {name: value for name, value in EXAM.items() if name != "labels"}
    body |= {**answer_format, "task_type": task_type}
    body["tasks"] = [{"data": data, "gold_answer": gold_answer}]

    response = api_client(manager_pat).post("/api/v1/exams/", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["questions"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"task_type": "rating", "labels": None}, "scale"),
        ({"task_type": "text"}, "labels"),
        ({"labels": None}, "labels"),
    ],
)
def test_an_exam_with_the_wrong_answer_format_is_400_naming_it(manager_pat, change, field):
    factories.SkillFactory(slug="sentiment")
    body = {**EXAM, **change, "tasks": [{"data": {"text": "x"}, "gold_answer": "positive"}]}
    body = {name: value for name, value in body.items() if value is not None}

    response = api_client(manager_pat).post("/api/v1/exams/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_passing_grants_the_skill_level(worker_alice, exam):
    codes = take(worker_alice, exam["id"], right_answers(wrong=1))

    assert codes == [200] * 4
    assert WorkerSkill.objects.get(worker=worker_alice, skill__slug="sentiment").level == 60
    attempt = ExamAttempt.objects.get(worker=worker_alice)
    assert (attempt.correct, attempt.passed) == (3, True)
    # passed: the exam is no longer offered and cannot be taken again
    assert api_client(worker_alice.user).get("/api/v1/exams/").json()["results"] == []
    assert take(worker_alice, exam["id"], right_answers()) == []


def test_a_rating_exam_is_taken_and_passed(worker_alice, manager_pat):
    factories.SkillFactory(slug="sentiment")
    questions = [{"data": {"text": f"item {n}"}, "gold_answer": n} for n in (1, 3, 5)]
    body = {name: value for name, value in EXAM.items() if name != "labels"}
    body |= {"task_type": "rating", "scale": {"min": 1, "max": 5}, "tasks": questions}
    exam = api_client(manager_pat).post("/api/v1/exams/", body, format="json").json()

    codes = take(worker_alice, exam["id"], {q["data"]["text"]: q["gold_answer"] for q in questions})

    assert codes == [200] * 3
    assert WorkerSkill.objects.get(worker=worker_alice, skill__slug="sentiment").level == 60


def test_failing_waits_for_the_retry_delay(worker_alice, exam):
    take(worker_alice, exam["id"], right_answers(wrong=2))
    attempt = ExamAttempt.objects.get(worker=worker_alice)

    assert attempt.passed is False
    assert not WorkerSkill.objects.filter(worker=worker_alice).exists()
    assert take(worker_alice, exam["id"], right_answers()) == []  # still waiting

    ExamAttempt.objects.filter(pk=attempt.pk).update(
        retry_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert take(worker_alice, exam["id"], right_answers()) == [200] * 4
    assert ExamAttempt.objects.filter(worker=worker_alice, passed=True).count() == 1
    assert WorkerSkill.objects.get(worker=worker_alice).level == 60


def test_a_pass_never_lowers_a_higher_level(worker_alice, exam):
    WorkerSkill.objects.create(
        worker=worker_alice, skill=factories.SkillFactory(slug="sentiment"), level=40
    )
    take(worker_alice, exam["id"], right_answers())
    WorkerSkill.objects.filter(worker=worker_alice).update(level=90)

    from qc.models import Exam
    from qc.services.exams import exam_attempt_finish

    exam_attempt_finish(exam=Exam.objects.get(), worker_id=worker_alice.pk, attempt=1)
    assert WorkerSkill.objects.get(worker=worker_alice).level == 90


def test_workers_see_open_exams_without_answers(worker_alice, worker_bob, exam):
    listed = api_client(worker_alice.user).get("/api/v1/exams/")

    assert listed.status_code == 200
    assert listed.json()["results"] == [
        {"id": exam["id"], "skill": "sentiment", "level": 60, "questions": 4}
    ]
    assert "gold" not in listed.content.decode()
    take(worker_bob, exam["id"], right_answers(wrong=4))
    assert api_client(worker_bob.user).get("/api/v1/exams/").json()["results"] == []


def test_exam_questions_never_reach_normal_claims(worker_alice, exam):
    assert api_client(worker_alice.user).post(CLAIM).status_code == 204


def test_one_exam_question_at_a_time(worker_alice, exam):
    client = api_client(worker_alice.user)
    client.post(CLAIM, {"exam": exam["id"]}, format="json")

    response = client.post(CLAIM, {"exam": exam["id"]}, format="json")

    assert response.status_code == 409
    assert Assignment.objects.filter(status="active").count() == 1


def test_exam_claim_responses_look_like_work(worker_alice, exam):
    body = api_client(worker_alice.user).post(CLAIM, {"exam": exam["id"]}, format="json").json()

    assert set(body) == {"id", "task", "project", "lease_expires_at"}
    assert "gold" not in str(body)


@pytest.mark.parametrize("body", [{"exam": "x"}, {"exam": 1, "project": 1}])
def test_bad_exam_claims_are_400(worker_alice, body):
    assert api_client(worker_alice.user).post(CLAIM, body, format="json").status_code == 400


def test_exams_are_for_managers_to_define(worker_alice, vendor_admin_acme):
    for user in (worker_alice.user, vendor_admin_acme):
        assert api_client(user).post("/api/v1/exams/", EXAM, format="json").status_code == 403


def test_another_workers_level_does_not_hide_an_exam(worker_alice, worker_bob, exam):
    skill = Skill.objects.get(slug="sentiment")
    WorkerSkill.objects.create(worker=worker_bob, skill=skill, level=90)
    WorkerSkill.objects.create(worker=worker_alice, skill=skill, level=10)

    listed = api_client(worker_alice.user).get("/api/v1/exams/").json()["results"]

    assert [row["id"] for row in listed] == [exam["id"]]
    assert api_client(worker_bob.user).get("/api/v1/exams/").json()["results"] == []
