"""The Wi-Fi API: sites and APs to read, the disaster-mode switch and its jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from machi.core.models import Facility, User
from machi.core.roles import Role
from machi.wifi.models import DISASTER_SSID, AccessPoint
from machi.wifi.simulator import DEFAULT_SSID, SimulatorHandle
from tests.wifi.test_disaster_mode import RunningSimulator, make_fleet


@pytest.fixture(autouse=True)
def _in_english(settings: Any) -> Iterator[None]:
    """These tests read messages in English (the msgids); the pages default to Japanese."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


SWITCH = "/api/v1/wifi/disaster-mode"


@pytest.fixture(autouse=True)
def _quick(settings: Any) -> None:
    settings.MACHI_WIFI_SWITCH_BACKOFF = 0.01
    settings.MACHI_WIFI_DRIVER_TIMEOUT = 0.5


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with RunningSimulator(4, faults={4: "down"}) as handle:
        yield handle


@pytest.fixture
def fleet(sim: SimulatorHandle, facilities: list[Facility]) -> list[AccessPoint]:
    return make_fleet(sim, facilities[:2])


@pytest.fixture
def wifi_admin(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.WIFI_ADMIN, username="wifi")


def post(client: Client, body: dict[str, Any]) -> Any:
    return client.post(SWITCH, body, content_type="application/json")


def test_sites_and_aps_read_as_documented(
    fleet: list[AccessPoint], auditor: User, api_client_for: Callable[[User], Client]
) -> None:
    client = api_client_for(auditor)
    sites = client.get("/api/v1/wifi/sites").json()
    assert len(sites) == 2
    assert set(sites[0]) == {
        "id", "facility_id", "name", "address", "disaster_target", "provides_area", "aps",
        "aps_not_normal",
    }  # fmt: skip
    assert (sites[0]["aps"], sites[0]["aps_not_normal"]) == (2, 0)
    aps = client.get("/api/v1/wifi/aps").json()
    assert len(aps) == 4
    first = aps[0]
    assert set(first) == {
        "id", "name", "site_id", "site", "mac", "model", "driver", "enabled", "health",
        "clients", "mode", "profiles", "broadcasting", "config_status", "last_seen_at",
    }  # fmt: skip
    assert first["mode"] == "normal"
    assert first["profiles"] == [DEFAULT_SSID]
    assert "secret" not in str(aps)
    assert "monitoring_key" not in str(aps)
    one_site = client.get(f"/api/v1/wifi/aps?site_id={sites[0]['id']}").json()
    assert len(one_site) == 2
    assert client.get("/api/v1/wifi/aps?mode=disaster").json() == []


def test_counter_staff_may_not_read_or_switch(
    fleet: list[AccessPoint], counter: User, api_client_for: Callable[[User], Client]
) -> None:
    client = api_client_for(counter)
    for url in ("/api/v1/wifi/sites", "/api/v1/wifi/aps"):
        response = client.get(url)
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
    assert post(client, {"sites": "all", "on": True, "drill": True}).status_code == 403


def test_auditors_may_not_switch(
    fleet: list[AccessPoint], auditor: User, api_client_for: Callable[[User], Client]
) -> None:
    response = post(api_client_for(auditor), {"sites": "all", "on": True, "drill": True})
    assert response.status_code == 403


def test_switching_on_in_normal_times_is_refused_naming_the_drill_field(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    hq: User,
    api_client_for: Callable[[User], Client],
) -> None:
    response = post(api_client_for(hq), {"sites": "all", "on": True})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["field"] == "body.payload.drill"
    assert "never broadcast in normal times" in problem["errors"][0]["message"]
    assert sim.broadcast(1) == [DEFAULT_SSID]


def test_unknown_sites_and_bad_bodies_are_named(
    fleet: list[AccessPoint], wifi_admin: User, api_client_for: Callable[[User], Client]
) -> None:
    client = api_client_for(wifi_admin)
    response = post(client, {"sites": [999999], "on": True, "drill": True})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.payload.sites"
    assert "999999" in response.json()["errors"][0]["message"]
    response = post(client, {"sites": "some", "on": True})
    assert response.status_code == 422
    assert any(e["field"].startswith("body.payload.sites") for e in response.json()["errors"])
    response = post(client, {"sites": "all"})
    assert any(e["field"] == "body.payload.on" for e in response.json()["errors"])


def test_a_drill_switch_runs_as_a_job_with_every_aps_outcome(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    wifi_admin: User,
    api_client_for: Callable[[User], Client],
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = api_client_for(wifi_admin)
    site_ids = [s["id"] for s in client.get("/api/v1/wifi/sites").json()]
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, {"sites": site_ids, "on": True, "drill": True})
    assert response.status_code == 202
    started = response.json()
    assert set(started) == {"job_id", "aps", "skipped"}
    assert (started["aps"], started["skipped"]) == (4, 0)

    job = client.get(f"/api/v1/wifi/jobs/{started['job_id']}").json()
    assert job["status"] == "succeeded"
    assert (job["direction"], job["drill"], job["done"], job["total"]) == ("on", True, 4, 4)
    assert job["counts"] == {"queued": 0, "running": 0, "confirmed": 3, "failed": 1, "skipped": 0}
    by_status = {a["status"] for a in job["aps"]}
    assert by_status == {"confirmed", "failed"}
    failed = next(a for a in job["aps"] if a["status"] == "failed")
    assert failed["attempts"] == 3
    assert "unreachable" in failed["error"]
    assert set(failed) == {
        "ap_id", "ap", "site", "status", "attempts", "error", "started_at", "confirmed_at",
    }  # fmt: skip
    aps = {a["name"]: a for a in client.get("/api/v1/wifi/aps?mode=drill").json()}
    assert len(aps) == 3
    assert {tuple(a["broadcasting"]) for a in aps.values()} == {(DISASTER_SSID,)}

    # Retry the failed one once it is back.
    sim.ap(4).fault = None
    with django_capture_on_commit_callbacks(execute=True):
        retry = client.post(f"/api/v1/wifi/jobs/{started['job_id']}/retry")
    assert retry.status_code == 202
    assert retry.json()["aps"] == 1
    assert sim.broadcast(4) == [DISASTER_SSID]

    with django_capture_on_commit_callbacks(execute=True):
        off = post(client, {"sites": "all", "on": False})
    assert off.status_code == 202
    assert (
        client.get(f"/api/v1/wifi/jobs/{off.json()['job_id']}").json()["counts"]["confirmed"] == 4
    )
    assert [sim.broadcast(n) for n in range(1, 5)] == [[DEFAULT_SSID]] * 4


def test_an_unknown_job_is_a_404_problem(
    hq: User, api_client_for: Callable[[User], Client]
) -> None:
    response = api_client_for(hq).get("/api/v1/wifi/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
