"""RabbitMQWorker against the real scheduler and RabbitMQ: failures and retries, duplicate
deliveries, reports over AMQP, a graceful stop, and a Rust worker on the same queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pika

from conftest import RABBITMQ_URL, Running, Service, binary, eventually
from jennie_worker import (
    RabbitMQPublisher,
    RabbitMQWorker,
    ReportRefused,
    SchedulerClient,
    mark_job_run,
    parse_job_message,
)


def create(service: Service, queue: str, **fields: Any) -> str:
    job_id = f"py-{uuid.uuid4().hex[:10]}"
    status, job = service.call("POST", "/jobs", {"job_id": job_id, "queue": queue, **fields})
    assert status == 201, job
    return job_id


def test_a_failing_handler_is_reported_with_its_exception_and_retried(service: Service, queue: str) -> None:
    job_id = create(service, queue, interval_seconds=3600, retry_limit=2)
    attempts: List[int] = []

    def handler(payload: bytes) -> None:
        job = parse_job_message(payload)
        attempts.append(job.attempt)
        if job.attempt == 1:
            raise ValueError("quote feed returned nothing")

    running = Running(RabbitMQWorker(RABBITMQ_URL, queue, handler))
    try:
        status, accepted = service.call("POST", f"/jobs/{job_id}/run-now", {})
        assert status == 202
        def finished() -> List[Dict[str, Any]]:
            runs = [run for run in service.runs(job_id) if run["status"] in ("failed", "success")]
            return runs if len(runs) >= 2 else []

        runs = eventually(finished, within=20, what="the failed run and its retry")
        failed = next(run for run in runs if run["status"] == "failed")
        retried = next(run for run in runs if run["status"] == "success")
        assert failed["attempt"] == 1 and "ValueError: quote feed returned nothing" in failed["error"]
        assert retried["attempt"] == 2 and retried["trigger_source"] == "retry"
        assert attempts == [1, 2]
    finally:
        running.stop()
        service.call("DELETE", f"/jobs/{job_id}")


def test_a_duplicate_delivery_of_a_handled_run_is_dropped(service: Service, queue: str) -> None:
    job_id = create(service, queue, interval_seconds=3600)
    handled: List[str] = []
    running = Running(RabbitMQWorker(RABBITMQ_URL, queue, lambda body: handled.append(parse_job_message(body).run_id)))
    try:
        status, accepted = service.call("POST", f"/jobs/{job_id}/run-now", {})
        eventually(lambda: handled, what="the run handled")
        # The same message again, as RabbitMQ redelivers after a lost acknowledgement.
        message = {
            "job_id": job_id, "scope": "real", "run_id": accepted["run_id"], "trigger_source": "manual",
            "params": {}, "next_delay_sec": None, "auto_reschedule": False, "timeout_sec": 120,
            "retry_limit": 3, "telemetry_label": "x", "queued_at": "2026-01-01T00:00:00.000Z",
            "due_at": "2026-01-01T00:00:00.000Z", "attempt": 1,
        }
        with RabbitMQPublisher(RABBITMQ_URL, queue) as publisher:
            publisher.publish(message)
            publisher.publish({"not": "a job message"})
        time.sleep(1.5)
        assert handled == [accepted["run_id"]]
        assert queue_depth(queue) == 0, "the duplicate was acknowledged and the bad message rejected"
    finally:
        running.stop()
        service.call("DELETE", f"/jobs/{job_id}")


def test_reports_over_amqp_and_the_seed_clients_report_shapes(service: Service, queue: str) -> None:
    job_id = create(service, queue, interval_seconds=3600, max_parallel=5)
    over_amqp = SchedulerClient.over_amqp(RABBITMQ_URL, "real.jobs.reports")
    first = service.call("POST", f"/jobs/{job_id}/run-now", {})[1]["run_id"]
    receipt = mark_job_run(job_id, scope="real", run_id=first, client=over_amqp)
    assert receipt["counted"] is True and receipt["run_id"] == first

    # The seed client's shapes: job_id and scope in the body, scope in the query.
    second = service.call("POST", f"/jobs/{job_id}/run-now", {})[1]["run_id"]
    status, body = service.call("POST", f"/jobs/{job_id}/last-run?scope=real",
                                {"job_id": job_id, "scope": "real", "run_id": second})
    assert status == 200 and body["counted"] is True, body
    for path, report, field in [
        (f"/jobs/{job_id}/last-run", {"scope": "mock"}, "scope"),
        (f"/jobs/{job_id}/last-run", {"job_id": "another"}, "job_id"),
        (f"/jobs/{job_id}/last-run?scope=mock", {}, "scope"),
    ]:
        status, body = service.call("POST", path, report)
        assert status == 400 and body["field"] == field, body
    try:
        mark_job_run(job_id, scope="real", run_id=str(uuid.uuid4()))
        raise AssertionError("an unknown run is refused")
    except ReportRefused as refused:
        assert refused.status == 404
    service.call("DELETE", f"/jobs/{job_id}")


def test_sigterm_finishes_the_run_in_hand_then_exits(service: Service, queue: str, tmp_path: Path) -> None:
    job_id = create(service, queue, interval_seconds=3600)
    script = tmp_path / "slow_worker.py"
    script.write_text(
        "import sys, time\n"
        "from jennie_worker.rabbitmq import RabbitMQWorker\n"
        "def handle(payload):\n"
        "    print('started', flush=True)\n"
        "    time.sleep(2)\n"
        "    print('finished', flush=True)\n"
        f"RabbitMQWorker({RABBITMQ_URL!r}, {queue!r}, handle).start()\n"
        "print('exited', flush=True)\n"
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, SCHEDULER_URL=service.url))
    try:
        time.sleep(1)
        status, accepted = service.call("POST", f"/jobs/{job_id}/run-now", {})
        assert process.stdout.readline().strip() == "started"
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].split()
        assert output == ["finished", "exited"], output
        assert process.returncode == 0
        run = next(run for run in service.runs(job_id) if run["run_id"] == accepted["run_id"])
        assert run["status"] == "success", run
        assert queue_depth(queue) == 0, "the run was acknowledged before the exit"
    finally:
        if process.poll() is None:
            process.kill()
        service.call("DELETE", f"/jobs/{job_id}")


def test_a_python_and_a_rust_worker_share_a_queue_mode_chain(service: Service, queue: str) -> None:
    handled: List[Dict[str, Any]] = []
    python = Running(RabbitMQWorker(RABBITMQ_URL, queue, lambda body: handled.append(json.loads(body))))
    rust = subprocess.Popen(
        [str(binary("buy-scanner", "BUY_SCANNER_BIN"))],
        env=dict(os.environ, WORKER_QUEUE=queue, SCHEDULER_URL=service.url, WORK_MS="50",
                 RABBITMQ_URL=RABBITMQ_URL, RUST_LOG="warn"),
    )
    job_id = create(service, queue, reschedule_mode="queue", interval_seconds=1)
    try:
        # Each run is published by whichever worker handled the one before, through the same
        # delay queue (declared with the same arguments by both); the scheduler records them.
        def succeeded() -> List[Dict[str, Any]]:
            runs = [run for run in service.runs(job_id) if run["status"] == "success"]
            return runs if len(runs) >= 8 else []

        runs = eventually(succeeded, within=30, what="eight runs of the chain")
        by_python = {message["run_id"] for message in handled}
        ours = [run for run in runs if run["run_id"] in by_python]
        theirs = [run for run in runs if run["run_id"] not in by_python]
        assert ours and theirs, f"both workers took part: {len(ours)} python, {len(theirs)} rust"
        seqs = sorted(message.get("chain_seq") or 0 for message in handled)
        assert len(seqs) == len(set(seqs)), "no position of the chain ran twice"
    finally:
        service.call("POST", f"/jobs/{job_id}/pause")
        rust.send_signal(signal.SIGINT)
        rust.wait(timeout=30)
        python.stop()
        service.call("DELETE", f"/jobs/{job_id}")



def test_a_long_run_keeps_the_connection_alive(service: Service, queue: str) -> None:
    """The handler runs in a thread of its own, so the connection answers the broker's
    heartbeats (2 s here) during a run several times longer: no reconnect, one delivery."""
    job_id = create(service, queue, interval_seconds=3600)
    calls: List[str] = []

    def handler(payload: bytes) -> None:
        calls.append(parse_job_message(payload).run_id)
        time.sleep(7)

    worker = RabbitMQWorker(RABBITMQ_URL + "?heartbeat=2", queue, handler)
    running = Running(worker)
    try:
        status, accepted = service.call("POST", f"/jobs/{job_id}/run-now", {})
        eventually(
            lambda: any(run["run_id"] == accepted["run_id"] and run["status"] == "success"
                        for run in service.runs(job_id)),
            within=20,
            what="the long run reported",
        )
        time.sleep(0.5)
        assert calls == [accepted["run_id"]]
        assert worker.connections == 1, "the connection survived the long run"
        assert queue_depth(queue) == 0
    finally:
        running.stop()
        service.call("DELETE", f"/jobs/{job_id}")



def test_the_worker_reconnects_when_the_broker_closes_its_connection(service: Service, queue: str) -> None:
    job_id = create(service, queue, interval_seconds=3600)
    name = f"jennie-worker-test-{uuid.uuid4().hex[:8]}"
    url = RABBITMQ_URL + "?client_properties=" + urllib.parse.quote(repr({"connection_name": name}))
    handled: List[str] = []
    worker = RabbitMQWorker(url, queue, lambda body: handled.append(parse_job_message(body).run_id))
    running = Running(worker)
    try:
        eventually(lambda: worker.connections == 1, what="the worker connected")
        close_connection(name)
        eventually(lambda: worker.connections == 2, within=20, what="the worker reconnected")
        status, accepted = service.call("POST", f"/jobs/{job_id}/run-now", {})
        eventually(
            lambda: any(run["run_id"] == accepted["run_id"] and run["status"] == "success"
                        for run in service.runs(job_id)),
            what="a run handled on the new connection",
        )
        assert handled == [accepted["run_id"]]
    finally:
        running.stop()
        service.call("DELETE", f"/jobs/{job_id}")


def close_connection(name: str) -> None:
    """Has RabbitMQ close the connection called ``name``, as a broker restart would."""
    def rabbitmqctl(*arguments: str) -> str:
        try:
            done = subprocess.run(["rabbitmqctl", "-q", *arguments], capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise AssertionError("rabbitmqctl is needed to close a connection (RabbitMQ's CLI)") from None
        assert done.returncode == 0, done.stderr
        return done.stdout

    def listed() -> List[str]:
        lines = rabbitmqctl("list_connections", "pid", "client_properties").splitlines()
        return [line.split("\t")[0] for line in lines if f'"{name}"' in line]

    pids = eventually(listed, what=f"the connection {name} listed")
    for pid in pids:
        rabbitmqctl("close_connection", pid, "closed by the reconnect test")


def queue_depth(name: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        return connection.channel().queue_declare(name, durable=True, passive=True).method.message_count
    finally:
        connection.close()
