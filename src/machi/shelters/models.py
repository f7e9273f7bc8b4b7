"""Shelters, their openings, evacuees, households, check-ins and supply requests (避難所運営)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.core.models import Facility
from machi.emergency.models import Disaster


class Accessibility(models.TextChoices):
    STEP_FREE = "step_free", _("Step-free entrance")
    ACCESSIBLE_TOILET = "accessible_toilet", _("Accessible toilet")
    ELEVATOR = "elevator", _("Elevator")
    NURSING_ROOM = "nursing_room", _("Nursing room")
    WELFARE_SPACE = "welfare_space", _("Space for people needing care")


class Shelter(models.Model):
    """What the shelters room knows of a facility: capacity, hazards it suits, contact."""

    facility = models.OneToOneField(Facility, on_delete=models.CASCADE, related_name="shelter")
    capacity_day = models.PositiveIntegerField(_("capacity (day)"), null=True, blank=True)
    capacity_night = models.PositiveIntegerField(_("capacity (night)"), null=True, blank=True)
    capacity_text = models.CharField(
        _("capacity as published"), max_length=200, blank=True, help_text="屋内191人／屋外0人"
    )
    hazards = models.JSONField(_("suitable for"), default=list, blank=True)
    accessibility = models.JSONField(_("accessibility"), default=list, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    url = models.URLField(_("web page"), blank=True)
    target_areas = models.CharField(_("neighbourhoods served"), max_length=500, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Identifiers in the source files: the GSI 共通ID of each list, the dataset's ID.
    gsi_shelter_id = models.CharField(max_length=32, blank=True, db_index=True)
    gsi_site_id = models.CharField(max_length=32, blank=True, db_index=True)
    dataset_id = models.CharField(max_length=64, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("shelter")
        verbose_name_plural = _("shelters")

    def __str__(self) -> str:
        return self.facility.name

    @property
    def capacity(self) -> int | None:
        """Night capacity counts: people sleep there. Day capacity when night is unknown."""
        return self.capacity_night if self.capacity_night is not None else self.capacity_day


class OpeningStatus(models.TextChoices):
    PREPARING = "preparing", _("Preparing to open (開設準備)")
    OPEN = "open", _("Open (開設)")
    FULL = "full", _("Full (満員)")
    CLOSED = "closed", _("Closed (閉鎖)")


class Opening(models.Model):
    """A shelter opened for a disaster. One per shelter and disaster."""

    shelter = models.ForeignKey(Shelter, on_delete=models.PROTECT, related_name="openings")
    disaster = models.ForeignKey(Disaster, on_delete=models.PROTECT, related_name="openings")
    status = models.CharField(
        max_length=16, choices=OpeningStatus.choices, default=OpeningStatus.PREPARING
    )
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True)
    occupancy = models.PositiveIntegerField(_("people present"), default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("shelter opening")
        verbose_name_plural = _("shelter openings")
        constraints = [models.UniqueConstraint(fields=["shelter", "disaster"], name="opening_once")]
        indexes = [models.Index(fields=["disaster", "status"], name="opening_status_idx")]

    def __str__(self) -> str:
        return f"{self.shelter} ({self.get_status_display()})"


class HistoryEntry(models.Model):
    """One line of an append-only history (database triggers refuse changes, migration 0002)."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True
        ordering = ["at", "id"]


class OpeningEvent(HistoryEntry):
    """The history of an opening's status: who changed it, when."""

    opening = models.ForeignKey(Opening, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=16, choices=OpeningStatus.choices)

    class Meta(HistoryEntry.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.opening_id} {self.status} {self.at:%Y-%m-%d %H:%M}"


class StayType(models.TextChoices):
    SHELTER = "shelter", _("At a shelter")
    WELFARE = "welfare", _("At a welfare shelter (福祉避難所)")
    HOME = "home", _("At home (在宅)")
    CAR = "car", _("In a car (車中泊)")
    RELATIVES = "relatives", _("With relatives or friends (親戚宅)")
    INTERIM = "interim", _("Interim shelter (1.5次避難所)")
    SECONDARY = "secondary", _("Secondary shelter (2次避難所)")


# Stay types that are a place Machi knows (a Shelter); the others have no shelter.
STAYS_AT_A_SHELTER = frozenset({StayType.SHELTER, StayType.WELFARE, StayType.INTERIM})


class Need(models.TextChoices):
    """要配慮: what a person needs looked after. Health data: read only by roles that need it."""

    ILLNESS = "illness", _("Illness")
    INJURY = "injury", _("Injury")
    PREGNANCY = "pregnancy", _("Pregnancy")
    INFANT = "infant", _("Infant")
    DISABILITY = "disability", _("Disability")
    CARE = "care", _("Needs care (要介護)")
    DIALYSIS = "dialysis", _("Dialysis")
    OXYGEN = "oxygen", _("Home oxygen")
    MEDICATION = "medication", _("Regular medication")
    LANGUAGE = "language", _("Needs language support")


class Allergen(models.TextChoices):
    EGG = "egg", _("Egg (卵)")
    MILK = "milk", _("Milk (乳)")
    WHEAT = "wheat", _("Wheat (小麦)")
    PEANUT = "peanut", _("Peanut (落花生)")
    BUCKWHEAT = "buckwheat", _("Buckwheat (そば)")
    SHRIMP = "shrimp", _("Shrimp (えび)")
    CRAB = "crab", _("Crab (かに)")


# Items a person may allow to be disclosed to those asking after them (安否情報, 消防庁 form).
CONSENT_ITEMS = ("name", "address", "birth_date", "sex", "whereabouts", "injury")


class Household(models.Model):
    """A household as registered (by a resident's phone, or by staff)."""

    AUDIT_REPR = False  # the audit log names this record by id only

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    disaster = models.ForeignKey(
        Disaster, on_delete=models.PROTECT, related_name="households", null=True, blank=True
    )
    address = models.CharField(_("address"), max_length=256, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    # The resident's QR code carries this; it reveals nothing and can be revoked.
    code = models.CharField(max_length=32, unique=True)
    self_registered = models.BooleanField(default=False)
    pets = models.CharField(_("pets"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")

    def __str__(self) -> str:
        return f"{_('household')} {str(self.pk)[:8]}"


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other / not stated")


class Person(models.Model):
    """An evacuee (the four basic items + kana, contacts, needs, consent)."""

    AUDIT_REPR = False  # the audit log names this record by id only

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    family_name = models.CharField(_("family name"), max_length=64)
    given_name = models.CharField(_("given name"), max_length=64, blank=True)
    family_name_kana = models.CharField(_("family name (kana)"), max_length=64, blank=True)
    given_name_kana = models.CharField(_("given name (kana)"), max_length=64, blank=True)
    # Normalised reading for search (hiragana, no spaces): つじたろう
    kana_key = models.CharField(max_length=128, blank=True, db_index=True)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=8, choices=Sex.choices, blank=True)
    address = models.CharField(_("address"), max_length=256, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    needs = models.JSONField(_("needs (要配慮)"), default=list, blank=True)
    allergies = models.JSONField(_("allergies"), default=list, blank=True)
    needs_note = models.CharField(_("needs, in words"), max_length=300, blank=True)
    language = models.CharField(_("language"), max_length=16, blank=True)
    consent = models.JSONField(_("安否 disclosure consent"), default=dict, blank=True)
    self_reported_damage = models.CharField(
        _("damage to home (own report)"), max_length=64, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("evacuee")
        verbose_name_plural = _("evacuees")
        indexes = [models.Index(fields=["kana_key", "birth_date"], name="person_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.family_name} {self.given_name}".strip()

    @property
    def need_labels(self) -> list[str]:
        return [str(Need(n).label) for n in self.needs if n in Need.values]


class CheckinSource(models.TextChoices):
    QR = "qr", _("QR code")
    STAFF = "staff", _("Staff entry")
    CARD = "card", _("Card")
    PAPER = "paper", _("Paper form")
    SCENARIO = "scenario", _("Scenario")


class Checkin(models.Model):
    """One stay of one person. Its id is made by the client, so a replay never duplicates it."""

    AUDIT_REPR = False  # the audit log names this record by id only

    id = models.UUIDField(primary_key=True, editable=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="checkins")
    disaster = models.ForeignKey(Disaster, on_delete=models.PROTECT, related_name="checkins")
    opening = models.ForeignKey(
        Opening, on_delete=models.PROTECT, related_name="checkins", null=True, blank=True
    )
    stay_type = models.CharField(max_length=16, choices=StayType.choices, default=StayType.SHELTER)
    checked_in_at = models.DateTimeField(default=timezone.now)
    checked_out_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(
        max_length=16, choices=CheckinSource.choices, default=CheckinSource.STAFF
    )
    device = models.CharField(max_length=64, blank=True)
    recorded_by = models.CharField(max_length=150, blank=True)
    # Set when the same person is present at another shelter too: HQ resolves it.
    conflict = models.BooleanField(default=False)
    # Whether the person had 要配慮 needs at check-in: copied so HQ's counts over tens of
    # thousands of stays need no join (services keep open stays in step with the person).
    needs_care = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        constraints = [
            # One open stay per person and shelter: two desks scanning the same QR code at
            # once record one stay, not two.
            models.UniqueConstraint(
                fields=["person", "opening"],
                condition=models.Q(checked_out_at__isnull=True, opening__isnull=False),
                name="checkin_one_open_stay_per_shelter",
            )
        ]
        indexes = [
            models.Index(fields=["opening", "checked_out_at"], name="checkin_present_idx"),
            models.Index(fields=["person", "checked_out_at"], name="checkin_person_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} @ {self.opening_id}"


class CheckinEventKind(models.TextChoices):
    IN = "in", _("Checked in")
    OUT = "out", _("Checked out")
    TRANSFER = "transfer", _("Transferred")


class CheckinEvent(HistoryEntry):
    """The history of stays: check-ins, check-outs, transfers."""

    checkin = models.ForeignKey(Checkin, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=CheckinEventKind.choices)

    class Meta(HistoryEntry.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.checkin_id} {self.kind}"


class SupplyCategory(models.TextChoices):
    FOOD = "food", _("Food (食料)")
    WATER = "water", _("Water (水)")
    BLANKETS = "blankets", _("Blankets (毛布)")
    MEDICINE = "medicine", _("Medicine (医薬品)")
    HYGIENE = "hygiene", _("Hygiene products (衛生用品)")
    INFANT = "infant", _("For infants (乳幼児用品)")
    OTHER = "other", _("Other")


class SupplyStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")


class SupplyRequest(models.Model):
    opening = models.ForeignKey(Opening, on_delete=models.PROTECT, related_name="supply_requests")
    category = models.CharField(max_length=16, choices=SupplyCategory.choices)
    item = models.CharField(_("item"), max_length=100)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit = models.CharField(_("unit"), max_length=16, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    status = models.CharField(
        max_length=16, choices=SupplyStatus.choices, default=SupplyStatus.REQUESTED
    )
    requested_by = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("supply request")
        verbose_name_plural = _("supply requests")
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.item} × {self.quantity}"
