"""The lease sweeper as it runs in production: a Celery job on a real worker over Redis."""

import datetime

from django.utils import timezone

from marketplace.models import Assignment, Task
from marketplace.tasks import assignments_expire_task
from tests import factories
from tests.utils import api_client


def test_the_sweeper_job_frees_lapsed_slots_on_a_real_worker(
    celery_worker, worker_alice, manager_pat
):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=2)
    factories.tasks_create(project, 3)
    client = api_client(worker_alice.user)
    claimed = client.post("/api/v1/assignments/claim/").json()
    Assignment.objects.filter(pk=claimed["id"]).update(
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )

    expired = assignments_expire_task.delay().get(timeout=30)

    assert expired == 1
    assert Assignment.objects.get(pk=claimed["id"]).status == "expired"
    assert Task.objects.get(pk=claimed["task"]["id"]).live_count == 0
