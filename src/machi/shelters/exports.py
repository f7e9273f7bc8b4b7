"""Rosters for staff (Excel CSV, printable PDF) and the 安否情報 list with consented items only.

The PDF is the paper fallback: when the network is down, the last printed roster is what the
shelter works from. ReportLab's built-in Japanese CID font needs no font installation.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from machi.core import japanese
from machi.shelters.models import Allergen, Checkin, Need, Opening, Person, Sex, StayType

FONT = "HeiseiKakuGo-W5"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def _labels(values: Iterable[str], choices: type[Need] | type[Allergen]) -> str:
    return "、".join(str(choices(v).label) for v in values if v in choices.values)


def _age(person: Person) -> str:
    if person.birth_date is None:
        return ""
    today = timezone.localdate()
    born = person.birth_date
    return str(today.year - born.year - ((today.month, today.day) < (born.month, born.day)))


def roster_rows(checkins: Iterable[Checkin], *, with_health: bool) -> list[list[str]]:
    header = [
        _("Family name"), _("Given name"), _("Reading"), _("Date of birth"), _("Age"),
        _("Sex"), _("Address"), _("Phone"), _("Stay"), _("Checked in"),
    ]  # fmt: skip
    if with_health:
        header += [_("Needs (要配慮)"), _("Allergies"), _("Needs, in words")]
    rows = [header]
    for checkin in checkins:
        p = checkin.person
        row = [
            p.family_name,
            p.given_name,
            f"{p.family_name_kana} {p.given_name_kana}".strip(),
            p.birth_date.isoformat() if p.birth_date else "",
            _age(p),
            str(Sex(p.sex).label) if p.sex else "",
            p.address,
            p.phone,
            str(StayType(checkin.stay_type).label),
            timezone.localtime(checkin.checked_in_at).strftime("%Y-%m-%d %H:%M"),
        ]
        if with_health:
            row += [_labels(p.needs, Need), _labels(p.allergies, Allergen), p.needs_note]
        rows.append(row)
    return rows


def roster_csv(checkins: Iterable[Checkin], *, with_health: bool) -> bytes:
    return japanese.excel_csv(roster_rows(checkins, with_health=with_health))


def roster_pdf(opening: Opening, checkins: list[Checkin]) -> bytes:
    font = _font()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"{opening.shelter} {_('Roster')}",
    )
    title = ParagraphStyle("title", fontName=font, fontSize=14, leading=18)
    small = ParagraphStyle("small", fontName=font, fontSize=8, leading=10)
    now = timezone.localtime()
    heading = (
        f"{opening.shelter} — {_('Roster')} ({len(checkins)}) "
        f"{japanese.wareki(now)} {now:%H:%M} {opening.disaster.name}"
    )
    rows = roster_rows(checkins, with_health=True)
    data = [[Paragraph(str(cell), small) for cell in row] for row in rows]
    widths: list[float] = [22, 22, 30, 20, 9, 13, 50, 24, 22, 24, 30, 22, 0]
    total = doc.width / mm
    widths[-1] = max(15, total - sum(widths[:-1]))
    table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    doc.build([Paragraph(heading, title), Spacer(1, 4 * mm), table])
    return buffer.getvalue()


def anpi_rows(persons: Iterable[tuple[Person, Checkin | None]]) -> list[list[str]]:
    """安否情報: each item only where the person consented to its disclosure."""
    header = [_("Name"), _("Address"), _("Date of birth"), _("Sex"), _("Whereabouts"), _("Injury")]
    rows = [header]
    for person, stay in persons:
        allowed = person.consent or {}
        if not allowed.get("name"):
            continue  # without the name nothing else can be told either
        name = f"{person.family_name} {person.given_name}".strip()
        where = ""
        if stay is not None:
            opening = stay.opening
            where = str(opening.shelter) if opening else str(StayType(stay.stay_type).label)
        injured = Need.INJURY in person.needs
        rows.append(
            [
                name if allowed.get("name") else "",
                person.address if allowed.get("address") else "",
                person.birth_date.isoformat()
                if person.birth_date and allowed.get("birth_date")
                else "",
                str(Sex(person.sex).label) if person.sex and allowed.get("sex") else "",
                where if allowed.get("whereabouts") else "",
                (_("Injured") if injured else _("No injury reported"))
                if allowed.get("injury")
                else "",
            ]
        )
    return rows
