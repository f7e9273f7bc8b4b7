"""The notify room: who subscribed to what, what staff send, and each message's delivery.

A *subscriber* is one address on one channel (an e-mail address, a browser's Web Push
subscription, a LINE user), with its topics, areas and language. A *broadcast* is one message
to everyone whose choices match it; its *deliveries* (one per subscriber, unique together) are
what the worker sends. The delivery's id is also the idempotency key the channel passes on
(the e-mail's Message-ID, the Web Push Topic, LINE's X-Line-Retry-Key), so a delivery resent
after a crashed worker is recognised as the same message downstream.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from machi.core.models import Area


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBPUSH = "webpush", _("Web Push")
    LINE = "line", "LINE"


class Topic(models.Model):
    """What residents choose to hear about (お知らせ, 防災・気象, 防犯 …). Staff edit the list."""

    slug = models.SlugField(_("key"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    name_en = models.CharField(_("name (English)"), max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Messages of an emergency topic also reach the "緊急情報のみ" subscribers.
    emergency = models.BooleanField(_("emergency information"), default=False)
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    active = models.BooleanField(_("offered to residents"), default=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("topic")
        verbose_name_plural = _("topics")

    def __str__(self) -> str:
        return self.name

    def label(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name


class AreaGroupKind(models.TextChoices):
    SCHOOL = "school", _("School district (学区)")
    DISTRICT = "district", _("District (地区)")


class AreaGroup(models.Model):
    """A named group of areas residents know better than 町字: a 学区 (school attendance
    zone) or a 地区. Choosing one means its areas, also when the city later redraws it."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=64, blank=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=AreaGroupKind.choices, default=AreaGroupKind.SCHOOL
    )
    areas = models.ManyToManyField(Area, related_name="notify_groups")
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["kind", "position", "name"]
        verbose_name = _("area group")
        verbose_name_plural = _("area groups")

    def __str__(self) -> str:
        return self.name

    def label(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name


class SubscriberStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting confirmation")
    ACTIVE = "active", pgettext_lazy("subscription", "Active")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    BOUNCED = "bounced", _("Stopped: the address does not accept messages")


class Subscriber(models.Model):
    """One address on one channel. No account: the resident manages it through a signed link."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    # E-mail address (lower-cased domain), Web Push endpoint URL, or LINE user id.
    address = models.TextField(_("address"))
    # SHA-256 of channel + address: unique, and short enough to index (endpoints are long).
    address_key = models.CharField(max_length=64, unique=True)
    # Web Push: the browser's p256dh public key and auth secret (base64url).
    push_keys = models.JSONField(default=dict, blank=True)
    language = models.CharField(_("language"), max_length=2, default="ja")
    emergency_only = models.BooleanField(_("emergency information only"), default=False)
    topics = models.ManyToManyField(Topic, blank=True, related_name="subscribers")
    # No areas and no groups: the whole city.
    areas = models.ManyToManyField(Area, blank=True, related_name="subscribers")
    groups = models.ManyToManyField(AreaGroup, blank=True, related_name="subscribers")
    status = models.CharField(
        _("status"), max_length=12, choices=SubscriberStatus.choices, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Where the registration came from (web, qr, line, empty-mail, api, import).
    source = models.CharField(max_length=16, blank=True)

    class Meta:
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        indexes = [models.Index(fields=["status", "channel"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.masked_address}"

    @property
    def masked_address(self) -> str:
        """Enough to recognise an address on a staff page without showing it whole."""
        if self.channel == Channel.EMAIL and "@" in self.address:
            local, domain = self.address.split("@", 1)
            return f"{local[:2]}…@{domain}"
        return f"…{self.address[-8:]}"


class TemplateKind(models.TextChoices):
    NORMAL = "normal", _("Normal")
    EMERGENCY = "emergency", _("Emergency")


class Template(models.Model):
    """A prepared message with ``((placeholders))``. Responders use the one for their event."""

    slug = models.SlugField(_("key"), max_length=48, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("kind"), max_length=10, choices=TemplateKind.choices, default=TemplateKind.NORMAL
    )
    # The responder event this template answers (e.g. "evacuation.issued"), or empty.
    event = models.CharField(_("automatic for"), max_length=32, blank=True, db_index=True)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    subject_en = models.CharField(_("subject (English)"), max_length=200, blank=True)
    body_en = models.TextField(_("body (English)"), blank=True)
    topics = models.ManyToManyField(Topic, blank=True, related_name="templates")
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("template")
        verbose_name_plural = _("templates")

    def __str__(self) -> str:
        return self.name


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    SENT = "sent", pgettext_lazy("broadcast status", "Sent")
    CANCELLED = "cancelled", _("Cancelled")


class Broadcast(models.Model):
    """One message to every subscriber whose choices match it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(
        Template, on_delete=models.SET_NULL, null=True, blank=True, related_name="broadcasts"
    )
    template_version = models.PositiveIntegerField(null=True, blank=True)
    # The text as sent, placeholders filled (later template edits do not change it).
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    subject_en = models.CharField(_("subject (English)"), max_length=200, blank=True)
    body_en = models.TextField(_("body (English)"), blank=True)
    topics = models.ManyToManyField(Topic, blank=True, related_name="broadcasts")
    # No areas: the whole city.
    areas = models.ManyToManyField(Area, blank=True, related_name="broadcasts")
    channels = models.JSONField(_("channels"), default=list)
    # Emergency: also reaches "emergency only" subscribers. Everyone: whatever their topics
    # (避難指示 and 緊急安全確保 go to every subscriber of the area).
    emergency = models.BooleanField(_("emergency"), default=False)
    everyone = models.BooleanField(_("every subscriber, whatever their topics"), default=False)
    # A test broadcast sends nothing: every delivery is marked delivered with a fake receipt.
    test = models.BooleanField(_("test (sends nothing)"), default=False)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=BroadcastStatus.choices,
        default=BroadcastStatus.DRAFT,
        db_index=True,
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # What sent it automatically ("evacuation:12:issued"): a responder's retry finds it.
    origin = models.CharField(max_length=64, null=True, blank=True, unique=True)
    disaster_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Counts kept by the worker (the deliveries are the truth; these are for the pages).
    total = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")

    def __str__(self) -> str:
        return self.subject

    @property
    def progress(self) -> int:
        """Per cent of deliveries finished (delivered or failed for good)."""
        if not self.total:
            return 100 if self.status == BroadcastStatus.SENT else 0
        return min(100, round(100 * (self.delivered + self.failed) / self.total))


class DeliveryStatus(models.TextChoices):
    CREATED = "created", _("Created")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", pgettext_lazy("notification", "Delivered")
    TEMPORARY_FAILURE = "temporary-failure", _("Temporary failure")
    PERMANENT_FAILURE = "permanent-failure", _("Permanent failure")


class Delivery(models.Model):
    """One subscriber's copy of one broadcast. Never two for the same pair."""

    id = models.BigAutoField(primary_key=True)
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="deliveries")
    # SET_NULL: a Web Push subscription that is gone is deleted; its deliveries stay counted.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.SET_NULL, null=True, related_name="deliveries"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.CREATED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a temporary failure may be tried again; while sending, when the claim lapses.
    due_at = models.DateTimeField(null=True, blank=True)
    # LINE sends 500 at once: the deliveries of one request share its retry key.
    batch = models.UUIDField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    provider_ref = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "subscriber"], name="notify_one_per_sub")
        ]
        indexes = [models.Index(fields=["broadcast", "status"])]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")

    def __str__(self) -> str:
        return f"{self.broadcast_id}/{self.pk} {self.status}"


class ApiKeyKind(models.TextChoices):
    LIVE = "live", _("Live: sends")
    TEST = "test", _("Test: sends nothing, fakes receipts")


class ApiKey(models.Model):
    """A key for other systems to send broadcasts and read their status (GOV.UK Notify's idea)."""

    name = models.CharField(_("name"), max_length=64)
    kind = models.CharField(_("kind"), max_length=8, choices=ApiKeyKind.choices)
    prefix = models.CharField(max_length=16, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification API key")
        verbose_name_plural = _("notification API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"
