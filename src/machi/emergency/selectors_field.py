"""Reads of incident reports and tasks, for the pages, the API and other rooms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.core import access, japanese
from machi.core.roles import Action, Role
from machi.emergency.models import (
    ChronologyEntry,
    Department,
    Incident,
    IncidentCategory,
    IncidentSeverity,
    IncidentStatus,
    Task,
    TaskStatus,
)

TASKS_OPEN = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS)


# --- Departments ------------------------------------------------------------------------------


def departments_all() -> QuerySet[Department]:
    return Department.objects.order_by("order", "name")


def departments_of(user: Any) -> QuerySet[Department]:
    if user is None or not user.is_authenticated:
        return Department.objects.none()
    return Department.objects.filter(members=user).order_by("order", "name")


def department_members() -> QuerySet[Any]:
    """Staff who belong to a department: the people a task can be given to."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(departments__isnull=False, is_active=True)
        .distinct()
        .order_by("username")
    )


# --- Incidents --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentFilter:
    status: str = ""
    category: str = ""
    severity: int | None = None
    department: Department | None = None
    q: str = ""
    since: dt.datetime | None = None


def incidents_for(user: Any, filters: IncidentFilter | None = None) -> QuerySet[Incident]:
    """The incidents the user may read, narrowed by the filters, newest first."""
    filters = filters or IncidentFilter()
    found = access.scope(user, Action.READ, Incident.objects.all())
    if filters.status:
        found = found.filter(status=filters.status)
    if filters.category:
        found = found.filter(category=filters.category)
    if filters.severity is not None:
        found = found.filter(severity=filters.severity)
    if filters.department is not None:
        found = found.filter(department=filters.department)
    if filters.since is not None:
        found = found.filter(Q(reported_at__gte=filters.since) | Q(updated_at__gte=filters.since))
    query = japanese.normalize(filters.q).strip()
    for word in query.split()[:5]:
        found = found.filter(
            Q(title__icontains=word)
            | Q(description__icontains=word)
            | Q(address__icontains=word)
            | Q(area__name__icontains=word)
        )
    return found.select_related("department", "area", "reported_by").order_by("-reported_at", "-id")


def incident_photos(incident: Incident) -> QuerySet[Any]:
    return incident.photos.order_by("uploaded_at", "id")


def history(record: Incident | Task) -> QuerySet[ChronologyEntry]:
    """The chronology lines about one incident or task, oldest first: its history."""
    return ChronologyEntry.objects.filter(
        object_type=record._meta.label_lower, object_id=str(record.pk)
    ).order_by("at", "id")


def incident_points(incidents: list[Incident]) -> list[dict[str, Any]]:
    """Map points (core/map.js format), coloured by severity through ``status``."""
    return [
        {
            "name": incident.title,
            "latitude": str(incident.latitude),
            "longitude": str(incident.longitude),
            "status": f"severity-{incident.severity}",
            "label": f"{incident.get_category_display()} · {incident.get_severity_display()}"
            f" · {incident.get_status_display()}",
            "url": reverse("field:incident", kwargs={"incident_id": incident.pk}),
        }
        for incident in incidents
        if incident.latitude is not None and incident.longitude is not None
    ]


EXPORT_HEADER = [
    "ID",
    "報告日時",
    "更新日時",
    "状態",
    "分類",
    "重要度",
    "件名",
    "内容",
    "住所",
    "地区",
    "緯度",
    "経度",
    "担当課",
    "報告者",
    "写真枚数",
]
# Japanese names for the chronology and the Excel file (read by people in Japanese whatever
# the language of the page).
CATEGORY_JA = {
    IncidentCategory.FLOODING: "浸水",
    IncidentCategory.LANDSLIDE: "土砂災害",
    IncidentCategory.ROAD: "道路",
    IncidentCategory.BUILDING: "建物",
    IncidentCategory.FIRE: "火災",
    IncidentCategory.LIFELINE: "ライフライン",
    IncidentCategory.CASUALTY: "人的被害",
    IncidentCategory.RIVER: "河川・堤防",
    IncidentCategory.OTHER: "その他",
}
SEVERITY_JA = {
    IncidentSeverity.LOW: "軽微",
    IncidentSeverity.MEDIUM: "中",
    IncidentSeverity.HIGH: "重大",
    IncidentSeverity.CRITICAL: "人命危険",
}
STATUS_JA = {
    IncidentStatus.REPORTED: "報告",
    IncidentStatus.CONFIRMED: "確認",
    IncidentStatus.IN_PROGRESS: "対応中",
    IncidentStatus.DONE: "完了",
}
TASK_STATUS_JA = {
    TaskStatus.OPEN: "未着手",
    TaskStatus.IN_PROGRESS: "対応中",
    TaskStatus.DONE: "完了",
    TaskStatus.CANCELLED: "取消",
}


_cell = japanese.excel_cell


def incidents_export_rows(incidents: QuerySet[Incident]) -> list[list[str]]:
    """Rows for Excel (Japanese headings, times in Asia/Tokyo)."""
    rows = [EXPORT_HEADER]
    for incident in incidents.prefetch_related("photos"):
        rows.append(
            [
                str(incident.pk),
                f"{timezone.localtime(incident.reported_at):%Y-%m-%d %H:%M}",
                f"{timezone.localtime(incident.updated_at):%Y-%m-%d %H:%M}",
                STATUS_JA[IncidentStatus(incident.status)],
                CATEGORY_JA[IncidentCategory(incident.category)],
                f"{incident.severity} {SEVERITY_JA[IncidentSeverity(incident.severity)]}",
                _cell(incident.title),
                _cell(incident.description),
                _cell(incident.address),
                incident.area.name if incident.area is not None else "",
                "" if incident.latitude is None else str(incident.latitude),
                "" if incident.longitude is None else str(incident.longitude),
                incident.department.name if incident.department is not None else "",
                incident.reported_by.get_username() if incident.reported_by is not None else "",
                str(len(incident.photos.all())),
            ]
        )
    return rows


# --- Tasks ------------------------------------------------------------------------------------

# The model's label "Open" is also the msgid of a shelter's 開設する: tasks say it their way.
TASK_STATUS_LABELS = {
    TaskStatus.OPEN: _("Not started (未着手)"),
    TaskStatus.IN_PROGRESS: _("In progress (対応中)"),
    TaskStatus.DONE: _("Done (完了)"),
    TaskStatus.CANCELLED: _("Cancelled (取消)"),
}


def task_status_label(status: str) -> str:
    return str(TASK_STATUS_LABELS.get(TaskStatus(status), status))


def tasks_reach_all(user: Any) -> bool:
    """HQ and auditors see every task; department staff see their departments' tasks."""
    return bool({Role.HQ, Role.AUDITOR, Role.SYSADMIN} & access.Grants.of(user).roles)


@dataclass(frozen=True)
class TaskFilter:
    status: str = ""
    department: Department | None = None
    overdue: bool = False


def tasks_for(user: Any, filters: TaskFilter | None = None) -> QuerySet[Task]:
    """The tasks the user may read: all for HQ, else those given to or by their departments."""
    filters = filters or TaskFilter()
    found = access.scope(user, Action.READ, Task.objects.all())
    if not tasks_reach_all(user):
        mine = departments_of(user)
        found = found.filter(Q(to_department__in=mine) | Q(from_department__in=mine))
    if filters.status:
        found = found.filter(status=filters.status)
    if filters.department is not None:
        found = found.filter(to_department=filters.department)
    if filters.overdue:
        found = found.filter(due_at__lt=timezone.now(), status__in=TASKS_OPEN)
    return found.select_related("to_department", "from_department", "assignee", "incident")


def task_visible(user: Any, task: Task) -> bool:
    if not access.may(user, Action.READ, task):
        return False
    if tasks_reach_all(user):
        return True
    return (
        departments_of(user)
        .filter(pk__in=[task.to_department_id, task.from_department_id])
        .exists()
    )


def task_may_update(user: Any, task: Task) -> bool:
    """HQ updates any task; department staff only the tasks given to their department."""
    if not access.may(user, Action.UPDATE, task):
        return False
    if Role.HQ in access.Grants.of(user).roles:
        return True
    return departments_of(user).filter(pk=task.to_department_id).exists()


def task_is_overdue(task: Task, now: dt.datetime | None = None) -> bool:
    return (
        task.due_at is not None
        and task.status in TASKS_OPEN
        and task.due_at < (now or timezone.now())
    )
