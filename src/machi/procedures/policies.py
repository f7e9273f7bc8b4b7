"""Who may do what with procedures: counter staff run the applications; administrators keep
the catalogue; auditors read."""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    from machi.procedures.models import Application, Procedure, StatusEntry

    access.register(
        Procedure,
        {
            Role.COUNTER: {Action.READ},
            Role.SYSADMIN: access.ALL_ACTIONS,
            Role.AUDITOR: {Action.READ},
        },
    )
    for model in (Application, StatusEntry):
        access.register(
            model,
            {
                Role.COUNTER: access.ALL_ACTIONS,
                Role.RECOVERY: {Action.READ},
                Role.AUDITOR: {Action.READ},
            },
        )
