"""The weather desk: JMA messages applied to the city's warnings, rules, the poller, the pages.

Most stories use 奈良市 (292010) and JMA's official samples of 2011-09 (台風12号): a 大雨特別警報
issued on the 3rd, continued on the 4th, lowered to a 大雨注意報 on the 5th and lifted on the 7th.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation
from lxml import etree

from machi.core import services as core_services
from machi.core.models import AuditEvent, Municipality, User
from machi.core.roles import Role
from machi.emergency import selectors_weather, services_weather, tasks
from machi.emergency.models import (
    ChronologyEntry,
    DeclarationRule,
    Disaster,
    JmaEntry,
    JmaEntryStatus,
    JmaFeed,
    JmaWarning,
    Suggestion,
)
from machi.emergency.services_weather import WeatherError, jma_ingest, jma_poll
from tests.conftest import sign_in
from tests.core.factories import MunicipalityFactory
from tests.emergency.jma_feed_server import (
    DATA,
    TEST_FEED,
    JmaFeedServer,
    jma_feed_server_fixture,  # noqa: F401 (provides the fixture "jma_feed_server")
)

NARA = "292010"
NARA_AREA = "2920100"
ODAWARA = "142069"
ISSUED = "15_08_01_130412_VPWW53.xml"  # 2011-09-03 12:00 大雨特別警報 発表
CONTINUED = "15_08_02_130412_VPWW53.xml"  # 2011-09-04 00:10 継続
LOWERED = "15_08_04_160628_VPWW53.xml"  # 2011-09-05 10:26 特別警報から注意報
LIFTED = "15_08_05_130412_VPWW53.xml"  # 2011-09-07 11:46 大雨注意報 解除
LANDSLIDE = "17_04_02_250630_VXWW50.xml"  # 神奈川県 土砂災害警戒情報: 小田原市 継続 (level 4)
SAMPLES = sorted(p for p in DATA.glob("*.xml") if p != TEST_FEED)
JMX = "http://xml.kishou.go.jp/jmaxml1/"
IB = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Report [
 <!ENTITY a "aaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&c;</Title></Control></Report>"""


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def ingest(name: str, data: bytes | None = None) -> JmaEntry:
    return jma_ingest(data if data is not None else sample(name), entry_id=name, link=name)


def mutate(name: str, change: Callable[[Any], None]) -> bytes:
    root = etree.fromstring(sample(name))
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def set_head(*, info_type: str | None = None, reported: str | None = None) -> Callable[[Any], None]:
    def change(root: Any) -> None:
        head = root.find(f"{{{IB}}}Head")
        if info_type is not None:
            head.find(f"{{{IB}}}InfoType").text = info_type
        if reported is not None:
            head.find(f"{{{IB}}}ReportDateTime").text = reported

    return change


def set_status(status: str) -> Callable[[Any], None]:
    def change(root: Any) -> None:
        root.find(f"{{{JMX}}}Control/{{{JMX}}}Status").text = status

    return change


def nara_rows() -> dict[str, JmaWarning]:
    return {w.kind_code: w for w in JmaWarning.objects.filter(area_code=NARA_AREA)}


def weather_lines() -> list[ChronologyEntry]:
    return list(ChronologyEntry.objects.filter(kind="weather").order_by("at", "id"))


@pytest.fixture
def nara(db: Any) -> Municipality:
    return MunicipalityFactory(lgcode=NARA, name="奈良市", name_kana="ならし", prefecture="奈良県")


@pytest.fixture
def odawara(db: Any) -> Municipality:
    return MunicipalityFactory(lgcode=ODAWARA, name="小田原市", prefecture="神奈川県")


# --------------------------------------------------------------------------------------------
# Ingesting messages


def test_every_official_sample_is_stored_once_and_none_is_rejected(nara: Municipality) -> None:
    entries = [ingest(path.name) for path in SAMPLES]

    assert {e.status for e in entries} <= {JmaEntryStatus.STORED, JmaEntryStatus.NOT_HERE}
    stored = {e.entry_id for e in entries if e.status == JmaEntryStatus.STORED}
    # Nara city is named by the four 2011 warnings of 奈良県 and nothing else.
    assert stored == {ISSUED, CONTINUED, LOWERED, LIFTED, "15_08_04_160628_VPWW53.xml"}
    assert JmaEntry.objects.count() == len(SAMPLES)

    # Ingesting again does nothing: the entry id is known.
    lines, rows = ChronologyEntry.objects.count(), list(JmaWarning.objects.values())
    again = [ingest(path.name) for path in SAMPLES]
    assert [e.pk for e in again] == [e.pk for e in entries]
    assert JmaEntry.objects.count() == len(SAMPLES)
    assert ChronologyEntry.objects.count() == lines
    assert list(JmaWarning.objects.values()) == rows


def test_a_message_about_the_city_sets_its_warnings_and_writes_one_chronology_line(
    nara: Municipality,
) -> None:
    entry = ingest(ISSUED)

    assert entry.status == JmaEntryStatus.STORED
    assert (entry.type_code, entry.info_type, entry.title) == (
        "VPWW53",
        "発表",
        "奈良県気象警報・注意報",
    )
    assert entry.office == "奈良地方気象台"
    assert entry.headline.startswith("【特別警報（大雨）】")
    rows = nara_rows()
    assert set(rows) == {"33", "14", "15", "18"}
    rain = rows["33"]
    assert (rain.kind_name, rain.status, rain.level, rain.hazard) == (
        "大雨特別警報",
        "発表",
        5,
        "landslide",
    )
    assert rain.active
    assert rain.entry == entry
    assert rain.area_name == "奈良市"
    assert rain.reported_at == entry.reported_at
    assert rain.detail["extra"]["condition"] == "土砂災害"
    [line] = weather_lines()
    assert line.text == (
        "気象警報: 奈良市 大雨特別警報（レベル5）発表、雷注意報 発表、強風注意報 発表、"
        "洪水注意報（レベル2）発表"
    )
    assert line.important
    assert (line.object_type, line.object_id) == ("emergency.jmaentry", str(entry.pk))


def test_a_continued_warning_changes_nothing_worth_a_line(nara: Municipality) -> None:
    ingest(ISSUED)
    ingest(CONTINUED)

    assert nara_rows()["33"].status == "継続"
    assert len(weather_lines()) == 1


def test_a_special_warning_lowered_to_an_advisory_is_lifted(nara: Municipality) -> None:
    ingest(ISSUED)
    ingest(CONTINUED)
    ingest(LOWERED)

    rows = nara_rows()
    # The 特別警報 is not listed any more (the advisory's status says "特別警報から注意報"):
    # a 気象警報 message lists every kind in force, so the one it leaves out is lifted.
    assert not rows["33"].active
    assert rows["33"].status == "解除"
    assert rows["10"].active
    assert rows["10"].level == 2
    assert not rows["14"].active
    assert not rows["18"].active
    assert weather_lines()[-1].text == (
        "気象警報: 奈良市 大雨注意報（レベル2）発表、雷注意報 解除、強風注意報 解除、"
        "洪水注意報 解除、大雨特別警報 解除"
    )
    assert not weather_lines()[-1].important

    ingest(LIFTED)
    assert not any(w.active for w in nara_rows().values())
    assert selectors_weather.warnings_active() == []


def test_an_older_message_arriving_late_does_not_overwrite_a_newer_state(
    nara: Municipality,
) -> None:
    ingest(LOWERED)
    lines = len(weather_lines())

    late = ingest(ISSUED)  # reported two days before

    assert late.status == JmaEntryStatus.STORED
    rows = nara_rows()
    assert "33" not in rows or not rows["33"].active
    assert rows["10"].active
    assert rows["10"].entry.entry_id == LOWERED
    assert len(weather_lines()) == lines


def test_a_message_about_other_cities_is_kept_with_its_header(db: Any) -> None:
    MunicipalityFactory()  # 戸田市

    entry = ingest(ISSUED)

    assert entry.status == JmaEntryStatus.NOT_HERE
    assert entry.type_code == "VPWW53"
    assert entry.reported_at is not None
    assert not JmaWarning.objects.exists()
    assert not weather_lines()


def test_a_cancellation_withdraws_what_its_event_set(odawara: Municipality) -> None:
    ingest(LANDSLIDE)
    [row] = JmaWarning.objects.filter(area_code="1420600")
    assert row.active
    assert row.level == 4

    cancel = mutate(LANDSLIDE, set_head(info_type="取消", reported="2024-11-02T21:00:00+09:00"))
    entry = ingest("cancel.xml", cancel)

    row.refresh_from_db()
    assert entry.status == JmaEntryStatus.STORED
    assert entry.info_type == "取消"
    assert not row.active
    assert row.status == "取消"
    assert weather_lines()[-1].text == "土砂災害警戒情報 取消: 小田原市 警戒 取消"


def test_a_cancellation_of_another_event_changes_nothing(odawara: Municipality) -> None:
    ingest(LANDSLIDE)

    def other_event(root: Any) -> None:
        set_head(info_type="取消", reported="2024-11-02T21:00:00+09:00")(root)
        root.find(f"{{{IB}}}Head/{{{IB}}}EventID").text = "静岡県土砂災害警戒情報"

    entry = ingest("cancel-other.xml", mutate(LANDSLIDE, other_event))

    assert entry.status == JmaEntryStatus.NOT_HERE
    assert JmaWarning.objects.get(area_code="1420600").active


@pytest.mark.parametrize("status", ["訓練", "試験"])
def test_training_and_test_messages_are_kept_but_change_nothing(
    odawara: Municipality, status: str
) -> None:
    entry = ingest("training.xml", mutate(LANDSLIDE, set_status(status)))

    assert entry.is_training
    assert entry.status == JmaEntryStatus.STORED
    assert not JmaWarning.objects.exists()
    assert not weather_lines()


def test_training_messages_apply_when_the_city_accepts_them(
    odawara: Municipality, settings: Any
) -> None:
    settings.MACHI_JMA_ACCEPT_TRAINING = True

    entry = ingest("training.xml", mutate(LANDSLIDE, set_status("訓練")))

    assert entry.is_training
    row = JmaWarning.objects.get(area_code="1420600")
    assert row.active
    assert row.detail["training"] is True
    assert weather_lines()[-1].text.startswith(
        "【訓練】土砂災害警戒情報: 小田原市 警戒（レベル4）発表"
    )


def test_hostile_xml_is_stored_as_rejected_and_the_next_message_still_applies(
    nara: Municipality, caplog: Any
) -> None:
    bad = jma_ingest(BILLION_LAUGHS, entry_id="urn:bad", link="x_VPWW53_290000.xml")
    good = ingest(ISSUED)

    assert bad.status == JmaEntryStatus.REJECTED
    assert "unsafe XML refused" in bad.error
    assert bad.type_code == "VPWW53"
    assert "urn:bad" in caplog.text
    assert "rejected" in caplog.text
    assert good.status == JmaEntryStatus.STORED
    assert nara_rows()["33"].active
    # Rejected once, never read again.
    assert jma_ingest(sample(ISSUED), entry_id="urn:bad").pk == bad.pk


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty document"),
        (b"<Report", "malformed XML"),
        (b"<html/>", "not a JMA report"),
    ],
)
def test_malformed_and_foreign_documents_are_rejected_with_the_reason(
    nara: Municipality, data: bytes, reason: str
) -> None:
    entry = jma_ingest(data, entry_id=f"urn:{reason}")

    assert entry.status == JmaEntryStatus.REJECTED
    assert reason in entry.error


def test_a_schema_invalid_message_is_rejected(nara: Municipality) -> None:
    def break_date(root: Any) -> None:
        root.find(f"{{{JMX}}}Control/{{{JMX}}}DateTime").text = "yesterday"

    entry = ingest("invalid.xml", mutate(ISSUED, break_date))

    assert entry.status == JmaEntryStatus.REJECTED
    assert "not valid against jmx.xsd" in entry.error


def test_a_tornado_advisory_is_shown_for_an_hour_only(db: Any) -> None:
    MunicipalityFactory()  # 戸田市, named by the 竜巻注意情報 of 埼玉県
    ingest("19_08_03_250630_VPHW50.xml")

    [row] = selectors_weather.warnings_active()
    assert (row.area_name, row.kind_name) == ("戸田市", "竜巻注意情報")

    later = timezone.now() + timedelta(hours=1, minutes=1)
    assert services_weather.jma_warnings_expire(now=later) == 1
    assert selectors_weather.warnings_active() == []


def surge_advisory(*, foretells_warning: bool, reported: str) -> bytes:
    """JMA's 山口県 sample with 下関市's 高潮警報 turned into a 高潮注意報 (level 2), which
    becomes level 3 when it foretells a 高潮警報 (NextKinds; the guideline's 警戒レベル3相当)."""

    def change(root: Any) -> None:
        set_head(reported=reported)(root)
        for kind in root.iter("{*}Kind"):
            item = kind.getparent()
            if etree.QName(item.getparent()).localname != "Warning":
                continue
            area = item.find("{*}Area/{*}Code")
            if area is None or area.text != "3520100" or kind.findtext("{*}Code") != "08":
                continue
            kind.find("{*}Name").text = "高潮注意報"
            kind.find("{*}Code").text = "19"
            if foretells_warning:
                ns = etree.QName(kind).namespace
                next_kinds = etree.Element(f"{{{ns}}}NextKinds")
                next_kind = etree.SubElement(next_kinds, f"{{{ns}}}NextKind")
                etree.SubElement(next_kind, f"{{{ns}}}Name").text = "高潮警報"
                etree.SubElement(next_kind, f"{{{ns}}}Code").text = "08"
                kind.find("{*}Status").addnext(next_kinds)

    return mutate("15_11_01_150916_VPWW54.xml", change)


def test_a_level_raised_is_a_change_and_meets_the_rules(db: Any) -> None:
    MunicipalityFactory(lgcode="352012", name="下関市", prefecture="山口県")
    make_rule(name="level 3", min_level=3, hazard="storm_surge")

    ingest(
        "advisory.xml",
        surge_advisory(foretells_warning=False, reported="2015-06-22T18:00:00+09:00"),
    )
    surge = JmaWarning.objects.get(area_code="3520100", kind_code="19")
    assert surge.level == 2
    assert not Suggestion.objects.exists()

    ingest(
        "foretold.xml", surge_advisory(foretells_warning=True, reported="2015-06-22T19:00:00+09:00")
    )

    surge.refresh_from_db()
    assert surge.level == 3
    change, suggested = weather_lines()[-2:]
    assert change.text == "気象警報: 下関市 高潮注意報（レベル2→3）"
    assert change.important
    assert suggested.text.startswith("宣言の提案: 下関市 高潮注意報（レベル3）")
    [suggestion] = Suggestion.objects.all()
    assert suggestion.warning == surge


# --------------------------------------------------------------------------------------------
# Declaration rules


def make_rule(**kw: Any) -> DeclarationRule:
    values: dict[str, Any] = {"name": "大雨特別警報", "hazard": "landslide"}
    values.update(kw)
    return services_weather.rule_create(**values)


def test_a_suggest_rule_suggests_once_per_warning(nara: Municipality) -> None:
    rule = make_rule(kind_codes=["33"])

    ingest(ISSUED)
    ingest(CONTINUED)

    [suggestion] = Suggestion.objects.all()
    assert suggestion.rule == rule
    assert suggestion.warning == nara_rows()["33"]
    assert suggestion.text == (
        "奈良市 大雨特別警報（レベル5）: 災害対策本部の設置を検討してください"
        "（ルール「大雨特別警報」）"
    )
    assert list(selectors_weather.suggestions_open()) == [suggestion]
    assert any(line.text.startswith("宣言の提案: ") for line in weather_lines())
    assert not Disaster.objects.exists()


def test_rules_match_on_kind_codes_and_minimum_level(nara: Municipality) -> None:
    make_rule(name="level 4+", min_level=4)
    make_rule(name="洪水注意報", kind_codes=["18"])
    make_rule(name="never", kind_codes=["33"], min_level=6 - 1, action="suggest")
    services_weather.rule_deactivate(rule=make_rule(name="off"))

    ingest(ISSUED)

    found = sorted((s.rule.name, s.warning.kind_code) for s in Suggestion.objects.all())
    assert found == [("level 4+", "33"), ("never", "33"), ("洪水注意報", "18")]


def test_a_declare_rule_declares_once(
    nara: Municipality, django_capture_on_commit_callbacks: Any
) -> None:
    make_rule(kind_codes=["33"], action="declare")

    with django_capture_on_commit_callbacks(execute=True):
        ingest(ISSUED)
        ingest(CONTINUED)

    [disaster] = Disaster.objects.all()
    assert disaster.name == "2011年9月3日 大雨特別警報（奈良市）"
    assert disaster.hazards == ["landslide"]
    assert disaster.declared_by is None
    assert not disaster.is_exercise
    assert not Suggestion.objects.exists()
    texts = [line.text for line in ChronologyEntry.objects.filter(disaster=disaster)]
    assert "宣言ルール「大雨特別警報」により自動設置: 奈良市 大雨特別警報（レベル5）" in texts


def test_while_a_disaster_is_active_a_matching_rule_is_only_recorded(
    nara: Municipality, hq: User
) -> None:
    make_rule(kind_codes=["33"], action="declare")
    make_rule(name="suggest", kind_codes=["33"])
    from machi.emergency import services

    declared = services.disaster_declare(name="台風第12号", hazards=["flood"], declared_by=hq)

    ingest(ISSUED)

    assert list(Disaster.objects.all()) == [declared]
    assert not Suggestion.objects.exists()
    texts = [line.text for line in weather_lines()]
    assert any(
        "に該当: 奈良市 大雨特別警報（レベル5）（災害対策本部設置中: 台風第12号）" in t
        for t in texts
    )


def test_hq_declares_from_a_suggestion_once(nara: Municipality, hq: User) -> None:
    make_rule(kind_codes=["33"])
    ingest(ISSUED)
    suggestion = Suggestion.objects.get()

    disaster = services_weather.suggestion_declare(suggestion=suggestion, declared_by=hq)

    assert disaster.name == "2011年9月3日 大雨特別警報（奈良市）"
    assert disaster.hazards == ["landslide"]
    assert disaster.declared_by == hq
    suggestion.refresh_from_db()
    assert (suggestion.outcome, suggestion.handled_by) == ("declared", "hq")
    assert list(selectors_weather.suggestions_open()) == []
    with pytest.raises(WeatherError, match="already been handled"):
        services_weather.suggestion_declare(suggestion=suggestion, declared_by=hq)
    assert Disaster.objects.count() == 1


def test_hq_dismisses_a_suggestion(nara: Municipality, hq: User) -> None:
    make_rule(kind_codes=["33"])
    ingest(ISSUED)

    dismissed = services_weather.suggestion_dismiss(
        suggestion=Suggestion.objects.get(), dismissed_by=hq
    )

    assert dismissed.outcome == "dismissed"
    assert not Disaster.objects.exists()
    assert weather_lines()[-1].text.startswith("宣言の提案を見送り: ")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": " "}, "needs a name"),
        ({"kind_codes": ["3 3"]}, "not a JMA kind code"),
        ({"min_level": 6}, "between 1 and 5"),
        ({"hazard": "meteor"}, "unknown hazard"),
        ({"action": "panic"}, "unknown action"),
    ],
)
def test_rules_are_checked(db: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises(WeatherError, match=message):
        make_rule(**values)


# --------------------------------------------------------------------------------------------
# Polling the feed (the loopback server stands in for JMA's)


def atom(entries: list[tuple[str, str, str]]) -> bytes:
    """A feed like JMA's extra.xml: (id, file name, updated) per entry, newest first."""
    items = "".join(
        f"<entry><title>気象特別警報・警報・注意報</title><id>{entry_id}</id>"
        f"<updated>{updated}</updated><author><name>奈良地方気象台</name></author>"
        f'<link type="application/xml" href="https://www.data.jma.go.jp/developer/xml/data/{name}"/>'
        f'<content type="text/plain">【奈良県気象警報・注意報】</content></entry>'
        for entry_id, name, updated in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" lang="ja">'
        "<title>高頻度（随時）</title><subtitle>JMAXML publishing feed</subtitle>"
        "<updated>2011-09-07T02:46:00+00:00</updated>"
        "<id>urn:uuid:feed</id><author><name>Japan Meteorological Agency</name></author>"
        f"{items}</feed>"
    ).encode()


FEED_ENTRIES = [
    ("urn:uuid:issued", ISSUED, "2011-09-03T03:00:00Z"),
    ("urn:uuid:continued", CONTINUED, "2011-09-03T15:10:00Z"),
    ("urn:uuid:other", "15_11_01_150916_VPWW54.xml", "2011-09-03T16:00:00Z"),
]


@pytest.fixture
def feed(jma_feed_server: JmaFeedServer, nara: Municipality) -> JmaFeedServer:
    for _, name, _ in [*FEED_ENTRIES, ("", LOWERED, "")]:
        jma_feed_server.put_message(name)
    jma_feed_server.set_feed(atom(list(reversed(FEED_ENTRIES))))
    return jma_feed_server


def requests_for(server: JmaFeedServer, name: str) -> int:
    return server.requests[server.message_path(name)]


def test_first_poll_ingests_all_then_conditional_requests_fetch_nothing_twice(
    feed: JmaFeedServer,
) -> None:
    feed_path = urlsplit(feed.feed_url).path

    first = jma_poll(feed.feed_url)

    assert (first.entries, first.fetched, first.stored, first.not_here) == (3, 3, 2, 1)
    assert first.ok
    assert not first.not_modified
    assert all(requests_for(feed, name) == 1 for _, name, _ in FEED_ENTRIES)
    assert nara_rows()["33"].status == "継続"  # applied oldest first
    row = JmaFeed.objects.get(url=feed.feed_url)
    assert row.etag
    assert row.last_modified
    assert (row.last_status, row.last_error) == ("ok", "")
    assert row.polled_at is not None

    # A minute later nothing changed: the feed answers 304, no message is fetched.
    second = jma_poll(feed.feed_url)
    assert second.not_modified
    assert second.fetched == 0
    assert feed.conditional[feed_path] == 1
    assert feed.not_modified[feed_path] == 1
    assert sum(feed.requests.values()) == 1 + 3 + 1
    assert JmaFeed.objects.get(url=feed.feed_url).last_status == "not_modified"

    # A new entry is fetched, once; the others are not fetched again.
    feed.set_feed(atom([("urn:uuid:lowered", LOWERED, "2011-09-05T01:26:00Z"), *FEED_ENTRIES]))
    third = jma_poll(feed.feed_url)
    assert (third.fetched, third.stored) == (1, 1)
    assert requests_for(feed, LOWERED) == 1
    assert all(requests_for(feed, name) == 1 for _, name, _ in FEED_ENTRIES)
    assert not nara_rows()["33"].active
    assert all("machi" in agent.lower() for agent in feed.user_agents)


def test_a_failed_download_is_stored_nowhere_and_retried_at_the_next_poll(
    feed: JmaFeedServer, caplog: Any
) -> None:
    feed.fail(feed.message_path(CONTINUED), 503)

    first = jma_poll(feed.feed_url)

    assert (first.fetched, first.stored, first.failed) == (3, 1, 1)
    assert not JmaEntry.objects.filter(entry_id="urn:uuid:continued").exists()
    row = JmaFeed.objects.get(url=feed.feed_url)
    assert row.last_status == "partial"
    assert "503" in row.last_error
    assert row.etag == ""  # validators not moved on: the next poll reads the feed again
    assert "not downloaded" in caplog.text

    feed.heal(feed.message_path(CONTINUED))
    second = jma_poll(feed.feed_url)

    assert (second.fetched, second.stored, second.failed) == (1, 1, 0)
    assert requests_for(feed, CONTINUED) == 2
    assert requests_for(feed, ISSUED) == 1
    assert JmaFeed.objects.get(url=feed.feed_url).last_status == "ok"


def test_a_message_the_database_could_not_store_is_fetched_again(
    feed: JmaFeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    real = services_weather.jma_ingest

    def locked(data: bytes, *, entry_id: str, link: str = "", title: str = "") -> JmaEntry:
        if entry_id == "urn:uuid:continued":
            raise OperationalError("database is locked")
        return real(data, entry_id=entry_id, link=link, title=title)

    monkeypatch.setattr(services_weather, "jma_ingest", locked)
    first = jma_poll(feed.feed_url)
    assert (first.stored, first.failed) == (1, 1)
    assert "database is locked" in first.failures[0]
    assert JmaFeed.objects.get(url=feed.feed_url).etag == ""

    monkeypatch.setattr(services_weather, "jma_ingest", real)
    second = jma_poll(feed.feed_url)
    assert (second.fetched, second.stored) == (1, 1)
    assert JmaEntry.objects.filter(entry_id="urn:uuid:continued").exists()


def test_a_hostile_entry_is_rejected_and_the_others_are_stored(feed: JmaFeedServer) -> None:
    feed.put_message("evil_VPWW53_290000.xml", BILLION_LAUGHS)
    evil = ("urn:uuid:evil", "evil_VPWW53_290000.xml", "2011-09-03T02:00:00Z")
    feed.set_feed(atom([evil, *reversed(FEED_ENTRIES)]))

    summary = jma_poll(feed.feed_url)

    assert (summary.fetched, summary.rejected, summary.stored, summary.failed) == (4, 1, 2, 0)
    assert JmaEntry.objects.get(entry_id="urn:uuid:evil").status == JmaEntryStatus.REJECTED
    assert nara_rows()["33"].active


def test_a_feed_that_fails_is_recorded_and_nothing_raises(
    jma_feed_server: JmaFeedServer, nara: Municipality, caplog: Any
) -> None:
    jma_feed_server.fail("/developer/xml/feed/extra.xml", 503)

    summary = jma_poll(jma_feed_server.feed_url)

    assert "503" in summary.error
    row = JmaFeed.objects.get(url=jma_feed_server.feed_url)
    assert row.last_status == "error"
    assert "503" in row.last_error
    assert "could not be read" in caplog.text
    [health] = [h for h in selectors_weather.jma_feed_health() if h.url == row.url]
    assert health.last_status == "error"


def test_a_feed_being_polled_by_another_process_is_skipped(feed: JmaFeedServer) -> None:
    JmaFeed.objects.create(url=feed.feed_url, last_status="polling", polled_at=timezone.now())

    summary = jma_poll(feed.feed_url)

    assert summary.skipped
    assert sum(feed.requests.values()) == 0

    # A poller that died holds the feed for two minutes at most.
    JmaFeed.objects.filter(url=feed.feed_url).update(
        polled_at=timezone.now() - timedelta(minutes=3)
    )
    assert jma_poll(feed.feed_url).fetched == 3


def test_the_periodic_task_polls_the_configured_feeds_only_when_asked(
    feed: JmaFeedServer, settings: Any
) -> None:
    settings.MACHI_JMA_FEED_URLS = [feed.feed_url]
    settings.MACHI_JMA_POLL = False
    tasks.jma_poll_feeds.call_local()
    assert sum(feed.requests.values()) == 0

    settings.MACHI_JMA_POLL = True
    tasks.jma_poll_feeds.call_local()
    assert JmaEntry.objects.count() == 3
    # Called again within the same minute (a second consumer): the feed was just polled.
    tasks.jma_poll_feeds.call_local()
    assert feed.requests[urlsplit(feed.feed_url).path] == 1


def test_the_task_never_raises(settings: Any, nara: Municipality) -> None:
    settings.MACHI_JMA_POLL = True
    settings.MACHI_JMA_FEED_URLS = ["http://127.0.0.1:9/feed.xml", "ftp://example.org/feed"]

    tasks.jma_poll_feeds.call_local()

    assert set(JmaFeed.objects.values_list("last_status", flat=True)) == {"error"}


def test_feed_health_says_when_the_poller_is_late(db: Any, settings: Any) -> None:
    url = "https://www.data.jma.go.jp/developer/xml/feed/extra.xml"
    settings.MACHI_JMA_FEED_URLS = [url]
    settings.MACHI_JMA_POLL = True
    [never] = selectors_weather.jma_feed_health()
    assert never.late
    assert never.polled_at is None

    JmaFeed.objects.create(
        url=url, polled_at=timezone.now() - timedelta(minutes=2), last_status="ok"
    )
    assert not selectors_weather.jma_feed_health()[0].late
    JmaFeed.objects.filter(url=url).update(polled_at=timezone.now() - timedelta(minutes=4))
    assert selectors_weather.jma_feed_health()[0].late

    settings.MACHI_JMA_POLL = False  # the demo: nobody polls, so nothing is late
    assert not selectors_weather.jma_feed_health()[0].late


# --------------------------------------------------------------------------------------------
# `machi jma`


def test_the_ingest_command_says_what_became_of_each_file(
    nara: Municipality, tmp_path: Path
) -> None:
    other = "15_11_01_150916_VPWW54.xml"
    out, err = io.StringIO(), io.StringIO()

    with translation.override("en"):
        call_command("jma", "ingest", str(DATA / ISSUED), str(DATA / other), stdout=out, stderr=err)

    lines = out.getvalue().splitlines()
    assert lines[0] == f"{DATA / ISSUED}: stored: 奈良県気象警報・注意報"
    assert lines[1].endswith("not about the city: 山口県気象警報・注意報")
    assert err.getvalue() == ""
    digest = hashlib.sha256(sample(ISSUED)).hexdigest()
    assert JmaEntry.objects.filter(entry_id=f"file:{digest}").exists()
    assert AuditEvent.objects.filter(object_type="emergency.jmaentry", action="create").count() == 2

    out = io.StringIO()
    with translation.override("en"):
        call_command("jma", "ingest", str(DATA / ISSUED), stdout=out)
    assert out.getvalue().strip().endswith("(already stored)")


def test_the_ingest_command_exits_1_when_a_file_is_rejected(
    nara: Municipality, tmp_path: Path
) -> None:
    evil = tmp_path / "evil.xml"
    evil.write_bytes(BILLION_LAUGHS)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(SystemExit) as exited, translation.override("en"):
        call_command("jma", "ingest", str(evil), str(DATA / ISSUED), stdout=out, stderr=err)

    assert exited.value.code == 1
    assert f"{evil}: rejected: unsafe XML refused" in err.getvalue()
    assert "stored: 奈良県気象警報・注意報" in out.getvalue()
    with pytest.raises(SystemExit):
        call_command("jma", "ingest", str(tmp_path / "missing.xml"), stderr=io.StringIO())


def test_the_poll_command_polls_once_now(feed: JmaFeedServer) -> None:
    out = io.StringIO()

    call_command("jma", "poll", "--url", feed.feed_url, stdout=out)

    assert "3 entries, 3 new: 2 stored, 1 not about the city, 0 rejected" in out.getvalue()
    feed.fail("/developer/xml/feed/extra.xml", 500)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("jma", "poll", "--url", feed.feed_url, stdout=io.StringIO(), stderr=err)
    assert exited.value.code == 1
    assert "feed error: HTTP 500" in err.getvalue()


# --------------------------------------------------------------------------------------------
# Pages


@pytest.fixture
def signed_in(client: Client) -> Callable[[User], Client]:
    def login(user: User) -> Client:
        # Pages in English: the assertions read Machi's own words (msgids), not translations.
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
        sign_in(client, user)
        return client

    return login


def test_staff_read_the_weather_page_with_the_warnings_by_area(
    nara: Municipality, auditor: User, signed_in: Callable[[User], Client]
) -> None:
    ingest(ISSUED)
    client = signed_in(auditor)

    response = client.get("/console/weather/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "奈良市" in html
    assert "大雨特別警報" in html
    assert 'class="wx-level wx-level--5"' in html
    assert 'hx-get="/console/weather/warnings/"' in html
    assert "奈良県気象警報・注意報" in html  # the recent messages
    assert 'name="documents"' not in html  # no forms for auditors
    assert 'action="/console/weather/alerts/add/"' not in html
    partial = client.get("/console/weather/warnings/")
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    assert "大雨特別警報" in partial.content.decode()


def test_a_person_without_a_role_is_refused(
    nara: Municipality, make_staff: Callable[..., User], client: Client
) -> None:
    nobody = make_staff(None, username="nobody")
    client.force_login(nobody)
    for path in ("/console/weather/", "/console/weather/warnings/", "/console/weather/rules/"):
        assert client.get(path).status_code == 403


def test_the_auditor_reads_but_may_not_upload_or_declare(
    nara: Municipality, auditor: User, signed_in: Callable[[User], Client]
) -> None:
    make_rule(kind_codes=["33"])
    ingest(ISSUED)
    suggestion = Suggestion.objects.get()
    client = signed_in(auditor)

    upload = client.post("/console/weather/upload/", {"documents": io.BytesIO(sample(LOWERED))})
    declare = client.post(f"/console/weather/suggestions/{suggestion.pk}/declare/")

    assert upload.status_code == declare.status_code == 403
    assert not Disaster.objects.exists()
    assert not JmaEntry.objects.filter(entry_id__startswith="file:").exists()


def test_hq_uploads_messages_and_sees_what_became_of_each(
    nara: Municipality, hq: User, signed_in: Callable[[User], Client]
) -> None:
    client = signed_in(hq)
    files = [
        _named(sample(ISSUED), ISSUED),
        _named(BILLION_LAUGHS, "evil.xml"),
    ]

    response = client.post("/console/weather/upload/", {"documents": files}, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert f"{ISSUED}: stored: 奈良県気象警報・注意報" in html
    assert "evil.xml: rejected: unsafe XML refused" in html
    assert nara_rows()["33"].active


def test_an_upload_without_a_file_says_so(
    nara: Municipality, hq: User, signed_in: Callable[[User], Client]
) -> None:
    response = signed_in(hq).post("/console/weather/upload/", {})

    assert response.status_code == 400
    assert "error-summary" in response.content.decode()


def _named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_hq_declares_from_the_page_and_lands_on_the_disaster(
    nara: Municipality, hq: User, signed_in: Callable[[User], Client]
) -> None:
    make_rule(kind_codes=["33"])
    ingest(ISSUED)
    suggestion = Suggestion.objects.get()
    client = signed_in(hq)
    page = client.get("/console/weather/").content.decode()
    assert suggestion.text in page
    assert f'action="/console/weather/suggestions/{suggestion.pk}/declare/"' in page

    response = client.post(f"/console/weather/suggestions/{suggestion.pk}/declare/")

    disaster = Disaster.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/disasters/{disaster.pk}/"
    again = client.post(f"/console/weather/suggestions/{suggestion.pk}/declare/", follow=True)
    assert Disaster.objects.count() == 1
    assert "already been handled" in again.content.decode()


def test_hq_dismisses_from_the_page(
    nara: Municipality, hq: User, signed_in: Callable[[User], Client]
) -> None:
    make_rule(kind_codes=["33"])
    ingest(ISSUED)
    suggestion = Suggestion.objects.get()

    response = signed_in(hq).post(f"/console/weather/suggestions/{suggestion.pk}/dismiss/")

    assert response.status_code == 302
    suggestion.refresh_from_db()
    assert suggestion.outcome == "dismissed"


def test_hq_manages_declaration_rules(
    db: Any, hq: User, signed_in: Callable[[User], Client]
) -> None:
    client = signed_in(hq)
    assert client.get("/console/weather/rules/").status_code == 200

    response = client.post(
        "/console/weather/rules/",
        {
            "name": "大雨特別警報で自動設置",
            "kind_codes": "33, 35",
            "min_level": "",
            "hazard": "flood",
            "action": "declare",
        },
    )

    assert response.status_code == 302
    rule = DeclarationRule.objects.get()
    assert (rule.kind_codes, rule.min_level, rule.action) == (["33", "35"], None, "declare")
    bad = client.post("/console/weather/rules/", {"name": "", "hazard": "flood", "action": "x"})
    assert bad.status_code == 400
    assert client.post(f"/console/weather/rules/{rule.pk}/deactivate/").status_code == 302
    rule.refresh_from_db()
    assert not rule.active
    assert "大雨特別警報で自動設置" in client.get("/console/weather/rules/").content.decode()


def test_staff_read_the_rules_but_only_hq_changes_them(
    db: Any, auditor: User, signed_in: Callable[[User], Client]
) -> None:
    client = signed_in(auditor)

    assert client.get("/console/weather/rules/").status_code == 200
    assert client.post("/console/weather/rules/", {"name": "x"}).status_code == 403


# --------------------------------------------------------------------------------------------
# API


def bearer(user: User) -> dict[str, str]:
    _, secret = core_services.token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_api_lists_warnings_in_force_and_recent_messages(
    nara: Municipality, auditor: User, client: Client
) -> None:
    ingest(ISSUED)
    headers = bearer(auditor)

    warnings = client.get("/api/v1/weather/warnings", **headers)
    messages = client.get("/api/v1/weather/messages?limit=5", **headers)

    assert warnings.status_code == 200
    body = warnings.json()
    assert body[0]["kind_name"] == "大雨特別警報"
    assert body[0]["level"] == 5
    assert body[0]["area_name"] == "奈良市"
    assert {w["kind_code"] for w in body} == {"33", "14", "15", "18"}
    assert messages.status_code == 200
    assert messages.json()[0]["entry_id"] == ISSUED
    assert messages.json()[0]["status"] == "stored"


def test_api_hq_posts_a_message(nara: Municipality, hq: User, client: Client) -> None:
    headers = bearer(hq)

    created = client.post(
        "/api/v1/weather/messages", sample(ISSUED), content_type="application/xml", **headers
    )
    again = client.post(
        "/api/v1/weather/messages", sample(ISSUED), content_type="application/xml", **headers
    )

    assert created.status_code == 201
    assert created.json()["status"] == "stored"
    assert created.json()["entry_id"].startswith("file:")
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]


def test_api_refuses_bad_xml_with_a_problem_naming_the_body(
    nara: Municipality, hq: User, client: Client
) -> None:
    headers = bearer(hq)

    bad = client.post(
        "/api/v1/weather/messages", b"<Report", content_type="application/xml", **headers
    )
    wrong_type = client.post(
        "/api/v1/weather/messages", b"{}", content_type="application/json", **headers
    )

    assert bad.status_code == 422
    assert bad["Content-Type"] == "application/problem+json"
    [error] = bad.json()["errors"]
    assert error["field"] == "body"
    assert "malformed XML" in error["message"]
    assert "line" in error["message"]
    assert JmaEntry.objects.get().status == JmaEntryStatus.REJECTED  # kept, with the reason
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["field"] == "header.content-type"


def test_api_auditor_reads_but_may_not_post(
    nara: Municipality, auditor: User, client: Client, make_staff: Callable[..., User]
) -> None:
    response = client.post(
        "/api/v1/weather/messages",
        sample(ISSUED),
        content_type="application/xml",
        **bearer(auditor),
    )
    assert response.status_code == 403
    assert not JmaEntry.objects.exists()
    assert client.get("/api/v1/weather/warnings").status_code == 401


def test_api_warnings_answer_json(nara: Municipality, hq: User, client: Client) -> None:
    response = client.get("/api/v1/weather/warnings", **bearer(hq))
    assert response.status_code == 200
    assert json.loads(response.content) == []


def test_staff_role_is_needed_for_the_api(
    nara: Municipality, make_staff: Callable[..., User], client: Client
) -> None:
    counter = make_staff(Role.COUNTER, username="counter")
    assert client.get("/api/v1/weather/warnings", **bearer(counter)).status_code == 200
    assert (
        client.post(
            "/api/v1/weather/messages",
            sample(ISSUED),
            content_type="application/xml",
            **bearer(counter),
        ).status_code
        == 403
    )


def test_the_demo_rules_load_once(db: Any) -> None:
    from machi.emergency.demo import DEMO_RULES, load_demo_emergency
    from machi.emergency.models import DeclarationRule

    load_demo_emergency()
    load_demo_emergency()
    assert DeclarationRule.objects.count() == len(DEMO_RULES)
