"""Given finished applications, the retention policy removes their personal data after its
period; approved ones go to the back office as CSV or JSON."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from machi.core.models import User
from machi.core.roles import Role
from machi.procedures import catalogue, retention, services
from machi.procedures.models import Application, Procedure

pytestmark = pytest.mark.django_db


@pytest.fixture
def inkan(db: Any) -> Procedure:
    return {p.slug: p for p in catalogue.catalogue_load()}["inkan"]


def submit(procedure: Procedure, name: str = "戸田 太郎") -> Application:
    return services.application_submit(
        procedure=procedure,
        applicant=services.Applicant(name=name, email="taro@example.jp"),
        answers={"copies": 1, "purpose": "登記"},
        delivery="mail",
        channel="online",
    )


def test_finished_applications_lose_their_personal_data_after_the_period(
    inkan: Procedure, settings: Any
) -> None:
    settings.MACHI_PROCEDURES_RETENTION_DAYS = 30
    old = submit(inkan)
    services.status_change(application=old, status="withdrawn", by=None)
    Application.objects.filter(pk=old.pk).update(
        completed_at=timezone.now() - dt.timedelta(days=31)
    )
    recent = submit(inkan)
    services.status_change(application=recent, status="rejected", by=None)
    open_one = submit(inkan)
    out = io.StringIO()
    call_command("procedures_retention", "--dry-run", stdout=out)
    assert "1 applications are past" in out.getvalue()
    assert retention.anonymise() == 1
    old.refresh_from_db()
    assert (old.applicant_name, old.applicant_email, old.answers) == (retention.REMOVED, "", {})
    assert old.anonymised_at is not None
    assert old.history.count() == 2  # the history stays, for statistics
    for kept in (recent, open_one):
        kept.refresh_from_db()
        assert kept.applicant_name == "戸田 太郎"
    assert retention.anonymise() == 0


def test_the_handoff_export_for_the_back_office(
    inkan: Procedure, make_staff: Callable[..., User], api_client_for: Callable[[User], Client]
) -> None:
    approved = submit(inkan, name="=CMD|'/c calc'!A0")
    for step in ("reviewing", "approved"):
        services.status_change(application=approved, status=step, by=None)
    submit(inkan)  # still 受付: not handed off
    client = api_client_for(make_staff(Role.COUNTER, username="shimin-h", department="市民課"))
    records = client.get("/api/v1/applications/handoff.json?department=市民課").json()
    assert [r["reference"] for r in records] == [approved.reference]
    assert records[0]["answers"] == {"copies": 1, "purpose": "登記"}
    text = client.get("/api/v1/applications/handoff.csv").content.decode("utf-8")
    assert text.startswith("\ufeffreference,")
    assert "'=CMD" in text  # never a formula in Excel
    hq = api_client_for(make_staff(Role.HQ, username="honbu-h"))
    assert hq.get("/api/v1/applications/handoff.json").status_code == 403
