"""Huey tasks of the procedures room: the nightly retention run."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from machi.core import context


@db_periodic_task(crontab(hour="3", minute="41"), retries=1, retry_delay=600)
def procedures_retention() -> None:
    from machi.procedures import retention

    with context.acting(channel="task"):
        retention.anonymise()
