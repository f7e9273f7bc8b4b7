"""Reads of the chronology (クロノロジー): a disaster's timeline, filtered, for pages and the API.

The chronology is append-only; a correction is a new line. So a line read once never changes,
and a cursor of (time, id) pages through it stably, newest first, while lines keep arriving.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from machi.core import access, japanese
from machi.core.roles import Action
from machi.emergency import selectors
from machi.emergency.models import ChronologyEntry, Department, Disaster

PAGE_SIZE = 100
API_LIMIT = 500


@dataclass(frozen=True)
class ChronologyFilter:
    """What to show. ``disaster`` None means the lines recorded outside any disaster (平常時)."""

    disaster: Disaster | None = None
    kinds: tuple[str, ...] = ()
    important: bool | None = None  # True: important only; False: the others only
    q: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def describe(self) -> dict[str, Any]:
        """The filters as plain values, for the audit log's detail."""
        described: dict[str, Any] = {"disaster": self.disaster.pk if self.disaster else None}
        if self.kinds:
            described["kinds"] = list(self.kinds)
        if self.important is not None:
            described["important"] = self.important
        if self.q:
            described["q"] = self.q
        if self.since:
            described["since"] = self.since.isoformat()
        if self.until:
            described["until"] = self.until.isoformat()
        return described


def disaster_by_id(disaster_id: int) -> Disaster | None:
    return Disaster.objects.filter(pk=disaster_id).first()


def disaster_default() -> Disaster | None:
    """The timeline people see first: the current disaster's, or 平常時 when none is active."""
    return selectors.disaster_current()


def disasters_to_choose() -> QuerySet[Disaster]:
    return selectors.disasters_all()


def chronology_search(user: Any, filters: ChronologyFilter) -> QuerySet[ChronologyEntry]:
    """The lines the user may read that match the filters, newest first."""
    queryset = access.scope(user, Action.READ, ChronologyEntry.objects.all())
    if filters.disaster is None:
        queryset = queryset.filter(disaster__isnull=True)
    else:
        queryset = queryset.filter(disaster=filters.disaster)
    if filters.kinds:
        queryset = queryset.filter(kind__in=filters.kinds)
    if filters.important is not None:
        queryset = queryset.filter(important=filters.important)
    if filters.since is not None:
        queryset = queryset.filter(at__gte=filters.since)
    if filters.until is not None:
        queryset = queryset.filter(at__lte=filters.until)
    query = " ".join(filters.q.split())
    if query:
        # Lines are stored as typed (全角 or 半角): match the words as typed or NFKC-normalised.
        for word in query.split(" "):
            condition = Q()
            for form in dict.fromkeys((word, japanese.normalize(word))):
                condition |= (
                    Q(text__icontains=form)
                    | Q(actor__icontains=form)
                    | Q(department__icontains=form)
                )
            queryset = queryset.filter(condition)
    return queryset.order_by("-at", "-id")


def chronology_in_time_order(user: Any, filters: ChronologyFilter) -> QuerySet[ChronologyEntry]:
    """The same lines, oldest first: how a chronology is read on paper."""
    return chronology_search(user, filters).order_by("at", "id")


# --- Cursors for the API ----------------------------------------------------------------------


class CursorError(ValueError):
    """A cursor that this server did not make."""


def cursor_after(entry: ChronologyEntry) -> str:
    raw = f"{entry.at.isoformat()}|{entry.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def chronology_before_cursor(
    queryset: QuerySet[ChronologyEntry], cursor: str
) -> QuerySet[ChronologyEntry]:
    """The lines after ``cursor`` in newest-first order (older, or as old with a lower id)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at_text, id_text = base64.urlsafe_b64decode(padded).decode().split("|")
        at, entry_id = dt.datetime.fromisoformat(at_text), int(id_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CursorError("not a cursor of this list") from exc
    if at.tzinfo is None:
        raise CursorError("not a cursor of this list")
    return queryset.filter(Q(at__lt=at) | Q(at=at, pk__lt=entry_id))


# --- Who writes ------------------------------------------------------------------------------


def department_of(user: Any) -> str:
    """The department a person writes for: their first 課 (Department), else their profile's."""
    first = Department.objects.filter(members=user).order_by("order", "name").first()
    if first is not None:
        return first.name
    return str(getattr(user, "department", "") or "")


def department_names() -> list[str]:
    """The city's departments (課), offered when typing a line."""
    return list(Department.objects.order_by("order", "name").values_list("name", flat=True))
