"""Writes of the weather desk: JMA warnings (気象庁防災情報XML) and CAP alerts of other authorities.

JMA messages come from the feed poller (``jma_poll``, once a minute in the worker), from files
(``machi jma ingest``, the console's upload) and from the API. Each is stored once, by its feed
entry id (or the SHA-256 of the file), whatever it says: a message that cannot be read is kept
as *rejected* with the reason, so it is never downloaded again and HQ can see why.

A message about the city updates ``JmaWarning``: one row per area, kind of warning and code.
Messages can arrive out of order (a retried download, a file uploaded late), so a row changes
only for a message reported later than the one that last set it. What changed is written to
the chronology in one line per message, and the city's declaration rules are applied to the
kinds newly in force. Nothing here uses signals: ``jma_ingest`` calls each step explicitly.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from machi.core import selectors as core_selectors
from machi.core import services as core_services
from machi.core.hazards import Hazard
from machi.core.models import User
from machi.core.roles import Action
from machi.emergency import cap, jma, jma_feed, selectors, services
from machi.emergency.jma import AreaWarning, Family, JmaMessage, JmaRejected, XmlRejected
from machi.emergency.models import (
    ChronologyKind,
    DeclarationRule,
    DeclarationRuleAction,
    Disaster,
    IncomingAlert,
    JmaEntry,
    JmaEntryStatus,
    JmaFeed,
    JmaWarning,
    Suggestion,
)

__all__ = [
    "AlertError",
    "PollSummary",
    "WeatherError",
    "alert_fetch",
    "alert_receive",
    "file_entry_id",
    "jma_ingest",
    "jma_poll",
    "jma_upload",
    "jma_warnings_expire",
    "rule_create",
    "rule_deactivate",
    "suggestion_declare",
    "suggestion_dismiss",
]

log = logging.getLogger(__name__)


class WeatherError(ValueError):
    """A request of HQ that cannot be done (a rule without a name, a suggestion handled twice)."""


class AlertError(ValueError):
    """A CAP alert that cannot be received; ``field`` is what to fix ("document" or "url")."""

    def __init__(self, reason: str, *, line: int | None = None, field: str = "document") -> None:
        self.reason = reason
        self.line = line
        self.field = field
        super().__init__(f"{reason} (line {line})" if line else reason)


# --- JMA messages -----------------------------------------------------------------------------

# The chronology names a message by what it is (never by JMA's title, which changes).
FAMILY_WORDS: Final = {
    Family.WEATHER_WARNING: "気象警報",
    Family.LANDSLIDE_ALERT: "土砂災害警戒情報",
    Family.FLOOD_FORECAST: "指定河川洪水予報",
    Family.TSUNAMI: "津波警報",
    Family.EARTHQUAKE: "地震情報",
}

# Families whose messages state, for every area they list, every kind in force there (JMA's
# 気象警報・注意報 list each area's full set; 土砂災害警戒情報 and 指定河川洪水予報 one kind
# per area and river): a kind stored for such an area but absent from a later message is no
# longer in force. That is how "大雨特別警報 → 大雨注意報（特別警報から注意報）" lifts the 特別警報.
FULL_STATE_FAMILIES: Final = frozenset(
    {Family.WEATHER_WARNING, Family.LANDSLIDE_ALERT, Family.FLOOD_FORECAST}
)

# Information that no later message lifts, kept on the board for a while instead: JMA gives a
# 竜巻注意情報 an hour of validity (「有効期間は発表から約1時間」); an observed seismic intensity
# is kept for the day of the earthquake (Machi's choice). Counted from when Machi received it,
# so a message received late is still shown for the whole period.
EVENT_LIFETIMES: Final = {
    Family.OTHER_WARNING: dt.timedelta(hours=1),
    Family.EARTHQUAKE: dt.timedelta(hours=24),
}

# Statuses of JMA's Control/Status other than 通常 (a real message).
TRAINING_WORDS: Final = {"訓練": "【訓練】", "試験": "【試験】"}


def file_entry_id(data: bytes) -> str:
    """The entry id of a message that came as a file: the same file is stored once."""
    return "file:" + hashlib.sha256(data).hexdigest()


def _accept_training() -> bool:
    return bool(getattr(settings, "MACHI_JMA_ACCEPT_TRAINING", False))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def jma_ingest(data: bytes, *, entry_id: str, link: str = "", title: str = "") -> JmaEntry:
    """Store one JMA message and apply it to the city's warnings; idempotent by ``entry_id``.

    Never raises for a bad message: unsafe, malformed or invalid documents are stored as
    *rejected* with the reason (and logged). A database error does raise, and nothing is
    stored, so the poller tries the entry again on its next round.
    """
    known = JmaEntry.objects.filter(entry_id=entry_id).first()
    if known is not None:
        return known
    try:
        message = jma.parse_message(data, link=link)
    except (XmlRejected, JmaRejected) as exc:
        return _store_rejected(entry_id=entry_id, link=link, title=title, reason=str(exc))
    try:
        with transaction.atomic():
            return _apply(message, entry_id=entry_id, title=title)
    except IntegrityError:
        # Another process stored the same entry meanwhile (a poll beside an upload).
        known = JmaEntry.objects.filter(entry_id=entry_id).first()
        if known is not None:
            return known
        raise
    except DatabaseError:
        raise
    except Exception as exc:  # a message this code cannot apply must not stop the others
        log.exception("JMA message %s could not be applied", entry_id)
        return _store_rejected(
            entry_id=entry_id,
            link=link,
            title=title or message.head.title,
            reason=f"could not be applied: {type(exc).__name__}: {exc}",
        )


def _store_rejected(*, entry_id: str, link: str, title: str, reason: str) -> JmaEntry:
    log.warning("JMA message %s rejected: %s", entry_id, reason)
    try:
        with transaction.atomic():
            return JmaEntry.objects.create(
                entry_id=entry_id[:500],
                title=_clip(title or link.rsplit("/", 1)[-1], 200),
                type_code=(jma.type_code_from_link(link) or "")[:16],
                status=JmaEntryStatus.REJECTED,
                error=_clip(reason, 500),
            )
    except IntegrityError:
        return JmaEntry.objects.get(entry_id=entry_id[:500])


@dataclass(frozen=True, slots=True)
class _Change:
    """One change of state of one kind of warning in one area, for the chronology."""

    area_code: str
    area_name: str
    kind_name: str
    what: str  # issued | raised | lifted | cancelled
    level: int | None = None
    old_level: int | None = None

    def words(self) -> str:
        match self.what:
            case "issued" if self.level:
                return f"{self.kind_name}（レベル{self.level}）発表"
            case "issued":
                return f"{self.kind_name} 発表"
            case "raised" if self.old_level:
                return f"{self.kind_name}（レベル{self.old_level}→{self.level}）"
            case "raised":
                return f"{self.kind_name}（レベル{self.level}）"
            case "cancelled":
                return f"{self.kind_name} 取消"
            case _:
                return f"{self.kind_name} 解除"

    @property
    def serious(self) -> bool:
        """Worth HQ's attention at once: level 3 or more, or a 特別警報."""
        if self.what not in ("issued", "raised"):
            return False
        return (self.level or 0) >= 3 or "特別警報" in self.kind_name


def _in_force(row: JmaWarning, now: dt.datetime) -> bool:
    if not row.active:
        return False
    until = row.detail.get("until") if isinstance(row.detail, dict) else None
    return not until or dt.datetime.fromisoformat(until) > now


def _key(warning: AreaWarning, message: JmaMessage) -> str:
    """What, with the area and the kind code, identifies one row of JmaWarning.

    The R06 warnings come as one message type per group of hazards (VPWW55–61) and reuse some
    codes of the older format with another meaning (08 was 高潮警報 at level 4, is now レベル３
    高潮警報), so their rows are kept apart per type; a flood forecast is per river.
    """
    key = warning.warning_type or message.head.info_kind
    if message.family is Family.WEATHER_WARNING and message.type_code in jma.R06_GROUPS:
        key = f"{key}／{message.type_code}"
    elif message.family is Family.FLOOD_FORECAST and warning.extra.get("river"):
        key = f"{key}：{warning.extra['river']}"
    return key[:100]


def _apply(message: JmaMessage, *, entry_id: str, title: str) -> JmaEntry:
    municipality = core_selectors.municipality_current()
    training = not message.is_real
    entry = JmaEntry(
        entry_id=entry_id[:500],
        title=_clip(message.head.title or message.control.title or title, 200),
        type_code=(message.type_code or "")[:16],
        info_type=message.head.info_type[:16],
        headline=message.head.headline,
        office=_clip(message.control.publishing_office or message.control.editorial_office, 100),
        reported_at=message.head.report_date_time,
        is_training=training,
    )
    if municipality is None:
        entry.status = JmaEntryStatus.NOT_HERE
        entry.error = "no municipality is set up yet (machi init)"
        entry.save()
        return entry
    now = timezone.now()
    # A cancellation (取消) withdraws what its event set; whatever its Body repeats is not
    # applied again.
    cancelled = _cancelled_rows(message, now) if message.is_cancellation else []
    ours = [] if message.is_cancellation else jma.warnings_for(message, lgcode=municipality.lgcode)
    applies = not training or _accept_training()
    entry.status = JmaEntryStatus.STORED if ours or cancelled else JmaEntryStatus.NOT_HERE
    entry.save()
    if not applies or entry.status == JmaEntryStatus.NOT_HERE:
        return entry

    changes: list[_Change] = []
    newly: list[JmaWarning] = []
    if cancelled:
        changes += _cancel(cancelled, message, entry)
    if ours:
        found, raised = _upsert(message, ours, entry, now, training=training)
        changes += found
        newly += raised
    if changes:
        _record_changes(message, entry, changes, training=training)
    if newly:
        _apply_rules(newly, training=training)
    return entry


def _cancelled_rows(message: JmaMessage, now: dt.datetime) -> list[JmaWarning]:
    """The rows still in force that the cancelled event set (取消: the event is withdrawn).

    An event is JMA's EventID within one family and office; 気象警報 carry no EventID, so for
    them the event is the office's warnings. Rows are few (one city): filtered here rather
    than through JSON lookups that differ between SQLite and PostgreSQL.
    """
    office = message.control.publishing_office or message.control.editorial_office
    found = []
    for row in JmaWarning.objects.select_for_update().filter(
        active=True, reported_at__lte=message.head.report_date_time
    ):
        detail = row.detail if isinstance(row.detail, dict) else {}
        if (
            detail.get("family") == message.family.value
            and detail.get("event_id", "") == message.head.event_id
            and detail.get("office", "") == office
            and _in_force(row, now)
        ):
            found.append(row)
    return found


def _cancel(rows: list[JmaWarning], message: JmaMessage, entry: JmaEntry) -> list[_Change]:
    changes = []
    for row in rows:
        row.active = False
        row.status = "取消"
        row.level = None
        row.reported_at = message.head.report_date_time
        row.entry = entry
        row.save(update_fields=["active", "status", "level", "reported_at", "entry"])
        changes.append(_Change(row.area_code, row.area_name, row.kind_name, "cancelled"))
    return changes


def _upsert(
    message: JmaMessage,
    ours: list[AreaWarning],
    entry: JmaEntry,
    now: dt.datetime,
    *,
    training: bool,
) -> tuple[list[_Change], list[JmaWarning]]:
    """Bring the rows of the areas in ``ours`` up to this message; (changes, newly in force)."""
    reported = message.head.report_date_time
    office = message.control.publishing_office or message.control.editorial_office
    lifetime = EVENT_LIFETIMES.get(message.family)
    areas = {w.area_code for w in ours}
    stored = {
        (row.area_code, row.warning_type, row.kind_code): row
        for row in JmaWarning.objects.select_for_update().filter(area_code__in=areas)
    }
    full_state = message.family in FULL_STATE_FAMILIES
    # When a message stating an area's full set is newer than this one, this one says nothing
    # new about the area, not even about kinds that have no row (they were lifted since).
    latest: dict[tuple[str, str], dt.datetime] = {}
    for (area_code, key, _code), known in stored.items():
        if latest.get((area_code, key)) is None or known.reported_at > latest[(area_code, key)]:
            latest[(area_code, key)] = known.reported_at
    changes: list[_Change] = []
    newly: list[JmaWarning] = []
    mentioned: dict[tuple[str, str], set[str]] = {}
    for warning in ours:
        key = _key(warning, message)
        if full_state and latest.get((warning.area_code, key), reported) > reported:
            continue
        codes = mentioned.setdefault((warning.area_code, key), set())
        if not (warning.kind_code or warning.kind_name):
            continue  # 「発表警報・注意報はなし」: nothing in force, which the full state says
        code = (warning.kind_code or warning.kind_name)[:16]
        codes.add(code)
        row = stored.get((warning.area_code, key, code))
        if row is not None and row.reported_at >= reported:
            continue  # this message is older than what the row shows (or the same time)
        was = row is not None and _in_force(row, now)
        old_level = row.level if row is not None and was else None
        old_event = row.detail.get("event_id") if row is not None else None
        active = warning.in_force
        level = warning.kind_level if active else None
        detail: dict[str, Any] = {
            "family": message.family.value,
            "type_code": message.type_code or "",
            "event_id": message.head.event_id,
            "office": office,
            "code_type": warning.code_type,
            "extra": warning.extra,
        }
        if training:
            detail["training"] = True
        if lifetime is not None and active:
            detail["until"] = (now + lifetime).isoformat()
        values = {
            "area_name": warning.area_name[:100],
            "kind_name": (warning.kind_name or code)[:100],
            "status": warning.status[:32],
            "level": level,
            "hazard": warning.hazard[:16],
            "active": active,
            "reported_at": reported,
            "entry": entry,
            "detail": detail,
        }
        if row is None:
            row = JmaWarning.objects.create(
                area_code=warning.area_code, warning_type=key, kind_code=code, **values
            )
            stored[(warning.area_code, key, code)] = row
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.save()
        # An earthquake is a new event under a new EventID, even at the same intensity.
        new_event = lifetime is not None and old_event != message.head.event_id
        if active and (not was or new_event):
            changes.append(
                _Change(warning.area_code, row.area_name, row.kind_name, "issued", level)
            )
            newly.append(row)
        elif active and was and level is not None and (old_level or 0) < level:
            changes.append(
                _Change(warning.area_code, row.area_name, row.kind_name, "raised", level, old_level)
            )
            newly.append(row)
        elif not active and was:
            changes.append(_Change(warning.area_code, row.area_name, row.kind_name, "lifted"))

    if full_state or lifetime is not None:
        for (area_code, key), codes in mentioned.items():
            for (row_area, row_key, row_code), row in stored.items():
                if (row_area, row_key) != (area_code, key) or row_code in codes:
                    continue
                if not row.active or row.reported_at >= reported:
                    continue
                row.active = False
                if not full_state:
                    # A later intensity of the same place replaces the earlier one (震度5弱
                    # revised to 5強): not a lifting, so no line in the chronology.
                    row.save(update_fields=["active"])
                    continue
                row.status = "解除"
                row.level = None
                row.reported_at = reported
                row.entry = entry
                row.save(update_fields=["active", "status", "level", "reported_at", "entry"])
                changes.append(_Change(row.area_code, row.area_name, row.kind_name, "lifted"))
    return changes, newly


_WHAT_ORDER: Final = {"issued": 0, "raised": 1, "lifted": 2, "cancelled": 3}


def _record_changes(
    message: JmaMessage, entry: JmaEntry, changes: list[_Change], *, training: bool
) -> None:
    """One chronology line per message.

    For example 「気象警報: 戸田市 大雨警報（レベル3）発表、洪水警報 解除」.
    """
    by_area: dict[tuple[str, str], list[_Change]] = {}
    for change in changes:
        by_area.setdefault((change.area_code, change.area_name), []).append(change)
    parts = []
    for (_, area_name), found in sorted(by_area.items()):
        found.sort(key=lambda c: _WHAT_ORDER.get(c.what, 9))
        parts.append(f"{area_name} " + "、".join(c.words() for c in found))
    label = FAMILY_WORDS.get(message.family) or message.head.info_kind or message.control.title
    if message.is_cancellation:
        label += " 取消"
    prefix = TRAINING_WORDS.get(message.control.status, "") if training else ""
    services.chronology_record(
        kind=ChronologyKind.WEATHER,
        text=f"{prefix}{label}: " + "／".join(parts),
        record=entry,
        important=any(c.serious for c in changes),
        actor="",
    )


def _rule_matches(rule: DeclarationRule, row: JmaWarning) -> bool:
    codes = [str(c) for c in rule.kind_codes or []]
    if codes and row.kind_code not in codes:
        return False
    return rule.min_level is None or (row.level is not None and row.level >= rule.min_level)


def disaster_name_for(row: JmaWarning) -> str:
    """The name a declaration from a warning gets: 「2024年8月31日 大雨特別警報（戸田市）」."""
    day = timezone.localtime(row.reported_at)
    return f"{day.year}年{day.month}月{day.day}日 {row.kind_name}（{row.area_name}）"


def _warning_words(row: JmaWarning) -> str:
    level = f"（レベル{row.level}）" if row.level else ""
    return f"{row.area_name} {row.kind_name}{level}"


def _apply_rules(rows: list[JmaWarning], *, training: bool) -> None:
    """The city's declaration rules, for the kinds newly in force (or at a higher level).

    The active rules are locked for the transaction, so two messages applied at once (the
    poller and an upload) cannot both declare. A rule only acts while no disaster is active:
    once one is, a match is only recorded.
    """
    rules = list(DeclarationRule.objects.select_for_update().filter(active=True).order_by("pk"))
    if not rules:
        return
    disaster: Disaster | None = selectors.disasters_active().first()
    prefix = "【訓練】" if training else ""
    for row in rows:
        for rule in rules:
            if not _rule_matches(rule, row):
                continue
            if disaster is not None:
                services.chronology_record(
                    kind=ChronologyKind.WEATHER,
                    text=f"{prefix}宣言ルール「{rule.name}」に該当: {_warning_words(row)}"
                    f"（災害対策本部設置中: {disaster.name}）",
                    disaster=disaster,
                    record=row,
                    actor="",
                )
            elif rule.action == DeclarationRuleAction.DECLARE:
                disaster = services.disaster_declare(
                    name=prefix + disaster_name_for(row),
                    hazards=[rule.hazard],
                    declared_by=None,
                    is_exercise=training,
                )
                services.chronology_record(
                    kind=ChronologyKind.WEATHER,
                    text=f"{prefix}宣言ルール「{rule.name}」により自動設置: {_warning_words(row)}",
                    disaster=disaster,
                    record=row,
                    important=True,
                    actor="",
                )
            else:
                if Suggestion.objects.filter(
                    rule=rule, warning=row, handled_at__isnull=True
                ).exists():
                    continue
                suggestion = Suggestion.objects.create(
                    rule=rule,
                    warning=row,
                    text=_clip(
                        f"{prefix}{_warning_words(row)}: 災害対策本部の設置を検討してください"
                        f"（ルール「{rule.name}」）",
                        300,
                    ),
                )
                services.chronology_record(
                    kind=ChronologyKind.WEATHER,
                    text=f"宣言の提案: {suggestion.text}",
                    record=row,
                    important=True,
                    actor="",
                )


def jma_warnings_expire(*, now: dt.datetime | None = None) -> int:
    """Mark as no longer in force the events whose time on the board is over (竜巻注意情報…)."""
    now = now or timezone.now()
    ended = [
        row.pk
        for row in JmaWarning.objects.filter(active=True).only("pk", "active", "detail")
        if not _in_force(row, now)
    ]
    if ended:
        JmaWarning.objects.filter(pk__in=ended).update(active=False)
    return len(ended)


@dataclass(frozen=True, slots=True)
class JmaUpload:
    entry: JmaEntry
    known: bool  # the same file had been stored before: nothing was done


def jma_upload(*, data: bytes, name: str = "") -> JmaUpload:
    """A message given as a file (console, API, ``machi jma ingest``), stored once per content."""
    entry_id = file_entry_id(data)
    known = JmaEntry.objects.filter(entry_id=entry_id).first()
    if known is not None:
        return JmaUpload(known, True)
    entry = jma_ingest(data, entry_id=entry_id, link=name, title=name)
    core_services.audit_record(
        action=Action.CREATE,
        record=entry,
        detail={"file": name[:200], "status": entry.status, "bytes": len(data)},
    )
    return JmaUpload(entry, False)


# --- Polling JMA's feeds ------------------------------------------------------------------------

# A poll holds its feed for this long at most without showing progress: a poller that died
# mid-poll does not stop the others for longer (each message fetched renews the claim).
POLL_LEASE: Final = dt.timedelta(minutes=2)
POLLING: Final = "polling"


@dataclass(frozen=True, slots=True)
class PollSummary:
    """What one poll of one feed did."""

    url: str
    skipped: str = ""  # why the feed was not polled (another process is polling it)
    error: str = ""  # the feed itself could not be read
    not_modified: bool = False
    entries: int = 0  # entries listed in the feed
    fetched: int = 0  # messages downloaded (new entries)
    stored: int = 0
    not_here: int = 0
    rejected: int = 0
    failed: int = 0  # downloads (or applications) that failed: retried at the next poll
    seconds: float = 0.0
    failures: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.error and not self.failed

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.url}: skipped ({self.skipped})"
        if self.error:
            return f"{self.url}: feed error: {self.error}"
        if self.not_modified:
            return f"{self.url}: not modified (304) in {self.seconds:.2f} s"
        return (
            f"{self.url}: {self.entries} entries, {self.fetched} new: {self.stored} stored, "
            f"{self.not_here} not about the city, {self.rejected} rejected, "
            f"{self.failed} failed (retried next poll) in {self.seconds:.2f} s"
        )


def _claim(feed: JmaFeed, now: dt.datetime, min_interval: dt.timedelta) -> bool:
    """Take the feed for one poll, unless another process is polling it (or just did).

    A conditional UPDATE, so two workers (or a worker and ``machi jma poll``) never poll one
    feed at the same time: each entry is downloaded once, as JMA asks.
    """
    free = ~Q(last_status=POLLING) & (
        Q(polled_at__isnull=True) | Q(polled_at__lte=now - min_interval)
    )
    stale = Q(polled_at__isnull=True) | Q(polled_at__lte=now - POLL_LEASE)
    claimed = (
        JmaFeed.objects.filter(pk=feed.pk)
        .filter(free | stale)
        .update(polled_at=now, last_status=POLLING)
    )
    return claimed == 1


def _renew(feed: JmaFeed) -> None:
    JmaFeed.objects.filter(pk=feed.pk, last_status=POLLING).update(polled_at=timezone.now())


def _seen_function() -> Callable[[str], bool]:
    # The feeds list the last minutes (or days, for *_l): the ids of the last week answer
    # almost every question from memory, the database the rest.
    recent = set(
        JmaEntry.objects.filter(received_at__gte=timezone.now() - dt.timedelta(days=7)).values_list(
            "entry_id", flat=True
        )
    )

    def seen(entry_id: str) -> bool:
        return entry_id in recent or JmaEntry.objects.filter(entry_id=entry_id).exists()

    return seen


def jma_poll(url: str, *, min_interval: dt.timedelta = dt.timedelta(0)) -> PollSummary:
    """Read one JMA feed conditionally and store every message not seen before.

    Downloads that fail are stored nowhere (counted and logged), so the next poll fetches them
    again; while any did, the feed's validators are not moved on. Never raises for the feed
    or its messages: a feed that cannot be read is recorded on its ``JmaFeed`` row.
    """
    began = time.perf_counter()
    feed, _ = JmaFeed.objects.get_or_create(url=url[:500])
    now = timezone.now()
    if not _claim(feed, now, min_interval):
        feed.refresh_from_db()
        since = timezone.localtime(feed.polled_at) if feed.polled_at else None
        return PollSummary(
            url=url, skipped=f"another poll began at {since:%H:%M:%S}" if since else "busy"
        )
    jma_warnings_expire(now=now)
    state = jma_feed.FeedState(etag=feed.etag or None, last_modified=feed.last_modified or None)

    def fetch_message(link: str) -> bytes:
        _renew(feed)
        return jma_feed.fetch(link, max_bytes=jma_feed.MESSAGE_MAX_BYTES).body

    try:
        result = jma_feed.poll(url, state=state, seen=_seen_function(), fetch_message=fetch_message)
    except jma_feed.FeedError as exc:
        log.warning("JMA feed %s could not be read: %s", url, exc)
        _finish(feed, state, status="error", error=str(exc))
        return PollSummary(url=url, error=str(exc), seconds=time.perf_counter() - began)

    counts = dict.fromkeys(JmaEntryStatus.values, 0)
    failures: list[str] = []
    for fetched in result.fetched:
        if not fetched.ok or fetched.body is None:
            failures.append(f"{fetched.entry.link}: {fetched.error}")
            log.warning("JMA message %s not downloaded: %s", fetched.entry.link, fetched.error)
            continue
        try:
            entry = jma_ingest(
                fetched.body,
                entry_id=fetched.entry.id,
                link=fetched.entry.link,
                title=fetched.entry.title,
            )
        except Exception as exc:  # a database error: not stored, so tried again next poll
            log.exception("JMA message %s not stored", fetched.entry.link)
            failures.append(f"{fetched.entry.link}: {type(exc).__name__}: {exc}")
            continue
        counts[entry.status] += 1
        _renew(feed)
    # While anything failed, keep the old validators: the next poll reads the feed again
    # (200 instead of 304) and fetches only what is still missing.
    if failures:
        _finish(feed, state, status="partial", error=f"{len(failures)} failed: {failures[0]}")
    else:
        _finish(feed, result.state, status="not_modified" if result.not_modified else "ok")
    return PollSummary(
        url=url,
        not_modified=result.not_modified,
        entries=len(result.entries),
        fetched=len(result.fetched),
        stored=counts[JmaEntryStatus.STORED],
        not_here=counts[JmaEntryStatus.NOT_HERE],
        rejected=counts[JmaEntryStatus.REJECTED],
        failed=len(failures),
        seconds=time.perf_counter() - began,
        failures=tuple(failures),
    )


def _finish(feed: JmaFeed, state: jma_feed.FeedState, *, status: str, error: str = "") -> None:
    JmaFeed.objects.filter(pk=feed.pk).update(
        etag=(state.etag or "")[:200],
        last_modified=(state.last_modified or "")[:64],
        last_status=status,
        last_error=_clip(error, 500),
    )


# --- Declaration rules and suggestions ----------------------------------------------------------

_KIND_CODE = re.compile(r"[0-9A-Za-z+\-]{1,16}")


@transaction.atomic
def rule_create(
    *,
    name: str,
    kind_codes: Sequence[str] = (),
    min_level: int | None = None,
    hazard: Hazard | str,
    action: DeclarationRuleAction | str = DeclarationRuleAction.SUGGEST,
) -> DeclarationRule:
    """A rule of the city: which JMA warnings suggest (or declare) a disaster of which hazard."""
    name = " ".join(name.split())
    if not name:
        raise WeatherError("a rule needs a name")
    codes = list(dict.fromkeys(c.strip() for c in kind_codes if c.strip()))
    for code in codes:
        if not _KIND_CODE.fullmatch(code):
            raise WeatherError(f"not a JMA kind code: {code!r}")
    if min_level is not None and not 1 <= min_level <= 5:
        raise WeatherError("the minimum level must be between 1 and 5")
    if hazard not in Hazard.values:
        raise WeatherError(f"unknown hazard: {hazard}")
    if action not in DeclarationRuleAction.values:
        raise WeatherError(f"unknown action: {action}")
    rule = DeclarationRule.objects.create(
        name=name[:100],
        kind_codes=codes,
        min_level=min_level,
        hazard=str(hazard),
        action=str(action),
    )
    core_services.audit_record(
        action=Action.CREATE,
        record=rule,
        detail={"kind_codes": codes, "min_level": min_level, "action": str(action)},
    )
    return rule


@transaction.atomic
def rule_deactivate(*, rule: DeclarationRule) -> DeclarationRule:
    locked = DeclarationRule.objects.select_for_update().get(pk=rule.pk)
    if locked.active:
        locked.active = False
        locked.save(update_fields=["active"])
        core_services.audit_record(action=Action.UPDATE, record=locked, detail={"active": False})
    return locked


def _handle(suggestion: Suggestion, *, outcome: str, by: User | None) -> Suggestion:
    locked = (
        Suggestion.objects.select_for_update()
        .select_related("rule", "warning")
        .get(pk=suggestion.pk)
    )
    if locked.handled_at is not None:
        raise WeatherError("this suggestion has already been handled")
    locked.handled_at = timezone.now()
    locked.handled_by = by.get_username()[:150] if by is not None else ""
    locked.outcome = outcome
    locked.save(update_fields=["handled_at", "handled_by", "outcome"])
    return locked


@transaction.atomic
def suggestion_declare(*, suggestion: Suggestion, declared_by: User | None) -> Disaster:
    """HQ follows a suggestion: declare the disaster it proposes (named after the warning)."""
    locked = _handle(suggestion, outcome="declared", by=declared_by)
    training = bool(locked.warning.detail.get("training")) if locked.warning.detail else False
    disaster = services.disaster_declare(
        name=("【訓練】" if training else "") + disaster_name_for(locked.warning),
        hazards=[locked.rule.hazard],
        declared_by=declared_by,
        is_exercise=training,
    )
    core_services.audit_record(
        action=Action.UPDATE,
        record=locked,
        detail={"outcome": "declared", "disaster": disaster.pk},
    )
    return disaster


@transaction.atomic
def suggestion_dismiss(*, suggestion: Suggestion, dismissed_by: User | None) -> Suggestion:
    locked = _handle(suggestion, outcome="dismissed", by=dismissed_by)
    core_services.audit_record(action=Action.UPDATE, record=locked, detail={"outcome": "dismissed"})
    services.chronology_record(
        kind=ChronologyKind.WEATHER,
        text=f"宣言の提案を見送り: {locked.text}",
        record=locked.warning,
    )
    return locked


# --- CAP alerts of other authorities --------------------------------------------------------

_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")
STATUS_WORDS: Final = {
    "Exercise": "【訓練】",
    "Test": "【試験】",
    "System": "【システム】",
    "Draft": "【下書き】",
}
MSG_TYPE_WORDS: Final = {
    "Update": "（更新）",
    "Cancel": "（取消）",
    "Ack": "（受領）",
    "Error": "（誤り）",
}


def _document_text(data: bytes) -> str:
    """The alert as text, in the encoding it declares (CAP from the USGS is ISO-8859-1)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    match = _ENCODING.match(data)
    encoding = match[1].decode("ascii") if match else "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8"
    return data.decode(encoding, errors="replace")


def primary_info(parsed: cap.ParsedAlert) -> cap.ParsedInfo | None:
    """The info shown first: the Japanese one when the sender gave several languages."""
    for info in parsed.infos:
        if info.language.lower().startswith("ja"):
            return info
    return parsed.infos[0] if parsed.infos else None


def alert_receive(data: bytes, *, source_url: str = "", received_by: str = "") -> IncomingAlert:
    """Keep a CAP 1.1 or 1.2 alert of another authority, validated; once per sender+identifier.

    An Update or a Cancel is kept like any alert; the selectors show the alerts it references
    as superseded or cancelled. Raises ``AlertError`` (with the line) for anything that is not
    a safe, schema-valid CAP alert.
    """
    if len(source_url) > 500:
        raise AlertError("the address is longer than 500 characters", field="url")
    try:
        cap.validate_cap(data)  # safe, then schema-valid: the reason and line otherwise
        parsed = cap.parse_alert(data)
    except XmlRejected as exc:
        raise AlertError(exc.reason, line=exc.line) from exc
    known = IncomingAlert.objects.filter(sender=parsed.sender, identifier=parsed.identifier).first()
    if known is not None:
        return known
    info = primary_info(parsed)
    expiries = [i.expires for i in parsed.infos if i.expires is not None]
    areas = list(dict.fromkeys(a.desc for a in (info.areas if info else ()) if a.desc))
    try:
        with transaction.atomic():
            alert = IncomingAlert.objects.create(
                identifier=parsed.identifier[:300],
                sender=parsed.sender[:300],
                sent=parsed.sent,
                version=parsed.version,
                status=parsed.status[:16],
                msg_type=parsed.msg_type[:16],
                event=_clip(info.event if info else "", 300),
                headline=_clip(info.headline if info else "", 500),
                severity=(info.severity if info else "")[:16],
                urgency=(info.urgency if info else "")[:16],
                certainty=(info.certainty if info else "")[:16],
                area_desc=_clip("、".join(areas), 1000),
                expires=max(expiries) if expiries else None,
                source_url=source_url,
                document=_document_text(data),
                received_by=received_by[:150],
            )
            core_services.audit_record(
                action=Action.CREATE,
                record=alert,
                detail={"sender": parsed.sender[:200], "source_url": source_url[:200]},
            )
            who = (info.sender_name if info else "") or parsed.sender
            what = (info.headline or info.event if info else "") or parsed.identifier
            where = f"（{_clip(alert.area_desc, 200)}）" if alert.area_desc else ""
            services.chronology_record(
                kind=ChronologyKind.ALERT,
                text=f"{STATUS_WORDS.get(parsed.status, '')}他機関の警報"
                f"{MSG_TYPE_WORDS.get(parsed.msg_type, '')}: {who} — {what}{where}",
                record=alert,
                important=parsed.status == "Actual"
                and parsed.msg_type in ("Alert", "Update")
                and alert.severity in ("Extreme", "Severe"),
            )
            return alert
    except IntegrityError:
        known = IncomingAlert.objects.filter(
            sender=parsed.sender[:300], identifier=parsed.identifier[:300]
        ).first()
        if known is not None:
            return known
        raise


def _public_address(url: str) -> None:
    """Refuse an address inside the city's own network (loopback, private, link-local).

    HQ types the address, but the server fetches it: without this, the form would let anyone
    with the HQ role probe the internal network. ``MACHI_ALERT_FETCH_PRIVATE`` allows it
    (a closed network with its own alert server; the tests).
    """
    if getattr(settings, "MACHI_ALERT_FETCH_PRIVATE", False):
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise AlertError(f"cannot resolve {host!r}: {exc}", field="url") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            raise AlertError(f"{host} is not a public address ({address})", field="url")


def alert_fetch(url: str, *, received_by: str = "") -> IncomingAlert:
    """Fetch a CAP alert by its address (size and time limits of the JMA poller) and keep it."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AlertError("give an http or https address", field="url")
    if len(url) > 500:
        raise AlertError("the address is longer than 500 characters", field="url")
    _public_address(url)
    try:
        fetched = jma_feed.fetch(url, max_bytes=jma_feed.MESSAGE_MAX_BYTES)
    except jma_feed.FeedError as exc:
        raise AlertError(f"could not fetch the alert: {exc}", field="url") from exc
    return alert_receive(fetched.body, source_url=url, received_by=received_by)
