"""Disasters and what their declaration set in motion (災害対策本部)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.core.hazards import Hazard
from machi.core.models import Area


class Disaster(models.Model):
    """A declared disaster: its hazards, areas and phase. Ended, never deleted."""

    name = models.CharField(_("name"), max_length=128)
    hazards = models.JSONField(_("hazards"), default=list, help_text=_("Values of Hazard."))
    areas = models.ManyToManyField(Area, blank=True, related_name="disasters")
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    is_exercise = models.BooleanField(_("exercise (訓練)"), default=False)

    class Meta:
        verbose_name = _("disaster")
        verbose_name_plural = _("disasters")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["ended_at"], name="disaster_ended_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.ended_at is None

    @property
    def hazard_labels(self) -> list[str]:
        return [str(Hazard(h).label) for h in self.hazards if h in Hazard.values]


class ResponderEvent(models.TextChoices):
    DECLARED = "declared", _("declared")
    ENDED = "ended", _("ended")


class ResponderStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SUCCEEDED = "succeeded", _("Done")
    FAILED = "failed", _("Failed")


class ResponderRun(models.Model):
    """One responder's answer to one declaration (or end): its outcome, for the chronology."""

    disaster = models.ForeignKey(Disaster, on_delete=models.CASCADE, related_name="responses")
    responder = models.CharField(_("responder"), max_length=200)
    event = models.CharField(max_length=16, choices=ResponderEvent.choices)
    status = models.CharField(
        max_length=16, choices=ResponderStatus.choices, default=ResponderStatus.QUEUED
    )
    summary = models.CharField(_("outcome"), max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("responder run")
        verbose_name_plural = _("responder runs")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["disaster", "responder", "event"], name="responder_run_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.responder} {self.event} {self.status}"
