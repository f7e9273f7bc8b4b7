"""Reads of the weather desk: JMA warnings in force, suggestions, feeds, alerts of others.

For HQ's pages and dashboard and for the API. Nothing here writes: a 竜巻注意情報 whose hour is
over is left out here even before the poller marks it as no longer in force.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from machi.core import safexml
from machi.core.safexml import XmlRejected
from machi.emergency import cap
from machi.emergency.models import (
    DeclarationRule,
    IncomingAlert,
    JmaEntry,
    JmaEntryStatus,
    JmaFeed,
    JmaWarning,
    Suggestion,
)

# JMA's high-frequency feeds change every minute and the worker polls once a minute: a feed
# not polled for longer than this means the worker (or the network) is down.
FEED_LATE_AFTER: Final = dt.timedelta(minutes=3)
RECENT_MESSAGES: Final = 50


def _in_force(row: JmaWarning, now: dt.datetime) -> bool:
    if not row.active:
        return False
    until = row.detail.get("until") if isinstance(row.detail, dict) else None
    return not until or dt.datetime.fromisoformat(until) > now


def warnings_active() -> list[JmaWarning]:
    """The JMA warnings (and advisories) in force for the city, highest level first."""
    now = timezone.now()
    rows = (
        JmaWarning.objects.filter(active=True)
        .select_related("entry")
        .order_by(F("level").desc(nulls_last=True), "area_code", "kind_code")
    )
    return [row for row in rows if _in_force(row, now)]


@dataclass(frozen=True)
class AreaWarnings:
    """The kinds in force in one area of the city (a city JMA splits has several areas)."""

    area_code: str
    area_name: str
    warnings: list[JmaWarning]

    @property
    def level(self) -> int | None:
        levels = [w.level for w in self.warnings if w.level is not None]
        return max(levels) if levels else None


def warnings_by_area(warnings: list[JmaWarning] | None = None) -> list[AreaWarnings]:
    """``warnings_active()`` grouped by area, the area with the highest level first."""
    groups: dict[str, list[JmaWarning]] = {}
    for row in warnings if warnings is not None else warnings_active():
        groups.setdefault(row.area_code, []).append(row)
    areas = [AreaWarnings(code, rows[0].area_name, rows) for code, rows in groups.items()]
    areas.sort(key=lambda a: (-(a.level or 0), a.area_code))
    return areas


def suggestions_open() -> QuerySet[Suggestion]:
    """Suggestions to declare that HQ has not handled, while their warning is in force."""
    return (
        Suggestion.objects.filter(handled_at__isnull=True, warning__active=True)
        .select_related("rule", "warning")
        .order_by("-created_at", "-id")
    )


def suggestion_by_id(suggestion_id: int) -> Suggestion | None:
    return Suggestion.objects.select_related("rule", "warning").filter(pk=suggestion_id).first()


def describe_entry(entry: JmaEntry) -> str:
    """One line about a stored message, as ``machi jma ingest`` and the console's upload say it."""
    title = entry.title or entry.entry_id
    match entry.status:
        case JmaEntryStatus.STORED:
            text = _("stored: %(title)s") % {"title": title}
        case JmaEntryStatus.NOT_HERE:
            text = _("not about the city: %(title)s") % {"title": title}
        case JmaEntryStatus.REJECTED:
            text = _("rejected: %(reason)s") % {"reason": entry.error}
        case _:
            text = str(entry.get_status_display())
    if entry.is_training:
        text += " " + _("(training or test message)")
    return text


def jma_entries_recent(limit: int = RECENT_MESSAGES) -> QuerySet[JmaEntry]:
    """The last JMA messages received (whatever their status), newest first."""
    return JmaEntry.objects.order_by("-received_at", "-id")[:limit]


@dataclass(frozen=True)
class FeedHealth:
    url: str
    polled_at: dt.datetime | None
    last_status: str
    last_error: str
    configured: bool  # listed in MACHI_JMA_FEED_URLS
    polling: bool  # MACHI_JMA_POLL: the worker polls the configured feeds
    late: bool  # polled should be, but not for more than FEED_LATE_AFTER


def jma_feed_health(*, now: dt.datetime | None = None) -> list[FeedHealth]:
    """When each feed was last polled and how it went; ``late`` when the worker seems down."""
    now = now or timezone.now()
    polling = bool(getattr(settings, "MACHI_JMA_POLL", False))
    configured = list(getattr(settings, "MACHI_JMA_FEED_URLS", []))
    rows = {feed.url: feed for feed in JmaFeed.objects.order_by("url")}
    result = []
    for url in dict.fromkeys([*configured, *rows]):
        feed = rows.get(url)
        polled_at = feed.polled_at if feed is not None else None
        is_configured = url in configured
        result.append(
            FeedHealth(
                url=url,
                polled_at=polled_at,
                last_status=feed.last_status if feed is not None else "",
                last_error=feed.last_error if feed is not None else "",
                configured=is_configured,
                polling=polling and is_configured,
                late=polling
                and is_configured
                and (polled_at is None or now - polled_at > FEED_LATE_AFTER),
            )
        )
    return result


def rules_all() -> QuerySet[DeclarationRule]:
    return DeclarationRule.objects.order_by("-active", "name", "pk")


def rule_by_id(rule_id: int) -> DeclarationRule | None:
    return DeclarationRule.objects.filter(pk=rule_id).first()


# --- Alerts of other authorities (CAP) -----------------------------------------------------------

# CAP <status> values that are real alerts (Exercise: shown, tagged as such).
LIVE_STATUSES: Final = frozenset({"Actual", "Exercise"})
ALERTS_LISTED: Final = 100
REPLACEMENTS_READ: Final = 500


@dataclass(frozen=True)
class AlertView:
    """An incoming alert with what later alerts did to it."""

    alert: IncomingAlert
    state: str  # current | superseded | cancelled | expired | inactive
    by: IncomingAlert | None = None  # the Update or Cancel that superseded or cancelled it

    @property
    def is_current(self) -> bool:
        return self.state == "current"


_DECLARED_ENCODING = re.compile(r"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")


def document_bytes(alert: IncomingAlert) -> bytes:
    """The kept document as bytes again, in the encoding its XML declaration names."""
    text = alert.document
    match = _DECLARED_ENCODING.match(text)
    try:
        return text.encode(match[1] if match else "utf-8", errors="xmlcharrefreplace")
    except LookupError:
        return text.encode("utf-8")


def _references(alert: IncomingAlert) -> list[tuple[str, str]]:
    """(sender, identifier) of the alerts an Update or Cancel refers to (validated on receipt)."""
    try:
        root = safexml.parse(document_bytes(alert), max_bytes=4 * 1024 * 1024)
    except XmlRejected:
        return []
    namespace = root.tag[1:].split("}", 1)[0] if str(root.tag).startswith("{") else ""
    found = root.find(f"{{{namespace}}}references")
    pairs = []
    for triple in (found.text or "").split() if found is not None else ():
        parts = triple.split(",")
        if len(parts) == 3:
            pairs.append((parts[0], parts[1]))
    return pairs


def _replacements() -> dict[tuple[str, str], IncomingAlert]:
    """For each referenced (sender, identifier), the latest Update or Cancel naming it."""
    result: dict[tuple[str, str], IncomingAlert] = {}
    # The latest updates and cancels only: each is parsed again here, and an alert replaced
    # longer ago than that has long expired.
    latest = IncomingAlert.objects.filter(msg_type__in=("Update", "Cancel")).order_by(
        "-sent", "-id"
    )[:REPLACEMENTS_READ]
    for later in reversed(list(latest)):
        for key in _references(later):
            result[key] = later
    return result


def _view(
    alert: IncomingAlert, replaced: dict[tuple[str, str], IncomingAlert], now: dt.datetime
) -> AlertView:
    by = replaced.get((alert.sender, alert.identifier))
    if by is not None and by.msg_type == "Cancel":
        return AlertView(alert, "cancelled", by)
    if by is not None:
        return AlertView(alert, "superseded", by)
    if alert.expires is not None and alert.expires <= now:
        return AlertView(alert, "expired")
    if alert.msg_type not in ("Alert", "Update") or alert.status not in LIVE_STATUSES:
        return AlertView(alert, "inactive")  # a Cancel, an Ack, an Error, a Test, a Draft
    return AlertView(alert, "current")


def alerts_all(limit: int = ALERTS_LISTED) -> list[AlertView]:
    """The last alerts received, newest first, each with its state."""
    now = timezone.now()
    replaced = _replacements()
    return [_view(a, replaced, now) for a in IncomingAlert.objects.order_by("-sent", "-id")[:limit]]


def alerts_current() -> list[AlertView]:
    """Alerts still in effect: not expired, not cancelled, not superseded by an Update."""
    now = timezone.now()
    replaced = _replacements()
    candidates = IncomingAlert.objects.filter(
        msg_type__in=("Alert", "Update"), status__in=LIVE_STATUSES
    ).exclude(expires__lte=now)
    views = [_view(a, replaced, now) for a in candidates.order_by("-sent", "-id")]
    return [v for v in views if v.is_current]


def alert_by_id(alert_id: int) -> AlertView | None:
    found = IncomingAlert.objects.filter(pk=alert_id).first()
    if found is None:
        return None
    return _view(found, _replacements(), timezone.now())


def alert_parsed(alert: IncomingAlert) -> cap.ParsedAlert | None:
    """The alert's infos and areas, read again from the document kept on receipt."""
    try:
        return cap.parse_alert(document_bytes(alert))
    except XmlRejected:
        return None
