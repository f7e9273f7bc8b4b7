"""Given staff in each role, who may do what to which record."""

from collections.abc import Callable

import pytest

from machi.core import access
from machi.core.models import AuditEvent, Facility, User
from machi.core.roles import Action, Role


def test_unregistered_records_are_denied_to_everyone(sysadmin: User) -> None:
    assert not access.may(sysadmin, Action.READ, "nowhere.secret")


def test_users_without_roles_may_do_nothing(make_staff: Callable[..., User]) -> None:
    nobody = make_staff(None)
    assert not access.is_staff_member(nobody)
    assert not access.may(nobody, Action.READ, Facility)


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.AUDITOR, Action.READ, True),
        (Role.AUDITOR, Action.EXPORT, True),
        (Role.SYSADMIN, Action.READ, True),
        (Role.SYSADMIN, Action.EXPORT, False),
        (Role.HQ, Action.READ, False),
        (Role.COUNTER, Action.READ, False),
        (Role.WIFI_ADMIN, Action.READ, False),
        (Role.AUDITOR, Action.DELETE, False),
        (Role.SYSADMIN, Action.DELETE, False),
    ],
)
def test_only_auditors_and_administrators_read_the_audit_log(
    make_staff: Callable[..., User], role: Role, action: Action, allowed: bool
) -> None:
    user = make_staff(role)
    assert access.may(user, action, AuditEvent) is allowed


def test_shelter_staff_reach_only_their_facilities(
    shelter_staff: User, facilities: list[Facility]
) -> None:
    mine, other = facilities[0], facilities[1]
    assert access.may(shelter_staff, Action.READ, mine)
    assert not access.may(shelter_staff, Action.READ, other)
    assert not access.may(shelter_staff, Action.UPDATE, mine)
    # "some facility": yes, because they reach at least one; the list is then narrowed.
    assert access.may(shelter_staff, Action.READ, Facility)
    visible = access.scope(shelter_staff, Action.READ, Facility.objects.all())
    assert list(visible) == [mine]


def test_unscoped_roles_see_every_facility(hq: User, facilities: list[Facility]) -> None:
    assert access.scope(hq, Action.READ, Facility.objects.all()).count() == len(facilities)
    assert access.may(hq, Action.UPDATE, facilities[2])
    assert not access.may(hq, Action.DELETE, facilities[2])


def test_scope_is_empty_without_the_right(counter: User, facilities: list[Facility]) -> None:
    assert access.scope(counter, Action.UPDATE, Facility.objects.all()).count() == 0


def test_a_scoped_role_without_facilities_cannot_be_granted(
    make_staff: Callable[..., User],
) -> None:
    with pytest.raises(ValueError, match="at least one facility"):
        make_staff(Role.SHELTER_STAFF)


def test_inactive_users_lose_every_right(make_staff: Callable[..., User]) -> None:
    user = make_staff(Role.HQ, is_active=False)
    assert not access.may(user, Action.READ, Facility)


def test_superusers_count_as_system_administrators(make_staff: Callable[..., User]) -> None:
    root = make_staff(None, is_superuser=True)
    assert access.may(root, Action.READ, AuditEvent)
    assert Role.SYSADMIN in access.Grants.of(root).roles


def test_require_raises_permission_denied(counter: User) -> None:
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        access.require(counter, Action.READ, AuditEvent)


def test_granting_sysadmin_opens_the_back_office(sysadmin: User) -> None:
    assert sysadmin.is_staff
    assert sysadmin.is_superuser
