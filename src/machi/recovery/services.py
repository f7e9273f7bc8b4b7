"""What the recovery room does (被災者支援): houses, damage surveys, re-survey requests.

A survey's decision is made by the rule tables (``recovery.rules``) and stored with its inputs
and the table and row that made it, so it can be explained to the household and re-checked.
Surveys carry ids made by the surveyor's device: they are taken in the field, often offline,
and a replay must not record a survey twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from machi.core import services as core_services
from machi.core.models import Area, User
from machi.core.roles import Action
from machi.emergency.models import Disaster
from machi.recovery import rules
from machi.recovery.models import (
    ROUND_ORDER,
    House,
    ResurveyRequest,
    ResurveyStatus,
    RuleSet,
    Structure,
    Survey,
    SurveyPhoto,
    SurveyRound,
)

# Days the city gives itself to re-survey once a household asks (MACHI_RECOVERY_RESURVEY_DAYS).
RESURVEY_DAYS = 30


class RecoveryError(ValueError):
    """A request the recovery room refuses; ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def house_register(
    *,
    house_id: uuid.UUID | None = None,
    address: str,
    structure: str,
    storeys: int = 1,
    area: Area | None = None,
    latitude: Any = None,
    longitude: Any = None,
) -> House:
    """A house, or the one already registered with this id (a replay)."""
    if house_id is not None:
        existing = House.objects.filter(pk=house_id).first()
        if existing is not None:
            return existing
    if not address.strip():
        raise RecoveryError("the house needs an address", field="address")
    if structure not in Structure.values:
        raise RecoveryError(f"structure is one of {', '.join(Structure.values)}", field="structure")
    if storeys < 1:
        raise RecoveryError("a house has at least one storey", field="storeys")
    with transaction.atomic():
        house = House.objects.create(
            id=house_id or uuid.uuid4(),
            address=address.strip()[:256],
            structure=structure,
            storeys=storeys,
            area=area,
            latitude=latitude,
            longitude=longitude,
        )
        core_services.audit_record(action=Action.CREATE, record=house)
    return house


@dataclass(frozen=True)
class Recorded:
    survey: Survey
    created: bool


def survey_record(
    *,
    survey_id: uuid.UUID,
    house: House,
    disaster: Disaster,
    round: str,
    method: str,
    inputs: dict[str, Any],
    surveyed_on: dt.date,
    surveyor: User,
    notes: str = "",
    rule_set: str | None = None,
) -> Recorded:
    """Decide the damage class from the survey's inputs and keep both. The house's structure
    and storeys are part of the inputs (the flood-depth table depends on them)."""
    existing = Survey.objects.filter(pk=survey_id).first()
    if existing is not None:
        if existing.house_id != house.pk or existing.disaster_id != disaster.pk:
            raise RecoveryError("this id belongs to another survey", field="id")
        return Recorded(existing, created=False)
    if round not in SurveyRound.values:
        raise RecoveryError(f"round is one of {', '.join(SurveyRound.values)}", field="round")
    if surveyed_on > timezone.localdate():
        raise RecoveryError("the survey date is in the future", field="surveyed_on")
    full = {**inputs, "method": method, "structure": house.structure, "storeys": house.storeys}
    try:
        decision = rules.classify(full, rule_set=rule_set)
    except rules.RuleError as exc:
        raise RecoveryError(str(exc), field=exc.field) from exc
    stored = {
        k: str(v) if not isinstance(v, bool | int | str | None) else v for k, v in full.items()
    }
    try:
        with transaction.atomic():
            survey = Survey.objects.create(
                id=survey_id,
                house=house,
                disaster=disaster,
                round=round,
                method=method,
                inputs=stored,
                surveyed_on=surveyed_on,
                surveyor=surveyor,
                notes=notes.strip(),
                damage_class=decision.damage_class,
                flood=decision.flood,
                rule_set=decision.rule_set,
                rule=decision.rule[:200],
            )
            if round == SurveyRound.RESURVEY:
                ResurveyRequest.objects.filter(
                    house=house, disaster=disaster, status=ResurveyStatus.REQUESTED
                ).update(status=ResurveyStatus.DONE, survey=survey)
            core_services.audit_record(
                action=Action.CREATE,
                record=survey,
                detail={"class": decision.damage_class, "rule_set": decision.rule_set},
            )
    except IntegrityError:  # the same id recorded meanwhile by another request
        return Recorded(Survey.objects.get(pk=survey_id), created=False)
    return Recorded(survey, created=True)


def damage_of(*, house: House, disaster: Disaster) -> Survey | None:
    """The survey that decides the house's class now: the latest of the highest round."""
    surveys = list(Survey.objects.filter(house=house, disaster=disaster))
    if not surveys:
        return None
    return max(surveys, key=lambda s: (ROUND_ORDER[SurveyRound(s.round)], s.recorded_at))


def resurvey_request(
    *, house: House, disaster: Disaster, reason: str, requested_by: User | None
) -> ResurveyRequest:
    """A household disputes its class: the re-survey is due within the city's days."""
    if not reason.strip():
        raise RecoveryError("say why a re-survey is asked for", field="reason")
    if damage_of(house=house, disaster=disaster) is None:
        raise RecoveryError("the house has not been surveyed for this disaster", field="house_id")
    if ResurveyRequest.objects.filter(
        house=house, disaster=disaster, status=ResurveyStatus.REQUESTED
    ).exists():
        raise RecoveryError("a re-survey is already requested for this house", field="house_id")
    days = int(getattr(settings, "MACHI_RECOVERY_RESURVEY_DAYS", RESURVEY_DAYS))
    with transaction.atomic():
        request = ResurveyRequest.objects.create(
            house=house,
            disaster=disaster,
            reason=reason.strip(),
            due_by=timezone.localdate() + dt.timedelta(days=days),
        )
        core_services.audit_record(action=Action.CREATE, record=request, actor=requested_by)
    return request


def rule_table_load(*, data: dict[str, Any], loaded_by: User | None) -> RuleSet:
    """A city's own rule table, with its source. A shipped revision cannot be replaced."""
    try:
        rules.validate(data)
    except rules.RuleError as exc:
        raise RecoveryError(str(exc), field=exc.field) from exc
    if f"{data['kind']}:{data['name']}" in rules.shipped():
        raise RecoveryError(
            f"{data['name']} ships with Machi; give the city's table its own name", field="name"
        )
    with transaction.atomic():
        table, _ = RuleSet.objects.update_or_create(
            kind=data["kind"],
            name=data["name"],
            defaults={
                "title": data["title"],
                "source": data["source"],
                "data": data,
                "loaded_by": loaded_by,
                "loaded_at": timezone.now(),
            },
        )
        core_services.audit_record(
            action=Action.UPDATE, record=table, detail={"source": data["source"][:150]}
        )
    return table


def survey_photo_add(
    *, survey: Survey, upload: Any, by: User | None, photo_id: uuid.UUID | None = None
) -> SurveyPhoto:
    """A photo of the survey, checked by its bytes (JPEG, PNG, WebP, HEIC; ≤ 10 MB) as the
    incident photos are; the file is named by us, never by the client."""
    from django.core.files import File

    from machi.emergency import services_field

    existing = SurveyPhoto.objects.filter(pk=photo_id).first() if photo_id else None
    if existing is not None:
        if existing.survey_id != survey.pk:
            raise RecoveryError("this id belongs to another survey's photo", field="id")
        return existing
    try:
        checked = services_field.photo_check(upload, field="file")
    except services_field.FieldError as exc:
        raise RecoveryError(str(exc), field="file") from exc
    photo = SurveyPhoto(
        id=photo_id or uuid.uuid4(),
        survey=survey,
        content_type=checked.content_type,
        size=checked.size,
        uploaded_by=by,
    )
    name = f"{photo.pk}{services_field.PHOTO_EXTENSIONS[checked.content_type]}"
    upload.seek(0)
    photo.image.save(name, File(upload, name=name), save=False)
    try:
        with transaction.atomic():
            photo.save(force_insert=True)
            core_services.audit_record(action=Action.CREATE, record=photo, actor=by)
    except Exception:
        photo.image.storage.delete(photo.image.name)  # no file without its row
        raise
    return photo
