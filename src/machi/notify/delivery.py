"""The delivery engine: a broadcast's deliveries, claimed in batches and sent by channel.

``run(broadcast_id)`` is what the worker's task does. It fans the broadcast out (one delivery
per subscriber, idempotent), then repeats: *claim* a batch (``created``, or ``sending`` whose
claim lapsed because its worker died, or a temporary failure whose time has come: one UPDATE
… RETURNING, ``SKIP LOCKED`` on PostgreSQL so several workers share a broadcast), *send* it
through each channel in one asyncio loop, and *record* what became of each message in a few
bulk UPDATEs. A subscriber never gets the same broadcast twice from Machi's side: a delivered
row is never claimed again, and a row whose outcome was lost with a killed worker is resent
with the same idempotency key (``Message.key``), which the channels hand on (Message-ID, Web
Push Topic, LINE X-Line-Retry-Key) so the peer recognises the copy. How many such rows there
can be is bounded by the batch size (``MACHI_NOTIFY_BATCH``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, F, Min
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from machi.notify import conf, services
from machi.notify.channels.base import Channel, Message, Result
from machi.notify.models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)

logger = logging.getLogger(__name__)

CHANNEL_CLASSES = {
    "email": "machi.notify.channels.email.EmailChannel",
    "webpush": "machi.notify.channels.webpush.WebPushChannel",
    "line": "machi.notify.channels.line.LineChannel",
}
LINE_MULTICAST = 500  # LINE's limit of recipients per multicast
SHORT_LIMIT = 500  # characters of the body in a notification or chat message


class TestChannel:
    """A test broadcast's channel: sends nothing, answers a fake receipt for every message."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def open(self) -> None:
        return None

    async def send(self, messages: list[Message]) -> list[Result]:
        return [Result(m.delivery_id, "delivered", "test: not sent", "test") for m in messages]

    async def close(self) -> None:
        return None


def make_channel(name: str, *, test: bool = False) -> Channel:
    if test:
        return TestChannel(name)
    classes = {**CHANNEL_CLASSES, **getattr(settings, "MACHI_NOTIFY_CHANNEL_CLASSES", {})}
    channel: Channel = import_string(classes[name])()
    return channel


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min … capped at 1 h: a provider's bad minute does not lose a message."""
    return dt.timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


@dataclass
class Report:
    claimed: int = 0
    delivered: int = 0
    temporary: int = 0
    permanent: int = 0
    dropped: int = 0  # unsubscribed between fan-out and sending: not sent, not counted
    batches: int = 0
    finished: bool = False
    seconds: float = 0.0
    by_channel: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    subscriber_id: uuid.UUID | None
    channel: str
    batch: uuid.UUID | None
    attempts: int


# --- The texts ----------------------------------------------------------------------------------


class Texts:
    """What a broadcast says in each language, and its public link (computed once per run)."""

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self.url = conf.site_url() + reverse("notify:message", args=[broadcast.pk])
        self.key_prefix = broadcast.pk.hex

    def for_language(self, language: str) -> tuple[str, str, str]:
        b = self.broadcast
        if language == "en" and b.subject_en and b.body_en:
            subject, body = b.subject_en, b.body_en
        else:
            subject, body = b.subject, b.body
        short = body if len(body) <= SHORT_LIMIT else body[: SHORT_LIMIT - 1] + "…"
        return subject, body, short


# --- Claiming -----------------------------------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def claim(broadcast: Broadcast, *, limit: int, now: dt.datetime | None = None) -> list[Claimed]:
    """Take up to ``limit`` deliveries of the broadcast that are due, for ``lease`` seconds."""
    now = now or timezone.now()
    table = _q(Delivery._meta.db_table)
    lease_until = now + dt.timedelta(seconds=conf.lease_seconds())
    due_field = cast("models.Field[Any, Any]", Delivery._meta.get_field("due_at"))
    batch_field = cast("models.Field[Any, Any]", Delivery._meta.get_field("batch"))
    broadcast_field = cast("models.Field[Any, Any]", Delivery._meta.get_field("broadcast"))
    pk = broadcast_field.get_db_prep_value(broadcast.pk, connection)
    stamp = due_field.get_db_prep_value(now, connection)
    until = due_field.get_db_prep_value(lease_until, connection)
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, due_at = %s "  # noqa: S608
        f"WHERE id IN (SELECT id FROM {table} WHERE broadcast_id = %s AND (status = %s OR "
        f"(status IN (%s, %s) AND due_at <= %s)) ORDER BY id LIMIT %s{lock}) "
        "RETURNING id, subscriber_id, channel, batch, attempts"
    )
    params = [
        DeliveryStatus.SENDING.value,
        until,
        pk,
        DeliveryStatus.CREATED.value,
        DeliveryStatus.SENDING.value,
        DeliveryStatus.TEMPORARY_FAILURE.value,
        stamp,
        limit,
    ]
    to_uuid = batch_field.to_python
    subscriber_uuid = Subscriber._meta.get_field("id").to_python
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return sorted(
        (
            Claimed(
                row[0],
                subscriber_uuid(row[1]) if row[1] is not None else None,
                row[2],
                to_uuid(row[3]) if row[3] is not None else None,
                row[4],
            )
            for row in rows
        ),
        key=lambda c: c.delivery_id,
    )


def _assign_line_batches(claimed: list[Claimed], languages: dict[int, str]) -> list[Claimed]:
    """Give LINE deliveries without a batch one per multicast (≤ 500, one language). A batch
    is kept across retries: it is the request's X-Line-Retry-Key."""
    fresh: dict[str, list[int]] = defaultdict(list)
    for c in claimed:
        if c.channel == "line" and c.batch is None:
            fresh[languages.get(c.delivery_id, "ja")].append(c.delivery_id)
    if not fresh:
        return claimed
    assigned: dict[int, uuid.UUID] = {}
    with transaction.atomic():
        for ids in fresh.values():
            for start in range(0, len(ids), LINE_MULTICAST):
                part = ids[start : start + LINE_MULTICAST]
                batch = uuid.uuid4()
                Delivery.objects.filter(pk__in=part).update(batch=batch)
                assigned.update(dict.fromkeys(part, batch))
    return [
        Claimed(c.delivery_id, c.subscriber_id, c.channel, assigned[c.delivery_id], c.attempts)
        if c.delivery_id in assigned
        else c
        for c in claimed
    ]


# --- Building messages --------------------------------------------------------------------------


def _messages(
    broadcast: Broadcast, texts: Texts, claimed: list[Claimed]
) -> tuple[list[Message], list[int]]:
    """The messages to send, and the deliveries whose subscriber has gone away meanwhile."""
    ids = [c.subscriber_id for c in claimed if c.subscriber_id is not None]
    subscribers = {
        s["id"]: s
        for s in Subscriber.objects.filter(pk__in=ids, status=SubscriberStatus.ACTIVE).values(
            "id", "address", "push_keys", "language"
        )
    }
    languages = {
        c.delivery_id: subscribers[c.subscriber_id]["language"]
        for c in claimed
        if c.subscriber_id in subscribers
    }
    claimed = _assign_line_batches(claimed, languages)
    base = conf.site_url()
    manage_path = reverse("notify:manage", args=["TOKEN"])
    unsubscribe_path = reverse("notify:unsubscribe", args=["TOKEN"])
    by_language = {lang: texts.for_language(lang) for lang in services.LANGUAGES}
    messages, dropped = [], []
    for c in claimed:
        found = subscribers.get(c.subscriber_id) if c.subscriber_id else None
        if found is None:
            dropped.append(c.delivery_id)
            continue
        token = services.manage_token(Subscriber(pk=found["id"]))
        subject, body, short = by_language.get(found["language"], by_language["ja"])
        messages.append(
            Message(
                delivery_id=c.delivery_id,
                key=f"{texts.key_prefix}-{c.delivery_id}",
                address=found["address"],
                language=found["language"],
                subject=subject,
                body=body,
                short=short,
                url=texts.url,
                manage_url=base + manage_path.replace("TOKEN", token),
                unsubscribe_url=base + unsubscribe_path.replace("TOKEN", token),
                emergency=broadcast.emergency,
                push_keys=found["push_keys"] or {},
                batch=str(c.batch) if c.batch else "",
                ttl=3600 if broadcast.emergency else 86_400,
            )
        )
    return messages, dropped


# --- Sending ------------------------------------------------------------------------------------


async def _send_all(
    channels: dict[str, Channel], messages: Sequence[Message], names: dict[int, str]
) -> list[Result]:
    grouped: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        grouped[names[m.delivery_id]].append(m)

    async def one(name: str, batch: list[Message]) -> list[Result]:
        try:
            return await channels[name].send(batch)
        except Exception as exc:  # the channel cannot work at all: try these again later
            logger.exception("channel %s failed", name)
            detail = f"{type(exc).__name__}: {exc}"[:200]
            return [Result(m.delivery_id, "temporary", detail) for m in batch]

    parts = await asyncio.gather(*(one(name, batch) for name, batch in grouped.items()))
    return [result for part in parts for result in part]


async def _open(channels: dict[str, Channel]) -> dict[str, str]:
    """Open each channel; those that cannot open are reported (their messages wait)."""
    broken = {}
    for name, channel in channels.items():
        try:
            await channel.open()
        except Exception as exc:
            logger.warning("channel %s cannot open: %s", name, exc)
            broken[name] = f"{type(exc).__name__}: {exc}"[:200]
    return broken


async def _close(channels: dict[str, Channel]) -> None:
    for channel in channels.values():
        try:
            await channel.close()
        except Exception:  # closing is best effort
            logger.exception("closing channel %s", channel.name)


# --- Recording ----------------------------------------------------------------------------------


def _ids_in(ids: Sequence[int], size: int = 900) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _write_receipts(receipts: list[tuple[str, int]]) -> None:
    """One statement per batch on PostgreSQL (arrays unnested), executemany on SQLite."""
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS d SET provider_ref = r.ref "  # noqa: S608 - the model's table
                "FROM unnest(%s::text[], %s::bigint[]) AS r(ref, id) WHERE d.id = r.id",
                [[ref for ref, _ in receipts], [i for _, i in receipts]],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET provider_ref = %s WHERE id = %s",  # noqa: S608
                receipts,
            )


def record(
    broadcast: Broadcast,
    results: Sequence[Result],
    claimed: dict[int, Claimed],
    dropped: Sequence[int],
    report: Report,
) -> None:
    """Write the outcomes: a few bulk UPDATEs, the subscribers a channel refused, the counts."""
    now = timezone.now()
    delivered: dict[str, list[int]] = defaultdict(list)
    retry: dict[tuple[int, str], list[int]] = defaultdict(list)
    failed: dict[str, list[int]] = defaultdict(list)
    bounced: list[uuid.UUID] = []
    gone: list[uuid.UUID] = []
    max_attempts = conf.max_attempts()
    for r in results:
        c = claimed[r.delivery_id]
        report.by_channel[c.channel] += 1
        if r.outcome == "delivered":
            delivered[r.provider_ref[:100]].append(r.delivery_id)
        elif r.outcome == "temporary" and c.attempts < max_attempts:
            retry[(c.attempts, r.detail[:200])].append(r.delivery_id)
        elif r.outcome == "temporary":
            failed[f"gave up after {c.attempts} attempts: {r.detail}"[:200]].append(r.delivery_id)
        else:
            failed[r.detail[:200] or r.outcome].append(r.delivery_id)
            if c.subscriber_id is not None and r.outcome == "gone":
                gone.append(c.subscriber_id)
            elif c.subscriber_id is not None and r.outcome == "permanent":
                bounced.append(c.subscriber_id)
    receipts = [(ref, i) for ref, ids in delivered.items() if ref for i in ids]
    delivered_ids = [i for ids in delivered.values() for i in ids]
    n_delivered = len(delivered_ids)
    n_failed = sum(len(ids) for ids in failed.values())
    with transaction.atomic():
        for part in _ids_in(delivered_ids):
            Delivery.objects.filter(pk__in=part).update(
                status=DeliveryStatus.DELIVERED, sent_at=now, due_at=None
            )
        if receipts:  # the peer's id of each message (SMTP queue id, push Location, LINE id)
            _write_receipts(receipts)
        for (attempts, detail), ids in retry.items():
            for part in _ids_in(ids):
                Delivery.objects.filter(pk__in=part).update(
                    status=DeliveryStatus.TEMPORARY_FAILURE,
                    due_at=now + backoff(attempts),
                    error=detail,
                )
        for detail, ids in failed.items():
            for part in _ids_in(ids):
                Delivery.objects.filter(pk__in=part).update(
                    status=DeliveryStatus.PERMANENT_FAILURE, sent_at=now, due_at=None, error=detail
                )
        if bounced:
            # A bounce or a refusal stops further sends to that address (e-mail, LINE).
            Subscriber.objects.filter(pk__in=bounced).update(status=SubscriberStatus.BOUNCED)
        if gone:
            # Web Push 404/410: the browser dropped the subscription; so do we.
            Subscriber.objects.filter(pk__in=gone).delete()
        if dropped:
            Delivery.objects.filter(pk__in=dropped).delete()
        Broadcast.objects.filter(pk=broadcast.pk).update(
            delivered=F("delivered") + n_delivered,
            failed=F("failed") + n_failed,
            total=F("total") - len(dropped),
        )
    report.delivered += n_delivered
    report.permanent += n_failed
    report.temporary += sum(len(ids) for ids in retry.values())
    report.dropped += len(dropped)


# --- The run ------------------------------------------------------------------------------------


def _pending(broadcast: Broadcast) -> tuple[int, dt.datetime | None]:
    """Deliveries not finished, and when the earliest of them is due again."""
    open_rows = Delivery.objects.filter(
        broadcast=broadcast,
        status__in=[
            DeliveryStatus.CREATED,
            DeliveryStatus.SENDING,
            DeliveryStatus.TEMPORARY_FAILURE,
        ],
    )
    found = open_rows.aggregate(n=Count("pk"), due=Min("due_at"))
    return found["n"], found["due"]


def run(
    broadcast_id: str | uuid.UUID,
    *,
    channels: dict[str, Channel] | None = None,
    limit: int | None = None,
) -> Report:
    """Send what is due of one broadcast; returns what happened. Safe to run twice at once."""
    began = time.perf_counter()
    report = Report()
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
        report.finished = broadcast is not None and broadcast.status == BroadcastStatus.SENT
        return report
    if not Delivery.objects.filter(broadcast=broadcast).exists():
        services.fan_out(broadcast=broadcast)
    texts = Texts(broadcast)
    if channels is None:
        channels = {name: make_channel(name, test=broadcast.test) for name in broadcast.channels}
    loop = asyncio.new_event_loop()
    try:
        broken = loop.run_until_complete(_open(channels))
        size = conf.batch_size()
        while limit is None or report.claimed < limit:
            status = (
                Broadcast.objects.filter(pk=broadcast.pk).values_list("status", flat=True).first()
            )
            if status != BroadcastStatus.SENDING:
                break  # cancelled meanwhile
            claimed = claim(broadcast, limit=size if limit is None else min(size, limit))
            if not claimed:
                break
            report.claimed += len(claimed)
            report.batches += 1
            messages, dropped = _messages(broadcast, texts, claimed)
            names = {c.delivery_id: c.channel for c in claimed}
            sendable = [m for m in messages if names[m.delivery_id] not in broken]
            results = [
                Result(m.delivery_id, "temporary", broken[names[m.delivery_id]])
                for m in messages
                if names[m.delivery_id] in broken
            ]
            results += loop.run_until_complete(_send_all(channels, sendable, names))
            record(broadcast, results, {c.delivery_id: c for c in claimed}, dropped, report)
    finally:
        loop.run_until_complete(_close(channels))
        loop.close()
    report.finished = _finish_if_done(broadcast)
    report.seconds = time.perf_counter() - began
    return report


def _finish_if_done(broadcast: Broadcast) -> bool:
    """Mark the broadcast sent when nothing is left; otherwise come back when the next is due."""
    from machi.notify import tasks

    left, due = _pending(broadcast)
    if left:
        if due is not None:
            when = max(due, timezone.now() + dt.timedelta(seconds=1))
            tasks.deliver.schedule((str(broadcast.pk),), eta=when)
        return False
    Broadcast.objects.filter(pk=broadcast.pk, status=BroadcastStatus.SENDING).update(
        status=BroadcastStatus.SENT, finished_at=timezone.now()
    )
    return True


def resume_all() -> list[str]:
    """Every broadcast still sending gets a runner (after a worker restart, and each minute)."""
    from machi.notify import tasks

    started = [str(b.pk) for b in services.broadcast_start_due()]
    sending = Broadcast.objects.filter(status=BroadcastStatus.SENDING).values_list("pk", flat=True)
    ids = sorted({*started, *(str(pk) for pk in sending)})
    for broadcast_id in ids:
        tasks.deliver(broadcast_id)
    return ids
