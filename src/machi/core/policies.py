"""Who may do what to core records. Other rooms register theirs the same way."""

from __future__ import annotations

from machi.core import access
from machi.core.roles import Action, Role

READ = {Action.READ}
EVERY_STAFF_ROLE = list(Role)


def register_core_policies() -> None:
    from machi.core.models import (
        ApiToken,
        Area,
        AuditEvent,
        Facility,
        Job,
        Municipality,
        User,
    )

    public_reference = dict.fromkeys(EVERY_STAFF_ROLE, READ)
    access.register(Municipality, {**public_reference, Role.SYSADMIN: {Action.READ, Action.UPDATE}})
    access.register(Area, {**public_reference, Role.SYSADMIN: access.ALL_ACTIONS})
    access.register(
        Facility,
        {
            **public_reference,
            Role.HQ: {Action.READ, Action.UPDATE, Action.EXPORT},
            Role.SHELTER_STAFF: READ,
            Role.SYSADMIN: access.ALL_ACTIONS,
        },
        facility_path="id",
    )
    # Staff accounts: administrators manage them, auditors review them.
    access.register(User, {Role.SYSADMIN: access.ALL_ACTIONS, Role.AUDITOR: READ})
    access.register(ApiToken, {Role.SYSADMIN: access.ALL_ACTIONS, Role.AUDITOR: READ})
    # The audit log is read by auditors; administrators may read it too, nobody edits it.
    access.register(AuditEvent, {Role.AUDITOR: {Action.READ, Action.EXPORT}, Role.SYSADMIN: READ})
    # Jobs: whoever started one follows it and downloads its result; administrators see all.
    access.register(
        Job,
        {Role.SYSADMIN: {Action.READ}},
        owner_path="created_by_id",
        owner_actions={Action.READ, Action.EXPORT},
    )
