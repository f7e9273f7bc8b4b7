"""API of incident reports and tasks.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, File, Form, Query, Router, Schema, UploadedFile
from ninja.pagination import paginate
from ninja.responses import Status

from machi.core import access, problems
from machi.core import services as core_services
from machi.core.api import AuditedPagination, Id, Moment, Pagination, ProblemOut
from machi.core.models import Area
from machi.core.roles import Action
from machi.emergency import selectors_field, services_field
from machi.emergency.models import (
    Department,
    Incident,
    IncidentCategory,
    IncidentPhoto,
    IncidentSeverity,
    IncidentStatus,
    Task,
    TaskStatus,
)

router = Router(tags=["incidents and tasks"])

_ID = Annotated[int, Field(ge=1, le=2**63 - 1)]
ERRORS = {403: ProblemOut, 404: ProblemOut, 422: ProblemOut}


class PhotoOut(Schema):
    id: uuid.UUID
    content_type: str
    size: int
    uploaded_at: dt.datetime
    url: str

    @staticmethod
    def resolve_url(obj: IncidentPhoto) -> str:
        return reverse(
            "field:incident_photo", kwargs={"incident_id": obj.incident_id, "photo_id": obj.pk}
        )


class IncidentOut(Schema):
    id: uuid.UUID
    disaster_id: int | None
    category: IncidentCategory
    severity: IncidentSeverity
    status: IncidentStatus
    title: str
    description: str
    latitude: Decimal | None
    longitude: Decimal | None
    address: str
    area_id: int | None
    department_id: int | None
    reported_by: str
    reported_at: dt.datetime
    updated_at: dt.datetime
    photos: list[PhotoOut]
    url: str

    @staticmethod
    def resolve_reported_by(obj: Incident) -> str:
        return obj.reported_by.get_username() if obj.reported_by is not None else ""

    @staticmethod
    def resolve_photos(obj: Incident, context: dict[str, Any]) -> list[IncidentPhoto]:
        request = context.get("request")
        user = getattr(request, "user", None)
        if user is None or not access.may(user, Action.READ, IncidentPhoto):
            return []
        return list(obj.photos.all())

    @staticmethod
    def resolve_url(obj: Incident) -> str:
        return reverse("field:incident", kwargs={"incident_id": obj.pk})


class IncidentIn(Schema):
    id: uuid.UUID = Field(description="Made by the client; a replay answers the first record.")
    category: IncidentCategory
    severity: IncidentSeverity = IncidentSeverity.MEDIUM
    title: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=4000)] = ""
    latitude: Annotated[Decimal, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180)] | None = None
    address: Annotated[str, Field(max_length=200)] = ""
    area_id: _ID | None = None
    department_id: _ID | None = None


class IncidentQuery(Schema):
    status: IncidentStatus | None = None
    category: IncidentCategory | None = None
    severity: IncidentSeverity | None = None
    department_id: _ID | None = None
    q: Annotated[str, Field(max_length=100)] = ""
    since: Moment | None = Field(None, description="Reported or changed since this time.")


class IncidentStatusIn(Schema):
    status: IncidentStatus


class TaskStatusIn(Schema):
    status: TaskStatus


def _department(department_id: int | None, field: str) -> Department | None:
    if department_id is None:
        return None
    found = Department.objects.filter(pk=department_id).first()
    if found is None:
        raise problems.invalid(field, "no such department")
    return found


def _found_incident(request: HttpRequest, incident_id: uuid.UUID, action: str) -> Incident:
    found = get_object_or_404(
        Incident.objects.select_related("reported_by").prefetch_related("photos"), pk=incident_id
    )
    access.require(request.user, action, found)
    return found


@router.post(
    "/incidents",
    response={200: IncidentOut, 201: IncidentOut, **ERRORS},
    summary="Report an incident (idempotent by the client's id)",
)
def incident_report(request: HttpRequest, payload: IncidentIn) -> Status[Incident]:
    access.require(request.user, Action.CREATE, Incident)
    earlier = Incident.objects.filter(pk=payload.id).first()
    if earlier is not None:  # a replay: the first record, nothing new
        access.require(request.user, Action.READ, earlier)
        return Status(200, earlier)
    area = None
    if payload.area_id is not None:
        area = Area.objects.filter(pk=payload.area_id).first()
        if area is None or not access.may(request.user, Action.READ, area):
            raise problems.invalid("area_id", "no such area")
    try:
        result = services_field.incident_report(
            incident_id=payload.id,
            category=payload.category,
            severity=payload.severity,
            title=payload.title,
            description=payload.description,
            latitude=payload.latitude,
            longitude=payload.longitude,
            address=payload.address,
            area=area,
            department=_department(payload.department_id, "department_id"),
            reported_by=request.user,  # type: ignore[arg-type]
        )
    except services_field.FieldError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return Status(201 if result.created else 200, result.incident)


@router.get("/incidents", response=list[IncidentOut], summary="Incidents, newest first")
@paginate(AuditedPagination)
def incidents(request: HttpRequest, filters: Query[IncidentQuery]):  # type: ignore[no-untyped-def]
    access.require(request.user, Action.READ, Incident)
    return selectors_field.incidents_for(
        request.user,
        selectors_field.IncidentFilter(
            status=filters.status or "",
            category=filters.category or "",
            severity=filters.severity,
            department=_department(filters.department_id, "department_id")
            if filters.department_id is not None
            else None,
            q=filters.q,
            since=filters.since,
        ),
    ).prefetch_related("photos")


@router.get(
    "/incidents/{incident_id}", response={200: IncidentOut, **ERRORS}, summary="One incident"
)
def incident(request: HttpRequest, incident_id: uuid.UUID) -> Incident:
    found = _found_incident(request, incident_id, Action.READ)
    core_services.audit_record(action=Action.READ, record=found)
    return found


@router.post(
    "/incidents/{incident_id}/status",
    response={200: IncidentOut, **ERRORS},
    summary="Move an incident along 報告 → 確認 → 対応中 → 完了 (or reopen it)",
)
def incident_status(
    request: HttpRequest, incident_id: uuid.UUID, payload: IncidentStatusIn
) -> Incident:
    found = _found_incident(request, incident_id, Action.UPDATE)
    try:
        services_field.incident_set_status(incident=found, status=payload.status)
    except services_field.FieldError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return _found_incident(request, incident_id, Action.READ)


@router.post(
    "/incidents/{incident_id}/photos",
    response={200: PhotoOut, 201: PhotoOut, **ERRORS},
    summary="Add a photo (JPEG, PNG, WebP or HEIC, at most 10 MB; checked by its bytes)",
)
def incident_photo(
    request: HttpRequest,
    incident_id: uuid.UUID,
    file: File[UploadedFile],
    id: Form[uuid.UUID | None] = None,
) -> Status[IncidentPhoto]:
    """Multipart: ``file``, and optionally ``id`` (made by the client; a replay answers 200)."""
    found = _found_incident(request, incident_id, Action.READ)
    access.require(request.user, Action.CREATE, IncidentPhoto)
    if id is not None:
        earlier = IncidentPhoto.objects.filter(pk=id).first()
        if earlier is not None:
            if earlier.incident_id != found.pk:
                raise problems.invalid(
                    "id", "this id belongs to another incident's photo", where="body"
                )
            return Status(200, earlier)
    try:
        photo = services_field.incident_photo_add(
            incident=found,
            upload=file,
            uploaded_by=request.user,  # type: ignore[arg-type]
            photo_id=id,
            field="file",
        )
    except services_field.FieldError as exc:
        raise problems.invalid(exc.field, str(exc), where="body") from exc
    return Status(201, photo)


# --- Tasks --------------------------------------------------------------------------------------


class TaskOut(Schema):
    id: int
    disaster_id: int | None
    title: str
    description: str
    from_department_id: int | None
    to_department_id: int
    assignee: str | None
    incident_id: uuid.UUID | None
    due_at: dt.datetime | None
    status: TaskStatus
    overdue: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None

    @staticmethod
    def resolve_assignee(obj: Task) -> str | None:
        return obj.assignee.get_username() if obj.assignee is not None else None

    @staticmethod
    def resolve_overdue(obj: Task) -> bool:
        return selectors_field.task_is_overdue(obj)


class TaskIn(Schema):
    title: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=4000)] = ""
    to_department_id: _ID
    assignee: Annotated[str, Field(max_length=150)] | None = Field(
        None, description="User name of a member of the department."
    )
    incident_id: uuid.UUID | None = None
    due_at: Moment | None = Field(None, description="With its time zone (+09:00).")


class TaskQuery(Schema):
    status: TaskStatus | None = None
    department_id: _ID | None = None
    overdue: bool = False


@router.post("/tasks", response={201: TaskOut, **ERRORS}, summary="Ask a department (HQ)")
def task_create(request: HttpRequest, payload: TaskIn) -> Status[Task]:
    access.require(request.user, Action.CREATE, Task)
    department = _department(payload.to_department_id, "to_department_id")
    assert department is not None  # noqa: S101 - the id is required by the schema
    assignee = None
    if payload.assignee:
        assignee = selectors_field.department_members().filter(username=payload.assignee).first()
        if assignee is None:
            raise problems.invalid("assignee", "no member of a department has this user name")
    incident = None
    if payload.incident_id is not None:
        incident = Incident.objects.filter(pk=payload.incident_id).first()
        if incident is None or not access.may(request.user, Action.READ, incident):
            raise problems.invalid("incident_id", "no such incident")
    try:
        task = services_field.task_create(
            title=payload.title,
            description=payload.description,
            to_department=department,
            from_department=selectors_field.departments_of(request.user).first(),
            assignee=assignee,
            incident=incident,
            due_at=payload.due_at,
            created_by=request.user,  # type: ignore[arg-type]
        )
    except services_field.FieldError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return Status(201, task)


@router.get("/tasks", response=list[TaskOut], summary="Tasks of your departments (HQ: all)")
@paginate(Pagination)
def tasks(request: HttpRequest, filters: Query[TaskQuery]):  # type: ignore[no-untyped-def]
    access.require(request.user, Action.READ, Task)
    return selectors_field.tasks_for(
        request.user,
        selectors_field.TaskFilter(
            status=filters.status or "",
            department=_department(filters.department_id, "department_id")
            if filters.department_id is not None
            else None,
            overdue=filters.overdue,
        ),
    )


@router.post(
    "/tasks/{task_id}/status",
    response={200: TaskOut, **ERRORS},
    summary="Report a task's progress (the department asked, or HQ)",
)
def task_status(request: HttpRequest, task_id: Id, payload: TaskStatusIn) -> Task:
    found = get_object_or_404(Task, pk=task_id)
    if not selectors_field.task_visible(request.user, found):
        raise PermissionDenied("not your department's task")
    if not selectors_field.task_may_update(request.user, found):
        raise PermissionDenied("only the department asked, or HQ, updates this task")
    try:
        return services_field.task_set_status(task=found, status=payload.status)
    except services_field.FieldError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
