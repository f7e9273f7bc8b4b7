"""Reads of the emergency room, for other rooms and the pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from machi.core import memo
from machi.emergency.models import (
    CapMessage,
    ChronologyEntry,
    Disaster,
    EvacuationOrder,
    Incident,
    IncidentSeverity,
    IncidentStatus,
    IncomingAlert,
    JmaWarning,
    ResponderRun,
    Suggestion,
    Task,
    TaskStatus,
)


def disasters_active() -> QuerySet[Disaster]:
    return Disaster.objects.filter(ended_at__isnull=True).order_by("-started_at")


def disaster_current() -> Disaster | None:
    """The most recent active disaster, or None in normal times (平常時).

    Asked on every page (the banner) and every check-in: remembered a few seconds per
    process; declaring or ending forgets it at once in the process that did it.
    """
    return memo.remember("disaster:current", lambda: disasters_active().first())


def disasters_all() -> QuerySet[Disaster]:
    return Disaster.objects.order_by("-started_at")


def responder_runs(disaster: Disaster) -> QuerySet[ResponderRun]:
    return disaster.responses.order_by("created_at", "id")


# --- 避難情報 ----------------------------------------------------------------------------------


def orders_active() -> list[EvacuationOrder]:
    """避難情報 in force, highest level first, with their areas (public: no personal data).

    Every public page shows them (the banner): remembered a few seconds per process; issuing
    or lifting forgets them at once in the process that did it.
    """
    return memo.remember(
        "evacuation:active",
        lambda: list(
            EvacuationOrder.objects.filter(lifted_at__isnull=True)
            .prefetch_related("areas")
            .order_by("-level", "-issued_at", "-id")
        ),
    )


def orders_recent(*, limit: int = 50) -> QuerySet[EvacuationOrder]:
    return (
        EvacuationOrder.objects.select_related("issued_by", "lifted_by", "superseded_by")
        .prefetch_related("areas")
        .order_by("-issued_at", "-id")[:limit]
    )


def cap_messages_recent(*, limit: int = 50) -> QuerySet[CapMessage]:
    return CapMessage.objects.order_by("-sent", "-id")[:limit]


def cap_message(identifier: str) -> CapMessage | None:
    return CapMessage.objects.filter(identifier=identifier).first()


# --- What HQ sees beside the shelters (the dashboard's overview) -------------------------------


@dataclass(frozen=True)
class Overview:
    orders: list[EvacuationOrder]
    warnings: list[JmaWarning]
    incidents_open: int
    incidents_critical: int
    tasks_open: int
    tasks_overdue: int
    suggestions: int
    alerts: int
    chronology: list[ChronologyEntry]


def hq_overview(disaster: Disaster | None) -> Overview:
    """The emergency room's part of HQ's dashboard: a few small queries, every refresh."""
    now = timezone.now()
    incidents = Incident.objects.exclude(status=IncidentStatus.DONE)
    tasks = Task.objects.filter(status__in=[TaskStatus.OPEN, TaskStatus.IN_PROGRESS])
    lines = ChronologyEntry.objects.order_by("-at", "-id")
    if disaster is not None:
        incidents = incidents.filter(disaster=disaster)
        tasks = tasks.filter(disaster=disaster)
        lines = lines.filter(disaster=disaster)
    alerts = IncomingAlert.objects.exclude(msg_type="Cancel").filter(
        Q(expires__isnull=True) | Q(expires__gt=now)
    )
    counts = incidents.aggregate(
        open=Count("pk"), critical=Count("pk", filter=Q(severity__gte=IncidentSeverity.HIGH))
    )
    task_counts = tasks.aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=now)))
    return Overview(
        orders=orders_active(),
        warnings=list(
            JmaWarning.objects.filter(active=True).order_by("-level", "area_code", "kind_code")[:12]
        ),
        incidents_open=counts["open"],
        incidents_critical=counts["critical"],
        tasks_open=task_counts["open"],
        tasks_overdue=task_counts["overdue"],
        suggestions=Suggestion.objects.filter(handled_at__isnull=True).count(),
        alerts=alerts.count(),
        chronology=list(lines[:6]),
    )
