"""Given a city hit by Typhoon Hagibis, and its recovery staff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from machi.core.models import User
from machi.core.roles import Role
from machi.emergency import services as emergency_services
from machi.emergency.models import Disaster


@pytest.fixture
def recovery_staff(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.RECOVERY, username="recovery")


@pytest.fixture
def hagibis(hq: User) -> Disaster:
    return emergency_services.disaster_declare(
        name="令和元年東日本台風",
        hazards=["flood"],
        declared_by=hq,
        started_at=dt.datetime(2019, 10, 12, 20, tzinfo=dt.UTC),
    )


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> None:
    """Certificates' PDFs go to a folder of the test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
