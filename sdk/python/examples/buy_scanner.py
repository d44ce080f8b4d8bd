"""A worker in Python: consumes `{scope}.jobs.buy-scanner` and scans with the run's params; the
worker reports each run and reschedules a queue-mode job through the delay queue when the
scheduler says so.

    pip install ./sdk/python
    SCHEDULER_SCOPE=real RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/%2f python buy_scanner.py

Environment: SCHEDULER_SCOPE (real), RABBITMQ_URL, SCHEDULER_URL (the scope's scheduler, by
default http://127.0.0.1:8095 for real and :9095 for mock), SCHEDULER_API_TOKEN, WORKER_QUEUE.
Stops on SIGTERM or Ctrl-C after the run in hand.
"""

import logging
import os
import time

from jennie_worker.rabbitmq import RabbitMQWorker
from jennie_worker.scheduler_runtime import parse_job_message

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
logger = logging.getLogger("buy_scanner")

SCOPE = os.environ.get("SCHEDULER_SCOPE", "real")
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
QUEUE = os.environ.get("WORKER_QUEUE", f"{SCOPE}.jobs.buy-scanner")


def run_scan(scan_mode: str = "swing", **_: object) -> None:
    logger.info("scanning (%s)", scan_mode)
    time.sleep(0.3)


def handle(payload: bytes) -> None:
    """Returning reports the run a success; raising reports it failed with the exception's
    text (the scheduler retries it up to retry_limit). The worker also reschedules a
    queue-mode job when the scheduler answers `reschedule: true`."""
    job = parse_job_message(payload)
    logger.info("run %s of %s (%s, attempt %d)", job.run_id, job.job_id, job.trigger_source, job.attempt)
    run_scan(**job.params)


if __name__ == "__main__":
    RabbitMQWorker(RABBITMQ_URL, QUEUE, handle, prefetch=1).start()
