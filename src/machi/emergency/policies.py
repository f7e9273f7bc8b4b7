"""Who may do what in the emergency room (災害対策本部 and the field)."""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    from machi.emergency.models import (
        CapMessage,
        ChronologyEntry,
        DeclarationRule,
        Department,
        Disaster,
        EvacuationOrder,
        Incident,
        IncidentPhoto,
        IncomingAlert,
        JmaEntry,
        JmaWarning,
        ResponderRun,
        Suggestion,
        Task,
    )

    everyone_reads = {role: {Action.READ} for role in Role}
    access.register(
        Disaster,
        {**everyone_reads, Role.HQ: {Action.READ, Action.CREATE, Action.UPDATE}},
    )
    access.register(ResponderRun, {Role.HQ: {Action.READ}, Role.SYSADMIN: {Action.READ}})
    # 避難情報 are public once issued; only HQ issues and lifts them.
    access.register(
        EvacuationOrder, {**everyone_reads, Role.HQ: {Action.READ, Action.CREATE, Action.UPDATE}}
    )
    access.register(CapMessage, everyone_reads)
    # Anyone working in the disaster reports what they see; HQ and the field handle it.
    # Incidents may carry names and photos of people's homes: auditors read, nobody exports
    # but HQ.
    reporting = {Action.READ, Action.CREATE}
    access.register(
        Incident,
        {
            Role.HQ: {Action.READ, Action.CREATE, Action.UPDATE, Action.EXPORT},
            Role.FIELD: {Action.READ, Action.CREATE, Action.UPDATE},
            Role.SHELTER_STAFF: reporting,
            Role.COUNTER: reporting,
            Role.WIFI_ADMIN: reporting,
            Role.AUDITOR: {Action.READ},
        },
    )
    access.register(
        IncidentPhoto,
        {
            Role.HQ: {Action.READ, Action.CREATE},
            Role.FIELD: reporting,
            Role.SHELTER_STAFF: reporting,
            Role.COUNTER: reporting,
            Role.WIFI_ADMIN: reporting,
            Role.AUDITOR: {Action.READ},
        },
    )
    access.register(
        Task,
        {
            Role.HQ: {Action.READ, Action.CREATE, Action.UPDATE},
            Role.FIELD: {Action.READ, Action.UPDATE},
            Role.AUDITOR: {Action.READ},
        },
    )
    access.register(
        ChronologyEntry,
        {
            **everyone_reads,
            Role.HQ: {Action.READ, Action.CREATE, Action.EXPORT},
            Role.FIELD: {Action.READ, Action.CREATE},
        },
    )
    access.register(Department, {**everyone_reads, Role.SYSADMIN: access.ALL_ACTIONS})
    for model in (JmaEntry, JmaWarning):
        access.register(model, {**everyone_reads, Role.HQ: {Action.READ, Action.CREATE}})
    access.register(IncomingAlert, {**everyone_reads, Role.HQ: {Action.READ, Action.CREATE}})
    # The rules are the city's decisions: every staff role may read them, HQ changes them.
    access.register(
        DeclarationRule,
        {**everyone_reads, Role.HQ: access.ALL_ACTIONS, Role.SYSADMIN: access.ALL_ACTIONS},
    )
    access.register(Suggestion, {**everyone_reads, Role.HQ: {Action.READ, Action.UPDATE}})
