"""Who may do what in victim support: recovery staff and HQ; auditors read."""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    from machi.recovery.models import RuleSet

    access.register(
        RuleSet,
        {
            Role.RECOVERY: access.ALL_ACTIONS,
            Role.HQ: {Action.READ},
            Role.AUDITOR: {Action.READ},
            Role.SYSADMIN: access.ALL_ACTIONS,
        },
    )
