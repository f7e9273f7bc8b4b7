"""How the insights page writes its numbers: shares as per cents, durations in words, and
「記録がありません」 where a figure has nothing to be computed from."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return _("No records")
    return f"{100 * value:.{int(digits)}f}%"


@register.filter
def number(value: float | int | None, digits: int = 0) -> str:
    """Thousands separated (1,121), ``digits`` decimals."""
    if value is None:
        return _("No records")
    return f"{value:,.{int(digits)}f}"


@register.filter
def duration(seconds: float | None) -> str:
    """12 s, 3 min 20 s, 1 h 05 min."""
    if seconds is None:
        return _("No records")
    whole = round(seconds)
    if whole < 60:
        return _("%(s)s s") % {"s": whole}
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return _("%(m)s min %(s)02d s") % {"m": minutes, "s": secs}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)s h %(m)02d min") % {"h": hours, "m": minutes}
