"""The residents' portal: a procedure from the catalogue to the status page, without JS."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from machi.core.models import AuditEvent
from machi.procedures import catalogue, services
from machi.procedures.identity import base
from machi.procedures.models import Application, Draft, Procedure, Status


@pytest.fixture(autouse=True)
def _in_english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def procedures(db: Any) -> dict[str, Procedure]:
    return {p.slug: p for p in catalogue.catalogue_load()}


def signed_in(client: Client, identity: base.Identity) -> Client:
    session = client.session
    session[base.SESSION_KEY] = identity.as_dict()
    session.save()
    return client


RESIDENT = base.Identity(level="email", identifier="hanako@example.jp", email="hanako@example.jp")


def start(client: Client, slug: str) -> str:
    response = client.post(reverse("portal:procedure", args=[slug]))
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def test_the_catalogue_lists_what_residents_can_apply_for(
    client: Client, procedures: dict[str, Procedure]
) -> None:
    page = client.get(reverse("portal:index")).content.decode()
    for procedure in procedures.values():
        assert reverse("portal:procedure", args=[procedure.slug]) in page
    assert "300 yen" in page


def test_a_procedure_asks_who_you_are_first(
    client: Client, procedures: dict[str, Procedure]
) -> None:
    response = client.post(reverse("portal:procedure", args=["sodai-gomi"]))
    assert response["Location"] == reverse("portal:identify", args=["sodai-gomi"])
    page = client.get(response["Location"]).content.decode()
    assert reverse("portal:email") in page
    assert not Draft.objects.exists()


def test_an_email_resident_applies_page_by_page_checks_and_follows_the_status(
    client: Client, procedures: dict[str, Procedure]
) -> None:
    signed_in(client, RESIDENT)
    step1 = start(client, "sodai-gomi")
    # An empty required field: the error summary links to the field; nothing moves on.
    response = client.post(step1, {"items": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="error-summary"' in page
    assert 'href="#id_items"' in page
    assert client.post(step1, {"items": "ソファ 1点"}).status_code == 302
    draft = Draft.objects.get()
    assert draft.answers["items"] == "ソファ 1点"
    step2 = reverse("portal:step", args=[draft.pk, 2])
    assert client.post(step2, {"wish_date": "2026-12-01"})["Location"].endswith("/step/3/")
    step3 = reverse("portal:step", args=[draft.pk, 3])
    assert client.post(step3, {"delivery": "electronic"})["Location"] == reverse(
        "portal:check", args=[draft.pk]
    )
    check = client.get(reverse("portal:check", args=[draft.pk])).content.decode()
    assert "ソファ 1点" in check
    assert "2026-12-01" in check
    assert "?return=check" in check
    # Change an answer from the check page: back to the check afterwards.
    change = client.post(step1, {"items": "ソファ 2点", "return": "check"})
    assert change["Location"] == reverse("portal:check", args=[draft.pk])
    sent = client.post(reverse("portal:check", args=[draft.pk]))
    assert sent.status_code == 302
    application = Application.objects.get()
    assert sent["Location"] == reverse("portal:done", args=[application.reference])
    assert application.channel == "online"
    assert application.applicant_identifier == "hanako@example.jp"
    assert application.answers == {"items": "ソファ 2点", "wish_date": "2026-12-01"}
    assert not Draft.objects.exists()  # the draft is gone once sent
    done = client.get(sent["Location"]).content.decode()
    assert application.reference in done
    link = re.search(r'href="(http://testserver/procedures/status/[^"]+)"', done)
    assert link is not None
    # The status page opens from the link in another browser; a wrong key does not.
    other = Client()
    status = other.get(link.group(1))
    assert status.status_code == 200
    assert "Received" in status.content.decode()
    bad = reverse("portal:status", args=[application.reference, "0" * 24])
    assert other.get(bad).status_code == 404
    assert AuditEvent.objects.filter(object_id=str(application.pk), action="read").exists()
    # The applicant withdraws, after saying yes a second time.
    asked = other.post(link.group(1), {"action": "withdraw"}).content.decode()
    assert 'value="withdraw_confirmed"' in asked
    application.refresh_from_db()
    assert application.status == Status.RECEIVED
    other.post(link.group(1), {"action": "withdraw_confirmed"})
    application.refresh_from_db()
    assert application.status == Status.WITHDRAWN


def test_save_and_resume_on_another_device(
    client: Client, procedures: dict[str, Procedure]
) -> None:
    signed_in(client, RESIDENT)
    step1 = start(client, "sodai-gomi")
    saved = client.post(step1, {"items": "冷蔵庫", "save": "1"})
    draft = Draft.objects.get()
    assert saved["Location"] == reverse("portal:saved", args=[draft.pk])
    page = client.get(saved["Location"]).content.decode()
    link = re.search(r'href="(http://testserver/procedures/resume/[^"]+)"', page)
    assert link is not None
    # Another browser without the link sees nothing; with it, the answers.
    other = Client()
    assert other.get(reverse("portal:check", args=[draft.pk])).status_code == 404
    resumed = other.get(link.group(1))
    assert resumed["Location"] == reverse("portal:check", args=[draft.pk])
    assert "冷蔵庫" in other.get(resumed["Location"]).content.decode()
    assert draft.token_hash not in link.group(1)  # only the hash is stored


def test_a_jpki_procedure_needs_a_signature_at_the_end(
    client: Client, procedures: dict[str, Procedure]
) -> None:
    step1 = start(client, "juminhyo")  # no sign-in before: the signature is the identity
    draft = Draft.objects.get()
    client.post(step1, {"copies": "2"})
    client.post(reverse("portal:step", args=[draft.pk, 2]), {"scope": "household"})
    client.post(reverse("portal:step", args=[draft.pk, 3]), {"with_relationship": "on"})
    client.post(reverse("portal:step", args=[draft.pk, 4]), {"purpose": "年金手続"})
    # The last step: delivery and how to pay. 郵送 needs no address: it comes from the card.
    last = reverse("portal:step", args=[draft.pk, 5])
    page = client.get(last).content.decode()
    assert 'name="address"' not in page
    client.post(last, {"delivery": "mail", "payment": "postal_order"})
    data = client.get(reverse("portal:signing_data", args=[draft.pk]))
    assert data["Content-Disposition"] == 'attachment; filename="application.json"'
    assert data.content == base.signing_payload(
        procedure="juminhyo",
        answers={
            "copies": 2,
            "scope": "household",
            "with_relationship": True,
            "purpose": "年金手続",
        },
        delivery="mail",
    )
    refused = client.post(reverse("portal:check", args=[draft.pk]))
    assert refused.status_code == 400
    assert "signature file" in refused.content.decode()
    assert not Application.objects.exists()


def test_a_choice_that_is_not_offered_is_refused_beside_the_field(
    client: Client, procedures: dict[str, Procedure]
) -> None:
    start(client, "juminhyo")
    draft = Draft.objects.get()
    response = client.post(reverse("portal:step", args=[draft.pk, 2]), {"scope": "everyone"})
    assert response.status_code == 400
    assert 'href="#id_scope_0"' in response.content.decode()


def test_a_signed_in_resident_sees_their_applications(
    client: Client, procedures: dict[str, Procedure]
) -> None:
    mine = services.application_submit(
        procedure=procedures["sodai-gomi"],
        applicant=services.Applicant(
            name="hanako@example.jp", identifier="hanako@example.jp", identity_level="email"
        ),
        answers={"items": "机"},
        delivery="electronic",
        channel="online",
    )
    services.application_submit(
        procedure=procedures["sodai-gomi"],
        applicant=services.Applicant(name="x", identifier="other@example.jp"),
        answers={"items": "椅子"},
        delivery="electronic",
        channel="online",
    )
    assert client.get(reverse("portal:mine"))["Location"].startswith(reverse("portal:email"))
    signed_in(client, RESIDENT)
    page = client.get(reverse("portal:mine")).content.decode()
    assert mine.reference in page
    assert page.count("<tr>") == 2


# --- A certificate, signed with the card and paid by card, end to end --------------------------


@pytest.fixture
def pki(settings: Any, tmp_path: Any) -> Any:
    from machi.procedures import jpki_testca

    written = jpki_testca.write_demo_pki(tmp_path)
    settings.MACHI_JPKI_TRUST_ANCHORS = str(written["anchors"])
    settings.MACHI_JPKI_CRL_DIR = str(tmp_path / "crl")
    return written


@pytest.fixture
def card_gateway(settings: Any) -> Any:
    from machi.procedures.peers.card_gateway import CardGateway

    fake = CardGateway(api_key="k", webhook_secret="s").start()
    settings.MACHI_CARD_API_URL = fake.base_url
    settings.MACHI_CARD_API_KEY = "k"
    settings.MACHI_CARD_WEBHOOK_SECRET = "s"
    yield fake
    fake.stop()


def fill_juminhyo(client: Client, payment: str) -> Draft:
    start(client, "juminhyo")
    draft = Draft.objects.get()
    for number, data in enumerate(
        [{"copies": "1"}, {"scope": "self"}, {}, {"purpose": "就職"}], start=1
    ):
        client.post(reverse("portal:step", args=[draft.pk, number]), data)
    client.post(
        reverse("portal:step", args=[draft.pk, 5]), {"delivery": "mail", "payment": payment}
    )
    return draft


def signed_upload(pki: Any, client: Client, draft: Draft, resident: int = 0) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from django.core.files.uploadedfile import SimpleUploadedFile

    from machi.procedures import jpki_testca

    who = pki["residents"][resident]
    cert = x509.load_pem_x509_certificate(who["cert"].read_bytes())
    key = serialization.load_pem_private_key(who["key"].read_bytes(), password=None)
    data = client.get(reverse("portal:signing_data", args=[draft.pk])).content
    signature = jpki_testca.sign_detached(data, cert, key)  # type: ignore[arg-type]
    return client.post(
        reverse("portal:check", args=[draft.pk]),
        {"signature": SimpleUploadedFile("application.json.p7s", signature)},
    )


def test_a_resident_signs_with_the_card_and_pays_by_card(
    client: Client, procedures: dict[str, Procedure], pki: Any, card_gateway: Any
) -> None:
    draft = fill_juminhyo(client, "card")
    sent = signed_upload(pki, client, draft)
    # Off to the gateway's hosted page; the application is in, waiting for the fee.
    assert sent.status_code == 302
    assert sent["Location"].startswith(card_gateway.base_url)
    application = Application.objects.get()
    who = pki["residents"][0]
    assert application.identity_level == "jpki"
    assert application.applicant_identifier == who["serial_hex"]
    assert application.applicant_name == who["name"]
    assert application.applicant_address == who["address"]
    assert application.payment.status == "pending"
    assert application.payment.provider == "card"
    # The gateway's signed webhook marks it paid.
    session = application.payment.external_id
    card_gateway.complete(session)
    event = card_gateway.events[-1]
    body, headers = card_gateway.webhook_request(event)
    answer = client.post(
        reverse("portal:pay_webhook"),
        body,
        content_type="application/json",
        HTTP_CARD_SIGNATURE=headers["Card-Signature"],
    )
    assert answer.status_code == 200
    application.payment.refresh_from_db()
    assert application.payment.status == "paid"


def test_a_revoked_certificate_is_refused_beside_the_upload(
    client: Client, procedures: dict[str, Procedure], pki: Any
) -> None:
    draft = fill_juminhyo(client, "postal_order")
    refused = signed_upload(pki, client, draft, resident=1)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "revoked" in page
    assert 'href="#id_signature"' in page
    assert not Application.objects.exists()
    assert Draft.objects.filter(pk=draft.pk).exists()  # nothing lost: try again


def test_paying_at_the_counter_needs_collecting_there(
    client: Client, procedures: dict[str, Procedure]
) -> None:
    start(client, "juminhyo")
    draft = Draft.objects.get()
    last = reverse("portal:step", args=[draft.pk, 5])
    refused = client.post(last, {"delivery": "mail", "payment": "counter"})
    assert refused.status_code == 400
    assert 'href="#id_payment_0"' in refused.content.decode()
    assert client.post(last, {"delivery": "counter", "payment": "counter"}).status_code == 302


def test_postal_order_instructions_are_shown_after_sending(
    client: Client, procedures: dict[str, Procedure], pki: Any
) -> None:
    draft = fill_juminhyo(client, "postal_order")
    sent = signed_upload(pki, client, draft)
    application = Application.objects.get()
    assert sent["Location"] == reverse("portal:done", args=[application.reference])
    page = client.get(sent["Location"]).content.decode()
    assert "定額小為替" in page
    assert application.reference in page
