"""Who may do what in shelter operations.

Evacuee records are personal data (and their needs are health data): only HQ and the staff of
the shelter where a person stays may read them; administrators and auditors may not.
"""

from machi.core import access
from machi.core.roles import Action, Role

PERSONAL = {Action.READ, Action.CREATE, Action.UPDATE, Action.EXPORT}


def register() -> None:
    from machi.shelters.models import (
        Checkin,
        Household,
        Opening,
        Person,
        Shelter,
        SupplyRequest,
    )

    everyone_reads = {role: {Action.READ} for role in Role}
    access.register(
        Shelter,
        {
            **everyone_reads,
            Role.HQ: {Action.READ, Action.UPDATE},
            Role.SYSADMIN: access.ALL_ACTIONS,
        },
    )
    access.register(
        Opening,
        {
            **everyone_reads,
            Role.HQ: {Action.READ, Action.CREATE, Action.UPDATE, Action.EXPORT},
            Role.SHELTER_STAFF: {Action.READ, Action.UPDATE, Action.EXPORT},
        },
        facility_path="shelter__facility_id",
    )
    access.register(
        Checkin,
        {Role.HQ: PERSONAL, Role.SHELTER_STAFF: PERSONAL},
        facility_path="opening__shelter__facility_id",
    )
    access.register(
        Person,
        {Role.HQ: PERSONAL, Role.SHELTER_STAFF: PERSONAL},
        facility_path="checkins__opening__shelter__facility_id",
    )
    access.register(
        Household,
        {Role.HQ: PERSONAL, Role.SHELTER_STAFF: PERSONAL},
        facility_path="members__checkins__opening__shelter__facility_id",
    )
    access.register(
        SupplyRequest,
        {
            Role.HQ: {Action.READ, Action.UPDATE, Action.EXPORT},
            Role.SHELTER_STAFF: {Action.READ, Action.CREATE, Action.UPDATE},
        },
        facility_path="opening__shelter__facility_id",
    )
    # HQ's overview of every shelter (counts, no names).
    access.register("shelters.dashboard", {Role.HQ: {Action.READ}})
    # The 安否情報 list: only the items each person agreed to disclose. Counter staff answer
    # the people asking after someone.
    access.register(
        "shelters.anpi",
        {Role.HQ: {Action.READ, Action.EXPORT}, Role.COUNTER: {Action.READ, Action.EXPORT}},
    )
