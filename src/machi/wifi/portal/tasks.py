"""Huey tasks of the captive portal: the confirmation mail, and the daily purge."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from machi.core import context
from machi.wifi.portal import services

log = logging.getLogger(__name__)


@db_task(retries=3, retry_delay=20)
def send_confirmation(registration_id: int, link: str) -> None:
    """Idempotent: a registration whose mail was sent is skipped (a task may run twice)."""
    with context.acting(channel="task"):
        services.registration_mail_send(registration_id=registration_id, link=link)


@db_periodic_task(crontab(hour="3", minute="17"), retries=1, retry_delay=600)
def purge_portal_data() -> None:
    """Once a day: delete what the retention rules no longer allow (services.portal_purge)."""
    with context.acting(channel="task"):
        counts = services.portal_purge()
    if any(counts.values()):
        log.info("Wi-Fi portal purge: %s", counts)
