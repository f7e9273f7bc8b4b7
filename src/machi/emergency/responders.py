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
# ``MACHI_ORDER_RESPONDERS`` lists functions ``respond(order, event, areas) -> Outcome`` (event
# "issued" or "lifted"; ``areas`` those the event concerns, none for the whole city); the
# notifications room's tells residents. Each runs as a task after commit, must be idempotent,
# and its outcome goes to the chronology.


def order_responders() -> list[str]:
    return list(getattr(settings, "MACHI_ORDER_RESPONDERS", []))


def call_and_record(path: str, *args: Any, disaster: Any, record: Any, request_id: str) -> Outcome:
    """Call the responder at ``path`` with ``args`` as a task would, and put its outcome (or
    its failure, then re-raised for the task's retry) in the chronology. For the responders of
    other events than a declaration (避難情報, shelter openings)."""
    from machi.emergency.models import ChronologyKind
    from machi.emergency.services import chronology_record

    name = path.rsplit(".", 2)[-2] if "." in path else path
    try:
        responder: Callable[..., Outcome] = import_string(path)
        with context.acting(channel="task", request_id=request_id):
            outcome = responder(*args)
    except Exception as exc:
        logger.exception("responder %s failed (%s)", path, request_id)
        chronology_record(
            kind=ChronologyKind.RESPONDER,
            text=f"自動対応（{name}）失敗: {type(exc).__name__}: {exc}",
            disaster=disaster,
            record=record,
            important=True,
            actor="",
        )
        raise
    chronology_record(
        kind=ChronologyKind.RESPONDER,
        text=f"自動対応（{name}）完了: {outcome.summary}",
        disaster=disaster,
        record=record,
        actor="",
    )
    return outcome


def execute_order(
    order_id: int, event: str, path: str, area_ids: list[int] | None = None
) -> Outcome | None:
    from machi.core.models import Area
    from machi.emergency.models import EvacuationOrder

    order = EvacuationOrder.objects.get(pk=order_id)
    areas = list(Area.objects.filter(pk__in=area_ids or []).order_by("pk"))
    return call_and_record(
        path,
        order,
        event,
        areas,
        disaster=order.disaster,
        record=order,
        request_id=f"order-{order_id}-{event}",
    )


@db_task(retries=2, retry_delay=10)
def run_order_responder(
    order_id: int, event: str, path: str, area_ids: list[int] | None = None
) -> None:
    execute_order(order_id, event, path, area_ids)
