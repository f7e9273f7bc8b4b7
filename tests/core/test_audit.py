"""The audit log records every sign-in, read, change and export, and never changes."""

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from machi.core import context, services
from machi.core.models import AuditEvent, Facility, Job, JobStatus, User
from machi.core.roles import Action
from tests.conftest import sign_in


def test_events_carry_actor_address_and_channel(hq: User, facilities: list[Facility]) -> None:
    with context.acting(user=hq, ip_address="192.0.2.7", channel="web", request_id="abc"):
        event = services.audit_record(action=Action.READ, record=facilities[0])
    assert event.actor_id == hq.pk
    assert event.actor_username == "hq"
    assert event.object_type == "core.facility"
    assert event.object_id == str(facilities[0].pk)
    assert event.ip_address == "192.0.2.7"
    assert (event.channel, event.request_id) == ("web", "abc")


def test_the_orm_refuses_to_change_or_delete_events(db: None) -> None:
    event = services.audit_record(action=Action.READ, object_type="core.facility")
    event.object_repr = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().update(object_repr="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()


@pytest.mark.django_db
def test_the_database_itself_refuses_update_and_delete() -> None:
    """The triggers of migration 0002, installed inside this test's transaction."""
    import importlib

    migration = importlib.import_module("machi.core.migrations.0002_audit_append_only")
    event = services.audit_record(action=Action.READ, object_type="core.facility")
    statements = {
        "sqlite": migration.SQLITE_FORWARD,
        "postgresql": migration.POSTGRES_FORWARD,
    }[connection.vendor]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
        for sql in (
            "UPDATE core_auditevent SET object_repr = 'x' WHERE id = %s",
            "DELETE FROM core_auditevent WHERE id = %s",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, object_repr="").exists()


def test_removing_a_user_keeps_their_events(hq: User) -> None:
    event = services.audit_record(action=Action.READ, object_type="core.facility", actor=hq)
    hq.delete()
    event.refresh_from_db()
    assert event.actor_username == "hq"


def test_sign_in_and_out_are_logged_with_the_address(client: Client, hq: User) -> None:
    sign_in(client, hq)
    client.post("/console/logout/")
    actions = list(
        AuditEvent.objects.filter(actor_username="hq")
        .order_by("id")
        .values_list("action", "ip_address")
    )
    assert (Action.LOGIN, "127.0.0.1") in actions
    assert (Action.LOGOUT, "127.0.0.1") in actions


def test_auditors_search_the_log_and_the_search_is_logged(
    client: Client, auditor: User, hq: User
) -> None:
    services.audit_record(action=Action.UPDATE, object_type="core.facility", actor=hq)
    client.force_login(auditor)
    response = client.get("/console/audit/", {"actor": "hq", "action": "update"})
    assert response.status_code == 200
    page = response.context["page"]
    assert [e.actor_username for e in page] == ["hq"]
    looked = AuditEvent.objects.filter(actor_username="auditor", action=Action.READ).first()
    assert looked is not None
    assert looked.detail["filters"] == {"actor": "hq", "action": "update"}


def test_bad_filters_are_reported_by_field(client: Client, auditor: User) -> None:
    client.force_login(auditor)
    response = client.get("/console/audit/", {"since": "2026-02-30", "ip_address": "nope"})
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"since", "ip_address"}
    assert "error-summary" in response.content.decode()


def test_export_runs_as_a_job_and_gives_an_excel_ready_file(
    client: Client, auditor: User, hq: User, django_capture_on_commit_callbacks: Any
) -> None:
    services.audit_record(action=Action.UPDATE, object_type="core.facility", actor=hq)
    client.force_login(auditor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/console/audit/export/", {"actor": "hq"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert response["Location"] == f"/console/jobs/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == (JobStatus.SUCCEEDED, 1, 1)
    page = client.get(response["Location"]).content.decode()
    assert f"/console/jobs/{job.pk}/download/" in page
    download = client.get(f"/console/jobs/{job.pk}/download/")
    content = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("日時,操作者,操作")
    assert lines[1].split(",")[1:3] == ["hq", "update"]
    assert AuditEvent.objects.filter(action=Action.EXPORT, actor_username="auditor").count() == 2


def test_bad_export_filters_are_reported_and_start_nothing(client: Client, auditor: User) -> None:
    client.force_login(auditor)
    response = client.post("/console/audit/export/", {"since": "someday"})
    assert response.status_code == 400
    assert "since" in response.context["form"].errors
    assert not Job.objects.exists()


def test_administrators_read_but_may_not_export(client: Client, sysadmin: User) -> None:
    client.force_login(sysadmin)
    assert client.get("/console/audit/").status_code == 200
    assert client.post("/console/audit/export/").status_code == 403


@pytest.mark.parametrize("role_fixture", ["hq", "counter"])
def test_other_roles_cannot_open_the_log(
    client: Client, role_fixture: str, request: pytest.FixtureRequest
) -> None:
    client.force_login(request.getfixturevalue(role_fixture))
    assert client.get("/console/audit/").status_code == 403
