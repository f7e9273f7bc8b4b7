"""Huey tasks of the procedures room: the nightly retention run (and expired drafts), and
the mails to applicants (declared in ``notices``; imported here so the worker knows them)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from machi.core import context
from machi.procedures.notices import notice_send  # noqa: F401 - registered with the worker


@db_periodic_task(crontab(hour="3", minute="41"), retries=1, retry_delay=600)
def procedures_retention() -> None:
    from machi.procedures import drafts, retention

    with context.acting(channel="task"):
        retention.anonymise()
        drafts.drafts_expire()
