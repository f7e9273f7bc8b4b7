"""The paper fallback (紙運用): blank 避難者カード and 避難者名簿, and the cards typed in later.

When the network or the data centre is down, a shelter registers people on paper and staff
type the cards in when the system is back. Each printed card carries its own number
(:class:`CardId`): the short code staff type, and a QR code of a UUID that is the same id in
another spelling. The first stay of a card typed in has that UUID as its id, so the same card
typed twice records once. The stays carry ``source = paper`` and the check-in time written on
the card; the household's ``created_at`` is when the card was typed in.

The printed texts are Japanese whatever the page's language: the card is the form residents
fill in (like the certificates of the recovery room). Blank forms hold no personal data, so
printing them is not audited; the records typed in go through the shelters services, which are.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

import segno
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from machi.core import japanese, pdffonts
from machi.emergency.models import Disaster
from machi.shelters import services
from machi.shelters.models import (
    CONSENT_ITEMS,
    Allergen,
    Checkin,
    CheckinSource,
    Need,
    Opening,
    Sex,
)

# --- The card's number -------------------------------------------------------------------------

# Crockford's base 32: no I, L, O or U, so nothing written by hand reads as two symbols.
SYMBOLS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = {"O": "0", "I": "1", "L": "1"}
CODE_BITS = 50  # ten symbols: a city prints millions of cards before two are likely to meet
CODE_LENGTH = CODE_BITS // 5 + 1  # and a check symbol
# The UUID's fixed part: its first 48 bits name "a Machi paper card" (RFC 9562 version 8 leaves
# the layout to us). The number sits in the last 50 bits; the other free bits are zero.
_MARKER = uuid5(NAMESPACE_URL, "machi:shelters:paper-card").int >> 80
_FIXED = (_MARKER << 80) | (0x8 << 76) | (0b10 << 62)
_FIXED_MASK = ((1 << 128) - 1) ^ ((1 << CODE_BITS) - 1)


def _check_symbol(values: Sequence[int]) -> int:
    """Luhn mod 32: catches any one symbol misread and most neighbours swapped."""
    total, factor = 0, 2
    for value in reversed(values):
        addend = factor * value
        total += addend // 32 + addend % 32
        factor = 3 - factor
    return (32 - total % 32) % 32


@dataclass(frozen=True)
class CardId:
    """One printed card: a random number, spelt as a code (``7K2M-Q9TD-RXQ``) and as a UUID."""

    number: int

    @classmethod
    def new(cls) -> CardId:
        return cls(secrets.randbits(CODE_BITS))

    @property
    def code(self) -> str:
        values = [(self.number >> shift) & 31 for shift in range(CODE_BITS - 5, -1, -5)]
        text = "".join(SYMBOLS[v] for v in [*values, _check_symbol(values)])
        return f"{text[:4]}-{text[4:8]}-{text[8:]}"

    @property
    def uuid(self) -> UUID:
        return UUID(int=_FIXED | self.number)

    def stay_id(self, person_id: UUID, *, first: bool) -> UUID:
        """The id of a stay recorded from this card: the card's UUID for the first person
        (what makes a second typing a replay), one derived from it for the others."""
        return self.uuid if first else uuid5(self.uuid, str(person_id))

    @classmethod
    def from_uuid(cls, value: UUID) -> CardId | None:
        """The card whose UUID this is, or None (a UUID that no card carries)."""
        if value.int & _FIXED_MASK != _FIXED:
            return None
        return cls(value.int & ((1 << CODE_BITS) - 1))

    @classmethod
    def parse(cls, text: str) -> CardId | None:
        """The card of a typed code or a scanned QR code (its UUID), or None if it is neither
        (a symbol misread, a code from something else)."""
        cleaned = japanese.normalize(text).upper().replace("-", "").replace(" ", "")
        cleaned = cleaned.removeprefix("URN:UUID:")
        if len(cleaned) == 32:
            try:
                return cls.from_uuid(UUID(hex=cleaned))
            except ValueError:
                return None
        cleaned = "".join(_READ_AS.get(char, char) for char in cleaned)
        if len(cleaned) != CODE_LENGTH or any(char not in SYMBOLS for char in cleaned):
            return None
        values = [SYMBOLS.index(char) for char in cleaned]
        if _check_symbol(values[:-1]) != values[-1]:
            return None
        number = 0
        for value in values[:-1]:
            number = number << 5 | value
        return cls(number)


# --- What the forms print ----------------------------------------------------------------------

# Numbered as on the card, in the order of the choices (the typing form shows the same numbers).
NEED_WORDS = {
    Need.ILLNESS: "病気",
    Need.INJURY: "けが",
    Need.PREGNANCY: "妊娠中",
    Need.INFANT: "乳幼児",
    Need.DISABILITY: "障がい",
    Need.CARE: "要介護",
    Need.DIALYSIS: "人工透析",
    Need.OXYGEN: "在宅酸素",
    Need.MEDICATION: "常用薬",
    Need.LANGUAGE: "日本語以外の言語の支援",
}
NEED_NUMBERS = {need: number for number, need in enumerate(Need, start=1)}
ALLERGEN_WORDS = {
    Allergen.EGG: "卵",
    Allergen.MILK: "乳",
    Allergen.WHEAT: "小麦",
    Allergen.PEANUT: "落花生",
    Allergen.BUCKWHEAT: "そば",
    Allergen.SHRIMP: "えび",
    Allergen.CRAB: "かに",
}
SEX_WORDS = {Sex.MALE: "男", Sex.FEMALE: "女", Sex.OTHER: "その他"}
# 安否情報 (消防庁の照会・回答の様式に倣う): the items a household allows the city to tell.
CONSENT_WORDS = {
    "name": "氏名",
    "address": "住所",
    "birth_date": "生年月日",
    "sex": "性別",
    "whereabouts": "避難先",
    "injury": "負傷の有無",
}
CARD_ROWS = 6  # people per card, the representative first; a larger household uses two
ROSTER_ROWS = 15  # rows per roster page

GREY = Color(0.45, 0.45, 0.45)
SHADE = Color(0.92, 0.92, 0.92)
CODE_FONT = "Courier-Bold"  # ASCII only: the number must read the same in any viewer


def _new_pdf(
    title: str, pagesize: tuple[float, float], city: str
) -> tuple[canvas.Canvas, io.BytesIO]:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=pagesize, pageCompression=1)
    pdf.setTitle(title)
    pdf.setAuthor(city)
    return pdf, buffer


class _Sheet:
    """Drawing in millimetres from the top left corner, as a form is designed on paper."""

    def __init__(self, pdf: canvas.Canvas, height: float) -> None:
        self.pdf = pdf
        self.height = height
        self.font = pdffonts.font_name()

    def y(self, top: float) -> float:
        return self.height - top * mm

    def text(
        self,
        x: float,
        top: float,
        text: str,
        size: float = 9,
        *,
        align: str = "left",
        font: str = "",
        colour: Color = black,
    ) -> None:
        self.pdf.setFont(font or self.font, size)
        self.pdf.setFillColor(colour)
        draw = {
            "left": self.pdf.drawString,
            "centre": self.pdf.drawCentredString,
            "right": self.pdf.drawRightString,
        }[align]
        draw(x * mm, self.y(top), text)
        self.pdf.setFillColor(black)

    def fit(self, text: str, size: float, width: float) -> float:
        """The largest size up to ``size`` at which the text fits ``width`` millimetres."""
        while size > 5 and stringWidth(text, self.font, size) > width * mm:
            size -= 0.25
        return size

    def box(self, x: float, top: float, width: float, height: float, *, line: float = 0.5) -> None:
        self.pdf.setLineWidth(line)
        self.pdf.rect(x * mm, self.y(top + height), width * mm, height * mm)

    def shade(self, x: float, top: float, width: float, height: float) -> None:
        self.pdf.setFillColor(SHADE)
        self.pdf.rect(x * mm, self.y(top + height), width * mm, height * mm, stroke=0, fill=1)
        self.pdf.setFillColor(black)

    def hline(self, x1: float, x2: float, top: float, *, dashed: bool = False) -> None:
        self.pdf.setLineWidth(0.3 if dashed else 0.5)
        if dashed:
            self.pdf.setDash(1.5, 1.5)
        self.pdf.line(x1 * mm, self.y(top), x2 * mm, self.y(top))
        self.pdf.setDash()

    def label(self, x: float, top: float, width: float, height: float, text: str) -> None:
        """A shaded label cell, its text centred (two lines when it has a line break)."""
        self.shade(x, top, width, height)
        self.box(x, top, width, height)
        lines = text.split("\n")
        size = min(self.fit(line, 9, width - 2) for line in lines)
        first = top + height / 2 - (len(lines) - 1) * size * 0.18 + size * 0.12
        for index, line in enumerate(lines):
            self.text(x + width / 2, first + index * size * 0.4, line, size, align="centre")

    def spaced(self, x: float, top: float, width: float, words: Sequence[str], size: float) -> None:
        """Words spread evenly over a width: choices to circle."""
        step = width / len(words)
        for index, word in enumerate(words):
            self.text(x + step * (index + 0.5), top, word, size, align="centre")

    def qr(self, name: str, text: str, x: float, top: float, size: float) -> None:
        """A QR code ``size`` millimetres wide, drawn as vector squares (sharp on any printer).

        It is a form XObject in units of one module, so the code can be read back from the PDF.
        """
        code = segno.make(text, error="m")  # M: still reads with a fold or a smudge
        rows = code.matrix
        count = len(rows)
        self.pdf.beginForm(name, 0, 0, count, count)
        self.pdf.setFillColor(black)
        for row, modules in enumerate(rows):
            column = 0
            while column < count:
                if modules[column]:
                    start = column
                    while column < count and modules[column]:
                        column += 1
                    self.pdf.rect(start, count - 1 - row, column - start, 1, stroke=0, fill=1)
                else:
                    column += 1
        self.pdf.endForm()
        self.pdf.saveState()
        self.pdf.translate(x * mm, self.y(top + size))
        self.pdf.scale(size * mm / count, size * mm / count)
        self.pdf.doForm(name)
        self.pdf.restoreState()


def _need_legend() -> str:
    return "　".join(f"{NEED_NUMBERS[need]} {NEED_WORDS[need]}" for need in Need)


# 年　月　日　時　分, each mark this many millimetres in: room to write the number before it.
DATE_TIME_MARKS = ((24.0, "年"), (40.0, "月"), (56.0, "日"), (78.0, "時"), (94.0, "分"))


def _date_time_blanks(sheet: _Sheet, x: float, top: float, size: float) -> None:
    for offset, mark in DATE_TIME_MARKS:
        sheet.text(x + offset, top, mark, size)


# --- 避難者カード ------------------------------------------------------------------------------

LEFT, RIGHT = 12.0, 198.0
WIDTH = RIGHT - LEFT


def cards_pdf(
    cards: Sequence[CardId], *, shelter: str = "", disaster: str = "", city: str = ""
) -> bytes:
    """Blank registration cards (避難者カード), one A4 page each, each with its own number.

    Without a shelter or a disaster, the card has blanks to write them in (cards kept ready).
    """
    pdf, buffer = _new_pdf("避難者カード", A4, city)
    sheet = _Sheet(pdf, A4[1])
    for index, card in enumerate(cards):
        _card(sheet, card, index, shelter=shelter, disaster=disaster, city=city)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _card(
    sheet: _Sheet, card: CardId, index: int, *, shelter: str, disaster: str, city: str
) -> None:
    _card_header(sheet, card, index, shelter=shelter, disaster=disaster)
    sheet.text(LEFT, 51, "太枠の中をご記入ください。番号や項目には○を、□には✓をつけてください。", 9)
    top = 54.0
    frame_top = top
    top = _card_times(sheet, top)
    top = _card_household(sheet, top)
    top = _card_family(sheet, top)
    top = _card_consent(sheet, top)
    top = _card_writer(sheet, top)
    sheet.box(LEFT, frame_top, WIDTH, top - frame_top, line=1.6)  # 太枠
    _card_staff(sheet, card, top + 3, city=city)


def _card_header(sheet: _Sheet, card: CardId, index: int, *, shelter: str, disaster: str) -> None:
    sheet.text(LEFT, 21, "避難者カード", 20)
    sheet.text(LEFT, 28, "（避難所の受付用・1世帯に1枚）", 9)
    qr_size = 24.0
    qr_x = RIGHT - qr_size
    sheet.qr(f"cardqr{index}", str(card.uuid), qr_x, 9, qr_size)
    x = qr_x - 47
    sheet.text(x, 13, "カード番号", 8)
    sheet.text(x, 20.5, card.code, 14, font=CODE_FONT)
    sheet.text(x, 25.5, str(card.uuid), 5.2, font="Courier", colour=GREY)
    sheet.text(x, 30.5, "入力のときは QR を読むか番号を打ちます", 6.5, colour=GREY)
    # The shelter and disaster: printed when known, otherwise a blank to write in.
    for x0, width, label, value in (
        (LEFT, 100.0, "避難所名", shelter),
        (LEFT + 102, WIDTH - 102, "災害名", disaster),
    ):
        sheet.label(x0, 36, 20, 9, label)
        sheet.box(x0 + 20, 36, width - 20, 9)
        if value:
            size = sheet.fit(value, 11, width - 24)
            sheet.text(x0 + 22, 42, value, size)


def _card_times(sheet: _Sheet, top: float) -> float:
    label_w = 28.0
    for label in ("入所日時", "退所日時"):
        sheet.label(LEFT, top, label_w, 9, label)
        sheet.box(LEFT + label_w, top, WIDTH - label_w, 9)
        _date_time_blanks(sheet, LEFT + label_w, top + 6, 10)
        top += 9
    sheet.text(LEFT + label_w + 104, top - 12, "（時刻は24時間制で）", 8, colour=GREY)
    return top


def _card_household(sheet: _Sheet, top: float) -> float:
    label_w = 28.0
    value_x = LEFT + label_w
    sheet.label(LEFT, top, label_w, 6, "ふりがな")
    sheet.box(value_x, top, WIDTH - label_w, 6)
    top += 6
    sheet.label(LEFT, top, label_w, 11, "世帯の代表者\n氏名")
    sheet.box(value_x, top, WIDTH - label_w, 11)
    top += 11
    sheet.label(LEFT, top, label_w, 13, "住所")
    sheet.box(value_x, top, WIDTH - label_w, 13)
    sheet.text(value_x + 2, top + 4, "〒　　　　－", 8)
    top += 13
    half = (WIDTH - label_w) / 2
    sheet.label(LEFT, top, label_w, 9, "電話")
    sheet.box(value_x, top, half - 10, 9)
    sheet.text(value_x + 2, top + 3.2, "連絡のつく番号（携帯電話など）", 6.5, colour=GREY)
    pet_x = value_x + half - 10
    sheet.label(pet_x, top, 22, 9, "同行ペット")
    sheet.box(pet_x + 22, top, RIGHT - pet_x - 22, 9)
    sheet.text(pet_x + 24, top + 6, "無 ・ 有（種類と数：　　　　　　　　）", 9)
    return top + 9


# Columns of the family table: number, name, birth date, sex, needs, allergies.
FAMILY_COLUMNS = (8.0, 50.0, 34.0, 16.0, 38.0, 40.0)


def _card_family(sheet: _Sheet, top: float) -> float:
    sheet.text(
        LEFT + 1,
        top + 5,
        "ご家族（この避難所に一緒にいる方。1行目は代表者ご本人）",
        9,
    )
    top += 7
    xs = [LEFT]
    for width in FAMILY_COLUMNS:
        xs.append(xs[-1] + width)
    head_h, row_h = 9.0, 14.0
    headers = (
        "No",
        "ふりがな\n氏名",
        "生年月日",
        "性別",
        "要配慮\n（下の番号に○）",
        "アレルギー\n（○をつける）",
    )
    for column, header in enumerate(headers):
        sheet.label(xs[column], top, FAMILY_COLUMNS[column], head_h, header)
    top += head_h
    allergens = [ALLERGEN_WORDS[a] for a in Allergen]
    half = (len(allergens) + 1) // 2
    numbers = [str(NEED_NUMBERS[need]) for need in Need]
    sexes = f"{SEX_WORDS[Sex.MALE]}・{SEX_WORDS[Sex.FEMALE]}"
    for row in range(1, CARD_ROWS + 1):
        for column, width in enumerate(FAMILY_COLUMNS):
            sheet.box(xs[column], top, width, row_h)
        sheet.text(xs[0] + 4, top + 6.5, str(row), 10, align="centre")
        if row == 1:
            sheet.text(xs[0] + 4, top + 11, "代表", 6.5, align="centre")
        sheet.hline(xs[1], xs[2], top + 5, dashed=True)  # ふりがな above, 氏名 below
        sheet.text(xs[2] + 1.5, top + 4, "明・大・昭・平・令・西暦", 7, colour=GREY)
        _birth_blanks(sheet, xs[2], top + 11, FAMILY_COLUMNS[2])
        sheet.text(xs[3] + 8, top + 6, sexes, 8.5, align="centre")
        sheet.text(xs[3] + 8, top + 11, SEX_WORDS[Sex.OTHER], 8.5, align="centre")
        sheet.spaced(xs[4] + 1, top + 6, FAMILY_COLUMNS[4] - 2, numbers[:5], 9)
        sheet.spaced(xs[4] + 1, top + 11, FAMILY_COLUMNS[4] - 2, numbers[5:], 9)
        sheet.spaced(xs[5] + 1, top + 6, FAMILY_COLUMNS[5] - 2, allergens[:half], 8)
        sheet.spaced(xs[5] + 1, top + 11, FAMILY_COLUMNS[5] - 2, allergens[half:], 8)
        top += row_h
    legend = "要配慮の番号　" + _need_legend()
    sheet.text(LEFT + 1, top + 5, legend, sheet.fit(legend, 8, WIDTH - 2))
    top += 7
    height = 18.0
    sheet.box(LEFT, top, WIDTH, height)
    sheet.text(
        LEFT + 2,
        top + 4,
        "配慮が必要なこと・ほかのアレルギー・飲んでいる薬など（何番の方か書いてください）",
        8,
    )
    return top + height


def _birth_blanks(sheet: _Sheet, x: float, top: float, width: float) -> None:
    for fraction, mark in ((0.34, "年"), (0.6, "月"), (0.86, "日")):
        sheet.text(x + width * fraction, top, mark, 8.5)


def _card_consent(sheet: _Sheet, top: float) -> float:
    height = 17.0
    sheet.label(LEFT, top, 28, height, "安否情報の\n問い合わせ")
    sheet.box(LEFT + 28, top, WIDTH - 28, height)
    x = LEFT + 30
    sheet.text(
        x,
        top + 4.5,
        "ご家族や知人から安否の問い合わせがあったとき、お答えしてよい項目に○をつけて",
        8,
    )
    sheet.text(x, top + 8.5, "ください（ご家族全員について）。○のない項目はお答えしません。", 8)
    words = [CONSENT_WORDS[item] for item in CONSENT_ITEMS]
    sheet.spaced(x, top + 14, 115, words, 9.5)
    sheet.text(x + 122, top + 14, "□ どれも答えない", 9.5)
    return top + height


def _card_writer(sheet: _Sheet, top: float) -> float:
    height = 9.0
    sheet.label(LEFT, top, 28, height, "記入者")
    sheet.box(LEFT + 28, top, WIDTH - 28, height)
    sheet.text(LEFT + 30, top + 6, "□ 本人　□ 家族　□ 職員　□ その他", 9.5)
    sheet.text(LEFT + 100, top + 6, "氏名", 9.5)
    return top + height


def _card_staff(sheet: _Sheet, card: CardId, top: float, *, city: str) -> None:
    sheet.text(LEFT, top + 3, "職員記入欄", 8)
    top += 4.5
    height = 9.0
    sheet.label(LEFT, top, 22, height, "受付者")
    sheet.box(LEFT + 22, top, 40, height)
    sheet.label(LEFT + 64, top, 24, height, "システム入力")
    sheet.box(LEFT + 88, top, WIDTH - 88, height)
    sheet.text(LEFT + 90, top + 6, "□ 済　　　月　　日　　時　　分　　入力者", 9)
    top += height + 5
    sheet.text(
        LEFT,
        top,
        "ご記入いただいた情報は、避難所の運営と被災された方への支援のために使います。"
        + (f"（{city}）" if city else ""),
        7.5,
    )
    sheet.text(
        LEFT,
        top + 4,
        "このカードはコピーせずにお使いください（番号が1枚ごとに違います）。"
        "足りないときは職員にお申し出ください。",
        7.5,
    )
    sheet.text(RIGHT, 290, card.code, 7, align="right", font="Courier", colour=GREY)


# --- 避難者名簿 --------------------------------------------------------------------------------

ROSTER_COLUMNS = (
    ("No", 9.0),
    ("カード番号", 24.0),
    ("ふりがな\n氏名", 44.0),
    ("生年月日", 24.0),
    ("性別", 14.0),
    ("住所", 46.0),
    ("電話", 24.0),
    ("要配慮\n（番号）", 17.0),
    ("アレルギー", 17.0),
    ("入所日時", 22.0),
    ("退所日時", 22.0),
)


def roster_pdf(*, pages: int, shelter: str = "", disaster: str = "", city: str = "") -> bytes:
    """A blank roster (避難者名簿) to fill by hand, rows numbered on from page to page."""
    size = landscape(A4)
    pdf, buffer = _new_pdf("避難者名簿", size, city)
    sheet = _Sheet(pdf, size[1])
    for page in range(1, pages + 1):
        _roster_page(sheet, page, pages, shelter=shelter, disaster=disaster)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _roster_page(sheet: _Sheet, page: int, pages: int, *, shelter: str, disaster: str) -> None:
    left, right = 10.0, 287.0
    sheet.text(left, 16, "避難者名簿", 16)
    sheet.text(right, 16, f"{page} / {pages} 枚", 11, align="right")
    for x, width, label, value in (
        (left + 40, 105.0, "避難所名", shelter),
        (left + 147, 90.0, "災害名", disaster),
    ):
        sheet.label(x, 9, 18, 9, label)
        sheet.box(x + 18, 9, width - 18, 9)
        if value:
            sheet.text(x + 20, 15, value, sheet.fit(value, 10, width - 22))
    top = 22.0
    widths = [width for _header, width in ROSTER_COLUMNS]
    notes_w = right - left - sum(widths)
    columns = [*ROSTER_COLUMNS, ("備考", notes_w)]
    xs = [left]
    for _header, width in columns:
        xs.append(xs[-1] + width)
    head_h, row_h = 9.0, 10.5
    sexes = "・".join((SEX_WORDS[Sex.MALE], SEX_WORDS[Sex.FEMALE], "他"))
    sexes_size = sheet.fit(sexes, 8, widths[4] - 2)
    for column, (header, width) in enumerate(columns):
        sheet.label(xs[column], top, width, head_h, header)
    top += head_h
    for row in range(ROSTER_ROWS):
        number = (page - 1) * ROSTER_ROWS + row + 1
        for column, (_header, width) in enumerate(columns):
            sheet.box(xs[column], top, width, row_h)
        sheet.text(xs[0] + widths[0] / 2, top + 6.5, str(number), 8.5, align="centre")
        sheet.hline(xs[2], xs[3], top + 3.8, dashed=True)
        sheet.text(xs[3] + 1, top + 7, "　 .　 .", 9, colour=GREY)
        sheet.text(xs[4] + widths[4] / 2, top + 6.5, sexes, sexes_size, align="centre")
        for column in (9, 10):
            sheet.text(xs[column] + 1, top + 7, "　/　　:", 9, colour=GREY)
        top += row_h
    top += 5
    legend = "要配慮の番号　" + _need_legend()
    sheet.text(left, top, legend, sheet.fit(legend, 8, right - left))
    sheet.text(
        left,
        top + 4.5,
        "生年月日は和暦でも構いません（例：S55.4.1）。入所・退所は月/日と時:分（24時間制）。"
        "カードがある方はカード番号を書いてください。",
        8,
    )
    sheet.text(
        left,
        top + 9,
        "個人情報です。記入した名簿は施錠できる場所に保管し、入力が済んだら災害対策本部の指示に従って"
        "扱ってください。",
        8,
    )


# --- Cards typed in ----------------------------------------------------------------------------


def times_problems(
    *, disaster: Disaster, checked_in_at: dt.datetime | None, checked_out_at: dt.datetime | None
) -> dict[str, str]:
    """What is wrong with the times written on a card, by field (empty when nothing is).

    Written by hand to the minute: a card written in the minute the disaster was declared is
    not "before" it. Not in the future: the card records what happened.
    """
    problems: dict[str, str] = {}
    now = timezone.now()
    started = disaster.started_at.replace(second=0, microsecond=0)
    if checked_in_at is not None:
        if checked_in_at > now:
            problems["checked_in_at"] = _(
                "The check-in time is in the future: check the date and time on the card."
            )
        elif checked_in_at < started:
            problems["checked_in_at"] = _(
                "The check-in time is before the disaster started (%(start)s): check the date "
                "on the card."
            ) % {"start": timezone.localtime(disaster.started_at).strftime("%Y-%m-%d %H:%M")}
    if checked_out_at is not None:
        if checked_out_at > now:
            problems["checked_out_at"] = _(
                "The check-out time is in the future: leave it blank until the person leaves."
            )
        elif checked_in_at is not None and checked_out_at < checked_in_at:
            problems["checked_out_at"] = _("The check-out time is before the check-in time.")
    return problems


@dataclass(frozen=True)
class CardRecord:
    """A card as recorded: the first person's stay, whose id is the card's UUID."""

    card: CardId
    stay: Checkin  # the first person's stay
    created: bool  # False: the card had been typed in before, nothing was recorded again


def card_find(card: CardId) -> Checkin | None:
    """The first stay recorded from this card, wherever it was typed in; None if not yet."""
    return (
        Checkin.objects.select_related("person__household", "opening__shelter__facility")
        .filter(pk=card.uuid)
        .first()
    )


def card_record(
    *,
    card: CardId,
    opening: Opening,
    members: Sequence[services.PersonInput],
    checked_in_at: dt.datetime,
    checked_out_at: dt.datetime | None = None,
    address: str = "",
    phone: str = "",
    pets: str = "",
) -> CardRecord:
    """Record a paper card typed in: its household, and a stay for each person at the time
    written on the card (source paper), ended at the written check-out time if there is one.

    The same card typed again records nothing and returns the first record (``created`` is
    False), even when two desks type it at once: the card's UUID is the first stay's id.
    """
    found = card_find(card)
    if found is not None:
        return CardRecord(card, found, created=False)
    problems = times_problems(
        disaster=opening.disaster, checked_in_at=checked_in_at, checked_out_at=checked_out_at
    )
    if problems:
        name, message = next(iter(problems.items()))
        raise services.ShelterError(message, field=name)
    try:
        with transaction.atomic():
            household = services.household_register(
                members=members, disaster=opening.disaster, address=address, phone=phone, pets=pets
            )
            people = list(household.members.order_by("created_at", "pk"))
            stays = [
                services.checkin_create(
                    checkin_id=card.stay_id(person.pk, first=index == 0),
                    person=person,
                    disaster=opening.disaster,
                    opening=opening,
                    source=CheckinSource.PAPER,
                    device=f"paper card {card.code}",
                    at=checked_in_at,
                ).checkin
                for index, person in enumerate(people)
            ]
            if checked_out_at is not None:
                for stay in stays:
                    services.checkout(
                        checkin=stay, at=checked_out_at, note="written on the paper card"
                    )
    except services.ShelterError as exc:
        found = card_find(card) if exc.field == "id" else None
        if found is None:
            raise
        return CardRecord(card, found, created=False)  # another desk typed it a moment ago
    return CardRecord(card, card_find(card) or stays[0], created=True)
