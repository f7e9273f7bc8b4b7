"""Residents sign in with OpenID Connect (デジタル認証アプリ style) against the loopback
provider: authorization code with PKCE, the client proving itself with a signed JWT or a
secret, and every broken answer refused in words a resident can read."""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from joserfc.jwk import RSAKey

from machi.core.models import AuditEvent
from machi.core.roles import Action
from machi.procedures.identity import base, oidc
from machi.procedures.peers.oidc_provider import OidcProvider

pytestmark = pytest.mark.django_db

CLIENT_ID = "machi-test"
SECRET = "s3cret with spaces & symbols"
CALLBACK = "http://testserver/procedures/id/callback/"
PRIVATE_PARTS = {"d", "p", "q", "dp", "dq", "qi", "k"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _redirected(request: str | urllib.request.Request) -> str:
    """The browser at the provider: where it is sent back to (the Location of a 302)."""
    with pytest.raises(urllib.error.HTTPError) as answer:
        _opener.open(request, timeout=5)
    assert answer.value.code == 302, answer.value.read()
    return str(answer.value.headers["Location"])


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def op(settings: Any, tmp_path: Path) -> Iterator[OidcProvider]:
    settings.DATA_DIR = tmp_path
    settings.MACHI_OIDC_PRIVATE_KEY = ""
    settings.MACHI_OIDC_CLIENT_AUTH = "private_key_jwt"
    settings.MACHI_OIDC_CLIENT_ID = CLIENT_ID
    settings.MACHI_OIDC_CLIENT_SECRET = SECRET
    settings.MACHI_OIDC_SCOPES = "openid profile email address"
    provider = OidcProvider(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        client_jwks=oidc.client_jwks(),
        redirect_uris=[CALLBACK],
    ).start()
    settings.MACHI_OIDC_ISSUER = provider.issuer
    try:
        yield provider
    finally:
        provider.stop()
        oidc.forget()


def start(client: Client, next_url: str | None = None) -> str:
    response = client.get(reverse("portal:oidc_login"), {"next": next_url} if next_url else {})
    assert response.status_code == 302
    return str(response["Location"])


def approve(authorize_url: str, resident: str = "resident-001") -> str:
    """The resident picks themselves at the provider (the test switch skips the page)."""
    query = urllib.parse.urlencode({"login_hint": resident, "auto": "1"})
    location = _redirected(f"{authorize_url}&{query}")
    assert location.startswith(CALLBACK)
    return location


def choose(op: OidcProvider, authorize_url: str, **fields: str) -> str:
    """The resident presses a button of the provider's page (a POST back to /authorize)."""
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize_url).query))
    form = urllib.parse.urlencode({**params, **fields}).encode()
    request = urllib.request.Request(f"{op.issuer}/authorize", data=form)  # noqa: S310
    return _redirected(request)


def sign_in(client: Client, resident: str = "resident-001", next_url: str | None = None) -> Any:
    return client.get(approve(start(client, next_url), resident))


def signed_in(client: Client) -> base.Identity | None:
    return base.Identity.from_dict(client.session.get(base.SESSION_KEY))


def last_audit() -> AuditEvent:
    event = AuditEvent.objects.order_by("-pk").first()
    assert event is not None
    return event


# --- Signing in ----------------------------------------------------------------------------


def test_private_key_jwt_sign_in_keeps_the_resident_in_the_session(
    client: Client, op: OidcProvider
) -> None:
    response = sign_in(client, next_url="/procedures/juminhyo/")

    assert response.status_code == 302
    assert response["Location"] == "/procedures/juminhyo/"
    assert signed_in(client) == base.Identity(
        level="oidc",
        identifier=f"{op.issuer}|resident-001",
        name="戸田 花子",
        email="hanako@example.jp",
        address="埼玉県戸田市上戸田1-1-1",
    )
    assert op.issued == [{"sub": "resident-001", "client_auth": "private_key_jwt"}]
    event = last_audit()
    assert event.action == Action.LOGIN
    assert event.detail == {"method": "oidc"}
    assert "resident-001" not in json.dumps(event.detail) + event.object_repr


def test_client_secret_basic_sign_in_without_an_unverified_email(
    client: Client, op: OidcProvider, settings: Any
) -> None:
    settings.MACHI_OIDC_CLIENT_AUTH = "client_secret_basic"

    response = sign_in(client, resident="resident-002")

    assert response.status_code == 302
    assert response["Location"] == "/procedures/"
    identity = signed_in(client)
    assert identity is not None
    assert identity.identifier == f"{op.issuer}|resident-002"
    assert identity.name == "戸田 太郎"
    assert identity.email == ""  # the provider did not verify it
    assert identity.address == "埼玉県戸田市新曽南2-2-2"
    assert op.issued[-1]["client_auth"] == "client_secret_basic"


def test_a_wrong_client_secret_is_refused(client: Client, op: OidcProvider, settings: Any) -> None:
    settings.MACHI_OIDC_CLIENT_AUTH = "client_secret_basic"
    settings.MACHI_OIDC_CLIENT_SECRET = "not the secret"

    response = sign_in(client)

    assert response.status_code == 400
    assert "did not accept this city hall&#x27;s credentials" in response.content.decode()
    assert signed_in(client) is None


def test_a_configured_rsa_key_signs_the_assertion(
    client: Client, op: OidcProvider, settings: Any
) -> None:
    key = RSAKey.generate_key(2048)
    settings.MACHI_OIDC_PRIVATE_KEY = key.as_pem(private=True).decode()
    op.client_jwks = oidc.client_jwks()
    assert op.client_jwks["keys"][0]["alg"] == "RS256"

    assert sign_in(client).status_code == 302
    assert signed_in(client) is not None


def test_a_configured_jwk_signs_the_assertion(
    client: Client, op: OidcProvider, settings: Any
) -> None:
    settings.MACHI_OIDC_PRIVATE_KEY = json.dumps(RSAKey.generate_key(2048).as_dict(private=True))
    op.client_jwks = oidc.client_jwks()

    assert sign_in(client).status_code == 302
    assert signed_in(client) is not None


def test_the_provider_can_fetch_the_client_keys_from_their_url(
    client: Client, op: OidcProvider
) -> None:
    body = client.get(reverse("portal:oidc_jwks")).content

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        op.client_jwks = None
        op.client_jwks_url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        assert sign_in(client).status_code == 302
    finally:
        server.shutdown()
        server.server_close()
    assert signed_in(client) is not None


def test_the_provider_page_lists_residents_and_signs_in_the_one_chosen(
    client: Client, op: OidcProvider
) -> None:
    authorize_url = start(client)
    with urllib.request.urlopen(authorize_url, timeout=5) as page:  # noqa: S310 - loopback
        html = page.read().decode()
    assert "戸田 花子" in html
    assert "戸田 太郎" in html
    location = choose(op, authorize_url, resident="resident-002")

    assert client.get(location).status_code == 302
    identity = signed_in(client)
    assert identity is not None
    assert identity.identifier.endswith("|resident-002")


def test_a_resident_who_cancels_at_the_provider_is_told_so(
    client: Client, op: OidcProvider
) -> None:
    location = choose(op, start(client), action="cancel")

    response = client.get(location)

    assert response.status_code == 400
    assert "The sign-in was cancelled." in response.content.decode()
    assert signed_in(client) is None
    event = last_audit()
    assert event.action == Action.LOGIN_FAILED
    assert event.detail == {"method": "oidc", "reason": "access_denied"}


def test_two_tabs_may_sign_in_at_once(client: Client, op: OidcProvider) -> None:
    first = start(client, "/procedures/first/")
    second = start(client, "/procedures/second/")

    assert client.get(approve(first)).headers["Location"] == "/procedures/first/"
    assert client.get(approve(second)).headers["Location"] == "/procedures/second/"


def test_a_rotated_provider_key_is_fetched_once_more(client: Client, op: OidcProvider) -> None:
    assert sign_in(client).status_code == 302  # the provider's keys are now cached
    op.rotate_key()

    assert sign_in(client).status_code == 302


# --- Refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message", "reason"),
    [
        ("bad_signature", "answer could not be verified", "signature"),
        ("unknown_key", "answer could not be verified", "signature"),
        ("alg_none", "not signed in an accepted way", "algorithm"),
        ("wrong_nonce", "does not belong to this browser", "id_token_nonce"),
        ("wrong_issuer", "issued by another identity provider", "id_token_iss"),
        ("wrong_audience", "issued for another service", "id_token_aud"),
        ("other_azp", "issued for another service", "id_token_azp"),
        ("expired", "The sign-in has expired", "id_token_exp"),
        ("userinfo_sub", "details of someone else", "userinfo_sub"),
    ],
)
def test_a_broken_answer_is_refused(
    client: Client, op: OidcProvider, fault: str, message: str, reason: str
) -> None:
    op.fault = fault

    response = sign_in(client, next_url="/procedures/juminhyo/")

    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert "/procedures/id/login/?next=%2Fprocedures%2Fjuminhyo%2F" in page  # try again
    assert signed_in(client) is None
    event = last_audit()
    assert event.action == Action.LOGIN_FAILED
    assert event.detail == {"method": "oidc", "reason": reason}


def test_a_provider_naming_another_issuer_is_not_trusted(client: Client, op: OidcProvider) -> None:
    op.fault = "discovery_issuer"

    response = client.get(reverse("portal:oidc_login"))

    assert response.status_code == 502
    assert "not the one this city hall trusts" in response.content.decode()


def test_a_state_works_once(client: Client, op: OidcProvider) -> None:
    callback = approve(start(client))
    assert client.get(callback).status_code == 302

    again = client.get(callback)

    assert again.status_code == 400
    assert "was already completed" in again.content.decode()
    assert len(op.issued) == 1  # the provider was not asked again


def test_a_code_works_once_at_the_provider(client: Client, op: OidcProvider) -> None:
    used = approve(start(client))
    assert client.get(used).status_code == 302
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(used).query))["code"]
    fresh = approve(start(client))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(fresh).query))

    response = client.get(CALLBACK, {**query, "code": code})

    assert response.status_code == 400
    assert "may have been used already" in response.content.decode()
    assert op.refused[-1]["description"] == "code already used"


def test_an_old_code_is_refused(client: Client, op: OidcProvider) -> None:
    op.code_ttl = 0

    response = sign_in(client)

    assert response.status_code == 400
    assert op.refused[-1]["description"] == "code expired"


def test_a_wrong_pkce_verifier_is_refused(client: Client, op: OidcProvider) -> None:
    callback = approve(start(client))
    session = client.session
    pending = session[oidc.PENDING_KEY]
    for entry in pending.values():
        entry["verifier"] = "x" * 64
    session[oidc.PENDING_KEY] = pending
    session.save()

    response = client.get(callback)

    assert response.status_code == 400
    assert op.refused[-1]["description"] == "PKCE verification failed"
    assert signed_in(client) is None


def test_a_pending_sign_in_expires_after_ten_minutes(client: Client, op: OidcProvider) -> None:
    callback = approve(start(client))
    session = client.session
    pending = session[oidc.PENDING_KEY]
    for entry in pending.values():
        entry["expires"] -= oidc.PENDING_MAX_AGE + 1
    session[oidc.PENDING_KEY] = pending
    session.save()

    response = client.get(callback)

    assert response.status_code == 400
    assert "took longer than 10 minutes" in response.content.decode()


def test_an_answer_from_another_issuer_is_refused(client: Client, op: OidcProvider) -> None:
    callback = approve(start(client))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))

    response = client.get(CALLBACK, {**query, "iss": "https://idp.example.jp"})

    assert response.status_code == 400
    assert "came from another identity provider" in response.content.decode()
    assert op.issued == []


def test_an_answer_without_its_issuer_is_refused_when_the_provider_sends_one(
    client: Client, op: OidcProvider
) -> None:
    callback = approve(start(client))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    del query["iss"]  # the provider says it always names itself (RFC 9207)

    response = client.get(CALLBACK, query)

    assert response.status_code == 400
    assert op.issued == []


def test_the_provider_refuses_a_replayed_client_assertion(op: OidcProvider, rf: Any) -> None:
    provider = oidc.discover()
    assertion = oidc._client_assertion(provider)
    answers = []
    for _ in range(2):
        request = rf.get("/")
        request.session = {}
        callback = approve(oidc.begin(request, "/"))
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
        entry = request.session[oidc.PENDING_KEY][query["state"]]
        form = {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": entry["redirect_uri"],
            "code_verifier": entry["verifier"],
            "client_assertion_type": oidc.ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        answers.append(oidc._fetch(provider.token_endpoint, form=form))

    assert answers[0][0] == 200
    assert answers[1] == (
        401,
        {"error": "invalid_client", "error_description": "assertion jti already used"},
    )


# --- The pages around it -------------------------------------------------------------------


@pytest.mark.parametrize("target", ["https://evil.example/steal", "//evil.example/", "/ok/"])
def test_next_may_only_lead_back_here(client: Client, op: OidcProvider, target: str) -> None:
    response = sign_in(client, next_url=target)

    assert response.status_code == 302
    assert response["Location"] == ("/ok/" if target == "/ok/" else "/procedures/")


def test_without_a_provider_sign_in_is_unavailable(client: Client, settings: Any) -> None:
    settings.MACHI_OIDC_ISSUER = ""

    response = client.get(reverse("portal:oidc_login"))

    assert response.status_code == 503
    assert "not available here" in response.content.decode()


def test_too_many_sign_ins_from_one_address_are_slowed(
    client: Client, op: OidcProvider, settings: Any
) -> None:
    settings.MACHI_OIDC_RATE_LIMIT = 2
    start(client)
    start(client)

    response = client.get(reverse("portal:oidc_login"))

    assert response.status_code == 429
    assert response["Retry-After"]


def test_the_client_jwks_shows_the_public_key_only(client: Client, op: OidcProvider) -> None:
    response = client.get(reverse("portal:oidc_jwks"))

    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "EC"
    assert key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert key["kid"]
    assert not PRIVATE_PARTS & set(key)


def test_the_generated_client_key_is_kept_private_and_stable(
    op: OidcProvider, settings: Any
) -> None:
    path = Path(settings.DATA_DIR) / oidc.KEY_FILE_NAME
    kid = oidc.client_jwks()["keys"][0]["kid"]

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    oidc.forget()
    assert oidc.client_jwks()["keys"][0]["kid"] == kid
