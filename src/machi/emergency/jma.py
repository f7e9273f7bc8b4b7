"""JMA disaster-prevention XML (気象庁防災情報XML): parse a message and find what concerns a city.

A message is ``Report/Control/Head/Body``: ``Control`` and ``Head`` share one shape across all
messages, the ``Body`` differs per family (meteorology1, seismology1, volcanology1, …). This
module turns a message into a :class:`JmaMessage` with a flat list of :class:`AreaWarning` (one per
area and kind of warning), and :func:`warnings_for` keeps those that name one municipality.

Kinds are recognised by structure, ``Head/InfoKind`` and codes, never by titles: JMA renames
titles (with the "R06" revision of the warnings, the title of a 土砂災害警戒情報 became
「…レベル４土砂災害危険警報」) while ``InfoKind`` and the code tables stay put.

Levels (警戒レベル) follow the Cabinet Office 「避難情報に関するガイドライン」 (令和3年5月, with the
「警戒レベル相当情報」 table) for the legacy warnings, and the level JMA writes into the kind's name
for the R06 family (「レベル３大雨警報」…), which its code table mirrors.

Every message is parsed through :mod:`machi.core.safexml` (size limit, no DTD, no entities, no
network) and validated against JMA's schemas shipped in ``schemas/jma`` unless told otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from machi.core import safexml
from machi.core.safexml import XmlRejected

__all__ = [
    "SCHEMA_PATH",
    "AreaWarning",
    "Family",
    "Hazard",
    "JmaControl",
    "JmaHead",
    "JmaMessage",
    "JmaRejected",
    "XmlRejected",
    "lgcode_is_valid",
    "parse_message",
    "type_code_from_link",
    "warnings_for",
]

NS_JMX: Final = "http://xml.kishou.go.jp/jmaxml1/"
NS_IB: Final = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
BODY_NS_PREFIX: Final = "http://xml.kishou.go.jp/jmaxml1/body/"
SCHEMA_PATH: Final = Path(__file__).parent / "schemas" / "jma" / "jmx.xsd"

# JMA writes Control/DateTime in UTC and Head times in JST, both with an offset. Should an
# offset ever be missing, these are the zones the format specifies for each field.
JST: Final = timezone(timedelta(hours=9), "JST")

# The code type JMA gives areas of a single municipality (「市町村等」): 7 digits, the 5-digit
# JIS X 0402 code and 2 more that split a large city into parts (横浜市北部 1410011).
MUNICIPALITY: Final = "市町村等"


class JmaRejected(ValueError):
    """Well-formed (and maybe schema-valid) XML that is not a usable JMA message."""


class Hazard(StrEnum):
    """The 8 hazards a 指定緊急避難場所 is designated for (災害対策基本法 49条の4; GSI data)."""

    FLOOD = "flood"
    LANDSLIDE = "landslide"
    STORM_SURGE = "storm_surge"
    EARTHQUAKE = "earthquake"
    TSUNAMI = "tsunami"
    LARGE_FIRE = "large_fire"
    INLAND_FLOOD = "inland_flood"
    VOLCANO = "volcano"


class Family(StrEnum):
    """What a message is, recognised from InfoKind and the shape of its Body."""

    WEATHER_WARNING = "weather_warning"  # VPWW53/54 and the R06 family VPWW55–61
    LANDSLIDE_ALERT = "landslide_alert"  # VXWW50 土砂災害警戒情報
    FLOOD_FORECAST = "flood_forecast"  # VXKOii 指定河川洪水予報
    TSUNAMI = "tsunami"  # VTSE41 and other Body/Tsunami/Forecast
    EARTHQUAKE = "earthquake"  # VXSE51/53 震度, VXSE43 緊急地震速報 (areas and intensities)
    OTHER_WARNING = "other_warning"  # other Body/Warning: 竜巻注意情報, 記録的短時間大雨情報
    OTHER = "other"  # explanations, 南海トラフ, … : no area warnings extracted


# Statuses that mean the kind is not (or no longer) in force in that area.
NOT_IN_FORCE: Final = frozenset({"解除", "なし", "発表警報・注意報はなし"})


@dataclass(frozen=True, slots=True)
class AreaWarning:
    """One kind of warning (or its absence) for one area, as a message states it."""

    area_code: str
    area_name: str
    kind_code: str
    kind_name: str
    status: str
    kind_level: int | None
    hazard: str  # a Hazard value, or "" (wind, snow, thunder, …)
    warning_type: str
    extra: dict[str, Any] = field(default_factory=dict)
    # What area_code is: "市町村等" for one municipality, otherwise e.g. "府県予報区等",
    # "一次細分区域等", "高潮予報区間", "河川", "津波予報区", "地震情報／細分区域".
    code_type: str = ""

    @property
    def in_force(self) -> bool:
        """Whether the kind applies now (not lifted, not "none")."""
        return bool(self.kind_code or self.kind_name) and self.status not in NOT_IN_FORCE

    @property
    def is_municipality(self) -> bool:
        return self.code_type == MUNICIPALITY and _is_jma_city_code(self.area_code)


@dataclass(frozen=True, slots=True)
class JmaControl:
    title: str
    date_time: datetime
    status: str  # 通常 / 訓練 / 試験
    editorial_office: str
    publishing_office: str  # a space-separated list in the schema; kept as written


@dataclass(frozen=True, slots=True)
class JmaHead:
    title: str
    report_date_time: datetime
    target_date_time: datetime | None
    event_id: str
    info_type: str  # 発表 / 訂正 / 遅延 / 取消
    serial: str
    info_kind: str
    info_kind_version: str
    headline: str


@dataclass(frozen=True, slots=True)
class JmaMessage:
    control: JmaControl
    head: JmaHead
    family: Family
    type_code: str | None  # "VPWW54", … when the link or the structure tells
    body_namespace: str
    warnings: tuple[AreaWarning, ...]

    @property
    def is_real(self) -> bool:
        """A real message, not an exercise (訓練) or a test (試験)."""
        return self.control.status == "通常"

    @property
    def is_cancellation(self) -> bool:
        """The message withdraws an earlier one of the same EventID (取消)."""
        return self.head.info_type == "取消"


# --------------------------------------------------------------------------------------------
# Parsing


def parse_message(
    data: bytes,
    *,
    validate: bool = True,
    link: str = "",
    max_bytes: int = safexml.DEFAULT_MAX_BYTES,
) -> JmaMessage:
    """Parse one JMA XML message.

    ``link`` is the URL (or file name) the message came from: JMA's file names carry the type
    code (``…_VPWW54_340000.xml``). Raises ``XmlRejected`` for unsafe, malformed or (when
    ``validate``) schema-invalid documents, and ``JmaRejected`` for documents that are not a
    usable JMA report.
    """
    root = safexml.parse(data, max_bytes=max_bytes)
    if root.tag != f"{{{NS_JMX}}}Report":
        raise JmaRejected(f"not a JMA report: the root element is {root.tag!r}")
    if validate:
        safexml.validate(root, SCHEMA_PATH)

    control = _control(root.find(f"{{{NS_JMX}}}Control"))
    head_el = root.find(f"{{{NS_IB}}}Head")
    head = _head(head_el)
    body = _body(root)
    family = _family(head.info_kind, body)
    r06 = family is Family.WEATHER_WARNING and _is_r06(head.info_kind_version, body)

    match family:
        case Family.WEATHER_WARNING:
            warnings = _weather_warnings(body, r06=r06)
        case Family.LANDSLIDE_ALERT:
            warnings = _landslide_alerts(body)
        case Family.FLOOD_FORECAST:
            warnings = _flood_forecasts(body, head_el, head.headline)
        case Family.TSUNAMI:
            warnings = _tsunami_forecasts(body)
        case Family.EARTHQUAKE:
            warnings = _intensities(body)
        case Family.OTHER_WARNING:
            warnings = _other_warnings(body)
        case _:
            warnings = []

    type_code = type_code_from_link(link) or _type_code(family, head.info_kind, body, r06=r06)
    return JmaMessage(
        control=control,
        head=head,
        family=family,
        type_code=type_code,
        body_namespace=_namespace(body.tag),
        warnings=tuple(warnings),
    )


def _control(element: Any) -> JmaControl:
    if element is None:
        raise JmaRejected("the report has no Control")
    return JmaControl(
        title=_text(element, "{*}Title"),
        date_time=_required_datetime(element, "{*}DateTime", "Control/DateTime", UTC),
        status=_text(element, "{*}Status"),
        editorial_office=_text(element, "{*}EditorialOffice"),
        publishing_office=_text(element, "{*}PublishingOffice"),
    )


def _head(element: Any) -> JmaHead:
    if element is None:
        raise JmaRejected("the report has no Head")
    target = _text(element, "{*}TargetDateTime")
    return JmaHead(
        title=_text(element, "{*}Title"),
        report_date_time=_required_datetime(
            element, "{*}ReportDateTime", "Head/ReportDateTime", JST
        ),
        target_date_time=_datetime(target, "Head/TargetDateTime", JST) if target else None,
        event_id=_text(element, "{*}EventID"),
        info_type=_text(element, "{*}InfoType"),
        serial=_text(element, "{*}Serial"),
        info_kind=_text(element, "{*}InfoKind"),
        info_kind_version=_text(element, "{*}InfoKindVersion"),
        headline=_text(element, "{*}Headline/{*}Text"),
    )


def _body(root: Any) -> Any:
    # The schema lets the Body be any element of another namespace (processContents="lax"), so
    # a valid document may still carry something that is not a JMA body.
    for child in root:
        if isinstance(child.tag, str) and _namespace(child.tag).startswith(BODY_NS_PREFIX):
            return child
    raise JmaRejected("the report has no Body in a JMA body namespace")


# InfoKind is JMA's classification key, which (unlike titles) the R06 revision kept. It also
# names the family of a cancellation (取消), whose Body is empty.
_FAMILY_BY_INFO_KIND: Final = {
    "気象警報・注意報": Family.WEATHER_WARNING,
    "土砂災害警戒情報": Family.LANDSLIDE_ALERT,
    "指定河川洪水予報": Family.FLOOD_FORECAST,
    "津波警報・注意報・予報": Family.TSUNAMI,
    "震度速報": Family.EARTHQUAKE,
    "震源速報": Family.EARTHQUAKE,
    "地震情報": Family.EARTHQUAKE,
    "緊急地震速報": Family.EARTHQUAKE,
}


def _family(info_kind: str, body: Any) -> Family:
    if family := _FAMILY_BY_INFO_KIND.get(info_kind):
        return family
    # An InfoKind this module does not know: go by the shape of the Body.
    if body.find("{*}Tsunami/{*}Forecast") is not None:
        return Family.TSUNAMI
    if body.find("{*}Intensity") is not None:
        return Family.EARTHQUAKE
    if body.find("{*}Warning/{*}Item/{*}Stations") is not None:
        return Family.FLOOD_FORECAST
    if body.find("{*}Warning") is not None:
        return Family.OTHER_WARNING
    return Family.OTHER


# --------------------------------------------------------------------------------------------
# 気象警報・注意報: VPWW53 (H22), VPWW54 (H27) and the R06 family VPWW55–61

# Legacy codes (VPWW53/54) with the level of the guideline's 「警戒レベル相当情報」 table.
# 大雨警報 is level 3 only for 土砂災害 (大雨警報（浸水害）is not in the table); see _weather_level.
LEGACY_LEVELS: Final = {
    "33": 5,  # 大雨特別警報
    "03": 3,  # 大雨警報（土砂災害）
    "10": 2,  # 大雨注意報
    "04": 3,  # 洪水警報
    "18": 2,  # 洪水注意報
    "38": 4,  # 高潮特別警報
    "08": 4,  # 高潮警報
    "19": 2,  # 高潮注意報 (level 3 when it foretells a 警報; see _weather_level)
}
LEGACY_RAIN: Final = frozenset({"33", "03", "10"})
LEGACY_FLOOD: Final = frozenset({"04", "18"})
LEGACY_SURGE: Final = frozenset({"38", "08", "19"})

# R06 codes (JMA's R06 revision of its warnings, one message type per hazard group, levels 2–5
# written into the names). Several codes were reused with a new meaning (08 was 高潮警報 at
# level 4, is now レベル３高潮警報), so the era of a message decides which table applies.
R06_GROUPS: Final[dict[str, tuple[str, dict[str, int | None]]]] = {
    # type code: (hazard, {kind code: level})
    # 大雨 now means 浸水害 only: 土砂災害 has its own group.
    "VPWW55": (Hazard.INLAND_FLOOD, {"10": 2, "03": 3, "43": 4, "33": 5}),
    "VPWW56": (Hazard.LANDSLIDE, {"29": 2, "09": 3, "49": 4, "39": 5}),
    "VPWW57": (Hazard.STORM_SURGE, {"19": 2, "08": 3, "48": 4, "38": 5}),
    "VPWW58": ("", dict.fromkeys(("15", "05", "35", "13", "02", "32"))),  # 風 and 風雪
    "VPWW59": ("", dict.fromkeys(("16", "07", "37"))),  # 波浪
    "VPWW60": ("", dict.fromkeys(("12", "06", "36"))),  # 大雪
    "VPWW61": ("", dict.fromkeys(("14", "17", *map(str, range(20, 28))))),  # 雷, 融雪, 濃霧, …
}
R06_CODE_GROUP: Final = {code: tc for tc, (_, codes) in R06_GROUPS.items() for code in codes}
R06_ONLY_CODES: Final = frozenset({"09", "29", "39", "43", "48", "49"})
R06_FIRST_VERSION: Final = (1, 5)  # InfoKindVersion of the R06 気象警報・注意報 format

_LEVEL_IN_NAME = re.compile(r"レベル\s*([1-5１-５])")
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _is_r06(info_kind_version: str, body: Any) -> bool:
    # The R06 format is version 1.5 of InfoKind 気象警報・注意報. Kind codes that exist only in
    # R06, or a kind named with its level, are taken as proof too, should the version move on.
    match = re.match(r"(\d+)\.(\d+)", info_kind_version)
    if match and (int(match[1]), int(match[2])) >= R06_FIRST_VERSION:
        return True
    for kind in body.iterfind("{*}Warning/{*}Item/{*}Kind"):
        code = _text(kind, "{*}Code")
        if code in R06_ONLY_CODES or _level_in_name(_text(kind, "{*}Name")) is not None:
            return True
    return False


def _weather_warnings(body: Any, *, r06: bool) -> list[AreaWarning]:
    out: list[AreaWarning] = []
    for warning_type, item, area in _warning_items(body):
        item_extra = _item_extra(item)
        for kind in item.iterfind("{*}Kind"):
            code, name, status = _kind_basics(kind)
            condition = _text(kind, "{*}Condition")
            extra = {**item_extra, **area.extra, **_kind_extra(kind)}
            hazards = _weather_hazards(code, condition, r06=r06)
            if len(hazards) > 1:
                extra["hazards"] = list(hazards)
            level = _weather_level(code, name, condition, extra, r06=r06)
            out.append(
                AreaWarning(
                    area_code=area.code,
                    area_name=area.name,
                    kind_code=code,
                    kind_name=name,
                    status=status,
                    kind_level=level if status not in NOT_IN_FORCE else None,
                    hazard=hazards[0] if hazards else "",
                    warning_type=warning_type,
                    extra=extra,
                    code_type=area.code_type,
                )
            )
    return out


def _weather_level(
    code: str, name: str, condition: str, extra: dict[str, Any], *, r06: bool
) -> int | None:
    stated = _level_in_name(name)
    if stated is not None:
        return stated
    if not code:
        return None
    if r06:
        group = R06_CODE_GROUP.get(code)
        return R06_GROUPS[group][1].get(code) if group else None
    if code == "03" and condition and "土砂災害" not in condition:
        return None  # 大雨警報（浸水害）alone carries no level in the guideline
    if code == "19" and any(n["code"] in ("08", "38") for n in extra.get("next_kinds", [])):
        # The guideline: a 高潮注意報 that foretells a switch to a 高潮警報 (NextKinds) is
        # 警戒レベル3相当.
        return 3
    return LEGACY_LEVELS.get(code)


def _weather_hazards(code: str, condition: str, *, r06: bool) -> tuple[str, ...]:
    if not code:
        return ()
    if r06:
        group = R06_CODE_GROUP.get(code)
        hazard = R06_GROUPS[group][0] if group else ""
        return (hazard,) if hazard else ()
    if code in LEGACY_RAIN:
        # Legacy 大雨 warnings cover both; Condition (土砂災害、浸水害) narrows them when given.
        landslide = "土砂災害" in condition
        inland = "浸水害" in condition
        if not (landslide or inland):
            landslide = inland = True
        return tuple(
            h for h, on in ((Hazard.LANDSLIDE, landslide), (Hazard.INLAND_FLOOD, inland)) if on
        )
    if code in LEGACY_FLOOD:
        return (Hazard.FLOOD,)
    if code in LEGACY_SURGE:
        return (Hazard.STORM_SURGE,)
    return ()


def _r06_type_code(body: Any) -> str | None:
    # Each R06 message carries one hazard group; its kind codes (or the last kinds, when all is
    # clear) tell which.
    groups: set[str] = set()
    for kind in body.iterfind("{*}Warning/{*}Item/{*}Kind"):
        for code in (_text(kind, "{*}Code"), _text(kind, "{*}LastKind/{*}Code")):
            if code in R06_CODE_GROUP:
                groups.add(R06_CODE_GROUP[code])
    return groups.pop() if len(groups) == 1 else None


# --------------------------------------------------------------------------------------------
# 土砂災害警戒情報 (VXWW50)

# Kind codes of 土砂災害警戒情報: 0 なし, 1 解除, 3 警戒. The guideline makes it 警戒レベル4相当.
LANDSLIDE_ALERT_LEVELS: Final = {"3": 4}


def _landslide_alerts(body: Any) -> list[AreaWarning]:
    target = body.find("{*}TargetArea")
    target_extra = (
        {"target_area": {"name": _text(target, "{*}Name"), "code": _text(target, "{*}Code")}}
        if target is not None
        else {}
    )
    out: list[AreaWarning] = []
    for warning_type, item, area in _warning_items(body, default_code_type=MUNICIPALITY):
        for kind in item.iterfind("{*}Kind"):
            code, name, status = _kind_basics(kind)
            level = _level_in_name(name) or LANDSLIDE_ALERT_LEVELS.get(code)
            out.append(
                AreaWarning(
                    area_code=area.code,
                    area_name=area.name,
                    kind_code=code,
                    kind_name=name,
                    status=status,
                    kind_level=level if status not in NOT_IN_FORCE else None,
                    hazard=Hazard.LANDSLIDE,
                    warning_type=warning_type,
                    extra={**target_extra, **area.extra, **_kind_extra(kind)},
                    code_type=area.code_type,
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# 指定河川洪水予報 (VXKOii)

# Kind codes of 指定河川洪水予報 start with the level of the guideline's table: 2x 氾濫注意情報
# (2), 3x 氾濫警戒情報 (3), 4x 氾濫危険情報 (4), 5x 氾濫発生情報 (5); 1x are lifts (解除).
FLOOD_LEVEL_BY_FIRST_DIGIT: Final = {"2": 2, "3": 3, "4": 4, "5": 5}
_LEVEL_IN_HEADLINE = re.compile(r"警戒レベル\s*([1-5１-５])\s*相当")
_PARENTHETICAL = re.compile(r"（([^（）]*)）\s*$")


def _flood_forecasts(body: Any, head: Any, headline: str) -> list[AreaWarning]:
    # The kind of a flood forecast is stated in Head/Headline/Information only; the Body lists
    # the rivers, the stations and the districts (with their municipalities) expected to flood.
    kind = next(
        (k for k in head.iterfind("{*}Headline/{*}Information/{*}Item/{*}Kind") if _has(k, "Code")),
        None,
    )
    code = _text(kind, "{*}Code") if kind is not None else ""
    name = _text(kind, "{*}Name") if kind is not None else ""
    condition = _text(kind, "{*}Condition") if kind is not None else ""
    # Condition reads 「洪水警報（発表）」 when the river's 洪水警報 starts with this message and
    # 「洪水警報」 while it continues.
    paren = _PARENTHETICAL.search(condition)
    status = paren[1] if paren else ("継続" if condition else "")
    if code[:1] == "1":
        status = "解除"  # 1x kinds lift the forecast, whatever the Condition says of 洪水注意報
    level = FLOOD_LEVEL_BY_FIRST_DIGIT.get(code[:1])
    if level is None and code[:1] != "1":
        level = _level_in(_LEVEL_IN_HEADLINE, headline)
    if status in NOT_IN_FORCE:
        level = None

    warning = body.find("{*}Warning")
    warning_type = warning.get("type", "") if warning is not None else ""
    rivers: list[dict[str, str]] = []
    stations: list[str] = []
    main_text = ""
    districts: list[Any] = []
    for item in body.iterfind("{*}Warning/{*}Item"):
        for area in item.iterfind("{*}Areas/{*}Area"):
            if _has(area, "CityCode"):
                districts.append(area)
            elif "河川" in (area.get("codeType"), area.getparent().get("codeType")):
                rivers.append({"name": _text(area, "{*}Name"), "code": _text(area, "{*}Code")})
        stations += [_text(s, "{*}Name") for s in item.iterfind("{*}Stations/{*}Station")]
        for prop in item.iterfind("{*}Kind/{*}Property"):
            if _text(prop, "{*}Type") == "主文":
                main_text = main_text or _text(prop, "{*}Text")
    if not rivers:
        for area in head.iterfind("{*}Headline/{*}Information/{*}Item/{*}Areas/{*}Area"):
            if area.getparent().get("codeType") == "河川":
                rivers.append({"name": _text(area, "{*}Name"), "code": _text(area, "{*}Code")})
    # A forecast with several stations repeats its river once per station.
    rivers = list({(r["code"], r["name"]): r for r in rivers}.values())
    forecast_areas = [
        {"name": _text(a, "{*}Name"), "code": _text(a, "{*}Code")}
        for a in head.iterfind("{*}Headline/{*}Information/{*}Item/{*}Areas/{*}Area")
        if a.getparent().get("codeType") == "指定河川洪水予報（予報区域）"
    ]

    common: dict[str, Any] = {
        "river": rivers[0]["name"] if rivers else "",
        "rivers": [r["name"] for r in rivers],
        "condition": condition,
        "stations": stations,
        "main_text": main_text,
    }
    if forecast_areas:
        common["forecast_area"] = forecast_areas[0]

    def make(
        area_code: str, area_name: str, context: str, code_type: str, **more: Any
    ) -> AreaWarning:
        return AreaWarning(
            area_code=area_code,
            area_name=area_name,
            kind_code=code,
            kind_name=name,
            status=status,
            kind_level=level,
            hazard=Hazard.FLOOD,
            warning_type=f"{warning_type}（{context}）" if warning_type else context,
            extra={**common, **more},
            code_type=code_type,
        )

    out = [make(r["code"], r["name"], "河川", "河川") for r in rivers]
    for district in districts:
        sub_cities = [s for s in _text(district, "{*}SubCityList").split() if s != "-"]
        out.append(
            make(
                _text(district, "{*}CityCode"),
                _text(district, "{*}City"),
                "浸水想定地区",
                MUNICIPALITY,
                prefecture=_text(district, "{*}Prefecture"),
                station=_text(district, "{*}Name"),
                sub_cities=sub_cities,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# 津波警報・注意報・予報 (VTSE41)

# Tsunami kind codes: 50 警報解除, 60 注意報解除; tsunamis sit outside the 5-level scale.
TSUNAMI_LIFTED: Final = frozenset({"50", "60"})


def _tsunami_forecasts(body: Any) -> list[AreaWarning]:
    out: list[AreaWarning] = []
    for item in body.iterfind("{*}Tsunami/{*}Forecast/{*}Item"):
        code = _text(item, "{*}Category/{*}Kind/{*}Code")
        last = _text(item, "{*}Category/{*}LastKind/{*}Code")
        # The forecast has no status element: derive one from the kind and the last kind.
        if code in TSUNAMI_LIFTED:
            status = "解除"
        elif last and last == code:
            status = "継続"
        else:
            status = "発表"
        extra: dict[str, Any] = {
            "last_kind": {
                "name": _text(item, "{*}Category/{*}LastKind/{*}Name"),
                "code": last,
            },
        }
        for key, path in (
            ("first_arrival_time", "{*}FirstHeight/{*}ArrivalTime"),
            ("first_height_condition", "{*}FirstHeight/{*}Condition"),
        ):
            if value := _text(item, path):
                extra[key] = value
        height = item.find("{*}MaxHeight/{*}TsunamiHeight")
        if height is not None:
            extra["max_height"] = height.get("description", "") or (height.text or "").strip()
        out.append(
            AreaWarning(
                area_code=_text(item, "{*}Area/{*}Code"),
                area_name=_text(item, "{*}Area/{*}Name"),
                kind_code=code,
                kind_name=_text(item, "{*}Category/{*}Kind/{*}Name"),
                status=status,
                kind_level=None,
                hazard=Hazard.TSUNAMI,
                warning_type="津波予報区",
                extra=extra,
                code_type="津波予報区",
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# 震度速報 / 震源・震度に関する情報 (VXSE51/53) and 緊急地震速報 (VXSE43)

_INTENSITY_NAMES: Final = {"5-": "5弱", "5+": "5強", "6-": "6弱", "6+": "6強"}


def _intensity_name(value: str) -> str:
    return f"震度{_INTENSITY_NAMES.get(value, value)}" if value else ""


# Body/Intensity holds observed intensities (震度速報, 震度に関する情報) or, in 緊急地震速報,
# forecast ones.
_INTENSITY_CONTEXTS: Final = {"Observation": "観測震度", "Forecast": "予測震度"}


def _intensities(body: Any) -> list[AreaWarning]:
    out: list[AreaWarning] = []
    for part in body.iterfind("{*}Intensity/*"):
        context = _INTENSITY_CONTEXTS.get(_local(part.tag))
        if context is None:
            continue
        for pref in part.iterfind("{*}Pref"):
            prefecture = _text(pref, "{*}Name")
            for area in pref.iterfind("{*}Area"):
                out.append(_intensity(area, context, "地震情報／細分区域", prefecture))
                for city in area.iterfind("{*}City"):
                    out.append(_intensity(city, context, MUNICIPALITY, prefecture))
    return out


def _intensity(element: Any, context: str, code_type: str, prefecture: str) -> AreaWarning:
    kind_code = _text(element, "{*}Category/{*}Kind/{*}Code")
    kind_name = _text(element, "{*}Category/{*}Kind/{*}Name")
    max_int = _text(element, "{*}MaxInt")
    extra: dict[str, Any] = {"prefecture": prefecture}
    if max_int:
        extra["max_intensity"] = max_int
    forecast_from = _text(element, "{*}ForecastInt/{*}From")
    if forecast_from:
        extra["forecast_intensity"] = (forecast_from, _text(element, "{*}ForecastInt/{*}To"))
    for key, path in (("arrival_time", "{*}ArrivalTime"), ("condition", "{*}Condition")):
        if value := _text(element, path):
            extra[key] = value
    return AreaWarning(
        area_code=_text(element, "{*}Code"),
        area_name=_text(element, "{*}Name"),
        kind_code=kind_code or max_int,
        kind_name=kind_name or _intensity_name(max_int),
        status="発表",
        kind_level=None,
        hazard=Hazard.EARTHQUAKE,
        warning_type=context,
        extra=extra,
        code_type=code_type,
    )


# --------------------------------------------------------------------------------------------
# Other Body/Warning messages: 竜巻注意情報 (VPHW50), 記録的短時間大雨情報 (VPOA50), …


def _other_warnings(body: Any) -> list[AreaWarning]:
    out: list[AreaWarning] = []
    for warning_type, item, area in _warning_items(body):
        for kind in item.iterfind("{*}Kind"):
            code, name, status = _kind_basics(kind)
            level = _level_in_name(name)
            out.append(
                AreaWarning(
                    area_code=area.code,
                    area_name=area.name,
                    kind_code=code,
                    kind_name=name,
                    status=status,
                    kind_level=level if status not in NOT_IN_FORCE else None,
                    hazard="",
                    warning_type=warning_type,
                    extra={**_item_extra(item), **area.extra, **_kind_extra(kind)},
                    code_type=area.code_type,
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# Shared pieces of Body/Warning


@dataclass(frozen=True, slots=True)
class _Area:
    code: str
    name: str
    code_type: str
    extra: dict[str, Any]


def _warning_items(body: Any, *, default_code_type: str = "") -> Iterator[tuple[str, Any, _Area]]:
    """(Warning/@type, Item, area) for every area of every Item of every Warning."""
    for warning in body.iterfind("{*}Warning"):
        warning_type = warning.get("type", "")
        # 「気象警報・注意報（市町村等）」: the parenthesis names the kind of area listed.
        paren = _PARENTHETICAL.search(warning_type)
        type_code_type = paren[1] if paren else default_code_type
        for item in warning.iterfind("{*}Item"):
            areas = item.findall("{*}Area") + item.findall("{*}Areas/{*}Area")
            for area in areas:
                extra: dict[str, Any] = {}
                for key, path in (
                    ("sub_cities", "{*}SubCityList"),
                    ("location", "{*}Location"),
                ):
                    if value := _text(area, path):
                        extra[key] = value
                parent_type = area.getparent().get("codeType", "")
                code_type = area.get("codeType") or type_code_type or parent_type
                # The Headline's spelling of the same code list: 「気象・地震・火山情報／市町村等」.
                if code_type.endswith("／" + MUNICIPALITY):
                    code_type = MUNICIPALITY
                yield (
                    warning_type,
                    item,
                    _Area(_text(area, "{*}Code"), _text(area, "{*}Name"), code_type, extra),
                )


def _kind_basics(kind: Any) -> tuple[str, str, str]:
    return _text(kind, "{*}Code"), _text(kind, "{*}Name"), _text(kind, "{*}Status")


def _item_extra(item: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for key, path in (
        ("change_status", "{*}ChangeStatus"),
        ("full_status", "{*}FullStatus"),
        ("editing_mark", "{*}EditingMark"),
    ):
        if value := _text(item, path):
            extra[key] = value
    return extra


def _kind_extra(kind: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if condition := _text(kind, "{*}Condition"):
        extra["condition"] = condition
    for key, path in (("attention", "{*}Attention/{*}Note"), ("addition", "{*}Addition/{*}Note")):
        notes = [n for n in (_elem_text(e) for e in kind.iterfind(path)) if n]
        if notes:
            extra[key] = notes
    last = kind.find("{*}LastKind")
    if last is not None:
        extra["last_kind"] = {"name": _text(last, "{*}Name"), "code": _text(last, "{*}Code")}
    next_kinds = [
        {
            "name": _text(n, "{*}Name"),
            "code": _text(n, "{*}Code"),
            "sentence": _text(n, "{*}Sentence"),
        }
        for n in kind.iterfind("{*}NextKinds/{*}NextKind")
    ]
    if next_kinds:
        extra["next_kinds"] = next_kinds
    significancies = []
    for significancy in kind.iterfind("{*}Property/{*}SignificancyPart/{*}Base/{*}Significancy"):
        significancies.append(
            {
                "type": significancy.get("type", ""),
                "name": _text(significancy, "{*}Name"),
                "code": _text(significancy, "{*}Code"),
            }
        )
    if significancies:
        extra["significancy"] = significancies
    return extra


# --------------------------------------------------------------------------------------------
# Type codes

_TYPE_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{4}(?:[0-9]{2}|ii))(?![A-Za-z0-9])")

# InfoKinds that only one type code uses.
_TYPE_BY_INFO_KIND: Final = {
    "土砂災害警戒情報": "VXWW50",
    "竜巻注意情報": "VPHW50",
    "記録的短時間大雨情報": "VPOA50",
    "津波警報・注意報・予報": "VTSE41",
    "震度速報": "VXSE51",
}


def type_code_from_link(link: str) -> str | None:
    """The type code in a JMA file name (``20240318130405_0_VPWW54_340000.xml``), if any."""
    name = link.rsplit("/", 1)[-1]
    match = _TYPE_CODE.search(name)
    return match[1] if match else None


def _type_code(family: Family, info_kind: str, body: Any, *, r06: bool) -> str | None:
    if family is Family.WEATHER_WARNING:
        if r06:
            return _r06_type_code(body)
        # The H27 format (VPWW54) added the 量的予想時系列 (MeteorologicalInfos) to VPWW53's.
        return "VPWW54" if body.find("{*}MeteorologicalInfos") is not None else "VPWW53"
    # 指定河川洪水予報 have one type code per river office (VXKO50…): the structure cannot tell.
    return _TYPE_BY_INFO_KIND.get(info_kind)


# --------------------------------------------------------------------------------------------
# Matching a municipality


def lgcode_is_valid(lgcode: str) -> bool:
    """A 6-digit 全国地方公共団体コード whose check digit is right (総務省, JIS X 0402)."""
    if len(lgcode) != 6 or not lgcode.isascii() or not lgcode.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(lgcode[:5], (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10 == int(lgcode[5])


def warnings_for(message: JmaMessage, *, lgcode: str) -> list[AreaWarning]:
    """The entries of a message that name the municipality ``lgcode`` (e.g. 戸田市 "112241").

    JMA's 市町村等 codes are the 5-digit JIS code plus 2 digits (several codes for a city split
    into parts), so the first 5 digits decide. Entries for wider areas (府県予報区, 一次細分区域,
    津波予報区, rivers) never match: a city is concerned only when the message lists it.
    """
    if not lgcode_is_valid(lgcode):
        raise ValueError(f"not a 6-digit local government code (with check digit): {lgcode!r}")
    prefix = lgcode[:5]
    return [w for w in message.warnings if w.is_municipality and w.area_code[:5] == prefix]


def _is_jma_city_code(code: str) -> bool:
    return len(code) == 7 and code.isascii() and code.isdigit()


# --------------------------------------------------------------------------------------------
# Small helpers


def _text(element: Any, path: str) -> str:
    found = element.find(path)
    return _elem_text(found) if found is not None else ""


def _elem_text(element: Any) -> str:
    return (element.text or "").strip()


def _has(element: Any, local_name: str) -> bool:
    return element.find(f"{{*}}{local_name}") is not None


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _level_in(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match[1].translate(_FULLWIDTH_DIGITS)) if match else None


def _level_in_name(name: str) -> int | None:
    return _level_in(_LEVEL_IN_NAME, name)


def _datetime(text: str, label: str, default_tz: timezone) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise JmaRejected(f"{label} is not a date and time: {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=default_tz)


def _required_datetime(element: Any, path: str, label: str, default_tz: timezone) -> datetime:
    text = _text(element, path)
    if not text:
        raise JmaRejected(f"the report has no {label}")
    return _datetime(text, label, default_tz)
