"""The procedures room: a catalogue of procedures defined as data, applications, and their
status history, which is appended to and never rewritten."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class IdentityLevel(models.TextChoices):
    EMAIL = "email", _("Verified e-mail")
    OIDC = "oidc", _("OpenID Connect")
    JPKI = "jpki", _("Signature with a certificate (JPKI style)")


class Procedure(models.Model):
    """One procedure residents can apply for, with its form as data (``form``: a list of
    fields, see ``procedures.forms_data``)."""

    slug = models.SlugField(_("key"), max_length=48, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    department = models.CharField(_("department"), max_length=64)
    identity_level = models.CharField(
        _("identity check"), max_length=8, choices=IdentityLevel.choices
    )
    fee_yen = models.PositiveIntegerField(_("fee (yen)"), default=0)
    # How the result reaches the resident: "mail" (to the registered address), "counter",
    # "electronic"; the resident chooses among these.
    deliveries = models.JSONField(_("delivery"), default=list)
    target_days = models.PositiveSmallIntegerField(_("target days"), default=5)
    form = models.JSONField(_("form"), default=list)
    # A room that takes the application over (e.g. "recovery.certificate"), or empty.
    handler = models.CharField(_("handled by"), max_length=48, blank=True)
    active = models.BooleanField(_("offered"), default=True)
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("procedure")
        verbose_name_plural = _("procedures")

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    RECEIVED = "received", pgettext_lazy("application", "Received (受付)")
    REVIEWING = "reviewing", pgettext_lazy("application", "Under review (審査中)")
    CORRECTION = "correction", pgettext_lazy("application", "Correction asked (補正依頼)")
    APPROVED = "approved", pgettext_lazy("application", "Approved (承認)")
    ISSUED = "issued", pgettext_lazy("application", "Issued (発行)")
    SENT = "sent", pgettext_lazy("application", "Sent (発送)")
    REJECTED = "rejected", pgettext_lazy("application", "Rejected (却下)")
    WITHDRAWN = "withdrawn", pgettext_lazy("application", "Withdrawn (取下げ)")


class Channel(models.TextChoices):
    ONLINE = "online", _("Online")
    COUNTER = "counter", _("At the counter")


class Application(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(_("reference"), max_length=16, unique=True)
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="applications")
    applicant_name = models.CharField(_("applicant"), max_length=64)
    applicant_email = models.EmailField(_("e-mail"), blank=True)
    # Who the identity check says the applicant is: a verified address, an OIDC subject, a
    # certificate's serial number.
    applicant_identifier = models.CharField(max_length=200, blank=True)
    # The registered address, when the identity check gives it (JPKI, OIDC) or the applicant
    # wrote it: where a certificate is mailed.
    applicant_address = models.CharField(_("address"), max_length=200, blank=True)
    identity_level = models.CharField(max_length=8, blank=True)
    answers = models.JSONField(_("answers"), default=dict)
    delivery = models.CharField(_("delivery"), max_length=12)
    fee_yen = models.PositiveIntegerField(_("fee (yen)"), default=0)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)
    out_of_hours = models.BooleanField(_("submitted out of office hours"), default=False)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, db_index=True)
    department = models.CharField(_("department"), max_length=64, db_index=True)
    due_on = models.DateField(_("due"))
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    # The record another room made of it (e.g. "recovery.certificateapplication:12").
    handler_ref = models.CharField(max_length=64, blank=True)
    # When the retention policy removed the applicant's personal data (the rest is kept for
    # statistics: procedure, channel, dates, status).
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["department", "status", "submitted_at"]),
            # The queue: a department's applications, earliest due first. The status at the
            # end lets the open and overdue counts be read from the index alone.
            models.Index(
                fields=["department", "due_on", "submitted_at", "status"],
                name="procedures_queue_idx",
            ),
        ]
        verbose_name = _("application")
        verbose_name_plural = _("applications")

    def __str__(self) -> str:
        return self.reference


class StatusEntry(models.Model):
    """One step of an application's history. Append-only (database triggers)."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="history")
    status = models.CharField(max_length=12, choices=Status.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150, blank=True)  # staff username; empty: the applicant
    note = models.CharField(_("note"), max_length=500, blank=True)  # for staff
    message = models.TextField(_("message to the applicant"), blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("status entry")
        verbose_name_plural = _("status entries")

    def __str__(self) -> str:
        return f"{self.application_id} {self.status}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("payment", "Waiting for payment")
    PAID = "paid", pgettext_lazy("payment", "Paid")
    REFUND_DUE = "refund_due", pgettext_lazy("payment", "To be refunded")
    REFUNDED = "refunded", pgettext_lazy("payment", "Refunded")
    VOID = "void", pgettext_lazy("payment", "Nothing to pay (cancelled before payment)")
    FAILED = "failed", pgettext_lazy("payment", "Payment failed")


class Payment(models.Model):
    """The fee of one application and how it is paid (``procedures.payments`` providers:
    ``counter``, ``postal_order`` (定額小為替), ``card``)."""

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="payment"
    )
    provider = models.CharField(_("payment method"), max_length=16)
    amount_yen = models.PositiveIntegerField(_("amount (yen)"))
    status = models.CharField(
        _("payment"), max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    # The provider's own id: the gateway's checkout session or charge; a receipt number.
    external_id = models.CharField(max_length=100, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return f"{self.application_id} {self.provider} {self.status}"


class PaymentEvent(models.Model):
    """What happened to a payment, in order: created, paid, refund asked, refunded, a webhook
    received. ``external_event_id`` makes a webhook delivered twice count once."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=32)
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150, blank=True)
    external_event_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.kind}"


class Draft(models.Model):
    """A resident's application not yet submitted: saved after each step, resumed with the
    link (whose secret only the resident holds: we keep its hash) until ``expires_at``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="drafts")
    token_hash = models.CharField(max_length=64, unique=True)
    identity = models.JSONField(default=dict, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    delivery = models.CharField(max_length=12, blank=True)
    payment_provider = models.CharField(max_length=16, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return str(self.pk)
