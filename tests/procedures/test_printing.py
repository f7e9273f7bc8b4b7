"""Certificates go out by post: given approved applications, the counter prints a cover letter
(送付状) per application and address labels twelve to a sheet; an application without an
address stops the print and is named; each print is in the audit log; only who may export
applications prints them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, include, path

from machi.config import urls as root_urls
from machi.core.models import AuditEvent, Municipality, User
from machi.core.roles import Action, Role
from machi.procedures import catalogue, printing, services
from machi.procedures import urls as procedures_urls
from machi.procedures.models import Application, Payment, PaymentStatus, Procedure

# Until the console's URLconf includes them, the tests put the print and hand-off pages in
# front of it, in the procedures namespace.
_console: list[URLPattern | URLResolver] = [
    path("print/", include("machi.procedures.urls_print")),
    path("handoff/", include("machi.procedures.urls_handoff")),
    *cast("list[URLPattern | URLResolver]", procedures_urls.urlpatterns),
]
urlpatterns = [
    path("console/procedures/", include((_console, "procedures"))),
    *root_urls.urlpatterns,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def pages(pdf: bytes) -> int:
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    return len(PDF_PAGE.findall(pdf))


@pytest.fixture
def juminhyo(municipality: Municipality) -> Procedure:
    return {p.slug: p for p in catalogue.catalogue_load()}["juminhyo"]


@pytest.fixture
def counter_staff(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.COUNTER, username="madoguchi", department="市民課")


def approved(procedure: Procedure, n: int, *, address: str | None = None) -> Application:
    application = services.application_submit(
        procedure=procedure,
        applicant=services.Applicant(name=f"戸田 {n}郎", email=f"resident{n}@example.jp"),
        answers={"copies": 2, "scope": "self", "purpose": "勤務先に提出"},
        delivery="mail",
        channel="online",
    )
    application.applicant_address = (
        address if address is not None else f"〒335-0031 埼玉県戸田市美女木{n}丁目2番3号"
    )
    application.save(update_fields=["applicant_address"])
    for step in ("reviewing", "approved"):
        services.status_change(application=application, status=step, by=None)
    return application


def test_one_cover_letter_per_application(juminhyo: Procedure) -> None:
    applications = [approved(juminhyo, n) for n in range(3)]
    assert pages(printing.cover_letter_pdf(applications)) == 3


def test_labels_are_twelve_to_a_sheet(juminhyo: Procedure) -> None:
    applications = [approved(juminhyo, n) for n in range(13)]
    assert pages(printing.labels_pdf(applications[:12])) == 1
    assert pages(printing.labels_pdf(applications)) == 2
    assert pages(printing.labels_pdf(applications[:1])) == 1


def test_an_application_without_an_address_is_named_not_printed_blank(
    juminhyo: Procedure,
) -> None:
    good = approved(juminhyo, 1)
    blank = [approved(juminhyo, n, address="") for n in (2, 3)]
    for render in (printing.cover_letter_pdf, printing.labels_pdf):
        with pytest.raises(services.ProcedureError) as refused:
            render([good, *blank])
        assert refused.value.field == "applicant_address"
        assert all(a.reference in str(refused.value) for a in blank)
        assert good.reference not in str(refused.value)


def test_what_the_letter_says(juminhyo: Procedure) -> None:
    application = approved(juminhyo, 4)
    assert printing.postcode_split(application.applicant_address) == (
        "335-0031",
        "埼玉県戸田市美女木4丁目2番3号",
    )
    assert printing.postcode_split("戸田市上戸田1-2-3") == ("", "戸田市上戸田1-2-3")
    assert printing.document_name(application) == "住民票の写し"
    assert printing.copies(application) == 2
    assert printing.fee_text(application) == "300円"
    Payment.objects.create(
        application=application, provider="counter", amount_yen=600, status=PaymentStatus.PAID
    )
    application = Application.objects.get(pk=application.pk)
    assert printing.fee_text(application) == "600円（納付済）"


def test_a_long_address_wraps_within_the_label(juminhyo: Procedure) -> None:
    from machi.core import pdffonts

    font = pdffonts.font_name()
    text = "埼玉県戸田市美女木一丁目二番三号　戸田ハイツ東棟一二三四号室（山田様方）" * 2
    lines = printing.wrap(text, font, 10, printing.LABEL_W - 2 * printing.LABEL_PAD)
    assert "".join(lines) == text
    assert len(lines) > 1


def test_the_counter_prints_a_cover_letter_and_it_is_audited(
    juminhyo: Procedure, counter_staff: User, client_for: Callable[[User], Client]
) -> None:
    application = approved(juminhyo, 5)
    response = client_for(counter_staff).get(
        f"/console/procedures/print/cover/{application.reference}.pdf"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "no-store"
    assert pages(response.content) == 1
    event = AuditEvent.objects.get(action=Action.EXPORT, object_id=str(application.pk))
    assert (event.actor_username, event.detail) == ("madoguchi", {"printed": "cover"})


def test_labels_for_the_applications_chosen_in_the_queue(
    juminhyo: Procedure, counter_staff: User, client_for: Callable[[User], Client]
) -> None:
    chosen = [approved(juminhyo, n) for n in range(14)]
    approved(juminhyo, 99)  # not chosen: not printed
    client = client_for(counter_staff)
    response = client.post(
        "/console/procedures/print/batch/",
        {"kind": "labels", "references": [a.reference for a in chosen]},
    )
    assert response.status_code == 200
    assert pages(response.content) == 2
    exported = AuditEvent.objects.filter(action=Action.EXPORT)
    assert sorted(exported.values_list("object_id", flat=True)) == sorted(str(a.pk) for a in chosen)
    # The queue's own checkboxes ("reference") work the same, for cover letters.
    covers = client.post(
        "/console/procedures/print/batch/",
        {"kind": "cover", "reference": [a.reference for a in chosen[:3]]},
    )
    assert pages(covers.content) == 3


def test_a_batch_with_an_address_missing_goes_back_to_the_queue_saying_which(
    juminhyo: Procedure, counter_staff: User, client_for: Callable[[User], Client]
) -> None:
    good, blank = approved(juminhyo, 1), approved(juminhyo, 2, address="")
    client = client_for(counter_staff)
    response = client.post(
        "/console/procedures/print/batch/",
        {
            "kind": "labels",
            "references": [good.reference, blank.reference],
            "back": "status=approved",
        },
        follow=False,
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/procedures/?status=approved"
    shown = [str(m) for m in response.wsgi_request._messages]  # type: ignore[attr-defined]
    assert any(blank.reference in m and good.reference not in m for m in shown)
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()
    single = client.get(f"/console/procedures/print/cover/{blank.reference}.pdf")
    assert single.status_code == 302
    assert single["Location"] == f"/console/procedures/{blank.reference}/"


def test_only_who_may_export_applications_prints(
    juminhyo: Procedure,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    client: Client,
) -> None:
    application = approved(juminhyo, 6)
    cover = f"/console/procedures/print/cover/{application.reference}.pdf"
    batch = "/console/procedures/print/batch/"
    form = {"kind": "labels", "references": [application.reference]}
    assert client.get(cover).status_code == 302  # to the sign-in
    for user in (
        make_staff(None, username="no-role"),
        make_staff(Role.RECOVERY, username="hisai"),  # reads applications, does not export
        make_staff(Role.AUDITOR, username="kansa"),
    ):
        signed_in = client_for(user)
        assert signed_in.get(cover).status_code == 403
        assert signed_in.post(batch, form).status_code == 403
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()
