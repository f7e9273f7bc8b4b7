from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    from machi.emergency.models import Disaster, ResponderRun

    everyone_reads = {role: {Action.READ} for role in Role}
    access.register(
        Disaster,
        {**everyone_reads, Role.HQ: {Action.READ, Action.CREATE, Action.UPDATE}},
    )
    access.register(ResponderRun, {Role.HQ: {Action.READ}, Role.SYSADMIN: {Action.READ}})
