"""What the notify room does: subscriptions, templates, broadcasts.

Residents need no account: a subscriber is managed through a signed link (in every e-mail and
on the confirmation page). E-mail needs double opt-in (the confirmation link); a Web Push
subscription is confirmed by the browser's own permission prompt; a LINE user by following
the city's official account.

A broadcast is written (draft), submitted, approved by a second person where the city wants
that for non-emergency messages, then sent now or at its time. Sending is the delivery
engine's (``machi.notify.delivery``), run by the worker after commit.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import datetime as dt
import hashlib
import logging
import re
import smtplib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from machi.core import services as core_services
from machi.core.models import Area, User
from machi.core.roles import Action
from machi.notify import conf
from machi.notify.models import (
    AreaGroup,
    Broadcast,
    BroadcastStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Template,
    TemplateKind,
    Topic,
)

logger = logging.getLogger(__name__)

CONFIRM_SALT = "machi.notify.confirm"
MANAGE_SALT = "machi.notify.manage"
CONFIRM_MAX_AGE = 48 * 3600  # a confirmation link works two days
LANGUAGES = ("ja", "en")
PLACEHOLDER = re.compile(r"\(\(\s*([^()\s]{1,40})\s*\)\)")


class NotifyError(Exception):
    """A request the notify room refuses; ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- Addresses and tokens -----------------------------------------------------------------------


def address_key(channel: str, address: str) -> str:
    return hashlib.sha256(f"{channel}\n{address}".encode()).hexdigest()


def email_normalise(address: str) -> str:
    """The address as stored: trimmed, the domain lower-cased (the local part is the owner's)."""
    address = address.strip()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise NotifyError(_("Enter a valid e-mail address."), field="address") from exc
    local, _at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def manage_token(subscriber: Subscriber) -> str:
    """The secret part of the subscriber's manage and unsubscribe links (signed, no expiry)."""
    return signing.Signer(salt=MANAGE_SALT).sign(subscriber.pk.hex)


def subscriber_from_token(token: str) -> Subscriber | None:
    try:
        value = signing.Signer(salt=MANAGE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return Subscriber.objects.filter(pk=value).first()


def confirm_token(subscriber: Subscriber) -> str:
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign(subscriber.pk.hex)


def manage_url(subscriber: Subscriber) -> str:
    return conf.site_url() + reverse("notify:manage", args=[manage_token(subscriber)])


def unsubscribe_url(subscriber: Subscriber) -> str:
    return conf.site_url() + reverse("notify:unsubscribe", args=[manage_token(subscriber)])


# --- Subscriptions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """What a resident chose: topics, areas (none: the whole city), language, emergency only."""

    topics: Sequence[Topic] = ()
    areas: Sequence[Area] = ()
    language: str = "ja"
    emergency_only: bool = False
    groups: Sequence[AreaGroup] = ()  # 学区 and 地区: their areas

    def checked(self) -> Choices:
        if self.language not in LANGUAGES:
            raise NotifyError(_("Choose Japanese or English."), field="language")
        if not self.topics and not self.emergency_only:
            raise NotifyError(
                _("Choose at least one topic, or emergency information only."), field="topics"
            )
        return self


def _apply(subscriber: Subscriber, choices: Choices) -> None:
    subscriber.topics.set(choices.topics)
    subscriber.areas.set(choices.areas)
    subscriber.groups.set(choices.groups)


def default_topics() -> list[Topic]:
    """What a subscriber who chose nothing yet (a new LINE friend) receives: emergency topics."""
    return list(Topic.objects.filter(active=True, emergency=True))


@transaction.atomic
def subscribe_email(*, address: str, choices: Choices, source: str = "web") -> Subscriber:
    """Register an address and send the confirmation mail (double opt-in).

    An address that is already active gets a mail with its manage link instead: the page
    answers the same either way, so nobody learns whether an address is registered.
    """
    choices = choices.checked()
    address = email_normalise(address)
    key = address_key(Channel.EMAIL, address)
    subscriber = Subscriber.objects.select_for_update().filter(address_key=key).first()
    if subscriber is not None and subscriber.status == SubscriberStatus.ACTIVE:
        known = subscriber
        transaction.on_commit(lambda: _send_manage_link(known))
        return known
    if subscriber is None:
        subscriber = Subscriber(channel=Channel.EMAIL, address=address, address_key=key)
    subscriber.status = SubscriberStatus.PENDING
    subscriber.language = choices.language
    subscriber.emergency_only = choices.emergency_only
    subscriber.source = source
    subscriber.save()
    _apply(subscriber, choices)
    _send_confirmation(subscriber)  # inside the transaction: no mail, no registration
    return subscriber


def _mail(subscriber: Subscriber, subject: str, body: str) -> None:
    """A one-off mail to a subscriber (confirmation, manage link), through the notify SMTP."""
    smtp = get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host=settings.MACHI_NOTIFY_SMTP_HOST,
        port=settings.MACHI_NOTIFY_SMTP_PORT,
        username=settings.EMAIL_HOST_USER,
        password=settings.EMAIL_HOST_PASSWORD,
        use_tls=settings.EMAIL_USE_TLS,
        timeout=10,
    )
    message = EmailMessage(subject, body, conf.email_from(), [subscriber.address], connection=smtp)
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    message.extra_headers["Content-Language"] = subscriber.language
    try:
        message.send()
    except (OSError, smtplib.SMTPException) as exc:
        logger.warning("could not send a mail to subscriber %s: %s", subscriber.pk, exc)
        raise NotifyError(
            _("The confirmation mail could not be sent. Please try again later."), field="address"
        ) from exc


def _send_confirmation(subscriber: Subscriber) -> None:
    link = conf.site_url() + reverse("notify:confirm", args=[confirm_token(subscriber)])
    with translation.override(subscriber.language):
        subject = _("Please confirm your subscription to the city's notifications")
        body = _(
            "Thank you for subscribing to the city's notifications.\n"
            "Open this link within 48 hours to start receiving them:\n\n%(link)s\n\n"
            "If you did not ask for this, ignore this mail: nothing will be sent to you."
        ) % {"link": link}
    _mail(subscriber, subject, body)


def _send_manage_link(subscriber: Subscriber) -> None:
    with translation.override(subscriber.language):
        subject = _("Your subscription to the city's notifications")
        body = _(
            "This address already receives the city's notifications.\n"
            "Change what you receive, or stop it, here:\n\n%(link)s"
        ) % {"link": manage_url(subscriber)}
    with contextlib.suppress(NotifyError):  # logged; the resident can ask again
        _mail(subscriber, subject, body)


def send_direct(
    *, address: str, subject: str, body: str, language: str = "ja", kind: str, key: str = ""
) -> None:
    """One mail to one person about their own business (an application received, its status
    changed), through the notify SMTP server like the confirmation mails.

    ``kind`` says what it is (``procedures.status``), for the log and an ``X-Machi-Kind``
    header; ``key`` makes the Message-ID, so a mail sent again after a lost answer is one
    message in the mailbox. Refused for good (NotifyError, field "address"): not an address;
    an address notify stopped (a bounce: ``bounced``; a complaint: ``unsubscribed``); a server
    answer 5xx. A temporary failure (no connection, 4xx) raises ``OSError`` or
    ``smtplib.SMTPException`` as it came: the caller tries again later.
    """
    address = email_normalise(address)
    stopped = Subscriber.objects.filter(
        address_key=address_key(Channel.EMAIL, address),
        status__in=[SubscriberStatus.BOUNCED, SubscriberStatus.UNSUBSCRIBED],
    )
    if stopped.exists():
        logger.info("%s mail not sent: the address is stopped (bounce or complaint)", kind)
        raise NotifyError("this address does not accept our mail", field="address")
    smtp = get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host=settings.MACHI_NOTIFY_SMTP_HOST,
        port=settings.MACHI_NOTIFY_SMTP_PORT,
        username=settings.EMAIL_HOST_USER,
        password=settings.EMAIL_HOST_PASSWORD,
        use_tls=settings.EMAIL_USE_TLS,
        timeout=10,
    )
    sender = conf.email_from()
    message = EmailMessage(subject, body, sender, [address], connection=smtp)
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    message.extra_headers["Content-Language"] = language
    message.extra_headers["X-Machi-Kind"] = re.sub(r"[^A-Za-z0-9._-]", "-", kind)[:64]
    if key:
        left = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]", "-", key)
        domain = sender.rpartition("@")[2].strip(" >") or "localhost"
        message.extra_headers["Message-ID"] = f"<{left}@{domain}>"
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise NotifyError("the mail server refused the address", field="address") from exc
        raise
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise NotifyError("the mail server refused the mail", field="address") from exc
        raise


def subscriber_to_confirm(*, token: str) -> Subscriber | None:
    """The subscriber a confirmation link is for, changing nothing. None if bad or old."""
    try:
        value = signing.TimestampSigner(salt=CONFIRM_SALT).unsign(token, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:
        return None
    return Subscriber.objects.filter(pk=value).first()


def subscription_confirm(*, token: str) -> Subscriber | None:
    """The confirmation (a POST from the link's page): the address becomes active.

    The link itself only shows a button: mail scanners that open every link (Safe Links and
    the like) must not confirm an address for its owner.
    """
    subscriber = subscriber_to_confirm(token=token)
    if subscriber is None:
        return None
    if subscriber.status != SubscriberStatus.ACTIVE:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = timezone.now()
        subscriber.save(update_fields=["status", "confirmed_at"])
    return subscriber


def _b64url_bytes(value: Any, *, field: str, size: int | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise NotifyError(_("The browser's subscription is incomplete."), field=field)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise NotifyError(_("The browser's subscription is incomplete."), field=field) from exc
    if size is not None and len(raw) != size:
        raise NotifyError(_("The browser's subscription is incomplete."), field=field)
    return value


def push_endpoint_allowed(endpoint: str) -> bool:
    """HTTPS only (RFC 8030), except loopback push services in demo and tests."""
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return True
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    return parts.scheme == "http" and loopback and (settings.DEBUG or settings.DEMO)


@transaction.atomic
def subscribe_webpush(
    *, subscription: dict[str, Any], choices: Choices, source: str = "web"
) -> Subscriber:
    """A browser's PushSubscription (endpoint and keys). Its permission prompt was the opt-in."""
    choices = choices.checked()
    endpoint = subscription.get("endpoint") if isinstance(subscription, dict) else None
    if not isinstance(endpoint, str) or len(endpoint) > 1000 or not push_endpoint_allowed(endpoint):
        raise NotifyError(_("The browser's subscription is incomplete."), field="endpoint")
    keys = subscription.get("keys") or {}
    if not isinstance(keys, dict):
        raise NotifyError(_("The browser's subscription is incomplete."), field="keys")
    push_keys = {
        "p256dh": _b64url_bytes(keys.get("p256dh"), field="keys.p256dh", size=65),
        "auth": _b64url_bytes(keys.get("auth"), field="keys.auth", size=16),
    }
    key = address_key(Channel.WEBPUSH, endpoint)
    subscriber, _created = Subscriber.objects.select_for_update().get_or_create(
        address_key=key,
        defaults={"channel": Channel.WEBPUSH, "address": endpoint, "status": "active"},
    )
    subscriber.push_keys = push_keys
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.language = choices.language
    subscriber.emergency_only = choices.emergency_only
    subscriber.confirmed_at = subscriber.confirmed_at or timezone.now()
    subscriber.source = source
    subscriber.save()
    _apply(subscriber, choices)
    return subscriber


def line_follow(*, user_id: str, reply_token: str = "") -> Subscriber:
    """A resident followed the city's LINE account: they receive emergency topics at once and
    get a link to choose more."""
    if not re.fullmatch(r"U[0-9a-f]{32}", user_id):
        raise NotifyError("not a LINE user id", field="user_id")
    key = address_key(Channel.LINE, user_id)
    with transaction.atomic():
        subscriber, created = Subscriber.objects.get_or_create(
            address_key=key,
            defaults={
                "channel": Channel.LINE,
                "address": user_id,
                "status": SubscriberStatus.ACTIVE,
                "confirmed_at": timezone.now(),
                "source": "line",
            },
        )
        if not created and subscriber.status != SubscriberStatus.ACTIVE:
            subscriber.status = SubscriberStatus.ACTIVE
            subscriber.save(update_fields=["status"])
        if created or not subscriber.topics.exists():
            subscriber.topics.set(default_topics())
    if reply_token:
        from machi.notify.views_line import line_reply

        text = (
            "戸田市の通知にご登録いただきありがとうございます。防災・緊急情報をお届けします。\n"
            "受け取る分野や地域の変更はこちら:\n"
            f"{manage_url(subscriber)}\n"
            "Thank you for following. Choose topics and areas here."
        )
        line_reply(reply_token=reply_token, text=text)
    return subscriber


def line_unfollow(*, user_id: str) -> None:
    """Blocked or unfollowed: LINE would refuse our messages, and we keep nothing we need not."""
    Subscriber.objects.filter(address_key=address_key(Channel.LINE, user_id)).delete()


def subscription_update(*, subscriber: Subscriber, choices: Choices) -> Subscriber:
    choices = choices.checked()
    with transaction.atomic():
        subscriber.language = choices.language
        subscriber.emergency_only = choices.emergency_only
        subscriber.save(update_fields=["language", "emergency_only"])
        _apply(subscriber, choices)
    return subscriber


def unsubscribe(*, subscriber: Subscriber) -> None:
    """Stop and forget: the address is deleted (past deliveries stay counted, without it)."""
    Subscriber.objects.filter(pk=subscriber.pk).delete()


# --- Templates ----------------------------------------------------------------------------------


def placeholders(*texts: str) -> list[str]:
    """The ((names)) used in the texts, each once, in order of appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for name in PLACEHOLDER.findall(text or ""):
            seen.setdefault(name, None)
    return list(seen)


def render(text: str, values: dict[str, str], *, strict: bool = True) -> str:
    """Fill ((placeholders)). A missing value is an error naming it, never an empty gap
    (``strict=False``: a value the caller gave may be empty, as a responder's 補足 can be)."""
    missing = [
        name
        for name in placeholders(text)
        if name not in values or (strict and not str(values[name]).strip())
    ]
    if missing:
        raise NotifyError(
            _("Fill in: %(names)s") % {"names": ", ".join(missing)}, field=f"values.{missing[0]}"
        )
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]).strip(), text)


@dataclass(frozen=True)
class Text:
    subject: str
    body: str
    subject_en: str = ""
    body_en: str = ""


def template_render(template: Template, values: dict[str, str], *, strict: bool = True) -> Text:
    def fill(text: str) -> str:
        return render(text, values, strict=strict) if text else ""

    return Text(
        subject=fill(template.subject),
        body=fill(template.body),
        subject_en=fill(template.subject_en),
        body_en=fill(template.body_en),
    )


def template_save(*, template: Template, **changes: Any) -> Template:
    """Edit a template; its version goes up (broadcasts keep the text they were sent with)."""
    topics = changes.pop("topics", None)
    for name, value in changes.items():
        setattr(template, name, value)
    if template.pk:
        template.version += 1
    with transaction.atomic():
        template.save()
        if topics is not None:
            template.topics.set(topics)
        core_services.audit_record(action=Action.UPDATE, record=template)
    return template


# --- Broadcasts ---------------------------------------------------------------------------------


def _channels(channels: Iterable[str]) -> list[str]:
    chosen = [c for c in Channel.values if c in set(channels)]
    unknown = set(channels) - set(Channel.values)
    if unknown:
        raise NotifyError(
            _("Unknown channel: %(names)s") % {"names": ", ".join(sorted(unknown))},
            field="channels",
        )
    if not chosen:
        raise NotifyError(_("Choose at least one channel."), field="channels")
    return chosen


def channels_available() -> list[str]:
    """The channels this installation can send through (LINE needs the channel's token)."""
    return [c for c in Channel.values if c != Channel.LINE or conf.line_channel_token()]


def broadcast_create(
    *,
    text: Text,
    topics: Sequence[Topic] = (),
    areas: Sequence[Area] = (),
    channels: Iterable[str] = tuple(Channel.values),
    emergency: bool = False,
    everyone: bool = False,
    template: Template | None = None,
    scheduled_at: dt.datetime | None = None,
    created_by: User | None = None,
    test: bool = False,
    origin: str | None = None,
    disaster_id: int | None = None,
) -> Broadcast:
    """A draft. ``submit`` sends it (or asks for approval)."""
    if not text.subject.strip():
        raise NotifyError(_("Write a subject."), field="subject")
    if not text.body.strip():
        raise NotifyError(_("Write the message."), field="body")
    chosen_channels = _channels(channels)
    if not topics and not everyone and not emergency:
        raise NotifyError(_("Choose at least one topic."), field="topics")
    if scheduled_at is not None and scheduled_at < timezone.now() - dt.timedelta(minutes=1):
        raise NotifyError(_("The sending time is in the past."), field="scheduled_at")
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            template=template,
            template_version=template.version if template else None,
            subject=text.subject.strip()[:200],
            body=text.body.strip(),
            subject_en=text.subject_en.strip()[:200],
            body_en=text.body_en.strip(),
            channels=chosen_channels,
            emergency=emergency,
            everyone=everyone,
            scheduled_at=scheduled_at,
            created_by=created_by,
            test=test,
            origin=origin,
            disaster_id=disaster_id,
        )
        broadcast.topics.set(topics)
        broadcast.areas.set(areas)
        core_services.audit_record(action=Action.CREATE, record=broadcast, actor=created_by)
    return broadcast


def needs_approval(broadcast: Broadcast) -> bool:
    return conf.require_approval() and not broadcast.emergency and not broadcast.test


def broadcast_submit(*, broadcast: Broadcast, by: User | None) -> Broadcast:
    """Send (now or at its time), or wait for a second person's approval."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if broadcast.status != BroadcastStatus.DRAFT:
            return broadcast
        if needs_approval(broadcast):
            broadcast.status = BroadcastStatus.AWAITING_APPROVAL
            broadcast.save(update_fields=["status"])
            core_services.audit_record(
                action=Action.UPDATE, record=broadcast, detail={"status": "awaiting_approval"}
            )
            return broadcast
        return _release(broadcast)


def broadcast_release(*, broadcast: Broadcast) -> Broadcast:
    """Send a draft without a second approval (an API key's: creating the key was that)."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if broadcast.status != BroadcastStatus.DRAFT:
            return broadcast
        return _release(broadcast)


def broadcast_approve(*, broadcast: Broadcast, by: User) -> Broadcast:
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if broadcast.status != BroadcastStatus.AWAITING_APPROVAL:
            raise NotifyError(_("This broadcast is not waiting for approval."), field="status")
        if broadcast.created_by_id == by.pk:
            raise NotifyError(
                _("A second person must approve: you wrote this broadcast."), field="approved_by"
            )
        broadcast.approved_by, broadcast.approved_at = by, timezone.now()
        broadcast.save(update_fields=["approved_by", "approved_at"])
        return _release(broadcast)


def _release(broadcast: Broadcast) -> Broadcast:
    """Inside a transaction: schedule it, or start sending after commit."""
    from machi.notify import tasks

    if broadcast.scheduled_at and broadcast.scheduled_at > timezone.now():
        broadcast.status = BroadcastStatus.SCHEDULED
        broadcast.save(update_fields=["status"])
        when = broadcast.scheduled_at
        transaction.on_commit(lambda: tasks.deliver.schedule((str(broadcast.pk),), eta=when))
    else:
        broadcast.status = BroadcastStatus.SENDING
        broadcast.started_at = timezone.now()
        broadcast.save(update_fields=["status", "started_at"])
        transaction.on_commit(lambda: tasks.deliver(str(broadcast.pk)))
    core_services.audit_record(
        action=Action.UPDATE, record=broadcast, detail={"status": broadcast.status}
    )
    return broadcast


def broadcast_start_due(*, now: dt.datetime | None = None) -> list[Broadcast]:
    """Scheduled broadcasts whose time has come start (the worker checks every minute)."""
    started = []
    due = Broadcast.objects.filter(
        status=BroadcastStatus.SCHEDULED, scheduled_at__lte=now or timezone.now()
    )
    for broadcast in due:
        with transaction.atomic():
            updated = Broadcast.objects.filter(
                pk=broadcast.pk, status=BroadcastStatus.SCHEDULED
            ).update(status=BroadcastStatus.SENDING, started_at=timezone.now())
        if updated:
            started.append(broadcast)
    return started


def broadcast_cancel(*, broadcast: Broadcast, by: User | None) -> Broadcast:
    """Stop a broadcast: nothing more is sent (what was delivered stays delivered)."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if broadcast.status in {BroadcastStatus.SENT, BroadcastStatus.CANCELLED}:
            return broadcast
        broadcast.status = BroadcastStatus.CANCELLED
        broadcast.finished_at = timezone.now()
        broadcast.save(update_fields=["status", "finished_at"])
        core_services.audit_record(
            action=Action.UPDATE, record=broadcast, detail={"status": "cancelled"}, actor=by
        )
    return broadcast


def broadcast_send_now(**kwargs: Any) -> Broadcast:
    """Create and submit in one step (responders, the API)."""
    by = kwargs.get("created_by")
    broadcast = broadcast_create(**kwargs)
    return broadcast_submit(broadcast=broadcast, by=by)


# --- Fan-out ------------------------------------------------------------------------------------


def fan_out(*, broadcast: Broadcast) -> int:
    """One delivery per matching subscriber, in one INSERT … SELECT. Idempotent: a pair that
    already has its delivery is skipped (the unique constraint), so a worker that died during
    the fan-out runs it again safely. Returns the number of deliveries of the broadcast.
    """
    subscribers = Subscriber.objects.filter(
        status=SubscriberStatus.ACTIVE, channel__in=broadcast.channels
    )
    if not broadcast.emergency:
        subscribers = subscribers.filter(emergency_only=False)
    if not broadcast.everyone:
        topic_ids = list(broadcast.topics.values_list("pk", flat=True))
        chose_topic = Subscriber.topics.through.objects.filter(
            subscriber_id=OuterRef("pk"), topic_id__in=topic_ids
        )
        wanted = Q(Exists(chose_topic))
        if broadcast.emergency:
            wanted |= Q(emergency_only=True)
        subscribers = subscribers.filter(wanted)
    area_ids = list(broadcast.areas.values_list("pk", flat=True))
    if area_ids:
        # Subscribers who chose no area (nor 学区) hear about the whole city; a 学区 counts
        # with the areas it holds today.
        areas = Subscriber.areas.through.objects.filter(subscriber_id=OuterRef("pk"))
        groups = Subscriber.groups.through.objects.filter(subscriber_id=OuterRef("pk"))
        subscribers = subscribers.filter(
            (~Exists(areas) & ~Exists(groups))
            | Exists(areas.filter(area_id__in=area_ids))
            | Exists(groups.filter(areagroup__areas__in=area_ids))
        )
    chosen = subscribers.values(picked_id=F("pk"), picked_channel=F("channel"))
    select_sql, params = chosen.query.sql_with_params()
    table = Delivery._meta.db_table
    # Names are the models' own; values are parameters.
    sql = (
        f"INSERT INTO {table} (broadcast_id, subscriber_id, channel, status, attempts, error, "  # noqa: S608
        "provider_ref) "
        f"SELECT %s, picked.picked_id, picked.picked_channel, %s, 0, '', '' "
        f"FROM ({select_sql}) AS picked "
        "WHERE true ON CONFLICT (broadcast_id, subscriber_id) DO NOTHING"
    )
    broadcast_id = Delivery._meta.get_field("broadcast").get_db_prep_value(broadcast.pk, connection)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [broadcast_id, DeliveryStatus.CREATED.value, *params])
    total = Delivery.objects.filter(broadcast=broadcast).count()
    Broadcast.objects.filter(pk=broadcast.pk).update(total=total)
    broadcast.total = total
    return total


def broadcast_counts(broadcast: Broadcast) -> dict[str, int]:
    """Deliveries by status (and by channel and status), from the deliveries themselves."""
    rows = (
        Delivery.objects.filter(broadcast=broadcast)
        .values("channel", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[str, int] = dict.fromkeys(DeliveryStatus.values, 0)
    for row in rows:
        counts[row["status"]] += row["n"]
        counts[f"{row['channel']}:{row['status']}"] = row["n"]
    return counts


def template_for_event(event: str) -> Template | None:
    return Template.objects.filter(event=event).order_by("-kind", "pk").first()


EMERGENCY = TemplateKind.EMERGENCY


# --- 学区 and 地区 (area groups) ------------------------------------------------------------

GROUP_COLUMNS = ("学区", "地区", "名称", "name")
AREA_COLUMNS = ("町字", "町字ID", "町丁目", "area")


@dataclass(frozen=True)
class GroupImport:
    groups: int
    areas: int


def area_groups_import(*, data: bytes, kind: str = "school") -> GroupImport:
    """Read a CSV of 学区 (or 地区): one row per area, with the group's name (学区 / 地区 / 名称)
    and the area (町字 name or 町字ID; 町丁目). UTF-8, UTF-8 with BOM or CP932. Each group named
    in the file is replaced by the file's rows, all or nothing; a bad row is named by line and
    column (NotifyError field "line:column").
    """
    from machi.core import japanese
    from machi.notify.models import AreaGroupKind

    if kind not in AreaGroupKind.values:
        raise NotifyError(f"unknown kind {kind!r}", field="kind")
    try:
        rows = list(japanese.read_csv(data))
    except (japanese.CsvDecodeError, csv.Error) as exc:
        raise NotifyError(str(exc), field="file") from exc
    if not rows:
        raise NotifyError("the file has no rows", field="file")
    header = rows[0][1].keys()
    group_column = next((c for c in GROUP_COLUMNS if c in header), None)
    area_column = next((c for c in AREA_COLUMNS if c in header), None)
    if group_column is None or area_column is None:
        missing = "学区" if group_column is None else "町字"
        raise NotifyError(f"line 1: no column {missing}", field="1:" + missing)
    by_name = {japanese.normalize(a.name): a for a in Area.objects.all()}
    by_code = {a.machiaza_id: a for a in Area.objects.exclude(machiaza_id="")}
    wanted: dict[str, list[Area]] = {}
    for line, row in rows:
        name = japanese.normalize(row[group_column])
        ref = japanese.normalize(row[area_column])
        if not name:
            raise NotifyError(f"line {line}, {group_column}: empty", field=f"{line}:{group_column}")
        if len(name) > 64:
            raise NotifyError(
                f"line {line}, {group_column}: at most 64 characters",
                field=f"{line}:{group_column}",
            )
        area = by_code.get(ref.zfill(7) if ref.isdigit() else ref) or by_name.get(ref)
        if area is None:
            raise NotifyError(
                f"line {line}, {area_column}: no area {ref!r} in this city",
                field=f"{line}:{area_column}",
            )
        wanted.setdefault(name, []).append(area)
    with transaction.atomic():
        for position, (name, areas) in enumerate(wanted.items()):
            group, _created = AreaGroup.objects.update_or_create(
                name=name, defaults={"kind": kind, "position": position}
            )
            group.areas.set(areas)
        core_services.audit_record(
            action=Action.UPDATE,
            object_type="notify.areagroup",
            detail={"imported": sorted(wanted)},
        )
    return GroupImport(len(wanted), sum(len(a) for a in wanted.values()))
