"""CAP out and in: every alert Machi writes is valid CAP 1.2, and outside alerts are vetted.

No database: machi.emergency.cap is a pure library.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from machi.core import safexml
from machi.core.hazards import Hazard
from machi.emergency import cap
from machi.emergency.cap import (
    CapAlert,
    CapArea,
    CapError,
    CapInfo,
    EvacuationArea,
    FeedEntry,
    XmlRejected,
)

DATA = Path(__file__).parent / "data" / "cap"
CAP12_XSD = cap.SCHEMA_DIR / "cap12.xsd"
NS = {"cap": cap.CAP12_NS}
ATOM = {"a": cap.ATOM_NS}

SENT = dt.datetime(2025, 7, 1, 0, 30, tzinfo=dt.UTC)  # 09:30 in Tokyo
SENDER = "bousai@city.toda.saitama.jp"
TODA = "112241"  # 戸田市, 全国地方公共団体コード with its check digit
SQUARE = "35.80,139.60 35.90,139.60 35.90,139.70 35.80,139.70 35.80,139.60"
AREAS = [
    EvacuationArea("戸田市北部", TODA, SQUARE),
    EvacuationArea("上戸田一丁目", "0001001", None, cap.MACHIAZA_ID),
]


def schema_valid(document: bytes) -> Any:
    """The parsed document, after checking it against the bundled CAP 1.2 schema directly."""
    root = etree.fromstring(document)
    schema = etree.XMLSchema(etree.parse(str(CAP12_XSD)))
    assert schema.validate(root), schema.error_log
    assert cap.validate_cap(document) == "1.2"
    return root


def texts(root: Any, path: str) -> list[str]:
    return [element.text or "" for element in root.iterfind(path, NS)]


def order(**overrides: Any) -> CapAlert:
    arguments: dict[str, Any] = {
        "identifier": "toda-2025-0001",
        "sender": SENDER,
        "sent": SENT,
        "level": 4,
        "hazard": "flood",
        "areas": AREAS,
        "city_name": "戸田市",
    }
    arguments.update(overrides)
    return cap.evacuation_alert(**arguments)


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --- Evacuation alerts ----------------------------------------------------------------------

# (responseType, urgency, severity, certainty, Japanese name, English name) by 警戒レベル.
LEVELS = {
    3: ("Evacuate", "Expected", "Severe", "Likely", "高齢者等避難", "Evacuation of the elderly"),
    4: ("Evacuate", "Immediate", "Severe", "Likely", "避難指示", "Evacuation order"),
    5: ("Shelter", "Immediate", "Extreme", "Observed", "緊急安全確保", "Emergency safety"),
}
CATEGORIES = {
    "flood": "Met",
    "landslide": "Geo",
    "storm_surge": "Met",
    "earthquake": "Geo",
    "tsunami": "Geo",
    "large_fire": "Fire",
    "inland_flood": "Met",
    "volcano": "Geo",
}
HAZARD_JA = {
    "flood": "洪水",
    "landslide": "土砂災害",
    "storm_surge": "高潮",
    "earthquake": "地震",
    "tsunami": "津波",
    "large_fire": "大規模火災",
    "inland_flood": "内水氾濫",
    "volcano": "火山現象",
}
INSTRUCTION_JA = {3: "高齢者等は危険な場所から避難", 4: "危険な場所から全員避難", 5: "直ちに"}


@pytest.mark.parametrize(("level", "hazard"), list(itertools.product(LEVELS, CATEGORIES)))
def test_every_level_and_hazard_gives_a_valid_bilingual_alert(level: int, hazard: str) -> None:
    root = schema_valid(cap.render_alert(order(level=level, hazard=hazard)))

    response, urgency, severity, certainty, name_ja, name_en = LEVELS[level]
    infos = root.findall("cap:info", NS)
    assert [info.findtext("cap:language", namespaces=NS) for info in infos] == ["ja-JP", "en-US"]
    for info in infos:
        assert texts(info, "cap:category") == [CATEGORIES[hazard], "Safety"]
        assert texts(info, "cap:responseType") == [response]
        assert info.findtext("cap:urgency", namespaces=NS) == urgency
        assert info.findtext("cap:severity", namespaces=NS) == severity
        assert info.findtext("cap:certainty", namespaces=NS) == certainty
        assert texts(info, "cap:parameter/cap:valueName") == ["警戒レベル"]
        assert texts(info, "cap:parameter/cap:value") == [str(level)]
        assert texts(info, "cap:area/cap:areaDesc") == ["戸田市北部", "上戸田一丁目"]
    japanese, english = infos
    event = f"{name_ja}（{HAZARD_JA[hazard]}）"
    assert japanese.findtext("cap:event", namespaces=NS) == event
    assert (
        japanese.findtext("cap:headline", namespaces=NS) == f"【警戒レベル{level}】戸田市 {event}"
    )
    assert INSTRUCTION_JA[level] in japanese.findtext("cap:instruction", namespaces=NS)
    assert english.findtext("cap:event", namespaces=NS).startswith(name_en)
    assert f"[Level {level}]" in english.findtext("cap:headline", namespaces=NS)


def test_the_order_names_its_hazard_in_english_and_takes_the_hazard_enum() -> None:
    alert = order(level=4, hazard=Hazard.FLOOD, city_name_en="Toda City")

    english = alert.infos[1]
    assert english.event == "Evacuation order (flood)"
    assert english.headline == "[Level 4] Toda City: Evacuation order (flood)"
    assert english.sender_name == "Toda City"


def test_an_area_carries_its_geocode_and_outline() -> None:
    root = schema_valid(cap.render_alert(order()))

    north, kamitoda = root.findall("cap:info[1]/cap:area", NS)
    assert texts(north, "cap:polygon") == [SQUARE]
    assert texts(north, "cap:geocode/cap:valueName") == ["JIS X 0402"]
    assert texts(north, "cap:geocode/cap:value") == [TODA]
    assert texts(kamitoda, "cap:polygon") == []
    assert texts(kamitoda, "cap:geocode/cap:valueName") == ["町字ID"]
    assert texts(kamitoda, "cap:geocode/cap:value") == ["0001001"]


def test_plain_tuples_serve_as_areas() -> None:
    alert = order(areas=[("戸田市", TODA, None)])

    assert alert.infos[0].areas == (CapArea(desc="戸田市", geocodes=(("JIS X 0402", TODA),)),)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"level": 2}, "3, 4 or 5"),
        ({"level": 6}, "3, 4 or 5"),
        ({"level": "4"}, "3, 4 or 5"),
        ({"hazard": "snow"}, "hazard must be one of"),
        ({"areas": []}, "at least one area"),
        ({"areas": [("戸田市", "112242", None)]}, "not a JIS X 0402 code"),  # bad check digit
        ({"areas": [("戸田市", TODA, None, "郵便番号")]}, "geocode scheme"),
        ({"areas": [("戸田市",)]}, "an area is"),
        ({"areas": [("", TODA, None)]}, "<areaDesc>"),
        ({"level": 4.0}, "3, 4 or 5"),
        ({"areas": [("北部", TODA, "139.6,35.8 139.6,35.9 139.7,35.9 139.6,35.8")]}, "longitude"),
        ({"areas": [("北部", TODA, "35.8,139.6 35.9,139.6 35.9,139.7 35.8,139.7")]}, "closed"),
        ({"city_name": ""}, "senderName"),
        ({"msg_type": "Update"}, "needs <references>"),
        ({"status": "Real"}, "<status>"),
        ({"sent": dt.datetime(2025, 7, 1, 9, 30)}, "aware"),  # noqa: DTZ001
    ],
)
def test_a_wrong_order_is_refused_before_anything_is_published(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(CapError, match=message):
        order(**overrides)


def test_lifting_every_area_is_a_cancel_that_refers_to_the_order() -> None:
    original = order()
    lift = cap.evacuation_lift_alert(
        identifier="toda-2025-0002",
        sender=SENDER,
        sent=SENT + dt.timedelta(hours=6),
        level=4,
        hazard="flood",
        lifted_areas=AREAS,
        references=[(original.sender, original.identifier, original.sent)],
        city_name="戸田市",
    )
    root = schema_valid(cap.render_alert(lift))

    assert root.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert root.findtext("cap:references", namespaces=NS) == (
        f"{SENDER},toda-2025-0001,2025-07-01T09:30:00+09:00"
    )
    infos = root.findall("cap:info", NS)
    assert [info.findtext("cap:language", namespaces=NS) for info in infos] == ["ja-JP", "en-US"]
    for info in infos:
        assert texts(info, "cap:responseType") == ["AllClear"]
        assert info.findtext("cap:urgency", namespaces=NS) == "Past"
        assert info.findtext("cap:severity", namespaces=NS) == "Minor"
        assert info.findtext("cap:certainty", namespaces=NS) == "Observed"
        # No level is in force any more, so none is announced to machines.
        assert texts(info, "cap:parameter/cap:valueName") == []
        assert texts(info, "cap:area/cap:areaDesc") == ["戸田市北部", "上戸田一丁目"]
    assert infos[0].findtext("cap:headline", namespaces=NS) == "【解除】戸田市 避難指示（洪水）"


def test_lifting_some_areas_is_an_update_that_keeps_the_order_for_the_others() -> None:
    first, second = ("toda-2025-0001", SENT), ("toda-2025-0002", SENT + dt.timedelta(hours=1))
    lift = cap.evacuation_lift_alert(
        identifier="toda-2025-0003",
        sender=SENDER,
        sent=SENT + dt.timedelta(hours=6),
        level=5,
        hazard="tsunami",
        lifted_areas=[AREAS[1]],
        remaining_areas=[AREAS[0]],
        references=[(SENDER, *first), (SENDER, *second)],
        city_name="戸田市",
    )
    root = schema_valid(cap.render_alert(lift))

    assert root.findtext("cap:msgType", namespaces=NS) == "Update"
    assert root.findtext("cap:references", namespaces=NS) == (
        f"{SENDER},toda-2025-0001,2025-07-01T09:30:00+09:00 "
        f"{SENDER},toda-2025-0002,2025-07-01T10:30:00+09:00"
    )
    summary = [
        (
            info.findtext("cap:language", namespaces=NS),
            texts(info, "cap:responseType"),
            texts(info, "cap:area/cap:areaDesc"),
        )
        for info in root.findall("cap:info", NS)
    ]
    # An Update supersedes the order, so it restates the order where it still holds.
    assert summary == [
        ("ja-JP", ["AllClear"], ["上戸田一丁目"]),
        ("ja-JP", ["Shelter"], ["戸田市北部"]),
        ("en-US", ["AllClear"], ["上戸田一丁目"]),
        ("en-US", ["Shelter"], ["戸田市北部"]),
    ]


def test_a_lift_without_references_is_refused() -> None:
    with pytest.raises(CapError, match="references"):
        cap.evacuation_lift_alert(
            identifier="toda-2025-0002",
            sender=SENDER,
            sent=SENT,
            level=4,
            hazard="flood",
            lifted_areas=AREAS,
            references=[],
            city_name="戸田市",
        )


# --- The CAP document itself ----------------------------------------------------------------


def info(**overrides: Any) -> CapInfo:
    arguments: dict[str, Any] = {
        "language": "ja-JP",
        "categories": ["Met"],
        "event": "大雨",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Possible",
    }
    arguments.update(overrides)
    return CapInfo(**arguments)


def alert(**overrides: Any) -> CapAlert:
    arguments: dict[str, Any] = {
        "identifier": "toda-test-1",
        "sender": SENDER,
        "sent": SENT,
        "status": "Test",
        "msg_type": "Alert",
        "scope": "Public",
    }
    arguments.update(overrides)
    return CapAlert(**arguments)


def test_the_document_is_deterministic_utf8_with_a_declaration() -> None:
    first = cap.render_alert(order())
    again = cap.render_alert(order())

    assert first == again
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="')
    assert "避難指示（洪水）".encode() in first


def test_times_are_written_in_tokyo_to_the_second() -> None:
    sent = dt.datetime(2025, 12, 31, 15, 0, 59, 999_999, tzinfo=dt.UTC)
    expires = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    root = schema_valid(cap.render_alert(alert(sent=sent, infos=[info(expires=expires)])))

    assert root.findtext("cap:sent", namespaces=NS) == "2026-01-01T00:00:59+09:00"
    assert root.findtext("cap:info/cap:expires", namespaces=NS) == "2026-01-02T02:00:00+09:00"


def test_japanese_text_with_markup_characters_is_escaped_and_reads_back_unchanged() -> None:
    tricky = "避難所<体育館>＆公民館 & \"集会所\" ]]> 'A&B'"
    area = CapArea(desc=tricky, circles=["35.8,139.65 2.5"], geocodes=[("名前<&>", tricky)])
    document = cap.render_alert(
        alert(
            note=tricky,
            infos=[
                info(
                    headline=tricky,
                    description=f"1行目\n2行目\r\n{tricky}",
                    parameters=[("<p>", "&amp;")],
                    areas=[area],
                )
            ],
        )
    )
    root = schema_valid(document)

    assert b"<\xe4\xbd\x93" not in document  # no raw "<体" in the bytes
    assert root.findtext("cap:note", namespaces=NS) == tricky
    assert root.findtext("cap:info/cap:headline", namespaces=NS) == tricky
    assert root.findtext("cap:info/cap:description", namespaces=NS) == f"1行目\n2行目\r\n{tricky}"
    assert texts(root, "cap:info/cap:parameter/cap:valueName") == ["<p>"]
    assert texts(root, "cap:info/cap:parameter/cap:value") == ["&amp;"]
    assert texts(root, "cap:info/cap:area/cap:areaDesc") == [tricky]
    assert texts(root, "cap:info/cap:area/cap:geocode/cap:value") == [tricky]


def test_characters_xml_cannot_carry_are_dropped_rather_than_breaking_the_alert() -> None:
    root = schema_valid(cap.render_alert(alert(infos=[info(headline="避難\x0b指示\x00\ufffe")])))

    assert root.findtext("cap:info/cap:headline", namespaces=NS) == "避難指示"


def test_every_element_is_written_in_schema_order() -> None:
    full = alert(
        msg_type="Update",
        scope="Restricted",
        restriction="市職員のみ",
        addresses="hq@example.jp",
        source="Machi",
        codes=["profile:CAP-JP:0.1", "訓練"],
        note="訓練です",
        references=[(SENDER, "toda-test-0", SENT - dt.timedelta(days=1))],
        infos=[
            info(
                categories=["Met", "Safety", "Infra"],
                response_types=["Prepare", "Monitor"],
                event_codes=[("SAME", "FFW")],
                effective=SENT,
                onset=SENT + dt.timedelta(hours=1),
                expires=SENT + dt.timedelta(hours=12),
                sender_name="戸田市",
                headline="見出し",
                description="説明",
                instruction="指示",
                web="https://www.city.toda.saitama.jp/bousai?a=1&b=2",
                contact="048-441-1800",
                parameters=[("a", ""), ("b", "2")],
                areas=[
                    CapArea(
                        desc="北部",
                        polygons=[SQUARE, SQUARE],
                        circles=["35.8,139.6 0", "35.85,139.65 1.5"],
                        geocodes=[("JIS X 0402", TODA)],
                    )
                ],
            ),
            info(language="en-US", event="Heavy rain"),
        ],
    )
    root = schema_valid(cap.render_alert(full))

    assert root.findtext("cap:source", namespaces=NS) == "Machi"
    assert texts(root, "cap:code") == ["profile:CAP-JP:0.1", "訓練"]
    assert root.findtext("cap:info/cap:web", namespaces=NS).endswith("?a=1&b=2")
    assert texts(root, "cap:info/cap:area/cap:circle") == ["35.8,139.6 0", "35.85,139.65 1.5"]
    assert len(root.findall("cap:info", NS)) == 2


@pytest.mark.parametrize(
    "bare",
    [
        alert(infos=[]),
        alert(infos=[info()]),  # an info without areas
        alert(msg_type="Cancel", references=[(SENDER, "toda-test-0", SENT)]),
        alert(scope="Private", addresses="hq@example.jp"),
    ],
    ids=["no-info", "no-area", "bare-cancel", "private"],
)
def test_minimal_alerts_are_valid(bare: CapAlert) -> None:
    schema_valid(cap.render_alert(bare))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: alert(identifier=""), "<identifier> is required"),
        (lambda: alert(identifier="toda 1"), "spaces, commas"),
        (lambda: alert(sender="a,b"), "spaces, commas"),
        (lambda: alert(msg_type="Lift"), "<msgType>"),
        (lambda: alert(scope="Everyone"), "<scope>"),
        (lambda: alert(scope="Restricted"), "<restriction>"),
        (lambda: alert(scope="Private"), "<addresses>"),
        (lambda: alert(msg_type="Cancel"), "needs <references>"),
        (lambda: alert(references=[("a b", "x", SENT)]), "references sender"),
        (lambda: alert(references=[(SENDER, "x")]), "triples"),
        (lambda: alert(references=[(SENDER, "x", None)]), "aware"),
        (lambda: alert(codes="profile"), "<code>"),
        (lambda: info(categories=[]), "<category>"),
        (lambda: info(categories="Met"), "<category>"),
        (lambda: info(categories=["Weather"]), "<category>"),
        (lambda: info(event=" "), "<event>"),
        (lambda: info(urgency="Now"), "<urgency>"),
        (lambda: info(severity="High"), "<severity>"),
        (lambda: info(certainty="Sure"), "<certainty>"),
        (lambda: info(response_types=["Run"]), "<responseType>"),
        (lambda: info(language="日本語"), "<language>"),
        (lambda: info(web="www.city.toda.saitama.jp"), "<web>"),
        (lambda: info(parameters=[("", "1")]), "parameter/valueName"),
        (lambda: info(onset=dt.datetime(2025, 7, 1)), "<onset>"),  # noqa: DTZ001
        (lambda: CapArea(desc=""), "<areaDesc>"),
        (lambda: CapArea(desc="a", polygons=["35,139 36,139 35,139"]), "at least 4"),
        (lambda: CapArea(desc="a", polygons=["35,139 36,139 36,140 x,y"]), "latitude,longitude"),
        (lambda: CapArea(desc="a", circles=["35.8,139.6"]), "<circle>"),
        (lambda: CapArea(desc="a", circles=["35.8,139.6 -1"]), "<circle>"),
        (lambda: CapArea(desc="a", circles=["139.6,35.8 1"]), "longitude,latitude"),
    ],
)
def test_what_cap_forbids_cannot_be_built(make: Any, message: str) -> None:
    with pytest.raises(CapError, match=message):
        make()


def test_a_built_alert_cannot_be_changed_after_its_checks() -> None:
    categories = ["Met"]
    checked = info(categories=categories)
    categories.append("Nonsense")

    assert checked.categories == ("Met",)
    with pytest.raises(AttributeError):
        checked.event = "other"  # type: ignore[misc]


# Any text a person may type: Japanese, markup characters, control characters, emoji.
free_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("<>&'\""),
    max_size=40,
)
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def as_read(text: str) -> str:
    """What a reader gets back: no characters XML cannot carry, no surrounding whitespace."""
    return NOT_XML.sub("", text).strip()


@settings(max_examples=150, deadline=None)
@given(
    headline=free_text,
    description=free_text,
    area_names=st.lists(free_text.filter(as_read), min_size=1, max_size=3),
    level=st.sampled_from([3, 4, 5]),
    hazard=st.sampled_from(sorted(CATEGORIES)),
    note=free_text,
)
def test_any_text_gives_a_schema_valid_alert(
    headline: str, description: str, area_names: list[str], level: int, hazard: str, note: str
) -> None:
    built = order(
        level=level, hazard=hazard, note=note, areas=[(n, TODA, SQUARE) for n in area_names]
    )
    extra = info(headline=headline, description=description, areas=built.infos[0].areas)
    document = cap.render_alert(
        alert(infos=[*built.infos, extra], note=note, source=headline or "")
    )

    parsed = cap.parse_alert(document)
    assert [area.desc for area in parsed.infos[0].areas] == [as_read(n) for n in area_names]
    assert parsed.infos[2].headline == as_read(headline)
    assert parsed.infos[2].description == as_read(description)
    assert parsed.note == as_read(note)


def test_a_rendered_alert_reads_back_as_it_was_built() -> None:
    built = order(web="https://www.city.toda.saitama.jp/", contact="危機管理課 048-441-1800")
    parsed = cap.parse_alert(cap.render_alert(built))

    assert parsed.version == "1.2"
    assert (parsed.identifier, parsed.sender, parsed.sent) == (built.identifier, SENDER, SENT)
    assert parsed.sent.utcoffset() == dt.timedelta(hours=9)
    assert (parsed.status, parsed.msg_type, parsed.scope) == ("Actual", "Alert", "Public")
    for read, written in zip(parsed.infos, built.infos, strict=True):
        assert read.language == written.language
        assert read.categories == written.categories
        assert read.event == written.event
        assert read.headline == written.headline
        assert read.instruction == written.instruction
        assert read.web == written.web
        assert read.contact == written.contact
        assert read.parameters == (("警戒レベル", "4"),)
        assert [(a.desc, a.polygons, a.geocodes) for a in read.areas] == [
            (a.desc, tuple(a.polygons), tuple(a.geocodes)) for a in written.areas
        ]


# --- Validating what comes in ---------------------------------------------------------------

SAMPLES = {
    "43b080713727.cap": "1.2",
    "australia.cap": "1.2",
    "canada.cap": "1.2",
    "earthquake-iso8859-1.cap": "1.2",
    "thunderstorm.cap": "1.2",
    "wcatwc-warning.cap": "1.2",
    "earthquake.cap": "1.1",
    "no_optional_fields.cap": "1.1",
    "weather.cap": "1.1",
}


@pytest.mark.parametrize(("name", "version"), SAMPLES.items())
def test_published_samples_validate_as_their_version(name: str, version: str) -> None:
    assert cap.validate_cap(sample(name)) == version


def test_a_cap_without_a_required_element_is_rejected() -> None:
    document = sample("thunderstorm.cap").replace(b"<sent>2003-06-17T14:57:00-07:00</sent>", b"")

    with pytest.raises(XmlRejected, match=r"not valid against cap12\.xsd.*status") as caught:
        cap.validate_cap(document)
    assert caught.value.line == 6


def test_a_cap_with_an_unknown_value_is_rejected() -> None:
    document = sample("thunderstorm.cap").replace(b"<urgency>Immediate", b"<urgency>Soon")

    with pytest.raises(XmlRejected, match="urgency"):
        cap.parse_alert(document)


@pytest.mark.parametrize(
    "document",
    [
        sample("thunderstorm.cap").replace(b"emergency:cap:1.2", b"emergency:cap:1.3"),
        b'<alert xmlns="http://www.incident.com/cap/1.0"><identifier>x</identifier></alert>',
        b"<alert><identifier>x</identifier></alert>",
        b'<feed xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>',
        b"<a/>",
    ],
    ids=["cap-1.3", "cap-1.0", "no-namespace", "not-an-alert", "other-xml"],
)
def test_anything_but_cap_11_or_12_is_rejected(document: bytes) -> None:
    with pytest.raises(XmlRejected, match=r"not a CAP 1\.1 or 1\.2 alert"):
        cap.validate_cap(document)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE alert [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"""

EXTERNAL_ENTITY = (
    sample("thunderstorm.cap")
    .replace(
        b'<alert xmlns = "urn',
        b'<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n<alert xmlns = "urn',
    )
    .replace(b"<contact>BARUFFALDI/JUSKIE</contact>", b"<contact>&secret;</contact>")
)

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"""


@pytest.mark.parametrize(
    "document",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD],
    ids=["billion-laughs", "external-entity", "external-dtd"],
)
def test_hostile_xml_is_refused_before_it_is_read(document: bytes) -> None:
    with pytest.raises(XmlRejected, match="unsafe XML"):
        cap.validate_cap(document)
    with pytest.raises(XmlRejected, match="unsafe XML"):
        cap.parse_alert(document)


def test_malformed_xml_is_rejected() -> None:
    with pytest.raises(XmlRejected, match="malformed"):
        cap.parse_alert(sample("thunderstorm.cap")[:-30])


# --- Reading what comes in ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "identifier", "sent"),
    [
        ("43b080713727.cap", "43b080713727", "2003-04-02T14:39:01-05:00"),
        ("australia.cap", "tag:www.rfs.nsw.gov.au2011-10-06:40184", "2011-10-05T23:04:00+10:00"),
        ("canada.cap", "2.49.0.1.124.6bddbc91.2012", "2012-05-02T23:21:04+00:00"),
        ("thunderstorm.cap", "KSTO1055887203", "2003-06-17T14:57:00-07:00"),
        ("wcatwc-warning.cap", "PAAQ-2-lqw6d6", "2011-09-02T11:36:50+00:00"),
        (
            "earthquake.cap",
            "USGS-earthquakes-us2010apcd.6.20100831T000925.496Z",
            "2010-08-31T00:09:25-05:00",
        ),
        (
            "no_optional_fields.cap",
            "USGS-earthquakes-us2010apcd.6.20100831T000925.496Z",
            "2010-08-31T00:09:25-05:00",
        ),
        (
            "weather.cap",
            "NOAA-NWS-ALERTS-MT20100830100700TFXFlashFloodWatchTFX20100830180000MT",
            "2010-08-30T04:07:00-06:00",
        ),
    ],
)
def test_samples_are_read_with_their_own_offset(name: str, identifier: str, sent: str) -> None:
    parsed = cap.parse_alert(sample(name))

    assert parsed.version == SAMPLES[name]
    assert parsed.identifier == identifier
    assert parsed.sent.isoformat() == sent
    assert parsed.status == "Actual"


def test_an_iso_8859_1_alert_is_decoded() -> None:
    parsed = cap.parse_alert(sample("earthquake-iso8859-1.cap"))

    assert parsed.version == "1.2"
    assert parsed.sent == dt.datetime(2012, 10, 14, 22, 53, 4, tzinfo=dt.UTC)
    (quake,) = parsed.infos
    assert quake.headline == "EQ 4.6 Usulután, Usulután, El Salvador - PRELIMINARY REPORT"
    assert quake.onset == dt.datetime(2012, 10, 14, 22, 40, 56, tzinfo=dt.UTC)
    assert quake.effective is None
    assert quake.language == "en-US"  # absent, so the schema's default
    assert "Usulután" in quake.areas[0].desc
    assert quake.instruction == "None"


def test_an_update_from_canada_reads_its_references_and_geography() -> None:
    parsed = cap.parse_alert(sample("canada.cap"))

    assert parsed.msg_type == "Update"
    assert parsed.codes == ("profile:CAP-CP:0.4", "layer:EC-MSC-SMC:1.0", "layer:SOREM:1.0")
    assert parsed.source.startswith("Environment Canada")
    assert parsed.note == ""
    assert parsed.references == (
        cap.CapReference(
            "cap@ec.gc.ca",
            "2.49.0.1.124.a3f342a4.2012",
            dt.datetime(2012, 5, 2, 21, 45, 5, tzinfo=dt.UTC),
        ),
        cap.CapReference(
            "cap@ec.gc.ca",
            "2.49.0.1.124.60f31a3a.2012",
            dt.datetime(2012, 5, 2, 21, 55, 21, tzinfo=dt.UTC),
        ),
    )
    first = parsed.infos[0]
    assert (first.language, first.categories, first.response_types) == (
        "en-CA",
        ("Met",),
        ("AllClear",),
    )
    assert (first.urgency, first.severity, first.certainty) == ("Past", "Minor", "Observed")
    assert first.event_codes[:2] == (
        ("profile:CAP-CP:Event:0.4", "thunderstorm"),
        ("SAME", "SVA"),
    )
    assert first.expires == dt.datetime(2012, 5, 3, 0, 20, tzinfo=dt.UTC)
    area = first.areas[0]
    assert area.desc == "Windsor - Leamington - Essex County"
    assert area.polygons[0].startswith("42.3481,-82.9314 42.3363,-82.6937")
    assert area.geocodes[0] == ("layer:EC-MSC-SMC:1.0:CLC", "041420")


def test_a_cap_11_alert_is_read() -> None:
    parsed = cap.parse_alert(sample("earthquake.cap"))

    (quake,) = parsed.infos
    assert (quake.categories, quake.event, quake.urgency) == (("Geo",), "Earthquake", "Past")
    assert quake.sender_name == "U.S. Geological Survey"
    assert quake.expires == dt.datetime(
        2010, 9, 2, 0, 9, 25, tzinfo=dt.timezone(-dt.timedelta(hours=5))
    )
    assert ("Magnitude", "6.3") in quake.parameters
    assert quake.areas[0].circles == ("-16.053,-173.274 0.0",)
    assert quake.areas[0].polygons == ()


def test_an_alert_with_only_the_required_elements_is_read() -> None:
    parsed = cap.parse_alert(sample("no_optional_fields.cap"))

    assert parsed.infos == ()
    assert parsed.references == ()
    assert (parsed.note, parsed.source, parsed.codes) == ("", "", ())


def test_a_thunderstorm_warning_keeps_its_spaced_out_texts_and_geocodes() -> None:
    parsed = cap.parse_alert(sample("thunderstorm.cap"))

    (storm,) = parsed.infos
    assert storm.response_types == ("Shelter",)
    assert storm.description.startswith("AT 254 PM PDT")  # stripped of the leading space
    assert storm.areas[0].polygons == (
        "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14",
    )
    assert storm.areas[0].geocodes[:2] == (("SAME", "006109"), ("SAME", "006009"))


# CAP 1.1's schema types times as xs:dateTime, which lets "Z" and fractions through; CAP itself
# forbids both, and so does Machi.
BAD_TIMES = [
    (b"<sent>2010-08-31T00:09:25-05:00</sent>", b"<sent>2010-08-31T05:09:25Z</sent>", "<sent>"),
    (
        b"<expires>2010-09-02T00:09:25-05:00</expires>",
        b"<expires>2010-09-02T00:09:25.5-05:00</expires>",
        "<expires>",
    ),
    (
        b"<expires>2010-09-02T00:09:25-05:00</expires>",
        b"<expires>2010-09-02T24:00:00-05:00</expires>",
        "<expires>",
    ),
]


@pytest.mark.parametrize(("good", "bad", "element"), BAD_TIMES)
def test_a_time_cap_forbids_is_rejected_naming_its_element(
    good: bytes, bad: bytes, element: str
) -> None:
    document = sample("earthquake.cap").replace(good, bad)
    assert document != sample("earthquake.cap")

    with pytest.raises(XmlRejected, match=element):
        cap.parse_alert(document)


@pytest.mark.parametrize(
    "references",
    [
        b"cap@ec.gc.ca,2.49.0.1.124.a3f342a4.2012",
        b"cap@ec.gc.ca,2.49.0.1.124.a3f342a4.2012,2012-05-02T21:45:05Z",
        b"cap@ec.gc.ca,x,2012-05-02T21:45:05-00:00,extra",
    ],
)
def test_malformed_references_are_rejected(references: bytes) -> None:
    document = sample("canada.cap")
    start = document.index(b"<references>") + len(b"<references>")
    end = document.index(b"</references>")
    document = document[:start] + references + document[end:]

    with pytest.raises(XmlRejected, match="<references>") as caught:
        cap.parse_alert(document)
    assert caught.value.line == 16


# --- Atom feed ------------------------------------------------------------------------------


def entries() -> list[FeedEntry]:
    return [
        FeedEntry(
            id="urn:machi:toda:toda-2025-0002",
            title="【解除】戸田市 避難指示（洪水）",
            updated=SENT + dt.timedelta(hours=6),
            summary="上戸田一丁目の避難指示を解除 <速報> & 続報",
            link="https://www.city.toda.saitama.jp/cap/toda-2025-0002.xml?lang=ja&v=1",
            author="戸田市",
        ),
        FeedEntry(
            id="urn:machi:toda:toda-2025-0001",
            title="【警戒レベル4】戸田市 避難指示（洪水）",
            updated=SENT,
            summary="",
            link="https://www.city.toda.saitama.jp/cap/toda-2025-0001.xml",
        ),
    ]


def feed(items: list[FeedEntry]) -> bytes:
    return cap.render_feed(
        feed_id="urn:machi:toda:alerts",
        title="戸田市 避難情報",
        self_url="https://www.city.toda.saitama.jp/cap/feed.atom?x=1&y=2",
        updated=SENT + dt.timedelta(hours=6),
        entries=items,
    )


def test_the_feed_lists_each_alert_with_a_link_to_its_cap() -> None:
    document = feed(entries())
    root = safexml.parse(document)

    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert root.tag == f"{{{cap.ATOM_NS}}}feed"
    assert root.findtext("a:id", namespaces=ATOM) == "urn:machi:toda:alerts"
    assert root.findtext("a:updated", namespaces=ATOM) == "2025-07-01T15:30:00+09:00"
    assert root.findtext("a:author/a:name", namespaces=ATOM) == "戸田市 避難情報"
    self_link = root.find("a:link[@rel='self']", ATOM)
    assert self_link.get("href") == "https://www.city.toda.saitama.jp/cap/feed.atom?x=1&y=2"
    found = root.findall("a:entry", ATOM)
    assert [entry.findtext("a:id", namespaces=ATOM) for entry in found] == [
        "urn:machi:toda:toda-2025-0002",
        "urn:machi:toda:toda-2025-0001",
    ]
    newest, oldest = found
    assert newest.findtext("a:title", namespaces=ATOM) == "【解除】戸田市 避難指示（洪水）"
    assert (
        newest.findtext("a:summary", namespaces=ATOM)
        == "上戸田一丁目の避難指示を解除 <速報> & 続報"
    )
    assert newest.findtext("a:author/a:name", namespaces=ATOM) == "戸田市"
    assert oldest.findtext("a:updated", namespaces=ATOM) == "2025-07-01T09:30:00+09:00"
    assert oldest.find("a:summary", ATOM) is None
    links = [entry.find("a:link", ATOM) for entry in found]
    assert [(link.get("rel"), link.get("type")) for link in links] == [
        ("alternate", "application/cap+xml"),
        ("alternate", "application/cap+xml"),
    ]
    assert links[0].get("href") == (
        "https://www.city.toda.saitama.jp/cap/toda-2025-0002.xml?lang=ja&v=1"
    )


def test_the_feed_is_deterministic_and_valid_when_empty() -> None:
    assert feed(entries()) == feed(entries())

    root = safexml.parse(feed([]))
    assert root.findall("a:entry", ATOM) == []
    # RFC 4287: a feed whose entries cannot name an author names one itself.
    assert root.findtext("a:author/a:name", namespaces=ATOM) == "戸田市 避難情報"


def test_a_feed_entry_needs_an_aware_time() -> None:
    with pytest.raises(CapError, match="aware"):
        FeedEntry(
            id="x",
            title="t",
            updated=dt.datetime(2025, 7, 1),  # noqa: DTZ001
            summary="",
            link="https://example.jp/x.xml",
        )
