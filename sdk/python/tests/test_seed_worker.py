"""The original worker pattern, end to end against the real scheduler and RabbitMQ."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import RABBITMQ_URL, Service, delete_queues, eventually

SEED_QUEUE = "real.jobs.buy-scanner"


class SeedWorker:
    """Runs seed_worker.py on a thread; records every scan."""

    def __init__(self) -> None:
        self.scans: List[Dict[str, Any]] = []
        namespace: Dict[str, Any] = {}

        def handle_scheduler_job(payload: bytes) -> Any:
            # The snippet names its handler before defining it: look it up when called.
            return namespace["handle_scheduler_job"](payload)

        def run_scan(**params: Any) -> None:
            self.scans.append(params)
            if params.get("fail"):
                raise RuntimeError("scan failed on purpose")

        namespace.update(
            __name__="seed_worker",
            RABBITMQ_URL=RABBITMQ_URL,
            queue_name=SEED_QUEUE,
            run_scan=run_scan,
            logger=logging.getLogger("seed_worker"),
            handle_scheduler_job=handle_scheduler_job,
        )
        source = (Path(__file__).parent / "seed_worker.py").read_text()
        code = compile(source, "seed_worker.py", "exec")
        self.namespace = namespace
        self.thread = threading.Thread(target=exec, args=(code, namespace), daemon=True)
        self.thread.start()
        eventually(lambda: "worker" in namespace, what="the seed worker started")

    def stop(self) -> None:
        self.namespace["worker"].stop()
        self.thread.join(timeout=40)
        assert not self.thread.is_alive()


@pytest.fixture
def seed_queue() -> Any:
    delete_queues(SEED_QUEUE)
    yield SEED_QUEUE
    delete_queues(SEED_QUEUE)


def test_scheduler_mode_runs_are_reported_by_the_seed_worker(service: Service, seed_queue: str) -> None:
    job_id = f"seed-{uuid.uuid4().hex[:8]}"
    status, job = service.call("POST", "/jobs", {
        "job_id": job_id, "queue": seed_queue, "interval_seconds": 3600,
        "default_params": {"scan_mode": "swing"},
    })
    assert status == 201, job
    worker = SeedWorker()
    try:
        for _ in range(2):
            status, accepted = service.call("POST", f"/jobs/{job_id}/run-now", {})
            assert status == 202, accepted
            eventually(
                lambda: any(run["run_id"] == accepted["run_id"] and run["status"] == "success"
                            for run in service.runs(job_id)),
                what="the run reported success",
            )
        assert worker.scans == [{"scan_mode": "swing"}] * 2
        status, job = service.call("GET", f"/jobs/{job_id}")
        assert job["last_status"] == "success"
    finally:
        worker.stop()
        service.call("DELETE", f"/jobs/{job_id}")


def test_queue_mode_chain_runs_on_the_seed_worker_and_pause_stops_it(service: Service, seed_queue: str) -> None:
    job_id = f"seed-q-{uuid.uuid4().hex[:8]}"
    worker = SeedWorker()
    try:
        status, job = service.call("POST", "/jobs", {
            "job_id": job_id, "queue": seed_queue, "reschedule_mode": "queue", "interval_seconds": 1,
        })
        assert status == 201, job
        # Bootstrap, then the worker's own reschedules through the delay queue, each recorded.
        eventually(lambda: len(worker.scans) >= 4, within=20, what="four runs of the chain")
        runs = service.runs(job_id)
        sources = {run["trigger_source"] for run in runs}
        assert "auto-reschedule" in sources, runs
        assert all(run["status"] == "success" for run in runs if run["status"] != "queued"), runs

        status, _ = service.call("POST", f"/jobs/{job_id}/pause")
        assert status == 200
        time.sleep(3)  # the run in flight at the pause is answered reschedule=false
        stopped_at = len(worker.scans)
        time.sleep(3)
        assert len(worker.scans) == stopped_at, "the chain stopped after the pause"
    finally:
        worker.stop()
        service.call("DELETE", f"/jobs/{job_id}")
