"""Reads of the procedures room: the staff queue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from machi.core import access
from machi.core.roles import Action
from machi.procedures.models import Application
from machi.procedures.services import FINISHED


@dataclass(frozen=True)
class QueueFilter:
    status: str = "open"  # "open" (not finished), "all", or one status
    overdue: bool = False
    procedure: str = ""  # a procedure's key
    department: str = ""  # empty: every department
    assigned: str = ""  # "me": the user's own; "none": nobody's yet


def queue(
    user: Any, filters: QueueFilter, *, today: dt.date | None = None
) -> QuerySet[Application]:
    """The applications staff work on, the earliest due first."""
    found = access.scope(user, Action.READ, Application.objects.all())
    if filters.department:
        found = found.filter(department=filters.department)
    if filters.status == "open":
        found = found.exclude(status__in=FINISHED)
    elif filters.status != "all":
        found = found.filter(status=filters.status)
    if filters.overdue:
        found = found.filter(due_on__lt=today or timezone.localdate()).exclude(status__in=FINISHED)
    if filters.procedure:
        found = found.filter(procedure__slug=filters.procedure)
    if filters.assigned == "me":
        found = found.filter(assigned_to=user)
    elif filters.assigned == "none":
        found = found.filter(assigned_to__isnull=True)
    return found.select_related("procedure", "assigned_to").order_by("due_on", "submitted_at")
