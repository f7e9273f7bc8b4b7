"""API of the Wi-Fi monitoring: health counts with open alerts, and one AP's hours (charts).

No `from __future__ import annotations`: django-ninja reads the annotations at import. The
NetJSON push of the APs is not here: it is a plain Django view (urls_push.py) in front of the
API, so that the API's per-token throttle and schema machinery stay off its hot path.
"""

import datetime as dt

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema

from machi.core import access, problems
from machi.core.api import Id, Moment
from machi.core.roles import Action
from machi.wifi import selectors_monitor
from machi.wifi.models import AccessPoint

router = Router(tags=["wifi"])

MAX_HOURS_RANGE = dt.timedelta(days=93)


class HealthCounts(Schema):
    ok: int
    problem: int
    critical: int
    unknown: int


class WifiAlertOut(Schema):
    id: int
    ap_id: int
    ap_name: str
    site_id: int
    site_name: str
    kind: str = Field(description="unreachable, clients, config or resources")
    detail: str
    opened_at: dt.datetime
    notified_at: dt.datetime | None


class HealthOut(Schema):
    counts: HealthCounts
    total: int
    open_alerts: list[WifiAlertOut]
    sweep_age_s: int | None = Field(
        description="Seconds since the worker last swept for silent APs (every 10 s); "
        "null when it has not run yet."
    )


class HourOut(Schema):
    hour: dt.datetime
    max_clients: int
    rx_bytes: int
    tx_bytes: int
    reports: int


@router.get("/wifi/health", response=HealthOut, summary="Access points by health, open alerts")
def wifi_health(request: HttpRequest) -> HealthOut:
    access.require(request.user, Action.READ, AccessPoint)
    counts = selectors_monitor.health_counts(request.user)
    alerts = selectors_monitor.open_alerts(request.user)
    return HealthOut(
        counts=HealthCounts(**counts),
        total=sum(counts.values()),
        open_alerts=[
            WifiAlertOut(
                id=a.pk,
                ap_id=a.ap_id,
                ap_name=a.ap.name,
                site_id=a.ap.site_id,
                site_name=str(a.ap.site),
                kind=a.kind,
                detail=a.detail,
                opened_at=a.opened_at,
                notified_at=a.notified_at,
            )
            for a in alerts
        ],
        sweep_age_s=selectors_monitor.sweep_age(),
    )


def _aware(value: dt.datetime) -> dt.datetime:
    """A time without an offset is Japan time, as people type it."""
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@router.get(
    "/wifi/aps/{ap_id}/hours",
    response=list[HourOut],
    summary="One access point's hours: most clients, traffic, reports (for charts)",
)
def wifi_ap_hours(
    request: HttpRequest,
    ap_id: Id,
    since: Moment | None = None,
    until: Moment | None = None,
) -> list[HourOut]:
    """From ``since`` (default: 24 hours ago) to ``until`` (default: now), at most 93 days."""
    ap = get_object_or_404(AccessPoint, pk=ap_id)
    access.require(request.user, Action.READ, ap)
    end = _aware(until) if until else timezone.now()
    start = _aware(since) if since else end - dt.timedelta(hours=24)
    if start >= end:
        raise problems.invalid("since", "must be before until", where="query")
    if end - start > MAX_HOURS_RANGE:
        raise problems.invalid("since", "at most 93 days at a time", where="query")
    return [
        HourOut(
            hour=h.hour,
            max_clients=h.max_clients,
            rx_bytes=h.rx_bytes,
            tx_bytes=h.tx_bytes,
            reports=h.reports,
        )
        for h in selectors_monitor.ap_hours(ap, since=start, until=end)
    ]
