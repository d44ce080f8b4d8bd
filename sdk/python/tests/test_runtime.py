"""The pure parts: message parsing and the next message of a queue-mode chain (no services)."""

from __future__ import annotations

import json
import uuid

import pytest

from jennie_worker import InvalidJobMessage, parse_job_message
from jennie_worker.rabbitmq import delay_queue_arguments, delay_queue_name
from jennie_worker.scheduler_runtime import next_message

MESSAGE = {
    "job_id": "buy-scanner", "scope": "real", "run_id": str(uuid.uuid4()), "trigger_source": "scheduler",
    "params": {"scan_mode": "swing"}, "next_delay_sec": 300, "auto_reschedule": True, "timeout_sec": 120,
    "retry_limit": 3, "telemetry_label": "buy_scanner_job", "queued_at": "2026-01-01T09:00:00.000Z",
    "due_at": "2026-01-01T09:00:00.000Z", "attempt": 1, "chain_id": str(uuid.uuid4()), "chain_seq": 4,
    "added_later": {"kept": True},
}


def test_every_field_parses_and_unknown_ones_are_kept() -> None:
    job = parse_job_message(json.dumps(MESSAGE).encode())
    assert job.job_id == "buy-scanner" and job.params == {"scan_mode": "swing"}
    assert job.chain_seq == 4 and job.extra == {"added_later": {"kept": True}}
    assert job.to_dict() == MESSAGE


@pytest.mark.parametrize("payload", [b"", b"{", b"[]", b"null", b'{"job_id": 1}', b"\xff\xfe",
                                     json.dumps(dict(MESSAGE, run_id="nope")).encode(),
                                     json.dumps(dict(MESSAGE, params=[1])).encode()])
def test_a_payload_that_is_not_a_job_message_is_an_invalid_job_message(payload: bytes) -> None:
    with pytest.raises(InvalidJobMessage):
        parse_job_message(payload)


def test_the_next_message_continues_the_chain() -> None:
    job = parse_job_message(MESSAGE)
    following = next_message(job)
    assert following is not None
    assert following.run_id != job.run_id and following.trigger_source == "auto-reschedule"
    assert following.chain_id == job.chain_id and following.chain_seq == 5 and following.attempt == 1
    assert following.queued_at.endswith("Z") and following.due_at > following.queued_at
    assert next_message(parse_job_message(dict(MESSAGE, auto_reschedule=False))) is None
    assert next_message(parse_job_message(dict(MESSAGE, next_delay_sec=None))) is None


def test_delay_queues_are_declared_as_the_rust_sdk_declares_them() -> None:
    assert delay_queue_name("real.jobs.scout", 1500) == "real.jobs.scout.delay.1500"
    assert delay_queue_arguments("real.jobs.scout", 1500) == {
        "x-message-ttl": 1500,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "real.jobs.scout",
        "x-expires": 61_500,
    }
