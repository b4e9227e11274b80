from celery import shared_task

from billing.services.runs import payroll_run_execute


@shared_task(name="billing.payroll_run_execute", acks_late=True)
def payroll_run_execute_task(run_id: int) -> None:
    payroll_run_execute(run_id=run_id)
