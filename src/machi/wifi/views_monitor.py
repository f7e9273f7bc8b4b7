"""Wi-Fi monitoring: the NetJSON push endpoint of the APs, and the console's live pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from machi.core import access
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.wifi import charts, selectors_monitor, services_monitor
from machi.wifi.models import AccessPoint, Health, Site

PROBLEM_TYPE = "application/problem+json"


# --- The push endpoint (machine to machine, the hot path) ---------------------------------------


def _problem(
    request: HttpRequest, status: int, title: str, detail: str, **extra: Any
) -> JsonResponse:
    """The API's problem document (RFC 9457), as core.problems writes it for ninja views."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = JsonResponse(body, status=status)
    response["Content-Type"] = PROBLEM_TYPE
    return response


def _invalid(request: HttpRequest, field: str, message: str) -> JsonResponse:
    return _problem(
        request,
        400,
        "Bad Request",
        f"Invalid input: {field}",
        errors=[{"field": field, "message": message, "type": "value_error"}],
    )


@csrf_exempt
def push(request: HttpRequest, mac: str) -> HttpResponse:
    """``POST /api/v1/wifi/monitoring/<mac>``: a NetJSON DeviceMonitoring report of one AP,
    with ``Authorization: Bearer <the AP's monitoring key>``.

    A plain Django view, outside the NinjaAPI: no throttle per token, no schema building, one
    remembered lookup and one short transaction per report (see services_monitor).
    """
    if request.method != "POST":
        response = _problem(request, 405, "Method Not Allowed", "Send the report with POST.")
        response["Allow"] = "POST"
        return response
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _space, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        response = _problem(
            request, 401, "Unauthorized", "Authenticate with the AP's monitoring key (Bearer)."
        )
        response["WWW-Authenticate"] = 'Bearer realm="machi-wifi-monitoring"'
        return response
    normal = services_monitor.mac_normalise(mac)
    if normal is None:
        return _invalid(request, "path.mac", "must be a MAC address")
    target = selectors_monitor.push_target(normal)
    if target is None:
        return _problem(request, 404, "Not Found", "No access point has this MAC address.")
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    if not _key_matches(digest, target):
        # Perhaps the key was changed a moment ago: look again before refusing.
        target = selectors_monitor.push_target(normal, fresh=True)
        if target is None:
            return _problem(request, 404, "Not Found", "No access point has this MAC address.")
        if not _key_matches(digest, target):
            return _problem(request, 403, "Forbidden", "This key is not the AP's monitoring key.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > services_monitor.MAX_BODY:
        return _problem(
            request,
            413,
            "Content Too Large",
            f"A report may have at most {services_monitor.MAX_BODY} bytes.",
        )
    body = request.read(services_monitor.MAX_BODY + 1)
    if len(body) > services_monitor.MAX_BODY:
        return _problem(
            request,
            413,
            "Content Too Large",
            f"A report may have at most {services_monitor.MAX_BODY} bytes.",
        )
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _invalid(request, "body", f"not JSON: {exc}"[:200])
    try:
        report = services_monitor.report_parse(data)
    except services_monitor.ReportError as exc:
        return _invalid(request, exc.field, exc.message)
    try:
        health = services_monitor.report_ingest(target=target, report=report)
    except services_monitor.ApGone:
        selectors_monitor.forget_push_targets(normal)
        return _problem(request, 404, "Not Found", "No access point has this MAC address.")
    return HttpResponse(_ACCEPTED[health], content_type="application/json")


# The few possible answers, written once (this view answers a thousand times a second).
_ACCEPTED = {
    health: json.dumps({"status": "accepted", "health": health}).encode()
    for health in Health.values
}


def _key_matches(digest: str, target: selectors_monitor.PushTarget) -> bool:
    """Constant time; an AP without a key (monitoring not set up) refuses every key."""
    return hmac.compare_digest(digest, target.key_digest or "-" * 64) and bool(target.key_digest)


# --- Console pages ---------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    if not value or not value.isascii() or not value.isdecimal() or len(value) > 18:
        return None
    return int(value)


@staff_required
def board(request: HttpRequest) -> HttpResponse:
    """Every AP live: counts by health, a table per site, open alerts; refreshed every 10 s."""
    access.require(request.user, Action.READ, AccessPoint)
    health = request.GET.get("health", "")
    if health not in Health.values:
        health = ""
    site_id = _int(request.GET.get("site"))
    found = selectors_monitor.board(request.user, health=health, site_id=site_id)
    context = {
        "board": found,
        "health": health,
        "site_id": site_id,
        "healths": [(h.value, h.label, found.counts.get(h.value, 0)) for h in Health],
        "sites": selectors_monitor.sites_for(request.user),
        "now": timezone.localtime(),
        "sweep_stale": found.sweep_age is None
        or found.sweep_age > selectors_monitor.SWEEP_STALE_SECONDS,
        "silence": selectors_monitor.silence_seconds(),
    }
    template = "wifi/monitor/_board.html" if request.headers.get("HX-Request") else None
    return render(request, template or "wifi/monitor/board.html", context)


def _charts(
    series_day: list[tuple[dt.datetime, int]],
    series_week: list[tuple[dt.datetime, int]],
    *,
    what: str,
    unit: str,
) -> dict[str, Any]:
    return {
        "day": charts.bar_chart(
            series_day,
            title=_("%(what)s per hour, last 24 hours") % {"what": what},
            unit=unit,
            tick=charts.every_hours(3),
        ),
        "week": charts.bar_chart(
            series_week,
            title=_("%(what)s per hour, last 7 days") % {"what": what},
            unit=unit,
            tick=charts.every_day,
        ),
    }


def _windows(now: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    until = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(
        hours=1
    )
    return until - dt.timedelta(hours=24), until - dt.timedelta(days=7), until


@staff_required
def ap_detail(request: HttpRequest, ap_id: int) -> HttpResponse:
    """One AP: status, last report, alert history, clients per hour (24 h and 7 days)."""
    ap = get_object_or_404(AccessPoint.objects.select_related("site__facility"), pk=ap_id)
    access.require(request.user, Action.READ, ap)
    now = timezone.now()
    _day_from, week_from, until = _windows(now)
    hours = selectors_monitor.ap_hours(ap, since=week_from, until=until)
    pairs = [(h.hour, h.max_clients) for h in hours]
    week = selectors_monitor.hourly_series(pairs, since=week_from, until=until)
    day = week[-24:]
    by_hour = {h.hour: h for h in hours}
    return render(
        request,
        "wifi/monitor/ap.html",
        {
            "ap": ap,
            "seen_ago": selectors_monitor.seen_ago(ap.last_seen_at, now),
            "reason": selectors_monitor.reason_label(ap.health_reason),
            "alerts": selectors_monitor.ap_alerts(ap),
            "charts": _charts(day, week, what=_("Most clients"), unit=_("clients")),
            "day_rows": [(moment, by_hour.get(moment)) for moment, _value in reversed(day)],
            "week_rows": [
                (moment, by_hour.get(moment))
                for moment, _value in reversed(week)
                if moment in by_hour
            ],
            "traffic": selectors_monitor.ApRow(ap, "", "").traffic,
            "memory_percent": None if ap.memory_used is None else round(ap.memory_used * 100),
            "uptime": None
            if ap.uptime_s is None
            else (ap.uptime_s // 86400, ap.uptime_s % 86400 // 3600),
        },
    )


@staff_required
def site_detail(request: HttpRequest, site_id: int) -> HttpResponse:
    """One site: its APs and the unique clients per hour (from the hashed client rows)."""
    site = get_object_or_404(Site.objects.select_related("facility"), pk=site_id)
    access.require(request.user, Action.READ, site)
    access.require(request.user, Action.READ, AccessPoint)
    now = timezone.now()
    _day_from, week_from, until = _windows(now)
    counted = selectors_monitor.unique_clients(site.pk, since=week_from, until=until)
    week = selectors_monitor.hourly_series(
        [(hour, n) for _site, hour, n in counted], since=week_from, until=until
    )
    day = week[-24:]
    aps = selectors_monitor.site_aps(site)
    return render(
        request,
        "wifi/monitor/site.html",
        {
            "site": site,
            "rows": [
                selectors_monitor.ApRow(
                    ap,
                    selectors_monitor.seen_ago(ap.last_seen_at, now),
                    selectors_monitor.reason_label(ap.health_reason),
                )
                for ap in aps
            ],
            "connected": selectors_monitor.connected_clients_by_site(now).get(site.pk, 0),
            "charts": _charts(day, week, what=_("Unique clients"), unit=_("clients")),
            "day_rows": list(reversed(day)),
            "week_rows": [(moment, n) for moment, n in reversed(week) if n],
        },
    )
