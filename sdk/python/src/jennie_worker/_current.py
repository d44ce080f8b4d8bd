"""The run a worker's handler is working on, so that the original worker pattern's calls
(``mark_job_run(job_id, scope=...)`` with no run named, ``reschedule_job`` in a ``finally``)
report the right run and follow the scheduler's answer."""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, TYPE_CHECKING

if TYPE_CHECKING:
    from .scheduler_runtime import JobMessage


@dataclass
class CurrentRun:
    """What happened to the run in hand so far."""

    message: "JobMessage"
    #: The scheduler's receipt once the run is reported; None before.
    receipt: Optional[Dict[str, Any]] = None
    #: True when the scheduler refused the report (an old chain, a job deleted): the chain
    #: must not go on.
    refused: bool = False
    #: True once the next run of a queue-mode job has been published for this run.
    rescheduled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def may_reschedule(self) -> bool:
        """Whether the chain goes on after this run: the scheduler said so, or it could not
        be asked (a chain is kept alive while the scheduler is unreachable)."""
        if self.refused:
            return False
        if self.receipt is None:
            return True
        return bool(self.receipt.get("reschedule"))


_current: contextvars.ContextVar[Optional[CurrentRun]] = contextvars.ContextVar(
    "jennie_worker_current_run", default=None
)


def current() -> Optional[CurrentRun]:
    return _current.get()


def enter(run: CurrentRun) -> contextvars.Token:
    return _current.set(run)


def leave(token: contextvars.Token) -> None:
    _current.reset(token)
