"""The access matrix: every page and API operation that touches personal data, and what each
kind of caller must get from it.

Columns are callers: ``anonymous``; ``resident`` (no staff account: resident A signed in to
the procedures portal with a verified e-mail, holding the secret links of their own draft and
application, and sending their resident API token ``Bearer r.…``); ``none`` (a staff account
without a role); and one staff account per role (``shelter_staff`` works at shelter A only).

Cells:

- ``✓``      allowed (the status the row says: 200 for a read, past the access check for a
             write); for reads of personal records an audit event is written.
- ``○``      allowed, and the answer shows none of the row's personal data (checked).
- ``403``    refused.
- ``404``    refused without saying whether the record exists (secret links, others' jobs).
- ``→login`` a page answers a redirect to the staff sign-in.
- ``→``      another redirect that shows nothing (e.g. the portal's sign-in, or back to the
             caller's own shelter).
- ``401``    the API asks for credentials.

Print it with ``python -m tests.security.matrix`` (``--markdown`` for the table in
docs/security.md).
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from machi.core.roles import Role

ROLES = tuple(role.value for role in Role)  # the columns, in the enum's order
COLUMNS = ("anonymous", "resident", "none", *ROLES)
HEADINGS = {
    "anonymous": "anon",
    "resident": "resident",
    "none": "no role",
    "hq": "hq",
    "shelter_staff": "shelter A",
    "counter": "counter",
    "field": "field",
    "wifi_admin": "wifi",
    "recovery": "recovery",
    "pr": "pr",
    "dx": "dx",
    "auditor": "auditor",
    "sysadmin": "sysadmin",
}

OK = "✓"
PARTIAL = "○"  # allowed, and the answer shows none of the personal data (checked)
LOGIN = "→login"
REDIRECT = "→"
WRITE_OK = frozenset({200, 201, 202, 302, 400, 409, 422})

W = Any  # the world built by tests/security/conftest.py (AmWorld)


@dataclass(frozen=True)
class Row:
    """One endpoint asked one way: who gets what."""

    label: str  # shown in the table
    route: str  # the URL name ("ns:name") or the API operation ("METHOD /api/v1/…")
    method: str
    path: Callable[[W], str]
    allow: frozenset[str]  # the columns that get ✓
    deny: str = "403"  # what the other staff roles get
    overrides: Mapping[str, str] = field(default_factory=dict)
    audit: str | None = None  # "read"/"export": written for every ✓ cell that sees the data
    data: Callable[[W], Any] | None = None
    json: bool = False  # send data as JSON (the API)
    multipart: bool = False
    ok: frozenset[int] = frozenset({200})
    # Personal text that ✓ cells in ``sees`` must find and the other ✓ cells must not.
    secret: Callable[[W], str] | None = None
    sees: frozenset[str] | None = None
    # A known gap: this read of personal data writes no audit event yet (the reason and the
    # change needed). The test checks that it still writes none, so the fix shows up.
    audit_gap: str = ""
    # For ✓ cells: something the answer must say (e.g. an operation refused inside a 200).
    check: Callable[[W, str], bool] | None = None

    @property
    def api(self) -> bool:
        return self.route.split(" ", 1)[-1].startswith("/api/") or self.route.startswith("api:")

    @property
    def write(self) -> bool:
        return self.method != "GET"

    def expected(self, column: str) -> str:
        if column in self.overrides:
            return self.overrides[column]
        if column in self.allow:
            return OK
        if column in {"anonymous", "resident"}:
            return "401" if self.api else LOGIN
        if column == "none":
            return "401" if self.api else "403"
        return self.deny

    def shown(self, column: str) -> str:
        """The cell as the table shows it: ○ for allowed without the personal data."""
        expected = self.expected(column)
        if expected == OK and not self.seen_by(column):
            return PARTIAL
        return expected

    def seen_by(self, column: str) -> bool:
        return self.sees is None or column in self.sees

    @property
    def ident(self) -> str:
        return f"{self.method} {self.label}"


def _s(*names: str) -> frozenset[str]:
    return frozenset(names)


def row(label: str, route: str, path: Callable[[W], str], allow: frozenset[str], **kw: Any) -> Row:
    return Row(label, route, kw.pop("method", "GET"), path, allow, **kw)


def post(label: str, route: str, path: Callable[[W], str], allow: frozenset[str], **kw: Any) -> Row:
    kw.setdefault("ok", WRITE_OK)
    return Row(label, route, "POST", path, allow, **kw)


def api_post(
    label: str, route: str, path: Callable[[W], str], allow: frozenset[str], **kw: Any
) -> Row:
    kw.setdefault("ok", WRITE_OK)
    kw.setdefault("json", True)
    return Row(label, route, "POST", path, allow, **kw)


EVERY_ROLE = frozenset(ROLES)
SHELTER_A = _s("hq", "shelter_staff")  # HQ and the staff of shelter A
HQ = _s("hq")
INCIDENT_READERS = _s("hq", "field", "shelter_staff", "counter", "wifi_admin", "auditor")
INCIDENT_REPORTERS = _s("hq", "field", "shelter_staff", "counter", "wifi_admin")
LEDGER_READERS = _s("hq", "recovery", "auditor")
SURVEY_READERS = _s("hq", "recovery", "field", "auditor")
APPLICATION_READERS = _s("counter", "recovery", "auditor")
BROADCAST_READERS = _s("pr", "hq", "auditor", "sysadmin")
GUIDE_READERS = _s(
    "hq", "shelter_staff", "field", "recovery", "auditor", "pr", "counter", "sysadmin"
)
INSIGHT_READERS = _s("hq", "pr", "counter", "recovery", "wifi_admin", "auditor", "dx", "sysadmin")
NOBODY: frozenset[str] = frozenset()
# Secret links: whoever holds the link, and nobody else, whatever their role.
LINK_HOLDERS = frozenset(COLUMNS)
NOT_FOUND_FOR_ALL = dict.fromkeys(COLUMNS, "404")
REDIRECT_FOR_ALL = dict.fromkeys(COLUMNS, REDIRECT)


def _person(key: str) -> Callable[[W], str]:
    return lambda w: "東雲" if key == "a" else "西園"


def _today() -> str:
    from django.utils import timezone

    return timezone.localdate().isoformat()


def _jpeg() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("p.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 200, "image/jpeg")


S = "/console/shelters"
P = "/console/shelters/paper/openings"

SHELTERS: list[Row] = [
    # The opening page: every role reads openings, only HQ and the shelter's staff see people.
    row(
        "shelter A's opening",
        "shelters:opening",
        lambda w: f"{S}/openings/{w['opening_a']}/?q=東",
        EVERY_ROLE,
        audit="read",
        secret=_person("a"),
        sees=SHELTER_A,
    ),
    row(
        "shelter A's opening, searching B's evacuee (IDOR)",
        "shelters:opening",
        lambda w: f"{S}/openings/{w['opening_a']}/?q=西",
        EVERY_ROLE,
        audit="read",
        secret=_person("b"),
        sees=HQ,
    ),
    row(
        "shelter B's opening (IDOR)",
        "shelters:opening",
        lambda w: f"{S}/openings/{w['opening_b']}/?q=西",
        EVERY_ROLE - {"shelter_staff"},
        audit="read",
        secret=_person("b"),
        sees=HQ,
    ),
    post(
        "shelter A: status",
        "shelters:set_status",
        lambda w: f"{S}/openings/{w['opening_a']}/status/",
        SHELTER_A,
    ),
    post(
        "shelter B: status (IDOR)",
        "shelters:set_status",
        lambda w: f"{S}/openings/{w['opening_b']}/status/",
        HQ,
    ),
    post(
        "shelter A: check in by code",
        "shelters:checkin_code",
        lambda w: f"{S}/openings/{w['opening_a']}/checkin/",
        SHELTER_A,
    ),
    post(
        "shelter B: check in by code (IDOR)",
        "shelters:checkin_code",
        lambda w: f"{S}/openings/{w['opening_b']}/checkin/",
        HQ,
    ),
    post(
        "shelter A: register a person",
        "shelters:register",
        lambda w: f"{S}/openings/{w['opening_a']}/register/",
        SHELTER_A,
    ),
    post(
        "shelter A: check in B's evacuee (IDOR)",
        "shelters:checkin_person",
        lambda w: f"{S}/openings/{w['opening_a']}/people/{w['person_b']}/checkin/",
        HQ,
    ),
    row(
        "shelter A: edit A's evacuee",
        "shelters:person_edit",
        lambda w: f"{S}/openings/{w['opening_a']}/people/{w['person_a']}/edit/",
        SHELTER_A,
        audit="read",
        secret=_person("a"),
    ),
    row(
        "shelter A: edit B's evacuee (IDOR)",
        "shelters:person_edit",
        lambda w: f"{S}/openings/{w['opening_a']}/people/{w['person_b']}/edit/",
        HQ,
        audit="read",
        secret=_person("b"),
    ),
    row(
        "shelter B: edit B's evacuee (IDOR)",
        "shelters:person_edit",
        lambda w: f"{S}/openings/{w['opening_b']}/people/{w['person_b']}/edit/",
        HQ,
        audit="read",
        secret=_person("b"),
    ),
    post(
        "shelter A: check out A's stay",
        "shelters:checkout",
        lambda w: f"{S}/openings/{w['opening_a']}/checkins/{w['checkin_a']}/checkout/",
        SHELTER_A,
    ),
    post(
        "shelter A: check out B's stay (IDOR)",
        "shelters:checkout",
        lambda w: f"{S}/openings/{w['opening_a']}/checkins/{w['checkin_b']}/checkout/",
        NOBODY,
        overrides={"hq": "404", "shelter_staff": "404"},
    ),
    row(
        "shelter A: transfer A's stay",
        "shelters:transfer",
        lambda w: f"{S}/openings/{w['opening_a']}/checkins/{w['checkin_a']}/transfer/",
        SHELTER_A,
        audit="read",
        secret=_person("a"),
    ),
    row(
        "shelter B: transfer B's stay (IDOR)",
        "shelters:transfer",
        lambda w: f"{S}/openings/{w['opening_b']}/checkins/{w['checkin_b']}/transfer/",
        HQ,
        audit="read",
        secret=_person("b"),
    ),
    post(
        "shelter A: ask for supplies",
        "shelters:supply_create",
        lambda w: f"{S}/openings/{w['opening_a']}/supplies/",
        _s("shelter_staff"),
    ),
    post(
        "shelter B: ask for supplies (IDOR)",
        "shelters:supply_create",
        lambda w: f"{S}/openings/{w['opening_b']}/supplies/",
        NOBODY,
    ),
    row("supply requests (HQ)", "shelters:supplies", lambda w: f"{S}/supplies/", HQ),
    post(
        "advance B's supply request",
        "shelters:supply_advance",
        lambda w: f"{S}/supplies/{w['supply_b']}/advance/",
        HQ,
    ),
    row(
        "shelter A: roster CSV",
        "shelters:roster_csv",
        lambda w: f"{S}/openings/{w['opening_a']}/roster.csv",
        SHELTER_A,
        audit="export",
    ),
    row(
        "shelter B: roster CSV (IDOR)",
        "shelters:roster_csv",
        lambda w: f"{S}/openings/{w['opening_b']}/roster.csv",
        HQ,
        audit="export",
    ),
    row(
        "shelter B: roster PDF (IDOR)",
        "shelters:roster_pdf",
        lambda w: f"{S}/openings/{w['opening_b']}/roster.pdf",
        HQ,
        audit="export",
    ),
    row(
        "安否 list CSV",
        "shelters:anpi_csv",
        lambda w: f"{S}/anpi.csv?disaster={w['disaster']}",
        _s("hq", "counter"),
        audit="export",
    ),
    # Paper cards and the offline console.
    row(
        "shelter A: paper desk",
        "shelters_paper:opening",
        lambda w: f"{P}/{w['opening_a']}/",
        SHELTER_A,
        audit="read",
        secret=lambda w: "東雲紙",
    ),
    row(
        "shelter B: paper desk (IDOR)",
        "shelters_paper:opening",
        lambda w: f"{P}/{w['opening_b']}/",
        HQ,
        audit="read",
        secret=lambda w: "西園紙",
    ),
    row(
        "shelter A: find a card",
        "shelters_paper:card_find",
        lambda w: f"{P}/{w['opening_a']}/card/?code=XXXX-XXXX-XXX",
        SHELTER_A,
        ok=frozenset({200, 302, 400}),
    ),
    post(
        "shelter A: new card",
        "shelters_paper:card_new",
        lambda w: f"{P}/{w['opening_a']}/card/new/",
        SHELTER_A,
    ),
    row(
        "shelter A: A's paper card",
        "shelters_paper:card",
        lambda w: f"{P}/{w['opening_a']}/cards/{w['card_a']}/",
        SHELTER_A,
        audit="read",
        secret=lambda w: "東雲紙",
    ),
    row(
        "shelter A: B's paper card (IDOR)",
        "shelters_paper:card",
        lambda w: f"{P}/{w['opening_a']}/cards/{w['card_b']}/",
        NOBODY,
        overrides={"hq": REDIRECT, "shelter_staff": REDIRECT},
    ),
    row(
        "shelter B: B's paper card (IDOR)",
        "shelters_paper:card",
        lambda w: f"{P}/{w['opening_b']}/cards/{w['card_b']}/",
        HQ,
        audit="read",
        secret=lambda w: "西園紙",
    ),
    post(
        "shelter B: type in a card (IDOR)",
        "shelters_paper:card",
        lambda w: f"{P}/{w['opening_b']}/cards/{w['new_card']}/",
        HQ,
    ),
    row(
        "shelter A: offline console",
        "shelters_offline:console",
        lambda w: f"{S}/offline/{w['opening_a']}/",
        SHELTER_A,
    ),
    row(
        "shelter B: offline console (IDOR)",
        "shelters_offline:console",
        lambda w: f"{S}/offline/{w['opening_b']}/",
        HQ,
    ),
    # The residents' own registration card: the code in its link is the secret.
    row(
        "registration card (its code)",
        "shelters_public:registration",
        lambda w: f"/register/{w['household_code_a']}/",
        LINK_HOLDERS,
        audit="read",
        secret=_person("a"),
    ),
    row(
        "registration card (a guessed code)",
        "shelters_public:registration",
        lambda w: "/register/ZZZZZZZZ/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
]

A = "/api/v1"

SHELTERS_API: list[Row] = [
    row(
        "API: shelter A's evacuees",
        "GET /api/v1/shelters/{shelter_id}/evacuees",
        lambda w: f"{A}/shelters/{w['shelter_a']}/evacuees?disaster_id={w['disaster']}",
        SHELTER_A,
        audit="read",
        secret=_person("a"),
    ),
    row(
        "API: shelter B's evacuees (IDOR)",
        "GET /api/v1/shelters/{shelter_id}/evacuees",
        lambda w: f"{A}/shelters/{w['shelter_b']}/evacuees?disaster_id={w['disaster']}",
        HQ,
        audit="read",
        secret=_person("b"),
    ),
    api_post(
        "API: check in at shelter A",
        "POST /api/v1/checkins",
        lambda w: f"{A}/checkins",
        SHELTER_A,
        data=lambda w: {
            "id": str(uuid.uuid4()),
            "shelter_id": w["shelter_a"],
            "disaster_id": w["disaster"],
            "person": {"family_name": "新規"},
        },
    ),
    api_post(
        "API: check in at shelter B (IDOR)",
        "POST /api/v1/checkins",
        lambda w: f"{A}/checkins",
        HQ,
        data=lambda w: {
            "id": str(uuid.uuid4()),
            "shelter_id": w["shelter_b"],
            "disaster_id": w["disaster"],
            "person": {"family_name": "新規"},
        },
    ),
    api_post(
        "API: check in B's evacuee at shelter A (IDOR)",
        "POST /api/v1/checkins",
        lambda w: f"{A}/checkins",
        HQ,
        data=lambda w: {
            "id": str(uuid.uuid4()),
            "shelter_id": w["shelter_a"],
            "disaster_id": w["disaster"],
            "person_id": str(w["person_b"]),
        },
    ),
    api_post(
        "API: replay B's check-in id at shelter A (IDOR)",
        "POST /api/v1/checkins",
        lambda w: f"{A}/checkins",
        NOBODY,
        ok=frozenset(),
        overrides={"hq": "422", "shelter_staff": "422"},
        data=lambda w: {
            "id": str(w["checkin_b"]),
            "shelter_id": w["shelter_a"],
            "disaster_id": w["disaster"],
            "person": {"family_name": "新規"},
        },
    ),
    api_post(
        "API: check out B's stay (IDOR)",
        "POST /api/v1/checkins/{checkin_id}/checkout",
        lambda w: f"{A}/checkins/{w['checkin_b']}/checkout",
        HQ,
    ),
    api_post(
        "API: transfer B's stay (IDOR)",
        "POST /api/v1/checkins/{checkin_id}/transfer",
        lambda w: f"{A}/checkins/{w['checkin_b']}/transfer",
        HQ,
        data=lambda w: {"id": str(uuid.uuid4()), "shelter_id": w["shelter_a"]},
    ),
    api_post(
        "API: offline sync, shelter A",
        "POST /api/v1/openings/{opening_id}/offline-sync",
        lambda w: f"{A}/openings/{w['opening_a']}/offline-sync",
        SHELTER_A,
        data=lambda w: {"operations": []},
    ),
    api_post(
        "API: offline sync at A, checking out B's stay (IDOR)",
        "POST /api/v1/openings/{opening_id}/offline-sync",
        lambda w: f"{A}/openings/{w['opening_a']}/offline-sync",
        SHELTER_A,
        data=lambda w: {
            "operations": [
                {
                    "id": str(uuid.uuid4()),
                    "kind": "checkout",
                    "checkin_id": str(w["checkin_b"]),
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                }
            ]
        },
        check=lambda w, body: '"status": "failed"' in body and "西園" not in body,
    ),
    api_post(
        "API: offline sync at A, replaying B's check-in id (IDOR)",
        "POST /api/v1/openings/{opening_id}/offline-sync",
        lambda w: f"{A}/openings/{w['opening_a']}/offline-sync",
        SHELTER_A,
        data=lambda w: {
            "operations": [
                {
                    "id": str(uuid.uuid4()),
                    "checkin_id": str(w["checkin_b"]),
                    "kind": "register",
                    "person": {"family_name": "新規"},
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                }
            ]
        },
        check=lambda w, body: '"status": "failed"' in body and "西園" not in body,
    ),
    api_post(
        "API: offline sync, shelter B (IDOR)",
        "POST /api/v1/openings/{opening_id}/offline-sync",
        lambda w: f"{A}/openings/{w['opening_b']}/offline-sync",
        HQ,
        data=lambda w: {"operations": []},
    ),
]

R = "/console/recovery"

RECOVERY: list[Row] = [
    row(
        "被災者台帳",
        "recovery:index",
        lambda w: f"{R}/?q=大宮",
        LEDGER_READERS | {"counter"},
        audit="read",
        secret=lambda w: "大宮",
    ),
    row(
        "被災者台帳, no search (the counter looks a household up by name)",
        "recovery:index",
        lambda w: f"{R}/",
        LEDGER_READERS | {"counter"},
        audit="read",
        secret=lambda w: "大宮",
        sees=LEDGER_READERS,
    ),
    row(
        "a household of the ledger",
        "recovery:household",
        lambda w: f"{R}/households/{w['ledger_household']}/",
        LEDGER_READERS | {"counter"},
        audit="read",
        secret=lambda w: "大宮",
    ),
    row(
        "add a household (form)",
        "recovery:household_new",
        lambda w: f"{R}/households/new/",
        _s("recovery"),
    ),
    post(
        "support given",
        "recovery:support_add",
        lambda w: f"{R}/households/{w['ledger_household']}/support/",
        _s("recovery"),
    ),
    post(
        "ask for a resurvey",
        "recovery:resurvey_request",
        lambda w: f"{R}/households/{w['ledger_household']}/resurvey/",
        _s("recovery"),
    ),
    post(
        "receive a 罹災証明書 application",
        "recovery:application_receive",
        lambda w: f"{R}/households/{w['ledger_household']}/certificate/",
        _s("recovery", "counter"),
    ),
    post(
        "apply for a grant",
        "recovery:grant_apply",
        lambda w: f"{R}/households/{w['ledger_household']}/grants/",
        _s("recovery"),
    ),
    post(
        "review an application",
        "recovery:application_review",
        lambda w: f"{R}/applications/{w['certificate_application']}/review/",
        _s("recovery"),
    ),
    post(
        "issue a certificate",
        "recovery:application_issue",
        lambda w: f"{R}/applications/{w['certificate_application']}/issue/",
        _s("recovery"),
    ),
    post(
        "re-issue a certificate",
        "recovery:certificate_reissue",
        lambda w: f"{R}/certificates/{w['certificate']}/reissue/",
        _s("recovery"),
    ),
    post(
        "a grant's status",
        "recovery:grant_status",
        lambda w: f"{R}/grants/{w['grant']}/status/",
        _s("recovery"),
        data=lambda w: {"status": "approved"},
    ),
    row(
        "record a survey (form)",
        "recovery:survey_new",
        lambda w: f"{R}/surveys/new/",
        _s("recovery", "field"),
    ),
    row(
        "a damage survey",
        "recovery:survey",
        lambda w: f"{R}/surveys/{w['survey']}/",
        SURVEY_READERS,
        audit="read",
        secret=lambda w: "美女木8-8",
    ),
    row("bulk issuance", "recovery:bulk", lambda w: f"{R}/certificates/", _s("recovery", "hq")),
    post(
        "start bulk issuance",
        "recovery:bulk_start",
        lambda w: f"{R}/certificates/bulk/",
        _s("recovery"),
        data=lambda w: {"disaster": w["disaster"]},
    ),
]

RA = "/api/v1/recovery"

RECOVERY_API: list[Row] = [
    api_post(
        "API: register a house",
        "POST /api/v1/recovery/houses",
        lambda w: f"{RA}/houses",
        _s("recovery", "field"),
        data=lambda w: {"address": "戸田市新曽1", "structure": "wooden"},
    ),
    api_post(
        "API: record a survey",
        "POST /api/v1/recovery/surveys",
        lambda w: f"{RA}/surveys",
        _s("recovery", "field"),
        data=lambda w: {
            "id": str(uuid.uuid4()),
            "house_id": str(w["house"]),
            "disaster_id": w["disaster"],
            "round": "second",
            "method": "flood_depth",
            "inputs": {"external_force": True, "depth_above_floor_m": "0.1"},
            "surveyed_on": _today(),
        },
    ),
    row(
        "API: a house's surveys",
        "GET /api/v1/recovery/houses/{house_id}/surveys",
        lambda w: f"{RA}/houses/{w['house']}/surveys?disaster_id={w['disaster']}",
        SURVEY_READERS,
        audit="read",
    ),
    api_post(
        "API: ask for a resurvey",
        "POST /api/v1/recovery/resurvey-requests",
        lambda w: f"{RA}/resurvey-requests",
        _s("recovery"),
        data=lambda w: {"house_id": str(w["house"]), "disaster_id": w["disaster"], "reason": "x"},
    ),
    api_post(
        "API: add a household to the ledger",
        "POST /api/v1/recovery/ledger/households",
        lambda w: f"{RA}/ledger/households",
        _s("recovery"),
        data=lambda w: {
            "disaster_id": w["disaster"],
            "head_name": "新規 一郎",
            "address": "戸田市新曽2",
            "members": [{"name": "新規 一郎"}],
        },
    ),
    row(
        "API: the ledger",
        "GET /api/v1/recovery/ledger/households",
        lambda w: f"{RA}/ledger/households?disaster_id={w['disaster']}",
        LEDGER_READERS,
        audit="read",
        secret=lambda w: "大宮",
    ),
    row(
        "API: a household of the ledger",
        "GET /api/v1/recovery/ledger/households/{household_id}",
        lambda w: f"{RA}/ledger/households/{w['ledger_household']}",
        LEDGER_READERS,
        audit="read",
        secret=lambda w: "大宮",
    ),
    api_post(
        "API: support given",
        "POST /api/v1/recovery/ledger/households/{household_id}/support",
        lambda w: f"{RA}/ledger/households/{w['ledger_household']}/support",
        _s("recovery"),
        data=lambda w: {"kind": "other", "provided_on": _today()},
    ),
    api_post(
        "API: share the ledger",
        "POST /api/v1/recovery/ledger/sharing",
        lambda w: f"{RA}/ledger/sharing",
        _s("recovery"),
        data=lambda w: {
            "disaster_id": w["disaster"],
            "household_id": w["ledger_household"],
            "recipient": "社会福祉協議会",
            "purpose": "見守り",
            "legal_basis": "災害対策基本法第90条の4第1項第2号",
            "items": ["name"],
        },
    ),
    api_post(
        "API: receive a 罹災証明書 application",
        "POST /api/v1/recovery/certificates/applications",
        lambda w: f"{RA}/certificates/applications",
        _s("recovery", "counter"),
        data=lambda w: {"household_id": w["ledger_household"], "applicant_name": "大宮 八郎"},
    ),
    api_post(
        "API: review an application",
        "POST /api/v1/recovery/certificates/applications/{application_id}/review",
        lambda w: f"{RA}/certificates/applications/{w['certificate_application']}/review",
        _s("recovery"),
    ),
    api_post(
        "API: issue a certificate",
        "POST /api/v1/recovery/certificates/applications/{application_id}/issue",
        lambda w: f"{RA}/certificates/applications/{w['certificate_application']}/issue",
        _s("recovery"),
    ),
    api_post(
        "API: re-issue a certificate",
        "POST /api/v1/recovery/certificates/{certificate_id}/reissue",
        lambda w: f"{RA}/certificates/{w['certificate']}/reissue",
        _s("recovery"),
        data=lambda w: {"reason": "紛失"},
    ),
    row(
        "API: a certificate's PDF",
        "GET /api/v1/recovery/certificates/{certificate_id}/pdf",
        lambda w: f"{RA}/certificates/{w['certificate']}/pdf",
        _s("recovery", "counter"),
        audit="export",
    ),
    api_post(
        "API: start bulk issuance",
        "POST /api/v1/recovery/certificates/bulk",
        lambda w: f"{RA}/certificates/bulk",
        _s("recovery"),
        data=lambda w: {"disaster_id": w["disaster"]},
    ),
    api_post(
        "API: apply for a grant",
        "POST /api/v1/recovery/grants/applications",
        lambda w: f"{RA}/grants/applications",
        _s("recovery"),
        data=lambda w: {"household_id": w["ledger_household"], "part": "base", "household_size": 1},
    ),
    api_post(
        "API: a grant's status",
        "POST /api/v1/recovery/grants/applications/{application_id}/status",
        lambda w: f"{RA}/grants/applications/{w['grant']}/status",
        _s("recovery"),
        data=lambda w: {"status": "approved"},
    ),
    row(
        "API: grant payments CSV",
        "GET /api/v1/recovery/grants/payments.{format}",
        lambda w: f"{RA}/grants/payments.csv?disaster_id={w['disaster']}",
        _s("recovery"),
        audit="export",
    ),
    row(
        "API: a report",
        "GET /api/v1/recovery/reports/{name}",
        lambda w: f"{RA}/reports/households-by-class?disaster_id={w['disaster']}",
        LEDGER_READERS,
    ),
    api_post(
        "API: add a survey photo",
        "POST /api/v1/recovery/surveys/{survey_id}/photos",
        lambda w: f"{RA}/surveys/{w['survey']}/photos",
        _s("recovery", "field"),
        json=False,
        multipart=True,
        data=lambda w: {"file": _jpeg()},
    ),
    row(
        "API: a survey photo",
        "GET /api/v1/recovery/photos/{photo_id}",
        lambda w: f"{RA}/photos/{w['photo']}",
        SURVEY_READERS,
        audit="read",
    ),
]

Q = "/console/procedures"

PROCEDURES: list[Row] = [
    row(
        "application queue",
        "procedures:queue",
        lambda w: f"{Q}/",
        APPLICATION_READERS,
        audit="read",
    ),
    row(
        "resident A's application",
        "procedures:detail",
        lambda w: f"{Q}/{w['application_a']}/",
        APPLICATION_READERS,
        audit="read",
        secret=lambda w: "hanako@example.jp",
    ),
    post(
        "move an application",
        "procedures:move",
        lambda w: f"{Q}/{w['application_a']}/status/",
        _s("counter"),
    ),
    post("bulk status", "procedures:bulk", lambda w: f"{Q}/bulk/", _s("counter")),
    post("assign", "procedures:assign", lambda w: f"{Q}/assign/", _s("counter")),
    post(
        "paid at the counter",
        "procedures:payment_counter",
        lambda w: f"{Q}/payments/{w['application_c']}/counter/",
        _s("counter"),
    ),
    post(
        "定額小為替 received",
        "procedures:payment_postal",
        lambda w: f"{Q}/payments/{w['application_c']}/postal/",
        _s("counter"),
    ),
    post(
        "refunded",
        "procedures:payment_refunded",
        lambda w: f"{Q}/payments/{w['application_c']}/refunded/",
        _s("counter"),
    ),
    post(
        "card refund",
        "procedures:payment_card_refund",
        lambda w: f"{Q}/payments/{w['application_c']}/card-refund/",
        _s("counter"),
    ),
    row(
        "cover letter PDF",
        "procedures:print_cover",
        lambda w: f"{Q}/print/cover/{w['application_c']}.pdf",
        _s("counter"),
        audit="export",
    ),
    post(
        "labels PDF (batch)",
        "procedures:print_batch",
        lambda w: f"{Q}/print/batch/",
        _s("counter"),
        data=lambda w: {"references": [w["application_c"]], "kind": "labels"},
    ),
    post(
        "hand-off to the ledger",
        "procedures:handoff_link",
        lambda w: f"{Q}/handoff/{w['application_a']}/",
        _s("recovery"),
    ),
    # The resident portal: what resident A holds, and what they do not.
    row(
        "my applications",
        "portal:mine",
        lambda w: "/procedures/mine/",
        _s("resident"),
        audit="read",
        secret=lambda w: w["application_a"],
        overrides={c: REDIRECT for c in COLUMNS if c != "resident"},
    ),
    row(
        "A's draft",
        "portal:step",
        lambda w: f"/procedures/apply/{w['draft_a']}/step/1/",
        _s("resident"),
        overrides={c: "404" for c in COLUMNS if c != "resident"},
    ),
    row(
        "B's draft (IDOR)",
        "portal:step",
        lambda w: f"/procedures/apply/{w['draft_b']}/step/1/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    row(
        "A's draft: check",
        "portal:check",
        lambda w: f"/procedures/apply/{w['draft_a']}/check/",
        _s("resident"),
        overrides={c: "404" for c in COLUMNS if c != "resident"},
    ),
    row(
        "B's draft: check (IDOR)",
        "portal:check",
        lambda w: f"/procedures/apply/{w['draft_b']}/check/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    row(
        "B's draft: saved (IDOR)",
        "portal:saved",
        lambda w: f"/procedures/apply/{w['draft_b']}/saved/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    row(
        "B's draft: signing data (IDOR)",
        "portal:signing_data",
        lambda w: f"/procedures/apply/{w['draft_b']}/application.json",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    row(
        "resume A's draft (its secret link)",
        "portal:resume",
        lambda w: f"/procedures/resume/{w['draft_token_a']}/",
        LINK_HOLDERS,
        ok=frozenset({302}),
        audit="read",
    ),
    row(
        "resume a draft (a guessed link)",
        "portal:resume",
        lambda w: "/procedures/resume/not-a-real-token/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    row(
        "A's submitted page",
        "portal:done",
        lambda w: f"/procedures/done/{w['application_a']}/",
        _s("resident"),
        audit="read",
        overrides={c: "404" for c in COLUMNS if c != "resident"},
    ),
    row(
        "B's submitted page (IDOR)",
        "portal:done",
        lambda w: f"/procedures/done/{w['application_b']}/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    row(
        "A's status link",
        "portal:status",
        lambda w: f"/procedures/status/{w['application_a']}/{w['status_key_a']}/",
        LINK_HOLDERS,
        audit="read",
        secret=lambda w: w["application_a"],
    ),
    row(
        "B's status with A's key (IDOR)",
        "portal:status",
        lambda w: f"/procedures/status/{w['application_b']}/{w['status_key_a']}/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    row(
        "B's payment page (unknown payment)",
        "portal:pay_return",
        lambda w: f"/procedures/pay/return/{w['application_b_uuid']}/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    post(
        "B's payment start (unknown payment)",
        "portal:pay_start",
        lambda w: f"/procedures/pay/start/{w['application_b_uuid']}/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
]

# The API an application is read through: staff by role, the applicant by token or key.
APPLICANT_API = {
    "anonymous": "404",
    "none": "404",
}

PROCEDURES_API: list[Row] = [
    row(
        "API: A's application",
        "GET /api/v1/applications/{reference}",
        lambda w: f"{A}/applications/{w['application_a']}",
        APPLICATION_READERS | {"resident"},
        overrides=APPLICANT_API,
        audit="read",
        secret=lambda w: w["application_a"],
    ),
    row(
        "API: B's application (IDOR)",
        "GET /api/v1/applications/{reference}",
        lambda w: f"{A}/applications/{w['application_b']}",
        APPLICATION_READERS,
        overrides={**APPLICANT_API, "resident": "404"},
        audit="read",
    ),
    row(
        "API: B's application with A's key (IDOR)",
        "GET /api/v1/applications/{reference}",
        lambda w: f"{A}/applications/{w['application_b']}?key={w['status_key_a']}",
        APPLICATION_READERS,
        overrides={**APPLICANT_API, "resident": "404"},
        audit="read",
    ),
    api_post(
        "API: apply",
        "POST /api/v1/applications",
        lambda w: f"{A}/applications",
        _s("resident", "counter"),
        data=lambda w: {
            "procedure": "sodai-gomi",
            "applicant": {"name": "窓口 花子"},
            "answers": {"items": "椅子"},
            "delivery": "electronic",
        },
    ),
    api_post(
        "API: move an application",
        "POST /api/v1/applications/{reference}/status",
        lambda w: f"{A}/applications/{w['application_b']}/status",
        _s("counter"),
        data=lambda w: {"status": "reviewing"},
    ),
    row(
        "API: hand-off CSV",
        "GET /api/v1/applications/handoff.{format}",
        lambda w: f"{A}/applications/handoff.csv?status=received",
        _s("counter"),
        audit="export",
    ),
]

N = "/console/notify"

NOTIFY: list[Row] = [
    row(
        "a broadcast",
        "notify_console:detail",
        lambda w: f"{N}/{w['broadcast']}/",
        BROADCAST_READERS,
    ),
    row(
        "a broadcast's deliveries CSV",
        "notify_console:deliveries_csv",
        lambda w: f"{N}/{w['broadcast']}/deliveries.csv",
        _s("pr", "hq"),
        audit="export",
    ),
    row(
        "subscribers (counts)",
        "notify_console:subscribers",
        lambda w: f"{N}/subscribers/",
        BROADCAST_READERS,
    ),
    post(
        "subscribers: find one by address",
        "notify_console:subscribers",
        lambda w: f"{N}/subscribers/",
        _s("pr", "hq", "auditor"),
        ok=frozenset({200}),
        data=lambda w: {"action": "search", "address": "subscriber@example.jp"},
        audit="read",
        secret=lambda w: "subscriber@example.jp",
    ),
    post(
        "subscribers: stop one for a resident",
        "notify_console:subscribers",
        lambda w: f"{N}/subscribers/",
        _s("pr"),
        data=lambda w: {"action": "unsubscribe", "subscriber": w["subscriber"]},
    ),
    row(
        "the demo mailbox (off outside the demo)",
        "notify_console:mailbox",
        lambda w: f"{N}/mailbox/",
        NOBODY,
        overrides={"none": "403", **dict.fromkeys(ROLES, "404")},
    ),
    row(
        "confirm a subscription (a guessed link: 'not valid')",
        "notify:confirm",
        lambda w: "/notify/confirm/not-a-token/",
        NOBODY,
        ok=frozenset(),
        overrides=dict.fromkeys(COLUMNS, "400"),
    ),
    row(
        "unsubscribe (a guessed link)",
        "notify:unsubscribe",
        lambda w: "/notify/unsubscribe/not-a-token/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
    row(
        "manage a subscription (a guessed link)",
        "notify:manage",
        lambda w: "/notify/manage/not-a-token/",
        NOBODY,
        overrides=NOT_FOUND_FOR_ALL,
    ),
]

F = "/console/incidents"

EMERGENCY: list[Row] = [
    row("incidents", "field:incidents", lambda w: f"{F}/", INCIDENT_READERS, audit="read"),
    row(
        "an incident",
        "field:incident",
        lambda w: f"{F}/{w['incident']}/",
        INCIDENT_READERS,
        audit="read",
        secret=lambda w: "戸田様宅前",
    ),
    row(
        "an incident's photo",
        "field:incident_photo",
        lambda w: f"{F}/{w['incident']}/photos/{w['incident_photo']}",
        INCIDENT_READERS,
        audit="read",
    ),
    row("incidents CSV", "field:incidents_csv", lambda w: f"{F}/export.csv", HQ, audit="export"),
    row(
        "report an incident (form)", "field:incident_new", lambda w: f"{F}/new/", INCIDENT_REPORTERS
    ),
    post(
        "an incident's status",
        "field:incident_status",
        lambda w: f"{F}/{w['incident']}/status/",
        _s("hq", "field"),
    ),
    post(
        "assign an incident",
        "field:incident_assign",
        lambda w: f"{F}/{w['incident']}/assign/",
        _s("hq", "field"),
    ),
    post(
        "add a photo to an incident",
        "field:incident_photo_add",
        lambda w: f"{F}/{w['incident']}/photos/",
        INCIDENT_REPORTERS,
        multipart=True,
        data=lambda w: {"photos": _jpeg()},
    ),
    row(
        "API: incidents",
        "GET /api/v1/incidents",
        lambda w: f"{A}/incidents",
        INCIDENT_READERS,
        audit="read",
        secret=lambda w: "戸田様宅前",
    ),
    row(
        "API: an incident",
        "GET /api/v1/incidents/{incident_id}",
        lambda w: f"{A}/incidents/{w['incident']}",
        INCIDENT_READERS,
        audit="read",
        secret=lambda w: "戸田様宅前",
    ),
    api_post(
        "API: report an incident",
        "POST /api/v1/incidents",
        lambda w: f"{A}/incidents",
        INCIDENT_REPORTERS,
        data=lambda w: {
            "id": str(uuid.uuid4()),
            "category": "road",
            "title": "倒木",
            "address": "戸田市新曽1",
        },
    ),
    api_post(
        "API: an incident's status",
        "POST /api/v1/incidents/{incident_id}/status",
        lambda w: f"{A}/incidents/{w['incident']}/status",
        _s("hq", "field"),
        data=lambda w: {"status": "in_progress"},
    ),
    api_post(
        "API: add a photo to an incident",
        "POST /api/v1/incidents/{incident_id}/photos",
        lambda w: f"{A}/incidents/{w['incident']}/photos",
        INCIDENT_REPORTERS,
        json=False,
        multipart=True,
        data=lambda w: {"file": _jpeg()},
    ),
]

CORE: list[Row] = [
    row(
        "閲覧記録 (who read which personal records)",
        "core:console_audit_reads",
        lambda w: "/console/audit/reads/",
        _s("auditor", "sysadmin"),
        audit="read",
    ),
    row(
        "audit log",
        "core:console_audit",
        lambda w: "/console/audit/",
        _s("auditor", "sysadmin"),
        audit="read",
    ),
    post(
        "audit log export",
        "core:console_audit_export",
        lambda w: "/console/audit/export/",
        _s("auditor"),
    ),
    row(
        "another user's job (the auditor's)",
        "core:job_detail",
        lambda w: f"/console/jobs/{w['job']}/",
        _s("auditor", "sysadmin"),
        deny="404",
    ),
    row(
        "another user's job download (the auditor's)",
        "core:job_download",
        lambda w: f"/console/jobs/{w['job']}/download/",
        _s("auditor"),
        deny="404",
        overrides={"sysadmin": "403"},
        audit="export",
    ),
    row(
        "API: audit log",
        "GET /api/v1/audit-events",
        lambda w: f"{A}/audit-events",
        _s("auditor", "sysadmin"),
        audit="read",
    ),
    # The Django admin is the administrators' back office: closed to every other role.
    row(
        "admin",
        "admin:index",
        lambda w: "/admin/",
        _s("sysadmin"),
        deny=LOGIN,
        overrides={"none": LOGIN},
    ),
    row(
        "admin: staff accounts",
        "admin:core_user_changelist",
        lambda w: "/admin/core/user/",
        _s("sysadmin"),
        deny=LOGIN,
        overrides={"none": LOGIN},
    ),
    row(
        "admin: audit log",
        "admin:core_auditevent_changelist",
        lambda w: "/admin/core/auditevent/",
        _s("sysadmin"),
        deny=LOGIN,
        overrides={"none": LOGIN},
    ),
]

OTHERS: list[Row] = [
    # HQ's chronology is read by every role, so incidents' lines carry only their category,
    # severity and 町丁目: never the title or the street address (someone's home).
    row(
        "the chronology (incidents' lines without title or address)",
        "chronology:timeline",
        lambda w: "/console/chronology/",
        EVERY_ROLE,
        secret=lambda w: "戸田様宅前",
        sees=NOBODY,
    ),
    row(
        "Wi-Fi e-mail confirmation (a guessed link: 'not valid')",
        "wifi_portal:confirm",
        lambda w: "/wifi/confirm/not-a-token/",
        NOBODY,
        ok=frozenset(),
        overrides=dict.fromkeys(COLUMNS, "200"),
    ),
    post(
        "RADIUS authorize without the shared secret",
        "wifi_portal:radius_authorize",
        lambda w: "/wifi/radius/authorize",
        NOBODY,
        overrides=dict.fromkeys(COLUMNS, "403"),
    ),
    row(
        "questions residents asked",
        "guide:questions",
        lambda w: "/console/guide/questions/",
        GUIDE_READERS,
        secret=lambda w: "美女木8-8の",
    ),
    row(
        "Wi-Fi use at shelters",
        "wifi:usage",
        lambda w: "/console/wifi/usage/",
        _s("hq", "wifi_admin", "auditor"),
    ),
    # Figures without personal data: readers see no names.
    row(
        "insights",
        "insights:index",
        lambda w: "/console/insights/",
        INSIGHT_READERS,
        secret=_person("a"),
        sees=NOBODY,
    ),
    row(
        "insights CSV",
        "insights:export",
        lambda w: "/console/insights/figures.csv",
        INSIGHT_READERS,
        secret=_person("a"),
        sees=NOBODY,
    ),
]

MATRIX: list[Row] = [
    *SHELTERS,
    *SHELTERS_API,
    *RECOVERY,
    *RECOVERY_API,
    *PROCEDURES,
    *PROCEDURES_API,
    *NOTIFY,
    *EMERGENCY,
    *CORE,
    *OTHERS,
]

# Endpoints that touch no personal data, each with the reason. A new endpoint must be added
# to the matrix or here (test_every_endpoint_is_classified).
NO_PERSONAL_DATA: dict[str, str] = {
    # Core
    "healthz": "liveness probe",
    "readyz": "readiness probe",
    "set_language": "Django's language switch",
    "javascript-catalog": "translations for scripts",
    "core:portal_home": "public home page",
    "core:portal_shelters": "public map of shelters (facilities only)",
    "core:login": "staff sign-in, step 1",
    "core:login_verify": "staff sign-in, step 2",
    "core:logout": "staff sign-out",
    "core:console": "the console's menu",
    "core:console_facilities": "facilities (public reference data)",
    "api:api-root": "the API's root",
    "api:openapi-json": "the OpenAPI document",
    "api:openapi-view": "the API's docs page",
    "GET /api/v1/me": "the caller's own account and roles",
    "GET /api/v1/municipality": "public reference data",
    "GET /api/v1/areas": "public reference data (町丁目)",
    "GET /api/v1/facilities": "facilities (public reference data)",
    "GET /api/v1/facilities/{facility_id}": "a facility (public reference data)",
    "PATCH /api/v1/facilities/{facility_id}": "a facility (public reference data)",
    "GET /api/v1/lgcodes/{code}": "checks a 全国地方公共団体コード",
    # Emergency (HQ): disasters, orders, alerts, weather, tasks
    "emergency:disasters": "disasters (public)",
    "emergency:disaster": "a disaster and its responders' outcomes",
    "emergency:disaster_end": "ends a disaster",
    "emergency:responder_retry": "retries a responder",
    "emergency:evacuation": "避難情報 (public once issued)",
    "emergency:evacuation_lift": "lifts a 避難情報",
    "emergency_public:evacuation": "避難情報 (public)",
    "emergency_public:cap": "CAP alerts (public)",
    "emergency_public:cap_feed": "CAP feed (public)",
    "GET /api/v1/disasters": "disasters (public)",
    "POST /api/v1/disasters": "declares a disaster",
    "GET /api/v1/disasters/current": "the current disaster (public)",
    "GET /api/v1/disasters/{disaster_id}": "a disaster",
    "POST /api/v1/disasters/{disaster_id}/end": "ends a disaster",
    "GET /api/v1/evacuation-orders": "避難情報 (public once issued)",
    "POST /api/v1/evacuation-orders": "issues a 避難情報",
    "POST /api/v1/evacuation-orders/{order_id}/lift": "lifts a 避難情報",
    "GET /api/v1/alerts": "other authorities' CAP alerts",
    "POST /api/v1/alerts": "records another authority's CAP alert",
    "GET /api/v1/weather/warnings": "JMA warnings",
    "GET /api/v1/weather/messages": "JMA messages",
    "POST /api/v1/weather/messages": "ingests a JMA message",
    "weather:index": "JMA warnings and suggestions",
    "weather:warnings": "JMA warnings",
    "weather:upload": "ingests a JMA message",
    "weather:suggestion_declare": "declares from a suggestion",
    "weather:suggestion_dismiss": "dismisses a suggestion",
    "weather:alert_add": "records a CAP alert",
    "weather:alert": "a CAP alert",
    "weather:rules": "declaration rules",
    "weather:rule_deactivate": "turns a declaration rule off",
    "chronology:entries": "adds a line to the chronology (HQ, field)",
    "chronology:print_pdf": "the chronology as PDF (as chronology:timeline)",
    "chronology:export_csv": "the chronology as CSV (as chronology:timeline)",
    "GET /api/v1/chronology": "the chronology (as chronology:timeline)",
    "POST /api/v1/chronology": "adds a line to the chronology",
    "field:tasks": "tasks between departments (no personal records)",
    "field:task_new": "asks a department",
    "field:task": "a task between departments",
    "field:task_status": "a task's status",
    "GET /api/v1/tasks": "tasks between departments",
    "POST /api/v1/tasks": "asks a department",
    "POST /api/v1/tasks/{task_id}/status": "a task's status",
    # Shelters
    "shelters:index": "openings and their counts, no names",
    "shelters:dashboard": "HQ's counts per shelter, no names",
    "shelters:import": "imports the list of shelters (facilities)",
    "shelters_offline:index": "the openings the user may work offline",
    "shelters_offline:service_worker": "the offline console's script",
    "shelters_offline:manifest": "the offline console's manifest",
    "shelters_paper:cards_pdf": "blank numbered cards",
    "shelters_paper:roster_pdf": "a blank roster",
    "shelters_public:status": "shelters' status (public)",
    "shelters_public:status_csv": "shelters' status (public)",
    "shelters_public:register": "a resident registers themselves (writes only their own)",
    "GET /api/v1/shelters": "shelters with counts, no names",
    "GET /api/v1/shelters/status": "shelters' status (public)",
    "GET /api/v1/shelters/{shelter_id}": "a shelter with counts, no names",
    "POST /api/v1/shelters/{shelter_id}/open": "opens a shelter (HQ)",
    "POST /api/v1/shelters/{shelter_id}/close": "closes a shelter",
    # Recovery
    "recovery:rules": "the rule tables",
    "recovery:bulk_pause": "pauses bulk issuance (a batch, counts only)",
    "recovery:bulk_resume": "resumes bulk issuance (a batch, counts only)",
    "POST /api/v1/recovery/certificates/bulk/{batch_id}/pause": "pauses bulk issuance",
    "POST /api/v1/recovery/certificates/bulk/{batch_id}/resume": "resumes bulk issuance",
    "POST /api/v1/recovery/classify": "a calculator: the damage class of given inputs",
    "POST /api/v1/recovery/grants/calculate": "a calculator: the grant of given inputs",
    # Procedures: the catalogue and the resident's own sign-in
    "procedures:catalogue": "the procedures offered",
    "GET /api/v1/procedures": "the procedures offered (public)",
    "GET /api/v1/procedures/measures": "counts and durations, no applications",
    "portal:index": "the procedures offered (public)",
    "portal:procedure": "a procedure; starts a draft held by this browser",
    "portal:identify": "how to prove who you are",
    "portal:email": "sign-in by e-mail (the resident's own)",
    "portal:email_code": "sign-in by e-mail, the code (the resident's own)",
    "portal:sign_out": "signs the resident out",
    "portal:oidc_login": "sign-in with OpenID Connect",
    "portal:oidc_callback": "sign-in with OpenID Connect (state-checked)",
    "portal:oidc_jwks": "the portal's public keys",
    "portal:pay_webhook": "the card gateway's webhook (signature-checked)",
    "POST /api/v1/identity/email/code": "sends a code to the resident's own address",
    "POST /api/v1/identity/email/token": "the resident's own token, for the right code",
    # Notify
    "notify_console:index": "broadcasts (messages to the public)",
    "notify_console:new": "writes a broadcast",
    "notify_console:preview": "previews a broadcast",
    "notify_console:progress": "a broadcast's counts",
    "notify_console:submit": "a broadcast's workflow",
    "notify_console:approve": "a broadcast's workflow",
    "notify_console:cancel": "a broadcast's workflow",
    "notify_console:templates": "message templates",
    "notify_console:template_new": "message templates",
    "notify_console:template_edit": "message templates",
    "notify_console:topics": "topics",
    "notify_console:topic_new": "topics",
    "notify_console:topic_edit": "topics",
    "notify_console:keys": "API keys of sending systems",
    "notify:subscribe": "a resident subscribes (writes only their own)",
    "notify:subscribe_sent": "'check your mail'",
    "notify:messages": "messages sent to the public",
    "notify:message": "a message sent to the public",
    "notify:service_worker": "the Web Push script",
    "notify:push_subscribe": "a browser subscribes itself to Web Push",
    "notify:line_webhook": "LINE's webhook (signature-checked)",
    "notify:qr": "a QR code of the subscription page",
    "GET /api/v1/notify/broadcasts": "broadcasts (messages to the public)",
    "POST /api/v1/notify/broadcasts": "sends a broadcast",
    "GET /api/v1/notify/broadcasts/{broadcast_id}": "a broadcast's counts",
    "GET /api/v1/notify/topics": "topics (public)",
    # Wi-Fi: the registry and monitoring hold APs; the portal only the caller's own session
    "wifi:index": "sites and access points",
    "wifi:site_create": "sites",
    "wifi:site_edit": "sites",
    "wifi:ap_create": "access points",
    "wifi:ap_edit": "access points",
    "wifi:ap_monitoring_key": "an access point's monitoring key",
    "wifi:profiles": "SSID profiles",
    "wifi:profile_create": "SSID profiles",
    "wifi:profile_edit": "SSID profiles",
    "wifi:disaster": "disaster mode",
    "wifi:job": "a disaster-mode switch",
    "wifi:job_retry": "a disaster-mode switch",
    "wifi_monitor:board": "access points' health",
    "wifi_monitor:ap": "an access point's health and client counts",
    "wifi_monitor:site": "a site's health and client counts",
    "wifi_push:push": "access points push their figures (per-AP key)",
    "wifi_portal:landing": "the free Wi-Fi's portal",
    "wifi_portal:register": "registers the caller's own address",
    "wifi_portal:status": "the caller's own session (cookie)",
    "wifi_portal:logout": "ends the caller's own session",
    "wifi_portal:oidc_start": "sign-in with OpenID Connect",
    "wifi_portal:oidc_callback": "sign-in with OpenID Connect (state-checked)",
    "wifi_portal:captive_api": "RFC 8908 captive portal API (the caller's own)",
    "wifi_portal:radius_post_auth": "FreeRADIUS (shared secret, as radius_authorize)",
    "wifi_portal:radius_accounting": "FreeRADIUS (shared secret, as radius_authorize)",
    "wifi_portal:staff": "the staff SSID's page",
    "GET /api/v1/wifi/sites": "sites",
    "GET /api/v1/wifi/aps": "access points",
    "GET /api/v1/wifi/aps/{ap_id}/hours": "an access point's hourly counts",
    "GET /api/v1/wifi/health": "access points' health",
    "POST /api/v1/wifi/disaster-mode": "switches disaster mode",
    "GET /api/v1/wifi/jobs/{job_id}": "a disaster-mode switch",
    "POST /api/v1/wifi/jobs/{job_id}/retry": "a disaster-mode switch",
    # Guide
    "guide:entries": "FAQ entries",
    "guide:entry_new": "FAQ entries",
    "guide:entry_edit": "FAQ entries",
    "guide:import": "FAQ entries",
    "guide:export": "FAQ entries",
    "guide_public:ask": "the chat (the resident's own question)",
    "guide_public:feedback": "feedback on the caller's own question (its token)",
    "POST /api/v1/guide/ask": "the chat (the resident's own question)",
    "POST /api/v1/guide/feedback": "feedback on the caller's own question (its token)",
    # Open data and insights: aggregates and public lists (insights rows check for names)
    "insights:settings": "the city's assumptions",
    "opendata:index": "the catalogue",
    "opendata:generate": "makes the standard datasets again",
    "opendata:check": "validates a file",
    "opendata:dataset_new": "the catalogue",
    "opendata:dataset_edit": "the catalogue",
    "opendata:resource_add": "the catalogue",
    "opendata:resource_remove": "the catalogue",
    "opendata:report": "a validation report",
    "opendata_public:catalogue": "published open data",
    "opendata_public:catalogue_jsonld": "published open data",
    "opendata_public:dataset": "published open data",
    "opendata_public:dataset_jsonld": "published open data",
    "opendata_public:download": "published open data",
    "opendata_public:excel": "published open data",
    "opendata_public:legacy_wifi": "published open data (Wi-Fi sites)",
    "ckan:action": "the CKAN API of published open data",
}


def markdown() -> str:
    """The matrix as the Markdown table in docs/security.md."""
    head = "| endpoint | " + " | ".join(HEADINGS[c] for c in COLUMNS) + " |"
    rule = "|---|" + "|".join(":-:" for _ in COLUMNS) + "|"
    lines = [head, rule]
    for r in MATRIX:
        cells = " | ".join(r.shown(c) for c in COLUMNS)
        marks = " ¹" if r.audit_gap else ""
        where = r.route if r.route.startswith(r.method + " ") else f"{r.method} {r.route}"
        lines.append(f"| {r.label}{marks} (`{where}`) | {cells} |")
    rows, columns, cells_count = size()
    lines += ["", f"{rows} endpoints × {columns} callers = {cells_count} cells."]
    gaps = [r for r in MATRIX if r.audit_gap]
    if gaps:
        lines += [
            "",
            "¹ Allowed, but the read is not in the audit log yet (the change needed):",
            "",
        ]
        lines += [f"- {r.label}: `{r.audit_gap}`" for r in gaps]
    return "\n".join(lines)


def size() -> tuple[int, int, int]:
    """(endpoint rows, columns, cells)."""
    return len(MATRIX), len(COLUMNS), len(MATRIX) * len(COLUMNS)


def main(argv: list[str]) -> None:
    if "--markdown" in argv:
        print(markdown())
        return
    rows, columns, cells = size()
    width = max(len(r.ident) for r in MATRIX)
    print(" " * width, *(HEADINGS[c][:9].ljust(9) for c in COLUMNS))
    for r in MATRIX:
        print(r.ident.ljust(width), *(r.shown(c).ljust(9) for c in COLUMNS))
    print(f"\n{rows} endpoint rows × {columns} callers = {cells} cells")


if __name__ == "__main__":
    main(sys.argv[1:])
