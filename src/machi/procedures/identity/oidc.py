"""Residents' sign-in with OpenID Connect (デジタル認証アプリ and other providers).

The relying party of OpenID Connect Core 1.0 §3.1 (authorization code flow), with PKCE S256
(RFC 7636), the client proving itself at the token endpoint with ``private_key_jwt`` (a JWT
signed by the client's key, RFC 7523; the provider reads the public key from ``client_jwks``,
served at /procedures/id/jwks.json) or ``client_secret_basic``, as the government's resident
log-in asks. Discovery 1.0 finds the endpoints; the ID token is checked as §3.1.3.7 says.

What a login keeps between ``begin`` and ``finish`` sits in the session under one key, by
state: a resident may have started in two tabs, and each pending login expires after ten
minutes. Every refusal is an ``OIDCError`` whose message is for the resident and whose
``reason`` (a short code) is for the audit log; neither carries a token or a claim.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from machi.procedures.identity.base import Identity
from machi.procedures.services import ProcedureError

log = logging.getLogger(__name__)

PENDING_KEY = "procedures_oidc_pending"
PENDING_MAX_AGE = 10 * 60
PENDING_MAX = 5  # logins started and not finished; the oldest gives way
DEFAULT_NEXT = "/procedures/"
DISCOVERY_TTL = 60 * 60
LEEWAY = 60  # seconds of clock skew allowed between the provider and us
ASSERTION_LIFETIME = 300  # RFC 7523 assertions: short, and the provider refuses a replay
TIMEOUT = 10
MAX_RESPONSE = 1_000_000
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEY_FILE_NAME = "oidc_client_key.pem"
# Asymmetric only: "none" is never acceptable, and with HS256 the client secret, which the
# provider also knows, would become a key anyone holding it could sign ID tokens with.
ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256", "ES384", "RS384", "RS512", "EdDSA")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

Json = dict[str, Any]
ClientKey = RSAKey | ECKey | OKPKey


class OIDCError(ProcedureError):
    """A login refused; ``reason`` names the check that failed (for logs and the audit)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, field="identity")
        self.reason = reason


# --- Settings ----------------------------------------------------------------------------------


def _setting(name: str) -> str:
    return str(getattr(settings, name, "") or "")


def issuer() -> str:
    return _setting("MACHI_OIDC_ISSUER")


def client_id() -> str:
    return _setting("MACHI_OIDC_CLIENT_ID")


def client_auth() -> str:
    return _setting("MACHI_OIDC_CLIENT_AUTH") or "private_key_jwt"


def scopes() -> list[str]:
    wanted = _setting("MACHI_OIDC_SCOPES").split() or ["openid"]
    return wanted if "openid" in wanted else ["openid", *wanted]


def configured() -> bool:
    """Whether residents can log in here with OpenID Connect at all."""
    if not issuer() or not client_id():
        return False
    if client_auth() == "client_secret_basic":
        return bool(_setting("MACHI_OIDC_CLIENT_SECRET"))
    return client_auth() == "private_key_jwt"


# --- HTTP --------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The provider's endpoints answer, they do not send us elsewhere: a redirect could turn
    the token request into a GET to a stranger."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _check_url(url: object) -> str:
    """HTTPS, except to this machine (the loopback provider of the tests and the demo)."""
    if not isinstance(url, str):
        raise OIDCError(_("The identity provider is not set up correctly."), reason="config")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return url
    log.warning("OpenID Connect: refusing a provider URL that is not HTTPS: %.100s", url)
    raise OIDCError(_("The identity provider is not set up correctly."), reason="config")


def _unreachable() -> OIDCError:
    return OIDCError(
        _("The identity provider cannot be reached. Please try again later."),
        reason="unreachable",
    )


def _fetch(
    url: str, *, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Any]:
    """(status, JSON body) of a GET, or of a form POST. A non-JSON answer is ``None``."""
    data = urllib.parse.urlencode(form).encode("ascii") if form is not None else None
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by _check_url
        _check_url(url),
        data=data,
        headers={"Accept": "application/json", **(headers or {})},
        method="POST" if data is not None else "GET",
    )
    try:
        with _opener.open(request, timeout=TIMEOUT) as response:
            status, raw = int(response.status), response.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read(MAX_RESPONSE + 1)
    except (urllib.error.URLError, OSError) as exc:
        log.warning("OpenID Connect: %s unreachable: %s", url, exc)
        raise _unreachable() from exc
    if len(raw) > MAX_RESPONSE:
        log.warning("OpenID Connect: %s sent too much", url)
        raise _unreachable()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


# --- Discovery and the provider's keys ---------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    id_token_algorithms: tuple[str, ...]
    auth_methods: tuple[str, ...]
    auth_algorithms: tuple[str, ...]
    iss_parameter: bool


def _cache_key(kind: str, value: str) -> str:
    return f"procedures-oidc-{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def discover() -> Provider:
    """The configured provider's endpoints (``/.well-known/openid-configuration``, kept an
    hour). Discovery §4.3: the document must name exactly the issuer we asked."""
    wanted = issuer()
    if not wanted:
        raise OIDCError(
            _("Signing in with an identity provider is not available here."), reason="off"
        )
    key = _cache_key("discovery", wanted)
    document = cache.get(key)
    if document is None:
        url = wanted.rstrip("/") + "/.well-known/openid-configuration"
        status, document = _fetch(url)
        if status != 200 or not isinstance(document, dict):
            log.warning("OpenID Connect: discovery at %s answered %s", url, status)
            raise _unreachable()
        if document.get("issuer") != wanted:
            log.warning("OpenID Connect: the discovery document names another issuer")
            raise OIDCError(
                _("The identity provider is not the one this city hall trusts."),
                reason="discovery_issuer",
            )
        cache.set(key, document, DISCOVERY_TTL)
    try:
        return Provider(
            issuer=wanted,
            authorization_endpoint=_check_url(document["authorization_endpoint"]),
            token_endpoint=_check_url(document["token_endpoint"]),
            jwks_uri=_check_url(document["jwks_uri"]),
            userinfo_endpoint=(
                _check_url(document["userinfo_endpoint"])
                if document.get("userinfo_endpoint")
                else ""
            ),
            id_token_algorithms=tuple(
                document.get("id_token_signing_alg_values_supported") or ["RS256"]
            ),
            # OpenID Connect Discovery §3: client_secret_basic when the provider says nothing.
            auth_methods=tuple(
                document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            ),
            auth_algorithms=tuple(
                document.get("token_endpoint_auth_signing_alg_values_supported") or ()
            ),
            iss_parameter=bool(document.get("authorization_response_iss_parameter_supported")),
        )
    except (KeyError, TypeError) as exc:
        log.warning("OpenID Connect: the discovery document lacks %s", exc)
        raise OIDCError(
            _("The identity provider is not set up correctly."), reason="config"
        ) from exc


def _provider_keys(provider: Provider, *, refresh: bool = False) -> KeySet:
    key = _cache_key("jwks", provider.jwks_uri)
    document = None if refresh else cache.get(key)
    if document is None:
        status, document = _fetch(provider.jwks_uri)
        if status != 200 or not isinstance(document, dict):
            log.warning("OpenID Connect: the JWKS answered %s", status)
            raise _unreachable()
        cache.set(key, document, DISCOVERY_TTL)
    try:
        return KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        log.warning("OpenID Connect: the provider's JWKS is unusable: %s", exc)
        raise _bad_token() from exc


# --- The client's key (private_key_jwt) --------------------------------------------------------

_key_lock = threading.Lock()
# Keyed by what the key came from (the configured text, or the key file's path), so that a
# test or a settings change picks up another key without a restart.
_client_keys: dict[str, ClientKey] = {}


def _parse_client_key(text: str) -> ClientKey:
    text = text.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("keys"), list):
                data = data["keys"][0]  # a JWKS of one key, as some tools write it
            key: Any = KeySet.import_key_set({"keys": [data]}).keys[0]
        else:
            key = _import_pem(text.encode("ascii"))
    except (JoseError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise ImproperlyConfigured(
            f"MACHI_OIDC_PRIVATE_KEY is not a usable private key (PEM or JWK): {exc}"
        ) from exc
    if not isinstance(key, RSAKey | ECKey | OKPKey) or not key.is_private:
        raise ImproperlyConfigured("MACHI_OIDC_PRIVATE_KEY must be a private RSA, EC or OKP key")
    _signing_algorithm(key)  # refuses curves we cannot sign with
    key.ensure_kid()
    return key


def _import_pem(pem: bytes) -> ClientKey:
    for kind in (ECKey, RSAKey, OKPKey):
        try:
            return kind.import_key(pem)
        except (JoseError, ValueError, TypeError):
            continue
    raise ValueError("not a PEM private key of a supported type")


def _signing_algorithm(key: ClientKey) -> str:
    if isinstance(key, RSAKey):
        return str(key.get("alg") or "RS256")
    if isinstance(key, OKPKey):
        if key.curve_name != "Ed25519":
            raise ImproperlyConfigured("MACHI_OIDC_PRIVATE_KEY: only Ed25519 among OKP keys")
        return "EdDSA"
    algorithms = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
    if key.curve_name not in algorithms:
        raise ImproperlyConfigured("MACHI_OIDC_PRIVATE_KEY: an EC key on P-256, P-384 or P-521")
    return algorithms[key.curve_name]


def _key_from_file(path: Path) -> ClientKey:
    """Read the kept key, or make one (EC P-256): written aside with mode 0600, then
    hard-linked into place, so two processes starting together agree on one key. It must
    outlive restarts: the provider may have registered its public half."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".oidc-key-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            with contextlib.suppress(FileExistsError):  # another process won: its key counts
                os.link(partial, path)
        finally:
            os.unlink(partial)
    return _parse_client_key(path.read_text())


def client_key() -> ClientKey:
    """The client's private key: MACHI_OIDC_PRIVATE_KEY, or one kept in DATA_DIR."""
    configured_key = _setting("MACHI_OIDC_PRIVATE_KEY")
    source = configured_key or f"file:{settings.DATA_DIR}"
    key = _client_keys.get(source)
    if key is None:
        with _key_lock:
            key = _client_keys.get(source)
            if key is None:
                if configured_key:
                    key = _parse_client_key(configured_key)
                else:
                    key = _key_from_file(Path(settings.DATA_DIR) / KEY_FILE_NAME)
                _client_keys[source] = key
    return key


def client_jwks() -> Json:
    """The public half of the client's key, as a JWKS for the provider to fetch."""
    key = client_key()
    public = dict(key.as_dict(private=False))
    public.update(kid=str(key.kid), use="sig", alg=_signing_algorithm(key))
    return {"keys": [public]}


def _client_assertion(provider: Provider) -> str:
    key = client_key()
    algorithm = _signing_algorithm(key)
    if provider.auth_algorithms and algorithm not in provider.auth_algorithms:
        log.warning("OpenID Connect: the provider does not take %s client assertions", algorithm)
        raise OIDCError(_("The identity provider is not set up correctly."), reason="config")
    return str(
        private_key_jwt_sign(
            key,
            client_id=client_id(),
            token_endpoint=provider.token_endpoint,
            alg=algorithm,
            header={"kid": str(key.kid)},
            expires_in=ASSERTION_LIFETIME,
        )
    )


def forget() -> None:
    """Drop the cached client key (tests that change the settings)."""
    with _key_lock:
        _client_keys.clear()


# --- The login ---------------------------------------------------------------------------------


def _pending(request: HttpRequest) -> dict[str, Json]:
    """Logins started in this session and not yet finished, the expired ones dropped."""
    stored = request.session.get(PENDING_KEY)
    now = time.time()
    if not isinstance(stored, dict):
        return {}
    return {
        state: entry
        for state, entry in stored.items()
        if isinstance(entry, dict) and float(entry.get("expires", 0)) > now
    }


def begin(request: HttpRequest, next_url: str) -> str:
    """Start a login: the provider's authorization URL to send the resident to. ``next_url``
    must already be checked (the view does): it is where ``finish`` sends them back."""
    provider = discover()
    method = client_auth()
    if method not in provider.auth_methods:
        log.warning("OpenID Connect: the provider does not take %s", method)
        raise OIDCError(_("The identity provider is not set up correctly."), reason="config")
    state = generate_token(43)
    nonce = generate_token(43)
    verifier = generate_token(64)  # RFC 7636 §4.1: 43–128 unreserved characters
    redirect_uri = request.build_absolute_uri(reverse("portal:oidc_callback"))
    pending = _pending(request)
    while len(pending) >= PENDING_MAX:
        pending.pop(min(pending, key=lambda s: float(pending[s]["expires"])))
    pending[state] = {
        "nonce": nonce,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "next": next_url,
        "expires": time.time() + PENDING_MAX_AGE,
    }
    request.session[PENDING_KEY] = pending
    params = {
        "response_type": "code",
        "client_id": client_id(),
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes()),
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    parts = urllib.parse.urlsplit(provider.authorization_endpoint)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def next_url(request: HttpRequest) -> str:
    """Where the login answered in ``request`` was meant to lead (read before ``finish``,
    which spends the pending login)."""
    entry = _pending(request).get(request.GET.get("state", ""))
    return str(entry["next"]) if entry and entry.get("next") else DEFAULT_NEXT


def _take_pending(request: HttpRequest) -> Json:
    """The pending login the answer's state names, spent whatever comes next: a state works
    once."""
    pending = _pending(request)
    state = request.GET.get("state", "")
    entry = pending.pop(state, None) if state else None
    request.session[PENDING_KEY] = pending
    if entry is None:
        raise OIDCError(
            _(
                "This sign-in was not started in this browser, took longer than 10 minutes or "
                "was already completed. Please sign in again."
            ),
            reason="state",
        )
    return entry


def finish(request: HttpRequest) -> Identity:
    """Complete the login the provider answered in ``request`` (the callback's query)."""
    entry = _take_pending(request)
    provider = discover()
    answer = request.GET
    # RFC 9207: an answer naming another issuer was meant for another login (mix-up attack).
    if (answer.get("iss") or provider.iss_parameter) and answer.get("iss") != provider.issuer:
        raise OIDCError(_("The answer came from another identity provider."), reason="iss")
    error = answer.get("error", "")
    if error:
        log.info("OpenID Connect: the provider answered %.60s", error)
        if error == "access_denied":
            raise OIDCError(_("The sign-in was cancelled."), reason="access_denied")
        raise OIDCError(_("The identity provider refused the sign-in."), reason="provider_error")
    code = answer.get("code", "")
    if not code:
        raise OIDCError(_("The identity provider sent no authorization code."), reason="code")
    tokens = _exchange(provider, code=code, entry=entry)
    claims = _validate_id_token(provider, tokens["id_token"], nonce=str(entry["nonce"]))
    access_token = tokens.get("access_token")
    if provider.userinfo_endpoint and isinstance(access_token, str) and access_token:
        claims = {**claims, **_userinfo(provider, access_token, subject=claims["sub"])}
    return _identity(provider, claims)


def _exchange(provider: Provider, *, code: str, entry: Mapping[str, Any]) -> Json:
    """The code for tokens at the token endpoint (OpenID Connect Core §3.1.3.1)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": str(entry["redirect_uri"]),
        "code_verifier": str(entry["verifier"]),
    }
    headers = {}
    if client_auth() == "private_key_jwt":
        form.update(
            client_id=client_id(),
            client_assertion_type=ASSERTION_TYPE,
            client_assertion=_client_assertion(provider),
        )
    else:
        # RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
        pair = ":".join(
            urllib.parse.quote_plus(part)
            for part in (client_id(), _setting("MACHI_OIDC_CLIENT_SECRET"))
        )
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    status, tokens = _fetch(provider.token_endpoint, form=form, headers=headers)
    if status != 200 or not isinstance(tokens, dict):
        error = tokens.get("error") if isinstance(tokens, dict) else None
        log.warning("OpenID Connect: the token endpoint answered %s %.60s", status, error)
        if error == "invalid_client" or status == 401:
            raise OIDCError(
                _("The identity provider did not accept this city hall's credentials."),
                reason="invalid_client",
            )
        if error == "invalid_grant":
            raise OIDCError(
                _(
                    "The identity provider did not accept the sign-in (it may have been used "
                    "already or taken too long). Please sign in again."
                ),
                reason="invalid_grant",
            )
        raise OIDCError(_("The identity provider refused the sign-in."), reason="token")
    if not isinstance(tokens.get("id_token"), str):
        raise OIDCError(_("The identity provider sent no ID token."), reason="token")
    return tokens


def _bad_token() -> OIDCError:
    return OIDCError(_("The identity provider's answer could not be verified."), reason="signature")


def _verify_signature(provider: Provider, token: str) -> Json:
    """The claims of a token signed by one of the provider's keys; the keys are fetched once
    more for a kid we do not know (providers rotate them)."""
    algorithms = [a for a in provider.id_token_algorithms if a in ID_TOKEN_ALGORITHMS]
    if not algorithms:
        log.warning("OpenID Connect: the provider signs with no algorithm we accept")
        raise OIDCError(_("The identity provider is not set up correctly."), reason="config")
    for refresh in (False, True):
        keys = _provider_keys(provider, refresh=refresh)
        try:
            return jwt.decode(token, keys, algorithms=algorithms).claims
        except JoseError as exc:
            if exc.error == "invalid_key_id" and not refresh:
                continue
            log.warning("OpenID Connect: ID token refused: %s", exc.error)
            if exc.error in ("unsupported_algorithm", "missing_algorithm"):
                raise OIDCError(
                    _("The identity provider's answer is not signed in an accepted way."),
                    reason="algorithm",
                ) from exc
            raise _bad_token() from exc
        except ValueError as exc:  # joserfc: no key at all for a token without kid
            log.warning("OpenID Connect: ID token refused: %s", exc)
            raise _bad_token() from exc
    raise _bad_token()  # pragma: no cover - the loop returns or raises


def _validate_id_token(provider: Provider, token: str, *, nonce: str) -> Json:
    """OpenID Connect Core §3.1.3.7, in its order after the signature."""
    claims = _verify_signature(provider, token)
    now = time.time()
    if claims.get("iss") != provider.issuer:
        raise OIDCError(
            _("The sign-in was issued by another identity provider."), reason="id_token_iss"
        )
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id() not in audiences:
        raise OIDCError(_("The sign-in was issued for another service."), reason="id_token_aud")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id():
        raise OIDCError(_("The sign-in was issued for another service."), reason="id_token_azp")
    expires, issued = claims.get("exp"), claims.get("iat")
    if not isinstance(expires, int | float) or now > expires + LEEWAY:
        raise OIDCError(_("The sign-in has expired. Please sign in again."), reason="id_token_exp")
    if not isinstance(issued, int | float) or issued > now + LEEWAY:
        raise OIDCError(
            _("The identity provider's clock is wrong. Please try again later."),
            reason="id_token_iat",
        )
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(
        token_nonce.encode(), nonce.encode()
    ):
        raise OIDCError(
            _("The sign-in does not belong to this browser. Please sign in again."),
            reason="id_token_nonce",
        )
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise OIDCError(_("The identity provider did not say who you are."), reason="sub")
    return claims


def _userinfo(provider: Provider, access_token: str, *, subject: str) -> Json:
    """Claims from the userinfo endpoint; its ``sub`` must be the ID token's (Core §5.3.2)."""
    status, claims = _fetch(
        provider.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
    )
    if status != 200 or not isinstance(claims, dict):
        log.warning("OpenID Connect: userinfo answered %s", status)
        raise OIDCError(
            _("The identity provider did not send your details. Please try again."),
            reason="userinfo",
        )
    if claims.get("sub") != subject:
        raise OIDCError(
            _("The identity provider sent details of someone else."), reason="userinfo_sub"
        )
    return claims


def _identity(provider: Provider, claims: Mapping[str, Any]) -> Identity:
    name = claims.get("name")
    if not isinstance(name, str) or not name:
        parts = (claims.get("family_name"), claims.get("given_name"))
        name = " ".join(p for p in parts if isinstance(p, str) and p)
    email = claims.get("email")
    # Only an address the provider checked is the resident's.
    verified = claims.get("email_verified") in (True, "true")
    address = claims.get("address")
    formatted = address.get("formatted") if isinstance(address, dict) else None
    return Identity(
        level="oidc",
        identifier=f"{provider.issuer}|{claims['sub']}",
        name=name[:200],
        email=email[:254] if isinstance(email, str) and verified else "",
        address=formatted[:500] if isinstance(formatted, str) else "",
    )
