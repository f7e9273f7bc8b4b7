"""API of the core room: who am I, the municipality, areas, facilities, audit log, codes.

No `from __future__ import annotations` here: django-ninja reads the annotations at import.
"""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate
from pydantic import AfterValidator

from machi.core import access, lgcode, problems, selectors, services
from machi.core.models import Area, AuditEvent, Facility, FacilityKind
from machi.core.roles import Action, Role

router = Router(tags=["core"])
# A record's id as the database keeps it (bigint): a larger one is a 422, not an overflow.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _storable(value: dt.datetime) -> dt.datetime:
    """A time every database keeps: a real UTC offset (PostgreSQL refuses ±16 h and more), and
    one day away from the ends of the calendar, so that it stays in it in UTC."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > dt.timedelta(hours=14):
        raise ValueError("the UTC offset must be between -14:00 and +14:00")
    if not dt.date(1, 1, 2) <= value.date() <= dt.date(9999, 12, 30):
        raise ValueError("the date must be between 0001-01-02 and 9999-12-30")
    return value


# A date and time given to the API (with its offset, or Japan time without one).
Moment = Annotated[dt.datetime, AfterValidator(_storable)]


class Pagination(LimitOffsetPagination):
    """limit and offset, bounded: ``offset=10**30`` is a 422, not an overflow in the database
    (ninja's own bounds neither, unless settings say so). 100 a page unless asked."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=10_000)
        offset: int = Field(0, ge=0, le=2**31)


class AuditedPagination(Pagination):
    """Pagination for lists of personal records: the page returned is logged, one ``read``
    event per record, as the console's lists do."""

    def paginate_queryset(
        self, queryset: QuerySet[Any], pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        page = super().paginate_queryset(queryset, pagination, request, **params)
        page["items"] = list(page["items"])
        services.audit_record_many(action=Action.READ, records=page["items"])
        return page


class MeOut(Schema):
    username: str
    display_name: str
    roles: list[Role]
    facility_ids: list[int]


class MunicipalityOut(Schema):
    lgcode: str
    name: str
    name_kana: str
    prefecture: str
    latitude: Decimal | None
    longitude: Decimal | None


class AreaOut(Schema):
    id: int
    name: str
    name_kana: str
    machiaza_id: str


class FacilityOut(Schema):
    id: int
    code: str
    name: str
    name_kana: str
    name_en: str
    address: str
    area_id: int | None
    latitude: Decimal | None
    longitude: Decimal | None
    kinds: list[FacilityKind]


class FacilityPatch(Schema):
    # Each field may be left out (unchanged), not set to null: text columns are NOT NULL and
    # a facility's point, once known, is changed, not removed (the model requires it).
    name_kana: Annotated[str, Field(max_length=256)] = ""
    name_en: Annotated[str, Field(max_length=256)] = ""
    address: Annotated[str, Field(max_length=256)] = ""
    latitude: Annotated[
        Decimal, Field(ge=-90, le=90, decimal_places=6, description="Left out: unchanged.")
    ] = Decimal(0)
    longitude: Annotated[
        Decimal, Field(ge=-180, le=180, decimal_places=6, description="Left out: unchanged.")
    ] = Decimal(0)


class FacilityFilter(Schema):
    q: str = ""
    kind: FacilityKind | None = None


class AuditEventOut(Schema):
    id: int
    at: dt.datetime
    actor_username: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    ip_address: str | None
    channel: str


class AuditQuery(Schema):
    actor: str = ""
    action: Action | None = None
    object_type: str = ""
    object_id: str = ""
    since: dt.date | None = None
    until: dt.date | None = None


class LgCodeOut(Schema):
    input: str
    code: str | None
    valid: bool
    name: str | None
    error: str | None


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str


@router.get("/me", response=MeOut, summary="The signed-in staff member and their roles")
def me(request: HttpRequest) -> MeOut:
    grants = access.Grants.of(request.user)
    ids = sorted(set().union(*grants.facility_ids.values())) if grants.facility_ids else []
    return MeOut(
        username=request.user.get_username(),
        display_name=getattr(request.user, "display_name", ""),
        roles=sorted(grants.roles),
        facility_ids=ids,
    )


@router.get(
    "/municipality",
    response={200: MunicipalityOut, 404: ProblemOut},
    auth=None,
    summary="The municipality this installation serves",
)
def municipality(request: HttpRequest) -> MunicipalityOut:
    found = selectors.municipality_current()
    if found is None:
        raise HttpError(404, "This installation has no municipality yet: run `machi init`.")
    return MunicipalityOut.model_validate(found, from_attributes=True)


@router.get("/areas", response=list[AreaOut], summary="Areas (町丁目)")
@paginate(Pagination)
def areas(request: HttpRequest):  # type: ignore[no-untyped-def]
    access.require(request.user, Action.READ, "core.area")
    return selectors.areas_for(request.user)


@router.get("/facilities", response=list[FacilityOut], summary="Facilities")
@paginate(Pagination)
def facilities(request: HttpRequest, filters: Query[FacilityFilter]):  # type: ignore[no-untyped-def]
    access.require(request.user, Action.READ, Facility)
    queryset = selectors.facilities_for(request.user, query=filters.q)
    if filters.kind is not None:
        queryset = queryset.filter(**{f"is_{filters.kind.value}": True})
    return queryset


@router.get(
    "/facilities/{facility_id}",
    response={200: FacilityOut, 403: ProblemOut, 404: ProblemOut},
    summary="One facility",
)
def facility(request: HttpRequest, facility_id: Id) -> Facility:
    found = get_object_or_404(Facility, pk=facility_id)
    access.require(request.user, Action.READ, found)
    return found


@router.patch(
    "/facilities/{facility_id}",
    response={200: FacilityOut, 403: ProblemOut, 404: ProblemOut, 422: ProblemOut},
    summary="Change a facility's descriptive fields",
)
def facility_patch(request: HttpRequest, facility_id: Id, payload: FacilityPatch) -> Facility:
    found = get_object_or_404(Facility, pk=facility_id)
    access.require(request.user, Action.UPDATE, found)
    return services.facility_update(facility=found, **payload.dict(exclude_unset=True))


@router.get("/audit-events", response=list[AuditEventOut], summary="Search the audit log")
@paginate(Pagination)
def audit_events(request: HttpRequest, filters: Query[AuditQuery]):  # type: ignore[no-untyped-def]
    access.require(request.user, Action.READ, AuditEvent)
    services.audit_record(
        action=Action.READ,
        object_type="core.auditevent",
        detail={"filters": filters.dict(exclude_defaults=True, mode="json")},
    )
    values = filters.dict()
    values["action"] = values["action"] or ""
    return selectors.audit_search(request.user, selectors.AuditFilter(**values))


@router.get(
    "/lgcodes/{code}",
    response=LgCodeOut,
    auth=None,
    summary="Check a 全国地方公共団体コード (repairs lost leading zeros)",
)
def lgcode_check(request: HttpRequest, code: str) -> LgCodeOut:
    try:
        valid = lgcode.validate(code)
    except lgcode.LgCodeError as exc:
        return LgCodeOut(input=code, code=None, valid=False, name=None, error=str(exc))
    found = lgcode.lookup(valid)
    return LgCodeOut(
        input=code,
        code=valid,
        valid=True,
        name=found.full_name if found else None,
        error=None if found else "valid check digit, but not in the bundled list",
    )


# --- For other rooms' APIs ---------------------------------------------------------------------


def areas_from_refs(refs: list[Any], field: str) -> list[Area]:
    """Areas by id, 町字ID or name; a clear error naming the entry that matches none."""
    found: list[Area] = []
    for index, ref in enumerate(refs):
        if isinstance(ref, int):
            area = Area.objects.filter(pk=ref).first()
        else:
            area = (
                Area.objects.filter(machiaza_id=ref).first()
                or Area.objects.filter(name=ref).first()
            )
        if area is None:
            raise problems.invalid(f"{field}[{index}]", f"no area matches {ref!r}")
        found.append(area)
    return found
