"""Who may do what with resident notifications.

The public relations section (PR) writes, approves and sends broadcasts and keeps the templates
and topics; HQ sends too (in a disaster it cannot wait for PR). Subscribers' addresses are
personal data: PR and HQ read them to help a resident, auditors read, nobody else.
"""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    from machi.notify.models import ApiKey, Broadcast, Subscriber, Template, Topic

    senders = {Role.PR: access.ALL_ACTIONS, Role.HQ: access.ALL_ACTIONS}
    readers = {Role.AUDITOR: {Action.READ}, Role.SYSADMIN: {Action.READ}}
    for model in (Broadcast, Template, Topic):
        access.register(model, {**senders, **readers})
    access.register(
        Subscriber,
        {Role.PR: access.ALL_ACTIONS, Role.HQ: {Action.READ}, Role.AUDITOR: {Action.READ}},
    )
    access.register(ApiKey, {Role.PR: access.ALL_ACTIONS, Role.SYSADMIN: access.ALL_ACTIONS})
