"""What the rooms' server-drawn SVG charts share."""

from __future__ import annotations


def nice_ceiling(value: float) -> int:
    """A round top for a chart's axis: 1, 2, 5, 10, 20, 50, …"""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10
