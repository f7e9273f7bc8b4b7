"""Huey tasks of the Wi-Fi room: the monitoring sweep every 10 s, active checks every minute,
the grouped alert e-mail, and the nightly purge.

Why the sweep is planned this way: Huey's periodic tasks run at most once a minute, and an AP
silent for 30 s must show within a minute. ``wifi_monitor_minute`` (every minute) runs one pass
at once and *schedules* five more, 10, 20, … 50 s later (``wifi_monitor_pass`` with a delay).
The alternatives were worse for a small worker: a task that sleeps between six passes holds a
worker thread 50 s of every minute (the JMA poll and the disaster-mode switch share two), and a
self-rescheduling chain can die with an exception or double after a restart. Here each pass is
short and holds no thread between passes; a scheduled pass that comes late (a busy or restarted
worker) expires instead of piling up; the next minute plans again. Passes never overlap (a
cache lock in ``services_monitor.monitor_pass``) and are idempotent, so a second consumer or a
late pass changes nothing.
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from machi.core import context
from machi.wifi import services_monitor

log = logging.getLogger(__name__)

PASS_EVERY_S = 10
PASSES_PER_MINUTE = 60 // PASS_EVERY_S


@db_task(retries=0, expires=PASS_EVERY_S)
def wifi_monitor_pass() -> None:
    """One monitoring pass (silence, lasting conditions, e-mail due)."""
    with context.acting(channel="task"):
        services_monitor.monitor_pass()


@db_periodic_task(crontab(minute="*"), retries=0)
def wifi_monitor_minute() -> None:
    """A pass now and five more planned 10 s apart (see the module's docstring)."""
    for step in range(1, PASSES_PER_MINUTE):
        wifi_monitor_pass.schedule(delay=step * PASS_EVERY_S, expires=step * PASS_EVERY_S + 8)
    with context.acting(channel="task"):
        services_monitor.monitor_pass()


@db_task(retries=0)
def wifi_alerts_notify() -> None:
    """The grouped alert e-mail. A failure is logged by the service and tried again by a later
    pass (after a minute's back-off); nothing waits for it."""
    with context.acting(channel="task"):
        try:
            services_monitor.alerts_notify()
        except Exception:  # logged with its traceback by alerts_notify
            return


@db_periodic_task(crontab(minute="*"), retries=0)
def wifi_snmp_check() -> None:
    """Poll the SNMP APs once a minute (an answer is "seen", no answer is "unreachable")."""
    with context.acting(channel="task"):
        summary = services_monitor.snmp_check()
    if summary.failed:
        log.info("SNMP check: %d of %d APs did not answer", len(summary.failed), summary.checked)


@db_periodic_task(crontab(minute="*"), retries=0)
def wifi_ping_check() -> None:
    """Ping the APs that neither push nor answer SNMP, when MACHI_WIFI_PING is on."""
    with context.acting(channel="task"):
        services_monitor.ping_check()


@db_periodic_task(crontab(hour="3", minute="17"), retries=1, retry_delay=600)
def wifi_monitoring_purge() -> None:
    """Old client hashes and AP hours go (retention settings in services_monitor)."""
    with context.acting(channel="task"):
        deleted = services_monitor.monitoring_purge()
    log.info("Wi-Fi monitoring purge: %s", deleted)
