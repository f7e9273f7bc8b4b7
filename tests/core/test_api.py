"""The API: documented, authenticated, and clear about what went wrong."""

import json
from pathlib import Path

import pytest
from django.test import Client

from machi.config.api import api
from machi.core import services
from machi.core.models import AuditEvent, Facility, User
from machi.core.roles import Action

ROOT = Path(__file__).resolve().parents[2]


def bearer(user: User) -> dict[str, str]:
    _, secret = services.token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_health_and_readiness(client: Client, db: None) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "queue": "ok"}


def test_readiness_fails_when_the_database_does_not_answer(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("down")

    from machi.core import views

    monkeypatch.setitem(views.READINESS_CHECKS, "database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error"


def test_the_committed_openapi_document_matches_the_code() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(api.get_openapi_schema())), (
        "docs/openapi.json is out of date: run `make openapi` and commit it"
    )


def test_the_interactive_docs_page_is_served(client: Client, db: None) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_anonymous_requests_get_a_problem_document(client: Client, db: None) -> None:
    response = client.get("/api/v1/facilities")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401
    assert body["instance"] == "/api/v1/facilities"


def test_bearer_tokens_authenticate_and_are_never_stored(
    client: Client, hq: User, facilities: list[Facility]
) -> None:
    headers = bearer(hq)
    response = client.get("/api/v1/facilities", **headers)
    assert response.status_code == 200
    assert response.json()["count"] == 3
    secret = headers["HTTP_AUTHORIZATION"].split()[1]
    assert not hq.api_tokens.filter(digest=secret).exists()
    assert client.get("/api/v1/me", **headers).json()["roles"] == ["hq"]


def test_revoked_and_unknown_tokens_are_refused(client: Client, hq: User) -> None:
    token, secret = services.token_create(user=hq, name="t")
    services.token_revoke(token=token)
    for value in (secret, "machi_nonsense", "nonsense"):
        response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {value}")
        assert response.status_code == 401


def test_validation_errors_name_each_field(
    client: Client, hq: User, facilities: list[Facility]
) -> None:
    response = client.patch(
        f"/api/v1/facilities/{facilities[0].pk}",
        data={"latitude": 200, "name_en": "x" * 300},
        content_type="application/json",
        **bearer(hq),
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.payload.latitude", "body.payload.name_en"}
    facilities[0].refresh_from_db()
    assert facilities[0].name_en == ""  # nothing half-written


def test_updates_are_applied_and_audited(
    client: Client, hq: User, facilities: list[Facility]
) -> None:
    response = client.patch(
        f"/api/v1/facilities/{facilities[0].pk}",
        data={"name_en": "Toda East School"},
        content_type="application/json",
        **bearer(hq),
    )
    assert response.status_code == 200
    assert response.json()["name_en"] == "Toda East School"
    event = AuditEvent.objects.get(action=Action.UPDATE, object_type="core.facility")
    assert (event.actor_username, event.channel, event.detail) == (
        "hq",
        "api",
        {"fields": ["name_en"]},
    )


def test_roles_without_the_right_get_403(
    client: Client, counter: User, facilities: list[Facility]
) -> None:
    response = client.patch(
        f"/api/v1/facilities/{facilities[0].pk}",
        data={"name_en": "x"},
        content_type="application/json",
        **bearer(counter),
    )
    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"


def test_missing_records_are_404_problems(client: Client, hq: User) -> None:
    response = client.get("/api/v1/facilities/999999", **bearer(hq))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_shelter_staff_list_only_their_facilities(
    client: Client, shelter_staff: User, facilities: list[Facility]
) -> None:
    response = client.get("/api/v1/facilities", **bearer(shelter_staff))
    assert [item["id"] for item in response.json()["items"]] == [facilities[0].pk]
    other = client.get(f"/api/v1/facilities/{facilities[1].pk}", **bearer(shelter_staff))
    assert other.status_code == 403


def test_session_writes_need_the_csrf_token(hq: User, facilities: list[Facility]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(hq)
    assert client.get("/api/v1/me").status_code == 200
    url = f"/api/v1/facilities/{facilities[0].pk}"
    response = client.patch(url, data={"name_en": "x"}, content_type="application/json")
    assert response.status_code in {401, 403}
    client.get("/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.patch(
        url, data={"name_en": "x"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200


def test_audit_log_api_is_for_auditors(client: Client, auditor: User, hq: User) -> None:
    services.audit_record(action=Action.UPDATE, object_type="core.facility", actor=hq)
    response = client.get("/api/v1/audit-events", {"actor": "hq"}, **bearer(auditor))
    assert response.status_code == 200
    assert [item["actor_username"] for item in response.json()["items"]] == ["hq"]
    assert client.get("/api/v1/audit-events", **bearer(hq)).status_code == 403
    bad = client.get("/api/v1/audit-events", {"since": "yesterday"}, **bearer(auditor))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.since"


def test_the_municipality_and_code_check_are_public(client: Client, municipality: object) -> None:
    assert client.get("/api/v1/municipality").json()["lgcode"] == "112241"
    check = client.get("/api/v1/lgcodes/92011").json()
    assert check == {
        "input": "92011",
        "code": "092011",
        "valid": True,
        "name": "栃木県宇都宮市",
        "error": None,
    }
    assert client.get("/api/v1/lgcodes/112242").json()["valid"] is False


def test_municipality_before_init_is_a_404_problem(client: Client, db: None) -> None:
    response = client.get("/api/v1/municipality")
    assert response.status_code == 404
    assert "machi init" in response.json()["detail"]


def test_a_bad_token_on_a_write_is_a_401_not_a_csrf_error(
    client: Client, facilities: list[Facility]
) -> None:
    response = client.patch(
        f"/api/v1/facilities/{facilities[0].pk}",
        data={"name_en": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer machi_wrong",
    )
    assert response.status_code == 401


def test_the_api_limits_requests_per_user_and_says_when_to_retry(
    client: Client, hq: User, settings: object
) -> None:
    from machi.config.api import api

    throttle = next(t for t in api.throttle if getattr(t, "authenticated", False))  # type: ignore[union-attr]
    old = throttle.per_minute
    throttle.per_minute = 3
    try:
        headers = bearer(hq)
        statuses = [client.get("/api/v1/me", **headers).status_code for _ in range(4)]
    finally:
        throttle.per_minute = old
    assert statuses == [200, 200, 200, 429]
