"""The chronology on paper (A4 landscape PDF) and for Excel (CSV, UTF-8 with BOM).

HQ prints the chronology for the 本部会議 and files it as the record of the response, so the
print is in time order, oldest first, as on the whiteboard. ReportLab's built-in Japanese CID
font needs no font files on the server (the PDF viewer supplies the glyphs).

Lines are wrapped here rather than with ReportLab's Paragraph: a chronology has thousands of
short lines, and Paragraph's markup parsing made a 5,000-line print many times slower.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from machi.core import japanese
from machi.emergency.models import ChronologyEntry, ChronologyKind

FONT = "HeiseiKakuGo-W5"  # Adobe-Japan1 CID font that every PDF viewer in Japan has
SIZE = 8.0
LEADING = 10.5
PAD_X = 1.5 * mm
PAD_Y = 1.2 * mm
# 日時 / 種別 / 内容 / 記入者 / 部署, in mm; 内容 takes what is left of the page.
WIDTHS_MM = (31.0, 30.0, 0.0, 26.0, 32.0)
MARGIN = 10 * mm
HEADER = 24 * mm  # city, disaster, print time and the column headings, on every page
FOOTER = 9 * mm
RULE = colors.HexColor("#9e9e9e")
SHADE = colors.HexColor("#ececec")
HEADING_SHADE = colors.HexColor("#d9d9d9")
# Bold without a bold font: the CID font has one weight, so important lines are drawn filled
# and stroked (text render mode 2) with a thin stroke.
BOLD_STROKE = 0.3

# 禁則処理 (JIS X 4051, simplified): these never start a line, those never end one.
NO_LINE_START = frozenset(
    "、。，．,.)）]］」』】〕〉》｝}!！?？:：;；ー・ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々"
)
NO_LINE_END = frozenset("(（[［「『【〔〈《｛{")
# A run of printable ASCII is one word (kept together when it fits); any other character,
# Japanese included, may be broken before.
TOKENS = re.compile(r"[!-~]+| |.", re.DOTALL)


def font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


_EM_WIDTHS: dict[str, float] = {}  # each character's advance, in thousandths of the size


def width_of(text: str, size: float = SIZE) -> float:
    """The printed width in points (the font has no kerning: the characters' widths add up)."""
    known = _EM_WIDTHS
    total = 0.0
    for char in text:
        advance = known.get(char)
        if advance is None:
            advance = known[char] = float(pdfmetrics.stringWidth(char, font(), 1000))
        total += advance
    return total * size / 1000


def wrap_text(text: str, width: float, size: float = SIZE) -> list[str]:
    """Break one line of text into lines at most ``width`` points wide (always at least one).

    Punctuation that may not start a line hangs past the edge (ぶら下げ) instead.
    """
    text = " ".join(text.split())
    if width_of(text, size) <= width:
        return [text]  # most cells: the time, the kind, a name, a short line
    lines: list[str] = []
    line, line_width = "", 0.0
    for token in TOKENS.findall(text):
        token_width = width_of(token, size)
        if line_width + token_width <= width:
            line, line_width = line + token, line_width + token_width
        elif token.isspace():
            lines.append(line)
            line, line_width = "", 0.0
        elif token in NO_LINE_START and line:
            line, line_width = line + token, line_width + token_width
        elif token_width > width:
            # A word longer than the column (a URL, a code): break it where it must break.
            for char in token:
                char_width = width_of(char, size)
                if line and line_width + char_width > width:
                    lines.append(line)
                    line, line_width = "", 0.0
                line, line_width = line + char, line_width + char_width
        else:
            carry = ""
            while len(line) > 1 and line[-1] in NO_LINE_END:
                line, carry = line[:-1], line[-1] + carry
            if line.strip():
                lines.append(line.rstrip())
            line = carry + token
            line_width = width_of(line, size)
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def time_text(at: dt.datetime) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}"


def kind_label(kind: str) -> str:
    return str(ChronologyKind(kind).label) if kind in ChronologyKind.values else kind


@dataclass(frozen=True)
class PrintHeading:
    city: str
    disaster: str
    printed_at: dt.datetime
    printed_by: str
    filters: str  # what the filters chose, in words ("" when everything is printed)


class _Row(Flowable):
    """One line of the chronology across the five columns; never split over two pages."""

    def __init__(self, cells: Sequence[str], widths: Sequence[float], *, important: bool) -> None:
        super().__init__()
        self.cells = cells
        self.widths = widths
        self.important = important
        self._lines: list[list[str]] = []
        self._wrapped_at = -1.0

    def wrap(self, aW: float, aH: float) -> tuple[float, float]:
        if self._wrapped_at != aW:  # the frame asks again when the row moves to a new page
            self._lines = [
                wrap_text(cell, width - 2 * PAD_X)
                for cell, width in zip(self.cells, self.widths, strict=True)
            ]
            self._wrapped_at = aW
        self.width = sum(self.widths)
        self.height = max(len(lines) for lines in self._lines) * LEADING + 2 * PAD_Y
        return self.width, self.height

    def split(self, aW: float, aH: float, /) -> list[Flowable]:
        return []  # a row is at most a few centimetres high: it goes to the next page whole

    def draw(self) -> None:
        canvas = self.canv
        if self.important:
            canvas.setFillColor(SHADE)
            canvas.rect(0, 0, self.width, self.height, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        canvas.setStrokeColor(colors.black)
        canvas.setLineWidth(BOLD_STROKE)
        # One text object for the whole row: thousands of rows, each BT…ET costs.
        text = canvas.beginText()
        text.setFont(font(), SIZE, LEADING)
        if self.important:
            text.setTextRenderMode(2)
        x = 0.0
        for lines, width in zip(self._lines, self.widths, strict=True):
            text.setTextOrigin(x + PAD_X, self.height - PAD_Y - SIZE)
            for line in lines:
                text.textLine(line)
            x += width
        if self.important:
            text.setTextRenderMode(0)
        canvas.drawText(text)
        canvas.setStrokeColor(RULE)
        canvas.line(0, 0, self.width, 0)


class _NumberedCanvas(Canvas):
    """Holds the pages back until the end, so that each can say "n / N"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()  # type: ignore[attr-defined]

    def save(self) -> None:
        total = len(self._pages)
        width = self._pagesize[0]  # type: ignore[attr-defined]
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self.setFont(font(), 9)
            self.setFillColor(colors.black)
            self.drawCentredString(width / 2, MARGIN, f"{number} / {total}")
            super().showPage()
        super().save()


def chronology_pdf(entries: Iterable[ChronologyEntry], heading: PrintHeading) -> bytes:
    """The chronology as an A4 landscape PDF: a heading and column names on every page."""
    face = font()
    buffer = io.BytesIO()
    pagesize = landscape(A4)
    title = f"{heading.city} {_('Chronology')} {heading.disaster}".strip()
    doc = BaseDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + HEADER,
        bottomMargin=MARGIN + FOOTER,
        title=title,
        author=heading.printed_by,
        creator="Machi",
    )
    content = doc.width - sum(w * mm for w in WIDTHS_MM)
    widths = [w * mm if w else content for w in WIDTHS_MM]
    columns = [_("Time"), _("Kind"), _("Entry"), _("Written by"), _("Department")]
    printed = _("Printed %(time)s by %(user)s") % {
        "time": f"{timezone.localtime(heading.printed_at):%Y-%m-%d %H:%M}",
        "user": heading.printed_by,
    }

    def on_page(canvas: Canvas, document: Any) -> None:
        canvas.saveState()
        left, right = MARGIN, pagesize[0] - MARGIN
        top = pagesize[1] - MARGIN
        canvas.setFillColor(colors.black)
        canvas.setFont(face, 13)
        canvas.drawString(left, top - 13, f"{heading.city} {_('Chronology')}".strip())
        canvas.setFont(face, 9)
        canvas.drawRightString(right, top - 11, printed)
        canvas.setFont(face, 11)
        canvas.drawString(left, top - 28, heading.disaster)
        if heading.filters:
            canvas.setFont(face, 8)
            canvas.drawRightString(right, top - 27, heading.filters)
        band_top = top - HEADER + 6 * mm
        canvas.setFillColor(HEADING_SHADE)
        canvas.rect(left, band_top - 6 * mm, right - left, 6 * mm, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        canvas.setFont(face, 9)
        x = left
        for label, width in zip(columns, widths, strict=True):
            canvas.drawString(x + PAD_X, band_top - 4.2 * mm, label)
            x += width
        canvas.restoreState()

    story: list[Flowable] = [
        _Row(
            [
                time_text(entry.at),
                kind_label(entry.kind) + (" ★" if entry.important else ""),
                entry.text,
                entry.actor,
                entry.department,
            ],
            widths,
            important=entry.important,
        )
        for entry in entries
    ]
    if not story:
        story.append(_Row(["", "", _("No entries match."), "", ""], widths, important=False))
    # A frame without padding, so that the rows line up with the column headings.
    frame = Frame(
        doc.leftMargin,
        doc.bottomMargin,
        doc.width,
        doc.height,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates([PageTemplate(frames=[frame], onPage=on_page)])
    doc.build(story, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()


spreadsheet_safe = japanese.excel_cell  # typed text Excel would run as a formula stays text


def chronology_rows(entries: Iterable[ChronologyEntry]) -> list[list[str]]:
    rows = [
        [
            _("Time"),
            _("Kind"),
            _("Entry"),
            _("Important"),
            _("Written by"),
            _("Department"),
            _("Record type"),
            _("Record id"),
        ]
    ]
    for entry in entries:
        rows.append(
            [
                f"{timezone.localtime(entry.at):%Y-%m-%d %H:%M:%S}",
                kind_label(entry.kind),
                spreadsheet_safe(entry.text),
                "★" if entry.important else "",
                spreadsheet_safe(entry.actor),
                spreadsheet_safe(entry.department),
                entry.object_type,
                entry.object_id,
            ]
        )
    return rows


def chronology_csv(entries: Iterable[ChronologyEntry]) -> bytes:
    """For Excel: UTF-8 with BOM, CRLF (machi.core.japanese.excel_csv)."""
    return japanese.excel_csv(chronology_rows(entries))
