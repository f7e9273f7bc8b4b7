"""The demo city's emergency room: the rules that turn JMA warnings into suggestions for HQ."""

from __future__ import annotations

from typing import Any

from machi.core.hazards import Hazard
from machi.emergency.models import DeclarationRule
from machi.emergency.services_weather import rule_create

# JMA kind codes of 気象警報・注意報: 03 大雨警報, 04 洪水警報, 33 大雨特別警報.
# Codes, not titles: JMA renames the kinds (the R06 family keeps the codes).
DEMO_RULES: tuple[tuple[str, tuple[str, ...], int | None, Hazard], ...] = (
    (
        "大雨・洪水の警報（警戒レベル3相当以上）で本部設置を提案",
        ("03", "04", "33"),
        3,
        Hazard.FLOOD,
    ),
    ("警戒レベル4相当以上の情報で本部設置を提案（土砂災害）", (), 4, Hazard.LANDSLIDE),
)


def load_demo_emergency(**_: Any) -> str:
    """Declaration rules of the demo city (suggest only: HQ decides). Safe to run again."""
    made = 0
    for name, codes, level, hazard in DEMO_RULES:
        if not DeclarationRule.objects.filter(name=name).exists():
            rule_create(name=name, kind_codes=codes, min_level=level, hazard=hazard)
            made += 1
    total = DeclarationRule.objects.filter(active=True).count()
    return f"JMA rules   {total} active (warnings suggest a declaration to HQ)"
