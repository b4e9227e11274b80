from celery import shared_task

from marketplace.services.assignments import assignments_expire


@shared_task(name="marketplace.assignments_expire")
def assignments_expire_task() -> int:
    """The minute sweeper: ends lapsed leases so their slots return to the pool."""
    return assignments_expire()
