"""Open data validators: checks a dataset (CSV) before it is published.

Three layers, each reported as :class:`Issue` (row, column, stable code, severity, params):

* the file (:func:`validate_csv`): UTF-8 (a BOM is fine, Shift_JIS is not), CSV syntax, one
  header row at the top, no blank rows, as many cells in every row as in the header, one kind of
  line ending, no trailing empty columns;
* the header and every cell (:func:`validate_rows`): the header equals the expected column names
  in order; every cell follows the machine-readability rules of the government's data
  guidelines (デジタル庁 GIF and its checklist L1-06/L1-08/L1-14: no padding spaces, no line
  breaks, no 機種依存文字, no 半角カナ, characters within JIS X 0213, no control characters);
* each column's *kind* (lgcode, date, latitude, flag …, see :data:`KINDS`), the pair
  緯度/経度 as a whole, required and unique columns.

Messages are English msgids translated when :meth:`Issue.message` is called, so a stored report
reads in the viewer's language. ``params["suggestion"]``, when present, is the repaired value.

Speed: every cell goes through a fast path (ASCII and printable, no padding) and the results
of the slower checks are memoised per distinct value, so 5,000 rows × 40 columns take a
fraction of a second.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, gettext_noop

from machi.core import lgcode
from machi.core.japanese import ERAS, CsvDecodeError, decode_csv_bytes, to_katakana

KINDS = (
    "text", "id", "lgcode", "kana", "alphabet", "date", "time", "datetime", "latitude",
    "longitude", "flag", "integer", "decimal", "url", "phone", "email", "postcode",
    "machiaza_id", "corporate_number", "list",
)  # fmt: skip

ERROR = "error"
WARNING = "warning"

# Latitude and longitude of Japan, generously (沖ノ鳥島 20.4°N, 択捉島 45.5°N; 与那国島 122.9°E,
# 南鳥島 153.98°E).
LATITUDE_RANGE = (20.0, 46.0)
LONGITUDE_RANGE = (122.0, 154.0)
COORDINATE_DECIMALS = 6


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # one of KINDS
    required: bool = False  # an empty cell is an error
    unique: bool = False  # values must differ between rows (IDs)


# --- messages ---------------------------------------------------------------------------------

# One English msgid per code; params fill the placeholders. A "suggestion" param that the
# message does not use itself is added as a second sentence (SUGGESTION).
MESSAGES: dict[str, str] = {
    # the file
    "file.empty": gettext_noop("The file is empty: it needs a header row."),
    "file.encoding": gettext_noop(
        "The file is not UTF-8 (it reads as %(encoding)s). Save it as UTF-8 (with or without BOM)."
    ),
    "file.undecodable": gettext_noop(
        "The file cannot be read as text: line %(line)s is neither UTF-8 nor Shift_JIS. "
        "Save it as UTF-8."
    ),
    "file.syntax": gettext_noop(
        "The CSV cannot be read from this row on: a double quote is not closed, or text follows "
        "a closing quote. Put values that contain commas, quotes or line breaks in double quotes "
        "and double the quotes inside them."
    ),
    "file.line_endings": gettext_noop(
        "The line endings are mixed: rows end with %(first)s, but row %(row)s ends with "
        "%(other)s. Use one kind throughout."
    ),
    "file.title_rows": gettext_noop(
        "The header is on row %(header_row)s, not row 1: remove the %(count)s row(s) above it "
        "(titles, notes or blank rows). The file must start with its header."
    ),
    "file.trailing_columns": gettext_noop(
        "The file has %(count)s empty column(s) at the right end (trailing commas): remove them."
    ),
    # rows
    "row.blank": gettext_noop("This row is blank: remove blank rows."),
    "row.length": gettext_noop(
        "This row has %(found)s cells but the header has %(expected)s: a comma is missing or "
        "extra, or a value with a comma is not in double quotes."
    ),
    "row.trailing_empty": gettext_noop(
        "This row has %(extra)s empty cell(s) after the last column (trailing commas): remove them."
    ),
    "row.repeated_header": gettext_noop(
        "This row repeats the header: a file has exactly one header row."
    ),
    # the header
    "header.missing": gettext_noop(
        "The column “%(name)s” is missing (expected as column %(position)s)."
    ),
    "header.unknown": gettext_noop(
        "The column “%(name)s” (column %(position)s) is not part of this dataset."
    ),
    "header.renamed": gettext_noop(
        "Column %(position)s is named “%(found)s”; it should be “%(name)s” (check spaces and "
        "full-width characters)."
    ),
    "header.order": gettext_noop(
        "The columns are not in the expected order: “%(name)s” is column %(position)s but "
        "should be column %(expected_position)s."
    ),
    "header.duplicate": gettext_noop(
        "The column “%(name)s” appears more than once (columns %(positions)s)."
    ),
    "header.blank": gettext_noop("Column %(position)s has no name."),
    # every cell
    "cell.required": gettext_noop("This value is required, but the cell is empty."),
    "cell.spaces": gettext_noop(
        "“%(value)s” has spaces at the start or end: remove them (“%(suggestion)s”)."
    ),
    "cell.line_break": gettext_noop("The cell contains a line break: keep each value on one line."),
    "cell.control": gettext_noop(
        "The cell contains the control character %(codepoint)s: remove it."
    ),
    "cell.environment_dependent": gettext_noop(
        "“%(value)s” contains platform-dependent characters (%(chars)s: circled numbers, Roman "
        "numerals, squared units or era names): write “%(suggestion)s”."
    ),
    "cell.halfwidth_kana": gettext_noop(
        "“%(value)s” contains half-width katakana: write them full-width (“%(suggestion)s”)."
    ),
    "cell.outside_jis": gettext_noop(
        "“%(value)s” contains characters outside JIS X 0213 (%(chars)s, %(codepoints)s), which "
        "may not display or be found by search: use standard characters."
    ),
    "cell.no_value": gettext_noop(
        "“%(value)s” stands for “no value”: leave the cell empty instead."
    ),
    "cell.duplicate": gettext_noop(
        "“%(value)s” is already used in row %(first_row)s: values in this column must be unique."
    ),
    # 全国地方公共団体コード
    "lgcode.check_digit": gettext_noop(
        "The check digit is wrong: %(value)s should end in %(digit)s (%(expected)s)."
    ),
    "lgcode.leading_zero": gettext_noop(
        "The code %(value)s has lost its leading zero (spreadsheets drop it): write %(expected)s."
    ),
    "lgcode.missing_check_digit": gettext_noop(
        "%(value)s has five digits, but a local government code has six, the last being a "
        "check digit. If these are the first five, the code is %(expected)s."
    ),
    "lgcode.normalize": gettext_noop(
        "Write the local government code as six half-width digits: %(expected)s, not “%(value)s”."
    ),
    "lgcode.format": gettext_noop(
        "“%(value)s” is not a local government code (six half-width digits, e.g. 112241)."
    ),
    "lgcode.unknown": gettext_noop(
        "No local government has the code %(value)s (it may have merged or been renumbered)."
    ),
    # the other kinds
    "id.spaces": gettext_noop("The ID “%(value)s” contains spaces: IDs must not."),
    "id.empty": gettext_noop("The ID is empty: every row should have one."),
    "id.fullwidth": gettext_noop(
        "The ID “%(value)s” contains full-width letters or digits: write “%(suggestion)s”."
    ),
    "kana.hiragana": gettext_noop(
        "The reading “%(value)s” is in hiragana: write it in full-width katakana "
        "(“%(suggestion)s”)."
    ),
    "kana.invalid": gettext_noop(
        "The reading “%(value)s” contains “%(char)s”: readings use full-width katakana only "
        "(with ー, ・ and spaces)."
    ),
    "alphabet.invalid": gettext_noop(
        "“%(value)s” contains “%(char)s”: use half-width letters, digits and punctuation only."
    ),
    "date.format": gettext_noop(
        "“%(value)s” is not a date in the form YYYY-MM-DD (e.g. 2025-04-01)."
    ),
    "date.invalid": gettext_noop("%(value)s is not a real date."),
    "time.format": gettext_noop(
        "“%(value)s” is not a time in the form HH:MM or HH:MM:SS (24-hour clock, 00:00 to "
        "23:59, e.g. 09:30)."
    ),
    "datetime.offset": gettext_noop(
        "“%(value)s” has no time zone offset: add it, e.g. “%(suggestion)s” (Japan time)."
    ),
    "datetime.format": gettext_noop(
        "“%(value)s” is not a date and time in the form YYYY-MM-DDTHH:MM:SS+09:00."
    ),
    "datetime.invalid": gettext_noop("%(value)s is not a real date and time."),
    "latitude.format": gettext_noop(
        "“%(value)s” is not a latitude in decimal degrees (e.g. 35.817959)."
    ),
    "longitude.format": gettext_noop(
        "“%(value)s” is not a longitude in decimal degrees (e.g. 139.677899)."
    ),
    "latitude.range": gettext_noop("The latitude %(value)s is outside Japan (%(min)s to %(max)s)."),
    "longitude.range": gettext_noop(
        "The longitude %(value)s is outside Japan (%(min)s to %(max)s)."
    ),
    "latitude.precision": gettext_noop(
        "“%(value)s” has %(decimals)s decimals; 6 are enough (about 10 cm): round it to "
        "%(suggestion)s."
    ),
    "longitude.precision": gettext_noop(
        "“%(value)s” has %(decimals)s decimals; 6 are enough (about 10 cm): round it to "
        "%(suggestion)s."
    ),
    "coordinates.swapped": gettext_noop(
        "The latitude and longitude seem swapped: “%(lat_column)s” is %(latitude)s and "
        "“%(lon_column)s” is %(longitude)s. Exchange the two values."
    ),
    "coordinates.pair": gettext_noop(
        "“%(present)s” is given but “%(missing)s” is empty: give both or neither."
    ),
    "coordinates.far": gettext_noop(
        "The point %(latitude)s, %(longitude)s is %(distance)s km from the municipality (more "
        "than %(km)s km): check the coordinates."
    ),
    "flag.format": gettext_noop(
        "“%(value)s” is not a flag: write 1 for yes and leave the cell empty for no."
    ),
    "flag.no": gettext_noop(
        "“%(value)s” looks like “no”: leave the cell empty for no (write 1 only for yes)."
    ),
    "integer.format": gettext_noop(
        "“%(value)s” is not a whole number: write half-width digits only, without commas, "
        "units or spaces."
    ),
    "integer.unit": gettext_noop(
        "“%(value)s” contains “%(unit)s” besides the number: write the number alone "
        "(%(suggestion)s) and give units in the column name or the description."
    ),
    "decimal.format": gettext_noop(
        "“%(value)s” is not a number: write half-width digits with an optional decimal point, "
        "without commas, units or spaces."
    ),
    "decimal.unit": gettext_noop(
        "“%(value)s” contains “%(unit)s” besides the number: write the number alone "
        "(%(suggestion)s) and give units in the column name or the description."
    ),
    "url.format": gettext_noop(
        "“%(value)s” is not an absolute web address starting with http:// or https://."
    ),
    "url.non_ascii": gettext_noop(
        "The address “%(value)s” contains non-ASCII characters: percent-encode them (and "
        "write a Japanese domain name in its xn-- form)."
    ),
    "url.spaces": gettext_noop(
        "The address “%(value)s” contains spaces: remove them or write them as %%20."
    ),
    "phone.format": gettext_noop(
        "“%(value)s” is not a single phone number written as digits with hyphens "
        "(e.g. 048-441-1800)."
    ),
    "phone.fullwidth": gettext_noop(
        "“%(value)s” uses full-width digits or dashes: write “%(suggestion)s”."
    ),
    "phone.no_hyphens": gettext_noop(
        "“%(value)s” has no hyphens: write the number with hyphens (e.g. 048-441-1800)."
    ),
    "email.format": gettext_noop("“%(value)s” is not an e-mail address."),
    "postcode.format": gettext_noop(
        "“%(value)s” is not a postcode in the form NNN-NNNN (e.g. 335-8588)."
    ),
    "machiaza_id.format": gettext_noop(
        "“%(value)s” is not a machiaza ID (町字ID): seven half-width digits."
    ),
    "corporate_number.format": gettext_noop(
        "“%(value)s” is not a corporate number (法人番号): thirteen half-width digits."
    ),
    "corporate_number.check_digit": gettext_noop(
        "The check digit of the corporate number %(value)s is wrong: it should start with "
        "%(digit)s (%(expected)s)."
    ),
    "corporate_number.company_number": gettext_noop(
        "“%(value)s” has twelve digits, like a company registration number without its check "
        "digit: the corporate number would be %(expected)s."
    ),
    "list.empty_item": gettext_noop(
        "“%(value)s” has an empty item: separate values with a single “;”, with none at the "
        "start or end."
    ),
    "list.separator": gettext_noop(
        "“%(value)s” seems to separate values with “%(separator)s”: use “;”."
    ),
}
SUGGESTION = gettext_noop("Suggested: “%(suggestion)s”.")


class _Params(dict[str, str]):
    """Params for %-formatting: a placeholder without a value shows as "…", not an error."""

    def __missing__(self, key: str) -> str:
        return "…"


@dataclass(frozen=True)
class Issue:
    row: int  # 1 = header, 2 = first data row (as a spreadsheet shows it); 0 = the whole file
    column: str  # "" when the issue is about a whole row or the file
    code: str  # stable, e.g. "lgcode.check_digit"
    severity: str  # "error" (blocks publication) or "warning"
    params: dict[str, str] = field(default_factory=dict)

    def message(self) -> str:
        template = MESSAGES.get(self.code)
        params = _Params(self.params)
        if template is None:
            return " ".join([self.code, *(f"{k}={v}" for k, v in self.params.items())])
        text = gettext(template) % params
        if "suggestion" in self.params and "%(suggestion)s" not in template:
            text = f"{text} {gettext(SUGGESTION) % params}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "code": self.code,
            "severity": self.severity,
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Issue:
        return cls(
            row=int(data.get("row", 0)),
            column=str(data.get("column", "")),
            code=str(data["code"]),
            severity=str(data.get("severity", ERROR)),
            params={str(k): str(v) for k, v in (data.get("params") or {}).items()},
        )


@dataclass
class Report:
    rows: int  # data rows checked
    errors: int  # complete counts, even when issues were capped
    warnings: int
    issues: list[Issue]  # at most `limit`, errors first, then by row
    # Complete count of every (code, severity), for summary_by_code; optional in JSON.
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def truncated(self) -> bool:
        """Some issues were left out of ``issues`` (the counts still include them)."""
        return len(self.issues) < self.errors + self.warnings

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "errors": self.errors,
            "warnings": self.warnings,
            "issues": [issue.to_json() for issue in self.issues],
            "counts": [[code, severity, n] for (code, severity), n in self.counts.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            rows=int(data.get("rows", 0)),
            errors=int(data.get("errors", 0)),
            warnings=int(data.get("warnings", 0)),
            issues=[Issue.from_json(item) for item in data.get("issues") or []],
            counts={(str(c), str(s)): int(n) for c, s, n in data.get("counts") or []},
        )

    def summary_by_code(self) -> list[tuple[str, str, int]]:
        """(code, severity, count), errors first, then the most frequent. Complete when the
        report has its counts; otherwise counted over the (possibly capped) issues."""
        counts = dict(self.counts)
        if not counts:
            for issue in self.issues:
                key = (issue.code, issue.severity)
                counts[key] = counts.get(key, 0) + 1
        return sorted(
            ((code, severity, n) for (code, severity), n in counts.items()),
            key=lambda item: (item[1] != ERROR, -item[2], item[0]),
        )


class _Collector:
    """Counts every issue and keeps the first `limit` errors and warnings (issues arrive in
    row order)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []
        self.n_errors = 0
        self.n_warnings = 0
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, row: int, column: str, code: str, severity: str, params: dict[str, str]) -> None:
        key = (code, severity)
        self.counts[key] = self.counts.get(key, 0) + 1
        if severity == ERROR:
            self.n_errors += 1
            if len(self.errors) < self.limit:
                self.errors.append(Issue(row, column, code, severity, dict(params)))
        else:
            self.n_warnings += 1
            if len(self.warnings) < self.limit:
                self.warnings.append(Issue(row, column, code, severity, dict(params)))

    def report(self, rows: int) -> Report:
        errors = sorted(self.errors, key=lambda issue: issue.row)
        warnings = sorted(self.warnings, key=lambda issue: issue.row)
        return Report(
            rows=rows,
            errors=self.n_errors,
            warnings=self.n_warnings,
            issues=(errors + warnings)[: self.limit],
            counts=self.counts,
        )


# --- character rules (every cell) -------------------------------------------------------------

Finding = tuple[str, str, dict[str, str]]  # (code, severity, params)
NO_FINDINGS: tuple[Finding, ...] = ()

_SPACES = " \u3000\u00a0\t"
_LINE_BREAKS = "\r\n\u2028\u2029"
# 機種依存文字: NEC/IBM/Mac extensions that JIS X 0213 later absorbed but that older systems,
# search and sorting still treat differently: № ℡, Roman numerals, circled and parenthesised
# numbers (①, ⑴, ⒈, ❶), enclosed ideographs (㈱, ㊤, ㋿), squared words, units and eras (㌔, ㎏,
# ㍻).
_PLATFORM = "\u2116\u2121\u2160-\u2188\u2460-\u24ff\u2776-\u2793\u3200-\u33ff"
_SPECIAL_RE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029\uff61-\uff9f{_PLATFORM}]")
_CONTROL_RE = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK_RE = re.compile("[\r\n\u2028\u2029]")
_PLATFORM_RE = re.compile(f"[{_PLATFORM}]")
_HALFWIDTH_KANA_RE = re.compile("[\uff61-\uff9f]+")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _platform_replacement(char: str) -> str:
    code = ord(char)
    if 0x2776 <= code <= 0x2793:  # ❶ ➀ ➊: dingbat circled digits, no NFKC mapping
        return str((code - 0x2776) % 10 + 1)
    return _nfkc(char)


def _check_characters(value: str) -> tuple[Finding, ...]:
    """The rules for every cell, on the slow path (non-ASCII or non-printable text)."""
    found: list[Finding] = []
    if value[0] in _SPACES or value[-1] in _SPACES:
        found.append(("cell.spaces", WARNING, {"value": value, "suggestion": value.strip(_SPACES)}))
    if _SPECIAL_RE.search(value):
        if _LINE_BREAK_RE.search(value):
            found.append(("cell.line_break", WARNING, {}))
        control = _CONTROL_RE.search(value)
        if control:
            found.append(("cell.control", ERROR, {"codepoint": f"U+{ord(control[0]):04X}"}))
        if _PLATFORM_RE.search(value):
            chars = "".join(dict.fromkeys(_PLATFORM_RE.findall(value)))
            suggestion = _PLATFORM_RE.sub(lambda m: _platform_replacement(m[0]), value)
            params = {"value": value, "chars": chars, "suggestion": suggestion}
            found.append(("cell.environment_dependent", ERROR, params))
        if _HALFWIDTH_KANA_RE.search(value):
            suggestion = _HALFWIDTH_KANA_RE.sub(lambda m: _nfkc(m[0]), value)
            found.append(("cell.halfwidth_kana", ERROR, {"value": value, "suggestion": suggestion}))
    if not value.isascii():
        try:
            value.encode("euc_jis_2004")
        except UnicodeEncodeError:
            outside = [
                char
                for char in dict.fromkeys(value)
                if char not in _LINE_BREAKS and not _CONTROL_RE.match(char) and not _in_jis(char)
            ]
            if outside:
                params = {
                    "value": value,
                    "chars": "".join(outside),
                    "codepoints": " ".join(f"U+{ord(char):04X}" for char in outside),
                }
                found.append(("cell.outside_jis", ERROR, params))
    return tuple(found)


def _in_jis(char: str) -> bool:
    try:
        char.encode("euc_jis_2004")
    except UnicodeEncodeError:
        return False
    return True


# --- kinds --------------------------------------------------------------------------------------

Check = Callable[[str], tuple[Finding, ...]]

# Text that stands for "no value" (the guidelines want an empty cell: L1-09, L3-03).
NO_VALUE = frozenset(
    {
        "-", "--", "－", "ー", "―", "‐", "—", "–", "−", "ｰ", "*", "＊", "※", "…", "...",
        "なし", "無し", "無", "不明", "未定", "該当なし", "N/A", "n/a", "NA", "null", "NULL",
        "Null", "None", "none", "nil", "#N/A",
    }
)  # fmt: skip
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−－─━ー", "-"))


def _one(code: str, severity: str = ERROR, **params: str) -> tuple[Finding, ...]:
    return ((code, severity, params),)


def _with_suggestion(code: str, value: str, suggestion: str | None) -> tuple[Finding, ...]:
    if suggestion is None or suggestion == value:
        return _one(code, value=value)
    return _one(code, value=value, suggestion=suggestion)


def _digits(text: str) -> str:
    """NFKC (full-width digits → ASCII) with dash look-alikes unified."""
    return _nfkc(text).translate(_DASHES)


def check_lgcode(value: str) -> tuple[Finding, ...]:
    if len(value) == 6 and value.isascii() and value.isdigit():
        if not lgcode.is_valid(value):
            digit = str(lgcode.check_digit(value[:5]))
            return _one("lgcode.check_digit", value=value, digit=digit, expected=value[:5] + digit)
        if lgcode.lookup(value) is None:
            return _one("lgcode.unknown", WARNING, value=value)
        return NO_FINDINGS
    try:
        code = lgcode.repair(value)
    except lgcode.LgCodeError:
        return _one("lgcode.format", value=value)
    if not lgcode.is_valid(code):
        digit = str(lgcode.check_digit(code[:5]))
        if code != value.zfill(6):  # full-width or decorated: say which code was read
            return _one("lgcode.check_digit", value=code, digit=digit, expected=code[:5] + digit)
        if len(value) == 5:  # not a lost zero; maybe the check digit is missing
            expected = value + str(lgcode.check_digit(value))
            return _one("lgcode.missing_check_digit", value=value, expected=expected)
        return _one("lgcode.check_digit", value=code, digit=digit, expected=code[:5] + digit)
    if len(value) == 5 and value.isascii() and value.isdigit():
        return _one("lgcode.leading_zero", value=value, expected=code)
    return _one("lgcode.normalize", value=value, expected=code)


def check_id(value: str) -> tuple[Finding, ...]:
    if value.isascii() and value.isprintable():
        return _one("id.spaces", value=value) if " " in value else NO_FINDINGS
    if any(char.isspace() for char in value):
        return _one("id.spaces", value=value)
    normal = _nfkc(value)
    if normal != value and normal.isascii():
        return _one("id.fullwidth", WARNING, value=value, suggestion=normal)
    return NO_FINDINGS


_KANA_RE = re.compile("[\u30a1-\u30fa\u30fb\u30fc\u30fd\u30fe\u3000 \uff61-\uff9f]+")
_HIRAGANA_RE = re.compile("[\u3041-\u3096\u309d\u309e]")


def check_kana(value: str) -> tuple[Finding, ...]:
    if _KANA_RE.fullmatch(value):
        return NO_FINDINGS
    if _HIRAGANA_RE.search(value):
        suggestion = to_katakana(value)
        if _KANA_RE.fullmatch(suggestion):
            return _one("kana.hiragana", WARNING, value=value, suggestion=suggestion)
    bad = next(
        (char for char in value if not _KANA_RE.match(char) and not _HIRAGANA_RE.match(char)),
        value[0],
    )
    return _one("kana.invalid", value=value, char=bad)


def _ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", _nfkc(text))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def check_alphabet(value: str) -> tuple[Finding, ...]:
    if value.isascii() and value.isprintable():
        return NO_FINDINGS
    bad = next(char for char in value if not (char.isascii() and char.isprintable()))
    folded = _ascii_fold(value)
    if folded.isascii() and folded.isprintable():
        return _one("alphabet.invalid", value=value, char=bad, suggestion=folded)
    return _one("alphabet.invalid", value=value, char=bad)


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LOOSE_DATE_RE = re.compile(r"([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?")
_COMPACT_DATE_RE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_WAREKI_RE = re.compile(
    r"(令和|平成|昭和|大正|明治|[RHSTMrhstm])(元|[0-9]{1,2})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?"
)
_ERA_YEAR = {name: start.year for start, name, _letter in ERAS} | {
    letter: start.year for start, _name, letter in ERAS
}


def _loose_date(text: str) -> str | None:
    """The YYYY-MM-DD form of a date written another common way (2024/4/1, 令和6年4月1日,
    R6.4.1, 20240401), or None."""
    text = _digits(text).replace(" ", "")
    match = _LOOSE_DATE_RE.fullmatch(text) or _COMPACT_DATE_RE.fullmatch(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
    else:
        match = _WAREKI_RE.fullmatch(text)
        if not match:
            return None
        era, era_year, month_text, day_text = match.groups()
        start = _ERA_YEAR[era.upper() if len(era) == 1 else era]
        year = start + (1 if era_year == "元" else int(era_year)) - 1
        month, day = int(month_text), int(day_text)
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def check_date(value: str) -> tuple[Finding, ...]:
    if _DATE_RE.fullmatch(value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return _one("date.invalid", value=value)
        return NO_FINDINGS
    suggestion = _loose_date(value)
    if suggestion is None:
        head = _digits(value).replace(" ", "T", 1).split("T")[0]
        if head != value and _DATE_RE.fullmatch(head):  # a timestamp in a date column
            suggestion = _loose_date(head)
    return _with_suggestion("date.format", value, suggestion)


_TIME_RE = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?")
_LOOSE_TIME_RE = re.compile(r"([0-9]{1,2})[:時]([0-9]{1,2})?分?(?:[:]?([0-9]{1,2})秒?)?")


def _loose_time(text: str, *, seconds: bool = False) -> str | None:
    match = _LOOSE_TIME_RE.fullmatch(_digits(text).replace(" ", ""))
    if not match:
        return None
    hour, minute, second = (int(part) if part else 0 for part in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        return None
    if seconds or match[3]:
        return f"{hour:02d}:{minute:02d}:{second:02d}"
    return f"{hour:02d}:{minute:02d}"


def check_time(value: str) -> tuple[Finding, ...]:
    if _TIME_RE.fullmatch(value):
        return NO_FINDINGS
    return _with_suggestion("time.format", value, _loose_time(value))


_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_NAIVE_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
)
_LOOSE_DATETIME_RE = re.compile(r"(.+?)[T ]+(.+?)(Z|[+-][0-9]{2}:?[0-9]{2})?")


def _loose_datetime(text: str) -> str | None:
    match = _LOOSE_DATETIME_RE.fullmatch(_digits(text).strip())
    if not match:
        return None
    date, time = _loose_date(match[1]), _loose_time(match[2], seconds=True)
    if date is None or time is None:
        return None
    offset = match[3] or "+09:00"
    if len(offset) == 5:  # +0900
        offset = f"{offset[:3]}:{offset[3:]}"
    return f"{date}T{time}{offset}"


def check_datetime(value: str) -> tuple[Finding, ...]:
    if _DATETIME_RE.fullmatch(value):
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return _one("datetime.invalid", value=value)
        return NO_FINDINGS
    if _NAIVE_DATETIME_RE.fullmatch(value):
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return _one("datetime.invalid", value=value)
        return _one("datetime.offset", value=value, suggestion=f"{value}+09:00")
    suggestion = _loose_datetime(value)
    if suggestion is not None and not _has_offset(value):
        return _one("datetime.offset", value=value, suggestion=suggestion)
    return _with_suggestion("datetime.format", value, suggestion)


def _has_offset(text: str) -> bool:
    return bool(re.search(r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$", _digits(text).strip()))


_COORDINATE_RE = re.compile(r"-?[0-9]{1,3}(?:\.([0-9]+))?")
_DMS_RE = re.compile(
    r"(?:北緯|南緯|東経|西経|[NSEW])?\s*([0-9]{1,3})\s*[°度]\s*([0-9]{1,2})\s*['′’分]\s*"
    r"(?:([0-9]{1,2}(?:\.[0-9]+)?)\s*(?:\"|″|”|''|秒)?)?\s*[NSEW]?"
)
_COORDINATE_PREFIX_RE = re.compile(r"(?:北緯|東経|[NE])\s*(-?[0-9]{1,3}(?:\.[0-9]+)?)\s*[NE]?")


def _loose_coordinate(text: str) -> str | None:
    text = _nfkc(text).strip()
    match = _COORDINATE_RE.fullmatch(text)
    if match:
        return text
    match = _COORDINATE_PREFIX_RE.fullmatch(text)
    if match:
        return match[1]
    match = _DMS_RE.fullmatch(text)
    if match:
        degrees = int(match[1]) + int(match[2]) / 60 + float(match[3] or 0) / 3600
        return f"{degrees:.6f}"
    return None


def _make_coordinate_check(axis: str, *, check_range: bool) -> Check:
    low, high = LATITUDE_RANGE if axis == "latitude" else LONGITUDE_RANGE

    def check(value: str) -> tuple[Finding, ...]:
        match = _COORDINATE_RE.fullmatch(value)
        if not match:
            return _with_suggestion(f"{axis}.format", value, _loose_coordinate(value))
        found: list[Finding] = []
        number = float(value)
        if check_range and not low <= number <= high:
            params = {"value": value, "min": f"{low:g}", "max": f"{high:g}"}
            found.append((f"{axis}.range", ERROR, params))
        decimals = len(match[1] or "")
        if decimals > COORDINATE_DECIMALS:
            params = {"value": value, "decimals": str(decimals), "suggestion": f"{number:.6f}"}
            found.append((f"{axis}.precision", WARNING, params))
        return tuple(found)

    return check


_FLAG_YES = frozenset(
    {
        "○", "◯", "〇", "●", "◎", "✓", "✔", "レ", "１", "1.0", "01", "true", "True", "TRUE",
        "yes", "Yes", "YES", "y", "Y", "t", "T", "on", "ON", "有", "有り", "あり", "可", "該当",
    }
)  # fmt: skip
_FLAG_NO = frozenset(
    {
        "0", "０", "0.0", "00", "×", "✕", "✖", "false", "False", "FALSE", "no", "No", "NO",
        "n", "N", "f", "F", "off", "OFF", "非該当", "不可",
    }
)  # fmt: skip


def check_flag(value: str) -> tuple[Finding, ...]:
    if value == "1":
        return NO_FINDINGS
    if value in _FLAG_YES:
        return _one("flag.format", value=value, suggestion="1")
    if value in _FLAG_NO:
        return _one("flag.no", value=value)
    return _one("flag.format", value=value)


_INTEGER_RE = re.compile(r"-?[0-9]+")
_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NUMBER_PARTS_RE = re.compile(
    r"(?P<prefix>[^0-9+\-.]*?)\s*(?P<number>[+-]?(?:[0-9][0-9,]*)?\.?[0-9]+)\s*(?P<suffix>.*)"
)


def _make_number_check(kind: str) -> Check:
    strict = _INTEGER_RE if kind == "integer" else _DECIMAL_RE

    def suggest(number: str) -> str | None:
        number = number.replace(",", "").lstrip("+")
        if number.startswith("."):
            number = "0" + number
        elif number.startswith("-."):
            number = "-0" + number[1:]
        if kind == "integer" and "." in number:
            whole, _, fraction = number.partition(".")
            if fraction.strip("0"):
                return None
            number = whole
        return number if strict.fullmatch(number) else None

    def check(value: str) -> tuple[Finding, ...]:
        if strict.fullmatch(value):
            return NO_FINDINGS
        text = _nfkc(value).translate(_DASHES)
        match = _NUMBER_PARTS_RE.fullmatch(text)
        if not match:
            return _one(f"{kind}.format", value=value)
        suggestion = suggest(match["number"])
        unit = " ".join(part for part in (match["prefix"].strip(), match["suffix"].strip()) if part)
        if unit and suggestion is not None:
            return _one(f"{kind}.unit", value=value, unit=unit, suggestion=suggestion)
        if unit:
            return _one(f"{kind}.format", value=value)
        return _with_suggestion(f"{kind}.format", value, suggestion)

    return check


_URL_RE = re.compile(r"https?://[A-Za-z0-9\-._~%!$&'()*+,;=:@/?#\[\]]+")
_URL_HOST_RE = re.compile(r"https?://(?:[^/?#@\s]*@)?([^/?#:\s]+)")


def _url_host_ok(url: str) -> bool:
    match = _URL_HOST_RE.match(url)
    return match is not None and ("." in match[1] or match[1] == "localhost")


def check_url(value: str) -> tuple[Finding, ...]:
    if _URL_RE.fullmatch(value) and _url_host_ok(value):
        return NO_FINDINGS
    scheme, sep, rest = value.partition("://")
    url = scheme.lower() + sep + rest  # HTTPS://… → https://…
    if url.startswith(("http://", "https://")) and any(c.isspace() for c in url):
        return _one("url.spaces", value=value)
    if url.startswith(("http://", "https://")) and not any(c.isspace() for c in url):
        if not _url_host_ok(url):
            return _one("url.format", value=value)
        if url != value:
            return _with_suggestion("url.format", value, None if check_url(url) else url)
        if not value.isascii():
            return _one("url.non_ascii", WARNING, value=value)
        return _one("url.format", value=value)  # characters a URL cannot hold: " < > \\ ^ ` { | }
    normal = _nfkc(value).strip()
    if normal != value and _URL_RE.fullmatch(normal) and _url_host_ok(normal):
        return _one("url.format", value=value, suggestion=normal)
    if re.fullmatch(r"(?:www\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:/\S*)?", normal):
        return _one("url.format", value=value, suggestion="https://" + normal)
    return _one("url.format", value=value)


_PHONE_RE = re.compile(r"0[0-9]{1,4}-[0-9]{1,4}-[0-9]{3,4}")
_SHORT_PHONE_RE = re.compile(r"#?[0-9]{3,4}")  # 110, 119, #7119, 189
_BARE_PHONE_RE = re.compile(r"0[0-9]{9,10}")


def _phone_ok(text: str) -> bool:
    if _SHORT_PHONE_RE.fullmatch(text):
        return True
    return bool(_PHONE_RE.fullmatch(text)) and len(text) - text.count("-") in (10, 11)


def check_phone(value: str) -> tuple[Finding, ...]:
    if _phone_ok(value):
        return NO_FINDINGS
    if _BARE_PHONE_RE.fullmatch(value):
        return _one("phone.no_hyphens", WARNING, value=value)
    text = _digits(value).replace(" ", "")
    if text != value.replace(" ", "") and _phone_ok(text):
        return _one("phone.fullwidth", value=value, suggestion=text)
    repaired = re.sub(r"^\+81-?", "0", text)
    repaired = re.sub(r"^\(?(0[0-9]{1,4})\)-?", r"\1-", repaired)
    repaired = re.sub(r"\(([0-9]{1,4})\)-?", r"-\1-", repaired).replace("--", "-")
    return _with_suggestion("phone.format", value, repaired if _phone_ok(repaired) else None)


_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


def check_email(value: str) -> tuple[Finding, ...]:
    if _EMAIL_RE.fullmatch(value):
        return NO_FINDINGS
    text = _nfkc(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return _with_suggestion("email.format", value, text if _EMAIL_RE.fullmatch(text) else None)


_POSTCODE_RE = re.compile(r"[0-9]{3}-[0-9]{4}")


def check_postcode(value: str) -> tuple[Finding, ...]:
    if _POSTCODE_RE.fullmatch(value):
        return NO_FINDINGS
    text = _digits(value).replace(" ", "").lstrip("〒")
    if re.fullmatch(r"[0-9]{7}", text):
        text = f"{text[:3]}-{text[3:]}"
    return _with_suggestion(
        "postcode.format", value, text if _POSTCODE_RE.fullmatch(text) else None
    )


_MACHIAZA_RE = re.compile(r"[0-9]{7}")


def check_machiaza_id(value: str) -> tuple[Finding, ...]:
    if _MACHIAZA_RE.fullmatch(value):
        return NO_FINDINGS
    text = _nfkc(value).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if text.isascii() and text.isdigit() and len(text) <= 7:
        text = text.zfill(7)  # a spreadsheet dropped the leading zeros
    suggestion = text if _MACHIAZA_RE.fullmatch(text) else None
    return _with_suggestion("machiaza_id.format", value, suggestion)


def corporate_check_digit(base: str) -> int:
    """The check digit (first digit) of a 法人番号 from its 12-digit base number.

    法人番号の指定等に関する省令 第二条: 9 − ((Σ Pn × Qn) mod 9), Pn the n-th digit of the base
    counted from the right (n = 1 … 12), Qn = 1 for odd n and 2 for even n.
    """
    if len(base) != 12 or not base.isascii() or not base.isdigit():
        raise ValueError(f"{base!r} is not twelve digits")
    total = sum(int(digit) * (2 if n % 2 == 0 else 1) for n, digit in enumerate(base[::-1], 1))
    return 9 - total % 9


def check_corporate_number(value: str) -> tuple[Finding, ...]:
    text = value
    if not (len(text) == 13 and text.isascii() and text.isdigit()):
        text = _nfkc(value).replace("-", "").replace(" ", "")
        if len(text) == 12 and text.isascii() and text.isdigit():
            expected = f"{corporate_check_digit(text)}{text}"
            return _one("corporate_number.company_number", value=value, expected=expected)
        if not (len(text) == 13 and text.isascii() and text.isdigit()):
            return _one("corporate_number.format", value=value)
    digit = str(corporate_check_digit(text[1:]))
    if text[0] != digit:
        return _one(
            "corporate_number.check_digit", value=text, digit=digit, expected=digit + text[1:]
        )
    if text != value:
        return _one("corporate_number.format", value=value, suggestion=text)
    return NO_FINDINGS


_LIST_SEPARATORS = ("、", "，", ",", "；")


def check_list(value: str) -> tuple[Finding, ...]:
    found: list[Finding] = []
    if ";" in value and any(not item.strip() for item in value.split(";")):
        found.append(("list.empty_item", ERROR, {"value": value}))
    separators = [sep for sep in _LIST_SEPARATORS if sep in value]
    if separators:
        suggestion = value
        for sep in separators:
            suggestion = suggestion.replace(sep, ";")
        params = {"value": value, "separator": "".join(separators), "suggestion": suggestion}
        found.append(("list.separator", WARNING, params))
    return tuple(found)


_CHECKS: dict[str, Check] = {
    "id": check_id,
    "lgcode": check_lgcode,
    "kana": check_kana,
    "alphabet": check_alphabet,
    "date": check_date,
    "time": check_time,
    "datetime": check_datetime,
    "flag": check_flag,
    "integer": _make_number_check("integer"),
    "decimal": _make_number_check("decimal"),
    "url": check_url,
    "phone": check_phone,
    "email": check_email,
    "postcode": check_postcode,
    "machiaza_id": check_machiaza_id,
    "corporate_number": check_corporate_number,
    "list": check_list,
}


def _kind_check(kind: str, *, paired: bool) -> Check | None:
    """The check of one kind's non-empty (stripped) values, "no value" stand-ins first."""
    if kind == "text":
        return None
    if kind in ("latitude", "longitude"):
        base = _make_coordinate_check(kind, check_range=not paired)
    else:
        base = _CHECKS[kind]

    def check(value: str) -> tuple[Finding, ...]:
        if value in NO_VALUE:
            return _one("cell.no_value", value=value)
        return base(value)

    return check


def check_value(kind: str, value: str) -> list[tuple[str, str, dict[str, str]]]:
    """The findings (code, severity, params) of one value of a kind, without the character
    rules: for forms that check a single field before saving."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    check = _kind_check(kind, paired=False)
    stripped = value.strip()
    if check is None or not stripped:
        return []
    return [(code, severity, dict(params)) for code, severity, params in check(stripped)]


# --- the header -------------------------------------------------------------------------------


def _name_key(name: str) -> str:
    return "".join(_nfkc(name).replace("\ufeff", "").split())


def _check_header(
    header: Sequence[str], columns: Sequence[Column], add: Callable[..., None], row: int
) -> list[Column | None]:
    """Header issues; returns the column each position of the header holds (None: unknown)."""
    expected = [column.name for column in columns]
    by_name = {column.name: column for column in columns}
    found = list(header)
    if found == expected:
        return list(columns)
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(found):
        positions.setdefault(name, []).append(index + 1)
    for index, name in enumerate(found):
        if not name.strip():
            add(row, "", "header.blank", ERROR, {"position": str(index + 1)})
    for name, where in positions.items():
        if len(where) > 1 and name.strip():
            params = {"name": name, "positions": ", ".join(map(str, where))}
            add(row, name, "header.duplicate", ERROR, params)
    # A name that differs only by spaces or full-width characters is the same column, renamed.
    missing = [name for name in expected if name not in positions]
    keys = {_name_key(name): name for name in missing}
    mapping: list[Column | None] = []
    renamed: set[str] = set()
    for index, name in enumerate(found):
        if name in by_name:
            mapping.append(by_name[name])
            continue
        target = keys.get(_name_key(name)) if name.strip() else None
        if target is not None and target not in renamed:
            renamed.add(target)
            mapping.append(by_name[target])
            params = {"position": str(index + 1), "found": name, "name": target}
            add(row, target, "header.renamed", ERROR, params)
        else:
            mapping.append(None)
            if name.strip():
                params = {"name": name, "position": str(index + 1)}
                add(row, name, "header.unknown", ERROR, params)
    for position, name in enumerate(expected, 1):
        if name not in positions and name not in renamed:
            add(row, name, "header.missing", ERROR, {"name": name, "position": str(position)})
    # Order, among the expected columns that are there (first occurrences).
    present: list[tuple[str, int]] = []
    seen: set[str] = set()
    for index, column in enumerate(mapping):
        if column is not None and column.name not in seen:
            seen.add(column.name)
            present.append((column.name, index + 1))
    in_order = [name for name in expected if name in seen]
    for (name, position), wanted in zip(present, in_order, strict=True):
        if name != wanted:
            params = {
                "name": name,
                "position": str(position),
                "expected_position": str(expected.index(name) + 1),
            }
            add(row, name, "header.order", ERROR, params)
            break
    return mapping


# --- rows -------------------------------------------------------------------------------------


def _coordinate_pairs(
    header: Sequence[str], mapping: Sequence[Column | None]
) -> list[tuple[int, int]]:
    """Positions of (latitude, longitude) column pairs: 緯度/経度 (or X緯度/X経度) by name,
    else the one latitude and the one longitude column."""
    kinds = {i: _effective_kind(c) for i, c in enumerate(mapping) if c is not None}
    latitudes = [i for i, kind in kinds.items() if kind == "latitude"]
    longitudes = [i for i, kind in kinds.items() if kind == "longitude"]
    pairs: list[tuple[int, int]] = []
    for lat in latitudes:
        name = header[lat]
        if "緯度" in name:
            partner = name.replace("緯度", "経度")
            for lon in longitudes:
                if header[lon] == partner:
                    pairs.append((lat, lon))
                    break
    if not pairs and len(latitudes) == 1 and len(longitudes) == 1:
        pairs.append((latitudes[0], longitudes[0]))
    return pairs


def _effective_kind(column: Column) -> str:
    if column.kind not in KINDS:
        raise ValueError(f"column {column.name!r}: unknown kind {column.kind!r}")
    if column.kind == "text" and column.name in ("緯度", "経度"):
        return "latitude" if column.name == "緯度" else "longitude"
    return column.kind


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def _in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _check_pair(
    row: int,
    lat_name: str,
    lon_name: str,
    lat_text: str,
    lon_text: str,
    near: tuple[float, float, float] | None,
    add: Callable[..., None],
) -> None:
    if not lat_text and not lon_text:
        return
    if not lat_text or not lon_text:
        present, missing = (lat_name, lon_name) if lat_text else (lon_name, lat_name)
        add(row, missing, "coordinates.pair", ERROR, {"present": present, "missing": missing})
        return
    if not _COORDINATE_RE.fullmatch(lat_text) or not _COORDINATE_RE.fullmatch(lon_text):
        return  # the format is reported by the cell checks
    lat, lon = float(lat_text), float(lon_text)
    lat_ok, lon_ok = _in_range(lat, LATITUDE_RANGE), _in_range(lon, LONGITUDE_RANGE)
    if (
        not lat_ok
        and not lon_ok
        and _in_range(lon, LATITUDE_RANGE)
        and _in_range(lat, LONGITUDE_RANGE)
    ):
        params = {
            "lat_column": lat_name,
            "lon_column": lon_name,
            "latitude": lat_text,
            "longitude": lon_text,
        }
        add(row, lat_name, "coordinates.swapped", ERROR, params)
        return
    if not lat_ok:
        params = {
            "value": lat_text,
            "min": f"{LATITUDE_RANGE[0]:g}",
            "max": f"{LATITUDE_RANGE[1]:g}",
        }
        add(row, lat_name, "latitude.range", ERROR, params)
    if not lon_ok:
        params = {
            "value": lon_text,
            "min": f"{LONGITUDE_RANGE[0]:g}",
            "max": f"{LONGITUDE_RANGE[1]:g}",
        }
        add(row, lon_name, "longitude.range", ERROR, params)
    if lat_ok and lon_ok and near is not None:
        distance = _distance_km(near[0], near[1], lat, lon)
        if distance > near[2]:
            params = {
                "latitude": lat_text,
                "longitude": lon_text,
                "distance": f"{distance:.0f}",
                "km": f"{near[2]:g}",
            }
            add(row, lat_name, "coordinates.far", WARNING, params)


def _check_rows(
    header: Sequence[str],
    numbered: Iterable[tuple[int, Sequence[str]]],
    columns: Sequence[Column],
    collector: _Collector,
    *,
    near: tuple[float, float, float] | None,
    header_row: int = 1,
) -> int:
    """The header and every data row; returns the number of data rows checked."""
    add = collector.add
    for expected in columns:
        _effective_kind(expected)  # unknown kinds are a programming error: fail loudly
    mapping = _check_header(header, columns, add, header_row)
    width = len(header)
    header_list = list(header)
    names = list(header)
    for index, column in enumerate(mapping):
        if column is not None:
            names[index] = column.name
    pairs = _coordinate_pairs(names, mapping)
    paired = {index for pair in pairs for index in pair}
    first_of: dict[str, int] = {}
    for index, column in enumerate(mapping):
        if column is not None:
            first_of.setdefault(column.name, index)
    checks: list[Check | None] = []
    required: list[bool] = []
    unique: list[dict[str, int] | None] = []
    is_id: list[bool] = []
    for index, column in enumerate(mapping):
        if column is None:
            checks.append(None)
            required.append(False)
            unique.append(None)
            is_id.append(False)
            continue
        kind = _effective_kind(column)
        checks.append(_kind_check(kind, paired=index in paired))
        required.append(column.required)
        unique.append({} if column.unique and first_of[column.name] == index else None)
        is_id.append(kind == "id")
    caches: list[dict[str, tuple[Finding, ...]]] = [{} for _ in range(width)]
    char_cache: dict[str, tuple[Finding, ...]] = {}
    columns_range = range(width)
    rows = 0

    for row, cells in numbered:
        if not cells or not "".join(cells).strip():
            add(row, "", "row.blank", ERROR, {})
            continue
        rows += 1
        if len(cells) != width:
            if len(cells) > width and not "".join(cells[width:]).strip():
                add(row, "", "row.trailing_empty", ERROR, {"extra": str(len(cells) - width)})
                cells = cells[:width]
            else:
                add(
                    row, "", "row.length", ERROR, {"found": str(len(cells)), "expected": str(width)}
                )
                continue
        if cells[0] == header_list[0] and list(cells) == header_list:
            add(row, "", "row.repeated_header", ERROR, {})
            continue
        for index in columns_range:
            value = cells[index]
            stripped = value
            if value:
                if value.isascii() and value.isprintable():
                    if value[0] == " " or value[-1] == " ":
                        stripped = value.strip()
                        add(row, names[index], "cell.spaces", WARNING,
                            {"value": value, "suggestion": stripped})  # fmt: skip
                else:
                    found = char_cache.get(value)
                    if found is None:
                        found = char_cache[value] = _check_characters(value)
                    for code, severity, params in found:
                        add(row, names[index], code, severity, params)
                    stripped = value.strip()
            if not stripped:
                if required[index]:
                    add(row, names[index], "cell.required", ERROR, {})
                elif is_id[index]:
                    add(row, names[index], "id.empty", WARNING, {})
                continue
            check = checks[index]
            if check is not None:
                cache = caches[index]
                found = cache.get(stripped)
                if found is None:
                    found = cache[stripped] = check(stripped)
                for code, severity, params in found:
                    add(row, names[index], code, severity, params)
            seen = unique[index]
            if seen is not None:
                first = seen.get(stripped)
                if first is None:
                    seen[stripped] = row
                else:
                    params = {"value": stripped, "first_row": str(first)}
                    add(row, names[index], "cell.duplicate", ERROR, params)
        for lat, lon in pairs:
            _check_pair(row, names[lat], names[lon], cells[lat].strip(), cells[lon].strip(),
                        near, add)  # fmt: skip
    return rows


def validate_rows(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    columns: Sequence[Column],
    *,
    limit: int = 1000,
    near: tuple[float, float, float] | None = None,
) -> Report:
    """Check a header and rows of strings against the expected columns.

    ``near`` = (latitude, longitude, km): coordinates farther than km from that point get a
    warning. Row numbers count the header as row 1.
    """
    collector = _Collector(limit)
    checked = _check_rows(header, enumerate(rows, 2), columns, collector, near=near)
    return collector.report(checked)


# --- the file ---------------------------------------------------------------------------------

_ENDINGS = {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}


def _parse(text: str) -> tuple[list[list[str]], list[str], int | None]:
    """Records, the line ending of each (CRLF, LF, CR or "" at the end of the file), and the
    row where the CSV syntax broke (None if it did not)."""
    last = [""]

    def lines() -> Iterable[str]:
        for line in io.StringIO(text, newline=""):
            last[0] = line
            yield line

    records: list[list[str]] = []
    endings: list[str] = []
    reader = csv.reader(lines(), strict=True)
    try:
        for record in reader:
            records.append(record)
            line = last[0]
            endings.append(
                "CRLF" if line.endswith("\r\n") else _ENDINGS.get(line[-1:], "") if line else ""
            )
    except csv.Error:
        return records, endings, len(records) + 1
    return records, endings, None


def _header_row(records: list[list[str]], columns: Sequence[Column]) -> int:
    """Index of the record that is the header: 0, unless the expected header appears a few rows
    down (a title or notes above it)."""
    expected = [_name_key(column.name) for column in columns]
    if not expected:
        return 0

    def keys(record: list[str]) -> list[str]:
        names = [_name_key(name) for name in record]
        while names and not names[-1]:
            names.pop()
        return names

    if keys(records[0]) == expected:
        return 0
    for index in range(1, min(len(records), 11)):
        if keys(records[index]) == expected:
            return index
    return 0


def validate_csv(
    data: bytes,
    columns: Sequence[Column],
    *,
    limit: int = 1000,
    near: tuple[float, float, float] | None = None,
) -> Report:
    """Check a CSV file: the file rules, then :func:`validate_rows` on its content."""
    collector = _Collector(limit)
    add = collector.add
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        add(0, "", "file.encoding", ERROR, {"encoding": "UTF-16"})
        return collector.report(0)
    try:
        decoded = decode_csv_bytes(data)
    except CsvDecodeError as exc:
        add(0, "", "file.undecodable", ERROR, {"line": str(exc.row or 1)})
        return collector.report(0)
    if decoded.encoding == "cp932":
        add(0, "", "file.encoding", ERROR, {"encoding": "Shift_JIS (CP932)"})
    text = decoded.text
    if not text.strip():
        add(0, "", "file.empty", ERROR, {})
        return collector.report(0)
    records, endings, broken = _parse(text)
    kinds = [ending for ending in endings if ending]
    if kinds and any(ending != kinds[0] for ending in kinds):
        row = next(i for i, ending in enumerate(endings, 1) if ending and ending != kinds[0])
        params = {"first": kinds[0], "other": endings[row - 1], "row": str(row)}
        add(0, "", "file.line_endings", WARNING, params)
    if not records:  # the very first record is broken
        if broken is not None:
            add(broken, "", "file.syntax", ERROR, {})
        return collector.report(0)
    start = _header_row(records, columns)
    if start:
        add(1, "", "file.title_rows", ERROR, {"header_row": str(start + 1), "count": str(start)})
    header = records[start]
    body = records[start + 1 :]
    trailing = 0
    while trailing < len(header) and not header[len(header) - 1 - trailing].strip():
        trailing += 1
    if trailing and trailing < len(header):
        width = len(header) - trailing
        if all(not "".join(record[width:]).strip() for record in body):
            add(start + 1, "", "file.trailing_columns", ERROR, {"count": str(trailing)})
            header = header[:width]
            body = [record[:width] if len(record) > width else record for record in body]
    checked = _check_rows(
        header,
        enumerate(body, start + 2),
        columns,
        collector,
        near=near,
        header_row=start + 1,
    )
    if broken is not None:
        add(broken, "", "file.syntax", ERROR, {})
    return collector.report(checked)
