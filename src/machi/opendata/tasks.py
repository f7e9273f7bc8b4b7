"""The open data room's background work: files made again when their records change."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from machi.core import context
from machi.opendata import services


@db_periodic_task(crontab(minute="*"), retries=0)
def opendata_refresh() -> None:
    """Each minute: every dataset whose records changed is made, checked and published again
    (a cheap fingerprint query each when nothing changed)."""
    with context.acting(channel="task"):
        services.refresh()


@db_periodic_task(crontab(hour="4", minute="41"), retries=1, retry_delay=600)
def opendata_nightly() -> None:
    """Once a night everything is made again, whatever the fingerprints say: a change that
    slipped past them (a bulk update without timestamps) is published by morning."""
    with context.acting(channel="task"):
        services.refresh(force=True)
