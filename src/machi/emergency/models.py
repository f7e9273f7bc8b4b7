"""Disasters and what their declaration set in motion (災害対策本部)."""

from __future__ import annotations

import uuid
from typing import Any

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


class Department(models.Model):
    """A department of the city (課): incidents and tasks are assigned to one."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=64, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="departments"
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class EvacuationLevel(models.IntegerChoices):
    """避難情報 issued by the city since May 2021.

    Source: 災害対策基本法 60条 and 内閣府「避難情報に関するガイドライン」(令和3年5月).
    """

    ELDERLY = 3, _("Level 3: Evacuation of the elderly (高齢者等避難)")
    ORDER = 4, _("Level 4: Evacuation order (避難指示)")
    EMERGENCY = 5, _("Level 5: Emergency safety (緊急安全確保)")


class EvacuationOrder(models.Model):
    """One issuance of 避難情報 for some areas and one hazard, until it is lifted (解除).

    Raising or lowering the level for an area is a new order that supersedes the old one, so
    the record of what was in force when stays true.
    """

    disaster = models.ForeignKey(
        Disaster, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    level = models.PositiveSmallIntegerField(_("level"), choices=EvacuationLevel.choices)
    hazard = models.CharField(_("hazard"), max_length=16, choices=Hazard.choices)
    areas = models.ManyToManyField(Area, blank=True, related_name="evacuation_orders")
    whole_city = models.BooleanField(_("the whole city"), default=False)
    note = models.CharField(_("note"), max_length=500, blank=True)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cap_identifier = models.CharField(max_length=128, unique=True)

    class Meta:
        verbose_name = _("evacuation information")
        verbose_name_plural = _("evacuation information")
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["lifted_at"], name="order_lifted_idx")]

    def __str__(self) -> str:
        return f"{self.get_level_display()} {self.hazard}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None

    @property
    def level_name(self) -> str:
        """The name without the level (the badge beside it says the level)."""
        return str(EVACUATION_NAMES.get(self.level, self.get_level_display()))


EVACUATION_NAMES: dict[int, Any] = {
    EvacuationLevel.ELDERLY: _("Evacuation of the elderly (高齢者等避難)"),
    EvacuationLevel.ORDER: _("Evacuation order (避難指示)"),
    EvacuationLevel.EMERGENCY: _("Emergency safety (緊急安全確保)"),
}


class CapMessage(models.Model):
    """A CAP 1.2 document the city published (an issuance, an update or a cancel)."""

    identifier = models.CharField(max_length=128, unique=True)
    order = models.ForeignKey(
        EvacuationOrder, on_delete=models.PROTECT, null=True, related_name="cap_messages"
    )
    msg_type = models.CharField(max_length=8)
    sent = models.DateTimeField()
    headline = models.CharField(max_length=300, blank=True)
    document = models.TextField()

    class Meta:
        verbose_name = _("CAP message")
        verbose_name_plural = _("CAP messages")
        ordering = ["-sent", "-id"]

    def __str__(self) -> str:
        return self.identifier


class IncidentCategory(models.TextChoices):
    FLOODING = "flooding", _("Flooding (浸水)")
    LANDSLIDE = "landslide", _("Landslide (土砂災害)")
    ROAD = "road", _("Road (道路)")
    BUILDING = "building", _("Building (建物)")
    FIRE = "fire", _("Fire (火災)")
    LIFELINE = "lifeline", _("Lifeline (ライフライン)")
    CASUALTY = "casualty", _("Casualties (人的被害)")
    RIVER = "river", _("River and embankment (河川・堤防)")
    OTHER = "other", _("Other (その他)")


class IncidentSeverity(models.IntegerChoices):
    LOW = 1, _("Low")
    MEDIUM = 2, _("Medium")
    HIGH = 3, _("High")
    CRITICAL = 4, _("Critical (life at risk)")


class IncidentStatus(models.TextChoices):
    """報告 → 確認 → 対応中 → 完了."""

    REPORTED = "reported", _("Reported (報告)")
    CONFIRMED = "confirmed", _("Confirmed (確認)")
    IN_PROGRESS = "in_progress", _("Being handled (対応中)")
    DONE = "done", _("Done (完了)")


class Incident(models.Model):
    """What staff in the field saw: a place, a category, photos, and its handling.

    The id comes from the reporting phone, so a report sent twice over a bad connection (or
    queued offline and replayed) is recorded once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    disaster = models.ForeignKey(
        Disaster, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    category = models.CharField(_("category"), max_length=16, choices=IncidentCategory.choices)
    severity = models.PositiveSmallIntegerField(
        _("severity"), choices=IncidentSeverity.choices, default=IncidentSeverity.MEDIUM
    )
    status = models.CharField(
        _("status"), max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.REPORTED
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    area = models.ForeignKey(Area, on_delete=models.SET_NULL, null=True, blank=True)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    reported_at = models.DateTimeField(_("reported at"), default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-reported_at", "-id"]
        indexes = [models.Index(fields=["status", "severity"], name="incident_status_idx")]

    def __str__(self) -> str:
        return self.title


class IncidentPhoto(models.Model):
    """A photo of an incident, kept in the data folder and served only to staff."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to="incidents/%Y/%m/")
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.image.name


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Not started")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Task(models.Model):
    """Work one department asks of another (依頼), with a due time, maybe about an incident."""

    disaster = models.ForeignKey(
        Disaster, on_delete=models.PROTECT, null=True, blank=True, related_name="tasks"
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    from_department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="tasks_given"
    )
    to_department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="tasks", verbose_name=_("department")
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["status", "due_at", "id"]

    def __str__(self) -> str:
        return self.title


class ChronologyKind(models.TextChoices):
    DISASTER = "disaster", _("Disaster")
    SHELTER = "shelter", _("Shelters")
    EVACUATION = "evacuation", _("Evacuation information")
    RESPONDER = "responder", _("Responders")
    INCIDENT = "incident", _("Incidents")
    TASK = "task", _("Tasks")
    WEATHER = "weather", _("JMA warnings")
    ALERT = "alert", _("Alerts from other authorities")
    NOTE = "note", _("Entries by staff")


class ChronologyEntry(models.Model):
    """One line of the disaster's timeline (クロノロジー). Append-only (migration triggers)."""

    disaster = models.ForeignKey(
        Disaster, on_delete=models.PROTECT, null=True, blank=True, related_name="chronology"
    )
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=ChronologyKind.choices)
    text = models.CharField(_("entry"), max_length=1000)
    actor = models.CharField(max_length=150, blank=True)
    department = models.CharField(max_length=64, blank=True)
    important = models.BooleanField(default=False)
    # What the line is about, for a link from the timeline ("emergency.incident", 12).
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("chronology entry")
        verbose_name_plural = _("chronology")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["disaster", "at"], name="chronology_at_idx")]

    def __str__(self) -> str:
        return self.text[:60]


class JmaFeed(models.Model):
    """A JMA Atom feed the poller reads, with what a conditional request needs."""

    url = models.URLField(max_length=500, unique=True)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.CharField(max_length=64, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return self.url


class JmaEntryStatus(models.TextChoices):
    STORED = "stored", _("Stored")
    NOT_HERE = "not_here", _("Not about this city")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Download failed")


class JmaEntry(models.Model):
    """A JMA message seen in a feed or a file: fetched once, never again."""

    entry_id = models.CharField(max_length=500, unique=True)
    title = models.CharField(max_length=200, blank=True)
    type_code = models.CharField(max_length=16, blank=True)
    info_type = models.CharField(max_length=16, blank=True)
    headline = models.TextField(blank=True)
    office = models.CharField(max_length=100, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=JmaEntryStatus.choices)
    error = models.CharField(max_length=500, blank=True)
    is_training = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("JMA message")
        verbose_name_plural = _("JMA messages")

    def __str__(self) -> str:
        return self.title or self.entry_id


class JmaWarning(models.Model):
    """The latest state of one kind of warning for one area of the city (from JMA)."""

    area_code = models.CharField(max_length=16)
    area_name = models.CharField(max_length=100)
    warning_type = models.CharField(max_length=100)
    kind_code = models.CharField(max_length=16)
    kind_name = models.CharField(max_length=100)
    status = models.CharField(max_length=32)
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    hazard = models.CharField(max_length=16, blank=True)
    active = models.BooleanField(default=True)
    reported_at = models.DateTimeField()
    entry = models.ForeignKey(JmaEntry, on_delete=models.PROTECT, related_name="warnings")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-level", "area_code", "kind_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["area_code", "warning_type", "kind_code"], name="jma_warning_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.area_name} {self.kind_name} {self.status}"


class DeclarationRuleAction(models.TextChoices):
    SUGGEST = "suggest", _("Suggest a declaration to HQ")
    DECLARE = "declare", _("Declare a disaster")


class DeclarationRule(models.Model):
    """What the city decided a JMA warning should set off (a suggestion, or a declaration)."""

    name = models.CharField(_("name"), max_length=100)
    kind_codes = models.JSONField(
        _("warning codes"), default=list, blank=True, help_text=_("Empty: any kind.")
    )
    min_level = models.PositiveSmallIntegerField(_("minimum level"), null=True, blank=True)
    hazard = models.CharField(_("hazard"), max_length=16, choices=Hazard.choices)
    action = models.CharField(
        _("action"),
        max_length=16,
        choices=DeclarationRuleAction.choices,
        default=DeclarationRuleAction.SUGGEST,
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("declaration rule")
        verbose_name_plural = _("declaration rules")

    def __str__(self) -> str:
        return self.name


class Suggestion(models.Model):
    """A rule matched a warning while no disaster was declared: HQ decides."""

    rule = models.ForeignKey(DeclarationRule, on_delete=models.CASCADE, related_name="+")
    warning = models.ForeignKey(JmaWarning, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.CharField(max_length=150, blank=True)
    outcome = models.CharField(max_length=16, blank=True)  # declared | dismissed

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text


class IncomingAlert(models.Model):
    """A CAP alert of another authority (by URL or upload), validated and kept as received."""

    identifier = models.CharField(max_length=300)
    sender = models.CharField(max_length=300)
    sent = models.DateTimeField()
    version = models.CharField(max_length=8)
    status = models.CharField(max_length=16)
    msg_type = models.CharField(max_length=16)
    event = models.CharField(max_length=300, blank=True)
    headline = models.CharField(max_length=500, blank=True)
    severity = models.CharField(max_length=16, blank=True)
    urgency = models.CharField(max_length=16, blank=True)
    certainty = models.CharField(max_length=16, blank=True)
    area_desc = models.CharField(max_length=1000, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    document = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)
    received_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-sent", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["sender", "identifier"], name="incoming_alert_unique")
        ]

    def __str__(self) -> str:
        return self.headline or self.identifier
