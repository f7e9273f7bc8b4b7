"""Bounces and complaints that arrive after the SMTP server accepted a message.

A relay answers 250 and tries the recipient's server later; when that fails it mails back a
delivery status notification (RFC 3464). A mailbox provider that receives "this is spam" from
the resident may send an abuse report (ARF, RFC 5965). Both must stop further mail to the
address.

To know which delivery a bounce is about, each message goes out with its own envelope sender
(VERP): ``MACHI_NOTIFY_BOUNCE_ADDRESS`` ``bounce@city.example.jp`` becomes
``bounce+<delivery id>-<signature>@city.example.jp``. The signature (an HMAC of the delivery
id) stops anyone from stopping someone else's mail with a forged bounce. The city's mail server
hands each message sent to that address to ``machi notify_bounce`` (a pipe, like Postfix's
``pipe`` transport or an alias ``|machi notify_bounce``).

What happens: a permanent failure (``Action: failed``, status 5.x.x) marks the delivery a
permanent failure (it had counted as delivered) and stops the subscriber (bounced). A
complaint unsubscribes the address. Delays (4.x.x, ``Action: delayed``) change nothing; the
relay is still trying.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from email.message import Message

from django.conf import settings
from django.db import transaction
from django.db.models import F

from machi.core import services as core_services
from machi.core.roles import Action
from machi.notify.models import (
    Broadcast,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)

logger = logging.getLogger(__name__)

MAX_BYTES = 2_000_000  # a bounce quotes at most the headers or a part of the message
_TAG = re.compile(r"\+(\d{1,19})-([0-9a-f]{16})@", re.IGNORECASE)


def bounce_address() -> str:
    return str(getattr(settings, "MACHI_NOTIFY_BOUNCE_ADDRESS", "") or "")


def _signature(delivery_id: int) -> str:
    key = f"machi.notify.bounce:{settings.SECRET_KEY}".encode()
    return hmac.new(key, str(delivery_id).encode(), hashlib.sha256).hexdigest()[:16]


def envelope_sender(delivery_id: int) -> str:
    """The VERP return path of one delivery, or "" when bounces are not configured."""
    base = bounce_address()
    local, at, domain = base.rpartition("@")
    if not at:
        return ""
    return f"{local}+{delivery_id}-{_signature(delivery_id)}@{domain}"


def delivery_of(address: str) -> int | None:
    """The delivery id a VERP address names, if its signature is right."""
    found = _TAG.search(address)
    if found is None:
        return None
    delivery_id = int(found.group(1))
    if not hmac.compare_digest(found.group(2).lower(), _signature(delivery_id)):
        return None
    return delivery_id


@dataclass(frozen=True)
class Report:
    kind: str  # "bounce", "delay", "complaint", "ignored"
    delivery_id: int | None = None
    status: str = ""  # the DSN status code, e.g. 5.1.1
    detail: str = ""


def _addresses(message: Message, envelope_to: str) -> list[str]:
    found = [envelope_to] if envelope_to else []
    for header in ("Delivered-To", "X-Original-To", "To", "Envelope-To"):
        found += [str(v) for v in message.get_all(header, [])]
    return found


def _dsn_fields(message: Message) -> list[Message]:
    """The per-recipient groups of a message/delivery-status part."""
    groups: list[Message] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):  # the email package parses the field groups as messages
            groups += [p for p in payload if isinstance(p, Message)]
    return groups[1:] if len(groups) > 1 else groups  # the first group is per-message


def _is_complaint(message: Message) -> bool:
    if message.get_content_type() != "multipart/report":
        return False
    if str(message.get_param("report-type", "")).lower() != "feedback-report":
        return False
    return any(p.get_content_type() == "message/feedback-report" for p in message.walk())


def classify(raw: bytes, *, envelope_to: str = "") -> Report:
    """What a message sent to the bounce address says, and which delivery it is about."""
    if len(raw) > MAX_BYTES:
        return Report("ignored", detail="too large")
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    delivery_id = next(
        (d for d in (delivery_of(a) for a in _addresses(message, envelope_to)) if d), None
    )
    if delivery_id is None:
        return Report("ignored", detail="not addressed to a signed bounce address")
    if _is_complaint(message):
        return Report("complaint", delivery_id, detail="feedback report (abuse)")
    for group in _dsn_fields(message):
        action = str(group.get("Action", "")).strip().lower()
        status = str(group.get("Status", "")).strip().split(" ")[0]
        diagnostic = " ".join(str(group.get("Diagnostic-Code", "")).split())[:150]
        if action == "failed" or status.startswith("5."):
            return Report("bounce", delivery_id, status, diagnostic or f"status {status}")
        if action == "delayed" or status.startswith("4."):
            return Report("delay", delivery_id, status, diagnostic)
    return Report("ignored", delivery_id, detail="no delivery status in the message")


def apply(report: Report) -> Report:
    """Act on a bounce or a complaint (a delay or anything else changes nothing)."""
    if report.kind not in {"bounce", "complaint"} or report.delivery_id is None:
        return report
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))  # not the outer-joined subscriber
            .select_related("subscriber")
            .filter(pk=report.delivery_id)
            .first()
        )
        if delivery is None:
            return Report("ignored", report.delivery_id, detail="no such delivery")
        subscriber = delivery.subscriber
        if report.kind == "bounce":
            if delivery.status == DeliveryStatus.DELIVERED:
                Broadcast.objects.filter(pk=delivery.broadcast_id).update(
                    delivered=F("delivered") - 1, failed=F("failed") + 1
                )
            delivery.status = DeliveryStatus.PERMANENT_FAILURE
            delivery.error = f"bounced later: {report.status} {report.detail}".strip()[:200]
            delivery.save(update_fields=["status", "error"])
            if subscriber is not None:
                Subscriber.objects.filter(pk=subscriber.pk).update(status=SubscriberStatus.BOUNCED)
        elif subscriber is not None:
            Subscriber.objects.filter(pk=subscriber.pk).update(status=SubscriberStatus.UNSUBSCRIBED)
        core_services.audit_record(
            action=Action.UPDATE,
            record=subscriber or delivery,
            detail={"notify": report.kind, "delivery": delivery.pk, "status": report.status},
        )
    logger.info("%s for delivery %s: %s", report.kind, report.delivery_id, report.detail)
    return report


def process(raw: bytes, *, envelope_to: str = "") -> Report:
    return apply(classify(raw, envelope_to=envelope_to))
