"""A fake OpenID Connect provider on loopback, for the tests and the demo.

It serves discovery, an authorize endpoint that approves one configured user at once (no login
page), a token endpoint that checks the client, the code, the redirect URI and the PKCE
verifier and issues an RS256-signed ID token, the JWKS and userinfo. ``tamper`` makes it issue
a broken token, to prove that the portal refuses it: ``bad_signature``, ``wrong_nonce``,
``wrong_aud``, ``wrong_iss``, ``expired``.

For the demo::

    .venv/bin/python -m tests.wifi.oidc_provider --port 9400 \
        --client-id machi-wifi --client-secret demo-secret

then set MACHI_WIFI_OIDC_ISSUER=http://127.0.0.1:9400, MACHI_WIFI_OIDC_CLIENT_ID=machi-wifi,
MACHI_WIFI_OIDC_CLIENT_SECRET=demo-secret.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TAMPERS = {"bad_signature", "wrong_nonce", "wrong_aud", "wrong_iss", "expired"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(number: int) -> str:
    return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str
    method: str
    issued: float


@dataclass
class FakeOidcProvider:
    client_id: str = "machi-wifi"
    client_secret: str = "test-client-secret"
    subject: str = "test-user-0001"
    host: str = "127.0.0.1"
    port: int = 0
    tamper: str | None = None
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = field(default_factory=lambda: secrets.token_hex(4))
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, str] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOidcProvider:
        provider = self

        class Handler(_Handler):
            owner = provider

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- documents ---------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid"],
        }

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _uint(numbers.n),
                    "e": _uint(numbers.e),
                }
            ]
        }

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "auth_time": now,
        }
        if self.tamper == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.tamper == "wrong_aud":
            claims["aud"] = "another-client"
        elif self.tamper == "wrong_iss":
            claims["iss"] = "https://attacker.example"
        elif self.tamper == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        signer = self.key
        if self.tamper == "bad_signature":  # signed by a key the JWKS does not publish
            signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signature = signer.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOidcProvider

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        provider = self.owner
        if url.path == "/.well-known/openid-configuration":
            self._json(200, provider.discovery())
        elif url.path == "/jwks":
            self._json(200, provider.jwks())
        elif url.path == "/authorize":
            self._authorize(query)
        elif url.path == "/userinfo":
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            subject = provider.access_tokens.get(token)
            if subject is None:
                self._json(401, {"error": "invalid_token"})
            else:
                self._json(200, {"sub": subject})
        else:
            self._json(404, {"error": "not_found"})

    def _authorize(self, query: dict[str, str]) -> None:
        provider = self.owner
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != provider.client_id or not redirect_uri:
            self._json(400, {"error": "invalid_client"})
            return
        if (
            query.get("response_type") != "code"
            or "openid" not in query.get("scope", "").split()
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
        ):
            error = {"error": "invalid_request", "state": query.get("state", "")}
            self._redirect(f"{redirect_uri}?{urllib.parse.urlencode(error)}")
            return
        code = secrets.token_urlsafe(24)
        provider.grants[code] = Grant(
            client_id=query["client_id"],
            redirect_uri=redirect_uri,
            nonce=query.get("nonce", ""),
            challenge=query["code_challenge"],
            method=query["code_challenge_method"],
            issued=time.time(),
        )
        answer = urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
        self._redirect(f"{redirect_uri}?{answer}")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        provider = self.owner
        if urllib.parse.urlsplit(self.path).path != "/token":
            self._json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        provider.token_requests.append(form)
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            pair = base64.b64decode(basic[6:]).decode()
            client_id, _, secret = pair.partition(":")
            client_id, secret = urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
        if client_id != provider.client_id or not hmac.compare_digest(
            secret, provider.client_secret
        ):
            self._json(401, {"error": "invalid_client"})
            return
        grant = provider.grants.pop(form.get("code", ""), None)  # a code works once
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or grant.client_id != client_id
            or grant.redirect_uri != form.get("redirect_uri")
            or time.time() - grant.issued > 60
        ):
            self._json(400, {"error": "invalid_grant"})
            return
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
            return
        access_token = secrets.token_urlsafe(24)
        provider.access_tokens[access_token] = provider.subject
        self._json(
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": provider.id_token(grant),
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--client-id", default="machi-wifi")
    parser.add_argument("--client-secret", default="demo-secret")
    parser.add_argument("--subject", default="demo-user-0001")
    args = parser.parse_args()
    provider = FakeOidcProvider(
        client_id=args.client_id,
        client_secret=args.client_secret,
        subject=args.subject,
        host=args.host,
        port=args.port,
    ).start()
    print(f"fake OpenID Connect provider at {provider.issuer} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        provider.stop()


if __name__ == "__main__":
    main()
