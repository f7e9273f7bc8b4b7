"""Alerts of other authorities (CAP 1.1 and 1.2 in): kept once, updates and cancels followed.

The samples are real alerts of other countries' authorities (tests/emergency/data/cap); the
neighbour's 避難指示 is written by Machi's own CAP writer, as さいたま市 would publish it.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from lxml import etree

from machi.core import services as core_services
from machi.core.models import User
from machi.emergency import cap, selectors_weather
from machi.emergency.cap import EvacuationArea
from machi.emergency.models import ChronologyEntry, IncomingAlert
from machi.emergency.services_weather import AlertError, alert_fetch, alert_receive
from tests.conftest import sign_in
from tests.emergency.jma_feed_server import (
    JmaFeedServer,
    jma_feed_server_fixture,  # noqa: F401 (provides the fixture "jma_feed_server")
)

DATA = Path(__file__).parent / "data" / "cap"
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
JST = dt.timezone(dt.timedelta(hours=9))
NEIGHBOUR = "machi.111007.lg.jp"  # さいたま市


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def thunderstorm(*, identifier: str = "KSTO1055887203", expires: str | None = None) -> bytes:
    """The specification's example, with another identifier or expiry when asked."""
    root = etree.fromstring(sample("thunderstorm.cap"))
    root.find(f"{{{CAP12}}}identifier").text = identifier
    if expires is not None:
        root.find(f"{{{CAP12}}}info/{{{CAP12}}}expires").text = expires
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


SENT = dt.datetime(2099, 10, 12, 15, 0, tzinfo=JST)
AREAS = [EvacuationArea("上落合", "111007", None), EvacuationArea("下落合", "111007", None)]


def neighbour_order(sequence: int = 1, **kw: Any) -> bytes:
    values: dict[str, Any] = {
        "identifier": f"JP-111007-EVAC-000001-{sequence:02d}",
        "sender": NEIGHBOUR,
        "sent": SENT + dt.timedelta(minutes=sequence),
        "level": 4,
        "hazard": "flood",
        "areas": AREAS,
        "city_name": "さいたま市",
    }
    values.update(kw)
    return cap.render_alert(cap.evacuation_alert(**values))


def neighbour_lift() -> bytes:
    return cap.render_alert(
        cap.evacuation_lift_alert(
            identifier="JP-111007-EVAC-000001-03",
            sender=NEIGHBOUR,
            sent=SENT + dt.timedelta(hours=3),
            level=5,
            hazard="flood",
            lifted_areas=AREAS,
            references=[
                (NEIGHBOUR, "JP-111007-EVAC-000001-01", SENT + dt.timedelta(minutes=1)),
                (NEIGHBOUR, "JP-111007-EVAC-000001-02", SENT + dt.timedelta(minutes=2)),
            ],
            city_name="さいたま市",
        )
    )


def alert_lines() -> list[str]:
    lines = ChronologyEntry.objects.filter(kind="alert").order_by("at", "id")
    return list(lines.values_list("text", flat=True))


# --------------------------------------------------------------------------------------------
# Receiving


@pytest.mark.parametrize(
    ("name", "version", "sender"),
    [
        ("thunderstorm.cap", "1.2", "KSTO@NWS.NOAA.GOV"),
        ("canada.cap", "1.2", "cap@ec.gc.ca"),
        (
            "earthquake-iso8859-1.cap",
            "1.2",
            "http://earthquake.usgs.gov/research/monitoring/anss/neic/",
        ),
        ("weather.cap", "1.1", "w-nws.webmaster@noaa.gov"),
        ("earthquake.cap", "1.1", "http://earthquake.usgs.gov/research/monitoring/anss/neic/"),
    ],
)
def test_cap_11_and_12_alerts_are_kept_as_received(
    db: Any, name: str, version: str, sender: str
) -> None:
    data = sample(name)

    alert = alert_receive(data, source_url="https://example.org/a.cap", received_by="hq")

    assert (alert.version, alert.sender) == (version, sender)
    assert alert.sent.tzinfo is not None
    assert alert.source_url == "https://example.org/a.cap"
    assert alert.received_by == "hq"
    assert alert.document  # kept whole, for the page
    assert len(alert_lines()) == 1
    # The document read back parses to the same alert (the ISO-8859-1 one included).
    parsed = selectors_weather.alert_parsed(alert)
    assert parsed is not None
    assert parsed.identifier == alert.identifier


def test_the_first_info_gives_the_summary(db: Any) -> None:
    alert = alert_receive(sample("thunderstorm.cap"))

    assert (alert.event, alert.headline) == ("SEVERE THUNDERSTORM", "SEVERE THUNDERSTORM WARNING")
    assert (alert.severity, alert.urgency, alert.certainty) == ("Severe", "Immediate", "Observed")
    assert alert.area_desc.startswith("EXTREME NORTH CENTRAL TUOLUMNE COUNTY")
    pacific = dt.timezone(-dt.timedelta(hours=7))
    assert alert.expires == dt.datetime(2003, 6, 17, 16, 0, tzinfo=pacific)
    [line] = alert_lines()
    assert line.startswith(
        "他機関の警報: NATIONAL WEATHER SERVICE SACRAMENTO CA — SEVERE THUNDERSTORM WARNING"
    )
    assert ChronologyEntry.objects.get(kind="alert").important


def test_a_japanese_info_is_preferred_and_read_in_the_chronology(db: Any) -> None:
    alert = alert_receive(neighbour_order())

    assert alert.headline == "【警戒レベル4】さいたま市 避難指示（洪水）"
    assert alert.area_desc == "上落合、下落合"
    assert alert_lines() == [
        "他機関の警報: さいたま市 — 【警戒レベル4】さいたま市 避難指示（洪水）（上落合、下落合）"
    ]


def test_the_latin1_sample_keeps_its_accents(db: Any) -> None:
    alert = alert_receive(sample("earthquake-iso8859-1.cap"))

    assert "Usulután, El Salvador" in alert.document
    parsed = selectors_weather.alert_parsed(alert)
    assert parsed is not None
    assert "Usulután" in parsed.infos[0].areas[0].desc


def test_a_duplicate_returns_the_alert_already_kept(db: Any) -> None:
    first = alert_receive(sample("earthquake.cap"))
    # Same sender and identifier, another body: the USGS sample without optional fields.
    again = alert_receive(sample("no_optional_fields.cap"))

    assert again.pk == first.pk
    assert IncomingAlert.objects.count() == 1
    assert len(alert_lines()) == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty document"),
        (b"<alert", "malformed XML"),
        (b"<html/>", "not a CAP 1.1 or 1.2 alert"),
        (
            b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&x;</alert>',
            "unsafe XML refused",
        ),
    ],
)
def test_bad_input_is_refused_with_the_reason(db: Any, data: bytes, reason: str) -> None:
    with pytest.raises(AlertError, match=reason):
        alert_receive(data)
    assert not IncomingAlert.objects.exists()


def test_a_schema_invalid_alert_names_the_line(db: Any) -> None:
    data = sample("thunderstorm.cap").replace(b"<status>Actual</status>", b"<status>Real</status>")

    with pytest.raises(AlertError) as refused:
        alert_receive(data)

    assert refused.value.line == 6
    assert "cap12.xsd" in refused.value.reason
    assert refused.value.field == "document"


# --------------------------------------------------------------------------------------------
# Updates, cancels, expiry


def test_an_update_supersedes_and_a_cancel_cancels(db: Any) -> None:
    first = alert_receive(neighbour_order(1))
    assert [v.alert for v in selectors_weather.alerts_current()] == [first]

    raised = alert_receive(
        neighbour_order(
            2,
            level=5,
            msg_type="Update",
            references=[(NEIGHBOUR, first.identifier, first.sent)],
        )
    )

    assert [v.alert for v in selectors_weather.alerts_current()] == [raised]
    old = selectors_weather.alert_by_id(first.pk)
    assert old is not None
    assert (old.state, old.by) == ("superseded", raised)

    lift = alert_receive(neighbour_lift())

    assert selectors_weather.alerts_current() == []
    states = {v.alert.pk: (v.state, v.by) for v in selectors_weather.alerts_all()}
    assert states[first.pk] == ("cancelled", lift)
    assert states[raised.pk] == ("cancelled", lift)
    assert states[lift.pk][0] == "inactive"
    assert alert_lines()[1].startswith("他機関の警報（更新）: さいたま市")
    assert alert_lines()[2].startswith("他機関の警報（取消）: さいたま市")


def test_expired_and_test_alerts_are_not_current(db: Any) -> None:
    alert_receive(sample("thunderstorm.cap"))  # expired in 2003
    alert_receive(neighbour_order(1, status="Exercise"))
    alert_receive(neighbour_order(5, status="Test", identifier="JP-111007-TEST"))
    live = alert_receive(thunderstorm(identifier="KSTO-LIVE", expires="2099-01-01T00:00:00-07:00"))

    current = [v.alert for v in selectors_weather.alerts_current()]

    assert live in current
    assert [a.status for a in current] == ["Exercise", "Actual"]
    lines = alert_lines()
    assert any(line.startswith("【訓練】他機関の警報") for line in lines)
    assert any(line.startswith("【試験】他機関の警報") for line in lines)


# --------------------------------------------------------------------------------------------
# Fetching by address


def test_an_alert_is_fetched_by_its_address(
    db: Any, jma_feed_server: JmaFeedServer, settings: Any
) -> None:
    settings.MACHI_ALERT_FETCH_PRIVATE = True  # the loopback server stands in for the sender
    url = jma_feed_server.put("/cap/thunderstorm.cap", sample("thunderstorm.cap"))

    alert = alert_fetch(url, received_by="hq")

    assert alert.source_url == url
    assert alert.identifier == "KSTO1055887203"
    assert jma_feed_server.requests["/cap/thunderstorm.cap"] == 1


def test_fetch_errors_are_clear(db: Any, jma_feed_server: JmaFeedServer, settings: Any) -> None:
    settings.MACHI_ALERT_FETCH_PRIVATE = True
    with pytest.raises(AlertError, match="could not fetch the alert: HTTP 404") as missing:
        alert_fetch(jma_feed_server.url("/cap/missing.cap"))
    assert missing.value.field == "url"
    with pytest.raises(AlertError, match="http or https"):
        alert_fetch("file:///etc/passwd")
    big = jma_feed_server.put("/cap/big.cap", b"<alert>" + b" " * (3 * 1024 * 1024) + b"</alert>")
    with pytest.raises(AlertError, match="too large"):
        alert_fetch(big)


def test_addresses_inside_the_network_are_refused_by_default(
    db: Any, jma_feed_server: JmaFeedServer
) -> None:
    url = jma_feed_server.put("/cap/thunderstorm.cap", sample("thunderstorm.cap"))

    with pytest.raises(AlertError, match="not a public address"):
        alert_fetch(url)
    assert jma_feed_server.requests["/cap/thunderstorm.cap"] == 0


# --------------------------------------------------------------------------------------------
# Pages and API


@pytest.fixture
def signed_in(client: Client) -> Callable[[User], Client]:
    def login(user: User) -> Client:
        # Pages in English: the assertions read Machi's own words (msgids), not translations.
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
        sign_in(client, user)
        return client

    return login


def _file(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_hq_adds_an_alert_by_upload_and_reads_its_page(
    db: Any, hq: User, signed_in: Callable[[User], Client]
) -> None:
    client = signed_in(hq)
    # A contact with markup in it (escaped in the XML, as it must be).
    evil = b"<contact>&lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;</contact>"
    data = sample("thunderstorm.cap").replace(b"<contact>BARUFFALDI/JUSKIE</contact>", evil)

    response = client.post("/console/weather/alerts/add/", {"document": _file(data, "t.cap")})

    alert = IncomingAlert.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/weather/alerts/{alert.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "SEVERE THUNDERSTORM WARNING" in page
    assert "TAKE COVER IN A SUBSTANTIAL SHELTER" in page
    # The raw XML is shown escaped, never as markup.
    assert "&lt;alert xmlns" in page
    assert "<script>alert(1)</script>" not in page
    listing = client.get("/console/weather/").content.decode()
    assert "SEVERE THUNDERSTORM WARNING" in listing


def test_a_bad_alert_is_refused_on_the_page_with_the_reason_and_line(
    db: Any, hq: User, signed_in: Callable[[User], Client]
) -> None:
    data = sample("thunderstorm.cap").replace(b"<status>Actual</status>", b"<status>Real</status>")

    response = signed_in(hq).post(
        "/console/weather/alerts/add/", {"document": _file(data, "t.cap")}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "error-summary" in html
    assert "cap12.xsd" in html
    assert "(line 6)" in html
    assert not IncomingAlert.objects.exists()


def test_the_add_form_needs_an_address_or_a_file(
    db: Any, hq: User, signed_in: Callable[[User], Client]
) -> None:
    response = signed_in(hq).post("/console/weather/alerts/add/", {"url": ""})

    assert response.status_code == 400
    assert 'href="#id_url"' in response.content.decode()


def test_the_auditor_reads_alerts_but_may_not_add_one(
    db: Any, auditor: User, signed_in: Callable[[User], Client]
) -> None:
    alert = alert_receive(sample("thunderstorm.cap"))
    client = signed_in(auditor)

    assert client.get(f"/console/weather/alerts/{alert.pk}/").status_code == 200
    response = client.post(
        "/console/weather/alerts/add/", {"document": _file(sample("canada.cap"), "c.cap")}
    )
    assert response.status_code == 403
    assert IncomingAlert.objects.count() == 1


def bearer(user: User) -> dict[str, str]:
    _, secret = core_services.token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_api_hq_posts_a_raw_alert_then_lists_it(db: Any, hq: User, client: Client) -> None:
    headers = bearer(hq)

    created = client.post(
        "/api/v1/alerts", neighbour_order(), content_type="application/cap+xml", **headers
    )
    again = client.post(
        "/api/v1/alerts", neighbour_order(), content_type="application/xml", **headers
    )
    listed = client.get("/api/v1/alerts?current=true", **headers)

    assert created.status_code == 201
    assert created.json()["headline"] == "【警戒レベル4】さいたま市 避難指示（洪水）"
    assert created.json()["state"] == "current"
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    assert [a["id"] for a in listed.json()] == [created.json()["id"]]


def test_api_fetches_an_alert_by_url(
    db: Any, hq: User, client: Client, jma_feed_server: JmaFeedServer, settings: Any
) -> None:
    settings.MACHI_ALERT_FETCH_PRIVATE = True
    url = jma_feed_server.put("/cap/canada.cap", sample("canada.cap"))

    response = client.post(
        "/api/v1/alerts", {"url": url}, content_type="application/json", **bearer(hq)
    )

    assert response.status_code == 201
    assert response.json()["source_url"] == url
    assert response.json()["msg_type"] == "Update"


@pytest.mark.parametrize(
    ("body", "content_type", "field", "words"),
    [
        (b"<alert", "application/xml", "body", "malformed XML"),
        (b'{"url": "ftp://x"}', "application/json", "body.url", "http or https"),
        (b'{"address": 1}', "application/json", "body.url", '{"url"'),
        (b"hello", "text/plain", "header.content-type", "application/cap+xml"),
    ],
)
def test_api_refuses_bad_alerts_with_a_problem_naming_the_field(
    db: Any, hq: User, client: Client, body: bytes, content_type: str, field: str, words: str
) -> None:
    response = client.post("/api/v1/alerts", body, content_type=content_type, **bearer(hq))

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert words in error["message"]


def test_api_auditor_reads_alerts_but_may_not_post(db: Any, auditor: User, client: Client) -> None:
    headers = bearer(auditor)
    alert_receive(sample("thunderstorm.cap"))

    assert client.get("/api/v1/alerts", **headers).status_code == 200
    response = client.post(
        "/api/v1/alerts", sample("canada.cap"), content_type="application/cap+xml", **headers
    )
    assert response.status_code == 403
    assert IncomingAlert.objects.count() == 1
