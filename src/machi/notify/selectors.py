"""Reads of the notify room for its pages: topics and areas offered, broadcasts, counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from machi.core.models import Area
from machi.core.selectors import municipality_current
from machi.notify import services
from machi.notify.models import (
    ApiKey,
    Broadcast,
    BroadcastStatus,
    Channel,
    Delivery,
    Subscriber,
    SubscriberStatus,
    Template,
    Topic,
)

PUBLIC_STATUSES = (BroadcastStatus.SENDING, BroadcastStatus.SENT)


# --- What residents choose from -----------------------------------------------------------------


def topics_offered() -> QuerySet[Topic]:
    return Topic.objects.filter(active=True)


def areas_offered() -> QuerySet[Area]:
    """The 町丁目 of the municipality this installation serves."""
    municipality = municipality_current()
    areas = Area.objects.all()
    if municipality is not None:
        areas = areas.filter(municipality=municipality)
    return areas


# --- Broadcasts ---------------------------------------------------------------------------------


def broadcasts(*, status: str = "") -> QuerySet[Broadcast]:
    queryset = Broadcast.objects.select_related("created_by", "approved_by").prefetch_related(
        "areas", "topics"
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at")


def broadcast(broadcast_id: uuid.UUID | str) -> Broadcast | None:
    return (
        Broadcast.objects.select_related("created_by", "approved_by", "template")
        .prefetch_related("areas", "topics")
        .filter(pk=broadcast_id)
        .first()
    )


def broadcasts_public() -> QuerySet[Broadcast]:
    """The public archive: what was really sent to residents (no test, draft or cancelled)."""
    return Broadcast.objects.filter(status__in=PUBLIC_STATUSES, test=False).order_by(
        "-started_at", "-created_at"
    )


def broadcast_public(broadcast_id: uuid.UUID | str) -> Broadcast | None:
    return broadcasts_public().prefetch_related("areas").filter(pk=broadcast_id).first()


@dataclass(frozen=True)
class ChannelCount:
    channel: str
    label: str
    delivered: int
    failed: int
    pending: int

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.pending


def counts_by_channel(counts: dict[str, int], channels: list[str]) -> list[ChannelCount]:
    """``services.broadcast_counts`` arranged per channel for a table."""
    rows = []
    labels = dict(Channel.choices)
    for channel in channels:
        delivered = counts.get(f"{channel}:delivered", 0)
        failed = counts.get(f"{channel}:permanent-failure", 0)
        pending = sum(
            counts.get(f"{channel}:{status}", 0)
            for status in ("created", "sending", "temporary-failure")
        )
        rows.append(
            ChannelCount(channel, str(labels.get(channel, channel)), delivered, failed, pending)
        )
    return rows


def deliveries_for_export(broadcast: Broadcast) -> QuerySet[Delivery]:
    return Delivery.objects.filter(broadcast=broadcast).select_related("subscriber").order_by("pk")


# --- Templates, topics, keys --------------------------------------------------------------------


def templates() -> QuerySet[Template]:
    return Template.objects.prefetch_related("topics").order_by("kind", "name")


def topics() -> QuerySet[Topic]:
    return Topic.objects.annotate(subscriber_count=Count("subscribers", distinct=True)).order_by(
        "position", "pk"
    )


def api_keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("created_by").order_by("revoked_at", "-created_at")


# --- Subscribers (counts only) ------------------------------------------------------------------


@dataclass
class SubscriberCounts:
    by_channel: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    by_topic: list[tuple[str, int]] = field(default_factory=list)
    by_area: list[tuple[str, int]] = field(default_factory=list)
    whole_city: int = 0
    by_language: list[tuple[str, int]] = field(default_factory=list)
    emergency_only: int = 0
    active: int = 0


LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}


def subscriber_counts() -> SubscriberCounts:
    """How many subscribers, by channel × status, topic, area, language: no addresses."""
    counts = SubscriberCounts()
    cells = {
        (row["channel"], row["status"]): row["n"]
        for row in Subscriber.objects.values("channel", "status").annotate(n=Count("pk")).order_by()
    }
    counts.statuses = [(value, str(label)) for value, label in SubscriberStatus.choices]
    for channel, label in Channel.choices:
        values = [cells.get((channel, status), 0) for status, _label in counts.statuses]
        counts.by_channel.append({"channel": channel, "label": label, "values": values})
    active = Subscriber.objects.filter(status=SubscriberStatus.ACTIVE)
    counts.active = active.count()
    counts.by_topic = [
        (topic.name, topic.n)
        for topic in Topic.objects.annotate(
            n=Count("subscribers", filter=_active("subscribers"))
        ).order_by("position", "pk")
    ]
    counts.by_area = [
        (area.name, area.n)
        for area in areas_offered()
        .annotate(n=Count("subscribers", filter=_active("subscribers")))
        .filter(n__gt=0)
    ]
    counts.whole_city = active.filter(areas__isnull=True).count()
    counts.by_language = [
        (LANGUAGE_NAMES.get(row["language"], row["language"]), row["n"])
        for row in active.values("language").annotate(n=Count("pk")).order_by("language")
    ]
    counts.emergency_only = active.filter(emergency_only=True).count()
    return counts


def _active(prefix: str) -> Q:
    return Q(**{f"{prefix}__status": SubscriberStatus.ACTIVE})


def subscriber_by_email(address: str) -> Subscriber | None:
    """Exact match on the normalised address (raises NotifyError for a malformed one)."""
    normalised = services.email_normalise(address)
    key = services.address_key(Channel.EMAIL, normalised)
    return Subscriber.objects.prefetch_related("topics", "areas").filter(address_key=key).first()
