"""The catalogue: datasets, their resources (files), and the validation report of each
generation. Datasets Machi generates from live records name their generator; others are
registered by staff with the address of a file published elsewhere."""

from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# CKAN's rule for a dataset's name: 2–100 characters, lowercase letters, digits, - and _.
NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9_-]{2,100}$", _("Use 2 to 100 lowercase letters, digits, - or _.")
)


class Frequency(models.TextChoices):
    """How often a dataset changes (DCAT's accrualPeriodicity, in the EU vocabulary)."""

    CONTINUOUS = "continuous", _("Continuously (live)")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")
    ANNUAL = "annual", _("Yearly")
    IRREGULAR = "irregular", _("When it changes")


class Dataset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(
        _("name (in addresses)"), max_length=100, unique=True, validators=[NAME_VALIDATOR]
    )
    title = models.CharField(_("title"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    notes = models.TextField(_("description"), blank=True)
    notes_en = models.TextField(_("description (English)"), blank=True)
    tags = models.JSONField(_("keywords"), default=list, blank=True)
    theme = models.CharField(_("category"), max_length=64, blank=True)
    # The key of a generator in machi.opendata.generators; empty for a dataset registered by hand.
    generator = models.CharField(max_length=32, blank=True, db_index=True)
    license_id = models.CharField(_("licence"), max_length=32, default="CC-BY-4.0")
    frequency = models.CharField(
        _("update frequency"), max_length=16, choices=Frequency.choices, default=Frequency.IRREGULAR
    )
    department = models.CharField(_("department in charge"), max_length=64, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    published = models.BooleanField(_("published"), default=True)
    issued = models.DateTimeField(_("first published"), default=timezone.now)
    metadata_modified = models.DateTimeField(_("metadata changed"), default=timezone.now)

    class Meta:
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: object, **kwargs: object) -> None:
        self.metadata_modified = timezone.now()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Resource(models.Model):
    """One file of a dataset. A generated resource keeps the bytes last published (UTF-8
    without BOM; the Excel variant adds the BOM when served)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="resources")
    position = models.PositiveSmallIntegerField(default=0)
    # For a generated resource: the layout's key ("current", "old", "gsi"…); unique per dataset.
    key = models.CharField(max_length=32)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    format = models.CharField(_("format"), max_length=16, default="CSV")
    filename = models.CharField(_("file name"), max_length=120, blank=True)
    url = models.URLField(_("address of the file"), max_length=500, blank=True)
    content = models.BinaryField(null=True, blank=True, editable=False)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    size = models.PositiveIntegerField(null=True, blank=True, editable=False)
    row_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # What the source records looked like when this content was made (see generators), and
    # when they were last checked (a generation the validators refused is not tried again
    # until the records change).
    fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    checked_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created = models.DateTimeField(default=timezone.now)
    last_modified = models.DateTimeField(_("last modified"), null=True, blank=True)

    class Meta:
        verbose_name = _("resource")
        verbose_name_plural = _("resources")
        ordering = ["dataset", "position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "key"], name="opendata_resource_key"),
        ]

    def __str__(self) -> str:
        return self.name


class Report(models.Model):
    """The validators' verdict on one generation of a resource; kept for staff to read."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="reports")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    published = models.BooleanField(default=False)
    rows = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    # At most a thousand issues, each {row, column, code, severity, params}; counts are complete.
    issues = models.JSONField(default=list, blank=True)
    # Complete counts by code and severity (the issues kept are capped).
    counts = models.JSONField(default=list, blank=True)
    seconds = models.FloatField(default=0)

    class Meta:
        verbose_name = _("validation report")
        verbose_name_plural = _("validation reports")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.resource_id} {self.at:%Y-%m-%d %H:%M}"
