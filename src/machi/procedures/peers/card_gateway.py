"""A loopback fake of a card payment gateway (hosted payment page and signed webhooks), for
tests and the demo.

It behaves as the gateway ``procedures.payments.card`` is written for, and refuses what a real
one refuses, so a test that passes here fails the same way against the real one when it
breaks the rules:

* ``Authorization: Bearer <api key>`` on every API request (else 401);
* ``Idempotency-Key`` on writes: the same key with the same request answers the first answer
  again (``Idempotent-Replayed: true``) without doing anything twice; the same key with a
  different request is 409;
* ``POST /v1/checkout/sessions`` {amount (yen, > 0), currency "JPY", reference, success_url,
  cancel_url, metadata} → a session with ``url``, its hosted page ``GET /pay/{id}``;
* ``GET /v1/checkout/sessions/{id}``;
* ``POST /v1/refunds`` {session, amount, metadata}: a completed session is refunded once, in
  full (400 for a second refund under another key).

The hosted page takes a card number. Test cards: ``4242424242424242`` pays (the resident is
sent to ``success_url``, ``checkout.completed`` is sent), ``4000000000000002`` is declined
(``payment.failed``; the page stays, as real ones do), "cancel" ends the session
(``checkout.expired``, the resident is sent to ``cancel_url``).

Webhooks are POSTed to ``webhook_url`` with ``Card-Signature: t=<unix time>,v1=<hex
HMAC-SHA256 of "t.body" keyed by the webhook secret>``, retried (``retry_delays``) until the
receiver answers 2xx. Without a ``webhook_url`` they are only kept in ``events``: a test then
delivers them itself (``webhook_request`` gives the body and signed headers).

Test hooks: ``complete``, ``decline``, ``expire`` (skip the page), ``fail_next`` (the next N
API requests answer 5xx), ``requests`` (every API request), ``events``, ``deliveries``.

It does not import Django: the demo runs it as ``python -m machi.procedures.peers.card_gateway
--port N --api-key K --webhook-url URL --webhook-secret S`` (``GET /_fake/state`` shows what it
holds, ``POST /_fake/fail`` and ``POST /_fake/reset`` steer it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import html
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from machi.core.loopback import LoopbackServer, serve_forever

SIGNATURE_HEADER: Final = "Card-Signature"
CARD_SUCCEEDS: Final = "4242424242424242"
CARD_DECLINED: Final = "4000000000000002"
MAX_AMOUNT: Final = 10_000_000
RETRY_DELAYS: Final = (0.5, 2.0, 5.0)
SESSION_TTL: Final = 24 * 3600

Json = dict[str, Any]


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``Card-Signature`` header for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)


def _web_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CardGateway(LoopbackServer):
    """The fake, in a background thread with its own event loop.

    ``public_url``: the address residents' browsers use for the hosted page, when not
    ``base_url`` (behind a proxy in the demo).
    """

    thread_name = "card-gateway-fake"

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.public_url = public_url
        self.retry_delays = tuple(retry_delays)
        self.sessions: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.events: list[Json] = []
        self.deliveries: list[Json] = []  # each webhook attempt: event id, attempt, status
        self.requests: list[Json] = []  # each API request: method, path, key, body, status
        self._idempotency: dict[str, tuple[str, int, Json]] = {}
        self._faults: list[int] = []  # statuses for the next API requests

    # --- steering -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url

    def fail_next(self, n: int = 1, *, status: int = 503) -> None:
        """Answer ``status`` to the next ``n`` API requests (after authentication)."""
        with self._lock:
            self._faults.extend([status] * n)

    def reset(self) -> None:
        with self._lock:
            self.sessions.clear()
            self.refunds.clear()
            self.events.clear()
            self.deliveries.clear()
            self.requests.clear()
            self._idempotency.clear()
            self._faults.clear()

    def snapshot(self) -> Json:
        with self._lock:
            return {
                "sessions": {k: dict(v) for k, v in self.sessions.items()},
                "refunds": {k: dict(v) for k, v in self.refunds.items()},
                "events": list(self.events),
                "deliveries": list(self.deliveries),
                "requests": list(self.requests),
            }

    def complete(self, session_id: str) -> Json:
        """The resident paid on the hosted page: the session completes, the event goes out."""
        with self._lock:
            event = self._pay(self._session(session_id))
        self._dispatch(event)
        return event

    def decline(self, session_id: str) -> Json:
        with self._lock:
            event = self._decline(self._session(session_id))
        self._dispatch(event)
        return event

    def expire(self, session_id: str) -> Json:
        with self._lock:
            event = self._expire(self._session(session_id))
        self._dispatch(event)
        return event

    def webhook_request(
        self, event: Json, *, timestamp: int | None = None, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of ``event``'s webhook, signed now (or at ``timestamp``)."""
        body = json.dumps(event, separators=(",", ":")).encode()
        signature = sign(
            self.webhook_secret if secret is None else secret, body, timestamp=timestamp
        )
        return body, {"Content-Type": "application/json", SIGNATURE_HEADER: signature}

    def delivered(self, event_id: str) -> bool:
        """Whether the receiver has answered 2xx to this event."""
        with self._lock:
            return any(d["event"] == event_id and 200 <= d["status"] < 300 for d in self.deliveries)

    # --- state (under the lock) -----------------------------------------------------------

    def _session(self, session_id: str) -> Json:
        session = self.sessions.get(session_id)
        if session is None:
            raise KeyError(session_id)
        return session

    def _event(self, kind: str, obj: Json) -> Json:
        event = {
            "id": _id("evt"),
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": dict(obj)},
        }
        self.events.append(event)
        return event

    def _pay(self, session: Json) -> Json:
        if session["status"] != "open":
            raise ValueError(f"session {session['id']} is {session['status']}")
        session.update(status="complete", payment_status="paid", completed_at=int(time.time()))
        return self._event("checkout.completed", session)

    def _decline(self, session: Json) -> Json:
        if session["status"] != "open":
            raise ValueError(f"session {session['id']} is {session['status']}")
        session["payment_status"] = "failed"
        return self._event("payment.failed", session)

    def _expire(self, session: Json) -> Json:
        if session["status"] != "open":
            raise ValueError(f"session {session['id']} is {session['status']}")
        session["status"] = "expired"
        return self._event("checkout.expired", session)

    # --- webhooks --------------------------------------------------------------------------

    def _dispatch(self, event: Json) -> None:
        if self.webhook_url and self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._deliver(event), self._loop)

    async def _deliver(self, event: Json) -> None:
        url = self.webhook_url
        if not url:
            return
        delays = (0.0, *self.retry_delays)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as client:
            for attempt, delay in enumerate(delays, start=1):
                if delay:
                    await asyncio.sleep(delay)
                body, headers = self.webhook_request(event)  # signed afresh on each attempt
                try:
                    async with client.post(url, data=body, headers=headers) as response:
                        status = response.status
                except (aiohttp.ClientError, TimeoutError, OSError):
                    status = 0  # not reached
                with self._lock:
                    self.deliveries.append(
                        {
                            "event": event["id"],
                            "type": event["type"],
                            "attempt": attempt,
                            "status": status,
                        }
                    )
                if 200 <= status < 300:
                    return

    # --- HTTP: the API -----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/checkout/sessions/{id}", self._get_session)
        app.router.add_post("/v1/refunds", self._create_refund)
        app.router.add_get("/pay/{id}", self._page)
        app.router.add_post("/pay/{id}", self._page_post)
        app.router.add_get("/_fake/state", self._state)
        app.router.add_post("/_fake/fail", self._fail)
        app.router.add_post("/_fake/reset", self._reset)
        return app

    async def _api(self, request: web.Request, handle: Any) -> web.Response:
        """Authentication, faults, JSON and idempotency around one API request."""
        raw = await request.read()
        key = request.headers.get("Idempotency-Key")
        record: Json = {
            "method": request.method,
            "path": request.path,
            "idempotency_key": key,
            "authorization": request.headers.get("Authorization", ""),
            "body": None,
        }

        def answer(response: web.Response) -> web.Response:
            record["status"] = response.status
            self.requests.append(record)
            return response

        with self._lock:
            if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
                return answer(_error(401, "authentication_error", "invalid API key"))
            if self._faults:
                status = self._faults.pop(0)
                return answer(_error(status, "api_error", "the gateway is unavailable"))
            body: Json = {}
            if request.method == "POST":
                try:
                    parsed = json.loads(raw or b"{}")
                except (ValueError, UnicodeDecodeError):
                    return answer(_error(400, "invalid_request_error", "the body is not JSON"))
                if not isinstance(parsed, dict):
                    return answer(_error(400, "invalid_request_error", "the body is an object"))
                body = parsed
                record["body"] = body
            fingerprint = hashlib.sha256(
                f"{request.method} {request.path} ".encode()
                + json.dumps(body, sort_keys=True).encode()
            ).hexdigest()
            if key is not None and request.method == "POST":
                if not 1 <= len(key) <= 255:
                    return answer(_error(400, "invalid_request_error", "bad Idempotency-Key"))
                seen = self._idempotency.get(key)
                if seen is not None:
                    if seen[0] != fingerprint:
                        return answer(
                            _error(
                                409,
                                "idempotency_error",
                                "this Idempotency-Key was used with another request",
                            )
                        )
                    response = web.json_response(seen[2], status=seen[1])
                    response.headers["Idempotent-Replayed"] = "true"
                    return answer(response)
            try:
                status, result, event = handle(request, body)
            except _Invalid as exc:
                return answer(_error(400, "invalid_request_error", exc.message))
            except KeyError:
                return answer(_error(404, "invalid_request_error", "no such object"))
            if key is not None and request.method == "POST":
                self._idempotency[key] = (fingerprint, status, result)
            response = answer(web.json_response(result, status=status))
        if event is not None:
            self._dispatch(event)
        return response

    async def _create_session(self, request: web.Request) -> web.Response:
        return await self._api(request, self._session_new)

    def _session_new(self, request: web.Request, body: Json) -> tuple[int, Json, Json | None]:
        amount = body.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
            raise _Invalid("amount: a whole number of yen, more than 0")
        if str(body.get("currency", "")).upper() != "JPY":
            raise _Invalid("currency: only JPY")
        for name in ("success_url", "cancel_url"):
            if not _web_url(body.get(name)):
                raise _Invalid(f"{name}: an absolute http(s) URL")
        reference = body.get("reference", "")
        if not isinstance(reference, str) or len(reference) > 64:
            raise _Invalid("reference: at most 64 characters")
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict) or len(metadata) > 20:
            raise _Invalid("metadata: at most 20 keys")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise _Invalid("metadata: strings only")
        now = int(time.time())
        session_id = _id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "status": "open",
            "payment_status": "unpaid",
            "amount": amount,
            "currency": "JPY",
            "reference": reference,
            "metadata": dict(metadata),
            "success_url": body["success_url"],
            "cancel_url": body["cancel_url"],
            "url": f"{(self.public_url or self.base_url).rstrip('/')}/pay/{session_id}",
            "created": now,
            "expires_at": now + SESSION_TTL,
        }
        self.sessions[session_id] = session
        return 200, dict(session), None

    async def _get_session(self, request: web.Request) -> web.Response:
        def handle(request: web.Request, body: Json) -> tuple[int, Json, Json | None]:
            return 200, dict(self._session(request.match_info["id"])), None

        return await self._api(request, handle)

    async def _create_refund(self, request: web.Request) -> web.Response:
        return await self._api(request, self._refund_new)

    def _refund_new(self, request: web.Request, body: Json) -> tuple[int, Json, Json | None]:
        session = self.sessions.get(str(body.get("session", "")))
        if session is None:
            raise _Invalid("session: no such checkout session")
        if session["payment_status"] == "refunded":
            raise _Invalid("the session is already refunded")
        if session["status"] != "complete" or session["payment_status"] != "paid":
            raise _Invalid("only a paid session can be refunded")
        amount = body.get("amount", session["amount"])
        if amount != session["amount"]:
            raise _Invalid("amount: only the full amount can be refunded")
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict):
            raise _Invalid("metadata: an object")
        refund = {
            "id": _id("re"),
            "object": "refund",
            "status": "succeeded",
            "session": session["id"],
            "amount": amount,
            "currency": session["currency"],
            "metadata": {**session["metadata"], **metadata},
            "created": int(time.time()),
        }
        session["payment_status"] = "refunded"
        self.refunds[refund["id"]] = refund
        return 200, dict(refund), self._event("refund.succeeded", refund)

    # --- HTTP: the hosted payment page --------------------------------------------------------

    def _page_html(self, session: Json, *, error: str = "") -> str:
        amount = f"{session['amount']:,}"
        note = f'<p role="alert" class="error">{html.escape(error)}</p>' if error else ""
        return f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>お支払い / Payment — Test gateway</title></head>
<body><main>
<h1>お支払い / Payment</h1>
<p>{html.escape(session["reference"])}: <strong>¥{amount}</strong></p>
{note}
<form method="post">
<label for="card">カード番号 / Card number</label>
<input id="card" name="card_number" inputmode="numeric" autocomplete="cc-number" required>
<button type="submit" name="action" value="pay">¥{amount} を支払う / Pay</button>
</form>
<form method="post"><button type="submit" name="action" value="cancel">
やめる / Cancel</button></form>
<p>Test cards: {CARD_SUCCEEDS} (paid), {CARD_DECLINED} (declined).</p>
</main></body></html>"""

    async def _page(self, request: web.Request) -> web.Response:
        with self._lock:
            session = self.sessions.get(request.match_info["id"])
            if session is None:
                return web.Response(status=404, text="no such payment")
            if session["status"] != "open":
                return web.Response(status=410, text=f"this payment is {session['status']}")
            page = self._page_html(session)
        return web.Response(text=page, content_type="text/html")

    async def _page_post(self, request: web.Request) -> web.Response:
        form = await request.post()
        number = "".join(ch for ch in str(form.get("card_number", "")) if ch.isdigit())
        action = str(form.get("action", "pay"))
        with self._lock:
            session = self.sessions.get(request.match_info["id"])
            if session is None:
                return web.Response(status=404, text="no such payment")
            if session["status"] != "open":
                return web.Response(status=410, text=f"this payment is {session['status']}")
            if action == "cancel":
                event, location, page = self._expire(session), session["cancel_url"], ""
            elif number == CARD_SUCCEEDS:
                event, location, page = self._pay(session), session["success_url"], ""
            elif number == CARD_DECLINED:
                event, location = self._decline(session), ""
                page = self._page_html(session, error="カードが拒否されました / Card declined")
            else:
                return web.Response(
                    status=400,
                    text=self._page_html(
                        session, error="テスト用カードを使ってください / Use a test card"
                    ),
                    content_type="text/html",
                )
        self._dispatch(event)
        if location:
            raise web.HTTPSeeOther(location)
        return web.Response(status=402, text=page, content_type="text/html")

    # --- HTTP: steering ---------------------------------------------------------------------

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            self.fail_next(int(body.get("count", 1)), status=int(body.get("status", 503)))
        except (ValueError, TypeError, AttributeError):
            return web.json_response({"message": "bad fault"}, status=400)
        return web.json_response({})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({})

    # --- life cycle --------------------------------------------------------------------------

    async def on_stop(self) -> None:
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:  # webhooks still being retried
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A loopback fake of a card payment gateway.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8031)
    parser.add_argument("--api-key", required=True, help="the merchant API key to accept")
    parser.add_argument("--webhook-url", default="", help="where to POST signed events")
    parser.add_argument("--webhook-secret", required=True, help="the webhook signing secret")
    parser.add_argument("--public-url", default="", help="the hosted page's address, if other")
    args = parser.parse_args(argv)
    gateway = CardGateway(
        api_key=args.api_key,
        webhook_secret=args.webhook_secret,
        webhook_url=args.webhook_url or None,
        host=args.host,
        port=args.port,
        public_url=args.public_url or None,
    )
    return serve_forever(gateway, "Card gateway fake on")


if __name__ == "__main__":
    raise SystemExit(main())
