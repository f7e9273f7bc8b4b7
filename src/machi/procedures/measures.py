"""Measures for the insights room: how residents apply, and how long it takes.

Per procedure: applications by channel (online / counter), the share submitted out of office
hours (evenings, weekends, public holidays: the hours Shibuya's argument is about), and the
median and 90th percentile of the days from submission to completion (sent, or rejected).
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from django.db.models import Count, Q

from machi.procedures.models import Application, Procedure, Status


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def procedure_measures(*, since: dt.date | None = None) -> list[dict[str, Any]]:
    found = Application.objects.all()
    if since is not None:
        found = found.filter(submitted_at__date__gte=since)
    counts = {
        row["procedure"]: row
        for row in found.values("procedure").annotate(
            total=Count("pk"),
            online=Count("pk", filter=Q(channel="online")),
            counter=Count("pk", filter=Q(channel="counter")),
            out_of_hours=Count("pk", filter=Q(out_of_hours=True)),
        )
    }
    durations: dict[int, list[float]] = {}
    done = found.filter(status__in=[Status.SENT, Status.REJECTED], completed_at__isnull=False)
    for procedure_id, submitted, completed in done.values_list(
        "procedure", "submitted_at", "completed_at"
    ).iterator(chunk_size=5000):
        if completed is None:
            continue
        durations.setdefault(procedure_id, []).append(
            (completed - submitted).total_seconds() / 86400
        )
    rows = []
    for procedure in Procedure.objects.all():
        c = counts.get(procedure.pk, {"total": 0, "online": 0, "counter": 0, "out_of_hours": 0})
        days = sorted(durations.get(procedure.pk, []))
        rows.append(
            {
                "procedure": procedure.slug,
                "name": procedure.name,
                "applications": c["total"],
                "online": c["online"],
                "counter": c["counter"],
                "out_of_hours": c["out_of_hours"],
                "out_of_hours_share": round(c["out_of_hours"] / c["total"], 3)
                if c["total"]
                else 0.0,
                "completed": len(days),
                "median_days": round(statistics.median(days), 2) if days else None,
                "p90_days": round(_percentile(days, 0.9), 2) if days else None,
            }
        )
    return rows
