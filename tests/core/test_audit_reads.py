"""The report of who read which personal records in a period, and a log nobody can edit."""

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone

from machi.core import access, context, services
from machi.core.models import AuditEvent, User
from machi.core.personal import PERSONAL_RECORD_TYPES
from machi.core.roles import Action, Role


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def _read(actor: User, object_type: str, object_id: str, *, action: str = Action.READ) -> None:
    with context.acting(user=actor, ip_address="192.0.2.1", channel="web", request_id="t"):
        event = services._event(action, None, object_type=object_type, detail=None, actor=actor)
        event.object_id = object_id
        event.object_repr = f"{object_type} {object_id}"
        event.save(force_insert=True)


def test_every_personal_record_type_is_a_real_model() -> None:
    for label in PERSONAL_RECORD_TYPES:
        assert apps.get_model(label) is not None, label


def test_the_report_counts_reads_per_staff_member_and_record(
    client: Client, auditor: User, hq: User, counter: User
) -> None:
    _read(hq, "shelters.person", "p1")
    _read(hq, "shelters.person", "p1")
    _read(hq, "shelters.person", "p2", action=Action.EXPORT)
    _read(counter, "procedures.application", "a1")
    _read(counter, "core.facility", "f1")  # not personal: not in the report
    _read(counter, "shelters.person", "p1", action=Action.UPDATE)  # a write: not a read
    client.force_login(auditor)
    today = str(timezone.localdate())
    response = client.get("/console/audit/reads/", {"since": today, "until": today})
    assert response.status_code == 200
    rows = [
        (r["actor_username"], r["object_type"], r["object_id"], r["times"], r["exports"])
        for r in response.context["page"]
    ]
    assert rows == [
        ("counter", "procedures.application", "a1", 1, 0),
        ("hq", "shelters.person", "p1", 2, 0),
        ("hq", "shelters.person", "p2", 1, 1),
    ]
    readers = {r["actor_username"]: (r["records"], r["times"]) for r in response.context["readers"]}
    assert readers == {"hq": (2, 3), "counter": (1, 1)}
    # Looking at the report is itself logged.
    looked = AuditEvent.objects.filter(actor_username="auditor", object_type="core.auditevent")
    assert looked.get().detail["report"] == "reads"


def test_who_read_one_record_answers_a_residents_request(
    client: Client, auditor: User, hq: User, counter: User
) -> None:
    _read(hq, "shelters.person", "p1")
    _read(counter, "shelters.person", "p1")
    _read(counter, "shelters.person", "p9")
    client.force_login(auditor)
    today = str(timezone.localdate())
    response = client.get(
        "/console/audit/reads/",
        {"since": today, "until": today, "object_type": "shelters.person", "object_id": "p1"},
    )
    assert [r["actor_username"] for r in response.context["page"]] == ["counter", "hq"]


def test_the_period_is_inclusive_and_on_the_citys_clock(
    client: Client, auditor: User, hq: User
) -> None:
    _read(hq, "shelters.person", "p1")
    client.force_login(auditor)
    today = str(timezone.localdate())
    yesterday = str(timezone.localdate() - dt.timedelta(days=1))
    response = client.get("/console/audit/reads/", {"since": yesterday, "until": yesterday})
    assert list(response.context["page"]) == []
    response = client.get("/console/audit/reads/", {"since": yesterday, "until": today})
    assert len(response.context["page"]) == 1


def test_the_report_opens_on_the_last_30_days(client: Client, auditor: User) -> None:
    client.force_login(auditor)
    response = client.get("/console/audit/reads/")
    assert response.status_code == 200
    form = response.context["form"]
    assert form.cleaned_data["until"] == timezone.localdate()
    assert (form.cleaned_data["until"] - form.cleaned_data["since"]).days == 29


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"since": "2026-13-01", "until": "2026-01-01"}, {"since"}),
        ({"since": "2026-02-01", "until": "2026-01-01"}, {"until"}),
        ({"since": "2024-01-01", "until": "2026-01-01"}, {"until"}),
        (
            {"since": "2026-01-01", "until": "2026-01-02", "object_type": "core.facility"},
            {"object_type"},
        ),
        ({"until": "2026-01-02"}, {"since"}),
    ],
)
def test_bad_filters_are_reported_by_field(
    client: Client, auditor: User, query: dict[str, str], fields: set[str]
) -> None:
    client.force_login(auditor)
    response = client.get("/console/audit/reads/", query)
    assert response.status_code == 400
    assert set(response.context["form"].errors) == fields
    assert "error-summary" in response.content.decode()


def test_auditors_download_the_report_for_excel(client: Client, auditor: User, hq: User) -> None:
    _read(hq, "shelters.person", "p1")
    _read(hq, "recovery.ledgerhousehold", "=HYPERLINK(1)")
    client.force_login(auditor)
    today = str(timezone.localdate())
    response = client.get(
        "/console/audit/reads/", {"since": today, "until": today, "format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][0] == "Actor"
    assert len(rows) == 3
    assert any(row[2] == "'=HYPERLINK(1)" for row in rows)  # no formula reaches Excel
    exported = AuditEvent.objects.filter(actor_username="auditor", action=Action.EXPORT).get()
    assert exported.detail["rows"] == 2
    response = client.get(
        "/console/audit/reads/", {"since": today, "until": today, "format": "xlsx"}
    )
    assert response.status_code == 200
    assert response.content[:2] == b"PK"


def test_administrators_see_the_report_but_may_not_download_it(
    client: Client, sysadmin: User
) -> None:
    client.force_login(sysadmin)
    today = str(timezone.localdate())
    assert client.get("/console/audit/reads/").status_code == 200
    response = client.get(
        "/console/audit/reads/", {"since": today, "until": today, "format": "csv"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "role",
    [
        Role.HQ,
        Role.SHELTER_STAFF,
        Role.COUNTER,
        Role.FIELD,
        Role.WIFI_ADMIN,
        Role.RECOVERY,
        Role.PR,
        Role.DX,
    ],
)
def test_other_roles_cannot_open_the_report(
    client: Client, make_staff: Any, facilities: Any, role: Role
) -> None:
    user = make_staff(role, username=f"u-{role}", facilities=facilities[:1])
    client.force_login(user)
    assert client.get("/console/audit/reads/").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, db: None) -> None:
    response = client.get("/console/audit/reads/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


def test_a_staff_record_read_in_the_back_office_appears_in_the_report(
    client: Client, sysadmin: User, auditor: User, hq: User
) -> None:
    client.force_login(sysadmin)
    assert client.get(f"/admin/core/user/{hq.pk}/change/").status_code == 200
    event = AuditEvent.objects.filter(actor_username="admin", action=Action.READ).latest("id")
    assert (event.object_type, event.object_id) == ("core.user", str(hq.pk))


# --- The log cannot be edited through the application ----------------------------------------


def test_the_back_office_offers_no_way_to_add_change_or_delete_events(
    client: Client, sysadmin: User, hq: User
) -> None:
    event = services.audit_record(action=Action.READ, object_type="shelters.person", actor=hq)
    client.force_login(sysadmin)
    assert client.get("/admin/core/auditevent/").status_code == 200
    assert client.get("/admin/core/auditevent/add/").status_code == 403
    response = client.post(
        f"/admin/core/auditevent/{event.pk}/change/", {"object_repr": "rewritten"}
    )
    assert response.status_code == 403
    assert (
        client.post(f"/admin/core/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    response = client.post(
        "/admin/core/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    event.refresh_from_db()
    assert event.object_repr != "rewritten"


def test_the_api_only_reads_the_log(hq: User) -> None:
    from machi.config.api import api

    schema = api.get_openapi_schema()
    methods = {
        method for path, item in schema["paths"].items() if "audit" in path for method in item
    }
    assert methods == {"get"}


def test_no_role_may_change_or_delete_events(make_staff: Any, facilities: Any) -> None:
    for role in Role:
        user = make_staff(role, username=f"x-{role}", facilities=facilities[:1])
        for action in (Action.CREATE, Action.UPDATE, Action.DELETE):
            assert not access.may(user, action, AuditEvent), (role, action)


def test_a_download_too_large_asks_for_a_shorter_period(
    client: Client, auditor: User, hq: User, monkeypatch: Any
) -> None:
    from machi.core import views

    monkeypatch.setattr(views, "READS_EXPORT_MAX_ROWS", 1)
    _read(hq, "shelters.person", "p1")
    _read(hq, "shelters.person", "p2")
    client.force_login(auditor)
    today = str(timezone.localdate())
    response = client.get(
        "/console/audit/reads/", {"since": today, "until": today, "format": "csv"}
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()
    assert not AuditEvent.objects.filter(actor_username="auditor", action=Action.EXPORT).exists()
