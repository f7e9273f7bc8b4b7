"""Staff sign in with a password and then a TOTP code; nothing less opens the console."""

import time

import pyotp
import pytest
from django.test import Client
from django.test.utils import override_settings

from machi.core import services
from machi.core.models import AuditEvent, TotpDevice, User
from machi.core.roles import Action
from tests.conftest import PASSWORD, sign_in, totp_code


def test_console_sends_anonymous_visitors_to_the_sign_in(client: Client, db: None) -> None:
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/?next=/console/")


def test_the_full_two_step_sign_in_opens_the_console(client: Client, hq: User) -> None:
    sign_in(client, hq)
    response = client.get("/console/")
    assert response.status_code == 200
    assert "災害対策本部" in response.content.decode()


def test_the_password_alone_does_not_sign_in(client: Client, hq: User) -> None:
    client.post("/console/login/", {"username": "hq", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert client.get("/console/").status_code == 302


def test_first_sign_in_enrolls_an_authenticator_with_a_qr_code(client: Client, hq: User) -> None:
    client.post("/console/login/", {"username": "hq", "password": PASSWORD})
    response = client.get("/console/login/verify/")
    page = response.content.decode()
    assert response.context["enrolling"] is True
    assert "<svg" in page
    device = TotpDevice.objects.get(user=hq)
    assert device.secret in page
    assert device.confirmed_at is None
    response = client.post("/console/login/verify/", {"code": pyotp.TOTP(device.secret).now()})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed_at is not None


def test_a_code_is_accepted_only_once(client: Client, hq: User) -> None:
    sign_in(client, hq)
    code = totp_code(hq)
    other = Client()
    other.post("/console/login/", {"username": "hq", "password": PASSWORD})
    response = other.post("/console/login/verify/", {"code": code})
    assert response.status_code == 400
    assert (
        "already been used" in response.content.decode()
        or "すでに使用" in response.content.decode()
    )


def test_a_wrong_code_is_a_field_error_and_five_end_the_attempt(client: Client, hq: User) -> None:
    client.post("/console/login/", {"username": "hq", "password": PASSWORD})
    for _ in range(4):
        response = client.post("/console/login/verify/", {"code": "000000"})
        assert response.status_code == 400
        assert "code" in response.context["form"].errors
    response = client.post("/console/login/verify/", {"code": "000000"})
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"
    assert AuditEvent.objects.filter(action=Action.LOGIN_FAILED, detail__reason="2fa").exists()


def test_the_second_step_expires(client: Client, hq: User, monkeypatch: pytest.MonkeyPatch) -> None:
    client.post("/console/login/", {"username": "hq", "password": PASSWORD})
    later = time.time() + 6 * 60
    monkeypatch.setattr("machi.core.views.time.time", lambda: later)
    response = client.get("/console/login/verify/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"


def test_wrong_passwords_are_logged_and_then_rate_limited(client: Client, hq: User) -> None:
    with override_settings(LOGIN_RATE_LIMIT=3):
        for _ in range(3):
            response = client.post("/console/login/", {"username": "hq", "password": "wrong"})
            assert response.status_code == 400
        response = client.post("/console/login/", {"username": "hq", "password": PASSWORD})
        assert response.status_code == 429
    failed = AuditEvent.objects.filter(action=Action.LOGIN_FAILED)
    assert failed.filter(detail__reason="locked").count() == 1
    assert failed.count() == 3 + 1


def test_accounts_without_a_role_cannot_sign_in(client: Client, make_staff: object) -> None:
    make_staff(None, username="nobody")  # type: ignore[operator]
    response = client.post("/console/login/", {"username": "nobody", "password": PASSWORD})
    assert response.status_code == 400


def test_empty_fields_are_reported_per_field(client: Client, db: None) -> None:
    response = client.post("/console/login/", {"username": "", "password": ""})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"username", "password"}


def test_next_may_not_leave_the_site(client: Client, hq: User) -> None:
    services.totp_start(user=hq)
    client.post(
        "/console/login/?next=https://evil.example/", {"username": "hq", "password": PASSWORD}
    )
    hq.refresh_from_db()
    response = client.post("/console/login/verify/", {"code": totp_code(hq)})
    assert response["Location"] == "/console/"


def test_next_within_the_site_is_followed(client: Client, auditor: User) -> None:
    services.totp_start(user=auditor)
    client.post(
        "/console/login/",
        {"username": "auditor", "password": PASSWORD, "next": "/console/audit/"},
    )
    auditor.refresh_from_db()
    response = client.post("/console/login/verify/", {"code": totp_code(auditor)})
    assert response["Location"] == "/console/audit/"


def test_the_admin_signs_in_through_the_same_two_steps(client: Client, sysadmin: User) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response["Location"].startswith("/console/login/")
    sign_in(client, sysadmin)
    assert client.get("/admin/").status_code == 200


def test_the_admin_is_closed_to_other_roles(client: Client, hq: User) -> None:
    client.force_login(hq)
    assert client.get("/admin/").status_code == 302


def test_sign_out_needs_a_post(client: Client, hq: User) -> None:
    client.force_login(hq)
    assert client.get("/console/logout/").status_code == 405
    assert client.post("/console/logout/").status_code == 302
    assert client.get("/console/").status_code == 302


def test_wrong_codes_count_toward_the_account_limit(client: Client, hq: User) -> None:
    """Five wrong codes send you back to the password; the account limit still holds."""
    services.totp_start(user=hq)
    with override_settings(LOGIN_RATE_LIMIT=6):
        for _ in range(2):
            client.post("/console/login/", {"username": "hq", "password": PASSWORD})
            for _ in range(3):
                client.post("/console/login/verify/", {"code": "000000"})
        response = client.post("/console/login/", {"username": "hq", "password": PASSWORD})
        assert response.status_code == 429
