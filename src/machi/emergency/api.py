"""API of the emergency room: declare and end disasters, see the phase.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from machi.core import access, problems
from machi.core.hazards import Hazard
from machi.core.models import Area
from machi.core.roles import Action
from machi.emergency import selectors, services
from machi.emergency.models import Disaster, ResponderRun

router = Router(tags=["emergency"])


class ResponderRunOut(Schema):
    responder: str
    event: str
    status: str
    summary: str
    attempts: int
    finished_at: dt.datetime | None


class DisasterOut(Schema):
    id: int
    name: str
    hazards: list[Hazard]
    area_ids: list[int]
    started_at: dt.datetime
    ended_at: dt.datetime | None
    is_exercise: bool
    active: bool
    responses: list[ResponderRunOut]

    @staticmethod
    def resolve_area_ids(obj: Disaster) -> list[int]:
        return [area.pk for area in obj.areas.all()]

    @staticmethod
    def resolve_active(obj: Disaster) -> bool:
        return obj.is_active

    @staticmethod
    def resolve_responses(obj: Disaster, context: dict[str, Any]) -> list[object]:
        # What the responders did (and their errors) is for HQ and administrators.
        request = context.get("request")
        user = getattr(request, "user", None)
        if user is None or not access.may(user, Action.READ, ResponderRun):
            return []
        return list(selectors.responder_runs(obj))


class DisasterIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    hazards: Annotated[list[Hazard], Field(min_length=1)]
    area_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = []
    started_at: dt.datetime | None = None
    is_exercise: bool = False


class PhaseOut(Schema):
    phase: str
    disaster: DisasterOut | None


@router.get("/disasters", response=list[DisasterOut], summary="Disasters, newest first")
def disasters(request: HttpRequest) -> list[Disaster]:
    access.require(request.user, Action.READ, Disaster)
    return list(selectors.disasters_all().prefetch_related("areas", "responses")[:100])


@router.get(
    "/disasters/current",
    response=PhaseOut,
    auth=None,
    summary="The phase: 平常時 (normal) or the active disaster",
)
def current(request: HttpRequest) -> dict[str, object]:
    disaster = selectors.disaster_current()
    if disaster is None:
        return {"phase": "normal", "disaster": None}
    return {"phase": "exercise" if disaster.is_exercise else "disaster", "disaster": disaster}


@router.get("/disasters/{disaster_id}", response=DisasterOut, summary="One disaster")
def disaster(request: HttpRequest, disaster_id: int) -> Disaster:
    found = get_object_or_404(Disaster, pk=disaster_id)
    access.require(request.user, Action.READ, found)
    return found


@router.post(
    "/disasters", response={201: DisasterOut}, summary="Declare a disaster (runs the responders)"
)
def declare(request: HttpRequest, payload: DisasterIn) -> Status[Disaster]:
    access.require(request.user, Action.CREATE, Disaster)
    areas = list(Area.objects.filter(pk__in=payload.area_ids))
    missing = sorted(set(payload.area_ids) - {a.pk for a in areas})
    if missing:
        raise problems.invalid("area_ids", f"no such areas: {missing}")
    try:
        created = services.disaster_declare(
            name=payload.name,
            hazards=payload.hazards,
            areas=areas,
            started_at=payload.started_at,
            is_exercise=payload.is_exercise,
            declared_by=request.user,  # type: ignore[arg-type]
        )
    except services.DisasterError as exc:
        raise problems.invalid("", str(exc)) from exc
    return Status(201, created)


@router.post("/disasters/{disaster_id}/end", response=DisasterOut, summary="End a disaster")
def end(request: HttpRequest, disaster_id: int) -> Disaster:
    found = get_object_or_404(Disaster, pk=disaster_id)
    access.require(request.user, Action.UPDATE, found)
    try:
        return services.disaster_end(disaster=found, ended_by=request.user)  # type: ignore[arg-type]
    except services.DisasterError as exc:
        raise HttpError(409, str(exc)) from exc
