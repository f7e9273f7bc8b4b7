"""Import the shelter registry (避難所台帳の取込) from the files municipalities publish.

Formats, recognised from the content and never from the file name:

* 国土地理院 (GSI) 指定避難所 and 指定緊急避難場所 lists, as CSV or as GeoJSON whose properties
  are the CSV columns. The 指定避難所 list has 受入対象者 / 指定緊急避難場所との住所同一, the
  指定緊急避難場所 list the eight hazard columns.
* 自治体標準オープンデータセット 03 指定緊急避難場所一覧, current layout (ID, 名称,
  所在地_連結表記 …) and the old 推奨データセット layout (NO, 名称, 住所, 市区町村コード …), with
  the variants found in the wild: no 全国地方公共団体コード column, flags written 1.0 or ○,
  capacity as free text.
* a municipality's own 避難所一覧: 名称, 住所, 緯度, 経度 and 開設される災害の種類（…）columns
  (焼津市 publishes one).

Rules decided here:

* Capacity: :func:`parse_capacity`.
* Matching: a record is the shelter whose GSI 共通ID or dataset ID it carries, else the facility
  with that code, else the facility with the same normalised name and address (the same building
  appears in both GSI lists, and in a city's own lists). Rows of one file that land on the same
  building are merged first, so a file imports the same way every time.
* Which list describes a building: the facility's ``source``. A record from that same list,
  or from a list that outranks it (:func:`source_rank`: 指定避難所 lists describe the building
  people stay in, 指定緊急避難場所 lists often a point in its grounds), sets its name, address
  and position and becomes its source. Any other record adds its flags, hazards and IDs and
  fills in only what is still blank. The two GSI lists place one building a few metres apart:
  without this they would pull it back and forth, and re-importing either list would change it.
* A blank cell never erases what Machi holds (one list leaves out what the other gives); to
  clear a value, edit it in Machi. Hazards are the exception: the list that states a building's
  hazards states them all, and a hazard it no longer lists is dropped, since a stale "safe in a
  flood" is dangerous. That list is the one describing the building, or, when that one has no
  hazard columns (the GSI 指定避難所 list), the list that has them.
* Atomic: all records of a file or none. Problems are reported by row (the physical line in a
  CSV file, the header being line 1; the feature number from 1 in GeoJSON) and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from machi.core import japanese, lgcode, selectors, services
from machi.core.hazards import GSI_COLUMNS, Hazard
from machi.core.models import Facility, Municipality
from machi.core.roles import Action
from machi.shelters.models import Accessibility, Shelter

MAX_PROBLEMS = 50
# No place in Japan shelters a million people; a bigger figure is a typing error.
MAX_CAPACITY = 1_000_000
LATITUDE = (Decimal(20), Decimal(46))
LONGITUDE = (Decimal(122), Decimal(154))
SIX_DECIMALS = Decimal("0.000001")


class Layout(TextChoices):
    GSI_SHELTERS = "gsi_shelters", _("GSI designated shelters (指定避難所)")
    GSI_SITES = "gsi_sites", _("GSI designated emergency evacuation sites (指定緊急避難場所)")
    DATASET03 = "dataset03", _("Standard dataset 03 (指定緊急避難場所一覧), current layout")
    DATASET03_OLD = "dataset03_old", _("Standard dataset 03 (指定緊急避難場所一覧), old layout")
    CITY_SHELTERS = "city_shelters", _("Municipal shelter list (避難所一覧)")


class Container(TextChoices):
    CSV = "csv", "CSV"
    GEOJSON = "geojson", "GeoJSON"


ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "cp932": "Shift_JIS (CP932)"}

# Facility.source: where a facility's name, address and position come from. The demo city
# writes the GSI 指定緊急避難場所 wording for both GSI lists.
SOURCES = {
    Layout.GSI_SHELTERS: "国土地理院 指定避難所データ",
    Layout.GSI_SITES: "国土地理院 指定緊急避難場所データ",
    Layout.DATASET03: "自治体標準オープンデータセット 指定緊急避難場所一覧",
    Layout.DATASET03_OLD: "自治体標準オープンデータセット 指定緊急避難場所一覧",
    Layout.CITY_SHELTERS: "市町村 避難所一覧",
}
# Lists of 指定避難所 describe the building people stay in; they outrank lists of places to
# flee to, which often give a point in the grounds.
SHELTER_LIST_SOURCES = frozenset({SOURCES[Layout.GSI_SHELTERS], SOURCES[Layout.CITY_SHELTERS]})


# Lists with hazard columns: the GSI 指定避難所 list has none, so the 指定緊急避難場所 list
# states the hazards of a building that both describe.
HAZARD_LIST_SOURCES = frozenset(SOURCES.values()) - {SOURCES[Layout.GSI_SHELTERS]}


def source_rank(source: str) -> int:
    """2: a 指定避難所 list; 1: a 指定緊急避難場所 list; 0: anything else (demo, by hand)."""
    if source in SHELTER_LIST_SOURCES:
        return 2
    return 1 if source in SOURCES.values() else 0


# --- Problems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What is wrong where. ``row`` None: the whole file; ``column`` "": the whole row."""

    row: int | None
    column: str
    message: str


class ImportRefused(Exception):
    """The file was not imported; nothing of it was saved."""

    def __init__(self, problems: Sequence[Problem], *, truncated: bool = False) -> None:
        super().__init__("; ".join(problem.message for problem in problems[:3]))
        self.problems = list(problems)
        self.truncated = truncated


def _refuse(message: str, *, column: str = "") -> ImportRefused:
    return ImportRefused([Problem(None, column, message)])


# --- Capacity ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    day: int | None = None
    night: int | None = None


class CapacityError(ValueError):
    """A capacity that is readable but impossible: negative or absurdly large."""


PLACEHOLDERS = frozenset(
    {"-", "--", "なし", "無し", "不明", "未定", "該当なし", "n/a", "na", "none"}
)
_NOTE = re.compile(r"\([^()]*\)")
_AMOUNT = (
    r"(?P<minus>-\s*)?(?:約|およそ|概ね|最大)?\s*"
    r"(?P<digits>[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?)\s*(?P<man>万)?"
)
_PLAIN_AMOUNT = re.compile(r"(?<![0-9,.])" + _AMOUNT)
_LABELLED_AMOUNT = re.compile(
    r"(?P<label>屋内|屋外|昼間|夜間|昼|夜|宿泊)\s*:?\s*(?:収容(?:可能)?(?:人数)?)?\s*:?\s*"
    + _AMOUNT
)
_LABELS = {
    "屋内": "indoor",
    "屋外": "outdoor",
    "昼間": "day",
    "昼": "day",
    "夜間": "night",
    "夜": "night",
    "宿泊": "night",
}


def parse_capacity(text: str) -> Capacity:
    """Day and night capacity, in people, from a published figure such as 屋内191人／屋外0人.

    * 屋内 (indoor) is what a place holds overnight: people sleep indoors. 屋外 (outdoor) space
      only adds refuge by day. So 屋内191人／屋外0人 is night 191, day 191, and
      屋内1,371人／屋外5,470人 is night 1,371, day 6,841. Outdoor space alone says nothing of
      the night (unknown, not zero). 昼間/夜間/宿泊 give day or night directly.
    * A single figure without those words (200, 200人, 200名, 約200人, 1.5万人) is taken as both.
    * Notes in brackets, 面積の1/2 and the like, are ignored; digits may be full-width and use
      thousands separators. Blank, a placeholder (なし, -) or text with no single figure
      (200～300人) gives an unknown capacity: it is not an error, the text is kept.
    * A negative figure or one over a million people raises :class:`CapacityError`.
    """
    plain = japanese.normalize(text)
    while _NOTE.search(plain):
        plain = _NOTE.sub(" ", plain)
    plain = plain.strip()
    if not plain or plain.lower() in PLACEHOLDERS:
        return Capacity()
    labelled: dict[str, int | None] = {}
    for match in _LABELLED_AMOUNT.finditer(plain):
        labelled.setdefault(_LABELS[match["label"]], _people(match))
    if labelled:
        return _capacity_from_labels(labelled)
    figures = [_people(match) for match in _PLAIN_AMOUNT.finditer(plain)]
    if len(figures) != 1 or figures[0] is None:
        return Capacity()
    return Capacity(day=figures[0], night=figures[0])


def _people(match: re.Match[str]) -> int | None:
    digits = match["digits"].replace(",", "")
    if len(digits.split(".")[0]) > 9:
        raise CapacityError(str(_("This capacity is not plausible (over a million people).")))
    value = Decimal(digits) * (10_000 if match["man"] else 1)
    if match["minus"] and value:
        raise CapacityError(str(_("A capacity cannot be negative.")))
    if value != value.to_integral_value():
        return None
    return _plausible(int(value))


def _plausible(people: int) -> int:
    if people > MAX_CAPACITY:
        raise CapacityError(str(_("This capacity is not plausible (over a million people).")))
    return people


def _capacity_from_labels(found: Mapping[str, int | None]) -> Capacity:
    night = found["night"] if "night" in found else found.get("indoor")
    day = found.get("day")
    if "day" not in found and ("indoor" in found or "outdoor" in found):
        parts = [found[key] for key in ("indoor", "outdoor") if key in found]
        day = None if None in parts else _plausible(sum(part or 0 for part in parts))
    return Capacity(day=day, night=night)


# --- Format detection --------------------------------------------------------------------------

GSI_ID = "共通ID"
GSI_NAME = "施設・場所名"
GSI_PLACE = "都道府県名及び市町村名"
DATASET_HAZARD_PREFIX = "災害種別_"
CITY_HAZARD_PREFIX = "開設される災害の種類"
CODE_COLUMNS = ("全国地方公共団体コード", "所在地_全国地方公共団体コード", "市区町村コード")
POSITION = (("緯度",), ("経度",))
GSI_HAZARDS = tuple((column,) for column in GSI_COLUMNS)
DATASET_HAZARDS = tuple((DATASET_HAZARD_PREFIX + column,) for column in GSI_COLUMNS)

# Columns a layout needs; each entry lists alternatives, any one of which will do.
REQUIRED: dict[Layout, tuple[tuple[str, ...], ...]] = {
    Layout.GSI_SHELTERS: ((GSI_ID,), (GSI_NAME,), ("住所",), (GSI_PLACE,), *POSITION),
    Layout.GSI_SITES: ((GSI_ID,), (GSI_NAME,), ("住所",), (GSI_PLACE,), *POSITION, *GSI_HAZARDS),
    Layout.DATASET03: (
        ("ID",),
        ("名称",),
        ("所在地_連結表記", "住所"),
        CODE_COLUMNS,
        *POSITION,
        *DATASET_HAZARDS,
    ),
    Layout.DATASET03_OLD: (("名称",), ("住所",), ("市区町村コード",), *POSITION, *DATASET_HAZARDS),
    Layout.CITY_SHELTERS: (("名称",), ("住所",), ("市区町村コード",), *POSITION),
}


@dataclass(frozen=True)
class Detected:
    container: Container
    layout: Layout
    encoding: str


def _layout_of(columns: Iterable[str]) -> Layout:
    names = set(columns)
    if GSI_ID in names or GSI_NAME in names:
        if names & {"受入対象者", "指定緊急避難場所との住所同一"}:
            return Layout.GSI_SHELTERS
        if names & set(GSI_COLUMNS):
            return Layout.GSI_SITES
        raise _refuse(
            str(
                _(
                    "The file has GSI columns (共通ID, 施設・場所名) but neither the hazard "
                    "columns of the 指定緊急避難場所 list nor the 受入対象者 column of the "
                    "指定避難所 list."
                )
            )
        )
    if any(name.startswith(CITY_HAZARD_PREFIX) for name in names):
        return Layout.CITY_SHELTERS
    current = {"所在地_連結表記", "全国地方公共団体コード", "所在地_全国地方公共団体コード"}
    if names & current or {"ID", "名称"} <= names:
        return Layout.DATASET03
    if "名称" in names and any(name.startswith(DATASET_HAZARD_PREFIX) for name in names):
        return Layout.DATASET03_OLD
    shown = ", ".join(list(columns)[:8])
    raise _refuse(
        str(
            _(
                "This is not a shelter list Machi knows (GSI 指定避難所 or 指定緊急避難場所, "
                "standard dataset 03 or a 避難所一覧). Its first columns are: %(columns)s."
            )
            % {"columns": shown or "-"}
        )
    )


def _check_columns(layout: Layout, columns: Iterable[str]) -> None:
    names = set(columns)
    missing = [
        " / ".join(choices)
        for choices in REQUIRED[layout]
        if not any(choice in names for choice in choices)
    ]
    if missing:
        raise ImportRefused(
            [
                Problem(
                    None,
                    column,
                    str(
                        _("This column is missing; a file of this kind (%(layout)s) needs it.")
                        % {"layout": layout.label}
                    ),
                )
                for column in missing
            ]
        )


@dataclass(frozen=True)
class _Source:
    """A row of the file: its number, its cells, and what was wrong with its geometry."""

    number: int
    values: Mapping[str, str]
    geometry_problem: str = ""


@dataclass(frozen=True)
class _Table:
    container: Container
    encoding: str
    columns: list[str]
    rows: Iterator[_Source]


def _table(data: bytes) -> _Table:
    try:
        decoded = japanese.decode_csv_bytes(data)
    except japanese.CsvDecodeError as exc:
        raise ImportRefused(
            [
                Problem(
                    exc.row,
                    "",
                    str(_("The file cannot be read: %(reason)s") % {"reason": exc.reason}),
                )
            ]
        ) from exc
    if decoded.text.lstrip().startswith("{"):
        columns, rows = _geojson(decoded.text)
        return _Table(Container.GEOJSON, decoded.encoding, columns, iter(rows))
    return _Table(Container.CSV, decoded.encoding, _csv_header(decoded.text), _csv_rows(data))


def detect_format(data: bytes) -> Detected:
    """What a file is, from its content; :class:`ImportRefused` when it is none of ours."""
    table = _table(data)
    layout = _layout_of(table.columns)
    return Detected(table.container, layout, table.encoding)


# --- Reading CSV and GeoJSON -------------------------------------------------------------------


def _csv_header(text: str) -> list[str]:
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        message = _("The header line cannot be read: %(reason)s") % {"reason": exc}
        raise _refuse(str(message)) from exc
    return [japanese.normalize(name) for name in header]


def _csv_rows(data: bytes) -> Iterator[_Source]:
    for number, values in japanese.read_csv(data):
        yield _Source(number, values)


def _geojson(text: str) -> tuple[list[str], list[_Source]]:
    try:
        document = json.loads(text)
    except RecursionError as exc:  # [[[[…]]]] nested deeper than Python's stack
        raise _refuse(str(_("The file is not valid JSON: it is nested too deeply."))) from exc
    except json.JSONDecodeError as exc:
        raise ImportRefused(
            [
                Problem(
                    exc.lineno,
                    "",
                    str(_("The file is not valid JSON: %(reason)s") % {"reason": exc.msg}),
                )
            ]
        ) from exc
    except ValueError as exc:  # a number of more than 4,300 digits, which Python refuses
        raise _refuse(str(_("The file is not valid JSON: %(reason)s") % {"reason": exc})) from exc
    kind = document.get("type") if isinstance(document, dict) else None
    features = document.get("features") if isinstance(document, dict) else None
    if kind != "FeatureCollection" or not isinstance(features, list):
        raise _refuse(str(_("The file is JSON but not a GeoJSON FeatureCollection.")))
    columns: dict[str, None] = {}
    rows = []
    for number, feature in enumerate(features, start=1):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        values = {}
        if isinstance(properties, dict):
            for key, value in properties.items():
                name = japanese.normalize(str(key))
                columns.setdefault(name)
                values[name] = _cell(value)
        problem = _point(feature, values)
        rows.append(_Source(number, values, problem))
    columns.update({"緯度": None, "経度": None})
    return list(columns), rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _point(feature: Any, values: dict[str, str]) -> str:
    """Put a Point's coordinates in 緯度/経度; say what is wrong when there is no Point."""
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    if geometry is None and values.get("緯度") and values.get("経度"):
        return ""
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return str(_("The feature has no Point geometry."))
    coordinates = geometry.get("coordinates")
    if (
        not isinstance(coordinates, list)
        or len(coordinates) < 2
        or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coordinates[:2])
    ):
        return str(_("The Point has no [longitude, latitude] numbers."))
    values["経度"], values["緯度"] = repr(coordinates[0]), repr(coordinates[1])
    return ""


# --- Rows to records ---------------------------------------------------------------------------


@dataclass
class Record:
    """One shelter as a file describes it. None: the file does not say (leave as is)."""

    row: int
    name: str
    address: str
    latitude: Decimal
    longitude: Decimal
    source: str
    name_kana: str = ""
    name_en: str = ""
    town: str = ""
    is_shelter: bool = False
    is_evacuation_site: bool = False
    is_welfare_shelter: bool = False
    hazards: list[str] | None = None
    accessibility: list[str] = field(default_factory=list)
    capacity_text: str = ""
    capacity_day: int | None = None
    capacity_night: int | None = None
    phone: str = ""
    email: str = ""
    url: str = ""
    target_areas: str = ""
    notes: str = ""
    gsi_shelter_id: str = ""
    gsi_site_id: str = ""
    dataset_id: str = ""

    @property
    def identifier(self) -> str:
        return self.gsi_shelter_id or self.gsi_site_id or self.dataset_id

    def code(self, municipality: Municipality) -> str:
        """The facility code: the file's ID, or (without one) a digest of the place."""
        if self.identifier and len(self.identifier) <= 32:
            return self.identifier
        name, address = place_key(self.name, self.address, municipality)
        digest = hashlib.sha256(f"{name}\n{address}".encode()).hexdigest()[:16]
        return f"place-{digest}"


YES = frozenset({"1", "1.0", "○", "◯", "〇", "◎", "true", "yes", "y", "t", "可", "有", "あり", "✓"})
NO = frozenset({"", "0", "0.0", "false", "no", "n", "f", "×", "✕", "否", "無", "なし", "-"})


def parse_flag(value: str) -> bool | None:
    """1, 1.0, ○, ◯, 〇, true… are yes; blank, 0, ×, false… are no; anything else None."""
    text = japanese.normalize(value).lower()
    if text in YES:
        return True
    if text in NO:
        return False
    return None


class _Row:
    """The cells of one row, read and checked; problems go to the shared list."""

    def __init__(self, source: _Source, problems: list[Problem]) -> None:
        self.number = source.number
        self.values = source.values
        self.problems = problems
        self.failed = False
        self.pointless = bool(source.geometry_problem)
        if source.geometry_problem:
            self.fail("geometry", source.geometry_problem)

    def fail(self, column: str, message: str) -> None:
        self.failed = True
        self.problems.append(Problem(self.number, column, message))

    def has(self, column: str) -> bool:
        return column in self.values

    def raw(self, column: str) -> str:
        return (self.values.get(column) or "").strip()

    def text(self, column: str, *, limit: int | None = None, normal: bool = True) -> str:
        """The cell, normalised; "" when blank, a placeholder (なし, -) or absent."""
        value = self.raw(column)
        if normal:
            value = japanese.normalize(value)
        if japanese.normalize(value).lower() in PLACEHOLDERS:
            return ""
        if limit is not None and len(value) > limit:
            self.fail(
                column, str(_("This is longer than %(limit)s characters.") % {"limit": limit})
            )
            return ""
        return value

    def required(self, column: str, *, limit: int) -> str:
        before = len(self.problems)
        value = self.text(column, limit=limit)
        if not value and len(self.problems) == before:
            self.fail(column, str(_("This cell must not be empty.")))
        return value

    def flag(self, column: str) -> bool:
        value = parse_flag(self.raw(column))
        if value is None:
            self.fail(
                column,
                str(
                    _("“%(value)s” is neither yes (1, ○) nor no (empty, 0).")
                    % {"value": self.raw(column)}
                ),
            )
        return bool(value)

    def email(self, column: str) -> str:
        value = self.text(column, limit=254)
        try:
            if value:
                EmailValidator()(value)
        except ValidationError:
            self.fail(column, str(_("“%(value)s” is not an e-mail address.") % {"value": value}))
            return ""
        return value

    def url(self, column: str) -> str:
        value = self.text(column, limit=200)
        try:
            if value:
                URLValidator(schemes=["http", "https"])(value)
        except ValidationError:
            self.fail(column, str(_("“%(value)s” is not a web address.") % {"value": value}))
            return ""
        return value

    def capacity(self, column: str) -> tuple[str, Capacity]:
        text = self.raw(column)
        if len(text) > 200:
            self.fail(column, str(_("This is longer than %(limit)s characters.") % {"limit": 200}))
            return "", Capacity()
        try:
            return text, parse_capacity(text)
        except CapacityError as exc:
            self.fail(column, str(exc))
            return "", Capacity()

    def position(self) -> tuple[Decimal, Decimal] | None:
        if self.pointless:
            return None  # already said: the feature has no usable Point
        latitude = self._degrees("緯度")
        longitude = self._degrees("経度")
        if latitude is None or longitude is None:
            return None
        if _within(latitude, LONGITUDE) and _within(longitude, LATITUDE):
            self.fail("緯度", str(_("Latitude and longitude seem to be swapped.")))
            return None
        inside = True
        for column, value, (low, high) in (
            ("緯度", latitude, LATITUDE),
            ("経度", longitude, LONGITUDE),
        ):
            if not _within(value, (low, high)):
                inside = False
                self.fail(
                    column,
                    str(
                        _("%(value)s is outside Japan (%(low)s to %(high)s).")
                        % {"value": value, "low": low, "high": high}
                    ),
                )
        if not inside:
            return None
        return (
            latitude.quantize(SIX_DECIMALS, rounding=ROUND_HALF_UP),
            longitude.quantize(SIX_DECIMALS, rounding=ROUND_HALF_UP),
        )

    def _degrees(self, column: str) -> Decimal | None:
        raw = japanese.normalize(self.raw(column))
        if not raw:
            self.fail(column, str(_("This cell must not be empty.")))
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            self.fail(
                column,
                str(_("“%(value)s” is not a decimal number of degrees.") % {"value": raw}),
            )
            return None
        return value


def _within(value: Decimal, bounds: tuple[Decimal, Decimal]) -> bool:
    return bounds[0] <= value <= bounds[1]


class _Place:
    """Checks, once per file, that rows belong to the municipality this installation serves."""

    def __init__(self, municipality: Municipality) -> None:
        self.municipality = municipality
        self.reported: set[tuple[str, str]] = set()
        self.named = False

    def check_code(self, row: _Row, column: str) -> None:
        raw = row.raw(column)
        if not raw:
            return
        try:
            code = lgcode.validate(raw)
        except lgcode.LgCodeError as exc:
            row.fail(
                column,
                str(
                    _("“%(value)s” is not a local government code: %(reason)s")
                    % {"value": raw, "reason": exc}
                ),
            )
            return
        self.named = True
        if code == self.municipality.lgcode or self._is_ward(code):
            return
        found = lgcode.lookup(code)
        self._wrong(row, column, code, found.full_name if found else code)

    def check_name(self, row: _Row, column: str) -> None:
        value = japanese.normalize(row.raw(column)).replace(" ", "")
        if not value:
            return
        self.named = True
        name = self.municipality.name
        ours = value.removeprefix(self.municipality.prefecture)
        rest = ours.removeprefix(name) if ours.startswith(name) else None
        # A designated city's wards publish their own lists: 埼玉県さいたま市西区.
        if rest == "" or (rest is not None and rest.endswith("区")):
            return
        self._wrong(row, column, value, value)

    def _is_ward(self, code: str) -> bool:
        found = lgcode.lookup(code)
        return (
            found is not None
            and found.prefecture == self.municipality.prefecture
            and found.name != self.municipality.name
            and found.name.startswith(self.municipality.name)
            and found.name.endswith("区")
        )

    def _wrong(self, row: _Row, column: str, key: str, name: str) -> None:
        if (column, key) in self.reported:
            return  # one line per wrong place is enough
        self.reported.add((column, key))
        row.fail(
            column,
            str(
                _("This row is for %(other)s, but this installation serves %(ours)s.")
                % {"other": name, "ours": str(self.municipality)}
            ),
        )


def _hazard_list(chosen: Iterable[Hazard]) -> list[str]:
    wanted = set(chosen)
    return [hazard.value for hazard in Hazard if hazard in wanted]


def _listed_hazards(row: _Row, prefix: str) -> list[str]:
    return _hazard_list(
        hazard for column, hazard in GSI_COLUMNS.items() if row.flag(prefix + column)
    )


# Words in a city's 開設される災害の種類（…）columns, most specific first.
HAZARD_WORDS: tuple[tuple[str, tuple[Hazard, ...]], ...] = (
    ("風水害", (Hazard.FLOOD, Hazard.STORM_SURGE, Hazard.INLAND_FLOOD)),
    ("土砂", (Hazard.LANDSLIDE,)),
    ("崖崩れ", (Hazard.LANDSLIDE,)),
    ("土石流", (Hazard.LANDSLIDE,)),
    ("地滑り", (Hazard.LANDSLIDE,)),
    ("内水", (Hazard.INLAND_FLOOD,)),
    ("洪水", (Hazard.FLOOD,)),
    ("水害", (Hazard.FLOOD,)),
    ("高潮", (Hazard.STORM_SURGE,)),
    ("津波", (Hazard.TSUNAMI,)),
    ("地震", (Hazard.EARTHQUAKE,)),
    ("火事", (Hazard.LARGE_FIRE,)),
    ("火災", (Hazard.LARGE_FIRE,)),
    ("火山", (Hazard.VOLCANO,)),
)


def _city_hazards(row: _Row) -> tuple[list[str], list[str]]:
    """Hazards of a city's own columns, and the columns that name no hazard (for the notes)."""
    chosen: list[Hazard] = []
    unmapped: list[str] = []
    for column in row.values:
        if not column.startswith(CITY_HAZARD_PREFIX) or not row.flag(column):
            continue
        # 臨時情報 (南海トラフ) is an advisory the shelter opens for, not a hazard it suits.
        words = [] if "臨時情報" in column else _words(column.removeprefix(CITY_HAZARD_PREFIX))
        found = [hazard for word in words for hazard in _hazards_of(word)]
        chosen.extend(found)
        if not found:
            unmapped.append(column)
    return _hazard_list(chosen), unmapped


def _words(text: str) -> list[str]:
    inner = re.sub(r"^\((.*)\)$", r"\1", text.strip())
    return [word for word in re.split(r"[・、,/]", inner) if word]


def _hazards_of(word: str) -> tuple[Hazard, ...]:
    for key, hazards in HAZARD_WORDS:
        if key in word:
            return hazards
    return ()


ACCESSIBILITY_WORDS: tuple[tuple[str, Accessibility], ...] = (
    ("エレベーター", Accessibility.ELEVATOR),
    ("エレベータ", Accessibility.ELEVATOR),
    ("多目的トイレ", Accessibility.ACCESSIBLE_TOILET),
    ("バリアフリートイレ", Accessibility.ACCESSIBLE_TOILET),
    ("車いす対応トイレ", Accessibility.ACCESSIBLE_TOILET),
    ("車椅子対応トイレ", Accessibility.ACCESSIBLE_TOILET),
    ("スロープ", Accessibility.STEP_FREE),
    ("段差", Accessibility.STEP_FREE),
    ("授乳", Accessibility.NURSING_ROOM),
    ("福祉スペース", Accessibility.WELFARE_SPACE),
)


def _accessibility(row: _Row, *, welfare: bool) -> list[str]:
    """Optional columns some cities add (エレベーター, 多目的トイレ…).

    A 福祉避難所 has, by definition, room for people needing care.
    """
    found = {Accessibility.WELFARE_SPACE} if welfare else set()
    for column in row.values:
        for word, feature in ACCESSIBILITY_WORDS:
            if word in column and parse_flag(row.raw(column)):
                found.add(feature)
    return [feature.value for feature in Accessibility if feature in found]


def _join(*lines: str) -> str:
    return "\n".join(line for line in lines if line)


def _phone(row: _Row) -> str:
    phone = row.text("電話番号")
    extension = row.text("内線番号")
    if phone and extension:
        phone = f"{phone} 内線{extension}"
    if len(phone) > 32:
        row.fail("電話番号", str(_("This is longer than %(limit)s characters.") % {"limit": 32}))
        return ""
    return phone


def _address(row: _Row) -> str:
    column = "所在地_連結表記" if row.text("所在地_連結表記") else "住所"
    address = row.text(column)
    if not address and row.has("所在地_都道府県"):
        parts = ("所在地_都道府県", "所在地_市区町村", "所在地_町字", "所在地_番地以下")
        address = "".join(row.text(part) for part in parts)
    building = row.text("建物名等(方書)") or row.text("方書")
    address = f"{address} {building}".strip()
    if not address:
        row.fail(column, str(_("This cell must not be empty.")))
    elif len(address) > 256:
        row.fail(column, str(_("This is longer than %(limit)s characters.") % {"limit": 256}))
    return address


_TOWN = re.compile(r"^(?P<town>[^0-9\s-]+?)[0-9]")


def town_of(address: str, municipality: Municipality) -> str:
    """The 町字 at the start of an address (下戸田 of 埼玉県戸田市下戸田1-11-15); "" if unsure."""
    text = japanese.normalize(address).replace(" ", "")
    text = text.removeprefix(municipality.prefecture).removeprefix(municipality.name)
    text = text.removeprefix("大字")
    match = _TOWN.match(text)
    town = match["town"] if match else ""
    return town if len(town) <= 64 else ""


def _address_key(address: str, municipality: Municipality) -> str:
    text = japanese.normalize(address).replace(" ", "")
    text = text.removeprefix(municipality.prefecture).removeprefix(municipality.name)
    text = text.replace("大字", "")
    text = re.sub(r"([0-9]+)(?:丁目|番地|番)", r"\1-", text)
    text = re.sub(r"([0-9]+)号", r"\1", text)
    return text.rstrip("-")


def place_key(name: str, address: str, municipality: Municipality) -> tuple[str, str]:
    """Name and address as compared across lists: normalised, without spaces or the city."""
    return japanese.normalize(name).replace(" ", ""), _address_key(address, municipality)


class _Reader:
    """Turns the rows of one file into records, collecting problems."""

    def __init__(self, layout: Layout, municipality: Municipality) -> None:
        self.layout = layout
        self.municipality = municipality
        self.place = _Place(municipality)
        self.problems: list[Problem] = []
        self.seen_ids: dict[str, int] = {}

    def record(self, source: _Source) -> Record | None:
        row = _Row(source, self.problems)
        if self.layout in (Layout.GSI_SHELTERS, Layout.GSI_SITES):
            record = self._gsi(row)
        else:
            record = self._dataset(row)
        return None if row.failed else record

    def _identifier(self, row: _Row, column: str, *, limit: int) -> str:
        value = row.required(column, limit=limit)
        first = self.seen_ids.setdefault(value, row.number) if value else row.number
        if first != row.number:
            row.fail(
                column,
                str(
                    _("%(id)s appears twice (first on row %(row)s).") % {"id": value, "row": first}
                ),
            )
        return value

    def _located(self, row: _Row, name: str, address: str) -> Record:
        """The record's core; a row without a position is already marked failed."""
        position = row.position() or (Decimal(0), Decimal(0))
        return Record(
            row=row.number,
            name=name,
            address=address,
            latitude=position[0],
            longitude=position[1],
            source=SOURCES[self.layout],
        )

    def _gsi(self, row: _Row) -> Record:
        self.place.check_name(row, GSI_PLACE)
        identifier = self._identifier(row, GSI_ID, limit=32)
        record = self._located(
            row, row.required(GSI_NAME, limit=128), row.required("住所", limit=256)
        )
        record.town = town_of(record.address, self.municipality)
        record.notes = row.text("備考", normal=False)
        if self.layout == Layout.GSI_SHELTERS:
            accepts = row.text("受入対象者")
            record.is_shelter = True
            record.gsi_shelter_id = identifier
            # 受入対象者 is filled in for 指定福祉避難所 only.
            record.is_welfare_shelter = bool(accepts) or "福祉避難所" in record.name
            record.notes = _join(
                record.notes,
                row.text("その他市町村長が必要と認める事項", normal=False),
                f"受入対象者: {accepts}" if accepts else "",
            )
        else:
            record.is_evacuation_site = True
            record.gsi_site_id = identifier
            record.hazards = _listed_hazards(row, "")
            record.is_welfare_shelter = "福祉避難所" in record.name
        record.accessibility = _accessibility(row, welfare=record.is_welfare_shelter)
        return record

    def _dataset(self, row: _Row) -> Record:
        for column in CODE_COLUMNS:
            if row.has(column):
                self.place.check_code(row, column)
        identifier = ""
        if self.layout == Layout.DATASET03:
            identifier = self._identifier(row, "ID", limit=64)
        record = self._located(row, row.required("名称", limit=128), _address(row))
        record.dataset_id = identifier
        record.name_kana = japanese.to_katakana(row.text("名称_カナ", limit=256))
        record.name_en = row.text("名称_英字", limit=256)
        town = row.text("所在地_町字") or town_of(record.address, self.municipality)
        record.town = town if len(town) <= 64 else ""
        record.phone = _phone(row)
        record.email = row.email("連絡先メールアドレス")
        record.url = row.url("URL")
        record.target_areas = row.text("対象となる町会・自治会", limit=500, normal=False)
        record.notes = row.text("備考", normal=False)
        record.capacity_text, capacity = row.capacity("想定収容人数")
        record.capacity_day, record.capacity_night = capacity.day, capacity.night
        if self.layout == Layout.CITY_SHELTERS:
            record.is_shelter = True
            record.hazards, unmapped = _city_hazards(row)
            areas = [f"{c}: {row.text(c)}" for c in row.values if "面積" in c and row.text(c)]
            record.notes = _join(record.notes, *unmapped, *areas)
        else:
            record.is_evacuation_site = True
            record.is_shelter = row.has("指定避難所との重複") and row.flag("指定避難所との重複")
            record.hazards = _listed_hazards(row, DATASET_HAZARD_PREFIX)
        record.is_welfare_shelter = "福祉避難所" in record.name
        record.accessibility = _accessibility(row, welfare=record.is_welfare_shelter)
        return record


@dataclass(frozen=True)
class ParsedFile:
    container: Container
    layout: Layout
    encoding: str
    records: list[Record]


def parse(data: bytes, *, municipality: Municipality) -> ParsedFile:
    """Read and check a whole file; :class:`ImportRefused` lists every problem (up to 50)."""
    table = _table(data)
    layout = _layout_of(table.columns)
    _check_columns(layout, table.columns)
    reader = _Reader(layout, municipality)
    records: list[Record] = []
    truncated = False
    try:
        for source in table.rows:
            if len(reader.problems) >= MAX_PROBLEMS:
                truncated = True
                break
            record = reader.record(source)
            if record is not None:
                records.append(record)
    except japanese.CsvDecodeError as exc:
        reader.problems.append(
            Problem(
                exc.row, "", str(_("The file cannot be read: %(reason)s") % {"reason": exc.reason})
            )
        )
    except csv.Error as exc:
        reader.problems.append(
            Problem(None, "", str(_("The file cannot be read: %(reason)s") % {"reason": exc}))
        )
    if not records and not reader.problems:
        reader.problems.append(Problem(None, "", str(_("The file has no rows to import."))))
    if records and not reader.place.named and not reader.problems:
        reader.problems.append(
            Problem(None, "", str(_("No row says which municipality the file is for.")))
        )
    if reader.problems:
        raise ImportRefused(reader.problems[:MAX_PROBLEMS], truncated=truncated)
    return ParsedFile(table.container, layout, table.encoding, records)


# --- Saving ------------------------------------------------------------------------------------

ID_FIELDS = ("gsi_shelter_id", "gsi_site_id", "dataset_id")
CONTACT_FIELDS = ("phone", "email", "url", "target_areas", "notes")


class _Index:
    """The municipality's facilities and shelters, by each key a record may match on."""

    def __init__(self, municipality: Municipality) -> None:
        self.municipality = municipality
        self.by_id: dict[str, dict[str, Facility]] = {name: {} for name in ID_FIELDS}
        self.by_code: dict[str, Facility] = {}
        self.by_place: dict[tuple[str, str], Facility] = {}
        facilities = Facility.objects.filter(municipality=municipality).select_related("shelter")
        # Facilities that already have a shelter win a tie on name and address.
        for facility in sorted(facilities, key=lambda f: (not hasattr(f, "shelter"), f.pk)):
            self.by_code[facility.code] = facility
            self.by_place.setdefault(
                place_key(facility.name, facility.address, municipality), facility
            )
            shelter = getattr(facility, "shelter", None)
            for name in ID_FIELDS:
                value = getattr(shelter, name, "")
                if value:
                    self.by_id[name].setdefault(value, facility)

    def find(self, record: Record) -> Facility | None:
        for name in ID_FIELDS:
            value = getattr(record, name)
            if value and value in self.by_id[name]:
                return self.by_id[name][value]
        if record.identifier and record.identifier in self.by_code:
            return self.by_code[record.identifier]
        return self.by_place.get(place_key(record.name, record.address, self.municipality))


def _groups(records: Sequence[Record], index: _Index) -> list[tuple[Facility | None, list[Record]]]:
    """Records by the facility they describe: found in Machi, or new and keyed by place."""
    found = [index.find(record) for record in records]
    places = {
        place_key(record.name, record.address, index.municipality): facility
        for record, facility in reversed(list(zip(records, found, strict=True)))
        if facility is not None
    }
    groups: dict[tuple[str, Any], tuple[Facility | None, list[Record]]] = {}
    for record, facility in zip(records, found, strict=True):
        place = place_key(record.name, record.address, index.municipality)
        target = facility or places.get(place)
        key: tuple[str, Any] = ("facility", target.pk) if target else ("new", place)
        groups.setdefault(key, (target, []))[1].append(record)
    return list(groups.values())


def _merge(records: Sequence[Record]) -> Record:
    """Rows of one file about one building (a shelter listed twice, once as 福祉避難所)."""
    merged = replace(records[0])
    for other in records[1:]:
        for flag in ("is_shelter", "is_evacuation_site", "is_welfare_shelter"):
            setattr(merged, flag, getattr(merged, flag) or getattr(other, flag))
        if other.hazards is not None:
            merged.hazards = _hazard_list(Hazard(h) for h in (merged.hazards or []) + other.hazards)
        merged.accessibility = [
            a.value for a in Accessibility if a in {*merged.accessibility, *other.accessibility}
        ]
        for name in ("name_kana", "name_en", "town", *CONTACT_FIELDS, *ID_FIELDS):
            if not getattr(merged, name):
                setattr(merged, name, getattr(other, name))
        if not merged.capacity_text and other.capacity_text:
            merged.capacity_text = other.capacity_text
            merged.capacity_day, merged.capacity_night = other.capacity_day, other.capacity_night
    return merged


def _facility_state(facility: Facility | None) -> tuple[Any, ...]:
    if facility is None:
        return ()
    names = [name for name in services.FACILITY_FIELDS if name != "area"]
    return (*(getattr(facility, name) for name in names), facility.area_id)


def _facility_fields(
    record: Record, facility: Facility | None, *, primary: bool, municipality: Municipality
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "is_shelter": record.is_shelter,
        "is_evacuation_site": record.is_evacuation_site,
        "is_welfare_shelter": record.is_welfare_shelter,
    }
    if primary:
        fields.update(
            name=record.name,
            address=record.address,
            latitude=record.latitude,
            longitude=record.longitude,
            source=record.source,
        )

    def blank(name: str) -> bool:
        return primary or facility is None or not getattr(facility, name)

    for name in ("name_kana", "name_en"):
        if getattr(record, name) and blank(name):
            fields[name] = getattr(record, name)
    if record.town and blank("area"):
        fields["area"] = services.area_get_or_create(municipality=municipality, name=record.town)
    return fields


def _shelter_changes(
    shelter: Shelter, record: Record, *, primary: bool, hazards: bool
) -> dict[str, Any]:
    """The fields of ``shelter`` that ``record`` changes (see the module rules)."""
    changes: dict[str, Any] = {}

    def offer(name: str, value: Any) -> None:
        current = getattr(shelter, name)
        if value in (None, "") or (not primary and current not in (None, "")):
            return
        if current != value:
            changes[name] = value

    for name in CONTACT_FIELDS:
        offer(name, getattr(record, name))
    if record.capacity_text and (primary or not shelter.capacity_text):
        for name in ("capacity_text", "capacity_day", "capacity_night"):
            if getattr(shelter, name) != getattr(record, name):
                changes[name] = getattr(record, name)
    if hazards and record.hazards is not None and list(shelter.hazards) != record.hazards:
        changes["hazards"] = record.hazards
    known = {*shelter.accessibility, *record.accessibility}
    accessibility = [a.value for a in Accessibility if a in known]
    accessibility += sorted(v for v in known if v not in Accessibility.values)
    if accessibility != list(shelter.accessibility):
        changes["accessibility"] = accessibility
    for name in ID_FIELDS:
        if getattr(record, name) and not getattr(shelter, name):
            changes[name] = getattr(record, name)
    return changes


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _save_group(
    records: Sequence[Record],
    facility: Facility | None,
    municipality: Municipality,
    counts: _Counts,
) -> None:
    record = _merge(records)
    # See the module rules: which list describes the building.
    primary = (
        facility is None
        or facility.source == record.source
        or source_rank(record.source) > source_rank(facility.source)
    )
    before = _facility_state(facility)
    fields = _facility_fields(record, facility, primary=primary, municipality=municipality)
    code = facility.code if facility is not None else record.code(municipality)
    saved = services.facility_upsert(municipality=municipality, code=code, **fields)
    shelter = Shelter.objects.filter(facility=saved).first()
    created = shelter is None
    shelter = shelter or Shelter(facility=saved)
    # Hazards come from the list that describes the building, unless it has no hazard columns.
    hazards = primary or saved.source not in HAZARD_LIST_SOURCES
    changes = _shelter_changes(shelter, record, primary=primary, hazards=hazards)
    if changes or shelter.pk is None:
        for name, value in changes.items():
            setattr(shelter, name, value)
        shelter.full_clean()
        shelter.save()
    if created:
        counts.created += 1
    elif changes or before != _facility_state(saved):
        counts.updated += 1
    else:
        counts.unchanged += 1


def _save(records: Sequence[Record], municipality: Municipality) -> _Counts:
    counts = _Counts()
    problems: list[Problem] = []
    for facility, group in _groups(records, _Index(municipality)):
        try:
            _save_group(group, facility, municipality, counts)
        except ValidationError as exc:
            for column, messages in _validation_messages(exc):
                problems.extend(Problem(group[0].row, column, m) for m in messages)
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise ImportRefused(problems[:MAX_PROBLEMS])
    return counts


def _validation_messages(exc: ValidationError) -> list[tuple[str, list[str]]]:
    if hasattr(exc, "error_dict"):
        return [
            ("" if name == "__all__" else name, [str(m) for m in ValidationError(errors).messages])
            for name, errors in exc.error_dict.items()
        ]
    return [("", [str(m) for m in exc.messages])]


@dataclass(frozen=True)
class ImportSummary:
    """What one import did. Counts are per shelter; rows about the same building count once."""

    file_name: str
    container: Container
    layout: Layout
    encoding: str
    rows: int
    created: int
    updated: int
    unchanged: int
    dry_run: bool = False

    @property
    def format_label(self) -> str:
        return f"{Layout(self.layout).label}, {Container(self.container).label}"

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS.get(self.encoding, self.encoding)


def shelters_import(
    *, data: bytes, file_name: str, dry_run: bool = False, actor: Any = None
) -> ImportSummary:
    """Import one file into the shelter registry, all of it or nothing.

    Raises :class:`ImportRefused` with every problem found (by row and column). ``dry_run``
    checks and counts everything, then saves nothing.
    """
    municipality = selectors.municipality_current()
    if municipality is None:
        raise _refuse(str(_("No municipality is set up yet: run `machi init` first.")))
    parsed = parse(data, municipality=municipality)
    with transaction.atomic():
        counts = _save(parsed.records, municipality)
        summary = ImportSummary(
            file_name=file_name,
            container=parsed.container,
            layout=parsed.layout,
            encoding=parsed.encoding,
            rows=len(parsed.records),
            created=counts.created,
            updated=counts.updated,
            unchanged=counts.unchanged,
            dry_run=dry_run,
        )
        if dry_run:
            transaction.set_rollback(True)
        else:
            services.audit_record(
                action=Action.CREATE if counts.created else Action.UPDATE,
                object_type="shelters.shelter",
                actor=actor,
                detail={
                    "file": file_name,
                    "format": str(parsed.layout.value),
                    "container": str(parsed.container.value),
                    "encoding": parsed.encoding,
                    "rows": summary.rows,
                    "created": counts.created,
                    "updated": counts.updated,
                    "unchanged": counts.unchanged,
                },
            )
    return summary
