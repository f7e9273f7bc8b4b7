"""被災者生活再建支援金: from the certificate's class, base and additions apart, deadlines kept,
rent-then-build reduced; the payment list and the reports for the office."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client

from machi.core.models import User
from machi.emergency.models import Disaster
from machi.recovery import certificates, grants, services
from machi.recovery.models import GrantStatus, LedgerHousehold

from .test_certificates import reviewed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


@pytest.fixture
def certified(hagibis: Disaster, recovery_staff: User) -> LedgerHousehold:
    application = reviewed(hagibis, recovery_staff, 1)  # 大規模半壊 (1.2 m above the floor)
    certificates.certificate_issue(application=application, by=recovery_staff)
    return application.household


def test_base_and_additions_with_the_rent_then_build_reduction(
    certified: LedgerHousehold, recovery_staff: User
) -> None:
    base = grants.grant_apply(
        household=certified,
        part="base",
        household_size=3,
        applied_on=dt.date(2020, 1, 10),
        by=recovery_staff,
    )
    assert (base.amount, base.damage_class, base.deadline) == (
        500_000,
        "大規模半壊",
        dt.date(2020, 11, 13),  # 13 months after the disaster (in Japan time, 13 October)
    )
    rent = grants.grant_apply(
        household=certified,
        part="addition",
        rebuild="rent",
        household_size=3,
        applied_on=dt.date(2020, 2, 1),
        by=recovery_staff,
    )
    build = grants.grant_apply(
        household=certified,
        part="addition",
        rebuild="build",
        household_size=3,
        applied_on=dt.date(2021, 4, 1),
        by=recovery_staff,
    )
    assert (rent.amount, build.amount) == (500_000, 1_500_000)  # together: the build amount
    with pytest.raises(services.RecoveryError) as twice:
        grants.grant_apply(household=certified, part="base", household_size=3, by=recovery_staff)
    assert twice.value.field == "part"


def test_a_late_application_is_refused_with_its_deadline(
    certified: LedgerHousehold, recovery_staff: User
) -> None:
    with pytest.raises(services.RecoveryError, match="2020-11-13") as late:
        grants.grant_apply(
            household=certified,
            part="base",
            household_size=2,
            applied_on=dt.date(2020, 12, 1),
            by=recovery_staff,
        )
    assert late.value.field == "applied_on"


def test_without_a_certificate_there_is_no_grant(hagibis: Disaster, recovery_staff: User) -> None:
    household = LedgerHousehold.objects.create(disaster=hagibis, head_name="x", address="y")
    with pytest.raises(services.RecoveryError) as caught:
        grants.grant_apply(household=household, part="base", household_size=1, by=recovery_staff)
    assert caught.value.field == "household_id"


def test_status_moves_forward_only(certified: LedgerHousehold, recovery_staff: User) -> None:
    base = grants.grant_apply(
        household=certified,
        part="base",
        household_size=1,
        applied_on=dt.date(2020, 1, 10),
        by=recovery_staff,
    )
    assert base.amount == 375_000  # one person: three quarters
    grants.grant_set_status(application=base, status="approved", by=recovery_staff)
    paid = grants.grant_set_status(
        application=base, status="paid", paid_on=dt.date(2020, 2, 1), by=recovery_staff
    )
    assert (paid.status, paid.paid_on) == (GrantStatus.PAID, dt.date(2020, 2, 1))
    with pytest.raises(services.RecoveryError):
        grants.grant_set_status(application=base, status="approved", by=recovery_staff)


def test_payment_list_and_reports(
    certified: LedgerHousehold,
    recovery_staff: User,
    api_client_for: Callable[[User], Client],
    hagibis: Disaster,
) -> None:
    certified.head_name = "=HYPERLINK(1)"  # a name Excel must not run
    certified.save()
    client = api_client_for(recovery_staff)
    made = client.post(
        "/api/v1/recovery/grants/applications",
        {
            "household_id": certified.pk,
            "part": "base",
            "household_size": 2,
            "applied_on": "2020-01-10",
        },
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    approved = client.post(
        f"/api/v1/recovery/grants/applications/{made.json()['id']}/status",
        {"status": "approved"},
        content_type="application/json",
    )
    assert approved.json()["status"] == "approved"
    payments = client.get(f"/api/v1/recovery/grants/payments.csv?disaster_id={hagibis.pk}")
    text = payments.content.decode("utf-8")
    assert text.startswith("\ufeff番号,世帯主")
    assert "'=HYPERLINK(1)" in text
    assert "500000" in text
    by_class = client.get(f"/api/v1/recovery/reports/households-by-class?disaster_id={hagibis.pk}")
    assert by_class.json() == [
        {"damage_class": "大規模半壊", "area": "（地区未設定）", "households": 1}
    ]
    per_day = client.get(
        f"/api/v1/recovery/reports/certificates-per-day?disaster_id={hagibis.pk}&format=csv"
    )
    assert per_day.content.decode("utf-8").startswith("\ufeffday,certificates")
    statuses = client.get(f"/api/v1/recovery/reports/grants-by-status?disaster_id={hagibis.pk}")
    assert statuses.json() == [
        {"part": "base", "status": "approved", "applications": 1, "amount": 500_000}
    ]
    assert client.get(f"/api/v1/recovery/reports/nope?disaster_id={hagibis.pk}").status_code == 404


def test_reports_and_payments_open_in_excel_as_xlsx(
    certified: LedgerHousehold, recovery_staff: User, api_client_for: Callable[[User], Client]
) -> None:
    import io

    from openpyxl import load_workbook

    certified.head_name = "=HYPERLINK(1)"
    certified.save()
    grant = grants.grant_apply(
        household=certified,
        part="base",
        household_size=2,
        applied_on=dt.date(2020, 1, 10),
        by=recovery_staff,
    )
    grants.grant_set_status(application=grant, status="approved", by=recovery_staff)
    client = api_client_for(recovery_staff)
    disaster = certified.disaster_id
    answer = client.get(f"/api/v1/recovery/grants/payments.xlsx?disaster_id={disaster}")
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("番号", "世帯主")
    assert rows[1][1] == "=HYPERLINK(1)"  # text, not a formula
    assert rows[1][6] == 500_000  # a number Excel can sum
    report = client.get(
        f"/api/v1/recovery/reports/households-by-class?disaster_id={disaster}&format=xlsx"
    )
    sheet = load_workbook(io.BytesIO(report.content)).active
    assert sheet is not None
    assert list(sheet.iter_rows(values_only=True))[1] == ("大規模半壊", "（地区未設定）", 1)
