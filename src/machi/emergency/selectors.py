"""Reads of the emergency room, for other rooms and the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from machi.core import memo
from machi.emergency.models import CapMessage, Disaster, EvacuationOrder, ResponderRun


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
