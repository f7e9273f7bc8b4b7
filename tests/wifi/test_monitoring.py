"""Wi-Fi monitoring: APs push NetJSON, Machi keeps their health, hours and unique clients
(never a MAC address), and shows them live to the Wi-Fi section, HQ and auditors."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree as ET
from django.apps import apps
from django.core import serializers
from django.db import connection
from django.test import Client
from django.utils import timezone

from machi.core import crypto
from machi.core.models import Facility, User
from machi.core.roles import Role
from machi.wifi import charts, selectors_monitor, services_monitor
from machi.wifi.models import (
    AccessPoint,
    AlertKind,
    ApHour,
    ClientSeen,
    Health,
    Site,
    SsidProfile,
    WifiAlert,
)
from tests.core.test_api import bearer

KEY = "machiap_the-monitoring-key-of-this-ap"
PHONE_MACS = ["a2:11:22:33:44:01", "a2:11:22:33:44:02", "a2:11:22:33:44:03"]
SVG = "{http://www.w3.org/2000/svg}"


# --- Helpers (also used by test_alerts.py) --------------------------------------------------------


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def make_ap(site: Site, n: int, *, key: str | None = KEY, **fields: Any) -> AccessPoint:
    values: dict[str, Any] = {
        "site": site,
        "name": f"AP-{n:03d}",
        "mac": f"00:1A:2B:00:{n // 256:02X}:{n % 256:02X}",
        "management_url": f"http://127.0.0.1:9/ap/{n}/ubus",
        "driver": "openwrt",
        "monitoring_key_digest": digest(key) if key else "",
    }
    values.update(fields)
    return AccessPoint.objects.create(**values)


def netjson(
    *,
    clients: list[str] | tuple[str, ...] = (),
    rx: int = 10_000,
    tx: int = 50_000,
    free: int = 60_000_000,
    available: int | None = None,
    load: float = 0.2,
    cpus: int = 1,
    uptime: int = 3600,
) -> dict[str, Any]:
    """A DeviceMonitoring document as openwisp-monitoring's agent sends it: one radio with the
    clients, and a wired uplink whose traffic must not count as Wi-Fi."""
    memory: dict[str, int] = {
        "total": 128_000_000,
        "free": free,
        "buffered": 2_000_000,
        "cached": 6_000_000,
    }
    if available is not None:
        memory["available"] = available
    return {
        "type": "DeviceMonitoring",
        "general": {"hostname": "ap", "local_time": 1_700_000_000, "uptime": uptime},
        "resources": {"load": [load, load, load], "cpus": cpus, "memory": memory},
        "interfaces": [
            {
                "name": "eth0",
                "type": "ethernet",
                "statistics": {"rx_bytes": 9_999_999, "tx_bytes": 9_999_999},
            },
            {
                "name": "wlan0",
                "type": "wireless",
                "statistics": {"rx_bytes": rx, "tx_bytes": tx},
                "wireless": {
                    "ssid": "Toda_Free_Wi-Fi",
                    "clients": [{"mac": mac, "signal": -50} for mac in clients],
                },
            },
        ],
    }


def push(client: Client, ap: AccessPoint, document: Any, *, key: str = KEY) -> Any:
    body = document if isinstance(document, bytes | str) else json.dumps(document)
    return client.post(
        f"/api/v1/wifi/monitoring/{ap.mac}",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    services_monitor.forget_process_state()
    yield
    services_monitor.forget_process_state()


@pytest.fixture
def site(facilities: list[Facility]) -> Site:
    return Site.objects.create(facility=facilities[0])


@pytest.fixture
def other_site(facilities: list[Facility]) -> Site:
    return Site.objects.create(facility=facilities[1])


@pytest.fixture
def ap(site: Site) -> AccessPoint:
    return make_ap(site, 1)


@pytest.fixture
def wifi_admin(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.WIFI_ADMIN, username="wifi", email="wifi@city.example.jp")


# --- The push endpoint ----------------------------------------------------------------------------


def test_a_report_updates_the_ap_its_hour_and_its_clients(client: Client, ap: AccessPoint) -> None:
    response = push(client, ap, netjson(clients=PHONE_MACS, rx=1_000, tx=4_000, uptime=7200))
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted", "health": "ok"}
    ap.refresh_from_db()
    assert ap.health == Health.OK
    assert ap.health_reason == ""
    assert ap.last_seen_at is not None
    assert (timezone.now() - ap.last_seen_at).total_seconds() < 5
    assert ap.clients == 3
    # Only the radio's counters: the wired uplink would count the same traffic twice.
    assert (ap.rx_bytes, ap.tx_bytes) == (1_000, 4_000)
    assert ap.uptime_s == 7200
    assert ap.load == pytest.approx(0.2)
    assert ap.memory_used == pytest.approx(1 - (60 + 2 + 6) / 128)
    hour = ApHour.objects.get(ap=ap)
    assert hour.hour.minute == hour.hour.second == 0
    assert (hour.reports, hour.max_clients) == (1, 3)
    # When the counters since boot grew is unknown: the first report counts no traffic.
    assert (hour.rx_bytes, hour.tx_bytes) == (0, 0)

    push(client, ap, netjson(clients=PHONE_MACS[:1], rx=1_500, tx=4_100))
    push(client, ap, netjson(clients=PHONE_MACS[:2], rx=300, tx=200))  # rebooted: counters reset
    hour.refresh_from_db()
    assert (hour.reports, hour.max_clients) == (3, 3)
    assert (hour.rx_bytes, hour.tx_bytes) == (500 + 300, 100 + 200)
    ap.refresh_from_db()
    assert (ap.clients, ap.rx_bytes, ap.tx_bytes) == (2, 300, 200)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_report_is_written_and_committed_at_once(
    facilities: list[Facility],
) -> None:
    """A web request is not inside a transaction: the report takes the short way to the
    database (on SQLite straight through sqlite3, one IMMEDIATE transaction)."""
    site = Site.objects.create(facility=facilities[0])
    ap = make_ap(site, 1)
    http = Client()
    assert push(http, ap, netjson(clients=PHONE_MACS, rx=100, tx=200)).status_code == 200
    AccessPoint.objects.filter(pk=ap.pk).update(health=Health.CRITICAL)
    WifiAlert.objects.create(ap=ap, kind=AlertKind.UNREACHABLE)
    assert push(http, ap, netjson(clients=PHONE_MACS, rx=150, tx=260)).status_code == 200
    ap.refresh_from_db()
    assert (ap.health, ap.clients, ap.rx_bytes, ap.tx_bytes) == (Health.OK, 3, 150, 260)
    hour = ApHour.objects.get(ap=ap)
    assert (hour.reports, hour.max_clients, hour.rx_bytes, hour.tx_bytes) == (2, 3, 50, 60)
    assert ClientSeen.objects.filter(site=site).count() == 3
    assert not WifiAlert.objects.filter(cleared_at__isnull=True).exists()
    if connection.vendor == "postgresql":
        # The prepared statement gone (a pooler's other server session): prepared again.
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE machi_wifi_report")
        assert push(http, ap, netjson(rx=170, tx=270)).status_code == 200
        assert ApHour.objects.get(ap=ap).reports == 3
    # A removed AP: 404, and nothing is left half-written.
    AccessPoint.objects.filter(pk=ap.pk).delete()
    assert push(http, ap, netjson()).status_code == 404
    assert push(http, ap, netjson()).status_code == 404


def test_unique_clients_are_counted_per_site_and_hour_without_keeping_a_mac(
    client: Client, site: Site, other_site: Site, ap: AccessPoint
) -> None:
    neighbour = make_ap(site, 2, key="machiap_second")
    elsewhere = make_ap(other_site, 3, key="machiap_third")
    push(client, ap, netjson(clients=PHONE_MACS[:2]))
    push(client, ap, netjson(clients=PHONE_MACS[:2]))  # the same phones again
    # The same phone, roaming to the next AP of the site, written in capitals: one device.
    push(
        client,
        neighbour,
        netjson(clients=[PHONE_MACS[1].upper(), PHONE_MACS[2]]),
        key="machiap_second",
    )
    push(client, elsewhere, netjson(clients=PHONE_MACS[:1]), key="machiap_third")

    assert ClientSeen.objects.filter(site=site).count() == 3
    assert ClientSeen.objects.filter(site=other_site).count() == 1
    stored = set(ClientSeen.objects.values_list("client", flat=True))
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in stored)
    assert services_monitor.client_digest(PHONE_MACS[0]) in stored
    since = timezone.now() - dt.timedelta(hours=1)
    counted = selectors_monitor.unique_clients(since=since)
    assert sorted((s, n) for s, _hour, n in counted) == [(site.pk, 3), (other_site.pk, 1)]
    assert [n for _s, _h, n in selectors_monitor.unique_clients(other_site.pk, since=since)] == [1]

    # No table of the Wi-Fi room, and no audit event, holds a client's MAC in any spelling.
    dumped = "".join(
        serializers.serialize("json", model.objects.all())
        for model in apps.get_models()
        if model._meta.app_label in {"wifi", "core"}
    ).lower()
    for mac in PHONE_MACS:
        assert mac not in dumped
        assert mac.replace(":", "") not in dumped
        assert mac.replace(":", "-") not in dumped


def test_the_client_hash_is_keyed_by_the_secret_key(settings: Any) -> None:
    first = services_monitor.client_digest(PHONE_MACS[0])
    assert first == services_monitor.client_digest(PHONE_MACS[0].upper().replace(":", "-"))
    assert first != hashlib.sha256(PHONE_MACS[0].encode()).hexdigest()[:32]
    settings.SECRET_KEY = "another-secret-key-that-is-long-enough-for-django-0123456789"
    assert services_monitor.client_digest(PHONE_MACS[0]) != first


@pytest.mark.parametrize("written", ["00-1a-2b-00-00-01", "001A2B000001", "00:1a:2b:00:00:01"])
def test_the_mac_in_the_address_may_be_spelled_any_usual_way(
    client: Client, ap: AccessPoint, written: str
) -> None:
    response = client.post(
        f"/api/v1/wifi/monitoring/{written}",
        json.dumps(netjson()),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {KEY}",
    )
    assert response.status_code == 200, response.content


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_a_wrong_key_is_refused_and_changes_nothing(client: Client, ap: AccessPoint) -> None:
    _problem(push(client, ap, netjson(), key="machiap_guessed"), 403)
    keyless = make_ap(ap.site, 2, key=None)  # monitoring not set up: every key is refused
    _problem(push(client, keyless, netjson(), key=""), 401)
    _problem(push(client, keyless, netjson(), key="anything"), 403)
    ap.refresh_from_db()
    assert ap.last_seen_at is None
    assert ap.health == Health.UNKNOWN
    assert not ApHour.objects.exists()


def test_without_a_bearer_key_the_answer_is_401(client: Client, ap: AccessPoint) -> None:
    response = client.post(
        f"/api/v1/wifi/monitoring/{ap.mac}", json.dumps(netjson()), content_type="application/json"
    )
    _problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_mac_is_404_and_a_malformed_one_names_the_field(
    client: Client, ap: AccessPoint
) -> None:
    unknown = client.post(
        "/api/v1/wifi/monitoring/00:1A:2B:FF:FF:FF",
        json.dumps(netjson()),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {KEY}",
    )
    _problem(unknown, 404)
    malformed = client.post(
        "/api/v1/wifi/monitoring/not-a-mac",
        json.dumps(netjson()),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {KEY}",
    )
    assert _problem(malformed, 400)["errors"][0]["field"] == "path.mac"


def _broken_client_mac() -> dict[str, Any]:
    document = netjson(clients=PHONE_MACS[:1])
    document["interfaces"][1]["wireless"]["clients"].append({"mac": "zz:zz"})
    return document


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (b"{not json", "body"),
        ([1, 2], "body"),
        ({"type": "DeviceConfiguration"}, "body.type"),
        ({**netjson(), "resources": {"memory": {"total": "lots"}}}, "body.resources.memory.total"),
        ({**netjson(), "resources": {"load": "high"}}, "body.resources.load"),
        ({**netjson(), "general": {"uptime": -5}}, "body.general.uptime"),
        ({**netjson(), "interfaces": {"wlan0": {}}}, "body.interfaces"),
        (_broken_client_mac(), "body.interfaces.1.wireless.clients.1.mac"),
    ],
)
def test_a_bad_report_is_400_naming_the_field(
    client: Client, ap: AccessPoint, document: Any, field: str
) -> None:
    body = _problem(push(client, ap, document), 400)
    assert [e["field"] for e in body["errors"]] == [field]
    assert field in body["detail"]
    ap.refresh_from_db()
    assert ap.last_seen_at is None


def test_a_report_larger_than_256_kb_is_refused(client: Client, ap: AccessPoint) -> None:
    document = netjson()
    document["padding"] = "x" * (256 * 1024)
    _problem(push(client, ap, document), 413)


def test_only_post_is_accepted(client: Client, ap: AccessPoint) -> None:
    response = client.get(f"/api/v1/wifi/monitoring/{ap.mac}")
    _problem(response, 405)
    assert response["Allow"] == "POST"


def test_the_simulators_documents_are_accepted(client: Client, ap: AccessPoint) -> None:
    """The AP simulator (benchmarks, demo) sends what openwisp-monitoring's agent sends."""
    simulator = pytest.importorskip("machi.wifi.simulator")
    fake = simulator.SimulatedAp(simulator.ApConfig(n=1, mac=ap.mac, key=KEY))
    fake.tick(60)
    response = push(client, ap, fake.monitoring())
    assert response.status_code == 200, response.content
    ap.refresh_from_db()
    assert ap.clients == sum(len(v.clients) for v in fake.vifs)


# --- Health rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "health", "reason"),
    [
        (netjson(), Health.OK, ""),
        (netjson(free=1_000_000, available=3_000_000), Health.PROBLEM, "memory 97%"),
        (netjson(load=0.95), Health.PROBLEM, "load 0.95 > 0.90"),
        (netjson(load=1.7, cpus=2), Health.OK, ""),
        (netjson(load=1.9, cpus=2), Health.PROBLEM, "load 1.90 > 1.80"),
    ],
)
def test_resources_decide_between_ok_and_problem(
    client: Client, ap: AccessPoint, document: dict[str, Any], health: str, reason: str
) -> None:
    assert push(client, ap, document).json()["health"] == health
    ap.refresh_from_db()
    assert (ap.health, ap.health_reason) == (health, reason)


def _phones(n: int) -> list[str]:
    return [f"a2:00:00:00:{i // 256:02x}:{i % 256:02x}" for i in range(n)]


def test_more_clients_than_the_limit_is_a_problem(
    client: Client, ap: AccessPoint, settings: Any
) -> None:
    assert push(client, ap, netjson(clients=_phones(50))).json()["health"] == Health.OK
    assert push(client, ap, netjson(clients=_phones(51))).json()["health"] == Health.PROBLEM
    ap.refresh_from_db()
    assert ap.health_reason == "clients 51 > 50"
    assert selectors_monitor.reason_label(ap.health_reason)  # put in words for the pages

    settings.MACHI_WIFI_MAX_CLIENTS = 100
    services_monitor.forget_process_state()
    assert push(client, ap, netjson(clients=_phones(51))).json()["health"] == Health.OK


def test_the_aps_profile_sets_its_client_limit(client: Client, ap: AccessPoint) -> None:
    profile = SsidProfile.objects.create(
        name="shelter", kind="disaster", ssid="00000JAPAN", max_clients=5
    )
    ap.profiles.add(profile)
    services_monitor.forget_process_state()
    assert push(client, ap, netjson(clients=_phones(6))).json()["health"] == Health.PROBLEM
    ap.refresh_from_db()
    assert ap.health_reason == "clients 6 > 5"


def test_an_ap_is_unknown_until_its_first_report(ap: AccessPoint) -> None:
    assert ap.health == Health.UNKNOWN
    services_monitor.sweep_silence(timezone.now() + dt.timedelta(hours=1))
    ap.refresh_from_db()
    assert ap.health == Health.UNKNOWN
    assert not WifiAlert.objects.exists()


# --- Selectors for other pages --------------------------------------------------------------------


def test_connected_clients_by_site_sums_the_aps_seen_in_the_last_minute(
    site: Site, other_site: Site
) -> None:
    now = timezone.now()
    make_ap(site, 1, clients=4, health=Health.OK, last_seen_at=now - dt.timedelta(seconds=5))
    make_ap(site, 2, clients=6, health=Health.PROBLEM, last_seen_at=now)
    make_ap(site, 3, clients=9, health=Health.OK, last_seen_at=now - dt.timedelta(minutes=3))
    make_ap(other_site, 4, clients=2, health=Health.CRITICAL, last_seen_at=now)
    assert selectors_monitor.connected_clients_by_site(now) == {site.pk: 10}


# --- Charts ---------------------------------------------------------------------------------------


def test_charts_are_valid_accessible_svg_without_inline_style() -> None:
    start = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)
    series = [(start + dt.timedelta(hours=h), h * 3 % 17) for h in range(24)]
    svg = str(
        charts.bar_chart(series, title="Clients <AP-1>", unit="clients", tick=charts.every_hours(3))
    )
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None
    assert desc is not None
    assert title.text == "Clients <AP-1>"
    assert set(root.get("aria-labelledby", "").split()) == {title.get("id"), desc.get("id")}
    assert "16" in (desc.text or "")  # the peak is described in words
    bars = root.findall(f".//{SVG}rect")
    assert len(bars) == 24
    assert all(float(bar.get("height", "-1")) >= 0 for bar in bars)
    assert all(bar.find(f"{SVG}title") is not None for bar in bars)
    assert "style=" not in svg
    empty = ET.fromstring(str(charts.bar_chart([], title="x", unit="y", tick=charts.every_day)))
    assert empty.findall(f".//{SVG}rect") == []


# --- Pages ----------------------------------------------------------------------------------------


def _assert_csp_clean(page: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page


def test_the_board_shows_every_ap_live_to_the_wifi_section(
    client_for: Callable[[User], Client], wifi_admin: User, site: Site, ap: AccessPoint
) -> None:
    quiet = make_ap(site, 2)
    WifiAlert.objects.create(ap=quiet, kind=AlertKind.UNREACHABLE, detail="unreachable: no report")
    AccessPoint.objects.filter(pk=quiet.pk).update(
        health=Health.CRITICAL,
        health_reason="unreachable: no report",
        last_seen_at=timezone.now() - dt.timedelta(seconds=45),
    )
    http = client_for(wifi_admin)
    push(Client(), ap, netjson(clients=PHONE_MACS))
    page = http.get("/console/wifi/monitor/")
    assert page.status_code == 200
    text = page.content.decode()
    _assert_csp_clean(text)
    assert 'hx-trigger="every 10s"' in text
    assert "AP-001" in text
    assert "AP-002" in text
    assert "health--critical" in text
    assert 'href="/console/wifi/monitor/ap/' in text
    board = page.context["board"]
    assert board.counts[Health.OK] == 1
    assert board.counts[Health.CRITICAL] == 1
    assert [a.ap_id for a in board.alerts] == [quiet.pk]
    # The htmx refresh gets the board alone; the filters narrow it.
    partial = http.get("/console/wifi/monitor/?health=critical", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert b"<html" not in partial.content
    assert b"AP-002" in partial.content
    assert b"AP-001" not in partial.content
    by_site = http.get(f"/console/wifi/monitor/?site={site.pk + 1000}")
    assert b"AP-001" not in by_site.content


def test_the_board_warns_when_the_worker_does_not_sweep(
    client_for: Callable[[User], Client], wifi_admin: User, ap: AccessPoint
) -> None:
    http = client_for(wifi_admin)
    assert http.get("/console/wifi/monitor/").context["sweep_stale"]
    services_monitor.monitor_pass()
    assert not http.get("/console/wifi/monitor/").context["sweep_stale"]


def test_one_aps_page_has_charts_a_table_and_its_alerts(
    client_for: Callable[[User], Client], wifi_admin: User, ap: AccessPoint
) -> None:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    ApHour.objects.create(ap=ap, hour=now - dt.timedelta(hours=2), max_clients=17, reports=5)
    ApHour.objects.create(ap=ap, hour=now - dt.timedelta(days=3), max_clients=23, reports=9)
    WifiAlert.objects.create(
        ap=ap,
        kind=AlertKind.UNREACHABLE,
        opened_at=now - dt.timedelta(days=1),
        cleared_at=now - dt.timedelta(hours=23),
    )
    page = client_for(wifi_admin).get(f"/console/wifi/monitor/ap/{ap.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    _assert_csp_clean(text)
    assert text.count("<svg") == 2
    assert text.count('role="img"') == 2
    day, week = (ET.fromstring(str(c)) for c in page.context["charts"].values())
    assert len(day.findall(f".//{SVG}rect")) == 24
    assert len(week.findall(f".//{SVG}rect")) == 24 * 7
    assert ">17<" in text  # in the table beside the chart
    assert ">23<" in text
    assert len(page.context["alerts"]) == 1


def test_a_sites_page_counts_unique_clients_per_hour(
    client_for: Callable[[User], Client], wifi_admin: User, site: Site, ap: AccessPoint
) -> None:
    push(Client(), ap, netjson(clients=PHONE_MACS))
    page = client_for(wifi_admin).get(f"/console/wifi/monitor/site/{site.pk}/")
    assert page.status_code == 200
    _assert_csp_clean(page.content.decode())
    assert page.context["connected"] == 3
    assert page.context["day_rows"][0][1] == 3  # this hour, newest first
    assert b"AP-001" in page.content


@pytest.mark.parametrize("role", [Role.WIFI_ADMIN, Role.HQ, Role.AUDITOR])
def test_the_wifi_section_hq_and_auditors_read_the_pages(
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    site: Site,
    ap: AccessPoint,
    role: Role,
) -> None:
    http = client_for(make_staff(role, username=f"reader-{role}"))
    for url in (
        "/console/wifi/monitor/",
        f"/console/wifi/monitor/ap/{ap.pk}/",
        f"/console/wifi/monitor/site/{site.pk}/",
    ):
        assert http.get(url).status_code == 200, url


def test_counter_staff_and_people_without_a_role_are_refused(
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    counter: User,
    site: Site,
    ap: AccessPoint,
) -> None:
    urls = [
        "/console/wifi/monitor/",
        f"/console/wifi/monitor/ap/{ap.pk}/",
        f"/console/wifi/monitor/site/{site.pk}/",
    ]
    for user in (counter, make_staff(None, username="nobody")):
        http = client_for(user)
        for url in urls:
            assert http.get(url).status_code == 403, (user, url)
    anonymous = Client().get(urls[0])
    assert anonymous.status_code == 302
    assert "/console/login/" in anonymous["Location"]


# --- API ------------------------------------------------------------------------------------------


def test_the_health_api_counts_aps_and_lists_open_alerts(
    wifi_admin: User, hq: User, counter: User, site: Site, ap: AccessPoint
) -> None:
    push(Client(), ap, netjson())
    quiet = make_ap(site, 2, health=Health.CRITICAL)
    make_ap(site, 3)
    alert = WifiAlert.objects.create(ap=quiet, kind=AlertKind.UNREACHABLE, detail="x")
    WifiAlert.objects.create(ap=ap, kind=AlertKind.CLIENTS, cleared_at=timezone.now())
    for reader in (wifi_admin, hq):
        response = Client().get("/api/v1/wifi/health", **bearer(reader))
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["counts"] == {"ok": 1, "problem": 0, "critical": 1, "unknown": 1}
        assert body["total"] == 3
        assert [(a["id"], a["kind"], a["ap_name"]) for a in body["open_alerts"]] == [
            (alert.pk, "unreachable", "AP-002")
        ]
    assert Client().get("/api/v1/wifi/health", **bearer(counter)).status_code == 403
    assert Client().get("/api/v1/wifi/health").status_code == 401


def test_the_hours_api_gives_chart_data(wifi_admin: User, counter: User, ap: AccessPoint) -> None:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for hours_ago, clients in ((1, 12), (5, 30), (30, 99)):
        ApHour.objects.create(
            ap=ap, hour=now - dt.timedelta(hours=hours_ago), max_clients=clients, reports=6
        )
    http = Client()
    response = http.get(f"/api/v1/wifi/aps/{ap.pk}/hours", **bearer(wifi_admin))
    assert response.status_code == 200, response.content
    assert [h["max_clients"] for h in response.json()] == [30, 12]
    since = (now - dt.timedelta(hours=48)).isoformat()
    response = http.get(f"/api/v1/wifi/aps/{ap.pk}/hours", {"since": since}, **bearer(wifi_admin))
    assert [h["max_clients"] for h in response.json()] == [99, 30, 12]
    refused = http.get(f"/api/v1/wifi/aps/{ap.pk}/hours", **bearer(counter))
    assert refused.status_code == 403
    missing = http.get("/api/v1/wifi/aps/999999/hours", **bearer(wifi_admin))
    assert missing.status_code == 404
    backwards = http.get(
        f"/api/v1/wifi/aps/{ap.pk}/hours",
        {"since": now.isoformat(), "until": (now - dt.timedelta(hours=1)).isoformat()},
        **bearer(wifi_admin),
    )
    assert backwards.status_code == 422
    assert "since" in backwards.json()["detail"]


# --- Active checks: SNMP and ping -----------------------------------------------------------------


@pytest.fixture
def fake_snmp(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in SNMP driver: answers for the hosts in ``alive`` (with uptime and octets)."""
    from machi.wifi.drivers.base import DriverError

    state: dict[str, Any] = {"alive": set(), "polled": []}

    class SnmpReport:
        def __init__(self, uptime_s: int) -> None:
            self.sys_descr = "fake"
            self.uptime_s = uptime_s
            self.interfaces = [
                {"descr": "lo", "in_octets": 999, "out_octets": 999},
                {"descr": "wlan0", "in_octets": 4_000, "out_octets": 8_000},
            ]

    class SnmpDriver:
        async def poll(self, target: Any) -> SnmpReport:
            state["polled"].append((target.url, target.secret))
            if target.url in state["alive"]:
                return SnmpReport(12_345)
            raise DriverError("timeout")

    module = types.ModuleType("machi.wifi.drivers.snmp")
    module.SnmpDriver = SnmpDriver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "machi.wifi.drivers.snmp", module)
    return state


def test_snmp_aps_answering_are_seen_and_silent_ones_are_unreachable_at_once(
    site: Site, fake_snmp: dict[str, Any]
) -> None:
    answering = make_ap(
        site,
        1,
        key=None,
        driver="snmp",
        management_url="udp://192.0.2.1:161",
        secret_encrypted=crypto.encrypt("public"),
    )
    dead = make_ap(
        site,
        2,
        key=None,
        driver="snmp",
        management_url="udp://192.0.2.2:161",
        secret_encrypted=crypto.encrypt("public"),
    )
    fake_snmp["alive"].add("udp://192.0.2.1:161")
    summary = services_monitor.snmp_check()
    assert sorted(url for url, _ in fake_snmp["polled"]) == [
        "udp://192.0.2.1:161",
        "udp://192.0.2.2:161",
    ]
    assert {secret for _, secret in fake_snmp["polled"]} == {"public"}
    assert summary.answered == [answering.pk]
    assert summary.marked == [dead.pk]
    answering.refresh_from_db()
    dead.refresh_from_db()
    assert answering.health == Health.OK
    assert answering.uptime_s == 12_345
    assert answering.rx_bytes == 4_000  # loopback left out
    assert dead.health == Health.CRITICAL
    assert dead.health_reason == "unreachable: snmp timeout"
    assert WifiAlert.objects.get(cleared_at__isnull=True).ap_id == dead.pk
    # It answers again: seen, and its alert closes.
    fake_snmp["alive"].add("udp://192.0.2.2:161")
    services_monitor.snmp_check()
    dead.refresh_from_db()
    assert dead.health == Health.OK
    assert not WifiAlert.objects.filter(cleared_at__isnull=True).exists()


def _snmpd_ready(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return  # snmpd holds the port
        time.sleep(0.05)
    raise RuntimeError("snmpd did not start")


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[str]:
    """A real snmpd on the loopback (Debian's snmpd), community "public"."""
    binary = shutil.which("snmpd") or (
        "/usr/sbin/snmpd" if Path("/usr/sbin/snmpd").exists() else None
    )
    if binary is None:
        pytest.skip("snmpd is not installed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "snmpd.conf"
    config.write_text(f"agentaddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n")
    process = subprocess.Popen(  # noqa: S603 - a fixed program and arguments
        [binary, "-f", "-Lo", "-C", "-c", str(config), "-p", str(tmp_path / "snmpd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _snmpd_ready(port)
        yield f"udp://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_real_snmp_agent_on_the_loopback_answers_the_check(site: Site, snmpd: str) -> None:
    pytest.importorskip("machi.wifi.drivers.snmp")
    ap = make_ap(
        site,
        1,
        key=None,
        driver="snmp",
        management_url=snmpd,
        secret_encrypted=crypto.encrypt("public"),
    )
    summary = services_monitor.snmp_check()
    assert summary.answered == [ap.pk], summary
    ap.refresh_from_db()
    assert ap.health == Health.OK
    assert ap.uptime_s is not None


def test_ping_checks_the_aps_that_neither_push_nor_answer_snmp(site: Site) -> None:
    if shutil.which("ping") is None:
        pytest.skip("ping is not installed")
    loopback = make_ap(site, 1, key=None, management_url="http://127.0.0.1/ubus")
    nowhere = make_ap(site, 2, key=None, management_url="http://240.0.0.1/ubus")  # reserved
    pushing = make_ap(site, 3, management_url="http://192.0.2.3/ubus")
    assert services_monitor.ping_check().skipped  # MACHI_WIFI_PING is off by default
    summary = services_monitor.ping_check(force=True)
    if loopback.pk not in summary.answered:
        pytest.skip("ping cannot send ICMP here (no raw-socket permission)")
    assert summary.checked == 2
    assert summary.marked == [nowhere.pk]
    loopback.refresh_from_db()
    nowhere.refresh_from_db()
    pushing.refresh_from_db()
    assert loopback.health == Health.OK
    assert nowhere.health == Health.CRITICAL
    assert nowhere.health_reason == "unreachable: no ping answer"
    assert pushing.health == Health.UNKNOWN  # pushes: judged by its reports


def test_a_management_address_gives_the_host_to_ping() -> None:
    assert services_monitor.ping_host("http://10.0.0.5/ubus") == "10.0.0.5"
    assert services_monitor.ping_host("udp://ap-3.city.lan:161") == "ap-3.city.lan"
    assert services_monitor.ping_host("http://[2001:db8::1]/ubus") == "2001:db8::1"
    assert services_monitor.ping_host("http:///ubus") is None
