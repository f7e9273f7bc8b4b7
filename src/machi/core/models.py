"""Core records: the municipality, its areas and facilities, staff, roles, tokens, audit log."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.core.roles import Action, Role


class Municipality(models.Model):
    """The one municipality this installation serves (全国地方公共団体コード with check digit)."""

    lgcode = models.CharField(_("local government code"), max_length=6, unique=True)
    name = models.CharField(_("name"), max_length=64)
    name_kana = models.CharField(_("name (kana)"), max_length=128, blank=True)
    prefecture = models.CharField(_("prefecture"), max_length=8)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    website = models.URLField(blank=True)

    class Meta:
        verbose_name = _("municipality")
        verbose_name_plural = _("municipalities")

    def __str__(self) -> str:
        return f"{self.prefecture}{self.name} ({self.lgcode})"


class Area(models.Model):
    """A 町丁目 (or 大字) of the municipality; 町字ID from the アドレス・ベース・レジストリ."""

    municipality = models.ForeignKey(Municipality, on_delete=models.CASCADE, related_name="areas")
    machiaza_id = models.CharField(_("町字ID"), max_length=7, blank=True)
    name = models.CharField(_("name"), max_length=64)
    name_kana = models.CharField(_("name (kana)"), max_length=128, blank=True)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["name_kana", "name"]
        constraints = [
            models.UniqueConstraint(fields=["municipality", "name"], name="area_unique_name"),
            models.UniqueConstraint(
                fields=["municipality", "machiaza_id"],
                condition=~models.Q(machiaza_id=""),
                name="area_unique_machiaza_id",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FacilityKind(models.TextChoices):
    SHELTER = "shelter", _("Designated shelter")
    EVACUATION_SITE = (
        "evacuation_site",
        _("Designated emergency evacuation site"),
    )
    WELFARE_SHELTER = "welfare_shelter", _("Welfare shelter")
    WIFI_SITE = "wifi_site", _("Public Wi-Fi site")
    OFFICE = "office", _("City office")


class Facility(models.Model):
    """A public facility. Rooms hang their own records (shelter, Wi-Fi site…) on it."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="facilities"
    )
    code = models.CharField(
        _("code"), max_length=32, help_text=_("Stable identifier, e.g. the GSI 共通ID.")
    )
    name = models.CharField(_("name"), max_length=128)
    name_kana = models.CharField(_("name (kana)"), max_length=256, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=256, blank=True)
    address = models.CharField(_("address"), max_length=256, blank=True)
    area = models.ForeignKey(
        Area, on_delete=models.SET_NULL, null=True, blank=True, related_name="facilities"
    )
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True)
    is_shelter = models.BooleanField(_("designated shelter"), default=False)
    is_evacuation_site = models.BooleanField(
        _("designated emergency evacuation site"), default=False
    )
    is_welfare_shelter = models.BooleanField(_("welfare shelter"), default=False)
    is_wifi_site = models.BooleanField(_("public Wi-Fi site"), default=False)
    is_office = models.BooleanField(_("city office"), default=False)
    source = models.CharField(_("source"), max_length=128, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("facility")
        verbose_name_plural = _("facilities")
        ordering = ["name_kana", "name"]
        constraints = [
            models.UniqueConstraint(fields=["municipality", "code"], name="facility_unique_code"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def kinds(self) -> list[FacilityKind]:
        return [kind for kind in FacilityKind if getattr(self, f"is_{kind.value}")]


class User(AbstractUser):
    """A member of staff. Residents never hold staff accounts."""

    display_name = models.CharField(_("display name"), max_length=64, blank=True)
    department = models.CharField(_("department"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("staff user")
        verbose_name_plural = _("staff users")

    def __str__(self) -> str:
        return self.display_name or self.username


class RoleAssignment(models.Model):
    """One role held by one user; scoped roles list the facilities they reach."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    facilities = models.ManyToManyField(Facility, blank=True, related_name="role_assignments")
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="role_assignment_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_role_display()}"


class TotpDevice(models.Model):
    """The staff member's authenticator (RFC 6238, 30-second steps, 6 digits)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret = models.CharField(max_length=64)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted time step: a code is accepted once, never replayed.
    last_step = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("authenticator")
        verbose_name_plural = _("authenticators")

    def __str__(self) -> str:
        return f"TOTP {self.user}"


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=64)
    prefix = models.CharField(max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


CHANNELS = {
    "web": _("web page"),
    "api": _("API"),
    "cli": _("command line"),
    "task": _("background job"),
}


def record_type_label(label: str) -> str:
    from django.apps import apps

    try:
        return str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("the audit log is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("the audit log is append-only")


class AuditEvent(models.Model):
    """One entry of the append-only audit log: who did what to which record, when, from where.

    The actor is copied (id and username), not linked, so that removing a user never rewrites
    the log; database triggers refuse UPDATE and DELETE on this table.
    """

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True, db_index=True)
    actor_username = models.CharField(_("actor"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices, db_index=True)
    object_type = models.CharField(_("record type"), max_length=64, blank=True)
    object_id = models.CharField(_("record id"), max_length=64, blank=True)
    object_repr = models.CharField(_("record"), max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    channel = models.CharField(_("channel"), max_length=8, blank=True)  # web, api, cli, task
    request_id = models.CharField(max_length=32, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("the audit log is append-only")

    @property
    def object_type_label(self) -> str:
        """The record type as people call it (施設, 職員…), or the raw label if unknown."""
        return record_type_label(self.object_type)

    @property
    def channel_label(self) -> str:
        return str(CHANNELS.get(self.channel, self.channel))


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Finished")
    FAILED = "failed", _("Failed")


class Job(models.Model):
    """A long action run by the worker, with its progress visible to the person who started it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=200, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    @property
    def finished(self) -> bool:
        return self.status in {JobStatus.SUCCEEDED, JobStatus.FAILED}

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.status == JobStatus.SUCCEEDED else None
        return min(100, self.done * 100 // self.total)
