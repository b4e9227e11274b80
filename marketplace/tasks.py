from celery import shared_task

from marketplace.services.assignments import assignments_expire
from marketplace.services.imports import import_run


@shared_task(name="marketplace.assignments_expire")
def assignments_expire_task() -> int:
    """The minute sweeper: ends lapsed leases so their slots return to the pool."""
    return assignments_expire()


@shared_task(name="marketplace.import_run", acks_late=True)
def import_run_task(job_id: int) -> None:
    import_run(job_id=job_id)
