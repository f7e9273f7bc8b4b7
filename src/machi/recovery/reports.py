"""Reports for the recovery office: households by class and area, certificates per day,
grants by status. Counts only: no names leave through them."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from machi.recovery.models import Certificate, GrantApplication, LedgerHousehold

NO_AREA = "（地区未設定）"
NOT_SURVEYED = "未調査"


def households_by_class(disaster_id: int) -> list[dict[str, Any]]:
    """Ledger households by the class their certificate states (or 未調査) and area."""
    rows: dict[tuple[str, str], int] = {}
    households = LedgerHousehold.objects.filter(disaster_id=disaster_id).select_related(
        "house__area"
    )
    certified = dict(
        Certificate.objects.filter(application__disaster_id=disaster_id).values_list(
            "application__household_id", "damage_class"
        )
    )
    for household in households:
        area = household.house.area.name if household.house and household.house.area else NO_AREA
        damage = certified.get(household.pk, NOT_SURVEYED)
        rows[(damage, area)] = rows.get((damage, area), 0) + 1
    return [
        {"damage_class": damage, "area": area, "households": n}
        for (damage, area), n in sorted(rows.items())
    ]


def certificates_per_day(disaster_id: int) -> list[dict[str, Any]]:
    found = (
        Certificate.objects.filter(application__disaster_id=disaster_id)
        .annotate(day=TruncDate("issued_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by("day")
    )
    return [{"day": row["day"].isoformat(), "certificates": row["n"]} for row in found]


def grants_by_status(disaster_id: int) -> list[dict[str, Any]]:
    found = (
        GrantApplication.objects.filter(disaster_id=disaster_id)
        .values("part", "status")
        .annotate(n=Count("pk"), total=Sum("amount"))
        .order_by("part", "status")
    )
    return [
        {"part": r["part"], "status": r["status"], "applications": r["n"], "amount": r["total"]}
        for r in found
    ]


REPORTS = {
    "households-by-class": households_by_class,
    "certificates-per-day": certificates_per_day,
    "grants-by-status": grants_by_status,
}
