"""Reads of the captive portal: a client's session and what it may still use, the RFC 8908
answer, the RADIUS decision and the staff list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from machi.core import access
from machi.core.roles import Action
from machi.wifi.models import AccessPoint, Mode, ProfileKind, Site, SsidProfile
from machi.wifi.portal import conf
from machi.wifi.portal.identity import normalise_mac
from machi.wifi.portal.models import LoginMethod, PortalSession

# In these modes the shelter's access points broadcast 00000JAPAN: no login anywhere.
OPEN_MODES = frozenset({Mode.DISASTER, Mode.DRILL})


@dataclass(frozen=True)
class ClientInfo:
    """What the gateway told us about the device: its MAC, the AP's MAC, the SSID."""

    client_mac: str = ""
    ap_mac: str = ""
    ssid: str = ""


def access_point_by_mac(mac: str) -> AccessPoint | None:
    mac = normalise_mac(mac)
    if not mac:
        return None
    # The wifi room's registry keeps "AA:BB:…" (wifi.services.mac_normalize); older rows or
    # other tools may not: ask for each spelling, which still uses the unique index.
    spellings = {mac, mac.upper(), mac.replace(":", "-"), mac.upper().replace(":", "-")}
    return AccessPoint.objects.select_related("site").filter(mac__in=spellings).first()


def in_disaster_mode(ap: AccessPoint | None) -> bool:
    """The AP broadcasts the open 00000JAPAN (disaster or drill): the portal steps aside."""
    return ap is not None and ap.mode in OPEN_MODES


def ssid_allows_portal(ssid: str) -> bool:
    """A portal login opens the free Wi-Fi only: never a staff SSID that happens to send its
    MAC authentication to the same RADIUS server. An SSID the registry does not know (or none,
    from a wired gateway) is left to the gateway's own configuration."""
    if not ssid:
        return True
    kinds = set(SsidProfile.objects.filter(ssid=ssid).values_list("kind", flat=True))
    return not kinds or ProfileKind.FREE in kinds or ProfileKind.DISASTER in kinds


def session_by_id(pk: Any) -> PortalSession | None:
    if not isinstance(pk, int):
        return None
    return PortalSession.objects.select_related("ap", "site").filter(pk=pk).first()


def _live(now: dt.datetime) -> Q:
    return Q(ended_at__isnull=True, expires_at__gt=now)


def session_active_for_mac(mac: str, *, now: dt.datetime | None = None) -> PortalSession | None:
    """The device's session that still lets it on (the newest, if a gateway sent it twice)."""
    mac = normalise_mac(mac)
    if not mac:
        return None
    now = now or timezone.now()
    found = (
        PortalSession.objects.select_related("ap", "site")
        .filter(_live(now), client_mac=mac)
        .order_by("-started_at", "-pk")
        .first()
    )
    if (
        found is not None
        and found.bytes_limit is not None
        and found.used_octets >= found.bytes_limit
    ):
        return None
    return found


@dataclass(frozen=True)
class SessionState:
    active: bool
    temporary: bool  # an e-mail registration not yet confirmed
    seconds_remaining: int
    bytes_remaining: int | None  # None: no data limit
    expires_at: dt.datetime


def session_state(session: PortalSession, *, now: dt.datetime | None = None) -> SessionState:
    now = now or timezone.now()
    seconds = max(0, int((session.expires_at - now).total_seconds()))
    remaining = (
        None if session.bytes_limit is None else max(0, session.bytes_limit - session.used_octets)
    )
    active = session.ended_at is None and seconds > 0 and remaining != 0
    return SessionState(
        active=active,
        temporary=session.method == LoginMethod.EMAIL and session.confirmed_at is None,
        seconds_remaining=seconds if active else 0,
        bytes_remaining=remaining if active else (None if remaining is None else 0),
        expires_at=session.expires_at,
    )


def captive_status(
    *,
    session: PortalSession | None,
    client: ClientInfo,
    portal_url: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The RFC 8908 §5 answer for one client.

    ``captive`` is false when the client may reach the internet: its session is alive, or its
    access point is in disaster mode (00000JAPAN has no login, 無線LANビジネス推進連絡会
    guideline). ``user-portal-url`` is always given, so a device can show the portal again to
    extend a session.
    """
    now = now or timezone.now()
    ap = access_point_by_mac(client.ap_mac) if client.ap_mac else None
    if ap is None and session is not None:
        ap = session.ap
    answer: dict[str, Any] = {"captive": True, "user-portal-url": portal_url}
    venue = conf.venue_info_url()
    if venue:
        answer["venue-info-url"] = venue
    if in_disaster_mode(ap):
        answer["captive"] = False
        return answer
    state = session_state(session, now=now) if session is not None else None
    if (state is None or not state.active) and client.client_mac:
        session = session_active_for_mac(client.client_mac, now=now)
        state = session_state(session, now=now) if session is not None else None
    if state is not None and state.active:
        answer["captive"] = False
        answer["seconds-remaining"] = state.seconds_remaining
        if state.bytes_remaining is not None:
            answer["bytes-remaining"] = state.bytes_remaining
        # A temporary session is extended by confirming the mail, a full one by logging in
        # again on the portal before it ends.
        answer["can-extend-session"] = True
    return answer


# --- Staff -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteCount:
    site_id: int | None
    name: str
    active: int
    temporary: int
    started_today: int


def staff_sessions(
    user: Any, *, site_id: int | None = None, now: dt.datetime | None = None, limit: int = 200
) -> QuerySet[PortalSession]:
    """Live sessions the user may read, newest first (at most ``limit``)."""
    now = now or timezone.now()
    sessions = access.scope(
        user, Action.READ, PortalSession.objects.select_related("site__facility", "ap")
    ).filter(_live(now))
    if site_id is not None:
        sessions = sessions.filter(site_id=site_id)
    return sessions.select_related("registration").order_by("-started_at")[:limit]


def staff_site_counts(user: Any, *, now: dt.datetime | None = None) -> list[SiteCount]:
    """Per site: live sessions, of which temporary, and sessions started since midnight JST."""
    now = now or timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        access.scope(user, Action.READ, PortalSession.objects.all())
        .values("site_id")
        .annotate(
            active=Count("pk", filter=_live(now)),
            temporary=Count(
                "pk",
                filter=_live(now) & Q(method=LoginMethod.EMAIL, confirmed_at__isnull=True),
            ),
            today=Count("pk", filter=Q(started_at__gte=midnight)),
        )
        .filter(Q(active__gt=0) | Q(today__gt=0))
    )
    names = dict(Site.objects.values_list("pk", "facility__name"))
    counts = [
        SiteCount(
            site_id=row["site_id"],
            name=names.get(row["site_id"], "") if row["site_id"] else "",
            active=row["active"],
            temporary=row["temporary"],
            started_today=row["today"],
        )
        for row in rows
    ]
    return sorted(counts, key=lambda count: (count.site_id is None, count.name))


def staff_sites() -> list[tuple[int, str]]:
    return list(Site.objects.order_by("facility__name").values_list("pk", "facility__name"))


# --- RADIUS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RadiusDecision:
    accept: bool
    disaster: bool = False  # accepted without a session: the AP broadcasts 00000JAPAN
    seconds_remaining: int = 0
    bytes_remaining: int | None = None


def radius_decision(
    *, client_mac: str, ap_mac: str, ssid: str, now: dt.datetime | None = None
) -> RadiusDecision:
    """May this device on? Yes at an AP in disaster or drill mode, else only with a live
    portal session (and never onto an SSID the registry knows as a staff network)."""
    now = now or timezone.now()
    if in_disaster_mode(access_point_by_mac(ap_mac)):
        return RadiusDecision(accept=True, disaster=True)
    if not ssid_allows_portal(ssid):
        return RadiusDecision(accept=False)
    session = session_active_for_mac(client_mac, now=now)
    if session is None:
        return RadiusDecision(accept=False)
    state = session_state(session, now=now)
    if not state.active:
        return RadiusDecision(accept=False)
    return RadiusDecision(
        accept=True,
        seconds_remaining=state.seconds_remaining,
        bytes_remaining=state.bytes_remaining,
    )
