"""Japanese text helpers: 和暦, NFKC and kana normalisation, CSV in UTF-8 / BOM / CP932."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

# Era start dates (元号法; 令和 from 2019-05-01 per 政令第百四十三号 of 平成31年).
ERAS: tuple[tuple[dt.date, str, str], ...] = (
    (dt.date(2019, 5, 1), "令和", "R"),
    (dt.date(1989, 1, 8), "平成", "H"),
    (dt.date(1926, 12, 25), "昭和", "S"),
    (dt.date(1912, 7, 30), "大正", "T"),
    (dt.date(1873, 1, 1), "明治", "M"),  # the Gregorian calendar was adopted on 明治6年1月1日
)


def wareki(day: dt.date | dt.datetime, *, short: bool = False) -> str:
    """令和7年4月1日 (first years as 元年); ``short`` gives R7.4.1."""
    if isinstance(day, dt.datetime):
        day = day.date()
    for start, name, letter in ERAS:
        if day >= start:
            year = day.year - start.year + 1
            if short:
                return f"{letter}{year}.{day.month}.{day.day}"
            year_text = "元" if year == 1 else str(year)
            return f"{name}{year_text}年{day.month}月{day.day}日"
    raise ValueError(f"{day} is before 明治6年 (the Gregorian calendar in Japan)")


def wareki_year(day: dt.date) -> str:
    """The era and year alone: 令和7年."""
    full = wareki(day)
    return full[: full.index("年") + 1]


def normalize(text: str) -> str:
    """NFKC (full-width ASCII → half-width, half-width kana → full-width), trimmed, one space.

    Also unifies the many dash look-alikes in addresses (ー is kept inside katakana words).
    """
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u3000", " ")
    out = []
    for index, char in enumerate(text):
        if char in "‐‑‒–—―−－─━":
            out.append("-")
        elif char == "ー" and not _is_katakana(text[index - 1 : index]):
            out.append("-")  # 1ー2ー3 in an address, not a long vowel
        else:
            out.append(char)
    return " ".join("".join(out).split())


def _is_katakana(char: str) -> bool:
    return bool(char) and ("\u30a1" <= char <= "\u30fa" or char == "ー")


def to_katakana(text: str) -> str:
    """ひらがな → カタカナ (ヨミガナ are written in full-width katakana in government data)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def to_hiragana(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in text)


def kana_key(text: str) -> str:
    """A search and sort key: NFKC, hiragana, no spaces, lower-case Latin."""
    return to_hiragana(normalize(text)).replace(" ", "").lower()


# --- CSV --------------------------------------------------------------------------------------

ENCODINGS = ("utf-8-sig", "cp932")


class CsvDecodeError(ValueError):
    """A CSV file that cannot be read: ``reason`` says why, ``row`` the line (1 = header)."""

    def __init__(self, reason: str, *, row: int | None = None) -> None:
        message = _("line %(row)s: %(reason)s") % {"row": row, "reason": reason} if row else reason
        super().__init__(message)
        self.reason = reason
        self.row = row


@dataclass(frozen=True)
class CsvText:
    text: str
    encoding: str  # "utf-8", "utf-8-sig" (with BOM) or "cp932"


def decode_csv_bytes(data: bytes) -> CsvText:
    """Decode a CSV file as UTF-8 (with or without BOM) or CP932, whichever fits.

    UTF-8 is tried first: CP932 text almost never decodes as valid UTF-8, while the reverse
    often "succeeds" into mojibake. UTF-16 and UTF-32 (Excel's 「Unicode テキスト」) and files
    with NUL bytes (binary files, UTF-16 without its BOM) are refused with a reason, rather
    than read as CP932 mojibake.
    """
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            raise CsvDecodeError(
                _("the file is %(encoding)s; save it as UTF-8 or Shift_JIS (CP932)")
                % {"encoding": name},
                row=1,
            )
    _refuse_nul(data)
    if data.startswith(b"\xef\xbb\xbf"):
        # A BOM added twice (a tool that adds one to a file that had one) hides no column.
        return CsvText(_decode(data[3:], "utf-8-sig").lstrip("\ufeff"), "utf-8-sig")
    try:
        return CsvText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return CsvText(data.decode("cp932"), "cp932")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise CsvDecodeError(
            _("the file is neither UTF-8 nor Shift_JIS (CP932) text"),
            row=row,
        ) from exc


# UTF-32 first: its little-endian BOM begins with UTF-16's.
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _refuse_nul(data: bytes) -> None:
    """Refuse NUL bytes: no text file has them; a binary file or UTF-16 without BOM does."""
    at = data.find(b"\x00")
    if at < 0:
        return
    sample = data[:4096]
    # Many NULs: UTF-16 without its BOM, or a binary file; the whole file's fault, not a line's.
    nuls = sample.count(0)
    row = 1 if nuls >= 2 and nuls * 16 >= len(sample) else data[:at].count(b"\n") + 1
    raise CsvDecodeError(
        _(
            "the file contains NUL bytes: it is not a text file, or it is UTF-16; save it "
            "as UTF-8 or Shift_JIS (CP932)"
        ),
        row=row,
    )


def _decode(data: bytes, encoding: str) -> str:
    """``data`` after its BOM, decoded as UTF-8 (``encoding`` names it in the message)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise CsvDecodeError(
            _("invalid %(encoding)s byte sequence") % {"encoding": encoding},
            row=row,
        ) from exc


def read_csv(data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV file with a header, as (line number in the file, row dict).

    Header names are NFKC-normalised and trimmed so 全角 and stray spaces do not hide a column.
    The line number is the physical line where the row starts (the header is line 1), the
    number a spreadsheet user sees.
    """
    decoded = decode_csv_bytes(data)
    reader = csv.reader(io.StringIO(decoded.text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise _unreadable(exc, reader.line_num or 1) from exc
    names = [normalize(name) for name in header]
    line = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a cell over the csv module's limit (128 KiB), a broken quote
            raise _unreadable(exc, line + 1) from exc
        start = line + 1
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        padded = values + [""] * (len(names) - len(values))
        yield start, dict(zip(names, padded, strict=False))


def _unreadable(exc: csv.Error, row: int) -> CsvDecodeError:
    return CsvDecodeError(
        _("the CSV cannot be read: %(reason)s") % {"reason": exc},
        row=row,
    )


# What Excel (and LibreOffice, Google Sheets) would run as a formula: = + - @, a tab or a
# carriage return first (OWASP "CSV injection"), and the full-width ＝ ＋ － ＠ that Japanese
# input methods type and Excel may take for their ASCII forms.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
# A plain number (-3, -3.5) is not a formula: it stays a number for the spreadsheet.
NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def excel_cell(text: str) -> str:
    """Text that Excel would run as a formula (=, +, -, @, tab, CR; OWASP "CSV injection") is
    kept as text with a leading apostrophe, which Excel hides. Plain numbers such as -3.5 are
    left as they are. The one rule for every CSV that people open in Excel."""
    if text[:1] in FORMULA_START and not NUMBER.fullmatch(text):
        return f"'{text}"
    return text


def excel_csv(rows: list[list[str]]) -> bytes:
    """CSV bytes that Excel opens correctly: UTF-8 with BOM, CRLF line ends, no formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([excel_cell(str(cell)) for cell in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def excel_xlsx(rows: list[list[Any]], *, title: str = "Sheet1") -> bytes:
    """An .xlsx workbook of one sheet. Numbers stay numbers; text is always text, even text
    that starts with "=" (openpyxl would otherwise write it as a formula)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, str) and value[:1] in FORMULA_START:
                # Text stays text (a shared string), never a formula; numbers stay numbers.
                from openpyxl.cell import WriteOnlyCell

                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
