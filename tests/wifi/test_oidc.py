"""Login with OpenID Connect against the loopback fake provider: the happy path, and every
broken token the portal must refuse."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from machi.core.models import Municipality
from machi.wifi.models import AccessPoint
from machi.wifi.portal import oidc, selectors
from machi.wifi.portal.models import LoginMethod, PortalSession
from tests.wifi.oidc_provider import FakeOidcProvider, b64url
from tests.wifi.test_portal import AP_MAC, FREE_SSID, PHONE, PHONE_MAC, make_ap, make_profiles


@pytest.fixture
def provider(settings: Any) -> Iterator[FakeOidcProvider]:
    fake = FakeOidcProvider().start()
    settings.MACHI_WIFI_OIDC_ISSUER = fake.issuer
    settings.MACHI_WIFI_OIDC_CLIENT_ID = fake.client_id
    settings.MACHI_WIFI_OIDC_CLIENT_SECRET = fake.client_secret
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def ap(municipality: Municipality) -> AccessPoint:
    make_profiles()
    return make_ap(municipality)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _visit_provider(url: str) -> str:
    """The browser at the provider: it approves at once and redirects back; the Location."""
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(url, timeout=5)
    assert redirect.value.code == 302
    return str(redirect.value.headers["Location"])


def _login(client: Client) -> Any:
    client.get("/wifi/", {"client": PHONE, "ap": AP_MAC, "ssid": FREE_SSID})
    start = client.get("/wifi/login/oidc/")
    assert start.status_code == 302
    back = urllib.parse.urlsplit(_visit_provider(start["Location"]))
    assert back.path == "/wifi/login/oidc/callback/"
    return client.get(back.path, dict(urllib.parse.parse_qsl(back.query)))


def test_a_login_through_the_provider_opens_a_full_session(
    provider: FakeOidcProvider, ap: AccessPoint, client: Client, settings: Any
) -> None:
    settings.MACHI_WIFI_SESSION_MINUTES = 90
    response = _login(client)

    assert response.status_code == 302
    assert response["Location"] == "/wifi/status/"
    session = PortalSession.objects.get()
    assert session.method == LoginMethod.OIDC
    assert session.client_mac == PHONE_MAC
    assert session.site == ap.site
    assert (session.expires_at - session.started_at).total_seconds() == 90 * 60
    # Only a keyed hash of the subject is kept.
    assert len(session.subject_digest) == 64
    assert provider.subject not in session.subject_digest
    # The code was exchanged with the PKCE verifier and the client's secret.
    token_request = provider.token_requests[-1]
    assert len(token_request["code_verifier"]) >= 43
    assert "client_secret" not in token_request  # sent with HTTP Basic, as preferred
    assert selectors.radius_decision(client_mac=PHONE, ap_mac=AP_MAC, ssid=FREE_SSID).accept
    assert client.get("/wifi/captive-portal-api").json()["captive"] is False


def test_the_authorization_request_carries_pkce_state_and_nonce(
    provider: FakeOidcProvider, ap: AccessPoint, client: Client
) -> None:
    location = client.get("/wifi/login/oidc/")["Location"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert location.startswith(f"{provider.issuer}/authorize?")
    assert query["response_type"] == "code"
    assert query["scope"] == "openid"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 32
    assert query["redirect_uri"] == "http://testserver/wifi/login/oidc/callback/"


@pytest.mark.parametrize(
    "tamper", ["bad_signature", "wrong_nonce", "wrong_aud", "expired", "wrong_iss"]
)
def test_a_broken_id_token_is_refused(
    provider: FakeOidcProvider, ap: AccessPoint, client: Client, tamper: str
) -> None:
    provider.tamper = tamper
    response = _login(client)
    assert response.status_code == 400
    assert "login" in response.content.decode().lower()
    assert not PortalSession.objects.exists()


def test_a_forged_state_is_refused(
    provider: FakeOidcProvider, ap: AccessPoint, client: Client
) -> None:
    client.get("/wifi/login/oidc/")
    response = client.get("/wifi/login/oidc/callback/", {"code": "x", "state": "forged"})
    assert response.status_code == 400
    assert provider.token_requests == []  # refused before the code was ever used


def test_a_callback_works_once(provider: FakeOidcProvider, ap: AccessPoint, client: Client) -> None:
    client.get("/wifi/", {"client": PHONE})
    back = urllib.parse.urlsplit(_visit_provider(client.get("/wifi/login/oidc/")["Location"]))
    query = dict(urllib.parse.parse_qsl(back.query))
    assert client.get(back.path, query).status_code == 302
    assert client.get(back.path, query).status_code == 400
    assert PortalSession.objects.count() == 1


def test_a_provider_error_is_shown_kindly(
    provider: FakeOidcProvider, ap: AccessPoint, client: Client
) -> None:
    client.get("/wifi/login/oidc/")
    response = client.get("/wifi/login/oidc/callback/", {"error": "access_denied", "state": "s"})
    assert response.status_code == 400
    assert not PortalSession.objects.exists()


def test_an_unreachable_provider_does_not_break_the_portal(
    ap: AccessPoint, client: Client, settings: Any
) -> None:
    settings.MACHI_WIFI_OIDC_ISSUER = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.MACHI_WIFI_OIDC_CLIENT_ID = "machi"
    assert client.get("/wifi/login/oidc/").status_code == 502
    assert client.get("/wifi/").status_code == 200


# --- The ID token check on its own ----------------------------------------------------------------


def _unsigned(provider: FakeOidcProvider, alg: str) -> str:
    header = b64url(json.dumps({"alg": alg, "kid": provider.kid}).encode())
    claims = b64url(
        json.dumps(
            {"iss": provider.issuer, "aud": provider.client_id, "sub": "x", "nonce": "n"}
        ).encode()
    )
    return f"{header}.{claims}.{b64url(b'signature')}"


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_unsigned_and_hmac_tokens_are_refused(
    provider: FakeOidcProvider, db: Any, alg: str
) -> None:
    with pytest.raises(oidc.OidcError, match="algorithm"):
        oidc.verify_id_token(
            _unsigned(provider, alg),
            provider=oidc.discover(),
            client_id=provider.client_id,
            nonce="n",
        )


def test_a_discovery_document_for_another_issuer_is_refused(
    provider: FakeOidcProvider, db: Any
) -> None:
    with pytest.raises(oidc.OidcError, match="another issuer"):
        # The same server under another name: its document names 127.0.0.1, not localhost.
        oidc.discover(f"http://localhost:{provider.port}")


def test_plain_http_to_another_host_is_refused() -> None:
    with pytest.raises(oidc.OidcError, match="non-HTTPS"):
        oidc.discover("http://id.example")


def test_base64url_helpers_round_trip() -> None:
    data = bytes(range(256))
    assert oidc._b64url_decode(oidc._b64url(data)) == data
    assert base64.urlsafe_b64decode(oidc._b64url(b"ab") + "==") == b"ab"
