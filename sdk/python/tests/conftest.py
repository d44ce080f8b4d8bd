"""Fixtures: a real jennie-scheduler (the debug binary of this repository, or
``JENNIE_SCHEDULER_BIN``) on a free port with a SQLite file of its own, and the local RabbitMQ
(``RABBITMQ_URL``). A missing binary or broker fails the tests with a message saying what to
do."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pika
import pytest

REPO = Path(__file__).resolve().parents[3]
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")


def binary(name: str, variable: str) -> Path:
    path = Path(os.environ.get(variable, REPO / "target" / "debug" / name))
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `cargo build --bin {name}` (or set {variable})")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """A running scheduler and a small REST client for it."""

    def __init__(self, url: str, process: subprocess.Popen):
        self.url = url
        self.process = process

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        if data is None and method in ("POST", "PUT"):
            data = b""
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read()
            return error.code, json.loads(text) if text else None

    def runs(self, job_id: str) -> List[Dict[str, Any]]:
        status, runs = self.call("GET", f"/jobs/{job_id}/runs?limit=1000")
        assert status == 200, runs
        return runs


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    check_broker()
    path = binary("jennie-scheduler", "JENNIE_SCHEDULER_BIN")
    directory = tmp_path_factory.mktemp("scheduler")
    port = free_port()
    environment = dict(
        os.environ,
        SCHEDULER_SCOPE="real",
        SCHEDULER_CONFIG_DIR=str(directory),
        SCHEDULER_DB_PATH=str(directory / "scheduler.db"),
        SCHEDULER_HTTP_ADDR=f"127.0.0.1:{port}",
        SCHEDULER_TICK_SECONDS="1",
        RABBITMQ_URL=RABBITMQ_URL,
        RUST_LOG=os.environ.get("RUST_LOG", "warn"),
    )
    environment.pop("SCHEDULER_API_TOKEN", None)
    log = open(directory / "service.log", "wb")
    process = subprocess.Popen([str(path)], env=environment, stdout=log, stderr=subprocess.STDOUT)
    service = Service(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 60
    while True:
        try:
            status, body = service.call("GET", "/ready")
            if status == 200:
                break
        except (urllib.error.URLError, OSError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the scheduler did not get ready; its log: {(directory / 'service.log').read_text()[-2000:]}")
        time.sleep(0.1)
    os.environ["SCHEDULER_URL"] = service.url
    yield service
    process.terminate()
    process.wait(timeout=30)
    log.close()


def check_broker() -> None:
    try:
        pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).close()
    except pika.exceptions.AMQPError as error:
        pytest.fail(f"RabbitMQ is not reachable at {RABBITMQ_URL} ({error!r}): start it (.ci/services)")


def delete_queues(*names: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for name in names:
            channel.queue_delete(name)
    finally:
        connection.close()


@pytest.fixture
def queue() -> Iterator[str]:
    name = f"real.jobs.py-{uuid.uuid4().hex[:12]}"
    yield name
    delete_queues(name)


def eventually(check: Callable[[], Any], within: float = 15.0, what: str = "condition") -> Any:
    """Polls ``check`` until it answers something truthy."""
    deadline = time.monotonic() + within
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s (last: {answer!r})")
        time.sleep(0.1)


class Running:
    """A worker's ``start()`` on a thread of its own."""

    def __init__(self, worker: Any):
        self.worker = worker
        self.thread = threading.Thread(target=worker.start, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(timeout=40)
        assert not self.thread.is_alive(), "the worker stopped"
