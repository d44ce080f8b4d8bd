"""Workers for jennie-scheduler in Python.

The modules carry the names of the platform's original worker pattern, so a worker written
against it runs with only its import lines changed::

    from jennie_worker.scheduler_client import mark_job_run
    from jennie_worker.scheduler_runtime import parse_job_message, reschedule_job
    from jennie_worker.rabbitmq import RabbitMQWorker, RabbitMQPublisher
"""

from .rabbitmq import RabbitMQPublisher, RabbitMQWorker
from .scheduler_client import ReportRefused, SchedulerClient, SchedulerError, mark_job_run
from .scheduler_runtime import InvalidJobMessage, JobMessage, parse_job_message, reschedule_job

__all__ = [
    "InvalidJobMessage",
    "JobMessage",
    "RabbitMQPublisher",
    "RabbitMQWorker",
    "ReportRefused",
    "SchedulerClient",
    "SchedulerError",
    "mark_job_run",
    "parse_job_message",
    "reschedule_job",
]
