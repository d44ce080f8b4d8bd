"""RabbitMQ for workers: :class:`RabbitMQWorker` consumes a job queue, :class:`RabbitMQPublisher`
publishes job messages (now, or through a delay queue for queue mode)."""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import json
import logging
import os
import signal
import threading
import time
import traceback
from datetime import datetime, timezone
from typing import Any, Callable, Deque, Dict, Mapping, Optional, Set, Union

import pika
import pika.exceptions

from . import _current
from .scheduler_client import ReportRefused, SchedulerClient, SchedulerError, mark_job_run
from .scheduler_runtime import InvalidJobMessage, JobMessage, parse_job_message, reschedule_job

log = logging.getLogger("jennie_worker")

#: Run ids remembered to drop duplicate deliveries.
REMEMBERED_RUNS = 4096
MIN_BACKOFF = 0.25
MAX_BACKOFF = 10.0
#: How long a stop waits for the deliveries in progress.
GRACEFUL_STOP = 30.0

Message = Union[JobMessage, Mapping[str, Any]]


def delay_queue_name(queue: str, delay_ms: int) -> str:
    """The delay queue holding messages for ``delay_ms`` before they return to ``queue``."""
    return f"{queue}.delay.{delay_ms}"


def queue_type_arguments() -> Dict[str, Any]:
    """The declare arguments of the queue type the scheduler uses: ``SCHEDULER_QUEUE_TYPE``,
    ``classic`` (no argument, the default) or ``quorum``. Every declarer of a queue must agree
    on its type."""
    kind = os.environ.get("SCHEDULER_QUEUE_TYPE", "classic").strip().lower()
    return {"x-queue-type": "quorum"} if kind == "quorum" else {}


def delay_queue_arguments(queue: str, delay_ms: int) -> Dict[str, Any]:
    """The arguments the Rust SDK declares a delay queue with (a queue is declared with the
    same arguments by every publisher, whatever its language)."""
    return {
        **queue_type_arguments(),
        "x-message-ttl": delay_ms,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        # Unused for a minute past its TTL: gone. Every publish re-declares it.
        "x-expires": delay_ms + 60_000,
    }


class RabbitMQPublisher:
    """Publishes job messages for one job queue with publisher confirms; connects on first use
    and once more when the connection has gone. Not thread-safe: one per thread."""

    def __init__(self, amqp_url: str, queue_name: str):
        self.amqp_url = amqp_url
        self.queue_name = queue_name
        self._connection: Optional[pika.BlockingConnection] = None
        self._channel: Any = None

    def publish(self, message: Message) -> None:
        """Publishes ``message`` into the job queue now."""
        self._send(self.queue_name, {}, message)

    def publish_delayed(self, message: Message, delay_seconds: float) -> None:
        """Publishes ``message`` so that it reaches the job queue after ``delay_seconds``,
        through ``{queue}.delay.{ms}`` (one per distinct delay)."""
        delay_ms = max(1, int(round(delay_seconds * 1000)))
        arguments = delay_queue_arguments(self.queue_name, delay_ms)
        self._send(delay_queue_name(self.queue_name, delay_ms), arguments, message)

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.close()
            except pika.exceptions.AMQPError:
                pass
        self._connection = self._channel = None

    def __enter__(self) -> "RabbitMQPublisher":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def _send(self, queue: str, arguments: Dict[str, Any], message: Message) -> None:
        body = message.to_dict() if isinstance(message, JobMessage) else dict(message)
        payload = json.dumps(body, separators=(",", ":")).encode()
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=str(body.get("run_id", "")) or None,
        )
        for attempt in range(2):
            try:
                if self._channel is None or not self._channel.is_open:
                    self._connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
                    self._channel = self._connection.channel()
                    self._channel.confirm_delivery()
                self._channel.queue_declare(
                    queue, durable=True, arguments=arguments or queue_type_arguments() or None
                )
                self._channel.basic_publish(
                    "", queue, payload, properties=properties, mandatory=True
                )
                return
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError,
                    pika.exceptions.StreamLostError):
                self.close()
                if attempt == 1:
                    raise


class _RecentRuns:
    def __init__(self) -> None:
        self._order: Deque[str] = collections.deque()
        self._set: Set[str] = set()
        self._lock = threading.Lock()

    def __contains__(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._set

    def add(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._set:
                return
            self._set.add(run_id)
            self._order.append(run_id)
            if len(self._order) > REMEMBERED_RUNS:
                self._set.discard(self._order.popleft())


class RabbitMQWorker:
    """Consumes a job queue. For each message: runs ``handler(payload)`` in a thread of its
    own (so the connection keeps its heartbeats during a long run), reports the run unless the
    handler did (success, or failed with the exception's text), publishes a queue-mode job's
    next run when the scheduler says so and the handler did not, and only then acknowledges.
    A message that is not a job message is rejected (not requeued); a duplicate delivery of a
    run already handled is acknowledged and dropped; a lost connection is re-opened with
    backoff (0.25 s doubling to 10 s). SIGTERM or SIGINT (or :meth:`stop`) stops taking
    messages, lets those in progress finish (at most 30 s), and returns from :meth:`start`.

    ``handler`` receives the delivery body (bytes), as in the original worker pattern; pass it
    to :func:`parse_job_message`.
    """

    def __init__(
        self,
        amqp_url: str,
        queue_name: str,
        handler: Callable[[bytes], Any],
        prefetch: int = 1,
        scheduler: Optional[SchedulerClient] = None,
    ):
        self.amqp_url = amqp_url
        self.queue_name = queue_name
        self.handler = handler
        self.prefetch = max(1, int(prefetch))
        self.scheduler = scheduler
        self._seen = _RecentRuns()
        self._stopping = threading.Event()
        self._connection: Optional[pika.BlockingConnection] = None
        self._publishers = threading.local()
        #: Connections opened so far (1 while RabbitMQ never went away).
        self.connections = 0

    def stop(self) -> None:
        """Asks the worker to stop (safe from any thread or a signal handler)."""
        self._stopping.set()

    def start(self) -> None:
        """Consumes until stopped; reconnects with backoff when RabbitMQ goes away."""
        self._install_signal_handlers()
        backoff = MIN_BACKOFF
        while not self._stopping.is_set():
            try:
                self._consume()
                return
            except (pika.exceptions.AMQPError, OSError) as error:
                log.warning("worker lost RabbitMQ (%r); reconnecting in %.2f s", error, backoff)
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    def _consume(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        self._connection = connection
        self.connections += 1
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.prefetch, thread_name_prefix="jennie-worker"
        )
        in_progress: Set[concurrent.futures.Future] = set()
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.queue_declare(
                self.queue_name, durable=True, arguments=queue_type_arguments() or None
            )

            def on_message(_channel: Any, method: Any, _properties: Any, body: bytes) -> None:
                future = executor.submit(self._handle, body)
                in_progress.add(future)
                settle = functools.partial(self._settle, channel, method.delivery_tag, future, in_progress)

                def handled(_: concurrent.futures.Future) -> None:
                    try:
                        connection.add_callback_threadsafe(settle)
                    except Exception:  # noqa: BLE001 - the connection is gone: redelivered
                        in_progress.discard(future)

                future.add_done_callback(handled)

            tag = channel.basic_consume(self.queue_name, on_message)
            log.info("worker consuming %s", self.queue_name)
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.2)
            channel.basic_cancel(tag)
            deadline = time.monotonic() + GRACEFUL_STOP
            while in_progress and time.monotonic() < deadline:
                connection.process_data_events(time_limit=0.1)
        finally:
            executor.shutdown(wait=False)
            if connection.is_open:
                try:
                    connection.close()
                except pika.exceptions.AMQPError:
                    pass

    def _settle(self, channel: Any, delivery_tag: int, done: concurrent.futures.Future,
                in_progress: Set[concurrent.futures.Future]) -> None:
        """On the connection's thread: acknowledge (or reject) a handled delivery."""
        in_progress.discard(done)
        if not channel.is_open:
            return  # redelivered after the reconnect
        error = done.exception()
        if error is not None:
            log.error("handling a delivery of %s broke (%r); requeueing it", self.queue_name, error)
            channel.basic_nack(delivery_tag, requeue=True)
        elif done.result() == "reject":
            channel.basic_nack(delivery_tag, requeue=False)
        else:
            channel.basic_ack(delivery_tag)

    def _publisher(self) -> RabbitMQPublisher:
        publisher = getattr(self._publishers, "publisher", None)
        if publisher is None:
            publisher = RabbitMQPublisher(self.amqp_url, self.queue_name)
            self._publishers.publisher = publisher
        return publisher

    def _handle(self, body: bytes) -> str:
        """In a worker thread: the whole life of one delivery but its acknowledgement."""
        try:
            job = parse_job_message(body)
        except InvalidJobMessage as error:
            log.error("rejecting a message of %s that is not a job message: %s", self.queue_name, error)
            return "reject"
        if job.run_id in self._seen:
            log.info("dropping a duplicate delivery of run %s of %s", job.run_id, job.job_id)
            return "ack"
        run = _current.CurrentRun(message=job)
        token = _current.enter(run)
        started_at = _now_z()
        try:
            failure: Optional[str] = None
            try:
                self.handler(body)
            except Exception as error:  # the run failed: report it with the exception text
                failure = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                log.error("run %s of %s failed:\n%s", job.run_id, job.job_id, traceback.format_exc())
            if run.receipt is None and not run.refused:
                try:
                    mark_job_run(
                        job.job_id,
                        scope=job.scope,
                        status="failed" if failure else "success",
                        error=failure,
                        started_at=started_at,
                        client=self.scheduler,
                    )
                except ReportRefused as error:
                    log.error("report of run %s refused; not rescheduling: %s", job.run_id, error)
                except SchedulerError as error:
                    log.error("report of run %s failed: %s", job.run_id, error)
            if job.auto_reschedule and not run.rescheduled:
                try:
                    reschedule_job(self._publisher(), job)
                except Exception as error:  # noqa: BLE001 - logged, the delivery is still acked
                    log.error("reschedule of %s failed: %r", job.job_id, error)
        finally:
            _current.leave(token)
        self._seen.add(job.run_id)
        return "ack"


def _now_z() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
