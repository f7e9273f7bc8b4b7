"""The kinds of record that hold personal data (個人情報), in one list.

The audit log records every read and write of every kind of record; this list says which of
them are about a person, so that the auditors' report of who read which personal records
(``/console/audit/reads/``) and the access-matrix tests look at the right ones. A room that adds
a model about people adds its label here; ``tests/core/test_audit_reads.py`` checks that every
label names a real model whose access policy is registered.
"""

from __future__ import annotations

PERSONAL_RECORD_TYPES: tuple[str, ...] = (
    # 避難者: evacuees, their households and stays (health needs are in Person).
    "shelters.household",
    "shelters.person",
    "shelters.checkin",
    # 被災者支援: the ledger, the resident register it is matched against, damage surveys of
    # people's homes, certificates and grants.
    "recovery.resident",
    "recovery.ledgerhousehold",
    "recovery.ledgerperson",
    "recovery.support",
    "recovery.sharing",
    "recovery.house",
    "recovery.survey",
    "recovery.surveyphoto",
    "recovery.certificateapplication",
    "recovery.certificate",
    "recovery.grantapplication",
    # オンライン申請: applications and drafts carry names, addresses and identities.
    "procedures.application",
    "procedures.draft",
    # 通知: subscribers' addresses; Wi-Fi: registered e-mail addresses and sessions.
    "notify.subscriber",
    "wifi_portal.emailregistration",
    "wifi_portal.portalsession",
    # Staff accounts are personal data of the staff.
    "core.user",
)


def is_personal(object_type: str) -> bool:
    return object_type in PERSONAL_RECORD_TYPES
