from celery import shared_task

from qc.services.aggregation import aggregation_run


@shared_task(name="qc.aggregation_run", acks_late=True)
def aggregation_run_task(job_id: int) -> None:
    aggregation_run(job_id=job_id)
