"""The recovery room (被災者支援): rule tables loaded by the city. More comes with the ledger."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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


# --- 被災者台帳 (the victim ledger, 災害対策基本法 90条の3) -------------------------------


class Sex(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class Resident(models.Model):
    """One line of the resident register extract the city imports (no My Number)."""

    atena_number = models.CharField(_("Addressee number (宛名番号)"), max_length=15, unique=True)
    household_number = models.CharField(
        _("Household number (世帯番号)"), max_length=15, db_index=True
    )
    name = models.CharField(_("name"), max_length=64)
    name_kana = models.CharField(_("name (kana)"), max_length=128, blank=True)
    kana_key = models.CharField(max_length=128, blank=True, db_index=True)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=8, choices=Sex.choices, blank=True)
    relationship = models.CharField(_("Relationship to the head (続柄)"), max_length=16, blank=True)
    address = models.CharField(_("address"), max_length=256)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("resident (register extract)")
        verbose_name_plural = _("residents (register extract)")

    def __str__(self) -> str:
        return f"{self.atena_number} {self.name}"


class LedgerHousehold(models.Model):
    """A household in a disaster's 被災者台帳."""

    disaster = models.ForeignKey(
        "emergency.Disaster", on_delete=models.PROTECT, related_name="ledger_households"
    )
    household_number = models.CharField(_("Household number (世帯番号)"), max_length=15, blank=True)
    head_name = models.CharField(_("head of household"), max_length=64)
    address = models.CharField(_("Address or residence (住所又は居所)"), max_length=256)
    house = models.ForeignKey(
        House, on_delete=models.PROTECT, null=True, blank=True, related_name="households"
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["disaster", "household_number"],
                condition=~models.Q(household_number=""),
                name="ledger_household_once",
            )
        ]
        verbose_name = _("ledger household")
        verbose_name_plural = _("ledger households")

    def __str__(self) -> str:
        return f"{self.head_name} ({self.address})"


class Harm(models.TextChoices):
    NONE = "", _("None")
    INJURED = "injured", _("Injured (負傷)")
    DEAD = "dead", _("Dead (死亡)")
    MISSING = "missing", _("Missing (行方不明)")


class LedgerPerson(models.Model):
    household = models.ForeignKey(LedgerHousehold, on_delete=models.CASCADE, related_name="members")
    name = models.CharField(_("name"), max_length=64)
    name_kana = models.CharField(_("name (kana)"), max_length=128, blank=True)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=8, choices=Sex.choices, blank=True)
    relationship = models.CharField(_("Relationship to the head (続柄)"), max_length=16, blank=True)
    resident = models.ForeignKey(
        Resident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The same person in the shelters room (an evacuee): a link only, no health details.
    evacuee_id = models.UUIDField(null=True, blank=True)
    harm = models.CharField(_("harm"), max_length=8, choices=Harm.choices, blank=True)

    class Meta:
        verbose_name = _("ledger person")
        verbose_name_plural = _("ledger people")

    def __str__(self) -> str:
        return self.name


class SupportKind(models.TextChoices):
    CERTIFICATE = "certificate", _("Disaster certificate (罹災証明書)")
    GRANT = "grant", _("Livelihood recovery grant (被災者生活再建支援金)")
    CONDOLENCE = "condolence", _("Condolence money (災害弔慰金・見舞金)")
    REPAIR = "repair", _("Emergency house repair (住宅の応急修理)")
    HOUSING = "housing", _("Temporary housing (応急仮設住宅)")
    DONATION = "donation", _("Donations (義援金)")
    OTHER = "other", _("Other")


class Support(models.Model):
    """援護の実施の状況: what a household received, when."""

    household = models.ForeignKey(LedgerHousehold, on_delete=models.CASCADE, related_name="support")
    kind = models.CharField(_("kind"), max_length=12, choices=SupportKind.choices)
    provided_on = models.DateField(_("provided on"))
    amount = models.PositiveIntegerField(_("amount (yen)"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("support given")
        verbose_name_plural = _("support given")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.provided_on}"


class Sharing(models.Model):
    """Who the ledger's data was given to, when, and on what legal basis (法90条の4)."""

    disaster = models.ForeignKey("emergency.Disaster", on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey(
        LedgerHousehold, on_delete=models.PROTECT, null=True, blank=True, related_name="sharing"
    )
    recipient = models.CharField(_("recipient"), max_length=200)
    purpose = models.CharField(_("purpose"), max_length=300)
    legal_basis = models.CharField(_("legal basis"), max_length=200)
    items = models.JSONField(_("items shared"), default=list)
    shared_at = models.DateTimeField(_("shared at"), default=timezone.now)
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        verbose_name = _("data sharing")
        verbose_name_plural = _("data sharing")

    def __str__(self) -> str:
        return f"{self.recipient} {self.shared_at:%Y-%m-%d}"


# --- 罹災証明書 -----------------------------------------------------------------------------------


class ApplicationStatus(models.TextChoices):
    APPLIED = "applied", pgettext_lazy("certificate", "Applied")
    REVIEWED = "reviewed", pgettext_lazy("certificate", "Reviewed")
    ISSUED = "issued", pgettext_lazy("certificate", "Issued")
    REJECTED = "rejected", pgettext_lazy("certificate", "Rejected")


class ApplicationChannel(models.TextChoices):
    COUNTER = "counter", _("At the counter")
    ONLINE = "online", _("Online")


class CertificateApplication(models.Model):
    """An application for the 罹災証明書: one per household and disaster."""

    disaster = models.ForeignKey(
        "emergency.Disaster", on_delete=models.PROTECT, related_name="certificate_applications"
    )
    household = models.ForeignKey(
        LedgerHousehold, on_delete=models.PROTECT, related_name="certificate_applications"
    )
    channel = models.CharField(
        _("channel"), max_length=8, choices=ApplicationChannel.choices, default="counter"
    )
    applicant_name = models.CharField(_("applicant"), max_length=64)
    applied_at = models.DateTimeField(default=timezone.now)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ApplicationStatus.choices, default="applied"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["disaster", "household"], name="one_certificate_application"
            )
        ]
        indexes = [models.Index(fields=["disaster", "status"])]
        verbose_name = _("certificate application")
        verbose_name_plural = _("certificate applications")

    def __str__(self) -> str:
        return f"{self.household} {self.get_status_display()}"


class CertificateCounter(models.Model):
    """The last certificate number given for a disaster: numbers run without gaps."""

    disaster = models.OneToOneField(
        "emergency.Disaster", on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.disaster_id}: {self.last}"


class Certificate(models.Model):
    """A 罹災証明書 as issued: what it says is kept, whatever changes later."""

    application = models.OneToOneField(
        CertificateApplication, on_delete=models.PROTECT, related_name="certificate"
    )
    number = models.CharField(_("certificate number"), max_length=32, unique=True)
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    head_name = models.CharField(_("head of household"), max_length=64)
    address = models.CharField(_("address"), max_length=256)
    house_address = models.CharField(_("address of the house"), max_length=256)
    disaster_name = models.CharField(_("disaster"), max_length=128)
    damage_class = models.CharField(_("damage class"), max_length=32)
    flood = models.CharField(_("flood"), max_length=4, blank=True)
    rule_set = models.CharField(_("rule table"), max_length=32)
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("disaster certificate")
        verbose_name_plural = _("disaster certificates")

    def __str__(self) -> str:
        return self.number


class CertificateIssue(models.Model):
    """Each time a certificate was handed out: the first issue, and every re-issue."""

    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="issues")
    version = models.PositiveSmallIntegerField()
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=200)
    file = models.CharField(max_length=300)  # path under MEDIA_ROOT

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["certificate", "version"], name="issue_once")
        ]

    def __str__(self) -> str:
        return f"{self.certificate_id} v{self.version}"


class BatchStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    DONE = "done", _("Done")


class IssueBatch(models.Model):
    """Bulk issuance for a disaster: pausable, resumable, never issuing one twice."""

    disaster = models.ForeignKey("emergency.Disaster", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=BatchStatus.choices, default="running")
    issued = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    job_id = models.UUIDField(null=True, blank=True)  # the core job running it now

    def __str__(self) -> str:
        return f"{self.disaster_id} {self.status}"


# --- 被災者生活再建支援金 ---------------------------------------------------------------------


class GrantPart(models.TextChoices):
    BASE = "base", _("Base grant (基礎支援金)")
    ADDITION = "addition", _("Additional grant (加算支援金)")


class GrantStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    APPROVED = "approved", _("Approved")
    PAID = "paid", _("Paid")
    REJECTED = "rejected", _("Rejected")


class GrantApplication(models.Model):
    """One part of the livelihood recovery grant for a household: the base, or an addition
    (renting first and building later makes two additions, the second one reduced)."""

    disaster = models.ForeignKey("emergency.Disaster", on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey(
        LedgerHousehold, on_delete=models.PROTECT, related_name="grant_applications"
    )
    part = models.CharField(_("part"), max_length=8, choices=GrantPart.choices)
    damage_class = models.CharField(_("damage class"), max_length=32)
    rebuild = models.CharField(_("rebuilding"), max_length=8, blank=True)
    household_size = models.PositiveSmallIntegerField(_("household size"))
    amount = models.PositiveIntegerField(_("amount (yen)"))
    rule_set = models.CharField(_("rule table"), max_length=32)
    rule = models.CharField(_("rule"), max_length=200)
    applied_on = models.DateField(_("applied on"))
    deadline = models.DateField(_("deadline"))
    status = models.CharField(
        _("status"), max_length=10, choices=GrantStatus.choices, default="applied"
    )
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["disaster", "household", "part", "rebuild"], name="grant_part_once"
            )
        ]
        verbose_name = _("grant application")
        verbose_name_plural = _("grant applications")

    def __str__(self) -> str:
        return f"{self.household} {self.get_part_display()} {self.amount}"


class SurveyPhoto(models.Model):
    """A photo the surveyor took (what the decision rests on). Served only to staff who may
    read surveys."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to="surveys/%Y/%m/")
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        verbose_name = _("survey photo")
        verbose_name_plural = _("survey photos")

    def __str__(self) -> str:
        return f"{self.survey_id} {self.pk}"
