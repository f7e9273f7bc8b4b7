"""Reads of the core room, for its own views and API and for other rooms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet

from machi.core import access, personal
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
    return _audit_narrowed(user, filters).order_by("-at", "-id")


def _audit_narrowed(user: Any, filters: AuditFilter | ReadsFilter) -> QuerySet[AuditEvent]:
    lookups = {
        "actor_username__icontains": filters.actor,
        "action": getattr(filters, "action", ""),
        "object_type": filters.object_type,
        "object_id": filters.object_id,
        "ip_address": getattr(filters, "ip_address", ""),
        "at__date__gte": filters.since,
        "at__date__lte": filters.until,
    }
    queryset = access.scope(user, Action.READ, AuditEvent.objects.all())
    return queryset.filter(**{lookup: value for lookup, value in lookups.items() if value})


@dataclass(frozen=True)
class ReadsFilter:
    """The auditors' report of reads of personal records: a period (inclusive dates on the
    city's clock) and, optionally, one actor, one kind of record or one record."""

    since: dt.date
    until: dt.date
    actor: str = ""
    object_type: str = ""
    object_id: str = ""


def audit_personal_reads(user: Any, filters: ReadsFilter) -> QuerySet[Any]:
    """Who read (or exported) which personal record in the period: one row per actor and
    record, with how many times and when first and last. Rows are dicts, sorted by actor,
    kind of record and record."""
    queryset = _audit_narrowed(user, filters).filter(
        action__in=[Action.READ, Action.EXPORT], object_type__in=personal.PERSONAL_RECORD_TYPES
    )
    return (
        queryset.values("actor_username", "object_type", "object_id")
        .annotate(
            times=Count("id"),
            exports=Count("id", filter=Q(action=Action.EXPORT)),
            first_at=Min("at"),
            last_at=Max("at"),
            record=Max("object_repr"),
        )
        .order_by("actor_username", "object_type", "object_id")
    )


def audit_personal_readers(user: Any, filters: ReadsFilter) -> list[dict[str, Any]]:
    """The same period summed up per actor: how many reads, of how many distinct records."""
    rows: dict[str, dict[str, Any]] = {}
    for row in audit_personal_reads(user, filters):
        summary = rows.setdefault(
            row["actor_username"],
            {"actor_username": row["actor_username"], "records": 0, "times": 0, "exports": 0},
        )
        summary["records"] += 1
        summary["times"] += row["times"]
        summary["exports"] += row["exports"]
    return sorted(rows.values(), key=lambda item: (-item["records"], item["actor_username"]))


def audit_object_types() -> list[str]:
    return sorted(access.registered())


def jobs_for(user: Any) -> QuerySet[Job]:
    """Jobs a user may follow: their own; administrators see every job."""
    return access.scope(user, Action.READ, Job.objects.all())
