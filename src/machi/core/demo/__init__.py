"""The demo city: 戸田市 (112241) from public data, with one staff account per role.

Facilities come from 国土地理院「指定緊急避難場所データ」 (指定避難所 and 指定緊急避難場所 of
戸田市, GeoJSON as published, see SOURCES.md beside this file). The city office and the Wi-Fi
sites are marked by hand for the demo. Areas are the 町 names found in the addresses; their
町字ID stay empty until the city loads the アドレス・ベース・レジストリ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from django.db import transaction

from machi.core import japanese, services
from machi.core.models import Facility, Municipality, TotpDevice, User
from machi.core.roles import Role

DEMO_LGCODE = "112241"
DEMO_PASSWORD = "machi-demo-pass"  # noqa: S105 - printed on purpose; demo installations only

# username, display name, department, role
DEMO_STAFF: tuple[tuple[str, str, str, Role], ...] = (
    ("hq", "本部 太郎", "危機管理防災課", Role.HQ),
    ("shelter", "避難所 花子", "戸田東小学校 避難所班", Role.SHELTER_STAFF),
    ("counter", "窓口 次郎", "市民課", Role.COUNTER),
    ("field", "現場 六子", "道路公園課", Role.FIELD),
    ("wifi", "無線 三郎", "情報政策課", Role.WIFI_ADMIN),
    ("pr", "広報 七海", "秘書広報課", Role.PR),
    ("dx", "改革 八重", "DX推進課", Role.DX),
    ("auditor", "監査 四郎", "監査委員事務局", Role.AUDITOR),
    ("admin", "管理 五郎", "情報政策課", Role.SYSADMIN),
)
SHELTER_STAFF_FACILITIES = ("戸田東小学校", "戸田第一小学校")
WIFI_SITES = ("戸田市文化会館", "上戸田地域交流センター", "スポーツセンター", "戸田市役所")
CITY_OFFICE = {
    "code": "office-cityhall",
    "name": "戸田市役所",
    "name_kana": "トダシヤクショ",
    "name_en": "Toda City Hall",
    "address": "埼玉県戸田市上戸田1-18-1",
    "latitude": Decimal("35.817500"),
    "longitude": Decimal("139.677778"),
}
_TOWN = re.compile(r"^(?:埼玉県)?戸田市(?:大字)?(?P<town>[^\d０-９-]+)")


@dataclass(frozen=True)
class DemoCity:
    municipality: Municipality
    facilities: int
    staff: list[User]


def _features(name: str) -> list[dict[str, Any]]:
    text = resources.files("machi.core.demo").joinpath(name).read_text("utf-8")
    features: list[dict[str, Any]] = json.loads(text)["features"]
    return features


def town_of(address: str) -> str:
    match = _TOWN.match(japanese.normalize(address))
    return match.group("town").strip() if match else ""


@transaction.atomic
def load_demo_city() -> DemoCity:
    """Create (or bring up to date) the demo city. Safe to run again."""
    municipality = Municipality.objects.filter(
        lgcode=DEMO_LGCODE
    ).first() or services.municipality_init(code=DEMO_LGCODE)
    sources = (
        ("gsi_112241_designated_shelters.geojson", "is_shelter", "国土地理院 指定避難所データ"),
        (
            "gsi_112241_emergency_sites.geojson",
            "is_evacuation_site",
            "国土地理院 指定緊急避難場所データ",
        ),
    )
    by_place: dict[tuple[str, str], Facility] = {}
    for filename, flag, source in sources:
        for feature in _features(filename):
            props = feature["properties"]
            lon, lat = feature["geometry"]["coordinates"]
            name = japanese.normalize(props["施設・場所名"])
            address = japanese.normalize(props["住所"])
            town = town_of(address)
            fields: dict[str, Any] = {
                "name": name,
                "address": address,
                "latitude": Decimal(str(lat)).quantize(Decimal("0.000001")),
                "longitude": Decimal(str(lon)).quantize(Decimal("0.000001")),
                "source": source,
                flag: True,
            }
            if town:
                fields["area"] = services.area_get_or_create(municipality=municipality, name=town)
            if name in WIFI_SITES:
                fields["is_wifi_site"] = True
            # The same building in both GSI lists is one facility (keyed by the first 共通ID).
            same = by_place.get((name, address))
            code = same.code if same is not None else props["共通ID"]
            by_place[(name, address)] = services.facility_upsert(
                municipality=municipality, code=code, **fields
            )
    office_town = town_of(CITY_OFFICE["address"])  # type: ignore[arg-type]
    services.facility_upsert(
        municipality=municipality,
        **CITY_OFFICE,  # type: ignore[arg-type]
        area=services.area_get_or_create(municipality=municipality, name=office_town),
        is_office=True,
        is_wifi_site=True,
        source="demo",
    )
    staff = [_demo_user(*entry) for entry in DEMO_STAFF]
    return DemoCity(municipality, Facility.objects.count(), staff)


def _demo_user(username: str, display_name: str, department: str, role: Role) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        facilities = list(Facility.objects.filter(name__in=SHELTER_STAFF_FACILITIES))
        user = services.staff_create(
            username=username,
            password=DEMO_PASSWORD,
            display_name=display_name,
            department=department,
            roles=[role],
            facilities=facilities,
        )
    device = services.totp_start(user=user)
    if device.confirmed_at is None:
        # Demo accounts come with their authenticator already set up; the key is printed.
        TotpDevice.objects.filter(pk=device.pk).update(confirmed_at=user.date_joined)
    return user
