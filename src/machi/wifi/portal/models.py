"""The free Wi-Fi's captive portal: e-mail registrations, portal sessions, RADIUS accounting.

Personal data is kept to what the service needs (個人情報保護法 Art. 17-22: purpose, minimum,
deletion when no longer needed; see docs in ``services.py`` for the retention rules):

- an e-mail address is kept in clear only until its confirmation mail has been sent, then only
  a keyed hash (to count registrations per address) and a masked hint (``t***@example.jp``)
  for the staff list;
- an OpenID Connect login keeps a keyed hash of the issuer and subject, nothing else;
- a client device's MAC is kept on its portal session, because RADIUS asks by MAC;
- everything is deleted ``MACHI_WIFI_RETENTION_DAYS`` after the session ended.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.wifi.models import AccessPoint, Site


class EmailRegistration(models.Model):
    """One "send me a link" request: the address until the mail is sent, then its hash."""

    AUDIT_REPR = False  # the audit log names this record by id only

    address_digest = models.CharField(max_length=64, db_index=True)  # HMAC-SHA256, keyed
    address = models.EmailField(blank=True)  # cleared once the confirmation mail is sent
    address_hint = models.CharField(max_length=80, blank=True)  # "t***@example.jp"
    token_digest = models.CharField(max_length=64, blank=True, db_index=True)  # SHA-256
    language = models.CharField(max_length=8, default="ja")
    created_at = models.DateTimeField(default=timezone.now)
    mail_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail registration")
        verbose_name_plural = _("e-mail registrations")
        indexes = [models.Index(fields=["created_at"], name="portal_reg_created_idx")]

    def __str__(self) -> str:
        return f"registration {self.pk}"


class LoginMethod(models.TextChoices):
    EMAIL = "email", _("E-mail")
    OIDC = "oidc", _("External account (OpenID Connect)")


class EndReason(models.TextChoices):
    LOGOUT = "logout", _("Logged out")
    REPLACED = "replaced", _("Replaced by a new login")
    DATA_LIMIT = "data_limit", _("Data limit reached")
    NAS = "nas", _("Ended by the access point")


class PortalSession(models.Model):
    """A client device allowed onto the free Wi-Fi until ``expires_at``.

    An e-mail registration starts one of 10 minutes (to read the mail); confirming moves
    ``expires_at`` to the full session length. An OpenID Connect login starts a full one.
    """

    AUDIT_REPR = False  # the audit log names this record by id only

    method = models.CharField(max_length=8, choices=LoginMethod.choices)
    registration = models.ForeignKey(
        EmailRegistration,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
    )
    subject_digest = models.CharField(max_length=64, blank=True)  # OIDC iss + sub, keyed hash
    # The device, as the gateway named it: "aa:bb:cc:dd:ee:ff" (RADIUS asks by it); blank when
    # the gateway sent none (the session then lives in the browser's cookie only).
    client_mac = models.CharField(max_length=17, blank=True)
    ap = models.ForeignKey(
        AccessPoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    site = models.ForeignKey(
        Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ssid = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    bytes_limit = models.BigIntegerField(null=True, blank=True)  # None: unlimited
    used_octets = models.BigIntegerField(default=0)  # sum of its accounting sessions
    used_seconds = models.BigIntegerField(default=0)
    last_radius_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("Wi-Fi portal session")
        verbose_name_plural = _("Wi-Fi portal sessions")
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["client_mac", "expires_at"], name="portal_sess_mac_idx"),
            models.Index(fields=["site", "expires_at"], name="portal_sess_site_idx"),
            models.Index(fields=["expires_at"], name="portal_sess_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"portal session {self.pk}"


class AccountingSession(models.Model):
    """One RADIUS accounting session (Start, Interim-Update…, Stop) of a NAS: the usage.

    No MAC or address is kept here: the portal session it belongs to says whose it was, and
    sessions accepted in disaster mode belong to nobody (they count use at the site).
    """

    nas = models.CharField(max_length=64)  # NAS-Identifier, else NAS-IP-Address
    acct_session_id = models.CharField(max_length=64)
    portal_session = models.ForeignKey(
        PortalSession,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="accounting",
    )
    ap = models.ForeignKey(
        AccessPoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    site = models.ForeignKey(
        Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    disaster_mode = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    terminate_cause = models.CharField(max_length=32, blank=True)
    input_octets = models.BigIntegerField(default=0)
    output_octets = models.BigIntegerField(default=0)
    session_seconds = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("RADIUS accounting session")
        verbose_name_plural = _("RADIUS accounting sessions")
        constraints = [
            models.UniqueConstraint(fields=["nas", "acct_session_id"], name="portal_acct_unique")
        ]
        indexes = [models.Index(fields=["updated_at"], name="portal_acct_updated_idx")]

    def __str__(self) -> str:
        return f"{self.nas} {self.acct_session_id}"
