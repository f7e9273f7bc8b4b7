"""Residents submit through the API: with a token from the e-mail check, or a signature."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from machi.core.models import AuditEvent
from machi.procedures import catalogue, services
from machi.procedures.identity import base
from machi.procedures.models import Application, Procedure


@pytest.fixture
def procedures(db: Any) -> dict[str, Procedure]:
    return {p.slug: p for p in catalogue.catalogue_load()}


def resident(identifier: str = "hanako@example.jp", level: str = "email") -> dict[str, str]:
    token = base.token_for(base.Identity(level=level, identifier=identifier, email=identifier))
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


GOMI = {"procedure": "sodai-gomi", "answers": {"items": "ソファ"}, "delivery": "electronic"}


def post(body: dict[str, Any], **headers: str) -> Any:
    return Client().post("/api/v1/applications", body, content_type="application/json", **headers)


def test_a_resident_with_a_token_submits_and_reads_their_history(
    procedures: dict[str, Procedure],
) -> None:
    made = post(GOMI, **resident())
    assert made.status_code == 201, made.content
    body = made.json()
    application = Application.objects.get(reference=body["reference"])
    assert application.channel == "online"
    assert application.applicant_identifier == "hanako@example.jp"
    assert application.applicant_email == "hanako@example.jp"
    assert body["status_url"] == services.status_path(application)
    # The applicant reads it with their token, or with the key of the status link.
    mine = Client().get(f"/api/v1/applications/{body['reference']}", **resident())
    assert mine.status_code == 200
    assert [h["status"] for h in mine.json()["history"]] == ["received"]
    key = body["status_url"].rstrip("/").rsplit("/", 1)[1]
    by_key = Client().get(f"/api/v1/applications/{body['reference']}?key={key}")
    assert by_key.status_code == 200
    # Someone else cannot, and cannot tell it exists.
    other = Client().get(
        f"/api/v1/applications/{body['reference']}", **resident("other@example.jp")
    )
    assert other.status_code == 404
    assert Client().get(f"/api/v1/applications/{body['reference']}").status_code == 404
    assert AuditEvent.objects.filter(object_id=str(application.pk), action="read").count() == 2


def test_a_token_is_not_enough_for_a_certificate(procedures: dict[str, Procedure]) -> None:
    refused = post(
        {
            "procedure": "inkan",
            "answers": {"copies": 1, "purpose": "登記"},
            "delivery": "mail",
        },
        **resident(),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.payload.signature"
    assert not Application.objects.exists()


def test_no_credentials_and_no_signature_is_401(procedures: dict[str, Procedure]) -> None:
    assert post(GOMI).status_code == 401
    forged = post(GOMI, HTTP_AUTHORIZATION="Bearer r.forged")
    assert forged.status_code in {401, 403}
    assert not Application.objects.exists()


def test_bad_answers_name_their_field(procedures: dict[str, Procedure]) -> None:
    bad = post({**GOMI, "answers": {"items": "", "colour": "red"}}, **resident())
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.payload.answers.colour"


def test_a_resident_is_limited_per_minute(procedures: dict[str, Procedure], settings: Any) -> None:
    settings.MACHI_PROCEDURES_API_RESIDENT_RATE = 3
    answers = [post(GOMI, **resident("busy@example.jp")).status_code for _ in range(4)]
    assert answers == [201, 201, 201, 429]
    assert post(GOMI, **resident("calm@example.jp")).status_code == 201
