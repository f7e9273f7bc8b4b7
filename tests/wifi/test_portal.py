"""The free Wi-Fi's captive portal: e-mail registration through a real SMTP server, the
RFC 8908 API, disaster mode, the staff list, retention."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import Client
from django.utils import timezone

from machi.core.models import AuditEvent, Municipality, User
from machi.core.roles import Role
from machi.wifi.models import AccessPoint, Mode, ProfileKind, Site, SsidProfile
from machi.wifi.portal import selectors, services
from machi.wifi.portal.models import (
    AccountingSession,
    EmailRegistration,
    EndReason,
    LoginMethod,
    PortalSession,
)
from machi.wifi.portal.selectors import ClientInfo
from tests.core.factories import FacilityFactory

AP_MAC = "02:00:5e:10:00:01"
DISASTER_AP_MAC = "02:00:5e:10:00:02"
PHONE = "AA-BB-CC-00-11-22"  # as a gateway writes it
PHONE_MAC = "aa:bb:cc:00:11:22"
FREE_SSID = "Toda_Free_Wi-Fi"

# --- Helpers shared with the RADIUS and OIDC tests ------------------------------------------------


def make_ap(
    municipality: Municipality, *, mac: str = AP_MAC, mode: str = Mode.NORMAL, name: str = ""
) -> AccessPoint:
    site = Site.objects.create(facility=FacilityFactory(municipality=municipality))
    return AccessPoint.objects.create(
        site=site,
        name=name or f"AP {mac[-2:]}",
        mac=mac.upper(),  # the registry's own spelling: the portal must not care
        management_url="http://192.0.2.1/ubus",
        driver="openwrt",
        mode=mode,
    )


def make_profiles() -> None:
    SsidProfile.objects.create(name="free", kind=ProfileKind.FREE, ssid=FREE_SSID)
    SsidProfile.objects.create(
        name="staff", kind=ProfileKind.STAFF, ssid="Toda_Staff", encryption="wpa2"
    )


def started_session(
    *, client_mac: str = PHONE_MAC, ap_mac: str = AP_MAC, confirmed: bool = True
) -> PortalSession:
    """A live portal session as after a login (OIDC: full length at once)."""
    client = ClientInfo(client_mac=client_mac, ap_mac=ap_mac, ssid=FREE_SSID)
    if confirmed:
        return services.oidc_session_start(issuer="https://id.example", subject="u1", client=client)
    session = services.registration_start(
        address="taro@example.jp",
        client=client,
        device_key="test",
        language="ja",
        link_for=lambda token: f"http://testserver/wifi/confirm/{token}/",
    )
    return session


# --- A real SMTP server on loopback ---------------------------------------------------------------


@dataclass
class Mailbox:
    messages: list[dict[str, Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf-8", "replace"),
            }
        )
        return "250 OK"

    def links(self) -> list[str]:
        found: list[str] = []
        for message in self.messages:
            # Quoted-printable may break long lines: join soft line breaks first.
            body = message["data"].replace("=\r\n", "").replace("=\n", "")
            found += re.findall(r"http://testserver/wifi/confirm/[A-Za-z0-9_\-]+/", body)
        return found


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(settings: Any) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_tcp_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "wifi@city.toda.example.jp"
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def ap(municipality: Municipality) -> AccessPoint:
    make_profiles()
    return make_ap(municipality)


@pytest.fixture
def disaster_ap(municipality: Municipality) -> AccessPoint:
    return make_ap(municipality, mac=DISASTER_AP_MAC, mode=Mode.DISASTER)


def _at(minutes: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Move the clock forward by some minutes (for every timezone.now() caller)."""
    real_now = timezone.now

    def travel(minutes: float) -> None:
        later = real_now() + dt.timedelta(minutes=minutes)
        monkeypatch.setattr(timezone, "now", lambda: later)

    return travel


def _register(
    client: Client, capture: Any, address: str = "taro@example.jp", *, phone: str = PHONE
) -> Any:
    client.get("/wifi/", {"client": phone, "ap": AP_MAC, "ssid": FREE_SSID})
    with capture(execute=True):
        return client.post("/wifi/register/", {"email": address})


# --- The e-mail flow ------------------------------------------------------------------------------


def test_the_landing_shows_the_terms_then_two_ways_in(
    ap: AccessPoint, settings: Any, client: Client
) -> None:
    settings.MACHI_WIFI_OIDC_ISSUER = "https://id.example"
    settings.MACHI_WIFI_OIDC_CLIENT_ID = "machi"
    settings.MACHI_WIFI_OIDC_LABEL = "Example ID"
    response = client.get("/wifi/", {"client": PHONE, "ap": AP_MAC}, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Terms of use") < html.index('name="email"') < html.index("/wifi/login/oidc/")
    assert "Agree to the terms and log in with Example ID" in html
    assert "style=" not in html
    assert "<script>" not in html
    assert response["Referrer-Policy"] == "same-origin"  # tokens never leave the site


def test_the_oidc_way_is_hidden_without_a_provider(ap: AccessPoint, client: Client) -> None:
    assert "/wifi/login/oidc/" not in client.get("/wifi/").content.decode()
    assert client.get("/wifi/login/oidc/").status_code == 404


def test_registration_gives_ten_minutes_and_sends_the_link_through_smtp(
    ap: AccessPoint, smtp: Mailbox, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    response = _register(client, django_capture_on_commit_callbacks, "Taro@Example.jp")

    assert response.status_code == 302
    assert response["Location"] == "/wifi/status/"
    session = PortalSession.objects.get()
    assert session.method == LoginMethod.EMAIL
    assert session.client_mac == PHONE_MAC
    assert session.site == ap.site
    assert session.ssid == FREE_SSID
    assert session.expires_at - session.started_at == dt.timedelta(minutes=10)
    assert session.confirmed_at is None
    # The mail went out through SMTP, to the address as typed (lower-cased)…
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["to"] == ["taro@example.jp"]
    assert smtp.messages[0]["from"] == "wifi@city.toda.example.jp"
    assert len(smtp.links()) == 1
    # …and the address is forgotten once sent: only its hash and a hint are kept.
    registration = EmailRegistration.objects.get()
    assert registration.address == ""
    assert registration.mail_sent_at is not None
    assert registration.address_hint == "t***@example.jp"
    assert len(registration.address_digest) == 64
    assert "taro" not in registration.address_digest
    # The device is on the network for those 10 minutes.
    decision = selectors.radius_decision(client_mac=PHONE, ap_mac=AP_MAC, ssid=FREE_SSID)
    assert decision.accept
    assert 590 <= decision.seconds_remaining <= 600
    page = client.get("/wifi/status/").content.decode()
    assert "t***@example.jp" in page
    assert "taro@example.jp" not in page


def test_the_temporary_access_ends_after_ten_minutes(
    ap: AccessPoint,
    smtp: Mailbox,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    clock: Callable[[float], None],
) -> None:
    _register(client, django_capture_on_commit_callbacks)
    clock(9)
    assert selectors.radius_decision(client_mac=PHONE, ap_mac=AP_MAC, ssid=FREE_SSID).accept
    clock(10.5)
    assert not selectors.radius_decision(client_mac=PHONE, ap_mac=AP_MAC, ssid=FREE_SSID).accept
    assert client.get("/wifi/captive-portal-api").json()["captive"] is True
    assert "Your Wi-Fi session has ended" in client.get(
        "/wifi/status/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode("utf-8")


def test_confirming_extends_the_session_to_its_full_length(
    ap: AccessPoint,
    smtp: Mailbox,
    client: Client,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MACHI_WIFI_SESSION_MINUTES = 120
    settings.MACHI_WIFI_SESSION_MB = 500
    _register(client, django_capture_on_commit_callbacks)
    link = smtp.links()[0].removeprefix("http://testserver")

    # A mail scanner opening the link confirms nothing: the page asks for a button press.
    mail_app = Client()
    assert mail_app.get(link).status_code == 200
    assert PortalSession.objects.get().confirmed_at is None
    response = mail_app.post(link)

    assert response.status_code == 302
    session = PortalSession.objects.get()
    assert session.confirmed_at is not None
    assert session.expires_at - session.confirmed_at == dt.timedelta(minutes=120)
    assert session.bytes_limit == 500_000_000
    decision = selectors.radius_decision(client_mac=PHONE, ap_mac=AP_MAC, ssid=FREE_SSID)
    assert decision.seconds_remaining > 110 * 60
    assert decision.bytes_remaining == 500_000_000
    # A link works once.
    assert mail_app.post(link).status_code == 400


def test_a_link_opened_after_the_ten_minutes_still_opens_the_full_session(
    ap: AccessPoint,
    smtp: Mailbox,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    clock: Callable[[float], None],
) -> None:
    _register(client, django_capture_on_commit_callbacks)
    clock(30)  # the resident read the mail later, over the mobile network
    assert client.post(smtp.links()[0].removeprefix("http://testserver")).status_code == 302
    assert selectors.radius_decision(client_mac=PHONE, ap_mac=AP_MAC, ssid=FREE_SSID).accept


def test_a_bad_or_stale_link_is_refused(
    ap: AccessPoint,
    smtp: Mailbox,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    clock: Callable[[float], None],
) -> None:
    assert client.post("/wifi/confirm/not-a-token/").status_code == 400
    _register(client, django_capture_on_commit_callbacks)
    clock(25 * 60)
    assert client.post(smtp.links()[0].removeprefix("http://testserver")).status_code == 400


def test_registrations_are_limited_per_address(
    ap: AccessPoint,
    smtp: Mailbox,
    client: Client,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MACHI_WIFI_REGISTER_RATE_LIMIT = 2
    for number in range(2):
        phone = f"aa-bb-cc-00-00-0{number}"
        assert _register(client, django_capture_on_commit_callbacks, phone=phone).status_code == 302
    # The same address in another spelling, from a third device: refused.
    response = _register(
        client, django_capture_on_commit_callbacks, "ＴＡＲＯ@example.jp", phone="aa-bb-cc-00-00-09"
    )
    assert response.status_code == 429
    assert PortalSession.objects.count() == 2
    assert len(smtp.messages) == 2


def test_temporary_accesses_are_limited_per_device(
    ap: AccessPoint, smtp: Mailbox, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    for number in range(3):
        address = f"user{number}@example.jp"
        assert _register(client, django_capture_on_commit_callbacks, address).status_code == 302
    response = _register(client, django_capture_on_commit_callbacks, "user9@example.jp")
    assert response.status_code == 429
    # Each new login replaced the last: one device, one live session.
    assert PortalSession.objects.filter(ended_at__isnull=True).count() == 1
    assert PortalSession.objects.filter(end_reason=EndReason.REPLACED).count() == 2


def test_an_invalid_address_is_shown_back(ap: AccessPoint, client: Client) -> None:
    response = client.post("/wifi/register/", {"email": "not an address"})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not PortalSession.objects.exists()


def test_logging_out_ends_the_session(
    ap: AccessPoint, smtp: Mailbox, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _register(client, django_capture_on_commit_callbacks)
    assert client.post("/wifi/logout/").status_code == 302
    session = PortalSession.objects.get()
    assert session.end_reason == EndReason.LOGOUT
    assert not selectors.radius_decision(client_mac=PHONE, ap_mac=AP_MAC, ssid=FREE_SSID).accept


# --- Disaster mode --------------------------------------------------------------------------------


def test_in_disaster_mode_the_portal_steps_aside(
    disaster_ap: AccessPoint, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    response = client.get(
        "/wifi/",
        {"client": PHONE, "ap": f"{DISASTER_AP_MAC}:00000JAPAN"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "No login needed" in html
    assert 'name="email"' not in html
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/wifi/register/", {"email": "taro@example.jp"})
    assert not PortalSession.objects.exists()


# --- RFC 8908 -------------------------------------------------------------------------------------


def test_captive_api_before_login_says_captive(ap: AccessPoint, client: Client) -> None:
    response = client.get("/wifi/captive-portal-api", {"client": PHONE, "ap": AP_MAC})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/captive+json"
    assert "no-store" in response["Cache-Control"]
    answer = response.json()
    assert answer["captive"] is True
    assert answer["user-portal-url"].startswith("http://testserver/wifi/?")
    assert "client=aa%3Abb%3Acc%3A00%3A11%3A22" in answer["user-portal-url"]
    assert "seconds-remaining" not in answer


def test_captive_api_after_login_by_mac_and_by_cookie(
    ap: AccessPoint, client: Client, settings: Any
) -> None:
    settings.MACHI_WIFI_SESSION_MB = 100
    settings.MACHI_WIFI_VENUE_INFO_URL = "https://www.city.toda.example.jp/wifi"
    started_session()
    # The OS asks without a cookie, with the URI the gateway announced (DHCP option 114).
    answer = Client().get("/wifi/captive-portal-api", {"client": PHONE}).json()
    assert answer["captive"] is False
    assert 170 * 60 < answer["seconds-remaining"] <= 180 * 60
    assert answer["bytes-remaining"] == 100_000_000
    assert answer["can-extend-session"] is True
    assert answer["venue-info-url"] == "https://www.city.toda.example.jp/wifi"
    # Another device is still captive.
    assert client.get("/wifi/captive-portal-api", {"client": "aa-bb-cc-99-99-99"}).json()["captive"]


def test_captive_api_with_the_portal_cookie(
    ap: AccessPoint, smtp: Mailbox, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _register(client, django_capture_on_commit_callbacks)
    answer = client.get("/wifi/captive-portal-api").json()
    assert answer["captive"] is False
    assert answer["seconds-remaining"] <= 600


def test_captive_api_in_disaster_mode_says_not_captive(
    disaster_ap: AccessPoint, client: Client
) -> None:
    answer = client.get("/wifi/captive-portal-api", {"client": PHONE, "ap": DISASTER_AP_MAC}).json()
    assert answer["captive"] is False
    assert "seconds-remaining" not in answer


# --- Staff ----------------------------------------------------------------------------------------


def test_staff_see_sessions_per_site_masked_and_audited(
    ap: AccessPoint,
    smtp: Mailbox,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _register(client, django_capture_on_commit_callbacks)
    started_session(client_mac="aa:bb:cc:99:99:99")
    admin = make_staff(Role.WIFI_ADMIN, username="wifi")

    response = client_for(admin).get("/wifi/staff/", HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 200
    assert "t***@example.jp" in html
    assert "taro@example.jp" not in html
    assert "…:00:11:22" not in html
    assert "…:11:22" in html
    assert PHONE_MAC not in html
    assert str(ap.site) in html
    reads = AuditEvent.objects.filter(
        action="read", object_type="wifi_portal.portalsession", actor_username="wifi"
    )
    assert reads.count() == 2


def test_staff_without_the_wifi_role_cannot_read_sessions(
    counter: User, client_for: Callable[[User], Client], ap: AccessPoint
) -> None:
    assert client_for(counter).get("/wifi/staff/").status_code == 403
    assert Client().get("/wifi/staff/").status_code == 302  # to the sign-in


# --- Retention ------------------------------------------------------------------------------------


def test_purge_deletes_what_the_retention_rules_do_not_allow(
    ap: AccessPoint, settings: Any
) -> None:
    settings.MACHI_WIFI_RETENTION_DAYS = 30
    old = started_session(client_mac="aa:bb:cc:00:00:01")
    PortalSession.objects.filter(pk=old.pk).update(
        started_at=_at(-40 * 24 * 60), expires_at=_at(-40 * 24 * 60 + 180)
    )
    AccountingSession.objects.create(
        nas="gw1", acct_session_id="1", portal_session=old, updated_at=_at(-40 * 24 * 60)
    )
    recent = started_session(client_mac="aa:bb:cc:00:00:02")
    unsent = EmailRegistration.objects.create(
        address_digest="x" * 64, address="hanako@example.jp", created_at=_at(-90)
    )

    counts = services.portal_purge()

    assert not PortalSession.objects.filter(pk=old.pk).exists()
    assert PortalSession.objects.filter(pk=recent.pk).exists()
    assert not AccountingSession.objects.exists()
    unsent.refresh_from_db()
    assert unsent.address == ""
    assert counts["sessions"] == 1
    assert counts["addresses"] == 1
    assert AuditEvent.objects.filter(action="delete", object_type="wifi_portal.portalsession")


def test_the_demo_logs_a_few_devices_in_once(ap: AccessPoint) -> None:
    from machi.wifi.portal.demo import load_demo_portal

    line = load_demo_portal()
    load_demo_portal()
    assert "/wifi/?client=" in line
    assert PortalSession.objects.filter(site=ap.site, ended_at__isnull=True).count() == 3
