"""Reads of the core room, for its own views and API and for other rooms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from machi.core import access
from machi.core.models import Area, AuditEvent, Facility, Job, Municipality
from machi.core.roles import Action


def municipality_current() -> Municipality | None:
    """The municipality this installation serves (None before ``machi init``)."""
    return Municipality.objects.order_by("pk").first()


def facilities_public(*, shelters_only: bool = False) -> QuerySet[Facility]:
    """Facilities as residents may see them: public data, no scoping."""
    queryset = Facility.objects.select_related("area")
    if shelters_only:
        queryset = queryset.filter(Q(is_shelter=True) | Q(is_evacuation_site=True))
    return queryset


def facilities_for(user: Any, *, query: str = "") -> QuerySet[Facility]:
    queryset = access.scope(user, Action.READ, Facility.objects.select_related("area"))
    if query:
        queryset = queryset.filter(
            Q(name__icontains=query) | Q(name_kana__icontains=query) | Q(address__icontains=query)
        )
    return queryset


def areas_for(user: Any) -> QuerySet[Area]:
    return access.scope(user, Action.READ, Area.objects.all())


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    ip_address: str = ""
    since: dt.date | None = None
    until: dt.date | None = None


def audit_search(user: Any, filters: AuditFilter) -> QuerySet[AuditEvent]:
    """Audit events the user may read, newest first, narrowed by the filters."""
    queryset = access.scope(user, Action.READ, AuditEvent.objects.all())
    if filters.actor:
        queryset = queryset.filter(actor_username__icontains=filters.actor)
    if filters.action:
        queryset = queryset.filter(action=filters.action)
    if filters.object_type:
        queryset = queryset.filter(object_type=filters.object_type)
    if filters.object_id:
        queryset = queryset.filter(object_id=filters.object_id)
    if filters.ip_address:
        queryset = queryset.filter(ip_address=filters.ip_address)
    if filters.since:
        queryset = queryset.filter(at__date__gte=filters.since)
    if filters.until:
        queryset = queryset.filter(at__date__lte=filters.until)
    return queryset.order_by("-at", "-id")


def audit_object_types() -> list[str]:
    return sorted(access.registered())


def jobs_for(user: Any) -> QuerySet[Job]:
    """Jobs a user may follow: their own; administrators see every job."""
    return access.scope(user, Action.READ, Job.objects.all())
