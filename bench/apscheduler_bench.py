"""The APScheduler 3.x baseline of jennie-bench: the planned jobs as APScheduler interval jobs
with its default settings, each publishing the same JSON message to RabbitMQ with pika
(persistent, publisher confirms), as the seed's Python scheduler did.

Started by `jennie-bench`; prints `apscheduler armed` once the scheduler runs every job, and at
`--until` one line `{"result": {...}}`.
"""

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
import uuid

import pika
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

UTC = dt.timezone.utc


def versions():
    import importlib.metadata as md

    return {
        "python": sys.version.split()[0],
        "apscheduler": md.version("APScheduler"),
        "pika": md.version("pika"),
    }


class Publisher:
    """One pika connection per executor thread (pika connections are not thread-safe)."""

    def __init__(self, url, queue):
        self.params = pika.URLParameters(url)
        self.params.heartbeat = 0
        self.queue = queue
        self.local = threading.local()
        self.lock = threading.Lock()
        self.published = 0
        self.errors = 0
        self.last_confirm_ms = 0.0

    def channel(self):
        channel = getattr(self.local, "channel", None)
        if channel is None:
            connection = pika.BlockingConnection(self.params)
            channel = connection.channel()
            channel.confirm_delivery()
            self.local.connection = connection
            self.local.channel = channel
        return channel

    def fire(self, job_id, interval_ms, first_due_ms):
        now_ms = time.time() * 1000.0
        # The instant this fire is for: the latest due instant not after now.
        due_ms = first_due_ms + max(0, (now_ms - first_due_ms) // interval_ms) * interval_ms
        run_id = str(uuid.uuid4())
        body = json.dumps(
            {
                "job_id": job_id,
                "scope": "mock",
                "run_id": run_id,
                "trigger_source": "scheduler",
                "params": {},
                "next_delay_sec": 1,
                "auto_reschedule": False,
                "timeout_sec": 120,
                "retry_limit": 3,
                "telemetry_label": job_id,
                "queued_at": iso(now_ms),
                "due_at": iso(due_ms),
                "attempt": 1,
            }
        )
        try:
            self.channel().basic_publish(
                exchange="",
                routing_key=self.queue,
                body=body,
                properties=pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=2,
                    message_id=run_id,
                ),
                mandatory=True,
            )
            with self.lock:
                self.published += 1
                self.last_confirm_ms = max(self.last_confirm_ms, time.time() * 1000.0)
        except Exception:  # noqa: BLE001 - counted, as a lost fire
            with self.lock:
                self.errors += 1
            self.local.channel = None


def iso(epoch_ms):
    instant = dt.datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", action="store_true")
    parser.add_argument("--plan")
    parser.add_argument("--queue")
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/%2f")
    parser.add_argument("--until", type=float)
    args = parser.parse_args()
    if args.versions:
        print(json.dumps({"result": versions()}), flush=True)
        return

    publisher = Publisher(args.amqp, args.queue)
    counts = {"missed": 0, "max_instances": 0}

    def listener(event):
        if event.code == EVENT_JOB_MISSED:
            counts["missed"] += 1
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            counts["max_instances"] += 1

    # APScheduler's defaults: thread pool of 10, misfire_grace_time 1 s, coalesce, 1 instance.
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_listener(listener, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    with open(args.plan) as plan:
        for line in plan:
            job_id, interval_ms, first_due_ms = line.strip().split(",")
            interval_ms, first_due_ms = int(interval_ms), int(first_due_ms)
            scheduler.add_job(
                publisher.fire,
                IntervalTrigger(
                    seconds=interval_ms / 1000.0,
                    start_date=dt.datetime.fromtimestamp(first_due_ms / 1000.0, tz=UTC),
                    timezone=UTC,
                ),
                args=(job_id, interval_ms, first_due_ms),
                id=job_id,
            )
    scheduler.start()
    print("apscheduler armed", flush=True)
    while time.time() * 1000.0 < args.until:
        time.sleep(0.05)
    with publisher.lock:
        result = {
            "published": publisher.published,
            "publish_errors": publisher.errors,
            "missed": counts["missed"],
            "max_instances": counts["max_instances"],
            "last_confirm_ms": publisher.last_confirm_ms,
        }
    print(json.dumps({"result": result}), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
