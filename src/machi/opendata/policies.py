"""Who keeps the catalogue: the DX / open data office and public relations publish; every
member of staff reads it (it is public anyway) and sees the validation reports."""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    keepers = dict.fromkeys((Role.DX, Role.PR, Role.SYSADMIN), access.ALL_ACTIONS)
    readers = {
        role: {Action.READ}
        for role in (
            Role.HQ,
            Role.SHELTER_STAFF,
            Role.COUNTER,
            Role.FIELD,
            Role.WIFI_ADMIN,
            Role.RECOVERY,
            Role.AUDITOR,
        )
    }
    access.register("opendata.dataset", {**readers, **keepers})
