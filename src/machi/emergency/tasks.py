"""Huey tasks of the emergency room: polling JMA's feeds once a minute.

One poller per installation, as JMA asks: Huey's periodic tasks are enqueued by the scheduler
of the consumer (``machi worker``), of which an installation runs one, and ``jma_poll`` also
claims each feed with a conditional UPDATE, so a second consumer (or ``machi jma poll`` typed
at the same moment) skips a feed that is being polled instead of downloading its entries again.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from machi.core import context
from machi.emergency import services_weather

log = logging.getLogger(__name__)

DEFAULT_FEEDS = ["https://www.data.jma.go.jp/developer/xml/feed/extra.xml"]
# Less than the minute between two runs, so a late start does not skip a minute, and enough
# that a second consumer's run of the same minute finds the feed just polled.
MIN_INTERVAL = dt.timedelta(seconds=45)


def feed_urls() -> list[str]:
    return list(getattr(settings, "MACHI_JMA_FEED_URLS", DEFAULT_FEEDS))


@db_periodic_task(crontab(minute="*"), retries=0)
def jma_poll_feeds() -> None:
    """Poll every configured JMA feed (when MACHI_JMA_POLL is on). Never raises: a failure
    is logged and recorded on the feed, and the next minute tries again."""
    if not getattr(settings, "MACHI_JMA_POLL", False):
        return
    with context.acting(channel="task"):
        for url in feed_urls():
            try:
                summary = services_weather.jma_poll(url, min_interval=MIN_INTERVAL)
            except Exception:  # the database is down, …: logged, and tried next minute
                log.exception("polling the JMA feed %s failed", url)
                continue
            if summary.fetched or summary.error or summary.failed:
                log.info("JMA poll: %s", summary)
