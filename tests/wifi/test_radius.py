"""RADIUS through FreeRADIUS's rlm_rest: the endpoints with the JSON it sends, then the real
FreeRADIUS (radclient → FreeRADIUS → rlm_rest → the live server)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from machi.core.models import Municipality
from machi.wifi.models import AccessPoint, Mode
from machi.wifi.portal import selectors
from machi.wifi.portal.models import AccountingSession, EndReason, PortalSession
from tests.wifi.freeradius_fixture import FreeRadius, freeradius  # noqa: F401 - a fixture
from tests.wifi.test_portal import (
    AP_MAC,
    DISASTER_AP_MAC,
    FREE_SSID,
    PHONE,
    make_ap,
    make_profiles,
    started_session,
)

SECRET = "radius-api-secret-for-tests"
HEADER = {"HTTP_X_MACHI_RADIUS_SECRET": SECRET}


@pytest.fixture
def ap(municipality: Municipality, settings: Any) -> AccessPoint:
    settings.MACHI_WIFI_RADIUS_SECRET = SECRET
    settings.MACHI_WIFI_RADIUS_CLIENTS = "127.0.0.1, ::1"
    make_profiles()
    return make_ap(municipality)


def rlm_rest(**attributes: str | int) -> str:
    """A request body as rlm_rest writes it (``body = 'json'``)."""
    body = {}
    for name, value in attributes.items():
        attribute = name.replace("_", "-")
        kind = "integer" if isinstance(value, int) else "string"
        body[attribute] = {"type": kind, "value": [value]}
    return json.dumps(body)


def access_request(
    *, mac: str = PHONE, ap_mac: str = AP_MAC, ssid: str = FREE_SSID, **extra: str | int
) -> str:
    return rlm_rest(
        User_Name=mac,
        User_Password=mac,
        Calling_Station_Id=mac,
        Called_Station_Id=f"{ap_mac.upper().replace(':', '-')}:{ssid}",
        NAS_IP_Address="192.0.2.10",
        **extra,
    )


def post(client: Client, endpoint: str, body: str, **headers: Any) -> Any:
    return client.post(
        f"/wifi/radius/{endpoint}",
        body,
        content_type="application/json",
        **{**HEADER, **headers},
    )


# --- authorize ---------------------------------------------------------------------------------


def test_an_unknown_device_is_rejected(ap: AccessPoint, client: Client) -> None:
    response = post(client, "authorize", access_request())
    assert response.status_code == 401
    assert "portal" in response.json()["reply:Reply-Message"]["value"]


def test_a_device_with_a_session_is_accepted_with_its_time_and_data(
    ap: AccessPoint, client: Client, settings: Any
) -> None:
    settings.MACHI_WIFI_SESSION_MB = 50
    started_session()
    response = post(client, "authorize", access_request())
    assert response.status_code == 200
    reply = response.json()
    # PAP compares the password MAC authentication carries (the MAC as sent) with this.
    assert reply["control:Cleartext-Password"] == {"value": PHONE, "do_xlat": False}
    assert 179 * 60 < reply["reply:Session-Timeout"] <= 180 * 60
    assert reply["reply:Acct-Interim-Interval"] == 300
    assert reply["reply:ChilliSpot-Max-Total-Octets"] == 50_000_000


def test_a_configured_mac_password_is_used(ap: AccessPoint, client: Client, settings: Any) -> None:
    settings.MACHI_WIFI_RADIUS_MAC_PASSWORD = "macauth"
    started_session()
    reply = post(client, "authorize", access_request()).json()
    assert reply["control:Cleartext-Password"]["value"] == "macauth"
    assert "reply:ChilliSpot-Max-Total-Octets" not in reply  # unlimited by default


def test_a_portal_session_never_opens_a_staff_ssid(ap: AccessPoint, client: Client) -> None:
    started_session()
    assert post(client, "authorize", access_request(ssid="Toda_Staff")).status_code == 401


def test_an_ap_in_disaster_mode_accepts_anyone(
    ap: AccessPoint, client: Client, municipality: Municipality
) -> None:
    make_ap(municipality, mac=DISASTER_AP_MAC, mode=Mode.DRILL)
    response = post(client, "authorize", access_request(ap_mac=DISASTER_AP_MAC, ssid="00000JAPAN"))
    assert response.status_code == 200
    assert response.json()["control:Auth-Type"] == "Accept"


def test_the_endpoints_refuse_strangers(ap: AccessPoint, client: Client, settings: Any) -> None:
    started_session()
    body = access_request()
    assert post(client, "authorize", body, HTTP_X_MACHI_RADIUS_SECRET="wrong").status_code == 403
    assert post(client, "authorize", body, REMOTE_ADDR="203.0.113.9").status_code == 403
    assert post(client, "accounting", body, REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/wifi/radius/authorize", **HEADER).status_code == 405
    settings.MACHI_WIFI_RADIUS_SECRET = ""  # no secret configured: nobody
    assert post(client, "authorize", body, HTTP_X_MACHI_RADIUS_SECRET="").status_code == 403
    settings.MACHI_WIFI_RADIUS_SECRET = SECRET
    settings.MACHI_WIFI_RADIUS_CLIENTS = "10.0.0.0/8"
    assert post(client, "authorize", body).status_code == 403
    assert post(client, "authorize", body, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_malformed_body_is_a_bad_request(ap: AccessPoint, client: Client) -> None:
    assert post(client, "authorize", "[1, 2]").status_code == 400
    assert post(client, "authorize", "{not json").status_code == 400


def test_post_auth_notes_when_and_where(ap: AccessPoint, client: Client) -> None:
    session = started_session(ap_mac="")
    assert session.ap is None
    assert post(client, "post-auth", access_request()).status_code == 204
    session.refresh_from_db()
    assert session.last_radius_at is not None
    assert session.ap == ap
    assert session.site == ap.site


# --- accounting --------------------------------------------------------------------------------


def accounting(status: str, session_id: str = "5f3a-01", **extra: str | int) -> str:
    return rlm_rest(
        Acct_Status_Type=status,
        Acct_Session_Id=session_id,
        User_Name=PHONE,
        Calling_Station_Id=PHONE,
        Called_Station_Id=f"{AP_MAC}:{FREE_SSID}",
        NAS_Identifier="gw-toda-1",
        **extra,
    )


def test_accounting_start_interim_stop_records_usage(ap: AccessPoint, client: Client) -> None:
    session = started_session()
    assert post(client, "accounting", accounting("Start")).status_code == 204
    post(
        client,
        "accounting",
        accounting(
            "Interim-Update", Acct_Input_Octets=1000, Acct_Output_Octets=5000, Acct_Session_Time=300
        ),
    )
    # A late, repeated interim with smaller counters changes nothing.
    post(client, "accounting", accounting("Interim-Update", Acct_Input_Octets=10))
    post(
        client,
        "accounting",
        accounting(
            "Stop",
            Acct_Input_Octets=2000,
            Acct_Output_Octets=1,
            Acct_Output_Gigawords=1,
            Acct_Session_Time=600,
            Acct_Terminate_Cause="Lost-Carrier",
        ),
    )
    record = AccountingSession.objects.get()
    assert record.portal_session == session
    assert record.site == ap.site
    assert (record.input_octets, record.output_octets) == (2000, 2**32 + 1)
    assert record.stopped_at is not None
    assert record.terminate_cause == "Lost-Carrier"
    session.refresh_from_db()
    assert session.used_octets == 2000 + 2**32 + 1
    assert session.used_seconds == 600
    # The phone walked out of range: its portal session goes on.
    assert session.ended_at is None


def test_usage_adds_up_over_reconnections_and_the_data_limit_ends_the_session(
    ap: AccessPoint, client: Client, settings: Any
) -> None:
    settings.MACHI_WIFI_SESSION_MB = 1
    session = started_session()
    post(client, "accounting", accounting("Stop", "a", Acct_Input_Octets=600_000))
    assert selectors.radius_decision(client_mac=PHONE, ap_mac=AP_MAC, ssid=FREE_SSID).accept
    post(client, "accounting", accounting("Interim-Update", "b", Acct_Output_Octets=400_000))
    session.refresh_from_db()
    assert session.used_octets == 1_000_000
    assert session.end_reason == EndReason.DATA_LIMIT
    assert post(client, "authorize", access_request()).status_code == 401


def test_an_admin_reset_ends_the_portal_session(ap: AccessPoint, client: Client) -> None:
    session = started_session()
    post(client, "accounting", accounting("Start"))
    post(client, "accounting", accounting("Stop", Acct_Terminate_Cause="Admin-Reset"))
    session.refresh_from_db()
    assert session.end_reason == EndReason.NAS


def test_a_nas_restart_closes_its_open_sessions(ap: AccessPoint, client: Client) -> None:
    started_session()
    post(client, "accounting", accounting("Start", "x"))
    post(
        client, "accounting", rlm_rest(Acct_Status_Type="Accounting-On", NAS_Identifier="gw-toda-1")
    )
    assert AccountingSession.objects.get().terminate_cause == "NAS-Reboot"


def test_disaster_mode_use_is_counted_without_a_session(
    ap: AccessPoint, client: Client, municipality: Municipality
) -> None:
    shelter_ap = make_ap(municipality, mac=DISASTER_AP_MAC, mode=Mode.DISASTER)
    body = rlm_rest(
        Acct_Status_Type="Start",
        Acct_Session_Id="d1",
        Calling_Station_Id="aa-bb-cc-dd-00-01",
        Called_Station_Id=f"{DISASTER_AP_MAC}:00000JAPAN",
        NAS_IP_Address="192.0.2.20",
    )
    assert post(client, "accounting", body).status_code == 204
    record = AccountingSession.objects.get()
    assert record.disaster_mode
    assert record.portal_session is None
    assert record.site == shelter_ap.site


# --- The real FreeRADIUS ------------------------------------------------------------------------


def test_freeradius_asks_the_portal_through_rlm_rest(
    freeradius: FreeRadius,  # noqa: F811
    municipality: Municipality,
    settings: Any,
) -> None:
    settings.MACHI_WIFI_SESSION_MB = 20
    make_profiles()
    ap = make_ap(municipality)
    session = started_session()
    request = {
        "User-Name": PHONE,
        "User-Password": PHONE,
        "Calling-Station-Id": PHONE,
        "Called-Station-Id": f"{AP_MAC.replace(':', '-').upper()}:{FREE_SSID}",
        "NAS-IP-Address": "127.0.0.1",
        "NAS-Identifier": "gw-test",
    }

    accepted = freeradius.send(request)
    assert accepted.code == "Access-Accept", freeradius.log_tail()
    assert 170 * 60 < int(accepted.attributes["Session-Timeout"]) <= 180 * 60
    assert accepted.attributes["Acct-Interim-Interval"] == "300"
    assert accepted.attributes["ChilliSpot-Max-Total-Octets"] == "20000000"
    session.refresh_from_db()
    assert session.last_radius_at is not None  # post-auth was called

    stranger = "aa-bb-cc-ee-ee-ee"
    rejected = freeradius.send(
        {
            **request,
            "User-Name": stranger,
            "User-Password": stranger,
            "Calling-Station-Id": stranger,
        }
    )
    assert rejected.code == "Access-Reject", freeradius.log_tail()

    wrong_password = freeradius.send({**request, "User-Password": "guess"})
    assert wrong_password.code == "Access-Reject"

    acct = {**request, "Acct-Session-Id": "radclient-1"}
    del acct["User-Password"]
    started = freeradius.send({**acct, "Acct-Status-Type": "Start"}, kind="acct")
    assert started.code == "Accounting-Response", freeradius.log_tail()
    stopped = freeradius.send(
        {
            **acct,
            "Acct-Status-Type": "Stop",
            "Acct-Input-Octets": 123_456,
            "Acct-Output-Octets": 654_321,
            "Acct-Session-Time": 95,
            "Acct-Terminate-Cause": "User-Request",
        },
        kind="acct",
    )
    assert stopped.code == "Accounting-Response"
    record = AccountingSession.objects.get(acct_session_id="radclient-1")
    assert record.nas == "gw-test"
    assert record.stopped_at is not None
    assert record.site == ap.site
    session.refresh_from_db()
    assert session.used_octets == 123_456 + 654_321
    assert session.used_seconds == 95


def test_freeradius_accepts_anyone_at_a_shelter_in_disaster_mode(
    freeradius: FreeRadius,  # noqa: F811
    municipality: Municipality,
) -> None:
    make_ap(municipality, mac=DISASTER_AP_MAC, mode=Mode.DISASTER)
    anyone = "aa-bb-cc-12-34-56"
    answer = freeradius.send(
        {
            "User-Name": anyone,
            "User-Password": anyone,
            "Calling-Station-Id": anyone,
            "Called-Station-Id": f"{DISASTER_AP_MAC.replace(':', '-')}:00000JAPAN",
            "NAS-IP-Address": "127.0.0.1",
        }
    )
    assert answer.code == "Access-Accept", freeradius.log_tail()
    assert not PortalSession.objects.exists()


@pytest.mark.parametrize(
    ("called", "expected"),
    [
        ("00-11-22-AA-BB-CC:Toda_Free_Wi-Fi", ("00:11:22:aa:bb:cc", "Toda_Free_Wi-Fi")),
        ("00:11:22:aa:bb:cc:with:colons", ("00:11:22:aa:bb:cc", "with:colons")),
        ("001122AABBCC", ("00:11:22:aa:bb:cc", "")),
        ("0011.22aa.bbcc:x", ("00:11:22:aa:bb:cc", "x")),
        ("gateway-1", ("", "")),
    ],
)
def test_called_station_ids_in_every_spelling(called: str, expected: tuple[str, str]) -> None:
    from machi.wifi.portal.identity import parse_called_station

    assert parse_called_station(called) == expected
