"""The period the figures cover: two dates in Japan's time, both included, and the presets the
page offers (the last 30 days, this and last fiscal year (年度, April to March), this month)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

# A longer period is refused: the page compares months, not decades.
MAX_DAYS = 366 * 10


@dataclass(frozen=True)
class Period:
    start: dt.date  # first day, included
    end: dt.date  # last day, included

    @property
    def since(self) -> dt.datetime:
        """00:00 of the first day, Japan time (aware)."""
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def until(self) -> dt.datetime:
        """00:00 of the day after the last (aware): records before it are in the period."""
        return timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time()))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def query(self) -> str:
        return f"from={self.start.isoformat()}&to={self.end.isoformat()}"


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    period: Period


def fiscal_year_start(day: dt.date) -> dt.date:
    """1 April of the fiscal year (年度) the day belongs to."""
    return dt.date(day.year if day.month >= 4 else day.year - 1, 4, 1)


def presets(today: dt.date | None = None) -> list[Preset]:
    today = today or timezone.localdate()
    this_fy = fiscal_year_start(today)
    last_fy = dt.date(this_fy.year - 1, 4, 1)
    return [
        Preset(
            "last30",
            _("Last 30 days"),
            Period(today - dt.timedelta(days=29), today),
        ),
        Preset("month", _("This month"), Period(today.replace(day=1), today)),
        Preset("fy", _("This fiscal year (to date)"), Period(this_fy, today)),
        Preset(
            "last_fy",
            _("Last fiscal year"),
            Period(last_fy, this_fy - dt.timedelta(days=1)),
        ),
    ]


def default_period(today: dt.date | None = None) -> Period:
    """This fiscal year to date: the unit a city accounts in."""
    today = today or timezone.localdate()
    return Period(fiscal_year_start(today), today)
