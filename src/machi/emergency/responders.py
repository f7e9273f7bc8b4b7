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
    _to_chronology(run)
    return run


def _to_chronology(run: ResponderRun) -> None:
    from machi.emergency.models import ChronologyKind
    from machi.emergency.services import chronology_record

    name = run.responder.rsplit(".", 2)[-2] if "." in run.responder else run.responder
    state = "完了" if run.status == ResponderStatus.SUCCEEDED else "失敗"
    chronology_record(
        kind=ChronologyKind.RESPONDER,
        text=f"自動対応（{name}）{state}: {run.summary}",
        disaster=run.disaster,
        record=run,
        important=run.status == ResponderStatus.FAILED,
        actor="",
    )


@db_task(retries=2, retry_delay=10)
def run_responder(run_id: int) -> None:
    run = execute(run_id)
    if run.status == ResponderStatus.FAILED:
        raise RuntimeError(run.summary)  # let Huey retry; the run records each attempt


# --- 避難情報: what other rooms do when HQ issues or lifts evacuation information ----------------
# ``MACHI_ORDER_RESPONDERS`` lists functions ``respond(order, event) -> Outcome`` (event "issued"
# or "lifted"); the notifications room adds the one that tells residents. Each runs as a task
# after commit, must be idempotent, and its outcome goes to the chronology.


def order_responders() -> list[str]:
    return list(getattr(settings, "MACHI_ORDER_RESPONDERS", []))


def execute_order(order_id: int, event: str, path: str) -> Outcome | None:
    from machi.emergency.models import ChronologyKind, EvacuationOrder
    from machi.emergency.services import chronology_record

    order = EvacuationOrder.objects.get(pk=order_id)
    name = path.rsplit(".", 2)[-2] if "." in path else path
    try:
        responder: Callable[[Any, str], Outcome] = import_string(path)
        with context.acting(channel="task", request_id=f"order-{order_id}-{event}"):
            outcome = responder(order, event)
    except Exception as exc:
        logger.exception("order responder %s failed for order %s", path, order_id)
        chronology_record(
            kind=ChronologyKind.RESPONDER,
            text=f"自動対応（{name}）失敗: {type(exc).__name__}: {exc}",
            disaster=order.disaster,
            record=order,
            important=True,
            actor="",
        )
        raise
    chronology_record(
        kind=ChronologyKind.RESPONDER,
        text=f"自動対応（{name}）完了: {outcome.summary}",
        disaster=order.disaster,
        record=order,
        actor="",
    )
    return outcome


@db_task(retries=2, retry_delay=10)
def run_order_responder(order_id: int, event: str, path: str) -> None:
    execute_order(order_id, event, path)
