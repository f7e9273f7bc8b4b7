"""Who may do what with the knowledge base: public relations and the counter keep it (they
answer residents' questions every day); every member of staff reads it; auditors read."""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    from machi.guide.models import Entry, Revision

    keepers = {Role.PR: access.ALL_ACTIONS, Role.COUNTER: access.ALL_ACTIONS}
    readers = {
        role: {Action.READ}
        for role in (Role.HQ, Role.SHELTER_STAFF, Role.FIELD, Role.RECOVERY, Role.AUDITOR)
    }
    access.register(Entry, {**readers, **keepers, Role.SYSADMIN: access.ALL_ACTIONS})
    access.register(Revision, {**readers, **keepers, Role.SYSADMIN: {Action.READ}})
