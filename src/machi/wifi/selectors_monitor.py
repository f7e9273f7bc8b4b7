"""Reads of the Wi-Fi monitoring: the push endpoint's AP lookup, the live board, one AP's and
one site's history, alerts, and the counts other pages use (usage, HQ).

Health rules (set by ``services_monitor``; documented here because the pages explain them):

* UNKNOWN   before the first report (or the first active check) of an AP;
* OK        the AP reports (or answers SNMP / ping) and its resources are fine;
* PROBLEM   memory used > 95 %, or 1-minute load > CPUs × 0.9, or more clients than the AP's
            limit (the largest ``max_clients`` of its SSID profiles, else
            ``MACHI_WIFI_MAX_CLIENTS``, 50 by default: OpenWISP's default alert threshold);
* CRITICAL  unreachable: no report for ``MACHI_WIFI_SILENCE_SECONDS`` (30 s by default), or an
            active check (SNMP, ping) that failed.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Model, QuerySet, Sum
from django.db.models import Field as DbField
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from machi.core import access
from machi.core.roles import Action
from machi.wifi.models import (
    AccessPoint,
    ApHour,
    ClientSeen,
    Health,
    Site,
    SsidProfile,
    WifiAlert,
)

DEFAULT_MAX_CLIENTS = 50
DEFAULT_SILENCE_SECONDS = 30
# Shown on the board when the worker's sweep has not run for this long (it runs every 10 s).
SWEEP_STALE_SECONDS = 60
SWEEP_LAST_KEY = "wifi:monitor:last-pass"
HEALTH_ORDER = (Health.CRITICAL, Health.PROBLEM, Health.UNKNOWN, Health.OK)


def max_clients_default() -> int:
    return int(getattr(settings, "MACHI_WIFI_MAX_CLIENTS", DEFAULT_MAX_CLIENTS))


def silence_seconds() -> int:
    return int(getattr(settings, "MACHI_WIFI_SILENCE_SECONDS", DEFAULT_SILENCE_SECONDS))


# --- The push endpoint's lookup (hot path) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushTarget:
    """What a NetJSON push needs to know about its AP, remembered a few seconds per process."""

    ap_id: int
    site_id: int
    key_digest: str  # SHA-256 hex of the monitoring key; "" when the AP does not push
    max_clients: int  # the PROBLEM threshold of this AP


def mac_variants(mac: str) -> list[str]:
    """The spellings a registry may have stored for a normalised ``aa:bb:cc:dd:ee:ff``."""
    upper = mac.upper()
    return [mac, upper, mac.replace(":", "-"), upper.replace(":", "-")]


def _column(model: type[Model], name: str) -> str:
    found = model._meta.get_field(name)
    if not isinstance(found, DbField):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return str(found.column)


def _push_sql() -> str:
    quote = connection.ops.quote_name
    through = AccessPoint.profiles.through
    ap_column = _column(through, AccessPoint.profiles.field.m2m_field_name())
    profile_column = _column(through, AccessPoint.profiles.field.m2m_reverse_field_name())
    ap_table = quote(AccessPoint._meta.db_table)
    profile_table = quote(SsidProfile._meta.db_table)
    through_table = quote(through._meta.db_table)
    # Names come from the models, values are parameters.
    return (
        f"SELECT a.{quote('id')}, a.{quote('site_id')}, a.{quote('monitoring_key_digest')}, "  # noqa: S608
        f"(SELECT MAX(p.{quote('max_clients')}) FROM {profile_table} p "
        f"JOIN {through_table} l ON l.{quote(profile_column)} = p.{quote('id')} "
        f"WHERE l.{quote(ap_column)} = a.{quote('id')}) "
        f"FROM {ap_table} a WHERE a.{quote('mac')} IN (%s, %s, %s, %s)"
    )


def _load_push_target(mac: str) -> PushTarget | None:
    # Plain SQL: this runs for every AP every few seconds in every web process, and building
    # the same query through the ORM would cost several times what the database needs.
    with connection.cursor() as cursor:
        cursor.execute(_push_sql(), mac_variants(mac))
        row = cursor.fetchone()
    if row is None:
        return None
    ap_id, site_id, digest, profile_max = row
    return PushTarget(
        ap_id=int(ap_id),
        site_id=int(site_id),
        key_digest=str(digest or ""),
        max_clients=int(profile_max) if profile_max else max_clients_default(),
    )


# The lookup is remembered per process for a minute, in a store of its own. core.memo's five
# seconds would miss for APs that push every 10 s or more (the usual), and its store (4,096
# entries shared with tokens and disasters) would be flushed again and again by a few thousand
# APs. A minute is safe because the endpoint looks again before refusing: a new key, a new AP
# or a removed one is seen at once; only a changed client limit or site waits up to a minute.
PUSH_TARGET_TTL = 60.0
PUSH_TARGET_LIMIT = 100_000
_push_lock = threading.Lock()
_push_targets: dict[str, tuple[float, PushTarget]] = {}


def push_target(mac: str, *, fresh: bool = False) -> PushTarget | None:
    """The AP with this (normalised) MAC address; ``fresh`` reads the database again."""
    now = time.monotonic()
    if not fresh:
        found = _push_targets.get(mac)
        if found is not None and found[0] > now:
            return found[1]
    target = _load_push_target(mac)
    with _push_lock:
        if target is None:
            _push_targets.pop(mac, None)  # unknown MACs are not remembered: no flood fills it
        else:
            if len(_push_targets) >= PUSH_TARGET_LIMIT:
                _push_targets.clear()
            _push_targets[mac] = (now + PUSH_TARGET_TTL, target)
    return target


def forget_push_targets(mac: str | None = None) -> None:
    """Forget one AP's lookup (or all): the registry's services may call this after a change."""
    with _push_lock:
        if mac is None:
            _push_targets.clear()
        else:
            _push_targets.pop(mac, None)


def ap_max_clients(ap_ids: Iterable[int]) -> dict[int, int]:
    """The PROBLEM threshold of each AP (its profiles' largest max_clients, else the default)."""
    found = dict(
        AccessPoint.objects.filter(pk__in=list(ap_ids))
        .annotate(limit=Max("profiles__max_clients"))
        .values_list("pk", "limit")
    )
    default = max_clients_default()
    return {pk: int(limit) if limit else default for pk, limit in found.items()}


# --- Reasons ------------------------------------------------------------------------------------

# Stored reasons are short and language-neutral ("memory 97%", "clients 62 > 50"): other
# rooms' pages may show them as they are; these pages put them in words.
_REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^memory (?P<a>\d+)%$"), gettext_noop("memory used {a}%")),
    (re.compile(r"^load (?P<a>[\d.]+) > (?P<b>[\d.]+)$"), gettext_noop("load {a} above {b}")),
    (
        re.compile(r"^clients (?P<a>\d+) > (?P<b>\d+)$"),
        gettext_noop("{a} clients, more than {b}"),
    ),
    (re.compile(r"^unreachable: no report$"), gettext_noop("no report")),
    (re.compile(r"^unreachable: no ping answer$"), gettext_noop("no answer to ping")),
    (re.compile(r"^unreachable: snmp (?P<a>.*)$"), gettext_noop("no SNMP answer ({a})")),
]


def reason_label(reason: str) -> str:
    """The stored health reason (language-neutral, written by services_monitor) in words."""
    labels = []
    for part in filter(None, (p.strip() for p in reason.split(";"))):
        for pattern, template in _REASONS:
            found = pattern.match(part)
            if found:
                labels.append(_(template).format(**found.groupdict()))
                break
        else:
            labels.append(part)
    return "; ".join(labels)


# --- The board -------------------------------------------------------------------------------


def seen_ago(last_seen_at: dt.datetime | None, now: dt.datetime) -> str:
    if last_seen_at is None:
        return _("never")
    seconds = max(0, int((now - last_seen_at).total_seconds()))
    if seconds < 120:
        return _("%(n)s s ago") % {"n": seconds}
    if seconds < 2 * 3600:
        return _("%(n)s min ago") % {"n": seconds // 60}
    return timezone.localtime(last_seen_at).strftime("%Y-%m-%d %H:%M")


def bytes_label(value: int) -> str:
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


@dataclass
class ApRow:
    ap: AccessPoint
    seen_ago: str
    reason: str
    alerts: list[WifiAlert] = field(default_factory=list)

    @property
    def health_label(self) -> str:
        return str(Health(self.ap.health).label) if self.ap.health in Health.values else ""

    @property
    def traffic(self) -> str:
        return f"{bytes_label(self.ap.rx_bytes)} / {bytes_label(self.ap.tx_bytes)}"


@dataclass
class SiteRows:
    site: Site
    rows: list[ApRow]
    clients: int


@dataclass
class Board:
    counts: dict[str, int]
    total: int
    sites: list[SiteRows]
    alerts: list[WifiAlert]
    sweep_age: int | None  # seconds since the worker's last sweep; None: never seen


def aps_for(user: Any) -> QuerySet[AccessPoint]:
    return access.scope(user, Action.READ, AccessPoint.objects.all())


def health_counts(user: Any) -> dict[str, int]:
    counts = {h.value: 0 for h in Health}
    for health, n in aps_for(user).values_list("health").annotate(n=Count("pk")).order_by():
        counts[health] = n
    return counts


def open_alerts(user: Any) -> QuerySet[WifiAlert]:
    return access.scope(
        user,
        Action.READ,
        WifiAlert.objects.filter(cleared_at__isnull=True).select_related("ap__site__facility"),
    ).order_by("-opened_at")


def sweep_age(now: dt.datetime | None = None) -> int | None:
    from django.core.cache import cache

    last = cache.get(SWEEP_LAST_KEY)
    if last is None:
        return None
    now = now or timezone.now()
    return max(0, int(now.timestamp() - float(last)))


def board(user: Any, *, health: str = "", site_id: int | None = None) -> Board:
    now = timezone.now()
    aps = aps_for(user).select_related("site__facility").order_by("site__facility__name", "name")
    if health:
        aps = aps.filter(health=health)
    if site_id is not None:
        aps = aps.filter(site_id=site_id)
    alerts = list(open_alerts(user))
    by_ap: dict[int, list[WifiAlert]] = {}
    for alert in alerts:
        by_ap.setdefault(alert.ap_id, []).append(alert)
    sites: dict[int, SiteRows] = {}
    for ap in aps:
        entry = sites.get(ap.site_id)
        if entry is None:
            entry = sites[ap.site_id] = SiteRows(ap.site, [], 0)
        entry.rows.append(ApRow(ap, seen_ago(ap.last_seen_at, now), reason_label(ap.health_reason)))
        entry.rows[-1].alerts = by_ap.get(ap.pk, [])
        entry.clients += ap.clients if ap.health in (Health.OK, Health.PROBLEM) else 0
    counts = health_counts(user)
    return Board(
        counts=counts,
        total=sum(counts.values()),
        sites=list(sites.values()),
        alerts=alerts,
        sweep_age=sweep_age(now),
    )


def sites_for(user: Any) -> QuerySet[Site]:
    return access.scope(user, Action.READ, Site.objects.select_related("facility"))


# --- One AP, one site ----------------------------------------------------------------------------


def ap_hours(ap: AccessPoint | int, *, since: dt.datetime, until: dt.datetime) -> list[ApHour]:
    ap_id = ap if isinstance(ap, int) else ap.pk
    return list(
        ApHour.objects.filter(ap_id=ap_id, hour__gte=_hour(since), hour__lt=until).order_by("hour")
    )


def hourly_series(
    rows: Iterable[tuple[dt.datetime, int]], *, since: dt.datetime, until: dt.datetime
) -> list[tuple[dt.datetime, int]]:
    """One point per hour from ``since`` to ``until`` (exclusive), 0 where nothing was seen."""
    values = {_hour(hour): value for hour, value in rows}
    series = []
    hour = _hour(since)
    while hour < until:
        series.append((hour, values.get(hour, 0)))
        hour += dt.timedelta(hours=1)
    return series


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def ap_alerts(ap: AccessPoint, *, limit: int = 50) -> list[WifiAlert]:
    return list(WifiAlert.objects.filter(ap=ap).order_by("-opened_at")[:limit])


def unique_clients(
    site_id: int | None = None,
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
) -> list[tuple[int, dt.datetime, int]]:
    """Unique client devices per site and hour: ``[(site_id, hour, count)]``, by hour.

    Counted from ClientSeen (a keyed hash of each MAC, never the MAC). A device that changes
    its MAC address (the private addresses of recent phones) counts once per address.
    """
    rows = ClientSeen.objects.filter(hour__gte=_hour(since))
    if until is not None:
        rows = rows.filter(hour__lt=until)
    if site_id is not None:
        rows = rows.filter(site_id=site_id)
    counted = (
        rows.values_list("site_id", "hour").annotate(n=Count("pk")).order_by("hour", "site_id")
    )
    return [(int(site), hour, int(n)) for site, hour, n in counted]


def connected_clients_by_site(now: dt.datetime | None = None) -> dict[int, int]:
    """Clients connected now per site: the APs' last reports of the last minute, summed."""
    now = now or timezone.now()
    recent = AccessPoint.objects.filter(
        last_seen_at__gte=now - dt.timedelta(minutes=1), health__in=[Health.OK, Health.PROBLEM]
    )
    return {
        int(site): int(total or 0)
        for site, total in recent.values_list("site_id").annotate(total=Sum("clients")).order_by()
    }


def site_aps(site: Site) -> list[AccessPoint]:
    return list(AccessPoint.objects.filter(site=site).order_by("name"))


# --- Alerts waiting for their e-mail ----------------------------------------------------------


def alerts_to_notify() -> list[WifiAlert]:
    """Open alerts nobody has been told about yet, oldest first."""
    return list(
        WifiAlert.objects.filter(cleared_at__isnull=True, notified_at__isnull=True)
        .select_related("ap__site__facility")
        .order_by("opened_at", "pk")
    )


def alert_recipients() -> list[str]:
    """E-mail addresses of the active Wi-Fi administrators."""
    from machi.core.models import User
    from machi.core.roles import Role

    return sorted(
        set(
            User.objects.filter(is_active=True, role_assignments__role=Role.WIFI_ADMIN)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
