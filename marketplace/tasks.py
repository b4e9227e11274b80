from celery import shared_task

from marketplace.services.assignments import assignments_expire
from marketplace.services.imports import import_run
from marketplace.services.stats import stats_refresh


@shared_task(name="marketplace.assignments_expire")
def assignments_expire_task() -> int:
    """The minute sweeper: ends lapsed leases so their slots return to the pool."""
    return assignments_expire()


@shared_task(name="marketplace.import_run", acks_late=True)
def import_run_task(job_id: int) -> None:
    import_run(job_id=job_id)


@shared_task(name="marketplace.stats_refresh")
def stats_refresh_task() -> dict:
    """The stats rollups brought up to date (beat, every 30 s); a second one running at the
    same time returns at once."""
    return stats_refresh()
