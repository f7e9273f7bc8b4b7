"""API of the offline shelter console: what a device recorded offline, sent in one batch.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
import uuid
from typing import Annotated, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema

from machi.core import access
from machi.core.api import Id, Moment, ProblemOut
from machi.core.roles import Action
from machi.shelters import offline, services
from machi.shelters.api import PersonIn
from machi.shelters.models import Checkin, Need, Opening, Person

router = Router(tags=["shelters"])

MAX_OPERATIONS = 100


class OfflineOperationIn(Schema):
    id: uuid.UUID = Field(
        description="The operation's id, made by the device: sent again, it changes nothing."
    )
    kind: Literal["register", "checkin_code", "checkout", "needs"] = Field(
        description="register: a new person checked in here; checkin_code: a registered "
        "household checked in by its code; checkout: a stay ended; needs: 要配慮 noted."
    )
    checkin_id: uuid.UUID = Field(
        description="The stay: made by the device for register and checkin_code (a household's "
        "members get ids derived from it), the stay acted on otherwise."
    )
    at: Moment = Field(
        description="When it happened on the device; kept between the opening (or the start of "
        "the stay) and now."
    )
    person: PersonIn | None = Field(None, description="register: the person.")
    code: Annotated[str, Field(max_length=200)] = Field("", description="checkin_code: the code.")
    needs_added: list[Need] = Field([], description="needs: needs to add.")
    needs_removed: list[Need] = Field([], description="needs: needs to remove.")
    device: Annotated[str, Field(max_length=64)] = Field(
        "", description="The device's own name, recorded with the check-in."
    )


class OfflineSyncIn(Schema):
    operations: Annotated[list[OfflineOperationIn], Field(max_length=MAX_OPERATIONS)]


class OfflineOutcomeOut(Schema):
    id: uuid.UUID
    status: Literal["done", "failed", "retry"] = Field(
        description="done: recorded (forget it); failed: cannot be recorded as sent (show it "
        "to staff); retry: send it again later."
    )
    replayed: bool = Field(description="Recorded before: this was a repeat.")
    conflict: Literal["", "two_shelters", "already_ended"] = Field(
        description="two_shelters: also present at another shelter; already_ended: the stay "
        "had been ended elsewhere first. HQ has been told; the device shows it."
    )
    checkin_ids: list[uuid.UUID]
    field: str
    message: str


class OfflineSyncOut(Schema):
    outcomes: list[OfflineOutcomeOut]
    synced_at: dt.datetime


def _operation(data: OfflineOperationIn) -> offline.Operation:
    person = None
    if data.person is not None:
        person = services.PersonInput(**{**data.person.dict(), "sex": data.person.sex or ""})
    return offline.Operation(
        id=data.id,
        kind=data.kind,
        checkin_id=data.checkin_id,
        at=data.at,
        person=person,
        code=data.code,
        needs_added=[str(n) for n in data.needs_added],
        needs_removed=[str(n) for n in data.needs_removed],
        device=data.device,
    )


@router.post(
    "/openings/{opening_id}/offline-sync",
    response={200: OfflineSyncOut, 403: ProblemOut, 404: ProblemOut},
    summary="Send what a shelter's device recorded offline (each operation idempotent by its id)",
)
def offline_sync(request: HttpRequest, opening_id: Id, payload: OfflineSyncIn) -> OfflineSyncOut:
    opening = get_object_or_404(
        Opening.objects.select_related("shelter__facility", "disaster"), pk=opening_id
    )
    access.require(request.user, Action.UPDATE, opening)
    access.require(request.user, Action.CREATE, Checkin)
    if any(op.kind == offline.REGISTER for op in payload.operations):
        access.require(request.user, Action.CREATE, Person)
    outcomes = offline.operations_apply(
        opening=opening, operations=[_operation(op) for op in payload.operations]
    )
    return OfflineSyncOut(
        outcomes=[
            OfflineOutcomeOut(
                id=o.id,
                status=o.status,  # type: ignore[arg-type]
                replayed=o.replayed,
                conflict=o.conflict,  # type: ignore[arg-type]
                checkin_ids=o.checkin_ids,
                field=o.field,
                message=o.message,
            )
            for o in outcomes
        ],
        synced_at=timezone.now(),
    )
