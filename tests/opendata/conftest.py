"""A small city for the open data tests: evacuation sites, shelters, Wi-Fi, FAQ entries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings
from django.utils import translation

from machi.core.hazards import Hazard
from machi.core.models import Area, Facility, Municipality
from machi.opendata import catalog
from machi.shelters.models import Shelter
from tests.core.factories import FacilityFactory


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    settings.LANGUAGE_CODE = "en"
    settings.MACHI_PUBLIC_URL = "https://machi.example.jp"
    catalog.forget()
    with translation.override("en"), override_settings(ALLOWED_HOSTS=["*"]):
        yield
    catalog.forget()


@pytest.fixture
def city(municipality: Municipality) -> list[Facility]:
    """Two evacuation sites (one also a shelter), a welfare shelter, an office."""
    area = Area.objects.create(municipality=municipality, name="上戸田", machiaza_id="0001001")
    school = FacilityFactory(
        municipality=municipality,
        code="E1122400001001",
        name="戸田第一小学校",
        name_kana="トダダイイチショウガッコウ",
        name_en="Toda Daiichi Elementary School",
        address="埼玉県戸田市上戸田1-1-1",
        area=area,
        is_shelter=True,
        is_evacuation_site=True,
        latitude=Decimal("35.817500"),
        longitude=Decimal("139.677778"),
    )
    park = FacilityFactory(
        municipality=municipality,
        code="E1122400001002",
        name="戸田公園",
        name_kana="トダコウエン",
        address="下戸田2-3-4",
        is_evacuation_site=True,
        latitude=Decimal("35.807000"),
        longitude=Decimal("139.680000"),
    )
    welfare = FacilityFactory(
        municipality=municipality,
        code="E1122400001003",
        name="福祉センター",
        name_kana="フクシセンター",
        address="埼玉県戸田市新曽5-6",
        is_shelter=True,
        is_welfare_shelter=True,
    )
    office = FacilityFactory(
        municipality=municipality,
        code="F-0001",
        name="戸田市役所",
        name_kana="トダシヤクショ",
        address="埼玉県戸田市上戸田1-18-1",
        is_office=True,
        is_wifi_site=True,
    )
    Shelter.objects.create(
        facility=school,
        capacity_night=300,
        hazards=[Hazard.FLOOD, Hazard.EARTHQUAKE],
        target_areas="上戸田一丁目、上戸田二丁目",
        phone="048-441-1800",
    )
    Shelter.objects.create(facility=park, hazards=[Hazard.EARTHQUAKE, Hazard.LARGE_FIRE])
    Shelter.objects.create(facility=welfare, capacity_night=40)
    return [school, park, welfare, office]
