"""May this user do this to that record?  The one place that answers.

Each room registers, for each kind of record it owns, which roles may do which actions, and
(for records that belong to a facility) the ORM path from the record to its facility. Roles in
``SCOPED_ROLES`` then reach only the facilities listed on their assignment. Anything not
registered is denied: a new room grants nothing until it says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.core.exceptions import PermissionDenied
from django.db import models

from machi.core.roles import SCOPED_ROLES, Action, Role

if TYPE_CHECKING:
    from django.http import HttpRequest

    from machi.core.models import User

M = TypeVar("M", bound=models.Model)
ALL_ACTIONS = frozenset({Action.READ, Action.CREATE, Action.UPDATE, Action.DELETE, Action.EXPORT})


@dataclass(frozen=True)
class Policy:
    grants: Mapping[Role, frozenset[Action]]
    # ORM path from the record to its facility id ("id" for a Facility itself,
    # "facility_id", "opening__shelter__facility_id"…); None: not facility-bound.
    facility_path: str | None = None
    # Records that belong to a person (a job they started): any staff member may do
    # ``owner_actions`` to the records whose ``owner_path`` is their own user id.
    owner_path: str | None = None
    owner_actions: frozenset[Action] = frozenset()


_POLICIES: dict[str, Policy] = {}


def resource_of(target: models.Model | type[models.Model] | str) -> str:
    if isinstance(target, str):
        return target
    return target._meta.label_lower


def register(
    resource: type[models.Model] | str,
    grants: Mapping[Role, Iterable[Action | str]],
    *,
    facility_path: str | None = None,
    owner_path: str | None = None,
    owner_actions: Iterable[Action | str] = (),
) -> None:
    """Declare who may do what to one kind of record (called from an AppConfig.ready)."""
    normalised = {
        Role(role): frozenset(Action(action) for action in actions)
        for role, actions in grants.items()
    }
    _POLICIES[resource_of(resource)] = Policy(
        normalised,
        facility_path,
        owner_path,
        frozenset(Action(action) for action in owner_actions),
    )


@dataclass(frozen=True)
class Grants:
    """What one user holds: roles, and the facility ids of each scoped role."""

    roles: frozenset[Role]
    facility_ids: Mapping[Role, frozenset[int]]

    @classmethod
    def of(cls, user: Any) -> Grants:
        cached = getattr(user, "_machi_grants", None)
        if cached is not None:
            return cached
        roles: set[Role] = set()
        facilities: dict[Role, frozenset[int]] = {}
        if user is not None and user.is_authenticated and user.is_active:
            roles = {Role(r) for r in user.role_assignments.values_list("role", flat=True)}
            scoped = roles & SCOPED_ROLES
            if scoped:  # facilities only for the roles they scope: one query fewer for most
                links = user.role_assignments.filter(role__in=scoped).values_list(
                    "role", "facilities"
                )
                found: dict[Role, set[int]] = {role: set() for role in scoped}
                for role, facility_id in links:
                    if facility_id is not None:
                        found[Role(role)].add(facility_id)
                facilities = {role: frozenset(ids) for role, ids in found.items()}
            if user.is_superuser:
                roles.add(Role.SYSADMIN)
        grants = cls(frozenset(roles), facilities)
        if user is not None:
            user._machi_grants = grants
        return grants


def _facility_id(record: models.Model, path: str) -> Any:
    """Follow an ORM path (a__b__c) on a record: its facility id, owner id…"""
    value: Any = record
    parts = path.split("__")
    for index, part in enumerate(parts):
        if value is None:
            return None
        if index == len(parts) - 1:
            return getattr(value, part)
        value = getattr(value, part)
    return None


def _reaches(record: models.Model, path: str, reach: frozenset[int]) -> bool:
    """Does the record lead to one of these facilities? Paths through reverse relations
    (a person's check-ins) may lead to several, so those are asked of the database."""
    try:
        return _facility_id(record, path) in reach
    except AttributeError:
        pass
    manager = type(record)._default_manager
    return manager.filter(pk=record.pk, **{f"{path}__in": reach}).exists()


def may(user: Any, action: Action | str, target: models.Model | type[models.Model] | str) -> bool:
    """True when ``user`` may do ``action`` to ``target``.

    ``target`` is a record, or a model class (or "app.model") for "some record of this kind":
    listing and creating. Scoped roles pass the class check if they reach any facility; the
    list must then be narrowed with :func:`scope`.
    """
    policy = _POLICIES.get(resource_of(target))
    if policy is None:
        return False
    grants = Grants.of(user)
    action = Action(action)
    for role in grants.roles:
        if action not in policy.grants.get(role, frozenset()):
            continue
        if role not in SCOPED_ROLES or policy.facility_path is None:
            return True
        reach = grants.facility_ids.get(role, frozenset())
        if isinstance(target, models.Model):
            if _reaches(target, policy.facility_path, reach):
                return True
        elif reach:
            return True
    return _owns(user, grants, policy, action, target)


def _owns(
    user: Any,
    grants: Grants,
    policy: Policy,
    action: Action,
    target: models.Model | type[models.Model] | str,
) -> bool:
    if policy.owner_path is None or action not in policy.owner_actions or not grants.roles:
        return False
    if isinstance(target, models.Model):
        return bool(_facility_id(target, policy.owner_path) == user.pk)
    return True


def require(
    user: Any, action: Action | str, target: models.Model | type[models.Model] | str
) -> None:
    if not may(user, action, target):
        raise PermissionDenied(f"{action} on {resource_of(target)} is not allowed")


def scope(user: Any, action: Action | str, queryset: models.QuerySet[M]) -> models.QuerySet[M]:
    """The part of ``queryset`` the user may ``action``: all, none, or their facilities'."""
    policy = _POLICIES.get(resource_of(queryset.model))
    if policy is None:
        return queryset.none()
    grants = Grants.of(user)
    action = Action(action)
    reach: set[int] = set()
    for role in grants.roles:
        if action not in policy.grants.get(role, frozenset()):
            continue
        if role not in SCOPED_ROLES or policy.facility_path is None:
            return queryset
        reach |= grants.facility_ids.get(role, frozenset())
    condition = models.Q(pk__in=[])
    if reach and policy.facility_path is not None:
        condition |= models.Q(**{f"{policy.facility_path}__in": reach})
    if grants.roles and policy.owner_path is not None and action in policy.owner_actions:
        condition |= models.Q(**{policy.owner_path: user.pk})
    filtered = queryset.filter(condition)
    # A path through a reverse relation (a person's check-ins) can repeat rows.
    return (
        filtered.distinct() if policy.facility_path and "__" in policy.facility_path else filtered
    )


def reaches_all(user: Any, action: Action | str, model: type[models.Model] | str) -> bool:
    """True when the user may ``action`` every record of this kind (no facility scope)."""
    policy = _POLICIES.get(resource_of(model))
    if policy is None:
        return False
    action = Action(action)
    return any(
        action in policy.grants.get(role, frozenset())
        and (role not in SCOPED_ROLES or policy.facility_path is None)
        for role in Grants.of(user).roles
    )


def user_of(request: HttpRequest) -> User | None:
    """The signed-in person of a request (a staff session or a bearer token), or None: who a
    service records as having acted."""
    user = getattr(request, "user", None)
    return cast("User", user) if getattr(user, "is_authenticated", False) else None


def is_staff_member(user: Any) -> bool:
    """Holds at least one role: may use the staff console."""
    return bool(Grants.of(user).roles)


def registered() -> dict[str, Policy]:
    return dict(_POLICIES)
