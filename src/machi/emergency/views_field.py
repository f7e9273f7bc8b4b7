"""Pages of incident reports (被害報告) and tasks between departments (依頼), under /console/."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from machi.core import access, japanese
from machi.core import selectors as core_selectors
from machi.core import services as core_services
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.emergency import selectors_field, services_field
from machi.emergency.forms_field import (
    AssignForm,
    IncidentFilterForm,
    IncidentReportForm,
    PhotoAddForm,
    TaskFilterForm,
    TaskForm,
)
from machi.emergency.models import Incident, IncidentPhoto, Task

PAGE_SIZE = 50
MAP_POINTS = 500  # the map shows at most this many of the filtered incidents


def _incident(request: HttpRequest, incident_id: uuid.UUID, action: str = Action.READ) -> Incident:
    found = get_object_or_404(
        Incident.objects.select_related("area", "department", "reported_by", "disaster"),
        pk=incident_id,
    )
    access.require(request.user, action, found)
    return found


def _field_error(form: Any, exc: services_field.FieldError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


# --- Reporting (on a phone) -------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def incident_new(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, Incident)
    areas = core_selectors.areas_for(request.user).order_by("name_kana", "name")
    form = IncidentReportForm(request.POST or None, request.FILES or None, areas=areas)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["photos"]:
            access.require(request.user, Action.CREATE, IncidentPhoto)
        try:
            result = services_field.incident_report(
                incident_id=data["id"],
                category=data["category"],
                severity=data["severity"],
                title=data["title"],
                description=data["description"],
                latitude=data["latitude"],
                longitude=data["longitude"],
                address=data["address"],
                area=data["area"],
                department=data["department"],
                reported_by=request.user,  # type: ignore[arg-type]
                photos=data["photos"],
            )
        except services_field.FieldError as exc:
            _field_error(form, exc)
        else:
            if result.created:
                messages.success(request, _("Report sent. HQ can see it now."))
            else:
                messages.info(request, _("This report had already been sent; it is recorded once."))
            return redirect("field:incident", incident_id=result.incident.pk)
    return render(
        request,
        "emergency/field/incident_new.html",
        {"form": form, "municipality_point": _city_point()},
        status=400 if form.errors else 200,
    )


def _city_point() -> dict[str, str]:
    city = core_selectors.municipality_current()
    latitude = getattr(city, "latitude", None)
    longitude = getattr(city, "longitude", None)
    if latitude is None or longitude is None:
        return {"latitude": "35.681236", "longitude": "139.767125"}  # 東京駅: somewhere in Japan
    return {"latitude": str(latitude), "longitude": str(longitude)}


# --- HQ's list ----------------------------------------------------------------------------------


@staff_required
def incidents(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, Incident)
    form = IncidentFilterForm(request.GET or None)
    found = selectors_field.incidents_for(request.user, form.filters())
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    if request.headers.get("HX-Trigger") != "incident-results":
        # Reports may name people and show their homes: who saw which is logged. The list's
        # own refresh every 15 seconds shows the same page again and is not logged again.
        core_services.audit_record_many(action=Action.READ, records=list(page.object_list))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "points": selectors_field.incident_points(list(found[:MAP_POINTS])),
        "now": timezone.localtime(),
        "can_export": access.may(request.user, Action.EXPORT, Incident),
        "can_report": access.may(request.user, Action.CREATE, Incident),
    }
    if request.headers.get("HX-Request"):
        return render(request, "emergency/field/_incident_results.html", context)
    return render(request, "emergency/field/incidents.html", context)


@staff_required
def incidents_csv(request: HttpRequest) -> HttpResponse:
    """The filtered incidents for Excel (UTF-8 with BOM, CRLF); every exported record is logged."""
    access.require(request.user, Action.EXPORT, Incident)
    form = IncidentFilterForm(request.GET or None)
    found = access.scope(
        request.user, Action.EXPORT, selectors_field.incidents_for(request.user, form.filters())
    )
    rows = selectors_field.incidents_export_rows(found)
    core_services.audit_record(
        action=Action.EXPORT,
        object_type="emergency.incident",
        detail={
            "rows": len(rows) - 1,
            "filters": {k: v for k, v in request.GET.items() if k != "page" and v},
        },
    )
    core_services.audit_record_many(action=Action.EXPORT, records=list(found))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(japanese.excel_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="incidents-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- One incident -------------------------------------------------------------------------------


@staff_required
def incident(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    found = _incident(request, incident_id)
    # Reports may show people's homes and names: who looked is logged.
    core_services.audit_record(action=Action.READ, record=found)
    user = request.user
    can_update = access.may(user, Action.UPDATE, found)
    tasks = [
        {"task": task, "status_label": selectors_field.task_status_label(task.status)}
        for task in selectors_field.tasks_for(user).filter(incident=found)
        if selectors_field.task_visible(user, task)
    ]
    task_form = TaskForm(
        initial={
            "title": found.title,
            "to_department": found.department_id,
            "incident": found.pk,
        }
    )
    return render(
        request,
        "emergency/field/incident.html",
        {
            "incident": found,
            "photos": selectors_field.incident_photos(found)
            if access.may(user, Action.READ, IncidentPhoto)
            else [],
            "history": selectors_field.history(found),
            "next_statuses": _choices(
                services_field.incident_next_statuses(found.status), found.status
            )
            if can_update
            else [],
            "can_update": can_update,
            "assign_form": AssignForm(initial={"department": found.department_id}),
            "can_add_photos": access.may(user, Action.CREATE, IncidentPhoto),
            "photo_form": PhotoAddForm(),
            "can_create_task": access.may(user, Action.CREATE, Task),
            "task_form": task_form,
            "tasks": tasks,
            "points": selectors_field.incident_points([found]),
        },
    )


def _choices(values: list[str], current: str) -> list[dict[str, Any]]:
    from machi.emergency.models import IncidentStatus

    order = IncidentStatus.values
    return [
        {
            "value": value,
            "label": IncidentStatus(value).label,
            "reopen": order.index(value) < order.index(current),
        }
        for value in values
    ]


@staff_required
@require_POST
def incident_status(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    found = _incident(request, incident_id, Action.UPDATE)
    try:
        changed = services_field.incident_set_status(
            incident=found, status=request.POST.get("status", "")
        )
    except services_field.FieldError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("Status changed to %(status)s.") % {"status": changed.get_status_display()}
        )
    return redirect("field:incident", incident_id=found.pk)


@staff_required
@require_POST
def incident_assign(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    found = _incident(request, incident_id, Action.UPDATE)
    form = AssignForm(request.POST)
    if form.is_valid():
        services_field.incident_assign(incident=found, department=form.cleaned_data["department"])
        messages.success(request, _("Department saved."))
    else:
        messages.error(request, _("Choose a department from the list."))
    return redirect("field:incident", incident_id=found.pk)


@staff_required
@require_POST
def incident_photo_add(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    found = _incident(request, incident_id)
    access.require(request.user, Action.CREATE, IncidentPhoto)
    form = PhotoAddForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("photos", []):
            messages.error(request, str(error))
        return redirect("field:incident", incident_id=found.pk)
    if not form.cleaned_data["photos"]:
        messages.error(request, _("Choose at least one photo."))
        return redirect("field:incident", incident_id=found.pk)
    added = 0
    for upload in form.cleaned_data["photos"][: services_field.PHOTOS_PER_REPORT]:
        try:
            services_field.incident_photo_add(
                incident=found,
                upload=upload,
                uploaded_by=request.user,  # type: ignore[arg-type]
            )
        except services_field.FieldError as exc:
            messages.error(request, str(exc))
        else:
            added += 1
    if added:
        messages.success(request, _("%(n)s photo(s) added.") % {"n": added})
    return redirect("field:incident", incident_id=found.pk)


@staff_required
def incident_photo(
    request: HttpRequest, incident_id: uuid.UUID, photo_id: uuid.UUID
) -> FileResponse:
    """A photo, to staff who may read it: never a public static file."""
    photo = get_object_or_404(
        IncidentPhoto.objects.select_related("incident"), pk=photo_id, incident_id=incident_id
    )
    access.require(request.user, Action.READ, photo.incident)
    access.require(request.user, Action.READ, photo)
    try:
        handle = photo.image.open("rb")
    except FileNotFoundError as exc:
        raise Http404("the photo's file is missing") from exc
    core_services.audit_record(
        action=Action.READ, record=photo, detail={"incident": str(incident_id)}
    )
    response = FileResponse(handle, content_type=photo.content_type)
    extension = services_field.PHOTO_EXTENSIONS.get(photo.content_type, "")
    response["Content-Disposition"] = f'inline; filename="{photo.pk}{extension}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- Tasks --------------------------------------------------------------------------------------


@staff_required
def tasks(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, Task)
    form = TaskFilterForm(request.GET or None)
    found = selectors_field.tasks_for(request.user, form.filters())
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "emergency/field/tasks.html",
        {
            "form": form,
            "page": page,
            "rows": [
                {
                    "task": task,
                    "overdue": selectors_field.task_is_overdue(task, now),
                    "status_label": selectors_field.task_status_label(task.status),
                }
                for task in page
            ],
            "query": query.urlencode(),
            "can_create": access.may(request.user, Action.CREATE, Task),
            "my_departments": selectors_field.departments_of(request.user),
            "sees_all": selectors_field.tasks_reach_all(request.user),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def task_new(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, Task)
    initial: dict[str, Any] = {}
    about = _incident_or_none(request, request.GET.get("incident", ""))
    if about is not None:
        initial = {"title": about.title, "to_department": about.department_id, "incident": about.pk}
    form = TaskForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        incident = _incident(request, data["incident"]) if data["incident"] is not None else None
        try:
            task = services_field.task_create(
                title=data["title"],
                description=data["description"],
                to_department=data["to_department"],
                from_department=selectors_field.departments_of(request.user).first(),
                assignee=data["assignee"],
                incident=incident,
                due_at=data["due_at"],
                created_by=request.user,  # type: ignore[arg-type]
            )
        except services_field.FieldError as exc:
            _field_error(form, exc)
        else:
            messages.success(
                request, _("Task sent to %(department)s.") % {"department": task.to_department}
            )
            return redirect("field:task", task_id=task.pk)
    return render(
        request,
        "emergency/field/task_new.html",
        {"form": form, "incident": about},
        status=400 if form.errors else 200,
    )


def _incident_or_none(request: HttpRequest, value: str) -> Incident | None:
    try:
        incident_id = uuid.UUID(value)
    except ValueError:
        return None
    return _incident(request, incident_id)


def _task(request: HttpRequest, task_id: int) -> Task:
    found = get_object_or_404(
        Task.objects.select_related(
            "to_department", "from_department", "assignee", "incident", "created_by"
        ),
        pk=task_id,
    )
    if not selectors_field.task_visible(request.user, found):
        raise PermissionDenied(_("This task is for another department."))
    return found


@staff_required
def task(request: HttpRequest, task_id: int) -> HttpResponse:
    found = _task(request, task_id)
    can_update = selectors_field.task_may_update(request.user, found)
    return render(
        request,
        "emergency/field/task.html",
        {
            "task": found,
            "overdue": selectors_field.task_is_overdue(found),
            "status_label": selectors_field.task_status_label(found.status),
            "history": selectors_field.history(found),
            "can_update": can_update,
            "next_statuses": _task_choices(services_field.task_next_statuses(found.status))
            if can_update
            else [],
            "incident_readable": found.incident is not None
            and access.may(request.user, Action.READ, found.incident),
        },
    )


def _task_choices(values: list[str]) -> list[dict[str, str]]:
    # Buttons say what they do; the status names alone ("Open") read like a shelter's opening.
    actions = {
        "open": _("Back to not started"),
        "in_progress": _("Start work (対応中)"),
        "done": _("Mark done (完了)"),
        "cancelled": _("Cancel the task"),
    }
    return [{"value": value, "label": actions[value]} for value in values]


@staff_required
@require_POST
def task_status(request: HttpRequest, task_id: int) -> HttpResponse:
    found = _task(request, task_id)
    if not selectors_field.task_may_update(request.user, found):
        raise PermissionDenied(_("Only the department asked, or HQ, updates this task."))
    try:
        changed = services_field.task_set_status(task=found, status=request.POST.get("status", ""))
    except services_field.FieldError as exc:
        messages.error(request, str(exc))
    else:
        label = selectors_field.task_status_label(changed.status)
        messages.success(request, _("Status changed to %(status)s.") % {"status": label})
    return redirect("field:task", task_id=found.pk)
