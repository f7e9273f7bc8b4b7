"""Server-rendered SVG charts of the insights page: readable without JavaScript, under the CSP.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>``
(what it shows and its largest values); each bar carries its value in its own ``<title>``. The
page prints the same numbers in a table next to it: a chart is never the only way to read them.
No ``style`` attribute anywhere (the CSP forbids inline styles): presentation attributes
(x, y, width, height) and the CSS classes of insights/insights.css only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from machi.core.charts import nice_ceiling

_ids = itertools.count(1)

WIDTH = 720
LEFT = 48
RIGHT = 12
TOP = 28
BOTTOM = 36


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # chart__bar--<css>
    values: Sequence[int]


def _open(chart_id: str, height: int, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]


def _legend(series: Sequence[Series]) -> list[str]:
    parts = ['<g class="chart__legend" aria-hidden="true">']
    x = LEFT
    for one in series:
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" class="chart__bar chart__bar--{one.css}"/>'
            f'<text x="{x + 16}" y="16" class="chart__label">{escape(one.name)}</text>'
        )
        x += 24 + 9 * len(one.name) + (7 * sum(1 for ch in one.name if ord(ch) > 0x2E80))
    parts.append("</g>")
    return parts


def stacked_columns(
    labels: Sequence[str], series: Sequence[Series], *, title: str, unit: str, height: int = 240
) -> SafeString:
    """Columns, one per label, each the stack of the series' values (bottom to top)."""
    chart_id = f"insights-chart-{next(_ids)}"
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = height - TOP - BOTTOM
    totals = [sum(one.values[i] for one in series) for i in range(len(labels))]
    top = nice_ceiling(max(totals, default=0))
    if any(totals):
        peak = max(range(len(labels)), key=lambda i: totals[i])
        description = _(
            "%(n)s columns from %(first)s to %(last)s; the highest: %(value)s %(unit)s (%(at)s)."
        ) % {
            "n": len(labels),
            "first": labels[0],
            "last": labels[-1],
            "value": f"{totals[peak]:,}",
            "unit": unit,
            "at": labels[peak],
        }
    else:
        description = _("No records.")
    parts = _open(chart_id, height, title, description)
    if len(series) > 1:
        parts += _legend(series)
    parts.append('<g class="chart__grid" aria-hidden="true">')
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + inner_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="chart__gridline"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart__label">'
            f"{escape(f'{top * fraction:,g}')}</text>"
        )
    parts.append("</g><g>")
    count = max(1, len(labels))
    slot = inner_w / count
    bar_w = max(1.0, slot * 0.75)
    baseline = TOP + inner_h
    for index, label in enumerate(labels):
        y = float(baseline)
        x = LEFT + index * slot + (slot - bar_w) / 2
        for one in series:
            value = one.values[index]
            h = inner_h * value / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'class="chart__bar chart__bar--{one.css}"><title>{escape(label)} '
                f"{escape(one.name)}: {value:,} {escape(unit)}</title></rect>"
            )
    parts.append('</g><g class="chart__axis" aria-hidden="true">')
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{baseline}" y2="{baseline}" '
        f'class="chart__baseline"/>'
    )
    every = max(1, -(-count // 12))  # at most a dozen labels under the axis
    for index, label in enumerate(labels):
        if index % every:
            continue
        x = LEFT + index * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{baseline + 16}" text-anchor="middle" class="chart__label">'
            f"{escape(label)}</text>"
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped or a number


def share_bars(rows: Sequence[tuple[str, float | None]], *, title: str) -> SafeString:
    """Horizontal bars of shares (0–1), one per row; a row without a share says so."""
    chart_id = f"insights-chart-{next(_ids)}"
    row_h = 28
    label_w = 220
    height = TOP + row_h * max(1, len(rows)) + 8
    inner_w = WIDTH - label_w - RIGHT - 56
    known = [(label, value) for label, value in rows if value is not None]
    if known:
        description = "; ".join(f"{label}: {value:.0%}" for label, value in known)
    else:
        description = _("No records.")
    parts = _open(chart_id, height, title, description)
    parts.append('<g class="chart__grid" aria-hidden="true">')
    for fraction in (0.0, 0.5, 1.0):
        x = label_w + inner_w * fraction
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP - 6}" y2="{height - 8}" '
            f'class="chart__gridline"/>'
            f'<text x="{x:.1f}" y="{TOP - 10}" text-anchor="middle" class="chart__label">'
            f"{fraction:.0%}</text>"
        )
    parts.append("</g>")
    for index, (label, value) in enumerate(rows):
        y = TOP + index * row_h
        short = label if len(label) <= 16 else label[:15] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 18}" text-anchor="end" class="chart__label">'
            f"{escape(short)}</text>"
        )
        if value is None:
            parts.append(
                f'<text x="{label_w + 4}" y="{y + 18}" class="chart__label chart__label--none">'
                f"{escape(_('No records'))}</text>"
            )
            continue
        width = inner_w * max(0.0, min(1.0, value))
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{row_h - 10}" '
            f'class="chart__bar chart__bar--share"><title>{escape(label)}: {value:.1%}</title>'
            f"</rect>"
            f'<text x="{label_w + width + 6:.1f}" y="{y + 18}" class="chart__label">'
            f"{value:.0%}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped or a number
