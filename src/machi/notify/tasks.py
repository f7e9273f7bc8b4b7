"""Huey tasks of the notify room: send a broadcast, start scheduled ones, resume after a crash.

A killed worker loses the task it was running; its claimed deliveries stay ``sending`` until
their claim lapses (``MACHI_NOTIFY_LEASE_SECONDS``). ``notify_resume`` (at the worker's start and
every minute) gives every broadcast still sending a new runner, which takes those deliveries
once lapsed. Two runners of one broadcast share it safely (each claims its own batches).
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from machi.core import context

log = logging.getLogger(__name__)


@db_task(retries=3, retry_delay=30)
def deliver(broadcast_id: str) -> None:
    from machi.notify import delivery

    with context.acting(channel="task", request_id=f"broadcast-{broadcast_id[:8]}"):
        report = delivery.run(broadcast_id)
    log.info(
        "broadcast %s: %s delivered, %s temporary, %s permanent in %.1f s%s",
        broadcast_id,
        report.delivered,
        report.temporary,
        report.permanent,
        report.seconds,
        " (finished)" if report.finished else "",
    )


@db_periodic_task(crontab(minute="*"), retries=0)
def notify_resume() -> None:
    """Scheduled broadcasts that are due start; broadcasts still sending get a runner."""
    from machi.notify import delivery

    with context.acting(channel="task"):
        delivery.resume_all()


@HUEY.on_startup()
def _resume_on_start() -> None:
    """A restarted worker picks up at once what its predecessor left (not a minute later)."""
    try:
        notify_resume()  # enqueues the periodic task's body as an ordinary task
    except Exception:  # the queue may not be reachable yet; the minute's run will do it
        log.exception("could not resume broadcasts at start")
