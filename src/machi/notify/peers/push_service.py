"""A loopback push service that speaks the real Web Push protocol, for tests, benchmark and demo.

It plays both the browser vendor's push service (RFC 8030: TTL, Urgency, Topic, VAPID per
RFC 8292) and the user agent behind it (RFC 8291: it holds each subscription's private key and
auth secret and decrypts what arrives), so a test can check exactly what a phone would show.

In a test::

    with PushService() as service:
        subscription = service.create_subscription()   # the browser's PushSubscription JSON
        ... send to subscription["endpoint"] ...
        service.received                               # every accepted message, decrypted
        service.by_subscription()                      # what each browser ends up with

From another process (benchmark, demo)::

    .venv/bin/python -m machi.notify.peers.push_service --port 9300

    POST /subscriptions            {} or {"count": N, "applicationServerKey": "..."}
    GET  /messages?since=K         accepted messages from the K-th on
    GET  /by-subscription          the same, a later message replacing one of the same Topic
    GET  /stats                    counts only (cheap to poll)
    POST /control                  {"gone": [ids], "throttle": bool, "fail": bool, ...}

What a real push service does and this one checks: the TTL header is required (400); VAPID
must be present and valid (401: ES256 signature by the ``k=`` key, ``aud`` our origin, ``exp``
in the future and at most 24 h ahead), and match the key the subscription was made with, if
any (403); the body is at most 4,096 bytes (413) in ``aes128gcm`` (415). Beyond a real one, it
refuses a body its user agent could not decrypt (400), so that a broken encryption fails the
test that caused it rather than going unnoticed.

Kept cheap per request, since the benchmark pushes tens of thousands of messages through it:
a VAPID header (the sender reuses it for hours) is verified once and then only its expiry is
checked; no access log; decryption is the one ECDH each message needs.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Self

import http_ece  # type: ignore[import-untyped]
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from machi.core.loopback import LoopbackServer, serve_forever

MAX_BODY = 4096  # RFC 8291 §4: what a push service must accept; larger may be refused
MAX_TOKEN_AHEAD = 24 * 3600  # RFC 8292 §2
CLOCK_LEEWAY = 60
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
TOPIC_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_TOKEN_CACHE_SIZE = 10_000


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def subscription_id(endpoint: str) -> str:
    """The id at the end of one of our endpoints."""
    return endpoint.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Subscription:
    id: str
    private_key: ec.EllipticCurvePrivateKey  # the user agent's half of RFC 8291
    p256dh: str
    auth: bytes
    endpoint: str
    # The applicationServerKey given at subscribe time (RFC 8292 §3.2): only it may send.
    server_key: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        """What the browser's PushSubscription.toJSON() gives the page."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": _b64url(self.auth)},
        }


@dataclass(frozen=True)
class PushMessage:
    id: str
    subscription: str
    topic: str | None
    urgency: str
    ttl: int
    payload: Any  # the decrypted JSON (or text, or None for a push without a body)
    at: float
    vapid_subject: str = ""


@dataclass(frozen=True)
class Rejection:
    subscription: str
    status: int
    reason: str


class PushService(LoopbackServer):
    """The stub; ``start()`` serves it from a thread of its own, ``stop()`` ends it."""

    thread_name = "push-service"
    shutdown_timeout = 60.0  # aiohttp's default: a push in flight at stop() may finish
    stop_timeout = 30.0
    backlog = 1024

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        # Failure injection (plain attributes: set them from the test's thread).
        self.gone: set[str] = set()  # these subscriptions answer 410
        self.throttle = False  # every push answers 429 with Retry-After
        self.retry_after = 30
        self.fail = False  # every push answers 500
        self.received: list[PushMessage] = []
        self.rejected: list[Rejection] = []
        self._subscriptions: dict[str, Subscription] = {}
        # Per subscription: messages still waiting for the user agent, by Topic (or by their
        # own id when they have none), and those it has already taken (deliver_pending()).
        self._pending: dict[str, dict[str, PushMessage]] = {}
        self._taken: dict[str, list[PushMessage]] = {}
        # Authorization header -> (aud, exp, sub, public key): verified once.
        self._tokens: dict[str, tuple[str, int, str, bytes]] = {}

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url

    def start(self) -> Self:
        """Serve in a background thread with its own event loop; returns once listening.
        Starting it again while it runs does nothing."""
        if self._thread is not None:
            return self
        return super().start()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/push/{id}", self._push)
        app.router.add_post("/subscriptions", self._subscribe)
        app.router.add_get("/messages", self._messages)
        app.router.add_get("/by-subscription", self._by_subscription)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/control", self._control)
        return app

    # --- what a test reads and does ----------------------------------------------------------

    def create_subscription(self, application_server_key: str | None = None) -> dict[str, Any]:
        """A new browser subscription: the user agent's P-256 key pair and 16-byte auth secret.

        With ``application_server_key`` (base64url) only that VAPID key may push to it, as
        when a page passes ``applicationServerKey`` to ``PushManager.subscribe``.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        ident = secrets.token_urlsafe(16)
        subscription = Subscription(
            id=ident,
            private_key=key,
            p256dh=_b64url(public),
            auth=secrets.token_bytes(16),
            endpoint=f"{self.base_url}/push/{ident}",
            server_key=_b64url_decode(application_server_key) if application_server_key else None,
        )
        with self._lock:
            self._subscriptions[ident] = subscription
        return subscription.as_json()

    def subscription(self, ident: str) -> Subscription:
        return self._subscriptions[ident]

    def by_subscription(self) -> dict[str, list[PushMessage]]:
        """What each user agent gets: a message replaced while pending by one of the same
        Topic (RFC 8030 §5.4) appears once, as its replacement."""
        with self._lock:
            return {
                ident: [*self._taken.get(ident, []), *self._pending.get(ident, {}).values()]
                for ident in dict.fromkeys([*self._taken, *self._pending])
            }

    def deliver_pending(self) -> None:
        """The user agents come online and take what waits: a later message of the same Topic
        no longer replaces these."""
        with self._lock:
            for ident, pending in self._pending.items():
                self._taken.setdefault(ident, []).extend(pending.values())
            self._pending.clear()

    def reset(self) -> None:
        """Forget the messages and the injected failures (the subscriptions stay)."""
        with self._lock:
            self.received = []
            self.rejected = []
            self._pending.clear()
            self._taken.clear()
        self.gone = set()
        self.throttle = False
        self.fail = False

    # --- the push endpoint -------------------------------------------------------------------

    def _refuse(self, ident: str, status: int, reason: str, **headers: str) -> web.Response:
        with self._lock:
            self.rejected.append(Rejection(ident, status, reason))
        return web.json_response(
            {"code": status, "message": reason}, status=status, headers=headers
        )

    def _check_vapid(self, value: str | None, subscription: Subscription) -> tuple[int, str, str]:
        """(0, "", sub) when the Authorization is acceptable, else (status, why, "")."""
        if not value:
            return 401, "VAPID authorization missing", ""
        verified = self._tokens.get(value)
        if verified is None:
            try:
                verified = self._verify(value)
            except ValueError as exc:
                return 401, str(exc), ""
            if len(self._tokens) >= _TOKEN_CACHE_SIZE:
                self._tokens.clear()
            self._tokens[value] = verified
        aud, exp, sub, key = verified
        if aud != self.base_url:
            return 401, f"VAPID aud {aud!r} is not {self.base_url!r}", ""
        now = time.time()
        if exp <= now - CLOCK_LEEWAY:
            return 401, "VAPID token expired", ""
        if exp > now + MAX_TOKEN_AHEAD + CLOCK_LEEWAY:
            return 401, "VAPID exp more than 24 hours ahead", ""
        if subscription.server_key is not None and key != subscription.server_key:
            return 403, "VAPID key is not the one this subscription was made for", ""
        return 0, "", sub

    @staticmethod
    def _verify(value: str) -> tuple[str, int, str, bytes]:
        """Parse and verify ``vapid t=<JWT>, k=<key>``; ValueError says what is wrong."""
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("Authorization scheme is not vapid")
        params: dict[str, str] = {}
        for part in rest.split(","):
            name, _, param = part.strip().partition("=")
            params[name.strip().lower()] = param.strip()
        token, k = params.get("t", ""), params.get("k", "")
        if not token or not k:
            raise ValueError("VAPID authorization needs t= and k=")
        try:
            head_b64, claims_b64, signature_b64 = token.split(".")
            head = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(signature_b64)
            key_bytes = _b64url_decode(k)
        except (ValueError, binascii.Error) as exc:
            raise ValueError("VAPID token is not a JWT") from exc
        if not isinstance(head, dict) or head.get("alg") != "ES256":
            raise ValueError("VAPID token is not ES256")
        if len(signature) != 64:
            raise ValueError("ES256 signature is not 64 bytes (r||s)")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
        except ValueError as exc:
            raise ValueError("k= is not a P-256 public key") from exc
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public.verify(
                der, f"{head_b64}.{claims_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature as exc:
            raise ValueError("VAPID signature does not verify with k=") from exc
        if not isinstance(claims, dict):
            raise ValueError("VAPID claims are not an object")
        aud, exp, sub = claims.get("aud"), claims.get("exp"), claims.get("sub", "")
        if not isinstance(aud, str) or not isinstance(exp, int) or not isinstance(sub, str):
            raise ValueError("VAPID claims need aud (string) and exp (integer)")
        return aud, exp, sub, key_bytes

    async def _push(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        subscription = self._subscriptions.get(ident)
        if subscription is None:
            return self._refuse(ident, 404, "no such subscription")
        if ident in self.gone:
            return self._refuse(ident, 410, "subscription expired or unsubscribed")
        if self.fail:
            return self._refuse(ident, 500, "injected failure")
        if self.throttle:
            return self._refuse(
                ident, 429, "too many requests", **{"Retry-After": str(self.retry_after)}
            )
        headers = request.headers
        ttl_text = headers.get("TTL", "")
        if not ttl_text.isdigit():
            return self._refuse(ident, 400, "TTL header missing or not a number")
        status, why, vapid_subject = self._check_vapid(headers.get("Authorization"), subscription)
        if status:
            return self._refuse(ident, status, why)
        urgency = headers.get("Urgency", "normal")
        if urgency not in URGENCIES:
            return self._refuse(ident, 400, "Urgency is not very-low, low, normal or high")
        topic = headers.get("Topic")
        if topic is not None and not TOPIC_RE.fullmatch(topic):
            return self._refuse(ident, 400, "Topic is not 1-32 base64url characters")
        if (request.content_length or 0) > MAX_BODY:
            return self._refuse(ident, 413, "payload larger than 4096 bytes")
        body = await request.read()
        if len(body) > MAX_BODY:
            return self._refuse(ident, 413, "payload larger than 4096 bytes")
        content: Any = None
        if body:
            if headers.get("Content-Encoding", "").lower() != "aes128gcm":
                return self._refuse(ident, 415, "Content-Encoding must be aes128gcm")
            try:
                plain: bytes = http_ece.decrypt(
                    body,
                    private_key=subscription.private_key,
                    auth_secret=subscription.auth,
                    version="aes128gcm",
                )
            except (http_ece.ECEException, ValueError) as exc:
                reason = getattr(exc, "message", str(exc))
                return self._refuse(ident, 400, f"the user agent cannot decrypt: {reason}")
            try:
                content = json.loads(plain)
            except ValueError:
                content = plain.decode("utf-8", "replace")
        message = PushMessage(
            id=secrets.token_urlsafe(12),
            subscription=ident,
            topic=topic,
            urgency=urgency,
            ttl=int(ttl_text),
            payload=content,
            at=time.time(),
            vapid_subject=vapid_subject,
        )
        with self._lock:
            self.received.append(message)
            pending = self._pending.setdefault(ident, {})
            slot = topic if topic is not None else f"id:{message.id}"
            pending.pop(slot, None)  # the replacement takes the place of a newer arrival
            pending[slot] = message
        return web.Response(
            status=201,
            headers={"Location": f"{self.base_url}/message/{message.id}", "TTL": ttl_text},
        )

    # --- the control API for other processes -------------------------------------------------

    async def _subscribe(self, request: web.Request) -> web.Response:
        options: dict[str, Any] = {}
        if request.can_read_body:
            try:
                options = await request.json()
            except ValueError:
                return web.json_response({"message": "not JSON"}, status=400)
            if not isinstance(options, dict):
                return web.json_response({"message": "expected an object"}, status=400)
        server_key = options.get("applicationServerKey")
        if "count" in options:
            count = int(options["count"])
            if not 1 <= count <= 100_000:
                return web.json_response({"message": "count is 1 to 100000"}, status=400)
            made = [self.create_subscription(server_key) for _ in range(count)]
            return web.json_response({"subscriptions": made}, status=201)
        return web.json_response(self.create_subscription(server_key), status=201)

    async def _messages(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0") or 0)
        with self._lock:
            chosen = self.received[since:]
        return web.json_response([asdict(message) for message in chosen])

    async def _by_subscription(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                ident: [asdict(message) for message in messages]
                for ident, messages in self.by_subscription().items()
            }
        )

    async def _stats(self, request: web.Request) -> web.Response:
        with self._lock:
            counts = {
                "subscriptions": len(self._subscriptions),
                "received": len(self.received),
                "rejected": len(self.rejected),
                "pending": sum(len(pending) for pending in self._pending.values()),
            }
        return web.json_response(counts)

    async def _control(self, request: web.Request) -> web.Response:
        try:
            options = await request.json()
        except ValueError:
            return web.json_response({"message": "not JSON"}, status=400)
        if not isinstance(options, dict):
            return web.json_response({"message": "expected an object"}, status=400)
        if options.get("reset"):
            self.reset()
        if options.get("deliver"):
            self.deliver_pending()
        if "gone" in options:
            self.gone = {subscription_id(str(item)) for item in options["gone"]}
        if "throttle" in options:
            self.throttle = bool(options["throttle"])
        if "fail" in options:
            self.fail = bool(options["fail"])
        if "retry_after" in options:
            self.retry_after = int(options["retry_after"])
        return web.json_response(
            {
                "gone": sorted(self.gone),
                "throttle": self.throttle,
                "fail": self.fail,
                "retry_after": self.retry_after,
            }
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m machi.notify.peers.push_service",
        description="A loopback Web Push service (and user agent) for tests and the demo.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback only; default 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    return serve_forever(PushService(args.host, args.port), "push service listening on")


if __name__ == "__main__":
    raise SystemExit(main())
