"""API of the emergency room: declare and end disasters, see the phase.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from machi.core import access, problems
from machi.core.api import Id, Moment, ProblemOut, areas_from_refs
from machi.core.hazards import Hazard
from machi.core.models import Area
from machi.core.roles import Action
from machi.emergency import selectors, services
from machi.emergency.models import Disaster, EvacuationOrder, ResponderRun

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
    started_at: Moment | None = None
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
def disaster(request: HttpRequest, disaster_id: Id) -> Disaster:
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


@router.post(
    "/disasters/{disaster_id}/end",
    response={200: DisasterOut, 409: ProblemOut},
    summary="End a disaster",
)
def end(request: HttpRequest, disaster_id: Id) -> Disaster:
    found = get_object_or_404(Disaster, pk=disaster_id)
    access.require(request.user, Action.UPDATE, found)
    try:
        return services.disaster_end(disaster=found, ended_by=request.user)  # type: ignore[arg-type]
    except services.DisasterError as exc:
        raise HttpError(409, str(exc)) from exc


# --- 避難情報 ----------------------------------------------------------------------------------


class EvacuationOrderOut(Schema):
    id: int
    level: int
    level_label: str
    hazard: Hazard
    whole_city: bool
    areas: list[str]
    area_ids: list[int]
    note: str
    issued_at: dt.datetime
    lifted_at: dt.datetime | None
    active: bool
    cap_identifier: str
    cap_url: str
    superseded_by: int | None
    disaster_id: int | None

    @staticmethod
    def resolve_level_label(obj: EvacuationOrder) -> str:
        return str(obj.get_level_display())

    @staticmethod
    def resolve_areas(obj: EvacuationOrder) -> list[str]:
        return [a.name for a in obj.areas.all()]

    @staticmethod
    def resolve_area_ids(obj: EvacuationOrder) -> list[int]:
        return [a.pk for a in obj.areas.all()]

    @staticmethod
    def resolve_active(obj: EvacuationOrder) -> bool:
        return obj.is_active

    @staticmethod
    def resolve_cap_url(obj: EvacuationOrder, context: dict[str, Any]) -> str:
        path = reverse("emergency_public:cap", args=[obj.cap_identifier])
        request = context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @staticmethod
    def resolve_superseded_by(obj: EvacuationOrder) -> int | None:
        return obj.superseded_by_id


AreaRef = int | Annotated[str, Field(min_length=1, max_length=64)]


class EvacuationOrderIn(Schema):
    level: Literal[3, 4, 5]
    hazard: Hazard
    areas: list[AreaRef] = Field(
        default=[], description="Area ids, 町字ID or area names; empty with whole_city."
    )
    whole_city: bool = False
    note: Annotated[str, Field(max_length=500)] = ""


class LiftIn(Schema):
    areas: list[AreaRef] | None = Field(
        default=None, description="Lift only these areas (CAP Update); omit to lift everywhere."
    )


@router.get(
    "/evacuation-orders",
    response=list[EvacuationOrderOut],
    auth=None,
    summary="避難情報: those in force (active=true, the default) or the latest 200",
)
def evacuation_orders(request: HttpRequest, active: bool = True) -> list[EvacuationOrder]:
    if active:
        return selectors.orders_active()
    return list(selectors.orders_recent(limit=200))


@router.post(
    "/evacuation-orders",
    response={201: EvacuationOrderOut},
    summary="Issue 避難情報 (level 3, 4 or 5) for areas and a hazard; published as CAP",
)
def evacuation_issue(request: HttpRequest, payload: EvacuationOrderIn) -> Status[EvacuationOrder]:
    access.require(request.user, Action.CREATE, EvacuationOrder)
    areas = areas_from_refs(payload.areas, "areas")
    if not areas and not payload.whole_city:
        raise problems.invalid("areas", "give the areas, or whole_city: true")
    try:
        order = services.evacuation_issue(
            level=payload.level,
            hazard=payload.hazard,
            areas=areas,
            whole_city=payload.whole_city,
            note=payload.note,
            issued_by=request.user,  # type: ignore[arg-type]
        )
    except services.DisasterError as exc:
        raise problems.invalid("", str(exc)) from exc
    return Status(201, order)


@router.post(
    "/evacuation-orders/{order_id}/lift",
    response={200: EvacuationOrderOut, 409: ProblemOut},
    summary="Lift (解除) 避難情報, everywhere (CAP Cancel) or for some areas (CAP Update)",
)
def evacuation_lift(
    request: HttpRequest, order_id: Id, payload: LiftIn | None = None
) -> EvacuationOrder:
    order = get_object_or_404(EvacuationOrder, pk=order_id)
    access.require(request.user, Action.UPDATE, order)
    areas = (
        areas_from_refs(payload.areas, "areas") if payload is not None and payload.areas else None
    )
    try:
        return services.evacuation_lift(
            order=order,
            lifted_by=request.user,  # type: ignore[arg-type]
            areas=areas,
        )
    except services.DisasterError as exc:
        raise HttpError(409, str(exc)) from exc
