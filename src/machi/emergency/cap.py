"""CAP (OASIS Common Alerting Protocol) out and in, and the Atom feed that lists the alerts.

A pure library: no models, no database, no settings. The emergency room stores what it
publishes and decides when; this module only turns alerts into bytes and bytes into alerts.

Out: ``render_alert`` writes a CAP 1.2 document from a ``CapAlert``. The dataclasses check every
rule the CAP 1.2 schema (and, where cheap, the CAP 1.2 specification) sets when they are built,
so that a document rendered from them is always schema-valid; the tests hold render_alert to
that against the bundled ``schemas/cap12.xsd``. The XML is built as text rather than with lxml:
the alert's shape is fixed, escaping is three replacements, and a benchmark measures alerts per
second (a city may re-issue hundreds of area alerts at once). ``evacuation_alert`` and
``evacuation_lift_alert`` build the city's 避難情報 as CAP.

In: ``validate_cap`` and ``parse_alert`` take CAP 1.1 or 1.2 from other authorities. Every
document goes through ``machi.core.safexml`` (no DTDs, entities or network) and is validated
against the OASIS schema of its namespace before anything is read from it.

Times: CAP allows only ``YYYY-MM-DDThh:mm:ss±hh:mm`` (the specification's DateTime data format:
no fractional seconds, no "Z"). Machi writes every time in Asia/Tokyo; incoming times keep the
offset their sender used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from machi.core import lgcode, safexml
from machi.core.hazards import Hazard
from machi.core.safexml import XmlRejected

__all__ = [
    "ATOM_NS",
    "CAP11_NS",
    "CAP12_NS",
    "CAP_MEDIA_TYPE",
    "JIS_X_0402",
    "LEVEL_PARAMETER",
    "MACHIAZA_ID",
    "SCHEMA_DIR",
    "CapAlert",
    "CapArea",
    "CapError",
    "CapInfo",
    "CapReference",
    "EvacuationArea",
    "FeedEntry",
    "ParsedAlert",
    "ParsedArea",
    "ParsedInfo",
    "XmlRejected",
    "cap_time",
    "evacuation_alert",
    "evacuation_lift_alert",
    "parse_alert",
    "parse_cap_time",
    "render_alert",
    "render_feed",
    "validate_cap",
]

CAP12_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11_NS = "urn:oasis:names:tc:emergency:cap:1.1"
ATOM_NS = "http://www.w3.org/2005/Atom"
# The media type IANA registered for CAP alerts; an Atom entry announces its link with it.
CAP_MEDIA_TYPE = "application/cap+xml"

SCHEMA_DIR = Path(__file__).resolve().with_name("schemas")
_VERSIONS: dict[str, tuple[str, Path]] = {
    CAP12_NS: ("1.2", SCHEMA_DIR / "cap12.xsd"),
    CAP11_NS: ("1.1", SCHEMA_DIR / "cap11.xsd"),
}

JST = ZoneInfo("Asia/Tokyo")

# The value lists of the CAP 1.2 schema. CAP 1.1 has the same lists minus the response types
# Avoid and AllClear; Machi only writes 1.2, so only 1.2's lists apply to what it writes.
STATUSES = frozenset({"Actual", "Exercise", "System", "Test", "Draft"})
MSG_TYPES = frozenset({"Alert", "Update", "Cancel", "Ack", "Error"})
SCOPES = frozenset({"Public", "Restricted", "Private"})
CATEGORIES = frozenset(
    {
        "Geo",
        "Met",
        "Safety",
        "Security",
        "Rescue",
        "Fire",
        "Health",
        "Env",
        "Transport",
        "Infra",
        "CBRNE",
        "Other",
    }
)
RESPONSE_TYPES = frozenset(
    {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"}
)
URGENCIES = frozenset({"Immediate", "Expected", "Future", "Past", "Unknown"})
SEVERITIES = frozenset({"Extreme", "Severe", "Moderate", "Minor", "Unknown"})
CERTAINTIES = frozenset({"Observed", "Likely", "Possible", "Unlikely", "Unknown"})


class CapError(ValueError):
    """An outgoing alert breaks a rule of CAP 1.2; the message names the element."""


class CapReference(NamedTuple):
    """One earlier message, as CAP 1.2 §3.2.1 ``references`` names it: sender,identifier,sent."""

    sender: str
    identifier: str
    sent: datetime


# --- Checks shared by the dataclasses -------------------------------------------------------

# CAP 1.2 §3.2.1: identifier and sender "MUST NOT include spaces, commas or restricted
# characters (< and &)"; the spaces and commas would break the references triples.
_BAD_ID_CHARS = re.compile(r"[\s,<&]")
_SPACE = re.compile(r"\s")
# xs:language, the type of <language>.
_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(?:-[a-zA-Z0-9]{1,8})*")
# Characters XML 1.0 cannot carry at all, not even as references (C0 controls but tab, newline
# and carriage return; lone surrogates; U+FFFE/U+FFFF). They are invisible, pasted in from other
# software; dropping them is better than refusing to publish an evacuation order over them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_POINT = re.compile(rf"({_NUMBER}),({_NUMBER})")
_RADIUS = re.compile(r"\d+(?:\.\d+)?")


def _require(element: str, value: str) -> None:
    # Blank once rendered counts as missing: the characters XML cannot carry are dropped.
    if not value or not _NOT_XML.sub("", value).strip():
        raise CapError(f"<{element}> is required and may not be empty")


def _check_id(element: str, value: str) -> None:
    _require(element, value)
    if _BAD_ID_CHARS.search(value):
        raise CapError(f"<{element}> may not contain spaces, commas, < or &: {value!r}")


def _check_enum(element: str, value: str, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise CapError(f"<{element}> must be one of {', '.join(sorted(allowed))}, not {value!r}")


def _check_aware(element: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise CapError(f"<{element}> must be an aware datetime, not {value!r}")


def _check_pairs(element: str, pairs: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    for name, value in pairs:
        _require(f"{element}/valueName", name)
        if not isinstance(value, str):
            raise CapError(f"<{element}> value of {name!r} must be text, not {value!r}")
    return tuple((name, value) for name, value in pairs)


def _point(element: str, text: str) -> tuple[float, float]:
    match = _POINT.fullmatch(text)
    if match is None:
        raise CapError(f"<{element}> needs latitude,longitude pairs, not {text!r}")
    latitude, longitude = float(match[1]), float(match[2])
    # CAP is latitude first (WGS 84), GeoJSON longitude first: in Japan a swapped pair puts the
    # "latitude" above 120, so the range check catches the usual mistake.
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise CapError(
            f"<{element}> point {text!r} is out of range; CAP wants latitude,longitude "
            "(was it given as longitude,latitude?)"
        )
    return latitude, longitude


def _polygon(text: str) -> str:
    # CAP 1.2 §3.2.4: at least four pairs, and the first and last the same (a closed ring).
    pairs = text.split()
    if len(pairs) < 4:
        raise CapError(f"<polygon> needs at least 4 points, got {len(pairs)}")
    points = [_point("polygon", pair) for pair in pairs]
    if points[0] != points[-1]:
        raise CapError("<polygon> must be closed: its first and last points must be the same")
    return " ".join(pairs)


def _circle(text: str) -> str:
    # CAP 1.2 §3.2.4: "latitude,longitude radius", the radius in kilometres.
    parts = text.split()
    if len(parts) != 2 or _RADIUS.fullmatch(parts[1]) is None:
        raise CapError(f"<circle> must be 'latitude,longitude radius', not {text!r}")
    _point("circle", parts[0])
    return " ".join(parts)


# --- Outgoing alerts ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CapArea:
    """An ``<area>``: its description, and optional polygons, circles and geocodes.

    Polygons are CAP text ("lat,lon lat,lon ..."); geocodes are (valueName, value) pairs.
    """

    desc: str
    polygons: Sequence[str] = ()
    circles: Sequence[str] = ()
    geocodes: Sequence[tuple[str, str]] = ()

    def __post_init__(self) -> None:
        _require("areaDesc", self.desc)
        # Stored as tuples so that the checked values cannot change after the check.
        object.__setattr__(self, "polygons", tuple(_polygon(p) for p in self.polygons))
        object.__setattr__(self, "circles", tuple(_circle(c) for c in self.circles))
        object.__setattr__(self, "geocodes", _check_pairs("geocode", self.geocodes))


@dataclass(frozen=True, slots=True, kw_only=True)
class CapInfo:
    """An ``<info>``: one language's account of the event, with its areas."""

    language: str
    categories: Sequence[str]
    event: str
    urgency: str
    severity: str
    certainty: str
    response_types: Sequence[str] = ()
    event_codes: Sequence[tuple[str, str]] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str = ""
    headline: str = ""
    description: str = ""
    instruction: str = ""
    web: str = ""
    contact: str = ""
    parameters: Sequence[tuple[str, str]] = ()
    areas: Sequence[CapArea] = ()

    def __post_init__(self) -> None:
        if _LANGUAGE.fullmatch(self.language) is None:
            raise CapError(
                f"<language> must be a language tag such as ja-JP, not {self.language!r}"
            )
        if isinstance(self.categories, str) or not self.categories:
            raise CapError("<category> is required: give a list of one or more categories")
        for category in self.categories:
            _check_enum("category", category, CATEGORIES)
        _require("event", self.event)
        if isinstance(self.response_types, str):
            raise CapError("<responseType> must be a list, not a string")
        for response_type in self.response_types:
            _check_enum("responseType", response_type, RESPONSE_TYPES)
        _check_enum("urgency", self.urgency, URGENCIES)
        _check_enum("severity", self.severity, SEVERITIES)
        _check_enum("certainty", self.certainty, CERTAINTIES)
        _check_aware("effective", self.effective)
        _check_aware("onset", self.onset)
        _check_aware("expires", self.expires)
        if self.web:
            parts = urlsplit(self.web)
            # <web> is an xs:anyURI, and CAP 1.2 wants a full, absolute URI there.
            if not parts.scheme or not parts.netloc or _SPACE.search(self.web):
                raise CapError(f"<web> must be an absolute URL, not {self.web!r}")
        for area in self.areas:
            if not isinstance(area, CapArea):
                raise CapError(f"<area> must be a CapArea, not {area!r}")
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "response_types", tuple(self.response_types))
        object.__setattr__(self, "event_codes", _check_pairs("eventCode", self.event_codes))
        object.__setattr__(self, "parameters", _check_pairs("parameter", self.parameters))
        object.__setattr__(self, "areas", tuple(self.areas))


@dataclass(frozen=True, slots=True, kw_only=True)
class CapAlert:
    """An ``<alert>``: the message, who sent it when, and its infos (none for a bare Cancel).

    ``references`` are (sender, identifier, sent) triples of earlier messages; ``codes`` are
    the ``<code>`` elements (profile names), ``source`` the operator or device that made it.
    """

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: Sequence[tuple[str, str, datetime]] = ()
    note: str = ""
    infos: Sequence[CapInfo] = ()
    source: str = ""
    restriction: str = ""
    addresses: str = ""
    codes: Sequence[str] = ()

    def __post_init__(self) -> None:
        _check_id("identifier", self.identifier)
        _check_id("sender", self.sender)
        if self.sent is None or self.sent.utcoffset() is None:
            raise CapError(f"<sent> must be an aware datetime, not {self.sent!r}")
        _check_enum("status", self.status, STATUSES)
        _check_enum("msgType", self.msg_type, MSG_TYPES)
        _check_enum("scope", self.scope, SCOPES)
        # CAP 1.2 §3.2.1: a Restricted alert says its rule in <restriction>, and a Private one
        # names its recipients in <addresses>; without them a receiver cannot honour the scope.
        if self.scope == "Restricted":
            _require("restriction", self.restriction)
        if self.scope == "Private":
            _require("addresses", self.addresses)
        if any(len(reference) != 3 for reference in self.references):
            raise CapError("<references> are (sender, identifier, sent) triples")
        references = tuple(CapReference(*reference) for reference in self.references)
        for reference in references:
            _check_id("references sender", reference.sender)
            _check_id("references identifier", reference.identifier)
            if not isinstance(reference.sent, datetime) or reference.sent.utcoffset() is None:
                raise CapError(f"<references> sent must be an aware datetime: {reference!r}")
        # CAP 1.2 §3.2.1 defines Update, Cancel, Ack and Error by the earlier messages they
        # name in <references>; without them a receiver cannot tell what is updated or lifted.
        if self.msg_type != "Alert" and not references:
            raise CapError(f"a msgType {self.msg_type} alert needs <references>")
        if isinstance(self.codes, str):
            raise CapError("<code> must be a list, not a string")
        for code in self.codes:
            _require("code", code)
        for info in self.infos:
            if not isinstance(info, CapInfo):
                raise CapError(f"<info> must be a CapInfo, not {info!r}")
        object.__setattr__(self, "references", references)
        object.__setattr__(self, "codes", tuple(self.codes))
        object.__setattr__(self, "infos", tuple(self.infos))


# --- Rendering ------------------------------------------------------------------------------

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _text(value: str) -> str:
    """``value`` escaped for element content."""
    # Most texts need nothing: one search answers that, instead of five.
    if _SPECIAL.search(value) is None:
        return value
    if _NOT_XML.search(value):
        value = _NOT_XML.sub("", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A parser turns a raw CR into a newline; a reference keeps it.
    return value.replace("\r", "&#13;")


def _attribute(value: str) -> str:
    """``value`` escaped for a double-quoted attribute (whitespace survives normalisation)."""
    value = _text(value)
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\n" in value or "\t" in value:
        value = value.replace("\n", "&#10;").replace("\t", "&#9;")
    return value


def cap_time(value: datetime) -> str:
    """``value`` as CAP writes it, in Asia/Tokyo: ``2025-07-01T09:30:00+09:00``."""
    if value.utcoffset() is None:
        raise CapError(f"a CAP time must be aware, not {value!r}")
    # isoformat writes "+09:00" (never "Z"); seconds drops the microseconds CAP forbids.
    return value.astimezone(JST).isoformat(timespec="seconds")


def _element(out: list[str], indent: str, name: str, value: str) -> None:
    out.append(f"{indent}<{name}>{_text(value)}</{name}>\n")


def _optional(out: list[str], indent: str, name: str, value: str) -> None:
    if value:
        out.append(f"{indent}<{name}>{_text(value)}</{name}>\n")


def _pairs(out: list[str], indent: str, name: str, pairs: Sequence[tuple[str, str]]) -> None:
    for value_name, value in pairs:
        out.append(
            f"{indent}<{name}><valueName>{_text(value_name)}</valueName>"
            f"<value>{_text(value)}</value></{name}>\n"
        )


def _render_area(area: CapArea) -> str:
    out = ["    <area>\n"]
    _element(out, "      ", "areaDesc", area.desc)
    for polygon in area.polygons:
        _element(out, "      ", "polygon", polygon)
    for circle in area.circles:
        _element(out, "      ", "circle", circle)
    _pairs(out, "      ", "geocode", area.geocodes)
    out.append("    </area>\n")
    return "".join(out)


def _render_info(out: list[str], info: CapInfo, areas: dict[int, str]) -> None:
    # The order below is the order of the CAP 1.2 schema's <info> sequence.
    out.append("  <info>\n")
    _element(out, "    ", "language", info.language)
    for category in info.categories:
        out.append(f"    <category>{category}</category>\n")
    _element(out, "    ", "event", info.event)
    for response_type in info.response_types:
        out.append(f"    <responseType>{response_type}</responseType>\n")
    out.append(f"    <urgency>{info.urgency}</urgency>\n")
    out.append(f"    <severity>{info.severity}</severity>\n")
    out.append(f"    <certainty>{info.certainty}</certainty>\n")
    _pairs(out, "    ", "eventCode", info.event_codes)
    if info.effective is not None:
        out.append(f"    <effective>{cap_time(info.effective)}</effective>\n")
    if info.onset is not None:
        out.append(f"    <onset>{cap_time(info.onset)}</onset>\n")
    if info.expires is not None:
        out.append(f"    <expires>{cap_time(info.expires)}</expires>\n")
    _optional(out, "    ", "senderName", info.sender_name)
    _optional(out, "    ", "headline", info.headline)
    _optional(out, "    ", "description", info.description)
    _optional(out, "    ", "instruction", info.instruction)
    _optional(out, "    ", "web", info.web)
    _optional(out, "    ", "contact", info.contact)
    _pairs(out, "    ", "parameter", info.parameters)
    for area in info.areas:
        # The infos of each language share their CapArea objects (and a polygon may have
        # thousands of points): each is rendered once per alert.
        rendered = areas.get(id(area))
        if rendered is None:
            rendered = areas[id(area)] = _render_area(area)
        out.append(rendered)
    out.append("  </info>\n")


def render_alert(alert: CapAlert) -> bytes:
    """The alert as a CAP 1.2 document: UTF-8, with an XML declaration, always the same bytes."""
    out = [_DECLARATION, f'<alert xmlns="{CAP12_NS}">\n']
    # The order below is the order of the CAP 1.2 schema's <alert> sequence.
    _element(out, "  ", "identifier", alert.identifier)
    _element(out, "  ", "sender", alert.sender)
    out.append(f"  <sent>{cap_time(alert.sent)}</sent>\n")
    out.append(f"  <status>{alert.status}</status>\n")
    out.append(f"  <msgType>{alert.msg_type}</msgType>\n")
    _optional(out, "  ", "source", alert.source)
    out.append(f"  <scope>{alert.scope}</scope>\n")
    _optional(out, "  ", "restriction", alert.restriction)
    _optional(out, "  ", "addresses", alert.addresses)
    for code in alert.codes:
        _element(out, "  ", "code", code)
    _optional(out, "  ", "note", alert.note)
    if alert.references:
        triples = " ".join(
            f"{sender},{identifier},{cap_time(sent)}"
            for sender, identifier, sent in alert.references
        )
        _element(out, "  ", "references", triples)
    areas: dict[int, str] = {}
    for info in alert.infos:
        _render_info(out, info, areas)
    out.append("</alert>\n")
    return "".join(out).encode("utf-8")


# --- 避難情報 (evacuation information) as CAP -------------------------------------------------

# The geocode schemes Machi writes: 全国地方公共団体コード (JIS X 0402, a whole municipality) and
# the アドレス・ベース・レジストリ 町字ID (a district within it).
JIS_X_0402 = "JIS X 0402"
MACHIAZA_ID = "町字ID"


class EvacuationArea(NamedTuple):
    """An area an evacuation order covers: its name, its code, and optionally its outline.

    ``polygon`` is CAP text ("lat,lon lat,lon ...", closed); ``scheme`` says what ``code`` is.
    """

    name: str
    code: str
    polygon: str | None = None
    scheme: str = JIS_X_0402


class _Level(NamedTuple):
    name_ja: str
    name_en: str
    response_type: str
    urgency: str
    severity: str
    certainty: str
    instruction_ja: str
    instruction_en: str


# 警戒レベル → CAP, after 内閣府「避難情報に関するガイドライン」(令和3年5月), written for
# that year's revision of the 災害対策基本法 (避難勧告 folded into 避難指示; 緊急安全確保 created):
# - Level 3 高齢者等避難: the danger is coming (Expected), not yet here; people who need time
#   (the elderly, the disabled, infants) leave now, so Evacuate, Severe, Likely.
# - Level 4 避難指示: everyone in a dangerous place leaves now: Evacuate, Immediate. Severe, not
#   Extreme, because the guideline's point is to leave *before* the disaster (Likely).
# - Level 5 緊急安全確保: the disaster is imminent or happening (Observed) and moving to a shelter
#   may itself kill; people secure their life where they are: Shelter, Immediate, Extreme.
# - 解除 (lift): the danger is over for the area: AllClear, Past, Minor, Observed.
_LEVELS: dict[int, _Level] = {
    3: _Level(
        "高齢者等避難",
        "Evacuation of the elderly and others",
        "Evacuate",
        "Expected",
        "Severe",
        "Likely",
        "高齢者等は危険な場所から避難してください。高齢者等以外の人も、必要に応じて普段の"
        "行動を見合わせ、避難の準備をしてください。危険を感じたら自主的に避難してください。",
        "Elderly people and others who need time to evacuate: leave dangerous places now. "
        "Everyone else: prepare to evacuate, and leave if you feel in danger.",
    ),
    4: _Level(
        "避難指示",
        "Evacuation order",
        "Evacuate",
        "Immediate",
        "Severe",
        "Likely",
        "危険な場所から全員避難してください。",
        "Everyone: evacuate from dangerous places now.",
    ),
    5: _Level(
        "緊急安全確保",
        "Emergency safety measures",
        "Shelter",
        "Immediate",
        "Extreme",
        "Observed",
        "命の危険があります。直ちに身の安全を確保してください。避難場所への移動がかえって"
        "危険な場合は、近くの少しでも安全な場所に移動してください。",
        "Your life is in danger. Secure your safety immediately where you are. If moving to a "
        "shelter is itself dangerous, move to the safest place nearby.",
    ),
}


class _HazardWords(NamedTuple):
    name_ja: str
    name_en: str
    category: str


# CAP category by what the hazard is: ground and earth movements are Geo, weather and water
# are Met, a large fire is Fire. Every evacuation order adds Safety, CAP's category for
# "general emergency and public safety", because the order itself is a public-safety measure.
_HAZARDS: dict[str, _HazardWords] = {
    Hazard.FLOOD: _HazardWords("洪水", "flood", "Met"),
    Hazard.LANDSLIDE: _HazardWords("土砂災害", "landslide", "Geo"),
    Hazard.STORM_SURGE: _HazardWords("高潮", "storm surge", "Met"),
    Hazard.EARTHQUAKE: _HazardWords("地震", "earthquake", "Geo"),
    Hazard.TSUNAMI: _HazardWords("津波", "tsunami", "Geo"),
    Hazard.LARGE_FIRE: _HazardWords("大規模火災", "large fire", "Fire"),
    Hazard.INLAND_FLOOD: _HazardWords("内水氾濫", "inland flooding", "Met"),
    Hazard.VOLCANO: _HazardWords("火山現象", "volcanic activity", "Geo"),
}

# The parameter that carries the level for machines, in both languages' infos alike.
LEVEL_PARAMETER = "警戒レベル"


def _level(level: int) -> _Level:
    # isinstance, because 4.0 == 4 would find level 4 and then be written "4.0".
    found = _LEVELS.get(level) if isinstance(level, int) else None
    if found is None:
        raise CapError(f"警戒レベル must be 3, 4 or 5 (the levels a city issues), not {level!r}")
    return found


def _hazard(hazard: str) -> _HazardWords:
    found = _HAZARDS.get(hazard)
    if found is None:
        raise CapError(f"hazard must be one of {', '.join(_HAZARDS)}, not {hazard!r}")
    return found


def _cap_areas(areas: Sequence[EvacuationArea | tuple[Any, ...]]) -> tuple[CapArea, ...]:
    if isinstance(areas, str) or not areas:
        raise CapError("an evacuation alert needs at least one area")
    built = []
    for raw in areas:
        try:
            area = EvacuationArea(*raw)
        except TypeError as exc:
            raise CapError(
                f"an area is (name, code, polygon or None[, scheme]), not {raw!r}"
            ) from exc
        if area.scheme == JIS_X_0402:
            # Five digits, or six with the check digit of 総務省's 全国地方公共団体コード.
            code = str(area.code)
            if not code.isascii() or not (
                (len(code) == 5 and code.isdigit()) or lgcode.is_valid(code)
            ):
                raise CapError(f"{area.name}: {area.code!r} is not a JIS X 0402 code")
        elif area.scheme == MACHIAZA_ID:
            _check_id(f"{area.name} 町字ID", area.code)
        else:
            raise CapError(f"geocode scheme must be {JIS_X_0402!r} or {MACHIAZA_ID!r}")
        built.append(
            CapArea(
                desc=area.name,
                polygons=(area.polygon,) if area.polygon else (),
                geocodes=((area.scheme, area.code),),
            )
        )
    return tuple(built)


def _evacuation_infos(
    *,
    level: _Level,
    level_number: int,
    hazard: _HazardWords,
    areas: tuple[CapArea, ...],
    city_name: str,
    city_name_en: str,
    web: str,
    contact: str,
) -> tuple[CapInfo, CapInfo]:
    """The Japanese and the English info of an order in force."""
    event_ja = f"{level.name_ja}（{hazard.name_ja}）"
    event_en = f"{level.name_en} ({hazard.name_en})"
    names = [area.desc for area in areas]
    categories = (hazard.category, "Safety")
    common: dict[str, Any] = {
        "categories": categories,
        "response_types": (level.response_type,),
        "urgency": level.urgency,
        "severity": level.severity,
        "certainty": level.certainty,
        "web": web,
        "contact": contact,
        "parameters": ((LEVEL_PARAMETER, str(level_number)),),
        "areas": areas,
    }
    japanese = CapInfo(
        language="ja-JP",
        event=event_ja,
        sender_name=city_name,
        headline=f"【警戒レベル{level_number}】{city_name} {event_ja}",
        description=f"{city_name}は、次の地域に{event_ja}を発令しました。対象地域：{'、'.join(names)}",
        instruction=level.instruction_ja,
        **common,
    )
    english = CapInfo(
        language="en-US",
        event=event_en,
        sender_name=city_name_en,
        headline=f"[Level {level_number}] {city_name_en}: {event_en}",
        description=f"{city_name_en} has issued: {event_en}. Areas: {', '.join(names)}",
        instruction=level.instruction_en,
        **common,
    )
    return japanese, english


def _lift_infos(
    *,
    level: _Level,
    hazard: _HazardWords,
    areas: tuple[CapArea, ...],
    city_name: str,
    city_name_en: str,
    web: str,
    contact: str,
) -> tuple[CapInfo, CapInfo]:
    """The Japanese and the English info of a 解除.

    No 警戒レベル parameter: a receiver that reads the level from it must not see a level in
    force in an area that has none any more. The event names the order that was lifted.
    """
    lifted_ja = f"{level.name_ja}（{hazard.name_ja}）"
    lifted_en = f"{level.name_en} ({hazard.name_en})"
    names = [area.desc for area in areas]
    common: dict[str, Any] = {
        "categories": (hazard.category, "Safety"),
        "response_types": ("AllClear",),
        "urgency": "Past",
        "severity": "Minor",
        "certainty": "Observed",
        "web": web,
        "contact": contact,
        "areas": areas,
    }
    japanese = CapInfo(
        language="ja-JP",
        event=f"{lifted_ja}の解除",
        sender_name=city_name,
        headline=f"【解除】{city_name} {lifted_ja}",
        description=f"{city_name}は、次の地域の{lifted_ja}を解除しました。対象地域：{'、'.join(names)}",
        instruction="引き続き、市区町村や気象台などからの情報に注意してください。",
        **common,
    )
    english = CapInfo(
        language="en-US",
        event=f"{lifted_en} lifted",
        sender_name=city_name_en,
        headline=f"[Lifted] {city_name_en}: {lifted_en}",
        description=f"{city_name_en} has lifted: {lifted_en}. Areas: {', '.join(names)}",
        instruction="Keep following official information from the city and weather services.",
        **common,
    )
    return japanese, english


def evacuation_alert(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    level: int,
    hazard: str,
    areas: Sequence[EvacuationArea | tuple[Any, ...]],
    city_name: str,
    msg_type: str = "Alert",
    references: Sequence[tuple[str, str, datetime]] = (),
    status: str = "Actual",
    web: str = "",
    contact: str = "",
    note: str = "",
    city_name_en: str = "",
) -> CapAlert:
    """A city's 避難情報 (警戒レベル 3, 4 or 5 for one hazard) as CAP: a ja-JP, then an en-US info.

    ``areas`` are ``EvacuationArea`` (or plain tuples of name, code, polygon-or-None[, scheme]).
    Raising the level for the same areas is msg_type="Update" with ``references`` to the
    earlier alert. ``city_name_en`` defaults to ``city_name``.
    """
    _require("senderName", city_name)
    words = _hazard(hazard)
    japanese, english = _evacuation_infos(
        level=_level(level),
        level_number=level,
        hazard=words,
        areas=_cap_areas(areas),
        city_name=city_name,
        city_name_en=city_name_en or city_name,
        web=web,
        contact=contact,
    )
    return CapAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=status,
        msg_type=msg_type,
        scope="Public",
        references=references,
        note=note,
        infos=(japanese, english),
    )


def evacuation_lift_alert(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    level: int,
    hazard: str,
    lifted_areas: Sequence[EvacuationArea | tuple[Any, ...]],
    references: Sequence[tuple[str, str, datetime]],
    city_name: str,
    remaining_areas: Sequence[EvacuationArea | tuple[Any, ...]] = (),
    status: str = "Actual",
    web: str = "",
    contact: str = "",
    note: str = "",
    city_name_en: str = "",
) -> CapAlert:
    """The 解除 of an evacuation order at ``level``, referring to the alert(s) it lifts.

    With no ``remaining_areas`` every area is lifted: a Cancel with AllClear infos. Otherwise
    it is an Update. CAP 1.2 §3.2.1 says an Update *supersedes* the messages it references, so
    it restates the order for the areas that keep it (the order's ja-JP and en-US infos) after
    the AllClear infos of the lifted ones; a receiver that replaces the old alert with it
    still warns the areas that are not lifted. Infos come in the order ja-JP lift, ja-JP in
    force, en-US lift, en-US in force.
    """
    _require("senderName", city_name)
    if isinstance(references, str) or not references:
        raise CapError("a 解除 needs <references> to the alert(s) it lifts")
    words = _hazard(hazard)
    details = _level(level)
    name_en = city_name_en or city_name
    lift_ja, lift_en = _lift_infos(
        level=details,
        hazard=words,
        areas=_cap_areas(lifted_areas),
        city_name=city_name,
        city_name_en=name_en,
        web=web,
        contact=contact,
    )
    infos: tuple[CapInfo, ...]
    if not remaining_areas:
        msg_type, infos = "Cancel", (lift_ja, lift_en)
    else:
        keep_ja, keep_en = _evacuation_infos(
            level=details,
            level_number=level,
            hazard=words,
            areas=_cap_areas(remaining_areas),
            city_name=city_name,
            city_name_en=name_en,
            web=web,
            contact=contact,
        )
        msg_type, infos = "Update", (lift_ja, keep_ja, lift_en, keep_en)
    return CapAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=status,
        msg_type=msg_type,
        scope="Public",
        references=references,
        note=note,
        infos=infos,
    )


# --- Incoming alerts ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedArea:
    desc: str
    polygons: tuple[str, ...]
    circles: tuple[str, ...]
    geocodes: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ParsedInfo:
    language: str
    categories: tuple[str, ...]
    event: str
    response_types: tuple[str, ...]
    urgency: str
    severity: str
    certainty: str
    event_codes: tuple[tuple[str, str], ...]
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    sender_name: str
    headline: str
    description: str
    instruction: str
    web: str
    contact: str
    parameters: tuple[tuple[str, str], ...]
    areas: tuple[ParsedArea, ...]


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    """A CAP 1.1 or 1.2 alert from another authority, schema-valid, with aware times.

    Texts are stripped of surrounding whitespace; optional elements that are absent are "".
    Polygons and circles are kept as the sender wrote them (whitespace normalised).
    """

    version: str
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    source: str
    scope: str
    restriction: str
    addresses: str
    codes: tuple[str, ...]
    note: str
    references: tuple[CapReference, ...]
    incidents: str
    infos: tuple[ParsedInfo, ...]


_CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")


def parse_cap_time(text: str, *, element: str = "time", line: int | None = None) -> datetime:
    """A CAP time as an aware datetime (its own offset kept), or XmlRejected naming ``element``.

    Strict: CAP 1.1 and 1.2 forbid "Z" and fractional seconds, though the 1.1 schema's
    xs:dateTime would let them through. "-00:00" (CAP's way of writing UTC) is UTC.
    """
    value = text.strip()  # xs:dateTime collapses surrounding whitespace, so the schema allows it
    if _CAP_TIME.fullmatch(value) is None:
        raise XmlRejected(
            f"<{element}> is not a CAP time (YYYY-MM-DDThh:mm:ss+hh:mm): {text!r}", line=line
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise XmlRejected(f"<{element}> is not a valid time: {text!r} ({exc})", line=line) from exc


def _validated(data: bytes) -> tuple[Any, str, str]:
    """The root, namespace and version of a schema-valid CAP 1.1 or 1.2 document."""
    root = safexml.parse(data)
    tag = root.tag if isinstance(root.tag, str) else ""
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    found = _VERSIONS.get(namespace)
    if found is None or local != "alert":
        raise XmlRejected("not a CAP 1.1 or 1.2 alert", line=root.sourceline)
    version, schema_path = found
    safexml.validate(root, schema_path)
    return root, namespace, version


def validate_cap(data: bytes) -> str:
    """The CAP version ("1.2" or "1.1") of a safe, schema-valid alert, or XmlRejected."""
    return _validated(data)[2]


class _Reader:
    """Reads the children of CAP elements of one namespace (1.1 or 1.2)."""

    def __init__(self, namespace: str) -> None:
        self.prefix = f"{{{namespace}}}"

    def text(self, element: Any, name: str) -> str:
        found = element.find(self.prefix + name)
        return (found.text or "").strip() if found is not None else ""

    def texts(self, element: Any, name: str) -> tuple[str, ...]:
        return tuple((found.text or "").strip() for found in element.iterfind(self.prefix + name))

    def time(self, element: Any, name: str) -> datetime | None:
        found = element.find(self.prefix + name)
        if found is None:
            return None
        return parse_cap_time(found.text or "", element=name, line=found.sourceline)

    def pairs(self, element: Any, name: str) -> tuple[tuple[str, str], ...]:
        return tuple(
            (self.text(found, "valueName"), self.text(found, "value"))
            for found in element.iterfind(self.prefix + name)
        )

    def references(self, root: Any) -> tuple[CapReference, ...]:
        found = root.find(self.prefix + "references")
        if found is None:
            return ()
        references = []
        for triple in (found.text or "").split():
            parts = triple.split(",")
            if len(parts) != 3 or not parts[0] or not parts[1]:
                raise XmlRejected(
                    f"<references> must hold sender,identifier,sent triples, not {triple!r}",
                    line=found.sourceline,
                )
            sent = parse_cap_time(parts[2], element="references", line=found.sourceline)
            references.append(CapReference(parts[0], parts[1], sent))
        return tuple(references)

    def area(self, element: Any) -> ParsedArea:
        return ParsedArea(
            desc=self.text(element, "areaDesc"),
            polygons=tuple(" ".join(p.split()) for p in self.texts(element, "polygon")),
            circles=tuple(" ".join(c.split()) for c in self.texts(element, "circle")),
            geocodes=self.pairs(element, "geocode"),
        )

    def info(self, element: Any) -> ParsedInfo:
        return ParsedInfo(
            # The schema's default: an info without <language> is en-US.
            language=self.text(element, "language") or "en-US",
            categories=self.texts(element, "category"),
            event=self.text(element, "event"),
            response_types=self.texts(element, "responseType"),
            urgency=self.text(element, "urgency"),
            severity=self.text(element, "severity"),
            certainty=self.text(element, "certainty"),
            event_codes=self.pairs(element, "eventCode"),
            effective=self.time(element, "effective"),
            onset=self.time(element, "onset"),
            expires=self.time(element, "expires"),
            sender_name=self.text(element, "senderName"),
            headline=self.text(element, "headline"),
            description=self.text(element, "description"),
            instruction=self.text(element, "instruction"),
            web=self.text(element, "web"),
            contact=self.text(element, "contact"),
            parameters=self.pairs(element, "parameter"),
            areas=tuple(self.area(area) for area in element.iterfind(self.prefix + "area")),
        )


def parse_alert(data: bytes) -> ParsedAlert:
    """A CAP 1.1 or 1.2 alert from outside, validated first; XmlRejected when it is not one."""
    root, namespace, version = _validated(data)
    read = _Reader(namespace)
    sent = read.time(root, "sent")
    if sent is None:  # the schema requires <sent>; this only satisfies the type checker
        raise XmlRejected("<sent> is missing")
    return ParsedAlert(
        version=version,
        identifier=read.text(root, "identifier"),
        sender=read.text(root, "sender"),
        sent=sent,
        status=read.text(root, "status"),
        msg_type=read.text(root, "msgType"),
        source=read.text(root, "source"),
        scope=read.text(root, "scope"),
        restriction=read.text(root, "restriction"),
        addresses=read.text(root, "addresses"),
        codes=read.texts(root, "code"),
        note=read.text(root, "note"),
        references=read.references(root),
        incidents=read.text(root, "incidents"),
        infos=tuple(read.info(info) for info in root.iterfind(read.prefix + "info")),
    )


# --- Atom feed ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEntry:
    """One alert in the feed; ``link`` is the URL of its CAP document."""

    id: str
    title: str
    updated: datetime
    summary: str
    link: str
    author: str = ""

    def __post_init__(self) -> None:
        _require("entry id", self.id)
        _require("entry link", self.link)
        if self.updated.utcoffset() is None:
            raise CapError(f"entry updated must be an aware datetime, not {self.updated!r}")


def render_feed(
    *,
    feed_id: str,
    title: str,
    self_url: str,
    updated: datetime,
    entries: Sequence[FeedEntry],
    author: str = "",
) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of CAP alerts, entries in the order given (newest first).

    Each entry links its CAP document with rel="alternate" and type application/cap+xml: an
    entry without content must have an alternate link (RFC 4287 §4.1.2), and the type tells an
    aggregator the link is a CAP alert, not a page. ``author``
    defaults to the title: RFC 4287 §4.1.1 requires a feed-level author unless every entry
    has one, and an empty feed (no alert in force) must still be valid.
    """
    _require("feed id", feed_id)
    _require("feed title", title)
    out = [
        _DECLARATION,
        f'<feed xmlns="{ATOM_NS}">\n',
        f"  <id>{_text(feed_id)}</id>\n",
        f"  <title>{_text(title)}</title>\n",
        f"  <updated>{cap_time(updated)}</updated>\n",
        f"  <author><name>{_text(author or title)}</name></author>\n",
        f'  <link rel="self" type="application/atom+xml" href="{_attribute(self_url)}"/>\n',
    ]
    for entry in entries:
        out.append("  <entry>\n")
        out.append(f"    <id>{_text(entry.id)}</id>\n")
        out.append(f"    <title>{_text(entry.title)}</title>\n")
        out.append(f"    <updated>{cap_time(entry.updated)}</updated>\n")
        if entry.author:
            out.append(f"    <author><name>{_text(entry.author)}</name></author>\n")
        if entry.summary:
            out.append(f"    <summary>{_text(entry.summary)}</summary>\n")
        out.append(
            f'    <link rel="alternate" type="{CAP_MEDIA_TYPE}" href="{_attribute(entry.link)}"/>\n'
        )
        out.append("  </entry>\n")
    out.append("</feed>\n")
    return "".join(out).encode("utf-8")
