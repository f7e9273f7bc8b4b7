"""API of the chronology (クロノロジー): read a disaster's timeline, add a line to it.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from machi.core import access, problems
from machi.core.api import Moment, ProblemOut
from machi.core.roles import Action
from machi.emergency import exports_chronology, selectors_chronology, services
from machi.emergency.models import ChronologyEntry, ChronologyKind, Disaster

router = Router(tags=["chronology"])

ID = Annotated[int, Field(ge=1, le=2**63 - 1)]


class ChronologyEntryOut(Schema):
    id: int
    disaster_id: int | None
    at: dt.datetime
    kind: ChronologyKind
    kind_label: str
    text: str
    important: bool
    actor: str
    department: str
    object_type: str
    object_id: str


class ChronologyPageOut(Schema):
    count: int = Field(description="How many lines match the filters, on every page.")
    items: list[ChronologyEntryOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) lines; null on the last page."
    )


class ChronologyQuery(Schema):
    disaster_id: ID | None = Field(
        None,
        description="The disaster; when omitted, the current one, or the lines recorded "
        "outside any disaster (平常時) when none is active.",
    )
    kind: list[ChronologyKind] = Field([], description="Any of these kinds (repeat the name).")
    important: bool | None = Field(None, description="true: important lines only.")
    q: Annotated[str, Field(max_length=100)] = Field("", description="Words in the line.")
    since: Moment | None = Field(None, description="From this time (inclusive).")
    until: Moment | None = Field(None, description="Until this time (inclusive).")
    limit: Annotated[int, Field(ge=1, le=selectors_chronology.API_LIMIT)] = 100
    offset: Annotated[int, Field(ge=0, le=2**31)] = Field(
        0, description="Skip this many lines (or use `cursor`, which stays stable as lines come)."
    )
    cursor: Annotated[str, Field(max_length=200)] | None = None


class ChronologyEntryIn(Schema):
    text: Annotated[str, Field(min_length=1, max_length=1000)]
    important: bool = False
    disaster_id: ID | None = Field(None, description="The current disaster when omitted.")
    department: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="The writer's first department when omitted."
    )


def _entry_out(entry: ChronologyEntry) -> ChronologyEntryOut:
    return ChronologyEntryOut(
        id=entry.pk,
        disaster_id=entry.disaster_id,
        at=entry.at,
        kind=ChronologyKind(entry.kind),
        kind_label=exports_chronology.kind_label(entry.kind),
        text=entry.text,
        important=entry.important,
        actor=entry.actor,
        department=entry.department,
        object_type=entry.object_type,
        object_id=entry.object_id,
    )


def _disaster(disaster_id: int | None, where: str) -> Disaster | None:
    if disaster_id is None:
        return selectors_chronology.disaster_default()
    found = selectors_chronology.disaster_by_id(disaster_id)
    if found is None:
        raise problems.invalid("disaster_id", "no such disaster", where=where)
    return found


@router.get(
    "/chronology",
    response={200: ChronologyPageOut, 403: ProblemOut, 422: ProblemOut},
    summary="A disaster's chronology, newest first",
)
def chronology(request: HttpRequest, filters: Query[ChronologyQuery]) -> ChronologyPageOut:
    access.require(request.user, Action.READ, ChronologyEntry)
    if filters.since and filters.until and filters.since > filters.until:
        raise problems.invalid("until", "until is before since", where="query")
    if filters.cursor is not None and filters.offset:
        raise problems.invalid("offset", "give a cursor or an offset, not both", where="query")
    search = selectors_chronology.ChronologyFilter(
        disaster=_disaster(filters.disaster_id, "query"),
        kinds=tuple(kind.value for kind in filters.kind),
        important=filters.important,
        q=filters.q,
        since=filters.since,
        until=filters.until,
    )
    queryset = selectors_chronology.chronology_search(request.user, search)
    count = queryset.count()
    if filters.cursor is not None:
        try:
            queryset = selectors_chronology.chronology_before_cursor(queryset, filters.cursor)
        except selectors_chronology.CursorError as exc:
            raise problems.invalid("cursor", str(exc), where="query") from exc
    window = list(queryset[filters.offset : filters.offset + filters.limit + 1])
    items, more = window[: filters.limit], len(window) > filters.limit
    return ChronologyPageOut(
        count=count,
        items=[_entry_out(entry) for entry in items],
        next_cursor=selectors_chronology.cursor_after(items[-1]) if more and items else None,
    )


@router.post(
    "/chronology",
    response={201: ChronologyEntryOut, 403: ProblemOut, 422: ProblemOut},
    summary="Add a line to the chronology (lines are never changed: correct with a new line)",
)
def chronology_add(request: HttpRequest, payload: ChronologyEntryIn) -> Status[ChronologyEntryOut]:
    access.require(request.user, Action.CREATE, ChronologyEntry)
    if not payload.text.strip():
        raise problems.invalid("text", "an entry needs text")
    disaster = _disaster(payload.disaster_id, "body.payload")
    if disaster is not None:
        access.require(request.user, Action.READ, disaster)
    department = payload.department
    if department is None:
        department = selectors_chronology.department_of(request.user)
    try:
        entry = services.chronology_record(
            kind=ChronologyKind.NOTE,
            text=payload.text,
            disaster=disaster,
            important=payload.important,
            department=department.strip(),
        )
    except services.DisasterError as exc:
        raise problems.invalid("text", str(exc)) from exc
    return Status(201, _entry_out(entry))
