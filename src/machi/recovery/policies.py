"""Who may do what in victim support: recovery staff and HQ; auditors read."""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    from machi.recovery.models import (
        Certificate,
        CertificateApplication,
        GrantApplication,
        House,
        IssueBatch,
        LedgerHousehold,
        LedgerPerson,
        Resident,
        ResurveyRequest,
        RuleSet,
        Sharing,
        Support,
        Survey,
        SurveyPhoto,
    )

    access.register(
        RuleSet,
        {
            Role.RECOVERY: access.ALL_ACTIONS,
            Role.HQ: {Action.READ},
            Role.AUDITOR: {Action.READ},
            Role.SYSADMIN: access.ALL_ACTIONS,
        },
    )
    # Surveyors are often staff of other departments sent out after the disaster (FIELD).
    surveys = {
        Role.RECOVERY: access.ALL_ACTIONS,
        Role.FIELD: {Action.READ, Action.CREATE},
        Role.HQ: {Action.READ},
        Role.AUDITOR: {Action.READ},
    }
    for model in (House, Survey, SurveyPhoto):
        access.register(model, surveys)
    access.register(
        ResurveyRequest,
        {Role.RECOVERY: access.ALL_ACTIONS, Role.HQ: {Action.READ}, Role.AUDITOR: {Action.READ}},
    )
    # The ledger and the register extract: personal data. Recovery staff work with it, HQ
    # reads it, auditors review; every read and export is in the audit log.
    ledger = {
        Role.RECOVERY: access.ALL_ACTIONS,
        Role.HQ: {Action.READ},
        Role.AUDITOR: {Action.READ},
    }
    for personal in (Resident, LedgerHousehold, LedgerPerson, Support, Sharing):
        access.register(personal, ledger)
    # 罹災証明書: the counter receives applications and hands certificates out; recovery staff
    # review and issue.
    certificates = {
        Role.RECOVERY: access.ALL_ACTIONS,
        Role.COUNTER: {Action.READ, Action.CREATE, Action.EXPORT},
        Role.HQ: {Action.READ},
        Role.AUDITOR: {Action.READ},
    }
    for issued in (CertificateApplication, Certificate):
        access.register(issued, certificates)
    access.register(IssueBatch, {Role.RECOVERY: access.ALL_ACTIONS, Role.HQ: {Action.READ}})
    access.register(
        GrantApplication,
        {Role.RECOVERY: access.ALL_ACTIONS, Role.HQ: {Action.READ}, Role.AUDITOR: {Action.READ}},
    )
