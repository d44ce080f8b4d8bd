"""Reporting a run to the scheduler: ``mark_job_run``, over REST (the default) or over AMQP.

The scheduler's address comes from the environment: ``SCHEDULER_URL`` (or
``SCHEDULER_URL_REAL`` / ``SCHEDULER_URL_MOCK`` per scope; defaults ``http://127.0.0.1:8095``
for real and ``http://127.0.0.1:9095`` for mock) and ``SCHEDULER_API_TOKEN``. With
``SCHEDULER_REPORTS=amqp`` reports go to the scheduler's reports queue
(``SCHEDULER_REPORTS_QUEUE``, default ``{scope}.jobs.reports``) on ``RABBITMQ_URL``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from . import _current

ATTEMPTS = 4
FIRST_BACKOFF = 0.2
_DEFAULT_PORTS = {"real": 8095, "mock": 9095}


class SchedulerError(Exception):
    """The report did not get through: the scheduler (or the broker) could not be reached, or
    kept failing."""


class ReportRefused(SchedulerError):
    """The scheduler answered and refused the report (a 4xx): retrying would not help."""

    def __init__(self, status: int, body: Dict[str, Any]):
        self.status = status
        self.body = body
        super().__init__(f"scheduler refused the report ({status}): {body.get('message', body)}")


def _now_z() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SchedulerClient:
    """Where reports go. ``SchedulerClient(base_url, token)`` posts to
    ``{base_url}/jobs/{job_id}/last-run``; ``SchedulerClient.over_amqp(amqp_url, queue)``
    publishes to the reports queue and waits for the answer on direct reply-to."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._amqp: Optional[tuple] = None

    @classmethod
    def over_amqp(cls, amqp_url: str, reports_queue: str, timeout: float = 10.0) -> "SchedulerClient":
        client = cls("http://unused.invalid", None, timeout)
        client._amqp = (amqp_url, reports_queue)
        return client

    @classmethod
    def from_env(cls, scope: Optional[str] = None) -> "SchedulerClient":
        scope = scope or os.environ.get("SCHEDULER_SCOPE", "real")
        if os.environ.get("SCHEDULER_REPORTS", "rest").lower() == "amqp":
            queue = os.environ.get("SCHEDULER_REPORTS_QUEUE", f"{scope}.jobs.reports")
            amqp_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
            return cls.over_amqp(amqp_url, queue)
        url = (
            os.environ.get(f"SCHEDULER_URL_{scope.upper()}")
            or os.environ.get("SCHEDULER_URL")
            or f"http://127.0.0.1:{_DEFAULT_PORTS.get(scope, 8095)}"
        )
        return cls(url, os.environ.get("SCHEDULER_API_TOKEN") or None)

    def report(self, job_id: str, report: Dict[str, Any]) -> Dict[str, Any]:
        """Sends one report; answers the scheduler's receipt. Network errors and 5xx are
        retried with backoff; a 4xx raises :class:`ReportRefused` at once."""
        if self._amqp is not None:
            return self._report_over_amqp(job_id, report)
        url = f"{self.base_url}/jobs/{urllib.parse.quote(job_id, safe='')}/last-run"
        body = json.dumps(report).encode()
        backoff = FIRST_BACKOFF
        last: Optional[BaseException] = None
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(url, data=body, method="POST")
            request.add_header("Content-Type", "application/json")
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                answer = _json_or_text(error.read())
                if 400 <= error.code < 500:
                    raise ReportRefused(error.code, answer) from None
                last = SchedulerError(f"scheduler failing ({error.code}): {answer}")
            except (urllib.error.URLError, OSError) as error:
                last = error
            if attempt < ATTEMPTS:
                time.sleep(backoff)
                backoff *= 2
        raise SchedulerError(f"scheduler unreachable at {url}: {last}")

    def _report_over_amqp(self, job_id: str, report: Dict[str, Any]) -> Dict[str, Any]:
        import pika  # only the AMQP path needs it

        amqp_url, queue = self._amqp  # type: ignore[misc]
        body = dict(report, job_id=job_id)
        correlation = str(uuid.uuid4())
        try:
            connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        except pika.exceptions.AMQPError as error:
            raise SchedulerError(f"report over AMQP failed: {error!r}") from None
        try:
            channel = connection.channel()
            answers: list = []
            channel.basic_consume(
                "amq.rabbitmq.reply-to",
                lambda _ch, _method, properties, payload: answers.append((properties, payload)),
                auto_ack=True,
            )
            channel.basic_publish(
                "",
                queue,
                json.dumps(body).encode(),
                pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=2,
                    reply_to="amq.rabbitmq.reply-to",
                    correlation_id=correlation,
                ),
            )
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                connection.process_data_events(time_limit=0.1)
                for properties, payload in answers:
                    if properties.correlation_id == correlation:
                        answer = _json_or_text(payload)
                        if "error" in answer:
                            status = {"not_found": 404, "run_not_found": 404, "no_run_in_flight": 409}
                            raise ReportRefused(status.get(answer["error"], 400), answer)
                        return answer
            raise SchedulerError("report over AMQP: no answer in time")
        except pika.exceptions.AMQPError as error:
            raise SchedulerError(f"report over AMQP failed: {error!r}") from None
        finally:
            try:
                connection.close()
            except pika.exceptions.AMQPError:
                pass


def _json_or_text(payload: bytes) -> Dict[str, Any]:
    try:
        answer = json.loads(payload)
        return answer if isinstance(answer, dict) else {"message": answer}
    except ValueError:
        return {"message": payload.decode(errors="replace")}


_clients: Dict[str, SchedulerClient] = {}


def _client_for(scope: Optional[str]) -> SchedulerClient:
    key = scope or ""
    if key not in _clients:
        _clients[key] = SchedulerClient.from_env(scope)
    return _clients[key]


def mark_job_run(
    job_id: str,
    scope: Optional[str] = None,
    run_id: Optional[str] = None,
    status: str = "success",
    error: Optional[str] = None,
    started_at: Optional[str] = None,
    finished_at: Optional[str] = None,
    client: Optional[SchedulerClient] = None,
) -> Dict[str, Any]:
    """Reports that a run of ``job_id`` finished (``status`` ``success`` or ``failed``, with
    ``error`` text). Called from a :class:`~jennie_worker.rabbitmq.RabbitMQWorker` handler
    without ``run_id``, it reports the run being handled (with its chain, so queue-mode runs
    are recorded); elsewhere without ``run_id`` the scheduler takes the job's oldest run in
    flight. Answers the scheduler's receipt (``counted``, ``reschedule``, ...); raises
    :class:`ReportRefused` when the scheduler refuses it and :class:`SchedulerError` when it
    cannot be reached."""
    if status not in ("success", "failed"):
        raise ValueError("status must be 'success' or 'failed'")
    current = _current.current()
    report: Dict[str, Any] = {"status": status, "finished_at": finished_at or _now_z()}
    if error is not None:
        report["error"] = error
    if started_at is not None:
        report["started_at"] = started_at
    in_hand = current is not None and current.message.job_id == job_id and run_id in (
        None,
        current.message.run_id,
    )
    if in_hand:
        message = current.message  # type: ignore[union-attr]
        report.update(
            run_id=message.run_id,
            trigger_source=message.trigger_source,
            attempt=message.attempt,
        )
        if message.due_at:
            report["due_at"] = message.due_at
        if message.queued_at:
            report["queued_at"] = message.queued_at
        if message.chain_id is not None:
            report["chain_id"] = message.chain_id
        if message.chain_seq is not None:
            report["chain_seq"] = message.chain_seq
        scope = scope or message.scope
    elif run_id is not None:
        report["run_id"] = run_id
    if scope is not None:
        report["scope"] = scope
    client = client or _client_for(scope)
    try:
        receipt = client.report(job_id, report)
    except ReportRefused:
        if in_hand:
            current.refused = True  # type: ignore[union-attr]
        raise
    if in_hand:
        current.receipt = receipt  # type: ignore[union-attr]
    return receipt
