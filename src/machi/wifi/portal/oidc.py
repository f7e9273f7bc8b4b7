"""Login with an OpenID Connect provider: authorization code flow with PKCE, state and nonce.

OpenID Connect Core 1.0 §3.1 (code flow) and §3.1.3.7 (ID token validation), Discovery 1.0,
RFC 7636 (PKCE, S256), RFC 7517/7518 (JWK, RS256 and ES256). Only ``cryptography`` and
``urllib``: no JOSE library is installed, and the subset an ID token needs is small.

The portal asks for the ``openid`` scope only: it needs to know that the provider vouches for
someone (the subject), not who they are. The subject is kept as a keyed hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core.cache import cache

from machi.wifi.portal import conf

LEEWAY_SECONDS = 60  # clock skew between the provider and us
STATE_MAX_AGE = 10 * 60  # a login started more than 10 minutes ago is started again
DISCOVERY_TTL = 60 * 60
MAX_RESPONSE = 1_000_000
TIMEOUT = 10
ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class OidcError(Exception):
    """The login cannot be completed; the message is for the log, not for residents."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]


def _b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check_url(url: str) -> str:
    """HTTPS only, except to this machine (the test provider and a local demo)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return url
    raise OidcError(f"refusing a non-HTTPS provider URL: {url!r}")


def _request(
    url: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> Any:
    body = urllib.parse.urlencode(data).encode("ascii") if data is not None else None
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        _check_url(url),
        data=body,
        headers={"Accept": "application/json", **(headers or {})},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            raw = response.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as exc:
        raise OidcError(f"{url} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise OidcError(f"{url} is unreachable: {exc}") from exc
    if len(raw) > MAX_RESPONSE:
        raise OidcError(f"{url} sent too much")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise OidcError(f"{url} did not send JSON") from exc


def discover(issuer: str | None = None) -> Provider:
    """The provider's endpoints from ``/.well-known/openid-configuration`` (kept an hour)."""
    issuer = (issuer or conf.oidc_issuer()).rstrip("/")
    key = f"wifi-oidc-discovery:{hashlib.sha256(issuer.encode()).hexdigest()}"
    document = cache.get(key)
    if document is None:
        document = _request(f"{issuer}/.well-known/openid-configuration")
        if not isinstance(document, dict):
            raise OidcError("the discovery document is not an object")
        # Discovery §4.3: the issuer in the document must be the one we asked.
        if document.get("issuer", "").rstrip("/") != issuer:
            raise OidcError("the discovery document names another issuer")
        cache.set(key, document, DISCOVERY_TTL)
    try:
        return Provider(
            issuer=document["issuer"],
            authorization_endpoint=_check_url(document["authorization_endpoint"]),
            token_endpoint=_check_url(document["token_endpoint"]),
            jwks_uri=_check_url(document["jwks_uri"]),
            token_auth_methods=tuple(
                document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
            ),
        )
    except (KeyError, TypeError) as exc:
        raise OidcError(f"the discovery document lacks {exc}") from exc


def begin(*, redirect_uri: str) -> tuple[str, dict[str, Any]]:
    """The provider's authorization URL, and what to keep in the session until it answers."""
    provider = discover()
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # RFC 7636 §4.1: 43-128 characters
    challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": conf.oidc_client_id(),
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    pending = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "started": int(time.time()),
    }
    return f"{provider.authorization_endpoint}{separator}{query}", pending


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str


def complete(*, code: str, state: str, pending: dict[str, Any] | None) -> Identity:
    """Check the state, exchange the code (with the PKCE verifier), verify the ID token."""
    if not pending or not isinstance(pending.get("state"), str):
        raise OidcError("no login was started in this browser")
    if not hmac.compare_digest(state.encode(), pending["state"].encode()):
        raise OidcError("the state does not match")
    if time.time() - int(pending.get("started", 0)) > STATE_MAX_AGE:
        raise OidcError("the login was started too long ago")
    if not code:
        raise OidcError("no authorization code")
    provider = discover()
    client_id = conf.oidc_client_id()
    secret = conf.oidc_client_secret()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending["redirect_uri"],
        "code_verifier": pending["verifier"],
    }
    headers: dict[str, str] = {}
    if secret and "client_secret_basic" in provider.token_auth_methods:
        # RFC 6749 §2.3.1: both parts form-encoded before Basic encoding.
        pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        form["client_id"] = client_id
        if secret:
            form["client_secret"] = secret
    tokens = _request(provider.token_endpoint, data=form, headers=headers)
    if not isinstance(tokens, dict) or not isinstance(tokens.get("id_token"), str):
        raise OidcError("the token response has no ID token")
    claims = verify_id_token(
        tokens["id_token"], provider=provider, client_id=client_id, nonce=pending["nonce"]
    )
    return Identity(issuer=provider.issuer, subject=claims["sub"])


# --- ID token ---------------------------------------------------------------------------------


def _jwks(provider: Provider, *, refresh: bool = False) -> list[dict[str, Any]]:
    key = f"wifi-oidc-jwks:{hashlib.sha256(provider.jwks_uri.encode()).hexdigest()}"
    keys = None if refresh else cache.get(key)
    if keys is None:
        document = _request(provider.jwks_uri)
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise OidcError("the JWKS document has no keys")
        cache.set(key, keys, DISCOVERY_TTL)
    return [jwk for jwk in keys if isinstance(jwk, dict)]


def _find_key(provider: Provider, header: dict[str, Any]) -> dict[str, Any]:
    """The JWK the token names (by ``kid``); keys are fetched again once for a new ``kid``,
    because providers rotate them."""
    kty = ALGORITHMS[header["alg"]]
    for refresh in (False, True):
        candidates = [
            jwk
            for jwk in _jwks(provider, refresh=refresh)
            if jwk.get("kty") == kty
            and jwk.get("use", "sig") == "sig"
            and jwk.get("alg", header["alg"]) == header["alg"]
            and ("kid" not in header or jwk.get("kid") == header["kid"])
        ]
        if candidates:
            return candidates[0]
    raise OidcError("no key of the provider matches the token")


def _verify_signature(jwk: dict[str, Any], alg: str, signed: bytes, signature: bytes) -> None:
    try:
        if alg == "RS256":
            rsa_key = rsa.RSAPublicNumbers(
                int.from_bytes(_b64url_decode(jwk["e"]), "big"),
                int.from_bytes(_b64url_decode(jwk["n"]), "big"),
            ).public_key()
            rsa_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256":
            if jwk.get("crv") != "P-256" or len(signature) != 64:
                raise OidcError("malformed ES256 key or signature")
            ec_key = ec.EllipticCurvePublicNumbers(
                int.from_bytes(_b64url_decode(jwk["x"]), "big"),
                int.from_bytes(_b64url_decode(jwk["y"]), "big"),
                ec.SECP256R1(),
            ).public_key()
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            ec_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        else:  # pragma: no cover - the header check allows only the two
            raise OidcError(f"unsupported algorithm {alg}")
    except InvalidSignature as exc:
        raise OidcError("the ID token's signature is invalid") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise OidcError(f"the provider's key is malformed: {exc}") from exc


def verify_id_token(
    token: str, *, provider: Provider, client_id: str, nonce: str, now: float | None = None
) -> dict[str, Any]:
    """OpenID Connect Core §3.1.3.7: signature (never ``none``, never HMAC: the client secret
    must not become a signing key), issuer, audience, authorized party, expiry, nonce."""
    now = time.time() if now is None else now
    parts = token.split(".")
    if len(parts) != 3:
        raise OidcError("the ID token is not a signed JWT")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except ValueError as exc:
        raise OidcError("the ID token cannot be decoded") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise OidcError("the ID token is not a JSON object")
    if header.get("alg") not in ALGORITHMS:
        raise OidcError(f"refusing the algorithm {header.get('alg')!r}")
    jwk = _find_key(provider, header)
    _verify_signature(jwk, header["alg"], f"{parts[0]}.{parts[1]}".encode("ascii"), signature)

    if claims.get("iss") != provider.issuer:
        raise OidcError("the ID token comes from another issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise OidcError("the ID token is meant for another client")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise OidcError("the ID token's authorized party is another client")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or now > expires + LEEWAY_SECONDS:
        raise OidcError("the ID token has expired")
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or issued > now + LEEWAY_SECONDS:
        raise OidcError("the ID token was issued in the future")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(
        token_nonce.encode(), nonce.encode()
    ):
        raise OidcError("the ID token's nonce does not match")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise OidcError("the ID token has no subject")
    return claims
