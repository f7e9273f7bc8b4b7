"""The Wi-Fi registry: sites, SSID profiles and access points, kept by the Wi-Fi section."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from machi.core import crypto
from machi.core.models import AuditEvent, Facility, User
from machi.core.roles import Role
from machi.wifi import services
from machi.wifi.models import AccessPoint, ConfigStatus, Site, SsidProfile
from machi.wifi.services import WifiError


@pytest.fixture(autouse=True)
def _in_english(settings: Any) -> Iterator[None]:
    """These tests read messages in English (the msgids); the pages default to Japanese."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def wifi_admin(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.WIFI_ADMIN, username="wifi")


@pytest.fixture
def site(facilities: list[Facility]) -> Site:
    return services.site_create(facility=facilities[0])


@pytest.fixture
def free(db: Any) -> SsidProfile:
    return services.profile_create(name="free", kind="free", ssid="Toda_Free_Wi-Fi")


# --- Rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "02:6d:63:00:00:01",
        "02-6D-63-00-00-01",
        "026d.6300.0001",
        "026D63000001",
        "０２:６d:63:00:00:01",
    ],
)
def test_mac_addresses_are_normalised(spelling: str) -> None:
    assert services.mac_normalize(spelling) == "02:6D:63:00:00:01"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("02:6d:63:00:00", "such as"),
        ("zz:6d:63:00:00:01", "such as"),
        ("01:00:5e:00:00:01", "multicast"),  # a group address
        ("ff:ff:ff:ff:ff:ff", "multicast"),
        ("00:00:00:00:00:00", "not a device"),
    ],
)
def test_what_cannot_be_an_access_point_mac_is_refused(value: str, why: str) -> None:
    with pytest.raises(WifiError, match=why) as refused:
        services.mac_normalize(value)
    assert refused.value.field == "mac"


@pytest.mark.parametrize(
    ("driver", "url", "ok"),
    [
        ("openwrt", "http://192.0.2.10/ubus", True),
        ("openwrt", "https://ap1.city.example:8443/ubus", True),
        ("openwrt", "http://127.0.0.1:8300/ap/7/ubus", True),
        ("openwrt", "ftp://192.0.2.10/ubus", False),
        ("openwrt", "http://192.0.2.10/cgi-bin/luci", False),
        ("openwrt", "http://root:pw@192.0.2.10/ubus", False),
        ("openwrt", "http://192.0.2.10:99999/ubus", False),
        ("snmp", "udp://192.0.2.10:161", True),
        ("snmp", "http://192.0.2.10/ubus", False),
    ],
)
def test_the_management_address_must_suit_the_driver(driver: str, url: str, ok: bool) -> None:
    if ok:
        assert services.management_url_validate(driver=driver, url=url) == url
    else:
        with pytest.raises(WifiError) as refused:
            services.management_url_validate(driver=driver, url=url)
        assert refused.value.field == "management_url"


def test_ssid_profiles_keep_their_keys_encrypted(db: Any) -> None:
    staff = services.profile_create(
        name="staff", kind="staff", ssid="Toda_Staff", encryption="sae-mixed", key="s3cret-pass"
    )
    assert "s3cret" not in staff.key_encrypted
    assert crypto.decrypt(staff.key_encrypted) == "s3cret-pass"
    event = AuditEvent.objects.get(object_type="wifi.ssidprofile", action="create")
    assert event.detail["key_set"] is True
    assert "s3cret" not in str(event.detail)
    services.profile_update(profile=staff, key=None, name="職員")  # the key is kept
    assert crypto.decrypt(SsidProfile.objects.get().key_encrypted) == "s3cret-pass"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "free", "ssid": "00000JAPAN"}, "ssid"),  # never in normal times
        ({"kind": "free", "ssid": "0000JAPAN"}, "ssid"),  # nor a look-alike
        ({"kind": "disaster", "ssid": "Toda_Disaster"}, "ssid"),
        ({"kind": "disaster", "ssid": "00000JAPAN", "encryption": "psk2", "key": "12345678"},
         "encryption"),
        ({"kind": "staff", "ssid": "Toda_Staff", "encryption": "psk2"}, "key"),
        ({"kind": "staff", "ssid": "Toda_Staff", "encryption": "psk2", "key": "short"}, "key"),
        ({"kind": "free", "ssid": "Toda_Free", "key": "12345678"}, "key"),
        ({"kind": "free", "ssid": "とだし公衆無線ＬＡＮフリー"}, "ssid"),  # 39 bytes
        ({"kind": "free", "ssid": "Toda_Free", "owe_companion": True}, "owe_companion"),
    ],
)  # fmt: skip
def test_profile_rules(db: Any, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(WifiError) as refused:
        services.profile_create(name="p", **fields)
    assert refused.value.field == field


def test_there_is_one_disaster_profile(db: Any) -> None:
    services.profile_create(name="a", kind="disaster", ssid="00000JAPAN")
    with pytest.raises(WifiError, match="one disaster profile"):
        services.profile_create(name="b", kind="disaster", ssid="00000JAPAN")


def test_an_access_point_gets_a_monitoring_key_shown_once(site: Site, free: SsidProfile) -> None:
    ap, key = services.ap_create(
        site=site,
        name="体育館-1",
        mac="02-6d-63-00-00-01",
        management_url="http://192.0.2.10/ubus",
        username="root",
        secret="ap-password",
        profiles=[free],
    )
    assert ap.mac == "02:6D:63:00:00:01"
    assert key.startswith("machiap_")
    assert key not in str(ap.__dict__)
    assert ap.monitoring_key_digest == services.monitoring_key_digest(key)
    assert crypto.decrypt(ap.secret_encrypted) == "ap-password"
    assert ap.config_status == ConfigStatus.PENDING  # nothing confirmed yet
    assert list(ap.profiles.all()) == [free]
    new = services.ap_monitoring_key_regenerate(ap=ap)
    assert new != key
    assert AccessPoint.objects.get().monitoring_key_digest == services.monitoring_key_digest(new)
    with pytest.raises(WifiError) as duplicate:
        services.ap_create(
            site=site, name="x", mac="02:6D:63:00:00:01", management_url="http://192.0.2.11/ubus"
        )
    assert duplicate.value.field == "mac"


def test_the_disaster_profile_is_never_a_normal_profile(site: Site) -> None:
    japan = services.profile_create(name="j", kind="disaster", ssid="00000JAPAN")
    with pytest.raises(WifiError) as refused:
        services.ap_create(
            site=site,
            name="x",
            mac="02:00:00:00:00:01",
            management_url="http://192.0.2.10/ubus",
            profiles=[japan],
        )
    assert refused.value.field == "profiles"


# --- Pages and access -----------------------------------------------------------------------


def test_counter_staff_may_not_see_the_wifi_pages(
    counter: User, client_for: Callable[[User], Client]
) -> None:
    client = client_for(counter)
    for url in ("/console/wifi/", "/console/wifi/disaster/", "/console/wifi/profiles/"):
        assert client.get(url).status_code == 403, url


def test_auditors_read_but_change_nothing(
    auditor: User, site: Site, client_for: Callable[[User], Client]
) -> None:
    client = client_for(auditor)
    page = client.get("/console/wifi/")
    assert page.status_code == 200
    assert "第" in page.content.decode()
    assert "/console/wifi/sites/new/" not in page.content.decode()
    assert client.get("/console/wifi/sites/new/").status_code == 403
    assert client.get(f"/console/wifi/sites/{site.pk}/edit/").status_code == 403
    disaster = client.get("/console/wifi/disaster/")
    assert disaster.status_code == 200
    assert 'id="open-button"' not in disaster.content.decode()
    refused = client.post("/console/wifi/disaster/", {"action": "on", "on-drill": "on"})
    assert refused.status_code == 403


def test_the_wifi_section_registers_a_site_a_profile_and_an_access_point(
    wifi_admin: User, facilities: list[Facility], client_for: Callable[[User], Client]
) -> None:
    client = client_for(wifi_admin)
    response = client.post(
        "/console/wifi/sites/new/",
        {"facility": facilities[1].pk, "disaster_target": "on", "provides_area": "体育館"},
    )
    assert response.status_code == 302
    site = Site.objects.get()
    assert (site.facility, site.disaster_target, site.provides_area) == (
        facilities[1],
        True,
        "体育館",
    )

    response = client.post(
        "/console/wifi/profiles/new/",
        {"name": "職員用", "kind": "staff", "ssid": "Toda_Staff", "encryption": "sae-mixed",
         "key": "a-long-passphrase", "isolate": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    listing = client.get("/console/wifi/profiles/").content.decode()
    assert "a-long-passphrase" not in listing
    assert "設定済み" in listing or "set" in listing

    profile = SsidProfile.objects.get()
    response = client.post(
        "/console/wifi/aps/new/",
        {"site": site.pk, "name": "体育館-1", "mac": "02:6d:63:00:00:01", "driver": "openwrt",
         "management_url": "http://192.0.2.10/ubus", "username": "root",
         "secret": "ap-password", "profiles": [profile.pk], "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    ap = AccessPoint.objects.get()
    shown = body.split('id="monitoring-key"')[1].split('value="')[1].split('"')[0]
    assert services.monitoring_key_digest(shown) == ap.monitoring_key_digest
    assert "ap-password" not in body

    edit = client.get(f"/console/wifi/aps/{ap.pk}/edit/").content.decode()
    assert shown not in edit
    assert "ap-password" not in edit
    # Saving without a password keeps the stored one.
    response = client.post(
        f"/console/wifi/aps/{ap.pk}/edit/",
        {"site": site.pk, "name": "体育館-2", "mac": "02:6d:63:00:00:01", "driver": "openwrt",
         "management_url": "http://192.0.2.10/ubus", "username": "root", "secret": "",
         "profiles": [profile.pk], "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    ap.refresh_from_db()
    assert ap.name == "体育館-2"
    assert crypto.decrypt(ap.secret_encrypted) == "ap-password"
    index = client.get("/console/wifi/").content.decode()
    assert "体育館-2" in index
    assert "02:6D:63:00:00:01" in index


def test_mistakes_are_shown_on_their_fields(
    wifi_admin: User, site: Site, client_for: Callable[[User], Client]
) -> None:
    client = client_for(wifi_admin)
    response = client.post(
        "/console/wifi/aps/new/",
        {"site": site.pk, "name": "x", "mac": "01:00:5e:00:00:01", "driver": "openwrt",
         "management_url": "http://192.0.2.10/ubus"},
    )  # fmt: skip
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_mac_error"' in body
    assert "multicast" in body
    response = client.post(
        "/console/wifi/aps/new/",
        {"site": site.pk, "name": "x", "mac": "02:00:00:00:00:01", "driver": "openwrt",
         "management_url": "http://192.0.2.10/luci"},
    )  # fmt: skip
    assert 'id="id_management_url_error"' in response.content.decode()
    response = client.post(
        "/console/wifi/profiles/new/",
        {"name": "p", "kind": "free", "ssid": "00000JAPAN", "encryption": "none"},
    )
    assert 'id="id_ssid_error"' in response.content.decode()
    assert not AccessPoint.objects.exists()
    assert not SsidProfile.objects.exists()


def test_hq_sees_the_registry_but_may_not_change_it(
    hq: User, site: Site, client_for: Callable[[User], Client]
) -> None:
    client = client_for(hq)
    assert client.get("/console/wifi/").status_code == 200
    assert client.get("/console/wifi/aps/new/").status_code == 403
    assert client.get("/console/wifi/profiles/new/").status_code == 403
