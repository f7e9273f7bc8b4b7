"""What goes into the envelope when a certificate is mailed: the cover letter (送付状) and the
address label (宛名ラベル), printed as PDF.

The cover letter is one A4 page per application; the recipient's block sits where a window
envelope (長形3号) shows it. Labels fit the common A4 sheet of twelve (2 × 6, 86.4 × 42.3 mm,
no gaps: e.g. A-one 72212 or ELECOM EDT-TM12), in the order given, as many sheets as needed.
Both use the IPA font (``core.pdffonts``). An application without an address is not printed
blank: the whole print is refused, naming the references to complete.

Texts are Japanese: these are the city's letters, as the certificates they go with.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from machi.core import japanese, pdffonts
from machi.procedures.models import Application
from machi.procedures.services import ProcedureError

# The 12-label sheet: 2 columns × 6 rows of 86.4 × 42.3 mm, 18.6 mm side and 21.6 mm top margins.
LABEL_W, LABEL_H = 86.4 * mm, 42.3 * mm
LABEL_COLUMNS, LABEL_ROWS = 2, 6
LABEL_LEFT, LABEL_TOP = 18.6 * mm, 21.6 * mm
LABEL_PAD = 5 * mm
PER_SHEET = LABEL_COLUMNS * LABEL_ROWS
POSTCODE = re.compile(r"^\s*(?:〒\s*)?(\d{3})\s*[-‐－ー−]?\s*(\d{4})\s*")
PAID = {
    "paid": "納付済",
    "pending": "未納",
    "failed": "未納",
    "refund_due": "還付手続中",
    "refunded": "還付済",
    "void": "なし",
}


def _city() -> str:
    from machi.core.selectors import municipality_current

    city = municipality_current()
    return city.name if city else ""


def postcode_split(address: str) -> tuple[str, str]:
    """("335-0031", "戸田市美女木1-2-3") from "〒335-0031 戸田市美女木1-2-3"."""
    normal = japanese.normalize(address)
    found = POSTCODE.match(normal)
    if found is None:
        return "", normal
    return f"{found.group(1)}-{found.group(2)}", normal[found.end() :].strip()


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines no wider than ``width``: Japanese breaks anywhere (no word spaces)."""
    lines: list[str] = []
    line = ""
    for char in text:
        if stringWidth(line + char, font, size) > width and line:
            lines.append(line)
            line = char.lstrip()
        else:
            line += char
    if line:
        lines.append(line)
    return lines


def _printable(applications: Sequence[Application]) -> None:
    if not applications:
        raise ProcedureError("choose the applications to print", field="references")
    missing = [a.reference for a in applications if not a.applicant_address.strip()]
    if missing:
        raise ProcedureError(
            f"no address to print for {', '.join(missing)}: add it first",
            field="applicant_address",
        )


def document_name(application: Application) -> str:
    """What is enclosed: the procedure's name without 「の交付請求」 and the like."""
    return re.sub(r"の?(交付請求|交付申請|申込み?|申請|請求)$", "", application.procedure.name)


def copies(application: Application) -> int:
    value = application.answers.get("copies", 1)
    return value if isinstance(value, int) and value > 0 else 1


def fee_text(application: Application) -> str:
    if not application.fee_yen:
        return "無料"
    try:
        payment: Any = application.payment
    except ObjectDoesNotExist:
        return f"{application.fee_yen:,}円"
    state = PAID.get(payment.status, "")
    return f"{payment.amount_yen:,}円（{state}）" if state else f"{payment.amount_yen:,}円"


def _new_pdf(title: str) -> tuple[canvas.Canvas, io.BytesIO]:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    pdf.setTitle(title)
    pdf.setAuthor(_city())
    return pdf, buffer


# --- 送付状 --------------------------------------------------------------------------------------


def cover_letter_pdf(applications: Sequence[Application]) -> bytes:
    """One A4 cover letter per application, in the order given."""
    _printable(applications)
    font = pdffonts.font_name()
    city = _city()
    contact = str(getattr(settings, "MACHI_PROCEDURES_CONTACT", "") or "")
    today = timezone.localdate()
    pdf, buffer = _new_pdf("送付状")
    width, height = A4
    left, right = 25 * mm, width - 20 * mm
    for application in applications:
        department = application.department
        postcode, address = postcode_split(application.applicant_address)
        pdf.setFont(font, 10.5)
        pdf.drawRightString(right, height - 20 * mm, f"{japanese.wareki(today)}")
        pdf.drawRightString(right, height - 26 * mm, f"申請番号 {application.reference}")
        # The recipient, 30 to about 60 mm down and 25 mm in: where the window of a 長形3号
        # envelope shows it when the page is folded in three.
        y = height - 30 * mm
        if postcode:
            pdf.setFont(font, 11)
            pdf.drawString(left, y, f"〒{postcode}")
            y -= 6 * mm
        pdf.setFont(font, 11)
        for line in wrap(address, font, 11, 85 * mm)[:3]:
            pdf.drawString(left, y, line)
            y -= 5.5 * mm
        y -= 3 * mm
        pdf.setFont(font, 14)
        pdf.drawString(left + 4 * mm, y, f"{application.applicant_name} 様")
        pdf.setFont(font, 11)
        pdf.drawRightString(right, height - 78 * mm, f"{city}　{department}")
        pdf.setFont(font, 16)
        pdf.drawCentredString(width / 2, height - 100 * mm, "書類の送付について")
        pdf.setFont(font, 11)
        y = height - 118 * mm
        for line in (
            "拝啓　時下ますますご清祥のこととお喜び申し上げます。",
            "ご申請いただいた書類を、下記のとおりお送りいたします。",
            "内容をご確認くださいますようお願い申し上げます。",
        ):
            pdf.drawString(left, y, line)
            y -= 7 * mm
        pdf.drawRightString(right, y, "敬具")
        y -= 12 * mm
        pdf.drawCentredString(width / 2, y, "記")
        y -= 12 * mm
        rows = (
            ("申請番号", application.reference),
            ("手続", application.procedure.name),
            ("同封書類", f"{document_name(application)}　{copies(application)}通"),
            ("手数料", fee_text(application)),
        )
        for label, value in rows:
            pdf.drawString(left + 8 * mm, y, label)
            lines = wrap(value, font, 11, right - left - 45 * mm) or [""]
            for line in lines[:2]:
                pdf.drawString(left + 40 * mm, y, line)
                y -= 6 * mm
            y -= 3 * mm
        pdf.drawRightString(right, y - 4 * mm, "以上")
        pdf.setFont(font, 10)
        reach = f"お問い合わせ　{city}　{department}"
        pdf.drawString(left, 30 * mm, reach + (f"　{contact}" if contact else ""))
        pdf.drawString(
            left, 24 * mm, f"お問い合わせの際は申請番号 {application.reference} をお伝えください。"
        )
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- 宛名ラベル --------------------------------------------------------------------------------


def _fit(text: str, font: str, size: float, width: float, smallest: float = 8) -> float:
    """The largest size up to ``size`` at which the text fits on one line."""
    while size > smallest and stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _label(pdf: canvas.Canvas, font: str, application: Application, x: float, y: float) -> None:
    """One label whose top left corner is (x, y)."""
    inner = LABEL_W - 2 * LABEL_PAD
    postcode, address = postcode_split(application.applicant_address)
    top = y - LABEL_PAD - 3 * mm
    if postcode:
        pdf.setFont(font, 10)
        pdf.drawString(x + LABEL_PAD, top, f"〒{postcode}")
        top -= 5 * mm
    pdf.setFont(font, 10)
    for line in wrap(address, font, 10, inner)[:3]:
        pdf.drawString(x + LABEL_PAD, top, line)
        top -= 4.5 * mm
    name = f"{application.applicant_name} 様"
    size = _fit(name, font, 14, inner - 4 * mm)
    pdf.setFont(font, size)
    pdf.drawString(x + LABEL_PAD + 4 * mm, min(top - 2 * mm, y - LABEL_H + 11 * mm), name)
    pdf.setFont(font, 7)
    pdf.drawRightString(x + LABEL_W - LABEL_PAD, y - LABEL_H + 4 * mm, application.reference)


def labels_pdf(applications: Sequence[Application]) -> bytes:
    """Address labels, twelve to an A4 sheet, in the order given."""
    _printable(applications)
    font = pdffonts.font_name()
    pdf, buffer = _new_pdf("宛名ラベル")
    _width, height = A4
    for index, application in enumerate(applications):
        slot = index % PER_SHEET
        if index and slot == 0:
            pdf.showPage()
        column, row = slot % LABEL_COLUMNS, slot // LABEL_COLUMNS
        x = LABEL_LEFT + column * LABEL_W
        y = height - LABEL_TOP - row * LABEL_H
        _label(pdf, font, application, x, y)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
