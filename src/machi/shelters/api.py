"""API of the shelters room: shelters and their status, opening, check-in and check-out.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from machi.core import access, problems
from machi.core import services as core_services
from machi.core.api import Id, ProblemOut
from machi.core.roles import Action
from machi.emergency.models import Disaster
from machi.shelters import selectors, services
from machi.shelters.models import (
    Allergen,
    Checkin,
    CheckinSource,
    Need,
    Opening,
    Person,
    Sex,
    Shelter,
    StayType,
)

router = Router(tags=["shelters"])


class ShelterOut(Schema):
    id: int
    facility_id: int
    name: str
    address: str
    latitude: Decimal | None
    longitude: Decimal | None
    hazards: list[str]
    capacity: int | None
    capacity_day: int | None
    capacity_night: int | None
    welfare: bool
    status: str
    occupancy: int
    crowding: str | None


def _shelter_out(shelter: Shelter, opening: Opening | None) -> ShelterOut:
    facility = shelter.facility
    return ShelterOut(
        id=shelter.pk,
        facility_id=facility.pk,
        name=facility.name,
        address=facility.address,
        latitude=facility.latitude,
        longitude=facility.longitude,
        hazards=shelter.hazards,
        capacity=opening.capacity if opening and opening.capacity else shelter.capacity,
        capacity_day=shelter.capacity_day,
        capacity_night=shelter.capacity_night,
        welfare=facility.is_welfare_shelter,
        status=opening.status if opening else "not_open",
        occupancy=opening.occupancy if opening else 0,
        crowding=selectors.crowding(opening) if opening else None,
    )


class DisasterRef(Schema):
    disaster_id: Id | None = Field(None, description="The disaster; the current one when omitted.")


class PublicStatusOut(Schema):
    shelter_id: int
    name: str
    address: str
    latitude: Decimal | None
    longitude: Decimal | None
    status: str
    crowding: str
    crowding_label: str
    updated_at: dt.datetime


def _disaster(disaster_id: int | None) -> Disaster:
    disaster = selectors.disaster_for(disaster_id)
    if disaster is None:
        raise problems.invalid("disaster_id", "no such disaster, and none is active")
    return disaster


@router.get("/shelters", response=list[ShelterOut], summary="Shelters with status and occupancy")
def shelters(request: HttpRequest, disaster_id: Id | None = None) -> list[ShelterOut]:
    access.require(request.user, Action.READ, Shelter)
    disaster = selectors.disaster_for(disaster_id)
    return [_shelter_out(s, o) for s, o in selectors.shelters_with_openings(disaster)]


@router.get(
    "/shelters/status",
    response=list[PublicStatusOut],
    auth=None,
    summary="Open shelters and how crowded they are (public, no personal data)",
)
def public_status(request: HttpRequest) -> list[selectors.PublicStatus]:
    return selectors.public_status(selectors.disaster_for(None))


@router.get("/shelters/{shelter_id}", response=ShelterOut, summary="One shelter")
def shelter(request: HttpRequest, shelter_id: Id, disaster_id: Id | None = None) -> ShelterOut:
    found = get_object_or_404(Shelter.objects.select_related("facility"), pk=shelter_id)
    access.require(request.user, Action.READ, found)
    disaster = selectors.disaster_for(disaster_id)
    opening = Opening.objects.filter(shelter=found, disaster=disaster).first() if disaster else None
    return _shelter_out(found, opening)


@router.post("/shelters/{shelter_id}/open", response=ShelterOut, summary="Open a shelter")
def shelter_open(request: HttpRequest, shelter_id: Id, payload: DisasterRef) -> ShelterOut:
    found = get_object_or_404(Shelter.objects.select_related("facility"), pk=shelter_id)
    access.require(request.user, Action.CREATE, Opening)
    disaster = _disaster(payload.disaster_id)
    try:
        opening = services.opening_open(shelter=found, disaster=disaster)
    except services.ShelterError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return _shelter_out(found, opening)


@router.post("/shelters/{shelter_id}/close", response=ShelterOut, summary="Close a shelter")
def shelter_close(request: HttpRequest, shelter_id: Id, payload: DisasterRef) -> ShelterOut:
    found = get_object_or_404(Shelter.objects.select_related("facility"), pk=shelter_id)
    disaster = _disaster(payload.disaster_id)
    opening = get_object_or_404(Opening, shelter=found, disaster=disaster)
    access.require(request.user, Action.UPDATE, opening)
    return _shelter_out(found, services.opening_close(opening=opening))


class PersonIn(Schema):
    family_name: Annotated[str, Field(min_length=1, max_length=64)]
    given_name: Annotated[str, Field(max_length=64)] = ""
    family_name_kana: Annotated[str, Field(max_length=64)] = ""
    given_name_kana: Annotated[str, Field(max_length=64)] = ""
    birth_date: dt.date | None = None
    sex: Sex | None = None
    phone: Annotated[str, Field(max_length=32)] = ""
    needs: list[Need] = []
    allergies: list[Allergen] = []
    language: Annotated[str, Field(max_length=16)] = ""


class CheckinIn(Schema):
    id: uuid.UUID = Field(description="Made by the client; a replay returns the first record.")
    shelter_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    disaster_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    stay_type: StayType = StayType.SHELTER
    source: CheckinSource = CheckinSource.STAFF
    device: Annotated[str, Field(max_length=64)] = ""
    person_id: uuid.UUID | None = None
    household_code: Annotated[str, Field(max_length=32)] | None = None
    person: PersonIn | None = None


class CheckinOut(Schema):
    id: uuid.UUID
    person_id: uuid.UUID
    shelter_id: int | None
    disaster_id: int
    stay_type: str
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None
    conflict: bool


class CheckinsOut(Schema):
    checkins: list[CheckinOut]


def _checkin_out(checkin: Checkin) -> CheckinOut:
    return CheckinOut(
        id=checkin.pk,
        person_id=checkin.person_id,
        shelter_id=checkin.opening.shelter_id if checkin.opening is not None else None,
        disaster_id=checkin.disaster_id,
        stay_type=checkin.stay_type,
        checked_in_at=checkin.checked_in_at,
        checked_out_at=checkin.checked_out_at,
        conflict=checkin.conflict,
    )


@router.post(
    "/checkins",
    response={200: CheckinsOut, 201: CheckinsOut, 404: ProblemOut},
    summary="Check a person or a household in (idempotent by the client's id)",
)
def checkin(request: HttpRequest, payload: CheckinIn) -> Status[CheckinsOut]:
    given = [x is not None for x in (payload.person_id, payload.household_code, payload.person)]
    if sum(given) != 1:
        raise problems.invalid("person_id", "give exactly one of person_id, household_code, person")
    disaster = _disaster(payload.disaster_id)
    opening = None
    if payload.shelter_id is not None:
        opening = selectors.opening_at(shelter_id=payload.shelter_id, disaster=disaster)
        if opening is None:
            raise problems.invalid("shelter_id", "this shelter is not open for the disaster")
        access.require(request.user, Action.CREATE, Checkin)
        if not access.may(request.user, Action.UPDATE, opening):
            raise HttpError(403, "You do not work at this shelter.")
    else:
        access.require(request.user, Action.CREATE, Checkin)
        if not selectors.may_record_outside_shelters(request.user):
            raise HttpError(403, "Stays outside shelters are recorded by HQ.")
    try:
        if payload.household_code is not None:
            household = selectors.household_by_code(payload.household_code)
            if household is None:
                raise problems.invalid("household_code", "no household has this code")
            results = services.checkin_household(
                checkin_id=payload.id,
                household=household,
                disaster=disaster,
                opening=opening,
                stay_type=payload.stay_type,
                source=payload.source,
                device=payload.device,
            )
        else:
            if payload.person is not None:
                with transaction.atomic():  # a new person and their check-in, or neither
                    person = _register(payload.person, disaster, payload.id)
                    results = [_check_in(payload, person, disaster, opening)]
            elif access.reaches_all(request.user, Action.READ, Person):
                # HQ (and the reception desks' city-wide tokens) may check anyone in: the
                # service reads the person with the check-ins it needs, in one query. No
                # surrounding transaction: SQLite's write lock is taken only for the writes.
                try:
                    results = [_check_in(payload, None, disaster, opening)]
                except services.PersonNotFound as exc:
                    raise HttpError(404, "Not Found") from exc
            else:
                person = get_object_or_404(Person, pk=payload.person_id)
                if not selectors.may_check_in(request.user, person):
                    raise HttpError(403, "This person stays at another shelter.")
                results = [_check_in(payload, person, disaster, opening)]
    except services.ShelterError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    status = 201 if any(r.created for r in results) else 200
    return Status(status, CheckinsOut(checkins=[_checkin_out(r.checkin) for r in results]))


def _check_in(
    payload: CheckinIn, person: Person | None, disaster: Disaster, opening: Opening | None
) -> services.CheckinResult:
    return services.checkin_create(
        checkin_id=payload.id,
        person=person,
        person_id=payload.person_id,
        disaster=disaster,
        opening=opening,
        stay_type=payload.stay_type,
        source=payload.source,
        device=payload.device,
    )


def _register(data: PersonIn, disaster: Disaster, checkin_id: uuid.UUID) -> Person:
    """A new person typed in by staff. A replayed request finds the person it made."""
    earlier = Checkin.objects.filter(pk=checkin_id).select_related("person").first()
    if earlier is not None:
        return earlier.person
    household = services.household_register(
        members=[services.PersonInput(**{**data.dict(), "sex": data.sex or ""})],
        disaster=disaster,
    )
    return household.members.get()


@router.post("/checkins/{checkin_id}/checkout", response=CheckinOut, summary="Check a person out")
def checkout(request: HttpRequest, checkin_id: uuid.UUID) -> CheckinOut:
    found = get_object_or_404(Checkin.objects.select_related("opening"), pk=checkin_id)
    access.require(request.user, Action.UPDATE, found)
    return _checkin_out(services.checkout(checkin=found))


class TransferIn(Schema):
    id: uuid.UUID = Field(description="Client id of the new stay; a replay returns it.")
    shelter_id: Annotated[int, Field(ge=1, le=2**63 - 1)]


@router.post(
    "/checkins/{checkin_id}/transfer",
    response={200: CheckinOut, 201: CheckinOut},
    summary="Move a person to another shelter (check out here, in there, one history)",
)
def transfer(
    request: HttpRequest, checkin_id: uuid.UUID, payload: TransferIn
) -> Status[CheckinOut]:
    earlier = Checkin.objects.select_related("opening").filter(pk=payload.id).first()
    if earlier is not None:  # a replay of a transfer already made
        access.require(request.user, Action.READ, earlier)
        return Status(200, _checkin_out(earlier))
    found = get_object_or_404(Checkin.objects.select_related("opening", "person"), pk=checkin_id)
    access.require(request.user, Action.UPDATE, found)
    target = (
        Opening.objects.select_related("shelter")
        .filter(shelter_id=payload.shelter_id, disaster_id=found.disaster_id)
        .first()
    )
    if target is None:
        raise problems.invalid("shelter_id", "this shelter is not open for the disaster")
    try:
        result = services.transfer(checkin=found, to_opening=target, new_id=payload.id)
    except services.ShelterError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return Status(201, _checkin_out(result.checkin))


class EvacueeOut(Schema):
    checkin_id: uuid.UUID
    person_id: uuid.UUID
    family_name: str
    given_name: str
    family_name_kana: str
    given_name_kana: str
    birth_date: dt.date | None
    sex: str
    needs: list[str]
    allergies: list[str]
    stay_type: str
    checked_in_at: dt.datetime
    conflict: bool


@router.get(
    "/shelters/{shelter_id}/evacuees",
    response={200: list[EvacueeOut], 403: ProblemOut, 404: ProblemOut},
    summary="People present at a shelter (personal data: HQ and that shelter's staff)",
)
def evacuees(
    request: HttpRequest, shelter_id: Id, disaster_id: Id | None = None
) -> list[EvacueeOut]:
    disaster = _disaster(disaster_id)
    opening = get_object_or_404(
        Opening.objects.select_related("shelter__facility"),
        shelter_id=shelter_id,
        disaster=disaster,
    )
    access.require(request.user, Action.READ, opening)
    access.require(request.user, Action.READ, Checkin)
    stays = list(selectors.roster(request.user, opening))
    core_services.audit_record_many(action=Action.READ, records=[c.person for c in stays])
    return [
        EvacueeOut(
            checkin_id=c.pk,
            person_id=c.person_id,
            family_name=c.person.family_name,
            given_name=c.person.given_name,
            family_name_kana=c.person.family_name_kana,
            given_name_kana=c.person.given_name_kana,
            birth_date=c.person.birth_date,
            sex=c.person.sex,
            needs=c.person.needs,
            allergies=c.person.allergies,
            stay_type=c.stay_type,
            checked_in_at=c.checked_in_at,
            conflict=c.conflict,
        )
        for c in stays
    ]
