"""Writes of the captive portal: registrations, portal sessions, RADIUS accounting, retention.

**Retention** (個人情報保護法 Art. 19 and 22: accurate, and deleted when no longer needed):

- the e-mail address in clear: until its confirmation mail is sent (at most
  ``UNSENT_ADDRESS_MINUTES`` when sending fails);
- the confirmation token's hash: until used, at most ``CONFIRM_HOURS``;
- portal sessions (client MAC, AP, times, usage), accounting sessions and registrations
  (address hash and masked hint): ``MACHI_WIFI_RETENTION_DAYS`` (default 90) after the
  session ended, so that misuse reported later can be traced to a registration, as the
  総務省「Wi-Fi提供者向けセキュリティ対策の手引き」 recommends; then deleted by the daily
  ``portal_purge`` task.

RADIUS calls are not written to the audit log: they are the network's own traffic, thousands
an hour, and carry no staff action. Residents' registrations and logins are.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from machi.core import ratelimit
from machi.core import selectors as core_selectors
from machi.core.roles import Action
from machi.core.services import audit_record
from machi.wifi.portal import conf, identity, selectors
from machi.wifi.portal.models import (
    AccountingSession,
    EmailRegistration,
    EndReason,
    LoginMethod,
    PortalSession,
)
from machi.wifi.portal.selectors import ClientInfo

log = logging.getLogger(__name__)

REGISTER_SCOPE = "wifi-register-address"
REGISTER_WINDOW = 60 * 60
DEVICE_SCOPE = "wifi-temporary-device"
DEVICE_WINDOW = 24 * 60 * 60


class PortalError(Exception):
    """A resident's request that cannot be done; ``code`` picks the message shown."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- Portal sessions ----------------------------------------------------------------------------


def _session_start(
    *,
    method: LoginMethod,
    client: ClientInfo,
    minutes: int,
    now: dt.datetime,
    registration: EmailRegistration | None = None,
    subject_digest: str = "",
) -> PortalSession:
    mac = identity.normalise_mac(client.client_mac)
    if mac:  # one device, one session: a new login replaces the old one
        PortalSession.objects.filter(client_mac=mac, ended_at__isnull=True).update(
            ended_at=now, end_reason=EndReason.REPLACED
        )
    ap = selectors.access_point_by_mac(client.ap_mac)
    session = PortalSession.objects.create(
        method=method,
        registration=registration,
        subject_digest=subject_digest,
        client_mac=mac,
        ap=ap,
        site=ap.site if ap is not None else None,
        ssid=client.ssid[:32],
        started_at=now,
        expires_at=now + dt.timedelta(minutes=minutes),
        bytes_limit=conf.session_bytes(),
    )
    audit_record(action=Action.CREATE, record=session, detail={"method": str(method)})
    return session


@transaction.atomic
def registration_start(
    *,
    address: str,
    client: ClientInfo,
    device_key: str,
    language: str,
    link_for: Callable[[str], str],
    now: dt.datetime | None = None,
) -> PortalSession:
    """An e-mail registration: 10 minutes of access now, and a mail whose link extends it.

    Refused (``PortalError("address")``) after ``MACHI_WIFI_REGISTER_RATE_LIMIT`` registrations
    of one address in an hour, and (``PortalError("device")``) after
    ``TEMPORARY_PER_DEVICE_PER_DAY`` temporary accesses of one device in a day. ``device_key``
    names the device when the gateway sent no MAC (the browser session).
    """
    now = now or timezone.now()
    normalised = identity.normalise_address(address)
    digest = identity.address_digest(normalised)
    device = identity.normalise_mac(client.client_mac) or device_key
    if ratelimit.exceeded(
        REGISTER_SCOPE, digest, limit=conf.register_limit(), window=REGISTER_WINDOW
    ):
        raise PortalError("address")
    if device and ratelimit.exceeded(
        DEVICE_SCOPE, device, limit=conf.TEMPORARY_PER_DEVICE_PER_DAY, window=DEVICE_WINDOW
    ):
        raise PortalError("device")
    token = secrets.token_urlsafe(32)
    registration = EmailRegistration.objects.create(
        address_digest=digest,
        address=normalised,
        address_hint=identity.address_hint(normalised),
        token_digest=identity.token_digest(token),
        language=language[:8],
        created_at=now,
    )
    audit_record(action=Action.CREATE, record=registration)
    session = _session_start(
        method=LoginMethod.EMAIL,
        client=client,
        minutes=conf.TEMPORARY_MINUTES,
        now=now,
        registration=registration,
    )
    ratelimit.hit(REGISTER_SCOPE, digest, limit=conf.register_limit(), window=REGISTER_WINDOW)
    if device:
        ratelimit.hit(
            DEVICE_SCOPE, device, limit=conf.TEMPORARY_PER_DEVICE_PER_DAY, window=DEVICE_WINDOW
        )
    from machi.wifi.portal import tasks

    # The link (with its token) waits in the task queue until sent; only its hash is stored.
    transaction.on_commit(partial(tasks.send_confirmation, registration.pk, link_for(token)))
    return session


def registration_mail_send(*, registration_id: int, link: str) -> bool:
    """Send the confirmation mail, then forget the address. False when already sent (a task
    may run twice) or the address is gone."""
    registration = (
        EmailRegistration.objects.filter(pk=registration_id, mail_sent_at__isnull=True)
        .exclude(address="")
        .first()
    )
    if registration is None:
        return False
    municipality = core_selectors.municipality_current()
    with translation.override(registration.language):
        subject = _("Confirm your e-mail address to keep using the free Wi-Fi")
        body = render_to_string(
            "wifi_portal/mail_confirm.txt",
            {
                "link": link,
                "municipality": municipality,
                "temporary_minutes": conf.TEMPORARY_MINUTES,
                "session_minutes": conf.session_minutes(),
                "confirm_hours": conf.CONFIRM_HOURS,
            },
        )
    send_mail(subject, body, None, [registration.address])
    EmailRegistration.objects.filter(pk=registration.pk).update(
        mail_sent_at=timezone.now(), address=""
    )
    return True


@transaction.atomic
def registration_confirm(*, token: str, now: dt.datetime | None = None) -> PortalSession:
    """The link in the mail was followed: the registration's session gets the full length
    (``MACHI_WIFI_SESSION_MINUTES`` from now) and the data limit. Each link works once."""
    now = now or timezone.now()
    registration = (
        EmailRegistration.objects.select_for_update()
        .filter(
            token_digest=identity.token_digest(token),
            confirmed_at__isnull=True,
            created_at__gt=now - dt.timedelta(hours=conf.CONFIRM_HOURS),
        )
        .first()
    )
    if registration is None or not token:
        raise PortalError("invalid")
    session = (
        registration.sessions.select_for_update()
        .filter(ended_at__isnull=True)
        .order_by("-started_at")
        .first()
    )
    if session is None:  # logged out, or replaced by a newer login on the same device
        raise PortalError("ended")
    registration.confirmed_at = now
    registration.token_digest = ""
    registration.save(update_fields=["confirmed_at", "token_digest"])
    session.confirmed_at = now
    session.expires_at = now + dt.timedelta(minutes=conf.session_minutes())
    session.bytes_limit = conf.session_bytes()
    session.save(update_fields=["confirmed_at", "expires_at", "bytes_limit"])
    audit_record(action=Action.UPDATE, record=session, detail={"confirmed": True})
    return session


@transaction.atomic
def oidc_session_start(
    *, issuer: str, subject: str, client: ClientInfo, now: dt.datetime | None = None
) -> PortalSession:
    """A login vouched for by the OpenID Connect provider: a full session at once."""
    return _session_start(
        method=LoginMethod.OIDC,
        client=client,
        minutes=conf.session_minutes(),
        now=now or timezone.now(),
        subject_digest=identity.subject_digest(issuer, subject),
    )


def portal_session_end(
    *, session: PortalSession, reason: EndReason, now: dt.datetime | None = None
) -> bool:
    """End a session (logout, data limit, the NAS said so); False if it had already ended."""
    now = now or timezone.now()
    ended = PortalSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
        ended_at=now, end_reason=reason
    )
    if ended:
        session.ended_at = now
        session.end_reason = reason
        audit_record(action=Action.UPDATE, record=session, detail={"ended": str(reason)})
    return bool(ended)


# --- RADIUS (rlm_rest) -------------------------------------------------------------------------


def radius_post_auth(*, client_mac: str, ap_mac: str, now: dt.datetime | None = None) -> None:
    """After FreeRADIUS accepted: note when the session was last let on, and where (a gateway
    that sent no AP in the portal's URL still names it in Called-Station-Id)."""
    now = now or timezone.now()
    session = selectors.session_active_for_mac(client_mac, now=now)
    if session is None:
        return
    session.last_radius_at = now
    fields = ["last_radius_at"]
    if session.ap_id is None:
        ap = selectors.access_point_by_mac(ap_mac)
        if ap is not None:
            session.ap, session.site = ap, ap.site
            fields += ["ap", "site"]
    session.save(update_fields=fields)


@dataclass(frozen=True)
class AccountingPacket:
    status: str  # Start, Interim-Update, Stop, Accounting-On, Accounting-Off
    nas: str
    session_id: str
    client_mac: str = ""
    ap_mac: str = ""
    input_octets: int = 0
    output_octets: int = 0
    session_seconds: int = 0
    terminate_cause: str = ""


# Stop causes that end the portal session too. Others (Lost-Carrier, Idle-Timeout,
# User-Request from a phone turning its Wi-Fi off, a NAS reboot) leave it, so a resident who
# walks to another AP of the site, or whose phone sleeps, is not asked to log in again.
ENDING_CAUSES = frozenset({"Admin-Reset", "Session-Timeout"})


@transaction.atomic
def radius_accounting(
    *, packet: AccountingPacket, now: dt.datetime | None = None
) -> AccountingSession | None:
    """Record usage from Accounting-Request (RFC 2866): counters are cumulative per session,
    and only ever grow (packets may be repeated or come out of order)."""
    now = now or timezone.now()
    if packet.status in {"Accounting-On", "Accounting-Off"}:  # the NAS restarted
        AccountingSession.objects.filter(nas=packet.nas, stopped_at__isnull=True).update(
            stopped_at=now, terminate_cause="NAS-Reboot", updated_at=now
        )
        return None
    if not packet.session_id or not packet.nas:
        return None
    key = {"nas": packet.nas[:64], "acct_session_id": packet.session_id[:64]}
    accounting = AccountingSession.objects.select_for_update().filter(**key).first()
    if accounting is None:
        ap = selectors.access_point_by_mac(packet.ap_mac)
        portal = selectors.session_active_for_mac(packet.client_mac, now=now)
        try:
            with transaction.atomic():  # a NAS may repeat a Start it got no answer to
                accounting = AccountingSession.objects.create(
                    **key,
                    portal_session=portal,
                    ap=ap,
                    site=ap.site if ap is not None else (portal.site if portal else None),
                    disaster_mode=portal is None and selectors.in_disaster_mode(ap),
                    started_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            accounting = AccountingSession.objects.select_for_update().get(**key)
    accounting.input_octets = max(accounting.input_octets, packet.input_octets)
    accounting.output_octets = max(accounting.output_octets, packet.output_octets)
    accounting.session_seconds = max(accounting.session_seconds, packet.session_seconds)
    accounting.updated_at = now
    if packet.status == "Stop" and accounting.stopped_at is None:
        accounting.stopped_at = now
        accounting.terminate_cause = packet.terminate_cause[:32]
    accounting.save()
    if accounting.portal_session_id is not None:
        _usage_update(accounting.portal_session_id, packet, now)
    return accounting


def _usage_update(session_id: int, packet: AccountingPacket, now: dt.datetime) -> None:
    totals = AccountingSession.objects.filter(portal_session_id=session_id).aggregate(
        octets=Sum("input_octets") + Sum("output_octets"), seconds=Sum("session_seconds")
    )
    PortalSession.objects.filter(pk=session_id).update(
        used_octets=totals["octets"] or 0, used_seconds=totals["seconds"] or 0
    )
    session = PortalSession.objects.get(pk=session_id)
    if session.bytes_limit is not None and session.used_octets >= session.bytes_limit:
        portal_session_end(session=session, reason=EndReason.DATA_LIMIT, now=now)
    elif packet.status == "Stop" and packet.terminate_cause in ENDING_CAUSES:
        portal_session_end(session=session, reason=EndReason.NAS, now=now)


# --- Retention -----------------------------------------------------------------------------------


@transaction.atomic
def portal_purge(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what the retention rules (module docstring) no longer allow us to keep."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=conf.retention_days())
    counts = {
        "addresses": EmailRegistration.objects.exclude(address="")
        .filter(created_at__lt=now - dt.timedelta(minutes=conf.UNSENT_ADDRESS_MINUTES))
        .update(address=""),
        "tokens": EmailRegistration.objects.exclude(token_digest="")
        .filter(created_at__lt=now - dt.timedelta(hours=conf.CONFIRM_HOURS))
        .update(token_digest=""),
        "accounting": AccountingSession.objects.filter(updated_at__lt=cutoff).delete()[0],
        "sessions": PortalSession.objects.filter(
            Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, expires_at__lt=cutoff)
        ).delete()[0],
        "registrations": EmailRegistration.objects.filter(
            created_at__lt=cutoff, sessions__isnull=True
        ).delete()[0],
    }
    if counts["sessions"] or counts["registrations"]:
        audit_record(
            action=Action.DELETE,
            object_type=PortalSession._meta.label_lower,
            detail={"retention_days": conf.retention_days(), **counts},
        )
    return counts
