"""罹災証明書: one per household, issued after review with a number and a PDF, re-issued with
its history, and issued in bulk by a job that can be paused and resumed without duplicates."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from machi.core.models import Job, User
from machi.core.roles import Role
from machi.emergency.models import Disaster
from machi.recovery import certificates, ledger, services
from machi.recovery.models import (
    ApplicationStatus,
    BatchStatus,
    Certificate,
    CertificateApplication,
    IssueBatch,
    LedgerHousehold,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def surveyed_household(disaster: Disaster, staff: User, n: int, depth: str = "1.2") -> Any:
    house = services.house_register(address=f"戸田市美女木{n}-1", structure="wooden", storeys=2)
    services.survey_record(
        survey_id=uuid.uuid4(),
        house=house,
        disaster=disaster,
        round="first",
        method="flood_depth",
        inputs={"external_force": True, "depth_above_floor_m": depth},
        surveyed_on=timezone.localdate(),
        surveyor=staff,
    )
    return ledger.household_by_hand(
        disaster=disaster,
        head_name=f"戸田 {n}郎",
        address=f"戸田市美女木{n}-1",
        members=[ledger.PersonInput(name=f"戸田 {n}郎")],
        house=house,
        by=staff,
    )


def reviewed(disaster: Disaster, staff: User, n: int) -> CertificateApplication:
    household = surveyed_household(disaster, staff, n)
    application = certificates.application_receive(
        household=household, applicant_name=household.head_name, channel="counter", by=staff
    )
    return certificates.application_review(application=application, by=staff)


def test_one_application_per_household_and_a_numbered_pdf(
    hagibis: Disaster, recovery_staff: User
) -> None:
    application = reviewed(hagibis, recovery_staff, 1)
    with pytest.raises(services.RecoveryError) as twice:
        certificates.application_receive(
            household=application.household, applicant_name="x", channel="counter", by=None
        )
    assert twice.value.field == "household_id"
    certificate, created = certificates.certificate_issue(
        application=application, by=recovery_staff
    )
    assert created
    assert certificate.number.endswith("-000001")
    assert (certificate.damage_class, certificate.flood, certificate.rule_set) == (
        "大規模半壊",
        "床上",
        "R3.3",
    )
    again, created_again = certificates.certificate_issue(application=application, by=None)
    assert (again, created_again) == (certificate, False)
    pdf = certificates.pdf_path(certificate.issues.get()).read_bytes()
    assert pdf.startswith(b"%PDF")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED


def test_a_reissue_after_a_resurvey_says_the_new_class_and_keeps_the_history(
    hagibis: Disaster, recovery_staff: User
) -> None:
    application = reviewed(hagibis, recovery_staff, 2)
    certificate, _ = certificates.certificate_issue(application=application, by=recovery_staff)
    house = application.household.house
    assert house is not None
    services.survey_record(
        survey_id=uuid.uuid4(),
        house=house,
        disaster=hagibis,
        round="resurvey",
        method="flood_depth",
        inputs={"external_force": True, "depth_above_floor_m": "1.9"},
        surveyed_on=timezone.localdate(),
        surveyor=recovery_staff,
    )
    issue = certificates.certificate_reissue(
        certificate=certificate, reason="再調査の結果", by=recovery_staff
    )
    certificate.refresh_from_db()
    assert (certificate.version, certificate.damage_class, issue.version) == (2, "全壊", 2)
    assert [i.reason for i in certificate.issues.order_by("version")] == ["交付", "再調査の結果"]


def test_an_unreviewed_or_unsurveyed_application_is_not_issued(
    hagibis: Disaster, recovery_staff: User
) -> None:
    household = LedgerHousehold.objects.create(
        disaster=hagibis, head_name="未調査", address="戸田市"
    )
    application = certificates.application_receive(
        household=household, applicant_name="未調査", channel="counter", by=recovery_staff
    )
    with pytest.raises(services.RecoveryError) as review:
        certificates.application_review(application=application, by=recovery_staff)
    assert review.value.field == "house_id"
    with pytest.raises(services.RecoveryError) as issue:
        certificates.certificate_issue(application=application, by=recovery_staff)
    assert issue.value.field == "status"
    assert not Certificate.objects.exists()


def test_bulk_issue_pauses_and_resumes_without_duplicates(
    hagibis: Disaster, recovery_staff: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(12):
        reviewed(hagibis, recovery_staff, n + 10)
    monkeypatch.setattr(certificates, "BULK_PAGE", 5)
    # Pause as soon as the first page is issued (a person presses 一時停止 meanwhile).
    issue = certificates.certificate_issue
    calls = {"n": 0}

    def issue_then_pause(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:
            IssueBatch.objects.update(status=BatchStatus.PAUSED)
        return issue(**kwargs)

    monkeypatch.setattr(certificates, "certificate_issue", issue_then_pause)
    from machi.core import jobs

    batch = IssueBatch.objects.create(disaster=hagibis, created_by=recovery_staff)
    job = Job.objects.create(
        kind=certificates.BULK_KIND, title="t", params={"batch_id": batch.pk}, created_by=None
    )
    first = jobs.execute(str(job.pk))
    assert first.result == {"issued": 5, "failed": 0, "paused": True, "left": 7}
    assert Certificate.objects.count() == 5

    IssueBatch.objects.update(status=BatchStatus.RUNNING)
    job2 = Job.objects.create(
        kind=certificates.BULK_KIND, title="t", params={"batch_id": batch.pk}, created_by=None
    )
    second = jobs.execute(str(job2.pk))
    assert second.result["issued"] == 7
    numbers = sorted(Certificate.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 12
    assert numbers[-1].endswith("-000012")  # no gaps
    batch.refresh_from_db()
    assert (batch.status, batch.issued) == (BatchStatus.DONE, 12)


def test_the_api_from_counter_to_pdf(
    hagibis: Disaster,
    recovery_staff: User,
    api_client_for: Callable[[User], Client],
    make_staff: Callable[..., User],
    django_capture_on_commit_callbacks: Any,
) -> None:
    household = surveyed_household(hagibis, recovery_staff, 99)
    counter = api_client_for(make_staff(Role.COUNTER, username="madoguchi"))
    received = counter.post(
        "/api/v1/recovery/certificates/applications",
        {"household_id": household.pk, "applicant_name": "戸田 99郎"},
        content_type="application/json",
    )
    assert received.status_code == 201, received.content
    application_id = received.json()["id"]
    staff = api_client_for(recovery_staff)
    assert (
        counter.post(
            f"/api/v1/recovery/certificates/applications/{application_id}/review"
        ).status_code
        == 403
    )
    reviewed_answer = staff.post(
        f"/api/v1/recovery/certificates/applications/{application_id}/review"
    )
    assert reviewed_answer.json()["status"] == "reviewed"
    issued = staff.post(f"/api/v1/recovery/certificates/applications/{application_id}/issue")
    assert issued.status_code == 201
    pdf = counter.get(issued.json()["pdf"])
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    with django_capture_on_commit_callbacks(execute=False):
        bulk = staff.post(
            "/api/v1/recovery/certificates/bulk",
            {"disaster_id": hagibis.pk},
            content_type="application/json",
        )
    assert bulk.status_code == 202
    assert bulk.json()["job_page"].startswith("/console/jobs/")
