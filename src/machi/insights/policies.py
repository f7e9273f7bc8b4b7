"""Who may read the insights and change the values they are computed with. The figures are
aggregates without personal data: staff who plan or account for the service read them."""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    readers = {
        role: {Action.READ, Action.EXPORT}
        for role in (Role.HQ, Role.PR, Role.COUNTER, Role.RECOVERY, Role.WIFI_ADMIN, Role.AUDITOR)
    }
    keepers = dict.fromkeys((Role.DX, Role.SYSADMIN), access.ALL_ACTIONS)
    access.register("insights.figure", {**readers, **keepers})
    # The assumptions (minutes saved per procedure, the value of an hour) are the city's to set.
    access.register("insights.setting", {**readers, **keepers})
