"""Job messages: parsing them, and rescheduling a queue-mode job's next run."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Mapping, Optional, Union

from . import _current

#: Every field of the message contract; anything else a message carries is kept in ``extra``.
_FIELDS = (
    "job_id",
    "scope",
    "run_id",
    "trigger_source",
    "params",
    "next_delay_sec",
    "auto_reschedule",
    "timeout_sec",
    "retry_limit",
    "telemetry_label",
    "queued_at",
    "due_at",
    "attempt",
    "chain_id",
    "chain_seq",
)
_REQUIRED = ("job_id", "scope", "run_id", "trigger_source")


class InvalidJobMessage(ValueError):
    """A payload that is not a job message."""


@dataclass
class JobMessage:
    """One fire of one job, as published to the job's queue."""

    job_id: str
    scope: str
    run_id: str
    trigger_source: str
    params: Dict[str, Any] = field(default_factory=dict)
    next_delay_sec: Optional[int] = None
    auto_reschedule: bool = False
    timeout_sec: int = 120
    retry_limit: int = 3
    telemetry_label: str = ""
    queued_at: str = ""
    due_at: str = ""
    attempt: int = 1
    chain_id: Optional[str] = None
    chain_seq: Optional[int] = None
    #: Fields the contract does not (yet) name, kept as they came.
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """The message as published (the chain fields only when set)."""
        body: Dict[str, Any] = dict(self.extra)
        for name in _FIELDS:
            value = getattr(self, name)
            if name in ("chain_id", "chain_seq") and value is None:
                continue
            body[name] = value
        return body

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def parse_job_message(payload: Union[bytes, bytearray, str, Mapping[str, Any]]) -> JobMessage:
    """Parses a delivery body (JSON bytes or text, or an already decoded dict). Raises
    :class:`InvalidJobMessage` for anything that is not a job message; never anything else."""
    if isinstance(payload, Mapping):
        body: Any = dict(payload)
    else:
        try:
            body = json.loads(payload)
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            raise InvalidJobMessage(f"not JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidJobMessage("a job message is a JSON object")
    missing = [name for name in _REQUIRED if not isinstance(body.get(name), str)]
    if missing:
        raise InvalidJobMessage(f"missing or not text: {', '.join(missing)}")
    try:
        uuid.UUID(body["run_id"])
    except ValueError:
        raise InvalidJobMessage(f"run_id is not a UUID: {body['run_id']!r}") from None
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise InvalidJobMessage("params must be an object")
    known = {name: body[name] for name in _FIELDS if name in body}
    extra = {name: value for name, value in body.items() if name not in _FIELDS}
    try:
        return JobMessage(**known, extra=extra)
    except TypeError as error:
        raise InvalidJobMessage(str(error)) from None


def _rfc3339_millis_z(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def next_message(job: JobMessage, now: Optional[datetime] = None) -> Optional[JobMessage]:
    """The message of a queue-mode job's next run, or None when ``job`` does not ask to be
    rescheduled: a new run_id, ``auto-reschedule``, fresh ``queued_at``, ``due_at`` one delay
    later, the same chain at the next position."""
    delay = job.next_delay_sec
    if not job.auto_reschedule or not isinstance(delay, int) or delay <= 0:
        return None
    now = now or datetime.now(timezone.utc)
    return dataclasses.replace(
        job,
        run_id=str(uuid.uuid4()),
        trigger_source="auto-reschedule",
        queued_at=_rfc3339_millis_z(now),
        due_at=_rfc3339_millis_z(now + timedelta(seconds=delay)),
        attempt=1,
        chain_seq=None if job.chain_seq is None else job.chain_seq + 1,
        extra=dict(job.extra),
    )


def reschedule_job(publisher: Any, job: JobMessage) -> Optional[str]:
    """Queue mode: publishes ``job``'s next run ``next_delay_sec`` from now through the delay
    queue. Returns the new run_id, or None when nothing was published: the message does not
    ask to be rescheduled, the scheduler answered this run's report with ``reschedule:
    false`` (the job was paused, edited or deleted: the chain ends here), or the next run was
    published already."""
    current = _current.current()
    if current is not None and current.message.run_id == job.run_id:
        with current.lock:
            if current.rescheduled or not current.may_reschedule():
                return None
            current.rescheduled = True
    following = next_message(job)
    if following is None:
        return None
    try:
        publisher.publish_delayed(following, job.next_delay_sec)
    except BaseException:
        if current is not None and current.message.run_id == job.run_id:
            current.rescheduled = False
        raise
    return following.run_id
