"""The recovery room (被災者支援): rule tables loaded by the city. More comes with the ledger."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.core.models import Area


class RuleSet(models.Model):
    """A rule table a city loaded, with its source (the shipped ones live in the package)."""

    kind = models.CharField(_("kind"), max_length=8)  # damage, grant
    name = models.CharField(_("revision"), max_length=32)
    title = models.CharField(_("title"), max_length=200)
    source = models.TextField(_("source"))
    data = models.JSONField()
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="ruleset_once")]
        verbose_name = _("rule table")
        verbose_name_plural = _("rule tables")

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class Structure(models.TextChoices):
    WOODEN = "wooden", _("Wooden (木造)")
    PREFAB = "prefab", _("Prefabricated (プレハブ)")
    NON_WOODEN = "non_wooden", _("Non-wooden (非木造)")


class House(models.Model):
    """A dwelling (住家) as the surveyors find it. Client-made ids: surveys are taken offline."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    address = models.CharField(_("address"), max_length=256)
    area = models.ForeignKey(
        Area, on_delete=models.PROTECT, null=True, blank=True, related_name="houses"
    )
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    structure = models.CharField(_("structure"), max_length=12, choices=Structure.choices)
    storeys = models.PositiveSmallIntegerField(_("storeys"), default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("house")
        verbose_name_plural = _("houses")

    def __str__(self) -> str:
        return self.address


class SurveyRound(models.TextChoices):
    FIRST = "first", _("First survey (第1次調査)")
    SECOND = "second", _("Second survey (第2次調査)")
    RESURVEY = "resurvey", _("Re-survey (再調査)")


# Which survey decides when there are several: a later round over an earlier one.
ROUND_ORDER = {SurveyRound.FIRST: 1, SurveyRound.SECOND: 2, SurveyRound.RESURVEY: 3}


class Survey(models.Model):
    """One survey of a house for a disaster, with the decision and what it was decided by."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="surveys")
    disaster = models.ForeignKey(
        "emergency.Disaster", on_delete=models.PROTECT, related_name="surveys"
    )
    round = models.CharField(_("round"), max_length=10, choices=SurveyRound.choices)
    method = models.CharField(_("method"), max_length=20)
    inputs = models.JSONField(_("inputs"))
    surveyed_on = models.DateField(_("surveyed on"))
    surveyor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(_("notes"), blank=True)
    # The decision, and the table and row that made it (ADR 0014).
    damage_class = models.CharField(_("damage class"), max_length=32)
    flood = models.CharField(_("flood"), max_length=4, blank=True)  # 床上 / 床下
    rule_set = models.CharField(_("rule table"), max_length=32)
    rule = models.CharField(_("deciding rule"), max_length=200)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["disaster", "house"])]
        verbose_name = _("damage survey")
        verbose_name_plural = _("damage surveys")

    def __str__(self) -> str:
        return f"{self.house} {self.get_round_display()} {self.damage_class}"


class ResurveyStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    DONE = "done", _("Re-surveyed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ResurveyRequest(models.Model):
    """A household asks for a second look (再調査); the city sets by when it is done."""

    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="resurvey_requests")
    disaster = models.ForeignKey("emergency.Disaster", on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    requested_at = models.DateTimeField(default=timezone.now)
    due_by = models.DateField(_("to be done by"))
    status = models.CharField(
        max_length=10, choices=ResurveyStatus.choices, default=ResurveyStatus.REQUESTED
    )
    survey = models.ForeignKey(
        Survey, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("re-survey request")
        verbose_name_plural = _("re-survey requests")

    def __str__(self) -> str:
        return f"{self.house} {self.get_status_display()}"
