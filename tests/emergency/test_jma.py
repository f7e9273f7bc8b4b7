"""JMA XML: parsing the official samples, finding a city's warnings, hostile input, the poller."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from machi.emergency import jma, jma_feed
from machi.emergency.jma import (
    AreaWarning,
    Family,
    Hazard,
    JmaMessage,
    JmaRejected,
    XmlRejected,
    parse_message,
    warnings_for,
)
from machi.emergency.jma_feed import FeedError, FeedState, fetch, parse_feed, poll
from tests.emergency.jma_feed_server import (
    DATA,
    TEST_FEED,
    JmaFeedServer,
    feed_files,
    feed_with,
    jma_feed_server_fixture,  # noqa: F401 (provides the fixture "jma_feed_server")
)

SAMPLES = sorted(p for p in DATA.glob("*.xml") if p != TEST_FEED)
JST = timezone(timedelta(hours=9))

# 全国地方公共団体コード (6 digits with check digit) of the cities used below.
TODA = "112241"
GOJO = "292079"  # 五條市: JMA splits it into 北部 2920701 and 南部 2920702
NARA = "292010"
MAIZURU = "262021"
YOKOHAMA = "141003"  # JMA splits it into 北部 1410011 and 南部 1410012
ODAWARA = "142069"
TAKEO = "412066"
KYOTANGO = "262129"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def message(name: str) -> JmaMessage:
    return parse_message(sample(name), link=name)


def one(warnings: list[AreaWarning], **match: Any) -> AreaWarning:
    found = [w for w in warnings if all(getattr(w, k) == v for k, v in match.items())]
    assert len(found) == 1, f"{len(found)} entries match {match}"
    return found[0]


def mutate(name: str, change: Callable[[Any], None]) -> bytes:
    root = etree.fromstring(sample(name))
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def local(element: Any) -> str:
    return etree.QName(element).localname


# --------------------------------------------------------------------------------------------
# Every sample


def test_all_90_official_samples_are_here() -> None:
    assert len(SAMPLES) == 90


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_parses_validates_and_knows_its_type(path: Path) -> None:
    data = path.read_bytes()
    expected = re.search(r"_([A-Z]{4}(?:\d\d|ii))\.xml$", path.name)
    assert expected is not None

    from_link = parse_message(data, link=f"https://example.org/data/{path.name}")
    from_structure = parse_message(data)

    assert from_link.type_code == expected[1]
    # Without a link the type is inferred from the structure, or left unknown, never wrong.
    assert from_structure.type_code in (None, expected[1])
    assert from_structure.control.date_time.tzinfo is not None
    assert from_structure.head.report_date_time.tzinfo is not None
    assert from_structure.body_namespace.startswith("http://xml.kishou.go.jp/jmaxml1/body/")
    for warning in from_structure.warnings:
        assert warning.hazard in {"", *Hazard}
        assert warning.kind_level in (None, 1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    "path",
    [p for p in SAMPLES if re.search(r"_(VPWW5\d|VXWW50|VPHW50|VPOA50|VTSE41|VXSE51)\.", p.name)],
    ids=lambda p: p.name,
)
def test_warning_types_are_recognised_by_structure_not_by_title(path: Path) -> None:
    # Given a message whose title we blank out (JMA renames titles, as R06 did),
    def blank_titles(root: Any) -> None:
        for element in root.iter():
            if isinstance(element.tag, str) and local(element) == "Title":
                element.text = "?"

    # when it is parsed without a link, then its type code is still found.
    parsed = parse_message(mutate(path.name, blank_titles))
    assert parsed.type_code == path.stem.rsplit("_", 1)[-1]


# --------------------------------------------------------------------------------------------
# Control and Head


def test_control_and_head_are_read() -> None:
    msg = message("15_08_01_130412_VPWW53.xml")

    assert msg.control.title == "気象特別警報・警報・注意報"
    assert msg.control.date_time == datetime(2011, 9, 3, 3, 0, tzinfo=UTC)
    assert msg.control.status == "通常"
    assert msg.control.editorial_office == "奈良地方気象台"
    assert msg.control.publishing_office == "奈良地方気象台"
    assert msg.head.title == "奈良県気象警報・注意報"
    assert msg.head.report_date_time == datetime(2011, 9, 3, 12, 0, tzinfo=JST)
    assert msg.head.target_date_time == datetime(2011, 9, 3, 12, 0, tzinfo=JST)
    assert msg.head.info_type == "発表"
    assert msg.head.info_kind == "気象警報・注意報"
    assert msg.head.info_kind_version == "1.1_0"
    assert (msg.head.event_id, msg.head.serial) == ("", "")
    assert msg.head.headline.startswith("【特別警報（大雨）】北部では")
    assert msg.is_real
    assert not msg.is_cancellation
    assert msg.family is Family.WEATHER_WARNING


def test_exercises_and_cancellations_are_flagged() -> None:
    exercise = message("32-39_12_02_250206_VTSE41.xml")
    cancellation = message("32-35_10_01_220510_VXSE51.xml")

    assert exercise.control.status == "訓練"
    assert not exercise.is_real
    assert cancellation.is_cancellation
    assert cancellation.warnings == ()
    # The family of a cancellation is known although its Body is empty.
    assert cancellation.family is Family.EARTHQUAKE


def test_serial_and_event_id_are_kept() -> None:
    msg = message("17_04_02_250630_VXWW50.xml")

    assert msg.head.event_id == "神奈川県土砂災害警戒情報"
    assert msg.head.serial == "2"


# --------------------------------------------------------------------------------------------
# 気象警報・注意報 (VPWW53/54)


def test_vpww53_lists_each_kind_for_each_part_of_a_split_city() -> None:
    msg = message("15_08_01_130412_VPWW53.xml")

    gojo = warnings_for(msg, lgcode=GOJO)

    assert {w.area_code for w in gojo} == {"2920701", "2920702"}
    north = [w for w in gojo if w.area_code == "2920701"]
    assert [(w.kind_code, w.kind_name, w.status) for w in north] == [
        ("33", "大雨特別警報", "発表"),
        ("04", "洪水警報", "継続"),
        ("14", "雷注意報", "継続"),
        ("15", "強風注意報", "継続"),
    ]
    rain, flood, thunder, wind = north
    assert rain.area_name == "五條市北部"
    assert rain.warning_type == "気象警報・注意報（市町村等）"
    assert (rain.kind_level, rain.hazard) == (5, Hazard.LANDSLIDE)
    assert rain.extra["condition"] == "土砂災害、浸水害"
    assert rain.extra["hazards"] == [Hazard.LANDSLIDE, Hazard.INLAND_FLOOD]
    assert rain.extra["attention"] == ["土砂災害警戒", "浸水警戒"]
    assert (flood.kind_level, flood.hazard) == (3, Hazard.FLOOD)
    assert (thunder.kind_level, thunder.hazard) == (None, "")
    assert thunder.extra["addition"] == ["竜巻"]
    assert wind.in_force


def test_heavy_rain_condition_narrows_the_hazard() -> None:
    msg = message("15_08_01_130412_VPWW53.xml")

    rain = one(warnings_for(msg, lgcode=NARA), kind_code="33")

    assert rain.extra["condition"] == "土砂災害"
    assert rain.hazard == Hazard.LANDSLIDE
    assert "hazards" not in rain.extra


def test_wider_areas_are_extracted_but_never_match_a_city() -> None:
    msg = message("15_08_01_130412_VPWW53.xml")

    prefecture = [w for w in msg.warnings if w.area_code == "290000"]

    assert prefecture
    assert all(w.code_type == "府県予報区等" for w in prefecture)
    assert {w.code_type for w in msg.warnings} == {
        "府県予報区等",
        "一次細分区域等",
        "市町村等をまとめた地域等",
        "市町村等",
    }
    assert all(w.code_type == "市町村等" for w in warnings_for(msg, lgcode=NARA))


def test_vpww54_legacy_storm_surge_warning_is_level_4() -> None:
    msg = message("15_11_01_150916_VPWW54.xml")

    surge = one(msg.warnings, area_name="下関市", kind_code="08")

    assert msg.type_code == "VPWW54"
    assert (surge.kind_name, surge.status, surge.kind_level) == ("高潮警報", "発表", 4)
    assert surge.hazard == Hazard.STORM_SURGE


def test_legacy_storm_surge_advisory_that_foretells_a_warning_is_level_3() -> None:
    # Given a 高潮注意報 whose NextKinds foretell a 高潮警報 (the guideline: level 3相当),
    def advisory_turning_into_warning(root: Any) -> None:
        for kind in root.iter("{*}Kind"):
            in_warning = local(kind.getparent().getparent()) == "Warning"
            if in_warning and kind.findtext("{*}Code") == "08":
                kind.find("{*}Name").text = "高潮注意報"
                kind.find("{*}Code").text = "19"
                ns = etree.QName(kind).namespace
                next_kinds = etree.Element(f"{{{ns}}}NextKinds")
                next_kind = etree.SubElement(next_kinds, f"{{{ns}}}NextKind")
                etree.SubElement(next_kind, f"{{{ns}}}Name").text = "高潮警報"
                etree.SubElement(next_kind, f"{{{ns}}}Code").text = "08"
                kind.find("{*}Status").addnext(next_kinds)

    msg = parse_message(mutate("15_11_01_150916_VPWW54.xml", advisory_turning_into_warning))

    surge = one(msg.warnings, area_name="下関市", kind_code="19")
    assert surge.kind_level == 3
    plain = message("15_11_01_150916_VPWW54.xml")
    assert all(w.kind_level == 2 for w in plain.warnings if w.kind_code == "19")


# --------------------------------------------------------------------------------------------
# The R06 family (VPWW55–61)


def test_r06_landslide_warnings_carry_their_levels() -> None:
    msg = message("15_17_01_250630_VPWW56.xml")

    matsue = one(msg.warnings, area_code="3220100")
    unnan = one(msg.warnings, area_name="雲南市")

    assert parse_message(sample("15_17_01_250630_VPWW56.xml")).type_code == "VPWW56"
    assert (matsue.kind_code, matsue.kind_name, matsue.status) == (
        "29",
        "レベル２土砂災害注意報",
        "継続",
    )
    assert (matsue.kind_level, matsue.hazard) == (2, Hazard.LANDSLIDE)
    assert matsue.extra["significancy"] == [
        {"type": "土砂災害危険度", "name": "警戒レベル２", "code": "21"}
    ]
    assert (unnan.kind_code, unnan.status, unnan.kind_level) == ("49", "発表", 4)
    assert unnan.extra["last_kind"] == {"name": "レベル２土砂災害注意報", "code": "29"}
    assert unnan.extra["change_status"] == "警報・注意報種別に変化有"


def test_r06_storm_surge_code_08_is_level_3_not_the_legacy_level_4() -> None:
    msg = message("15_16_02_250630_VPWW57.xml")

    kyotango = one(warnings_for(msg, lgcode=KYOTANGO), kind_code="08")
    maizuru = one(warnings_for(msg, lgcode=MAIZURU))
    kyoto_city = one(msg.warnings, area_code="2610000")

    assert (kyotango.kind_name, kyotango.kind_level) == ("レベル３高潮警報", 3)
    assert kyotango.hazard == Hazard.STORM_SURGE
    assert (maizuru.kind_code, maizuru.status, maizuru.kind_level) == ("48", "発表", 4)
    assert maizuru.extra["last_kind"]["code"] == "08"
    assert kyoto_city.status == "発表警報・注意報はなし"
    assert (kyoto_city.kind_code, kyoto_city.kind_level, kyoto_city.in_force) == ("", None, False)


def test_r06_levels_come_from_codes_when_names_say_nothing() -> None:
    # Given R06 kinds renamed without their level (JMA renames; codes stay),
    def strip_level_from_names(root: Any) -> None:
        for name in root.iter("{*}Name"):
            name.text = re.sub(r"レベル[１-５]", "", name.text or "")

    msg = parse_message(mutate("15_16_02_250630_VPWW57.xml", strip_level_from_names))

    assert one(msg.warnings, area_code="2621200", kind_code="08").kind_level == 3
    assert one(msg.warnings, area_code="2620200", kind_code="48").kind_level == 4
    assert msg.type_code == "VPWW57"


def test_storm_surge_sections_share_seven_digit_codes_but_are_not_cities() -> None:
    msg = message("15_16_02_250630_VPWW57.xml")

    section = one(msg.warnings, area_code="2635999")
    # 263591 is the code a city with JIS 26359 would have: it must not match the 高潮予報区間.
    assert jma.lgcode_is_valid("263591")

    assert section.code_type == "高潮予報区間"
    assert section.extra["sub_cities"] == "舞鶴市"
    assert warnings_for(msg, lgcode="263591") == []
    assert section not in warnings_for(msg, lgcode=MAIZURU)


@pytest.mark.parametrize(
    ("name", "type_code"),
    [
        ("15_16_04_250630_VPWW58.xml", "VPWW58"),  # 暴風: no level in any name
        ("15_16_06_241226_VPWW60.xml", "VPWW60"),
        ("15_16_07_241226_VPWW61.xml", "VPWW61"),
    ],
)
def test_r06_messages_without_levels_are_told_from_legacy_ones(name: str, type_code: str) -> None:
    msg = parse_message(sample(name))

    assert msg.type_code == type_code
    assert all(w.kind_level is None for w in msg.warnings)
    assert all(w.hazard == "" for w in msg.warnings)


# --------------------------------------------------------------------------------------------
# 土砂災害警戒情報 (VXWW50)


def test_landslide_alert_is_level_4_for_the_cities_it_names() -> None:
    msg = message("17_04_02_250630_VXWW50.xml")

    odawara = one(warnings_for(msg, lgcode=ODAWARA))
    in_force = [w for w in msg.warnings if w.in_force]

    # The R06 title reads 「レベル４土砂災害危険警報」: recognised by InfoKind all the same.
    assert msg.head.title == "神奈川県レベル４土砂災害危険警報"
    assert msg.family is Family.LANDSLIDE_ALERT
    assert (odawara.kind_code, odawara.kind_name, odawara.status) == ("3", "警戒", "継続")
    assert (odawara.kind_level, odawara.hazard) == (4, Hazard.LANDSLIDE)
    assert odawara.extra["target_area"] == {"name": "神奈川県", "code": "140000"}
    assert {w.area_name: w.status for w in in_force} == {
        "小田原市": "継続",
        "箱根町": "発表",
        "真鶴町": "継続",
        "湯河原町": "継続",
    }


def test_landslide_alert_for_a_split_city_returns_every_part() -> None:
    msg = message("17_04_02_250630_VXWW50.xml")

    yokohama = warnings_for(msg, lgcode=YOKOHAMA)

    assert [(w.area_code, w.area_name) for w in yokohama] == [
        ("1410011", "横浜市北部"),
        ("1410012", "横浜市南部"),
    ]
    assert all(w.status == "なし" and w.kind_level is None and not w.in_force for w in yokohama)


def test_lifted_landslide_alert_has_no_level() -> None:
    msg = message("17_04_03_250630_VXWW50.xml")

    odawara = one(warnings_for(msg, lgcode=ODAWARA))

    assert (odawara.kind_code, odawara.status, odawara.kind_level) == ("1", "解除", None)
    assert not odawara.in_force


# --------------------------------------------------------------------------------------------
# 指定河川洪水予報 (VXKOii)


def test_flood_forecast_names_the_river_and_the_municipalities_that_may_flood() -> None:
    msg = message("16_02_02_220728_VXKOii.xml")

    takeo = one(warnings_for(msg, lgcode=TAKEO))
    river = one(msg.warnings, code_type="河川")

    assert msg.family is Family.FLOOD_FORECAST
    assert (takeo.area_code, takeo.area_name) == ("4120600", "武雄市")
    assert (takeo.kind_code, takeo.kind_name, takeo.status) == ("30", "氾濫警戒情報", "発表")
    assert (takeo.kind_level, takeo.hazard) == (3, Hazard.FLOOD)
    assert takeo.warning_type == "指定河川洪水予報（浸水想定地区）"
    assert takeo.extra["river"] == "六角川"
    assert takeo.extra["prefecture"] == "佐賀県"
    assert takeo.extra["stations"] == ["潮見橋"]
    assert takeo.extra["forecast_area"] == {"name": "六角川", "code": "890904000100"}
    assert takeo.extra["main_text"].startswith("【警戒レベル３相当】")
    assert {w.area_name for w in msg.warnings if w.is_municipality} == {
        "武雄市",
        "嬉野市",
        "大町町",
        "江北町",
        "白石町",
    }
    assert (river.area_code, river.area_name) == ("8909040001", "六角川")


@pytest.mark.parametrize(
    ("name", "code", "level", "status"),
    [
        ("16_01_01_220728_VXKOii.xml", "20", 2, "発表"),  # 氾濫注意情報
        ("16_03_01_220728_VXKOii.xml", "30", 3, "発表"),  # 氾濫警戒情報
        ("16_06_01_220728_VXKOii.xml", "41", 4, "継続"),  # 氾濫危険情報, 洪水警報 continuing
    ],
)
def test_flood_forecast_levels(name: str, code: str, level: int, status: str) -> None:
    msg = message(name)

    assert msg.warnings
    assert {(w.kind_code, w.kind_level, w.status) for w in msg.warnings} == {(code, level, status)}
    # A forecast with several stations names its river once.
    assert len([w for w in msg.warnings if w.code_type == "河川"]) == 1


def test_flood_occurrence_is_level_5() -> None:
    # Given the 氾濫危険情報 sample turned into an 氾濫発生情報 (no official sample has one),
    def occurrence(root: Any) -> None:
        for kind in root.iter("{*}Kind"):
            if kind.findtext("{*}Code") == "41":
                kind.find("{*}Code").text = "50"
                kind.find("{*}Name").text = "氾濫発生情報"

    msg = parse_message(mutate("16_06_01_220728_VXKOii.xml", occurrence))

    assert {(w.kind_name, w.kind_level) for w in msg.warnings} == {("氾濫発生情報", 5)}


# --------------------------------------------------------------------------------------------
# Other families


def test_tornado_advisory_for_toda() -> None:
    msg = message("19_08_03_250630_VPHW50.xml")

    toda = one(warnings_for(msg, lgcode=TODA))

    assert (toda.area_code, toda.area_name) == ("1122400", "戸田市")
    assert (toda.kind_code, toda.kind_name, toda.status) == ("1", "竜巻注意情報", "発表")
    assert (toda.kind_level, toda.hazard) == (None, "")
    assert toda.warning_type == "竜巻注意情報（市町村等）"


def test_tsunami_warnings_are_per_forecast_region_not_per_city() -> None:
    msg = message("32-39_11_02_250206_VTSE41.xml")

    iwate = one(msg.warnings, area_code="210")

    assert msg.family is Family.TSUNAMI
    assert (iwate.area_name, iwate.kind_code, iwate.kind_name) == (
        "岩手県",
        "53",
        "大津波警報：発表",
    )
    assert (iwate.hazard, iwate.code_type, iwate.status) == (Hazard.TSUNAMI, "津波予報区", "発表")
    assert iwate.extra["max_height"] == "巨大"
    # Coastal cities map 津波予報区 to themselves; the message never names a municipality.
    assert warnings_for(msg, lgcode="032026") == []


def test_seismic_intensity_by_area() -> None:
    msg = message("32-35_01_01_100806_VXSE51.xml")

    shizuoka = one(msg.warnings, area_code="442")

    assert (shizuoka.area_name, shizuoka.kind_code, shizuoka.kind_name) == (
        "静岡県中部",
        "6-",
        "震度6弱",
    )
    assert (shizuoka.hazard, shizuoka.warning_type) == (Hazard.EARTHQUAKE, "観測震度")


# --------------------------------------------------------------------------------------------
# Municipality codes


@pytest.mark.parametrize("code", [TODA, YOKOHAMA, "011002", "131016", GOJO, TAKEO, MAIZURU])
def test_valid_local_government_codes(code: str) -> None:
    assert jma.lgcode_is_valid(code)


@pytest.mark.parametrize("code", ["11224", "1122400", "112242", "11224a", "１１２２４１", ""])
def test_warnings_for_refuses_what_is_not_a_local_government_code(code: str) -> None:
    msg = message("19_08_03_250630_VPHW50.xml")

    with pytest.raises(ValueError, match="local government code"):
        warnings_for(msg, lgcode=code)


# --------------------------------------------------------------------------------------------
# Hostile, malformed and unusable input

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Report [
 <!ENTITY a "aaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&d;</Title></Control></Report>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Report [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&secret;</Title></Control></Report>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Report SYSTEM "http://127.0.0.1:9/evil.dtd">
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"/>"""


@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD],
    ids=["billion-laughs", "external-entity", "external-dtd"],
)
def test_hostile_documents_are_rejected(data: bytes) -> None:
    with pytest.raises(XmlRejected, match="unsafe"):
        parse_message(data)


def test_malformed_documents_are_rejected_with_a_line() -> None:
    data = sample("15_08_01_130412_VPWW53.xml")

    with pytest.raises(XmlRejected, match="malformed") as caught:
        parse_message(data[: len(data) // 2])
    assert caught.value.line


@pytest.mark.parametrize("data", [b"", b"   ", b"not xml at all"])
def test_empty_or_non_xml_input_is_rejected(data: bytes) -> None:
    with pytest.raises(XmlRejected):
        parse_message(data)


def test_oversized_documents_are_rejected_before_parsing() -> None:
    with pytest.raises(XmlRejected, match="too large"):
        parse_message(sample("15_11_02_150916_VPWW54.xml"), max_bytes=100_000)


def test_schema_invalid_message_is_rejected() -> None:
    # Given a sample whose Control/Status is not one the schema allows,
    def bad_status(root: Any) -> None:
        root.find("{*}Control/{*}Status").text = "本番"

    data = mutate("15_08_01_130412_VPWW53.xml", bad_status)

    with pytest.raises(XmlRejected, match=r"jmx\.xsd") as caught:
        parse_message(data)
    assert caught.value.line
    # Without validation the odd value is passed on as it is.
    assert parse_message(data, validate=False).control.status == "本番"


def test_schema_invalid_body_is_rejected() -> None:
    # Given a warning Item with an element the meteorology schema does not know,
    def unknown_element(root: Any) -> None:
        item = next(root.iter("{http://xml.kishou.go.jp/jmaxml1/body/meteorology1/}Item"))
        etree.SubElement(item, "{http://xml.kishou.go.jp/jmaxml1/body/meteorology1/}Surprise")

    with pytest.raises(XmlRejected):
        parse_message(mutate("15_08_01_130412_VPWW53.xml", unknown_element))


def test_a_document_that_is_not_a_jma_report_is_refused() -> None:
    with pytest.raises(JmaRejected, match="not a JMA report"):
        parse_message(TEST_FEED.read_bytes())
    with pytest.raises(JmaRejected, match="not a JMA report"):
        parse_message(b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>')


def test_a_body_outside_the_jma_namespaces_is_refused() -> None:
    # The schema accepts any element of another namespace as Body (lax): valid, yet unusable.
    def foreign_body(root: Any) -> None:
        body = root[2]
        root.remove(body)
        etree.SubElement(root, "{urn:example:evil}Body")

    data = mutate("19_08_03_250630_VPHW50.xml", foreign_body)

    with pytest.raises(JmaRejected, match="no Body"):
        parse_message(data)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("{*}Control", "no Control"),
        ("{http://xml.kishou.go.jp/jmaxml1/informationBasis1/}Head", "no Head"),
        ("{*}Control/{*}DateTime", "no Control/DateTime"),
    ],
)
def test_missing_required_parts_are_refused_when_not_validating(path: str, reason: str) -> None:
    def remove(root: Any) -> None:
        element = root.find(path)
        element.getparent().remove(element)

    with pytest.raises(JmaRejected, match=reason):
        parse_message(mutate("19_08_03_250630_VPHW50.xml", remove), validate=False)


def test_unreadable_dates_are_refused_when_not_validating() -> None:
    def bad_date(root: Any) -> None:
        root.find("{*}Head/{*}ReportDateTime").text = "yesterday"

    data = mutate("19_08_03_250630_VPHW50.xml", bad_date)

    with pytest.raises(XmlRejected):
        parse_message(data)
    with pytest.raises(JmaRejected, match="ReportDateTime"):
        parse_message(data, validate=False)


# --------------------------------------------------------------------------------------------
# Odd but valid documents never crash

OPTIONAL_PARTS = ("Status", "Name", "Code", "Condition", "Area", "Kind", "LastKind", "Areas")


@pytest.mark.parametrize(
    "name",
    [
        "15_08_01_130412_VPWW53.xml",
        "15_17_01_250630_VPWW56.xml",
        "16_02_02_220728_VXKOii.xml",
        "17_04_02_250630_VXWW50.xml",
        "32-39_11_02_250206_VTSE41.xml",
        "37_01_02_240613_VXSE43.xml",
    ],
)
@pytest.mark.parametrize("part", OPTIONAL_PARTS)
def test_messages_missing_parts_still_parse(name: str, part: str) -> None:
    # Given a sample without any element of one name inside its Body and Headline,
    def remove_all(root: Any) -> None:
        for scope in (root[2], root[1]):
            for element in list(scope.iter(f"{{*}}{part}")):
                element.getparent().remove(element)

    msg = parse_message(mutate(name, remove_all), validate=False)

    # then the message still parses, with empty values where the parts were.
    assert isinstance(msg, JmaMessage)
    for warning in msg.warnings:
        assert isinstance(warning.area_code, str)
        assert isinstance(warning.status, str)


def test_optional_head_parts_may_be_missing() -> None:
    def remove_optional(root: Any) -> None:
        head = root[1]
        for tag in ("TargetDateTime", "Headline"):
            element = head.find(f"{{*}}{tag}")
            if element is not None:
                head.remove(element)

    msg = parse_message(mutate("16_02_02_220728_VXKOii.xml", remove_optional), validate=False)

    assert msg.head.target_date_time is None
    assert msg.head.headline == ""
    # The flood kind lives in the Headline: without it the municipalities are still listed.
    assert warnings_for(msg, lgcode=TAKEO)[0].kind_code == ""


MUTATED = [
    "15_08_01_130412_VPWW53.xml",
    "15_16_02_250630_VPWW57.xml",
    "16_06_01_220728_VXKOii.xml",
    "17_03_04_190529_VXWW50.xml",
    "19_10_01_150916_VPHW50.xml",
    "32-39_11_11_250206_VTSE41.xml",
    "32-35_07_02_100915_VXSE51.xml",
    "37_01_02_240613_VXSE43.xml",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(MUTATED),
    cuts=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), max_size=8),
    blank=st.booleans(),
)
def test_randomly_cut_messages_parse_or_are_refused_cleanly(
    name: str, cuts: list[float], blank: bool
) -> None:
    # Given a sample from which random elements are removed (or emptied),
    def cut(root: Any) -> None:
        for fraction in cuts:
            elements = [e for e in root.iter() if isinstance(e.tag, str) and e is not root]
            if not elements:
                return
            victim = elements[int(fraction * len(elements))]
            if blank:
                victim.text = ""
                for child in list(victim):
                    victim.remove(child)
            else:
                victim.getparent().remove(victim)

    data = mutate(name, cut)

    # then parsing returns a message or refuses it with JmaRejected, and never anything else.
    try:
        msg = parse_message(data, validate=False)
    except JmaRejected:
        return
    assert isinstance(msg, JmaMessage)
    warnings_for(msg, lgcode=TODA)


# --------------------------------------------------------------------------------------------
# Atom feed


def test_feed_entries_are_read() -> None:
    entries = parse_feed(TEST_FEED.read_bytes())

    assert len(entries) == 9
    first = entries[0]
    assert first.id == "https://mican3.github.io/jmaxml_test/vpww54/15_11_01_150916_VPWW54.xml"
    assert first.updated == datetime(2015, 6, 22, 9, 0, tzinfo=UTC)
    assert first.title == "気象警報・注意報（Ｈ２７）"
    assert first.author == "下関地方気象台"
    assert first.link == first.id
    assert first.content.startswith("【山口県気象警報・注意報】")
    assert first.type_code == "VPWW54"
    assert all(e.updated.tzinfo is not None for e in entries)


FEED_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>t</title><id>urn:feed</id><updated>2024-03-18T22:04:05+09:00</updated>
  <author><name>気象庁</name></author>
  {entries}
</feed>"""


def test_feed_links_are_resolved_and_unusable_entries_skipped() -> None:
    entries = """
      <entry><id>urn:a</id><title>a</title><updated>2024-03-18T13:00:00Z</updated>
        <link rel="related" href="https://www.jma.go.jp/"/>
        <link type="application/xml" href="../data/20240318130000_0_VXWW50_140000.xml"/></entry>
      <entry><id>urn:no-link</id><title>b</title><updated>2024-03-18T13:00:00Z</updated></entry>
      <entry><title>no id</title><link href="x.xml"/></entry>
      <entry><id>urn:no-date</id><title>d</title><link href="d.xml"/></entry>"""
    data = FEED_TEMPLATE.format(entries=entries).encode()

    parsed = parse_feed(data, base_url="https://www.data.jma.go.jp/developer/xml/feed/extra.xml")

    # An entry without its own date takes the feed's; one without id or link is dropped.
    assert [e.id for e in parsed] == ["urn:a", "urn:no-date"]
    assert parsed[0].link == (
        "https://www.data.jma.go.jp/developer/xml/data/20240318130000_0_VXWW50_140000.xml"
    )
    assert parsed[0].type_code == "VXWW50"
    assert parsed[0].author == "気象庁"
    assert parsed[1].updated == datetime(2024, 3, 18, 22, 4, 5, tzinfo=JST)


@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, b"<feed", sample("19_08_03_250630_VPHW50.xml")],
    ids=["hostile", "malformed", "not-atom"],
)
def test_unusable_feeds_are_rejected(data: bytes) -> None:
    with pytest.raises(XmlRejected):
        parse_feed(data)


# --------------------------------------------------------------------------------------------
# HTTP fetch


def test_fetch_is_conditional_and_names_machi(jma_feed_server: JmaFeedServer) -> None:
    url = jma_feed_server.set_feed(TEST_FEED.read_bytes())

    first = fetch(url)
    by_etag = fetch(url, etag=first.etag)
    by_date = fetch(url, last_modified=first.last_modified)

    assert first.status == 200
    assert first.etag
    assert first.last_modified
    assert parse_feed(first.body)[0].link.startswith(jma_feed_server.base_url)
    assert (by_etag.status, by_etag.body, by_etag.etag) == (304, b"", first.etag)
    assert (by_date.status, by_date.last_modified) == (304, first.last_modified)
    assert jma_feed_server.conditional[urlsplit(url).path] == 2
    assert all(ua.startswith("Machi/") for ua in jma_feed_server.user_agents)


def test_fetch_inflates_gzip(jma_feed_server: JmaFeedServer) -> None:
    jma_feed_server.gzip = True
    body = sample("15_11_02_150916_VPWW54.xml")
    url = jma_feed_server.put_message("15_11_02_150916_VPWW54.xml", body)

    assert fetch(url).body == body


def test_fetch_refuses_a_gzip_bomb(jma_feed_server: JmaFeedServer) -> None:
    # 2 MB of zeros compress to a couple of kB: the limit applies to the inflated size.
    jma_feed_server.gzip = True
    url = jma_feed_server.put("/bomb.xml", b"\0" * 2_000_000)

    with pytest.raises(FeedError, match="too large"):
        fetch(url, max_bytes=100_000)


def test_fetch_refuses_too_large_bodies(jma_feed_server: JmaFeedServer) -> None:
    url = jma_feed_server.put_message("15_11_02_150916_VPWW54.xml")

    with pytest.raises(FeedError, match="too large"):
        fetch(url, max_bytes=1000)


@pytest.mark.parametrize("status", [404, 500, 503])
def test_fetch_reports_http_errors(jma_feed_server: JmaFeedServer, status: int) -> None:
    url = jma_feed_server.put("/x.xml", b"<x/>")
    jma_feed_server.fail("/x.xml", status)

    with pytest.raises(FeedError) as caught:
        fetch(url)
    assert caught.value.status == status


def test_fetch_reports_refused_connections() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    with pytest.raises(FeedError, match="cannot reach"):
        fetch(f"http://127.0.0.1:{port}/feed.xml", timeout=2)


def test_fetch_times_out_on_a_silent_server() -> None:
    # The kernel accepts the connection into the backlog; nobody ever answers.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(FeedError):
            fetch(f"http://127.0.0.1:{port}/feed.xml", timeout=0.3)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x.xml", "x.xml"])
def test_fetch_only_speaks_http(url: str) -> None:
    with pytest.raises(FeedError, match="only http"):
        fetch(url)


# --------------------------------------------------------------------------------------------
# Polling


class Seen:
    """What a caller keeps between polls: the ids it has processed."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def __call__(self, entry_id: str) -> bool:
        return entry_id in self.ids

    def mark(self, result: jma_feed.PollResult) -> None:
        self.ids |= {f.entry.id for f in result.fetched if f.ok}


@pytest.fixture
def server_with_messages(jma_feed_server: JmaFeedServer) -> JmaFeedServer:
    for name in feed_files():
        if (DATA / name).exists():
            jma_feed_server.put_message(name)
    return jma_feed_server


AVAILABLE = [name for name in feed_files() if (DATA / name).exists()]


def test_the_test_feed_links_two_files_jma_never_published() -> None:
    assert set(feed_files()) - set(AVAILABLE) == {
        "15_12_03_161130_VPWW54.xml",
        "15_11_03_150916_VPWW54.xml",
    }


def test_polling_fetches_each_entry_once_and_uses_conditional_requests(
    server_with_messages: JmaFeedServer,
) -> None:
    server = server_with_messages
    seen = Seen()
    first_files, extra_file = AVAILABLE[:-1], AVAILABLE[-1]
    feed_path = urlsplit(server.feed_url).path

    # Given a feed of six entries, when it is polled for the first time,
    server.set_feed(feed_with(first_files))
    first = poll(server.feed_url, state=FeedState(), seen=seen)
    seen.mark(first)

    # then every entry is fetched, once, oldest first, and the feed's validators are kept.
    assert not first.not_modified
    assert not first.failed
    assert sorted(f.entry.link.rsplit("/", 1)[-1] for f in first.fetched) == sorted(first_files)
    assert [f.entry.updated for f in first.fetched] == sorted(
        f.entry.updated for f in first.fetched
    )
    assert all(server.requests[server.message_path(n)] == 1 for n in first_files)
    assert first.state.etag
    assert first.state.last_modified
    for fetched in first.fetched:
        assert fetched.body == sample(fetched.entry.link.rsplit("/", 1)[-1])
        assert parse_message(fetched.body or b"", link=fetched.entry.link).type_code == "VPWW54"

    # When nothing changed, the feed answers 304 and no message is fetched.
    second = poll(server.feed_url, state=first.state, seen=seen)
    assert second.not_modified
    assert second.fetched == ()
    assert second.state == first.state
    assert server.conditional[feed_path] == 1
    assert server.not_modified[feed_path] == 1
    assert sum(server.requests.values()) == 1 + len(first_files) + 1

    # When one entry is added, only that one is fetched.
    server.set_feed(feed_with([*first_files, extra_file]))
    third = poll(server.feed_url, state=second.state, seen=seen)
    seen.mark(third)
    assert [f.entry.link.rsplit("/", 1)[-1] for f in third.fetched] == [extra_file]
    assert len(third.entries) == len(AVAILABLE)
    assert all(server.requests[server.message_path(n)] == 1 for n in AVAILABLE)
    assert third.state != second.state


def test_a_failing_entry_is_reported_and_retried_without_stopping_the_others(
    server_with_messages: JmaFeedServer,
) -> None:
    server = server_with_messages
    seen = Seen()
    broken = AVAILABLE[0]
    server.fail(server.message_path(broken), 500)
    server.set_feed(feed_with(AVAILABLE))

    # When one message answers 500,
    first = poll(server.feed_url, state=FeedState(), seen=seen)
    seen.mark(first)

    # then it is reported, and every other message is fetched all the same.
    [failure] = first.failed
    assert failure.entry.link.endswith(broken)
    assert failure.error is not None
    assert failure.error.status == 500
    assert len([f for f in first.fetched if f.ok]) == len(AVAILABLE) - 1
    # The state does not move on, so the next poll reads the feed again instead of a 304.
    assert first.state == FeedState()

    # When the server recovers, only the failed message is fetched again.
    server.heal(server.message_path(broken))
    second = poll(server.feed_url, state=first.state, seen=seen)
    seen.mark(second)
    assert [f.entry.link.rsplit("/", 1)[-1] for f in second.fetched] == [broken]
    assert second.fetched[0].ok
    assert second.state.etag
    assert server.requests[server.message_path(broken)] == 2
    assert all(server.requests[server.message_path(n)] == 1 for n in AVAILABLE[1:])


def test_missing_messages_of_the_test_feed_are_reported_per_entry(
    server_with_messages: JmaFeedServer,
) -> None:
    server = server_with_messages
    server.set_feed(TEST_FEED.read_bytes())

    result = poll(server.feed_url, state=FeedState(), seen=Seen())

    assert len(result.fetched) == 9
    assert sorted(f.error.status for f in result.failed if f.error) == [404, 404]


def test_a_custom_fetcher_that_raises_does_not_abort_the_poll(
    server_with_messages: JmaFeedServer,
) -> None:
    server = server_with_messages
    server.set_feed(feed_with(AVAILABLE[:2]))
    calls: list[str] = []

    def flaky(link: str) -> bytes:
        calls.append(link)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return b"<ok/>"

    result = poll(server.feed_url, state=FeedState(), seen=Seen(), fetch_message=flaky)

    assert len(calls) == 2
    assert [f.ok for f in result.fetched] == [False, True]
    assert "RuntimeError: disk full" in str(result.fetched[0].error)


def test_a_feed_that_cannot_be_read_stops_the_poll(jma_feed_server: JmaFeedServer) -> None:
    jma_feed_server.put("/developer/xml/feed/extra.xml", b"<html>maintenance</html>")

    with pytest.raises(FeedError, match="rejected"):
        poll(jma_feed_server.feed_url, state=FeedState(), seen=Seen())

    jma_feed_server.fail("/developer/xml/feed/extra.xml", 503)
    with pytest.raises(FeedError) as caught:
        poll(jma_feed_server.feed_url, state=FeedState(), seen=Seen())
    assert caught.value.status == 503


def test_gzip_is_used_for_feed_and_messages(server_with_messages: JmaFeedServer) -> None:
    server = server_with_messages
    server.gzip = True
    server.set_feed(feed_with(AVAILABLE[:1]))

    result = poll(server.feed_url, state=FeedState(), seen=Seen())

    assert result.fetched[0].body == sample(AVAILABLE[0])
    assert server.gzipped[urlsplit(server.feed_url).path] == 1
    assert server.gzipped[server.message_path(AVAILABLE[0])] == 1
