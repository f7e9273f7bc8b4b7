"""Server-side SVG charts: pages stay readable without JavaScript and under the CSP.

A chart is an ``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>``
(the largest value and when), with each bar's value in its own ``<title>`` (shown on hover).
The page also offers the same data as a table: a chart is never the only way to read it.
No ``style`` attributes (the CSP forbids them): presentation attributes and CSS classes of
wifi/monitor.css only.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from machi.core.charts import nice_ceiling

_ids = itertools.count(1)

WIDTH = 720
HEIGHT = 220
LEFT = 44
RIGHT = 8
TOP = 12
BOTTOM = 34


def hour_label(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def day_label(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%m/%d")


def bar_chart(
    series: Sequence[tuple[dt.datetime, int]],
    *,
    title: str,
    unit: str,
    tick: Callable[[dt.datetime], str | None],
    point_label: Callable[[dt.datetime], str] | None = None,
) -> SafeString:
    """Bars of ``(hour, value)``; ``tick`` says which hours get a label under the axis."""
    chart_id = f"chart-{next(_ids)}"
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM
    count = max(1, len(series))
    top = nice_ceiling(max((v for _, v in series), default=0))
    slot = inner_w / count
    bar_w = max(1.0, slot * 0.8)
    label_of = point_label or (lambda m: timezone.localtime(m).strftime("%Y-%m-%d %H:%M"))
    if series:
        peak_at, peak = max(series, key=lambda point: point[1])
        description = _(
            "%(n)s hours from %(start)s to %(end)s; the most: %(peak)s %(unit)s at %(at)s."
        ) % {
            "n": len(series),
            "start": label_of(series[0][0]),
            "end": label_of(series[-1][0]),
            "peak": peak,
            "unit": unit,
            "at": label_of(peak_at),
        }
    else:
        description = _("No data.")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        '<g class="chart__grid" aria-hidden="true">',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + inner_h * (1 - fraction)
        value = top * fraction
        shown = f"{value:g}"
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="chart__gridline"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="chart__label">{escape(shown)}</text>'
        )
    parts.append("</g>")
    parts.append('<g class="chart__bars">')
    for index, (moment, value) in enumerate(series):
        height = inner_h * value / top if top else 0
        x = LEFT + index * slot + (slot - bar_w) / 2
        y = TOP + inner_h - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
            f'class="chart__bar"><title>{escape(label_of(moment))}: '
            f"{value} {escape(unit)}</title></rect>"
        )
    parts.append("</g>")
    parts.append('<g class="chart__axis" aria-hidden="true">')
    baseline = TOP + inner_h
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{baseline}" y2="{baseline}" '
        f'class="chart__baseline"/>'
    )
    for index, (moment, _value) in enumerate(series):
        text = tick(moment)
        if text is None:
            continue
        x = LEFT + index * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{baseline + 16}" text-anchor="middle" '
            f'class="chart__label">{escape(text)}</text>'
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped or a number


def every_hours(step: int) -> Callable[[dt.datetime], str | None]:
    def tick(moment: dt.datetime) -> str | None:
        local = timezone.localtime(moment)
        return local.strftime("%H:%M") if local.hour % step == 0 else None

    return tick


def every_day(moment: dt.datetime) -> str | None:
    local = timezone.localtime(moment)
    return local.strftime("%m/%d") if local.hour == 0 else None
