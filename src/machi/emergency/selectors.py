"""Reads of the emergency room, for other rooms and the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from machi.core import memo
from machi.emergency.models import Disaster, ResponderRun


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
