"""VAPID (RFC 8292): how Machi proves to a push service that it is the server a browser trusted.

The browser's ``PushManager.subscribe`` is given our public key (``applicationServerKey``); the
push service then only accepts messages for that subscription carrying a JWT signed with the
matching private key. The key is configured (``MACHI_NOTIFY_VAPID_PRIVATE_KEY``: PEM, or the
raw 32-byte scalar in base64url as ``web-push generate-vapid-keys`` prints it) or, when empty,
made once and kept in ``DATA_DIR/vapid_private.pem`` — changing it would orphan every
existing subscription, so it must survive restarts like the secret key does.

The JWT is written here with ``cryptography`` (ES256 is a few lines; no JWT library needed).
Signing costs about 40 µs, which adds up over thousands of pushes, so the header is reused per
push-service origin for half a day.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from machi.notify import conf

KEY_FILE_NAME = "vapid_private.pem"
# RFC 8292 §2: exp at most 24 h after the request. 20 h leaves room for a push service whose
# clock runs a few hours behind ours; reusing the header for 12 h keeps at least 8 h of life.
TOKEN_LIFETIME = 20 * 3600
HEADER_REUSE = 12 * 3600
_DEFAULT_PORTS = {"http": 80, "https": 443}

_lock = threading.Lock()
# Keyed by what the key came from (the configured text, or the key file's path), so that a
# test or a settings change picks up another key without a restart.
_keys: dict[str, ec.EllipticCurvePrivateKey] = {}
# (public key, audience, subject) -> (header, reuse until, per time.time()).
_headers: dict[tuple[str, str, str], tuple[str, float]] = {}


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs and the Push API spell binary values."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Lenient: browsers and tools hand out base64url, padded or not, sometimes plain base64."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def _parse_key(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        else:
            raw = b64url_decode(text)
            if len(raw) != 32:
                raise ValueError(f"a raw P-256 private key has 32 bytes, not {len(raw)}")
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"MACHI_NOTIFY_VAPID_PRIVATE_KEY is not a usable P-256 private key: {exc}"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ImproperlyConfigured(
            "MACHI_NOTIFY_VAPID_PRIVATE_KEY must be a P-256 (prime256v1) key"
        )
    return key


def _key_from_file(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read the kept key, or make it: written aside then hard-linked into place, so that two
    processes starting together agree on one key and nobody reads a half-written file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            # FileExistsError: another process won the race; its key is the one.
            with contextlib.suppress(FileExistsError):
                os.link(partial, path)
        finally:
            os.unlink(partial)
    return _parse_key(path.read_text())


def private_key() -> ec.EllipticCurvePrivateKey:
    """The application server's P-256 key (configured, or kept in DATA_DIR)."""
    configured = conf.vapid_private_key()
    source = configured or f"file:{settings.DATA_DIR}"
    key = _keys.get(source)
    if key is None:
        with _lock:
            key = _keys.get(source)
            if key is None:
                if configured:
                    key = _parse_key(configured)
                else:
                    key = _key_from_file(Path(settings.DATA_DIR) / KEY_FILE_NAME)
                _keys[source] = key
    return key


def _public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def public_key_b64url() -> str:
    """The uncompressed public point (65 bytes) in base64url: the browser's applicationServerKey."""
    return b64url(_public_bytes(private_key()))


def audience(endpoint_url: str) -> str:
    """The origin of a push endpoint (scheme://host[:port]), the JWT's ``aud``."""
    parts = urlsplit(endpoint_url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an http(s) URL: {endpoint_url[:80]!r}")
    if ":" in host:  # IPv6 literal: the origin keeps its brackets
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def make_jwt(key: ec.EllipticCurvePrivateKey, claims: dict[str, str | int]) -> str:
    """An ES256 JWS in compact form: the signature is r||s (64 bytes), not DER (RFC 7518 §3.4)."""
    head = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode("ascii")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def authorization_header(endpoint_url: str) -> str:
    """``vapid t=<JWT>, k=<public key>`` for a POST to this endpoint (RFC 8292 §3)."""
    key = private_key()
    public = b64url(_public_bytes(key))
    aud = audience(endpoint_url)
    subject = conf.vapid_subject()
    cache_key = (public, aud, subject)
    now = time.time()
    cached = _headers.get(cache_key)
    if cached is not None and cached[1] > now:
        return cached[0]
    token = make_jwt(key, {"aud": aud, "exp": int(now) + TOKEN_LIFETIME, "sub": subject})
    value = f"vapid t={token}, k={public}"
    _headers[cache_key] = (value, now + HEADER_REUSE)
    return value


def forget() -> None:
    """Drop the cached keys and headers (tests that change the key or the clock)."""
    with _lock:
        _keys.clear()
        _headers.clear()
