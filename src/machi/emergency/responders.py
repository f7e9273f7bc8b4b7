"""Responders: what other rooms do when a disaster is declared or ended.

The list is explicit, in settings (``MACHI_RESPONDERS``), never signals. Each responder is a
function ``respond(disaster, event) -> Outcome``; it runs as a task after the declaration
commits, must be idempotent (a retry or a second run changes nothing more), and its outcome is
recorded as a ``ResponderRun`` that HQ sees beside the disaster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from huey.contrib.djhuey import db_task

from machi.core import context
from machi.emergency.models import Disaster, ResponderRun, ResponderStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


Responder = Callable[[Disaster, str], Outcome]


def configured() -> list[str]:
    return list(getattr(settings, "MACHI_RESPONDERS", []))


def execute(run_id: int) -> ResponderRun:
    """Run one responder now (the worker calls this); a finished run is not run again."""
    run = ResponderRun.objects.select_related("disaster").get(pk=run_id)
    if run.status == ResponderStatus.SUCCEEDED:
        return run
    run.attempts += 1
    try:
        responder: Responder = import_string(run.responder)
        with context.acting(channel="task", request_id=f"responder-{run.pk}"):
            outcome = responder(run.disaster, run.event)
    except Exception as exc:
        logger.exception("responder %s failed for disaster %s", run.responder, run.disaster_id)
        run.status = ResponderStatus.FAILED
        run.summary = f"{type(exc).__name__}: {exc}"[:300]
    else:
        run.status = ResponderStatus.SUCCEEDED
        run.summary, run.detail = outcome.summary[:300], outcome.detail
    run.finished_at = timezone.now()
    run.save()
    return run


@db_task(retries=2, retry_delay=10)
def run_responder(run_id: int) -> None:
    run = execute(run_id)
    if run.status == ResponderStatus.FAILED:
        raise RuntimeError(run.summary)  # let Huey retry; the run records each attempt
