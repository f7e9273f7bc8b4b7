"""Given a city with shelters and a declared typhoon."""

from typing import Any

import pytest

from machi.core.hazards import Hazard
from machi.core.models import Facility, User
from machi.emergency import services as emergency_services
from machi.emergency.models import Disaster
from machi.shelters import services
from machi.shelters.models import Opening, Shelter


@pytest.fixture
def shelters(facilities: list[Facility]) -> list[Shelter]:
    return [
        Shelter.objects.create(facility=facilities[0], capacity_night=3, hazards=[Hazard.FLOOD]),
        Shelter.objects.create(facility=facilities[1], capacity_night=100),
        Shelter.objects.create(facility=facilities[2], capacity_night=50, hazards=[Hazard.TSUNAMI]),
    ]


@pytest.fixture
def typhoon(hq: User, shelters: list[Shelter], django_capture_on_commit_callbacks: Any) -> Disaster:
    with django_capture_on_commit_callbacks(execute=True):
        return emergency_services.disaster_declare(
            name="令和元年台風第19号", hazards=[Hazard.FLOOD, Hazard.INLAND_FLOOD], declared_by=hq
        )


@pytest.fixture
def open_shelters(typhoon: Disaster, shelters: list[Shelter]) -> list[Opening]:
    return [services.opening_open(shelter=s, disaster=typhoon) for s in shelters[:2]]
