"""The staff queue: a department's open applications by due date, overdue ones marked, moved
on one by one or several at once, every view audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from machi.core.models import AuditEvent, User
from machi.core.roles import Action, Role
from machi.procedures import catalogue, services
from machi.procedures.models import Application, Procedure

pytestmark = pytest.mark.django_db

JST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture
def procedures(db: Any) -> dict[str, Procedure]:
    return {p.slug: p for p in catalogue.catalogue_load()}


def submit(procedure: Procedure, at: dt.datetime) -> Application:
    return services.application_submit(
        procedure=procedure,
        applicant=services.Applicant(name="戸田 太郎"),
        answers={"copies": 1, "purpose": "提出"},
        delivery="mail",
        channel="online",
        at=at,
    )


def test_the_queue_shows_the_departments_open_work_and_marks_what_is_overdue(
    procedures: dict[str, Procedure], make_staff: Callable[..., User], client_for: Any
) -> None:
    old = submit(procedures["inkan"], dt.datetime(2025, 1, 6, 10, tzinfo=JST))
    new = submit(procedures["inkan"], dt.datetime.now(tz=JST))
    other = services.application_submit(
        procedure=procedures["sodai-gomi"],
        applicant=services.Applicant(name="荒川 一郎"),
        answers={"items": "たんす"},
        delivery="electronic",
        channel="online",
    )
    staff = make_staff(Role.COUNTER, username="shimin", department="市民課")
    page = client_for(staff).get("/console/procedures/")
    text = page.content.decode()
    assert page.status_code == 200
    assert old.reference in text
    assert new.reference in text
    assert other.reference not in text  # 環境課's
    assert text.index(old.reference) < text.index(new.reference)  # the earliest due first
    assert 'class="row--alert"' in text
    overdue = client_for(staff).get("/console/procedures/?overdue=1").content.decode()
    assert old.reference in overdue
    assert new.reference not in overdue
    assert (
        AuditEvent.objects.filter(action=Action.READ, object_type="procedures.application").count()
        >= 2
    )


def test_several_move_at_once_and_refusals_are_reported(
    procedures: dict[str, Procedure], make_staff: Callable[..., User], client_for: Any
) -> None:
    first = submit(procedures["inkan"], dt.datetime.now(tz=JST))
    second = submit(procedures["inkan"], dt.datetime.now(tz=JST))
    services.status_change(application=second, status="rejected", by=None)
    staff = make_staff(Role.COUNTER, username="shimin2", department="市民課")
    client = client_for(staff)
    answer = client.post(
        "/console/procedures/bulk/",
        {"status": "reviewing", "reference": [first.reference, second.reference]},
        follow=True,
    )
    assert answer.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("reviewing", "rejected")
    detail = client.get(f"/console/procedures/{first.reference}/")
    assert detail.status_code == 200
    moved = client.post(
        f"/console/procedures/{first.reference}/status/",
        {"status": "correction", "message": "使用目的をご記入ください。"},
    )
    assert moved.status_code == 302
    first.refresh_from_db()
    assert first.status == "correction"


def test_only_staff_who_work_on_applications_see_them(
    procedures: dict[str, Procedure], make_staff: Callable[..., User], client_for: Any
) -> None:
    submit(procedures["inkan"], dt.datetime.now(tz=JST))
    wifi = make_staff(Role.WIFI_ADMIN, username="wifi-q")
    assert client_for(wifi).get("/console/procedures/").status_code == 403
    auditor = make_staff(Role.AUDITOR, username="auditor-q")
    page = client_for(auditor).get("/console/procedures/")
    assert page.status_code == 200
    assert b"bulk-status" not in page.content  # auditors read, they do not move


def test_a_clerk_takes_applications_and_the_queue_shows_whose_they_are(
    procedures: dict[str, Procedure], make_staff: Callable[..., User], client_for: Any
) -> None:
    from django.urls import reverse

    clerk = make_staff(Role.COUNTER, username="madoguchi")
    other = make_staff(Role.COUNTER, username="tonari")
    day = dt.datetime(2026, 11, 24, 10, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    first, second = submit(procedures["inkan"], day), submit(procedures["inkan"], day)
    client = client_for(clerk)
    answer = client.post(
        reverse("procedures:assign"), {"reference": [first.reference, second.reference], "to": "me"}
    )
    assert answer.status_code == 302
    first.refresh_from_db()
    assert first.assigned_to == clerk
    assert AuditEvent.objects.filter(object_id=str(first.pk), detail__assigned_to="madoguchi")
    mine = client.get(reverse("procedures:queue") + "?assigned=me&department=").content.decode()
    assert first.reference in mine
    assert "madoguchi" in mine
    services.assign(application=second, to=other, by=other)
    assert (
        second.reference
        not in client.get(reverse("procedures:queue") + "?assigned=me&department=").content.decode()
    )
    # Given back from the application's page.
    client.post(
        reverse("procedures:assign"),
        {"reference": first.reference, "to": "none", "from": "detail"},
    )
    first.refresh_from_db()
    assert first.assigned_to is None


def test_the_catalogue_page_lists_the_procedures_and_the_admin_checks_the_form(
    procedures: dict[str, Procedure], make_staff: Callable[..., User], client_for: Any
) -> None:
    from django.urls import reverse

    from machi.procedures.admin import ProcedureForm

    client = client_for(make_staff(Role.COUNTER, username="madoguchi"))
    page = client.get(reverse("procedures:catalogue")).content.decode()
    assert "住民票の写しの交付請求" in page
    assert "粗大ごみ収集の申込" in page
    data = {
        "slug": "test",
        "name": "テスト",
        "department": "市民課",
        "identity_level": "email",
        "fee_yen": 0,
        "deliveries": '["electronic"]',
        "target_days": 3,
        "form": '[{"name": "a", "label": "A", "type": "colour"}]',
        "position": 9,
        "active": True,
    }
    form = ProcedureForm(data)
    assert not form.is_valid()
    assert "form[0].type" in str(form.errors["form"])
    form = ProcedureForm({**data, "form": "[]", "deliveries": '["fax"]'})
    assert not form.is_valid()
    assert "deliveries" in form.errors
