"""Imports of source files into tasks (SPEC §5 splitting, §8 `POST /projects/{id}/imports/`)."""

# ruff: noqa: RUF001 (full-width Chinese and Japanese punctuation is the point here)

import gzip
import io
import itertools
import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from marketplace.models import ImportJob, Project, Task
from marketplace.services import imports
from tests import factories
from tests.utils import api_client, requires_postgres


@pytest.fixture(autouse=True)
def media(request, settings, tmp_path):
    # A real worker process reads uploads from the MEDIA_ROOT it was started with.
    if "celery_worker" not in request.fixturenames:
        settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def project(manager_pat):
    return factories.project_create(manager_pat, gold_ratio=0.0)


def jsonl(*rows) -> bytes:
    return b"".join(
        (row if isinstance(row, bytes) else json.dumps(row).encode()) + b"\n" for row in rows
    )


def upload(client, project, content: bytes, name="items.jsonl", **fields):
    body = {"file": SimpleUploadedFile(name, content), **fields}
    if isinstance(body.get("split_options"), dict):
        body["split_options"] = json.dumps(body["split_options"])
    return client.post(f"/api/v1/projects/{project.id}/imports/", body, format="multipart")


@pytest.fixture
def run_import(manager_pat, django_capture_on_commit_callbacks):
    """Uploads as the manager and runs the job (Celery is eager); returns the job as read back."""

    def run(project, content: bytes, name="items.jsonl", **fields):
        client = api_client(manager_pat)
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(client, project, content, name, **fields)
        assert response.status_code == 202, response.json()
        return client.get(f"/api/v1/imports/{response.json()['id']}/").json()

    return run


# --- rows and the job's report -----------------------------------------------------------------


def test_an_upload_is_a_queued_job_that_lands_every_row(manager_pat, project, media):
    client = api_client(manager_pat)
    content = jsonl(
        {"id": "a1", "text": "great phone"},
        {"id": "a2", "text": "broken on arrival", "gold_answer": "negative"},
        {"text": "no id here"},
    )

    response = upload(client, project, content)

    assert response.status_code == 202
    body = response.json()
    assert {key: body[key] for key in ("project", "status", "rows_read", "tasks_created")} == {
        "project": project.id,
        "status": "queued",
        "rows_read": 0,
        "tasks_created": 0,
    }
    assert (body["percent"], body["errors"]) == (0.0, [])
    job = ImportJob.objects.get(pk=body["id"])
    assert job.file.path.startswith(str(media)) and job.file.size == len(content)

    job = imports.import_run(job_id=job.pk)

    read = client.get(f"/api/v1/imports/{job.pk}/").json()
    assert (read["status"], read["rows_read"], read["tasks_created"]) == ("done", 3, 3)
    assert (read["percent"], read["errors"]) == (100.0, [])
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    assert [task.data for task in tasks] == [
        {"id": "a1", "text": "great phone"},
        {"id": "a2", "text": "broken on arrival"},
        {"text": "no id here"},
    ]
    assert [(t.is_gold, t.gold_answer, t.required) for t in tasks] == [
        (False, None, 1),
        (True, "negative", 0),
        (False, None, 1),
    ]
    assert tasks[0].source == {"import": job.pk, "line": 1, "item": "a1"}
    assert tasks[2].source == {"import": job.pk, "line": 3}
    assert len({task.shuffle for task in tasks}) == 3
    assert not job.file  # the upload is deleted once the job ends


def test_imported_tasks_are_served_to_workers(run_import, project, worker_alice):
    run_import(project, jsonl({"id": 1, "text": "hello"}))

    response = api_client(worker_alice.user).post("/api/v1/assignments/claim/")

    assert response.status_code == 201
    assert response.json()["task"]["data"] == {"id": 1, "text": "hello"}


def test_the_upload_shape_of_the_tasks_endpoint_is_understood(run_import, project):
    job = run_import(
        project,
        jsonl(
            {"data": {"text": "x"}, "gold_answer": "positive", "source": {"batch": 7}},
            {"data": {"text": "y"}},
        ),
    )

    assert job["tasks_created"] == 2
    gold, regular = Task.objects.filter(project=project).order_by("id")
    assert (gold.data, gold.gold_answer, gold.source["batch"]) == ({"text": "x"}, "positive", 7)
    assert regular.data == {"text": "y"}


def test_bad_rows_are_reported_by_line_while_good_rows_land(run_import, project):
    content = b"".join(
        [
            jsonl({"text": "good 1"}),  # 1
            b'{"text": "unterminated\n',  # 2
            b"[1, 2]\n",  # 3
            b"   \n",  # 4: blank, not a row
            b'{"text": "nul \x00 byte"}\n',  # 5
            b'{"text": "caf\xe9"}\n',  # 6: Latin-1, not UTF-8
            jsonl({"text": "bad gold", "gold_answer": "maybe"}),  # 7
            jsonl({"text": "escaped nul \u0000"}),  # 8
            jsonl({"text": "good gold", "gold_answer": "positive"}),  # 9
            jsonl({"id": 1.5, "text": "float id"}),  # 10
            b'{"text": NaN}\n',  # 11
            b'{"text": "big", "n": 1e999}\n',  # 12
            b'{"text": "lone \\ud800 surrogate"}\n',  # 13
            b'{"text": "emoji \\ud83d\\ude00 and caf\\u00e9"}\n',  # 14: good
        ]
    )

    job = run_import(project, content)

    assert (job["status"], job["rows_read"], job["tasks_created"]) == ("done", 13, 3)
    assert [error["line"] for error in job["errors"]] == [2, 3, 5, 6, 7, 8, 10, 11, 12, 13]
    messages = {error["line"]: error["message"] for error in job["errors"]}
    assert messages[2].startswith("Bad JSON")
    assert "JSON object" in messages[3]
    assert "NUL" in messages[5] and "NUL" in messages[8]
    assert "UTF-8" in messages[6]
    assert messages[7].startswith("gold_answer:") and "positive" in messages[7]
    assert "id" in messages[10]
    assert "NaN" in messages[11] and "too large" in messages[12]
    assert "surrogate" in messages[13]
    assert job["error_count"] == 10
    assert sorted(Task.objects.filter(project=project).values_list("data__text", flat=True)) == [
        "emoji \U0001f600 and café",
        "good 1",
        "good gold",
    ]


TRICKY = [
    "back\\slash",
    "tab\tand newline\nand return\r",
    "\\N",
    "\\.",
    "quote \" and 'single'",
    "literal \\u0000 text",
    "emoji \U0001f600, café, 漢字, العربية",
    "",
]


def test_values_land_exactly_as_sent(run_import, project):
    rows = [
        {"id": n, "text": value, "nested": {"list": [value, 1.5, None, True]}}
        for n, value in enumerate(TRICKY)
    ]
    content = b"".join(
        [
            jsonl(*rows[:4]),
            b"".join(json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in rows[4:]),
            b'{\t"id": "tabs",\t"text": "x"\t}\r\n',  # tabs and CR as JSON whitespace
        ]
    )

    job = run_import(project, content)

    assert (job["tasks_created"], job["errors"]) == (len(TRICKY) + 1, [])
    stored = {task.data["id"]: task.data for task in Task.objects.filter(project=project)}
    assert [stored[n] for n in range(len(TRICKY))] == rows
    assert stored["tabs"] == {"id": "tabs", "text": "x"}


def test_missing_fields_are_bad_rows(run_import, project):
    job = run_import(
        project,
        jsonl({"text": "one"}, {"body": "no text"}, {"text": 5}),
        split="text_chunks",
        split_options={"max_chars": 100},
    )

    assert job["tasks_created"] == 1
    assert job["errors"] == [
        {"line": 2, "message": "Field 'text' is missing."},
        {"line": 3, "message": "text must be a string."},
    ]


def test_task_data_is_checked_against_the_answer_format(run_import, manager_pat):
    ranking = factories.project_create(manager_pat, task_type="ranking")
    responses = [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]

    job = run_import(
        ranking,
        jsonl(
            {"prompt": "p", "responses": responses, "gold_answer": ["b", "a"]},
            {"prompt": "no responses"},
            {"prompt": "p", "responses": responses, "gold_answer": ["a"]},
        ),
    )

    assert job["tasks_created"] == 1
    assert [error["line"] for error in job["errors"]] == [2, 3]
    assert Task.objects.get(project=ranking).gold_answer == ["b", "a"]


def test_at_most_a_thousand_errors_are_kept(run_import, project):
    content = jsonl({"text": "good"}) + b"{oops\n" * 1_200

    job = run_import(project, content)

    assert job["status"] == "done"
    assert (job["rows_read"], job["tasks_created"], job["error_count"]) == (1_201, 1, 1_200)
    assert len(job["errors"]) == imports.MAX_ERRORS
    assert job["errors"][-1]["line"] == 1_001


def test_a_file_whose_rows_are_all_bad_fails_early(run_import, project):
    content = b"text,gold_answer\n" + b"x,y\n" * 2_000

    job = run_import(project, content, format="jsonl")

    assert (job["status"], job["rows_read"]) == ("failed", 1_001)
    assert len(job["errors"]) == imports.MAX_ERRORS
    assert job["errors"][0] == {
        "line": 1,
        "message": "Bad JSON: Expecting value (column 1).",
    }
    assert "is the file jsonl?" in job["errors"][-1]["message"]


# --- formats -----------------------------------------------------------------------------------


def test_gzip_is_recognised_by_its_magic_bytes(run_import, project):
    content = gzip.compress(jsonl(*({"id": n, "text": f"t{n}"} for n in range(50))))

    job = run_import(project, content, name="upload.bin", format="jsonl")

    assert (job["status"], job["tasks_created"], job["percent"]) == ("done", 50, 100.0)


def test_a_truncated_gzip_fails_the_job_and_keeps_what_landed(run_import, project, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 10)
    content = gzip.compress(jsonl(*({"id": n, "text": "x" * 200} for n in range(500))))

    job = run_import(project, content[: len(content) // 2], format="jsonl")

    assert job["status"] == "failed"
    assert "cannot be read" in job["errors"][-1]["message"]
    assert 0 < job["tasks_created"] == Task.objects.filter(project=project).count() < 500
    # Every row read before the failure landed, the last batch's too; the failure is reported
    # at the line being read.
    assert job["tasks_created"] == job["rows_read"] == job["errors"][-1]["line"] - 1


def test_csv_rows_with_gold_answers_and_quoted_newlines(run_import, manager_pat):
    rating = factories.project_create(manager_pat, task_type="rating", scale_min=1, scale_max=5)
    content = (
        "id,text,gold_answer\n"
        '1,"two\nlines",\n'  # lines 2-3
        "2,plain,4\n"  # line 4: gold, the cell read as a number
        "3,too,many,cells\n"  # line 5
        "4,bad gold,9\n"  # line 6
        "\n"
        "5,caf\xe9,\n"  # line 8
    ).encode() + b"6,latin \xe9,\n"  # line 9

    job = run_import(rating, content, name="items.csv")

    assert (job["status"], job["rows_read"], job["tasks_created"]) == ("done", 6, 3)
    assert [error["line"] for error in job["errors"]] == [5, 6, 9]
    tasks = Task.objects.filter(project=rating).order_by("id")
    assert [task.data for task in tasks] == [
        {"id": "1", "text": "two\nlines"},
        {"id": "2", "text": "plain"},
        {"id": "5", "text": "café"},
    ]
    assert [task.gold_answer for task in tasks] == [None, 4, None]
    assert tasks[0].source["line"] == 2


def test_a_csv_header_naming_a_column_twice_fails_the_job(run_import, project):
    job = run_import(project, b"text,text\na,b\n", name="items.csv")

    assert job["status"] == "failed"
    assert job["errors"] == [{"line": 1, "message": "A column name appears twice in the header."}]


def test_the_format_comes_from_the_file_name_when_not_given(manager_pat, project):
    client = api_client(manager_pat)

    assert upload(client, project, b"text\nx\n", name="items.csv.gz").json()["format"] == "csv"
    response = upload(client, project, b"{}", name="items.txt")
    assert response.status_code == 400
    assert "format" in response.json()


# --- splits ------------------------------------------------------------------------------------


def test_bundles_of_k_items(run_import, project):
    job = run_import(
        project,
        jsonl(*({"id": n, "text": f"t{n}"} for n in range(7))),
        split="bundle",
        split_options={"k": 3},
    )

    assert job["tasks_created"] == 3
    tasks = Task.objects.filter(project=project).order_by("id")
    assert [len(task.data["items"]) for task in tasks] == [3, 3, 1]
    assert tasks[0].data["items"][1] == {"id": 1, "text": "t1"}
    assert tasks[2].source == {"import": job["id"], "lines": [7], "items": [6]}


def test_gold_rows_cannot_be_bundled(run_import, project):
    job = run_import(
        project,
        jsonl({"text": "a"}, {"text": "b", "gold_answer": "positive"}, {"text": "c"}),
        split="bundle",
        split_options={"k": 2},
    )

    assert [error["line"] for error in job["errors"]] == [2]
    assert [t.data for t in Task.objects.filter(project=project)] == [
        {"items": [{"text": "a"}, {"text": "c"}]}
    ]


def test_text_chunks_keep_index_and_offsets_in_source(run_import, manager_pat):
    project = factories.project_create(manager_pat, task_type="text")
    text = "First sentence here. Second one follows.\n\nA new paragraph."

    job = run_import(
        project,
        jsonl({"doc": "d1", "title": "T", "body": text}),
        split="text_chunks",
        split_options={"max_chars": 25, "text_field": "body", "id_field": "doc"},
    )

    tasks = list(Task.objects.filter(project=project).order_by("id"))
    assert job["tasks_created"] == len(tasks) == 3
    assert "".join(task.data["body"] for task in tasks) == text
    assert all(task.data["title"] == "T" and len(task.data["body"]) <= 25 for task in tasks)
    assert [
        (t.source["chunk"], t.source["start"], t.source["end"], t.source["item"]) for t in tasks
    ] == [(0, 0, 21, "d1"), (1, 21, 42, "d1"), (2, 42, 58, "d1")]


def test_chinese_text_is_chunked_at_sentence_ends(run_import, manager_pat):
    project = factories.project_create(manager_pat, task_type="text")
    text = "我们今天去公园。天气很好，阳光明媚！然后我们回家了。"

    run_import(project, jsonl({"text": text}), split="text_chunks", split_options={"max_chars": 10})

    assert list(Task.objects.filter(project=project).values_list("data__text", flat=True)) == [
        "我们今天去公园。",
        "天气很好，阳光明媚！",
        "然后我们回家了。",
    ]


def test_a_gold_item_must_fit_in_one_chunk(run_import, manager_pat):
    project = factories.project_create(manager_pat, task_type="text")

    job = run_import(
        project,
        jsonl(
            {"text": "short one", "gold_answer": "summary"},
            {"text": "far too long for one chunk", "gold_answer": "summary"},
        ),
        split="text_chunks",
        split_options={"max_chars": 10},
    )

    assert job["tasks_created"] == 1
    assert [error["line"] for error in job["errors"]] == [2]
    assert Task.objects.get(project=project).gold_answer == "summary"


def test_time_segments_with_overlap(run_import, manager_pat):
    project = factories.project_create(manager_pat, task_type="text")
    content = b"id,url,seconds\nclip1,https://cdn.example/c1.mp3,25\nclip2,x,zero\n"

    job = run_import(
        project,
        content,
        name="audio.csv",
        split="time_segments",
        split_options={"seconds": 10, "overlap_seconds": 2.5, "duration_field": "seconds"},
    )

    assert job["errors"] == [
        {"line": 3, "message": "seconds must be a positive number of seconds."}
    ]
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    assert [task.data["segment"] for task in tasks] == [
        {"start": 0.0, "end": 10.0},
        {"start": 7.5, "end": 17.5},
        {"start": 15.0, "end": 25.0},
    ]
    assert tasks[1].source == {
        "import": job["id"],
        "line": 2,
        "item": "clip1",
        "segment": 1,
        "start": 7.5,
        "end": 17.5,
    }
    assert tasks[0].data["url"] == "https://cdn.example/c1.mp3"


@pytest.mark.parametrize(
    "split, options",
    [
        ("rows", {"k": 2}),
        ("bundle", {}),
        ("bundle", {"k": 0}),
        ("text_chunks", {"max_chars": "100"}),
        ("text_chunks", {"max_chars": 100, "text_field": ""}),
        ("time_segments", {"seconds": 5, "overlap_seconds": 5}),
        ("time_segments", {}),
        ("rows", [1]),
    ],
)
def test_bad_split_options_are_400_naming_them(manager_pat, project, split, options):
    response = api_client(manager_pat).post(
        f"/api/v1/projects/{project.id}/imports/",
        {
            "file": SimpleUploadedFile("a.jsonl", b"{}\n"),
            "split": split,
            "split_options": json.dumps(options),
        },
        format="multipart",
    )

    assert response.status_code == 400
    assert "split_options" in response.json()
    assert not ImportJob.objects.exists()


def test_split_options_must_be_json(manager_pat, project):
    response = upload(api_client(manager_pat), project, b"{}\n", split_options="{k: 2")

    assert response.status_code == 400
    assert "split_options" in response.json()


def test_a_closed_project_takes_no_import(manager_pat):
    project = factories.project_create(manager_pat, status="archived")

    response = upload(api_client(manager_pat), project, b"{}\n")

    assert response.status_code == 409


# --- idempotence -------------------------------------------------------------------------------


def test_importing_the_same_file_again_creates_nothing(run_import, project):
    content = jsonl({"id": 1, "text": "a"}, {"text": "no id"}, {"id": 1, "text": "a again"})

    first = run_import(project, content)
    second = run_import(project, gzip.compress(content), format="jsonl")

    assert (first["tasks_created"], first["tasks_skipped"]) == (2, 1)
    assert (second["tasks_created"], second["tasks_skipped"]) == (0, 3)
    assert Task.objects.filter(project=project).count() == 2


def test_the_same_source_ids_in_csv_and_jsonl_are_the_same_items(run_import, project):
    run_import(project, jsonl({"id": 7, "text": "a"}))
    job = run_import(project, b"id,text\n7,a\n8,b\n", name="more.csv")

    assert (job["tasks_created"], job["tasks_skipped"]) == (1, 1)


def test_chunks_are_keyed_by_their_span(run_import, manager_pat):
    project = factories.project_create(manager_pat, task_type="text")
    content = jsonl({"id": "doc", "text": "one two three four five six"})

    run_import(project, content, split="text_chunks", split_options={"max_chars": 10})
    again = run_import(project, content, split="text_chunks", split_options={"max_chars": 10})
    other = run_import(project, content, split="text_chunks", split_options={"max_chars": 14})

    assert again["tasks_created"] == 0
    assert other["tasks_created"] > 0


def test_tasks_uploaded_without_a_key_never_collide(manager_pat, project):
    factories.tasks_create(project, 3)

    assert Task.objects.filter(project=project, source_key__isnull=True).count() == 3


# --- progress and cancel -----------------------------------------------------------------------


def test_progress_is_visible_while_the_job_runs(
    manager_pat, project, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(imports, "BATCH", 10)
    client = api_client(manager_pat)
    job_id = upload(client, project, jsonl(*({"text": f"t{n}"} for n in range(35)))).json()["id"]
    seen = []

    imports.import_run(
        job_id=job_id,
        on_progress=lambda _: seen.append(client.get(f"/api/v1/imports/{job_id}/").json()),
    )

    assert [(read["status"], read["rows_read"], read["tasks_created"]) for read in seen] == [
        ("running", 10, 10),
        ("running", 20, 20),
        ("running", 30, 30),
        ("done", 35, 35),
    ]
    percents = [read["percent"] for read in seen]
    assert 0 < percents[0] < percents[1] < percents[2] < 100 == percents[3]


@requires_postgres
def test_batches_are_cut_by_size_as_well_as_by_rows(manager_pat, project, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_CHARS", 1_000)
    client = api_client(manager_pat)
    rows = ({"id": n, "text": "x" * 100} for n in range(30))
    job_id = upload(client, project, jsonl(*rows)).json()["id"]
    commits = []

    imports.import_run(job_id=job_id, on_progress=lambda p: commits.append(p.tasks_created))

    assert len(commits) >= 4 and commits[-1] == 30
    assert all(b - a <= 8 for a, b in itertools.pairwise([0, *commits]))


def test_a_running_import_stops_at_its_next_batch_when_cancelled(manager_pat, project, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 10)
    client = api_client(manager_pat)
    job_id = upload(client, project, jsonl(*({"text": f"t{n}"} for n in range(35)))).json()["id"]

    def cancel(progress):
        if progress.rows_read == 10:
            assert client.post(f"/api/v1/imports/{job_id}/cancel/").json()["status"] == "cancelled"

    imports.import_run(job_id=job_id, on_progress=cancel)

    read = client.get(f"/api/v1/imports/{job_id}/").json()
    assert (read["status"], read["tasks_created"]) == ("cancelled", 10)
    assert Task.objects.filter(project=project).count() == 10
    assert not ImportJob.objects.get(pk=job_id).file


def test_a_format_changed_before_the_first_tasks_land_fails_the_import(
    manager_pat, project, monkeypatch
):
    monkeypatch.setattr(imports, "BATCH", 10)
    client = api_client(manager_pat)
    job_id = upload(client, project, jsonl(*({"text": f"t{n}"} for n in range(35)))).json()["id"]

    def change_format(progress):
        if progress.rows_read == 10:  # labels may be added: the rows checked stay valid
            Project.objects.filter(pk=project.pk).update(labels=[*project.labels, "mixed"])
        if progress.rows_read == 20:  # an edit that bypassed the lock the service takes
            Project.objects.filter(pk=project.pk).update(task_type="text")

    imports.import_run(job_id=job_id, on_progress=change_format)

    read = client.get(f"/api/v1/imports/{job_id}/").json()
    assert (read["status"], read["tasks_created"]) == ("failed", 20)
    assert "answer format changed" in read["errors"][-1]["message"]


def test_a_project_archived_during_an_import_fails_it(manager_pat, project, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 10)
    client = api_client(manager_pat)
    job_id = upload(client, project, jsonl(*({"text": f"t{n}"} for n in range(35)))).json()["id"]

    def archive(progress):
        if progress.rows_read == 10:
            client.post(f"/api/v1/projects/{project.id}/archive/")

    imports.import_run(job_id=job_id, on_progress=archive)

    read = client.get(f"/api/v1/imports/{job_id}/").json()
    assert (read["status"], read["tasks_created"]) == ("failed", 10)
    assert read["errors"] == [
        {"line": 20, "message": "The project was archived during the import."}
    ]


def test_a_queued_import_cancelled_never_runs(manager_pat, project):
    client = api_client(manager_pat)
    job_id = upload(client, project, jsonl({"text": "a"})).json()["id"]

    first = client.post(f"/api/v1/imports/{job_id}/cancel/")
    again = client.post(f"/api/v1/imports/{job_id}/cancel/")
    imports.import_run(job_id=job_id)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "cancelled"
    assert not ImportJob.objects.get(pk=job_id).file
    assert not Task.objects.filter(project=project).exists()


def test_a_finished_import_cannot_be_cancelled(manager_pat, run_import, project):
    job = run_import(project, jsonl({"text": "a"}))

    response = api_client(manager_pat).post(f"/api/v1/imports/{job['id']}/cancel/")

    assert response.status_code == 409
    assert response.json()["code"] == "import_state_conflict"


def test_a_job_runs_once_however_often_it_is_delivered(run_import, project):
    job = run_import(project, jsonl({"text": "a"}))

    imports.import_run(job_id=job["id"])

    assert Task.objects.filter(project=project).count() == 1


def test_imports_are_listed_per_project(
    manager_pat, run_import, project, django_assert_num_queries
):
    run_import(project, jsonl({"text": "a"}))
    run_import(project, jsonl({"text": "b"}))
    client = api_client(manager_pat)

    # token and user, the project, the count, the page
    with django_assert_num_queries(4):
        response = client.get(f"/api/v1/projects/{project.id}/imports/")

    assert response.json()["count"] == 2
    assert {row["status"] for row in response.json()["results"]} == {"done"}


# --- access ------------------------------------------------------------------------------------


@pytest.fixture
def import_job(project, manager_pat):
    return ImportJob.objects.create(project=project, format="jsonl", created_by=manager_pat)


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/v1/projects/{project}/imports/"),
        ("get", "/api/v1/projects/{project}/imports/"),
        ("get", "/api/v1/imports/{job}/"),
        ("post", "/api/v1/imports/{job}/cancel/"),
    ],
)
@pytest.mark.parametrize(
    "who, expected", [("other_manager", 404), ("worker", 403), ("anonymous", 401)]
)
def test_access(import_job, worker_alice, method, path, who, expected):
    client = {
        "other_manager": api_client(factories.ManagerFactory()),
        "worker": api_client(worker_alice.user),
        "anonymous": api_client(),
    }[who]
    url = path.format(project=import_job.project_id, job=import_job.id)
    body = {"file": SimpleUploadedFile("a.jsonl", b"{}\n")} if method == "post" else None

    response = getattr(client, method)(url, body, format="multipart" if body else None)

    assert response.status_code == expected
    assert ImportJob.objects.get(pk=import_job.pk).status == "queued"


def test_staff_may_import_into_any_project(staff_sam, project):
    assert upload(api_client(staff_sam), project, jsonl({"text": "a"})).status_code == 202


# --- the operator's command --------------------------------------------------------------------


def test_the_command_imports_a_local_file_and_prints_a_summary(project, tmp_path):
    path = tmp_path / "items.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl({"text": "a"}, b"{bad", {"text": "b"}, {"text": "c"})))
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import_tasks", str(project.id), str(tmp_path / "nope.jsonl"), stdout=out)
    call_command(
        "import_tasks",
        str(project.id),
        str(path),
        "--split",
        "bundle",
        "--split-options",
        '{"k": 2}',
        stdout=out,
    )

    job = ImportJob.objects.get()
    assert (job.status, job.tasks_created, job.created_by) == ("done", 2, None)
    assert "done: 4 rows read, 2 tasks created, 0 already imported, 1 bad" in out.getvalue()
    assert "line 2: Bad JSON" in out.getvalue()
    assert path.exists()  # an operator's file is theirs


def test_the_command_refuses_bad_options(project, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl({"text": "a"}))

    with pytest.raises(CommandError, match="split_options"):
        call_command("import_tasks", str(project.id), str(path), "--split", "bundle")


# --- on PostgreSQL and Redis, with a real worker -------------------------------------------------


def test_a_real_worker_runs_an_upload(celery_worker, manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    client = api_client(manager_pat)
    content = gzip.compress(jsonl(*({"id": n, "text": f"t{n}"} for n in range(2_000))))

    job_id = upload(client, project, content, name="items.jsonl.gz").json()["id"]
    for _ in range(300):
        job = client.get(f"/api/v1/imports/{job_id}/").json()
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.1)

    assert (job["status"], job["tasks_created"], job["percent"]) == ("done", 2_000, 100.0)
    assert Task.objects.filter(project=project, is_gold=False, required=1).count() == 2_000


# --- review fixes: one bad row never fails the job ----------------------------------------------


@pytest.mark.parametrize(
    "bad_line, message",
    [
        (b'{"text": "huge", "n": ' + b"1" * 4_301 + b"}\n", "Bad JSON"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "nested too deeply"),
    ],
    ids=["int-digit-limit", "deep-nesting"],
)
def test_a_row_python_cannot_decode_is_a_bad_row(run_import, project, bad_line, message):
    content = jsonl({"text": "before"}) + bad_line + jsonl({"text": "after"})

    job = run_import(project, content)

    assert (job["status"], job["rows_read"], job["tasks_created"]) == ("done", 3, 2)
    assert [error["line"] for error in job["errors"]] == [2]
    assert message in job["errors"][0]["message"]


def test_a_csv_gold_cell_nested_too_deeply_is_a_bad_row(run_import, project):
    content = b"text,gold_answer\nok,positive\ndeep," + b"[" * 100_000 + b"\nok2,\n"

    job = run_import(project, content, name="items.csv")

    assert (job["status"], job["tasks_created"]) == ("done", 2)
    assert [error["line"] for error in job["errors"]] == [3]
    assert job["errors"][0]["message"].startswith("gold_answer:")


def test_a_duration_under_half_a_millisecond_is_a_bad_row(run_import, manager_pat):
    project = factories.project_create(manager_pat, task_type="text")

    job = run_import(
        project,
        jsonl({"id": 1, "duration": 2}, {"id": 2, "duration": 0.0004}, {"id": 3, "duration": 1}),
        split="time_segments",
        split_options={"seconds": 1},
    )

    assert (job["status"], job["tasks_created"]) == ("done", 3)
    assert [error["line"] for error in job["errors"]] == [2]
    assert "milliseconds" in job["errors"][0]["message"]


def test_an_unexpected_failure_lands_the_good_rows_and_names_the_line(
    run_import, project, monkeypatch
):
    # Anything the row checks do not expect, while reading row 3: rows 1-2 still land.
    real = imports._Reader.plan

    def plan(self, line, row, text):
        if line == 3:
            raise KeyError("boom")
        return real(self, line, row, text)

    monkeypatch.setattr(imports._Reader, "plan", plan)

    job = run_import(project, jsonl(*({"text": f"t{n}"} for n in range(5))))

    assert (job["status"], job["tasks_created"]) == ("failed", 2)
    assert job["errors"][-1]["line"] == 3
    assert "boom" in job["errors"][-1]["message"]


def test_a_csv_duration_with_underscores_is_not_a_number(run_import, manager_pat):
    project = factories.project_create(manager_pat, task_type="text")

    job = run_import(
        project,
        b"id,duration\na,1_0\nb,10\n",
        name="audio.csv",
        split="time_segments",
        split_options={"seconds": 5},
    )

    assert job["tasks_created"] == 2
    assert [error["line"] for error in job["errors"]] == [2]


def test_a_gold_answer_left_empty_in_jsonl_is_checked_like_the_upload(run_import, project):
    job = run_import(
        project,
        jsonl(
            {"text": "flat", "gold_answer": ""},
            {"data": {"text": "upload shape"}, "gold_answer": ""},
            {"text": "regular"},
        ),
    )

    assert [error["line"] for error in job["errors"]] == [1, 2]
    assert all(error["message"].startswith("gold_answer:") for error in job["errors"])
    # The upload endpoint refuses the same row.
    response = api_client(project.managers.first()).post(
        f"/api/v1/projects/{project.id}/tasks/",
        [{"data": {"text": "upload shape"}, "gold_answer": ""}],
        format="json",
    )
    assert response.status_code == 400 and "gold_answer" in response.json()[0]


# --- review fixes: options and splits refused up front ------------------------------------------


def test_segment_options_are_checked_in_milliseconds_as_the_splitter_does(manager_pat, project):
    response = upload(
        api_client(manager_pat),
        project,
        jsonl({"duration": 1}),
        split="time_segments",
        split_options={"seconds": 0.0025, "overlap_seconds": 0.0024},
    )

    assert response.status_code == 400
    assert "split_options" in response.json()
    assert not ImportJob.objects.exists()


def test_a_ranking_project_takes_no_bundles(manager_pat):
    ranking = factories.project_create(manager_pat, task_type="ranking")
    responses = [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]

    response = upload(
        api_client(manager_pat),
        ranking,
        jsonl({"prompt": "p", "responses": responses}),
        split="bundle",
        split_options={"k": 2},
    )

    assert response.status_code == 400
    assert "split" in response.json()
    assert not ImportJob.objects.exists()


# --- review fixes: memory bounds -----------------------------------------------------------------


def test_a_csv_line_too_long_is_a_bad_row_read_in_pieces(run_import, project, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ROW_BYTES", 100)
    content = b"text\nshort\n" + b"x" * 1_000 + b"\nafter\n"

    job = run_import(project, content, name="items.csv")

    assert (job["status"], job["tasks_created"]) == ("done", 2)
    assert job["errors"] == [{"line": 3, "message": "The line is longer than 100 bytes."}]
    assert sorted(Task.objects.values_list("data__text", flat=True)) == ["after", "short"]


def test_a_csv_record_too_long_across_lines_is_skipped_whole(run_import, project, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ROW_BYTES", 100)
    long_cell = "\n".join(["y" * 40] * 5)  # a quoted cell over 5 lines, 204 bytes
    content = f'text\nshort\n"{long_cell}"\nafter\n'.encode()

    job = run_import(project, content, name="items.csv")

    assert job["tasks_created"] == 2
    assert job["errors"] == [{"line": 3, "message": "The record is longer than 100 bytes."}]
    after = Task.objects.get(data__text="after")
    assert after.source["line"] == 8


def test_a_csv_record_with_too_many_cells_is_refused_before_parsing(
    run_import, project, monkeypatch
):
    monkeypatch.setattr(imports, "MAX_COLUMNS", 10)
    content = b'text,note\na,"b, c, d, e, f, g, h, i, j, k, l"\n' + b"x," * 20 + b"\nz,w\n"

    job = run_import(project, content, name="items.csv")

    assert job["tasks_created"] == 2  # commas inside quotes are not cells
    assert job["errors"] == [{"line": 3, "message": "The record has more than 10 cells."}]


def test_a_file_past_the_read_limit_fails_with_the_rows_before_it(run_import, project, monkeypatch):
    monkeypatch.setattr(imports, "MAX_READ_BYTES", 1_000)
    content = gzip.compress(jsonl(*({"id": n, "text": "x" * 50} for n in range(100))))

    job = run_import(project, content, format="jsonl")

    assert job["status"] == "failed"
    assert "once decompressed" in job["errors"][-1]["message"]
    assert 0 < job["tasks_created"] == job["rows_read"] < 100


def test_a_row_whose_chunks_would_copy_too_much_is_a_bad_row(run_import, manager_pat, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ROW_TASK_CHARS", 10_000)
    project = factories.project_create(manager_pat, task_type="text")
    text = "word " * 200

    job = run_import(
        project,
        jsonl({"id": 1, "text": text, "big": "z" * 1_000}, {"id": 2, "text": text}),
        split="text_chunks",
        split_options={"max_chars": 100},
    )

    assert [error["line"] for error in job["errors"]] == [1]
    assert "move large fields" in job["errors"][0]["message"]
    assert job["tasks_created"] == 10


# --- review fixes: a dead worker's job ----------------------------------------------------------


def test_a_stale_running_job_is_taken_over_by_a_redelivery(manager_pat, project, media):
    client = api_client(manager_pat)
    content = jsonl(*({"id": n, "text": f"t{n}"} for n in range(5)))
    job_id = upload(client, project, content).json()["id"]
    # A worker took it, landed two rows and died.
    started = imports.timezone.now() - imports.STALE_AFTER * 2
    ImportJob.objects.filter(pk=job_id).update(
        status="running", started_at=started, progressed_at=started, tasks_created=2
    )
    job = ImportJob.objects.get(pk=job_id)
    for n in range(2):
        Task.objects.create(project=project, data={"id": n}, source_key=f"id:{n}")

    job = imports.import_run(job_id=job_id)

    assert (job.status, job.tasks_created, job.tasks_skipped) == ("done", 5, 0)
    assert Task.objects.filter(project=project).count() == 5
    assert job.started_at == started and not job.file


def test_a_running_job_that_moves_is_not_taken_over(manager_pat, project):
    client = api_client(manager_pat)
    job_id = upload(client, project, jsonl({"text": "a"})).json()["id"]
    now = imports.timezone.now()
    ImportJob.objects.filter(pk=job_id).update(status="running", started_at=now, progressed_at=now)

    job = imports.import_run(job_id=job_id)

    assert job.status == "running" and job.file
    assert not Task.objects.filter(project=project).exists()


def test_a_run_taken_over_stops_writing(manager_pat, project, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 10)
    client = api_client(manager_pat)
    job_id = upload(client, project, jsonl(*({"text": f"t{n}"} for n in range(35)))).json()["id"]

    def taken_over(progress):
        if progress.rows_read == 10:  # another run took the job: it owns the job row now
            ImportJob.objects.filter(pk=job_id).update(progressed_at=imports.timezone.now())

    job = imports.import_run(job_id=job_id, on_progress=taken_over)

    assert (job.status, job.tasks_created) == ("running", 10)
    assert job.file  # the other run still reads it


def test_cancelling_a_running_job_deletes_its_upload(manager_pat, project):
    client = api_client(manager_pat)
    job_id = upload(client, project, jsonl({"text": "a"})).json()["id"]
    ImportJob.objects.filter(pk=job_id).update(status="running")  # its worker died

    response = client.post(f"/api/v1/imports/{job_id}/cancel/")

    assert response.json()["status"] == "cancelled"
    assert not ImportJob.objects.get(pk=job_id).file


def test_the_command_imports_into_work_projects_only(manager_pat, tmp_path):
    exam = factories.project_create(manager_pat, kind=Project.Kind.EXAM)
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl({"text": "a"}))

    with pytest.raises(CommandError, match="No work project"):
        call_command("import_tasks", str(exam.id), str(path))
    assert not Task.objects.filter(project=exam).exists()


def test_bundles_are_made_by_the_splitter(run_import, project, monkeypatch):
    calls = []
    real = imports.splitters.bundle

    def bundle(items, k):
        calls.append(k)
        return real(items, k)

    monkeypatch.setattr(imports.splitters, "bundle", bundle)

    job = run_import(
        project, jsonl({"text": "a"}, {"text": "b"}), split="bundle", split_options={"k": 2}
    )

    assert (calls, job["tasks_created"]) == ([2], 1)
