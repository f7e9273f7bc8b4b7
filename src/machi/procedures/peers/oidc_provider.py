"""A loopback OpenID provider playing デジタル認証アプリ, for tests and the demo.

It speaks what the government's resident log-in asks of a relying party, and checks it the
way the real one would, so that a Machi that passes here fails the same way there when it
breaks a rule:

* discovery (``/.well-known/openid-configuration``), the provider's keys (``/jwks``);
* ``/authorize``: authorization code only, ``openid`` in the scope, PKCE with S256 required,
  the client and its redirect URI registered. A small page lists the test residents with a
  button each; ``login_hint=<sub>&auto=1`` (or ``auto_approve``) skips it for tests. The
  answer carries ``iss`` (RFC 9207);
* ``/token``: the code is single-use and lives ``code_ttl`` seconds (60), the redirect URI is
  the one of the request, the PKCE verifier matches; the client proves itself with
  ``private_key_jwt`` (an assertion signed by a key of the client's JWKS, given as a dict or
  fetched from ``client_jwks_url``: iss = sub = client id, aud the token endpoint or the
  issuer, unexpired and at most five minutes long, jti never seen before) or
  ``client_secret_basic``. It answers an RS256 ID token (iss, sub, aud, exp, iat, nonce,
  auth_time, name) and an access token;
* ``/userinfo`` (Bearer): name, e-mail, address, birth date by the scopes granted.

``fault`` makes it misbehave, to prove the relying party refuses: see ``FAULTS``.
``rotate_key()`` signs with a new key from then on (published beside the old one).

It does not import Django: the demo runs it with ``python -m machi.procedures.peers.oidc_provider
--port N --client-id ID [--client-secret S] [--client-jwks-url URL] [--redirect-uri URI ...]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import html
import json
import re
import secrets
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp import web
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from machi.core.loopback import LoopbackServer, serve_forever

Json = dict[str, Any]

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ALGORITHMS: Final = ("RS256", "PS256", "ES256")
CODE_TTL: Final = 60.0
ID_TOKEN_TTL: Final = 300
ACCESS_TOKEN_TTL: Final = 600
ASSERTION_MAX_LIFE: Final = 300  # the RP is asked for at most five minutes
LEEWAY: Final = 30
VERIFIER: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
SCOPES: Final = ("openid", "profile", "email", "address")
# What the fake can be told to get wrong, one at a time.
FAULTS: Final = frozenset(
    {
        "bad_signature",  # the ID token signed by another key under the published kid
        "unknown_key",  # signed by a key the JWKS never lists
        "alg_none",  # an unsigned ID token
        "wrong_nonce",
        "wrong_issuer",
        "wrong_audience",
        "other_azp",  # two audiences, and the authorized party is the other client
        "expired",
        "userinfo_sub",  # userinfo speaks of another subject
        "discovery_issuer",  # the discovery document names another issuer
    }
)


@dataclass(frozen=True)
class Resident:
    sub: str
    family_name: str
    given_name: str
    email: str
    email_verified: bool
    postal_code: str
    region: str
    locality: str
    street_address: str
    birthdate: str

    @property
    def name(self) -> str:
        return f"{self.family_name} {self.given_name}"

    @property
    def address(self) -> Json:
        return {
            "formatted": f"{self.region}{self.locality}{self.street_address}",
            "postal_code": self.postal_code,
            "region": self.region,
            "locality": self.locality,
            "street_address": self.street_address,
            "country": "JP",
        }

    def claims(self, scopes: Sequence[str]) -> Json:
        """The claims a scope grants (OpenID Connect Core §5.4)."""
        found: Json = {"sub": self.sub}
        if "profile" in scopes:
            found.update(
                name=self.name,
                family_name=self.family_name,
                given_name=self.given_name,
                birthdate=self.birthdate,
            )
        if "email" in scopes:
            found.update(email=self.email, email_verified=self.email_verified)
        if "address" in scopes:
            found["address"] = self.address
        return found


RESIDENTS: Final = (
    Resident(
        sub="resident-001",
        family_name="戸田",
        given_name="花子",
        email="hanako@example.jp",
        email_verified=True,
        postal_code="335-0022",
        region="埼玉県",
        locality="戸田市",
        street_address="上戸田1-1-1",
        birthdate="1985-04-01",
    ),
    Resident(
        sub="resident-002",
        family_name="戸田",
        given_name="太郎",
        email="taro@example.jp",
        email_verified=False,  # a relying party must not take it
        postal_code="335-0026",
        region="埼玉県",
        locality="戸田市",
        street_address="新曽南2-2-2",
        birthdate="1950-11-03",
    ),
)


@dataclass
class _Grant:
    """What an authorization code stands for, until it is redeemed (once)."""

    sub: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str
    challenge: str
    issued: float
    auth_time: int


@dataclass
class _Access:
    sub: str
    scopes: tuple[str, ...]
    expires: float


class _OAuthError(Exception):
    """An error answer of the token endpoint (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class _PageError(Exception):
    """An authorization request that cannot be answered by redirect (unknown client or
    redirect URI): the browser stays here (OpenID Connect Core §3.1.2.6)."""


@dataclass
class _ClientKeys:
    keys: KeySet | None = None
    fetched: float = 0.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class OidcProvider(LoopbackServer):
    """The fake, in a background thread with its own event loop.

    ``client_jwks`` (a JWKS dict) or ``client_jwks_url`` enable ``private_key_jwt``;
    ``client_secret`` enables ``client_secret_basic``. ``redirect_uris``: the registered ones
    (empty: any http(s) URI). ``refused`` lists every refusal (endpoint, error, description),
    ``issued`` every token response (sub, client authentication used).
    """

    thread_name = "oidc-provider-fake"
    shutdown_timeout = 0.5

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str = "",
        client_jwks: Json | None = None,
        client_jwks_url: str = "",
        redirect_uris: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        fault: str = "",
        auto_approve: str = "",
        code_ttl: float = CODE_TTL,
        residents: Sequence[Resident] = RESIDENTS,
    ) -> None:
        if fault and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        super().__init__(host=host, port=port)
        self.client_id = client_id
        self.client_secret = client_secret
        self.client_jwks = client_jwks
        self.client_jwks_url = client_jwks_url
        self.redirect_uris = tuple(redirect_uris)
        self.fault = fault
        self.auto_approve = auto_approve
        self.code_ttl = code_ttl
        self.residents = {resident.sub: resident for resident in residents}
        self.refused: list[Json] = []
        self.issued: list[Json] = []
        self._keys: list[RSAKey] = [self._new_key()]
        self._rogue: RSAKey | None = None
        self._codes: dict[str, _Grant] = {}
        self._spent_codes: set[str] = set()
        self._access: dict[str, _Access] = {}
        self._jtis: dict[str, float] = {}
        self._client_keys = _ClientKeys()

    # --- steering -------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @staticmethod
    def _new_key() -> RSAKey:
        key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
        key.ensure_kid()
        return key

    def rotate_key(self) -> str:
        """Sign with a new key from now on; the old one stays published. Answers the new kid."""
        key = self._new_key()
        with self._lock:
            self._keys.insert(0, key)
        return str(key.kid)

    def reset(self) -> None:
        with self._lock:
            self.refused.clear()
            self.issued.clear()
            self._codes.clear()
            self._spent_codes.clear()
            self._access.clear()
            self._jtis.clear()
            self.fault = ""

    def discovery(self) -> Json:
        issuer = self.issuer
        return {
            "issuer": f"{issuer}/other" if self.fault == "discovery_issuer" else issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": self.token_endpoint,
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "claims_supported": [
                "sub",
                "name",
                "family_name",
                "given_name",
                "birthdate",
                "email",
                "email_verified",
                "address",
            ],
            "token_endpoint_auth_methods_supported": self._auth_methods(),
            "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ALGORITHMS),
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }

    def _auth_methods(self) -> list[str]:
        methods = []
        if self.client_jwks is not None or self.client_jwks_url:
            methods.append("private_key_jwt")
        if self.client_secret:
            methods.append("client_secret_basic")
        return methods

    def jwks(self) -> Json:
        with self._lock:
            keys = list(self._keys)
        return {"keys": [key.as_dict(private=False) for key in keys]}

    # --- HTTP ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/userinfo", self._userinfo)
        app.router.add_post("/userinfo", self._userinfo)
        return app

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(self.discovery())

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self.jwks())

    def _refuse(self, endpoint: str, error: str, description: str) -> None:
        with self._lock:
            self.refused.append({"endpoint": endpoint, "error": error, "description": description})

    # --- /authorize ------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        try:
            redirect_uri = self._check_client(params)
        except _PageError as exc:
            self._refuse("authorize", "invalid_request", str(exc))
            return self._page(
                "リクエストエラー / Bad request", f"<p>{html.escape(str(exc))}</p>", 400
            )
        state = params.get("state", "")

        def answer(answer_params: dict[str, str]) -> web.Response:
            if state:
                answer_params["state"] = state
            answer_params["iss"] = self.issuer
            location = _with_query(redirect_uri, answer_params)
            return web.Response(status=302, headers={"Location": location})

        error = self._check_request(params)
        if error is not None:
            self._refuse("authorize", error[0], error[1])
            return answer({"error": error[0], "error_description": error[1]})
        if request.method == "POST" and params.get("action") == "cancel":
            return answer({"error": "access_denied", "error_description": "cancelled"})
        chosen = ""
        if request.method == "POST":
            chosen = params.get("resident", "")
        elif self.auto_approve:
            chosen = self.auto_approve
        elif params.get("auto") == "1":
            chosen = params.get("login_hint", "")
        if not chosen:
            return self._choice_page(params)
        resident = self.residents.get(chosen)
        if resident is None:
            self._refuse("authorize", "access_denied", "unknown resident")
            return answer({"error": "access_denied", "error_description": "unknown resident"})
        code = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._codes[code] = _Grant(
                sub=resident.sub,
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                scopes=tuple(params.get("scope", "").split()),
                nonce=params.get("nonce", ""),
                challenge=params.get("code_challenge", ""),
                issued=now,
                auth_time=int(now),
            )
        return answer({"code": code})

    def _check_client(self, params: Mapping[str, str]) -> str:
        if params.get("client_id") != self.client_id:
            raise _PageError("Unknown client_id.")
        redirect_uri = params.get("redirect_uri", "")
        scheme = urllib.parse.urlsplit(redirect_uri).scheme
        if scheme not in ("http", "https"):
            raise _PageError("redirect_uri is missing or not an http(s) URI.")
        if self.redirect_uris and redirect_uri not in self.redirect_uris:
            raise _PageError("redirect_uri is not registered for this client.")
        return redirect_uri

    def _check_request(self, params: Mapping[str, str]) -> tuple[str, str] | None:
        if params.get("response_type") != "code":
            return "unsupported_response_type", "only response_type=code"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope", "the openid scope is required"
        if params.get("code_challenge_method") != "S256":
            return "invalid_request", "PKCE with code_challenge_method=S256 is required"
        if not VERIFIER.fullmatch(params.get("code_challenge", "")):
            return "invalid_request", "code_challenge is missing or malformed"
        return None

    def _choice_page(self, params: Mapping[str, str]) -> web.Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k not in ("resident", "action")
        )
        buttons = "".join(
            f'<li><form method="post" action="/authorize">{hidden}'
            f'<button type="submit" name="resident" value="{html.escape(r.sub)}">'
            f"{html.escape(r.name)}</button> <small>{html.escape(r.address['formatted'])}"
            f"</small></form></li>"
            for r in self.residents.values()
        )
        cancel = (
            f'<form method="post" action="/authorize">{hidden}'
            '<button type="submit" name="action" value="cancel">キャンセル / Cancel</button></form>'
        )
        body = (
            "<p>テスト用の利用者を選んでください。 / Choose a test resident.</p>"
            f"<ul>{buttons}</ul>{cancel}"
        )
        return self._page("ログイン（テスト用） / Sign in (test)", body, 200)

    @staticmethod
    def _page(title: str, body: str, status: int) -> web.Response:
        document = (
            '<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1>{body}</body></html>"
        )
        return web.Response(text=document, status=status, content_type="text/html")

    # --- /token ----------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        try:
            method = await self._authenticate(request, form)
            response = self._redeem(form, method)
        except _OAuthError as exc:
            self._refuse("token", exc.error, exc.description)
            headers = {"Cache-Control": "no-store"}
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="token"'
            return web.json_response(
                {"error": exc.error, "error_description": exc.description},
                status=exc.status,
                headers=headers,
            )
        return web.json_response(response, headers={"Cache-Control": "no-store"})

    async def _authenticate(self, request: web.Request, form: Mapping[str, str]) -> str:
        """Which client authentication the request used, once it has been checked."""
        header = request.headers.get("Authorization", "")
        if "client_assertion" in form or "client_assertion_type" in form:
            if header:
                raise _OAuthError("invalid_request", "more than one client authentication")
            await self._check_assertion(form)
            return "private_key_jwt"
        if header.lower().startswith("basic "):
            self._check_basic(header[6:])
            return "client_secret_basic"
        raise _OAuthError("invalid_client", "no client authentication", status=401)

    def _check_basic(self, encoded: str) -> None:
        if not self.client_secret:
            raise _OAuthError("invalid_client", "client_secret_basic not registered", status=401)
        try:
            pair = base64.b64decode(encoded, validate=True).decode("utf-8")
            raw_id, raw_secret = pair.split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise _OAuthError("invalid_client", "malformed Basic credentials", status=401) from exc
        # RFC 6749 §2.3.1: both parts are form-encoded before the Basic encoding.
        client_id = urllib.parse.unquote_plus(raw_id)
        secret = urllib.parse.unquote_plus(raw_secret)
        if client_id != self.client_id or not hmac.compare_digest(
            secret.encode(), self.client_secret.encode()
        ):
            raise _OAuthError("invalid_client", "wrong client credentials", status=401)

    async def _client_keyset(self, *, refresh: bool) -> KeySet:
        if self.client_jwks is not None:
            return KeySet.import_key_set(self.client_jwks)  # type: ignore[arg-type]
        with self._lock:
            cached = self._client_keys.keys
        if cached is not None and not refresh:
            return cached
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self.client_jwks_url) as response,
            ):
                response.raise_for_status()
                document = await response.json(content_type=None)
            keys = KeySet.import_key_set(document)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, JoseError) as exc:
            raise _OAuthError(
                "invalid_client", "the client's JWKS cannot be read", status=401
            ) from exc
        with self._lock:
            self._client_keys = _ClientKeys(keys, time.time())
        return keys

    async def _assertion_claims(self, assertion: str) -> Json:
        """The assertion's claims once its signature checks out; a key the client added since
        the last fetch is fetched once more."""
        keys = await self._client_keyset(refresh=False)
        try:
            return jwt.decode(assertion, keys, algorithms=list(CLIENT_ALGORITHMS)).claims
        except JoseError as exc:
            if exc.error != "invalid_key_id" or self.client_jwks is not None:
                raise _OAuthError(
                    "invalid_client", f"client assertion refused: {exc.error}", status=401
                ) from exc
        keys = await self._client_keyset(refresh=True)
        try:
            return jwt.decode(assertion, keys, algorithms=list(CLIENT_ALGORITHMS)).claims
        except JoseError as exc:
            raise _OAuthError(
                "invalid_client", f"client assertion refused: {exc.error}", status=401
            ) from exc

    async def _check_assertion(self, form: Mapping[str, str]) -> None:
        """RFC 7523 §3 and OpenID Connect Core §9 (private_key_jwt)."""
        if self.client_jwks is None and not self.client_jwks_url:
            raise _OAuthError("invalid_client", "private_key_jwt not registered", status=401)
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _OAuthError("invalid_client", "wrong client_assertion_type", status=401)
        claims = await self._assertion_claims(form.get("client_assertion", ""))
        now = time.time()
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise _OAuthError("invalid_client", "assertion iss/sub is not the client", status=401)
        if form.get("client_id", self.client_id) != self.client_id:
            raise _OAuthError("invalid_client", "client_id differs from the assertion", status=401)
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not {self.token_endpoint, self.issuer} & {
            a for a in audiences if isinstance(a, str)
        }:
            raise _OAuthError("invalid_client", "assertion aud is not this server", status=401)
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or expires <= now - LEEWAY:
            raise _OAuthError("invalid_client", "assertion expired or without exp", status=401)
        if expires > now + ASSERTION_MAX_LIFE + LEEWAY:
            raise _OAuthError("invalid_client", "assertion lives too long", status=401)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _OAuthError("invalid_client", "assertion without jti", status=401)
        with self._lock:
            self._jtis = {k: v for k, v in self._jtis.items() if v > now - LEEWAY}
            if jti in self._jtis:
                raise _OAuthError("invalid_client", "assertion jti already used", status=401)
            self._jtis[jti] = float(expires)

    def _redeem(self, form: Mapping[str, str], method: str) -> Json:
        if form.get("grant_type") != "authorization_code":
            raise _OAuthError("unsupported_grant_type", "only authorization_code")
        code = form.get("code", "")
        with self._lock:
            grant = self._codes.pop(code, None)
            spent = code in self._spent_codes
            if grant is not None:
                self._spent_codes.add(code)
        if grant is None:
            raise _OAuthError("invalid_grant", "code already used" if spent else "unknown code")
        if time.time() - grant.issued > self.code_ttl:
            raise _OAuthError("invalid_grant", "code expired")
        if grant.client_id != self.client_id:
            raise _OAuthError("invalid_grant", "code issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise _OAuthError("invalid_grant", "redirect_uri differs from the request")
        verifier = form.get("code_verifier", "")
        if not VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            create_s256_code_challenge(verifier).encode(), grant.challenge.encode()
        ):
            raise _OAuthError("invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access[access_token] = _Access(
                grant.sub, grant.scopes, time.time() + ACCESS_TOKEN_TTL
            )
            self.issued.append({"sub": grant.sub, "client_auth": method})
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL,
            "scope": " ".join(grant.scopes),
            "id_token": self._id_token(grant),
        }

    def _id_token(self, grant: _Grant) -> str:
        resident = self.residents[grant.sub]
        now = int(time.time())
        claims: Json = {
            "iss": self.issuer,
            "sub": resident.sub,
            "aud": self.client_id,
            "exp": now + ID_TOKEN_TTL,
            "iat": now,
            "auth_time": grant.auth_time,
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if "profile" in grant.scopes:
            claims["name"] = resident.name
        fault = self.fault
        if fault == "wrong_nonce":
            claims["nonce"] = "not-" + grant.nonce
        elif fault == "wrong_issuer":
            claims["iss"] = "https://idp.example.jp"
        elif fault == "wrong_audience":
            claims["aud"] = "another-client"
        elif fault == "other_azp":
            claims["aud"] = [self.client_id, "another-client"]
            claims["azp"] = "another-client"
        elif fault == "expired":
            claims["iat"], claims["exp"] = now - 3900, now - 3600
        with self._lock:
            key = self._keys[0]
        if fault == "alg_none":
            head = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            body = _b64url(json.dumps(claims, ensure_ascii=False).encode())
            return f"{head}.{body}."
        header = {"alg": "RS256", "kid": str(key.kid)}
        if fault in ("bad_signature", "unknown_key"):
            if self._rogue is None:
                self._rogue = self._new_key()
            key = self._rogue
            if fault == "unknown_key":
                header["kid"] = str(key.kid)
        return jwt.encode(header, claims, key, algorithms=["RS256"])

    # --- /userinfo -------------------------------------------------------------------------

    async def _userinfo(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        with self._lock:
            access = self._access.get(token)
        if access is None or access.expires < time.time():
            self._refuse("userinfo", "invalid_token", "unknown or expired access token")
            return web.json_response(
                {"error": "invalid_token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        claims = self.residents[access.sub].claims(access.scopes)
        if self.fault == "userinfo_sub":
            claims["sub"] = "resident-999"
        return web.json_response(claims, headers={"Cache-Control": "no-store"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A loopback OpenID provider (デジタル認証アプリ stand-in) for the demo."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8029)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default="", help="enables client_secret_basic")
    parser.add_argument(
        "--client-jwks-url", default="", help="the client's public keys (enables private_key_jwt)"
    )
    parser.add_argument(
        "--redirect-uri", action="append", default=[], help="registered; repeat for several"
    )
    args = parser.parse_args(argv)
    if not args.client_secret and not args.client_jwks_url:
        parser.error("give --client-secret or --client-jwks-url (or both)")
    provider = OidcProvider(
        client_id=args.client_id,
        client_secret=args.client_secret,
        client_jwks_url=args.client_jwks_url,
        redirect_uris=args.redirect_uri,
        host=args.host,
        port=args.port,
    )
    return serve_forever(provider, "OpenID provider fake on")


if __name__ == "__main__":
    raise SystemExit(main())
