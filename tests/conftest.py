"""Fixtures shared by every test: a municipality, facilities, and staff in each role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from django.test import Client

from machi.core import services
from machi.core.models import Facility, Municipality, User
from machi.core.roles import Role
from tests.core.factories import FacilityFactory, MunicipalityFactory, StaffFactory

pytest_plugins = ["tests.shelters.fixtures"]

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    """Rate-limit counters live in the cache: no test inherits another's."""
    from django.core.cache import caches

    from machi.core import memo

    for alias in ("default", "ratelimit"):
        caches[alias].clear()
    memo.forget()
    yield
    for alias in ("default", "ratelimit"):
        caches[alias].clear()
    memo.forget()


@pytest.fixture
def municipality(db: Any) -> Municipality:
    return MunicipalityFactory()


@pytest.fixture
def facilities(municipality: Municipality) -> list[Facility]:
    return [FacilityFactory(municipality=municipality, is_shelter=True) for _ in range(3)]


@pytest.fixture
def make_staff(db: Any) -> Callable[..., User]:
    def make(role: Role | None, *, facilities: list[Facility] | None = None, **kw: Any) -> User:
        user = StaffFactory(**kw)
        if role is not None:
            services.role_grant(user=user, role=role, facilities=facilities or [])
        return User.objects.get(pk=user.pk)  # fresh: no cached grants

    return make


@pytest.fixture
def hq(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.HQ, username="hq")


@pytest.fixture
def auditor(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.AUDITOR, username="auditor")


@pytest.fixture
def sysadmin(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.SYSADMIN, username="admin")


@pytest.fixture
def counter(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.COUNTER, username="counter")


@pytest.fixture
def shelter_staff(make_staff: Callable[..., User], facilities: list[Facility]) -> User:
    return make_staff(Role.SHELTER_STAFF, username="shelter", facilities=facilities[:1])


def totp_code(user: User, *, step_offset: int = 0) -> str:
    totp = pyotp.TOTP(user.totp_device.secret)
    import time

    return totp.at(int(time.time()) + step_offset * totp.interval)


def sign_in(client: Client, user: User, password: str = PASSWORD) -> None:
    """The real two-step sign-in through the pages."""
    services.totp_start(user=user)
    response = client.post("/console/login/", {"username": user.username, "password": password})
    assert response.status_code == 302, response.content
    user.refresh_from_db()
    response = client.post("/console/login/verify/", {"code": totp_code(user)})
    assert response.status_code == 302, response.content


@pytest.fixture
def client_for(db: Any) -> Callable[[User], Client]:
    """A test client signed in as this user (both factors done, as after the real sign-in)."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def api_client_for(db: Any) -> Callable[[User], Client]:
    """A test client that sends a fresh bearer token of this user."""

    def make(user: User) -> Client:
        _, secret = services.token_create(user=user, name="test")
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    return make
