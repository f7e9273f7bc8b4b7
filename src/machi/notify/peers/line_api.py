"""A loopback fake of the LINE Messaging API, for tests, the benchmark and the demo.

It enforces the limits the LINE channel has to respect, so a test that passes here fails the
same way against LINE when it breaks them:

* ``Authorization: Bearer <token>`` must be the configured channel access token (else 401);
* ``Content-Type: application/json`` (else 415);
* multicast: 1..500 user ids in ``to``; every request: 1..5 message objects, a text at most
  5,000 characters; user ids look like ``U`` + 32 hex digits (else 400 for the whole request,
  as LINE does: no recipient gets anything);
* ``X-Line-Retry-Key`` must be a UUID; the same key again within 24 hours is answered 409
  with ``x-line-accepted-request-id`` (the first request's id) and is not executed again;
* an optional rate limit, in requests per second per endpoint (token bucket), answers 429.

It records every accepted message per user id (``received``) and every accepted request
(``requests``). ``fail_next`` injects faults: 5xx (or any status) on the next N requests,
optionally *after* accepting them, which is the case retry keys exist for (LINE delivered but
the answer was lost).

It can also play the LINE platform calling a bot: ``send_webhook`` POSTs signed events
(``X-Line-Signature``) made with ``follow_event``, ``unfollow_event`` and ``message_event``.

It does not import Django: the benchmark and the demo run it as a separate process with
``python -m machi.notify.peers.line_api --port N --token T`` (``GET /_fake/received`` shows
what arrived, ``POST /_fake/fail`` and ``POST /_fake/reset`` steer it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from machi.core.loopback import LoopbackServer, serve_forever

MULTICAST_MAX_TO: Final = 500
MAX_MESSAGES: Final = 5
MAX_TEXT: Final = 5000
RETRY_KEY_TTL: Final = 24 * 3600.0
USER_ID: Final = re.compile(r"U[0-9a-f]{32}")
DESTINATION: Final = "U" + "0" * 31 + "1"  # the bot's own user id in webhook payloads

Json = dict[str, Any]


def user_id(n: int) -> str:
    """A well-formed, deterministic LINE user id (for tests and the benchmark)."""
    return f"U{n:032x}"


def signature(channel_secret: str, body: bytes) -> str:
    """``X-Line-Signature``: base64 of HMAC-SHA256 of the raw body, keyed by the channel secret."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _event_base(kind: str, user: str) -> Json:
    return {
        "type": kind,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": uuid.uuid4().hex.upper()[:26],
        "deliveryContext": {"isRedelivery": False},
    }


def follow_event(user: str, *, reply_token: str | None = None) -> Json:
    """A user added the official account as a friend (or unblocked it)."""
    event = _event_base("follow", user)
    event["replyToken"] = reply_token or uuid.uuid4().hex
    event["follow"] = {"isUnblocked": False}
    return event


def unfollow_event(user: str) -> Json:
    """A user blocked the official account. LINE gives no reply token: nobody to answer."""
    return _event_base("unfollow", user)


def message_event(user: str, text: str, *, reply_token: str | None = None) -> Json:
    event = _event_base("message", user)
    event["replyToken"] = reply_token or uuid.uuid4().hex
    event["message"] = {
        "id": str(uuid.uuid4().int)[:18],
        "type": "text",
        "text": text,
        "quoteToken": uuid.uuid4().hex,
    }
    return event


def webhook_body(events: Sequence[Json], *, destination: str = DESTINATION) -> bytes:
    return json.dumps({"destination": destination, "events": list(events)}).encode()


class _Bucket:
    """Non-blocking token bucket: a request either takes a token now or is refused (429)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class _Fault:
    remaining: int
    status: int
    message: str
    retry_after: int | None
    after_accept: bool


class _BadRequest(Exception):
    def __init__(self, message: str, details: list[Json] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


def _error(status: int, message: str, *, details: list[Json] | None = None) -> web.Response:
    body: Json = {"message": message}
    if details:
        body["details"] = details
    return web.json_response(body, status=status, headers={"x-line-request-id": _request_id()})


def _request_id() -> str:
    return str(uuid.uuid4())


def _size_error(prop: str, low: int, high: int) -> _BadRequest:
    return _BadRequest(
        "The request body has 1 error(s)",
        [{"message": f"Size must be between {low} and {high}", "property": prop}],
    )


def _invalid(prop: str) -> _BadRequest:
    return _BadRequest(
        "The request body has 1 error(s)",
        [{"message": f"The property, '{prop}', in the request body is invalid", "property": prop}],
    )


def _check_messages(body: Json) -> list[Json]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _invalid("messages")
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise _size_error("messages", 1, MAX_MESSAGES)
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise _invalid(f"messages[{i}].type")
        if message["type"] == "text":
            text = message.get("text")
            if not isinstance(text, str) or not text:
                raise _invalid(f"messages[{i}].text")
            if len(text) > MAX_TEXT:
                raise _BadRequest(
                    "The request body has 1 error(s)",
                    [
                        {
                            "message": f"Length must be between 0 and {MAX_TEXT}",
                            "property": f"messages[{i}].text",
                        }
                    ],
                )
    return messages


def _check_user(value: Any, prop: str) -> str:
    if not isinstance(value, str) or not USER_ID.fullmatch(value):
        raise _invalid(prop)
    return value


class LineApi(LoopbackServer):
    """The fake, in a background thread with its own event loop (or in-loop via ``app()``).

    ``rate``: requests per second per endpoint before 429 (0: no limit). ``received`` maps a
    user id to the message objects it got (multicast, push, and replies to tokens this fake
    issued); ``requests`` lists accepted requests (endpoint, request id, retry key, ``to``,
    message count); ``replies`` lists accepted replies.
    """

    thread_name = "line-api-fake"

    def __init__(
        self,
        *,
        token: str,
        rate: float = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        retry_key_ttl: float = RETRY_KEY_TTL,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.rate = rate
        self.retry_key_ttl = retry_key_ttl
        self.received: dict[str, list[Json]] = {}
        self.requests: list[Json] = []
        self.replies: list[Json] = []
        self.refused: list[Json] = []  # status and reason of every request answered non-2xx
        self._retry_keys: dict[str, tuple[str, float]] = {}
        self._reply_tokens: dict[str, str | None] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._faults: list[_Fault] = []

    # --- steering -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        message: str = "Internal server error",
        retry_after: int | None = None,
        after_accept: bool = False,
    ) -> None:
        """Answer ``status`` to the next ``n`` message requests (after authentication).

        ``after_accept``: execute the request first (record it, remember its retry key), then
        answer the error anyway, as when LINE sent but its answer was lost on the way.
        """
        with self._lock:
            self._faults.append(_Fault(n, status, message, retry_after, after_accept))

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.requests.clear()
            self.replies.clear()
            self.refused.clear()
            self._retry_keys.clear()
            self._reply_tokens.clear()
            self._buckets.clear()
            self._faults.clear()

    def messages_to(self, user: str) -> list[Json]:
        with self._lock:
            return list(self.received.get(user, []))

    def snapshot(self) -> Json:
        with self._lock:
            return {
                "received": {k: list(v) for k, v in self.received.items()},
                "requests": list(self.requests),
                "replies": list(self.replies),
                "refused": list(self.refused),
            }

    # --- the LINE platform calling a bot --------------------------------------------------

    def issue_reply_token(self, user: str | None = None, reply_token: str | None = None) -> str:
        """A reply token this fake will accept once (LINE's are single-use too)."""
        token = reply_token or uuid.uuid4().hex
        with self._lock:
            self._reply_tokens[token] = user
        return token

    def follow_event(self, user: str) -> Json:
        return follow_event(user, reply_token=self.issue_reply_token(user))

    def unfollow_event(self, user: str) -> Json:
        return unfollow_event(user)

    def message_event(self, user: str, text: str) -> Json:
        return message_event(user, text, reply_token=self.issue_reply_token(user))

    def send_webhook(
        self,
        url: str,
        channel_secret: str,
        events: Sequence[Json],
        *,
        destination: str = DESTINATION,
        timeout: float = 10.0,
    ) -> int:
        """POST events to a bot's webhook the way LINE does; answers the bot's HTTP status."""
        body = webhook_body(events, destination=destination)
        request = urllib.request.Request(  # noqa: S310 - the caller's own webhook URL
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "LineBotWebhook/2.0",
                "X-Line-Signature": signature(channel_secret, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    # --- HTTP ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/v2/bot/message/multicast", self._multicast)
        app.router.add_post("/v2/bot/message/push", self._push)
        app.router.add_post("/v2/bot/message/reply", self._reply)
        app.router.add_get("/_fake/received", self._received)
        app.router.add_post("/_fake/fail", self._fail)
        app.router.add_post("/_fake/reset", self._reset)
        return app

    async def _multicast(self, request: web.Request) -> web.Response:
        def check(body: Json) -> tuple[list[str], list[Json]]:
            to = body.get("to")
            if not isinstance(to, list):
                raise _invalid("to")
            if not 1 <= len(to) <= MULTICAST_MAX_TO:
                raise _size_error("to", 1, MULTICAST_MAX_TO)
            users = [_check_user(u, f"to[{i}]") for i, u in enumerate(to)]
            return users, _check_messages(body)

        return await self._handle(request, "multicast", check, retry=True)

    async def _push(self, request: web.Request) -> web.Response:
        def check(body: Json) -> tuple[list[str], list[Json]]:
            return [_check_user(body.get("to"), "to")], _check_messages(body)

        return await self._handle(request, "push", check, retry=True)

    async def _reply(self, request: web.Request) -> web.Response:
        def check(body: Json) -> tuple[list[str], list[Json]]:
            token = body.get("replyToken")
            messages = _check_messages(body)
            # Single use: the token is spent here, under the lock held by _handle.
            if not isinstance(token, str) or token not in self._reply_tokens:
                raise _BadRequest("Invalid reply token")
            user = self._reply_tokens.pop(token)
            return ([user] if user else []), messages

        return await self._handle(request, "reply", check, retry=False)

    async def _handle(
        self,
        request: web.Request,
        endpoint: str,
        check: Any,
        *,
        retry: bool,
    ) -> web.Response:
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            return self._refuse(
                endpoint,
                401,
                "Authentication failed. Confirm that the access token in the authorization "
                "header is valid.",
            )
        raw = await request.read()
        if request.content_type != "application/json":
            return self._refuse(endpoint, 415, "Content-Type must be application/json")
        with self._lock:
            fault = self._take_fault()
            if fault and not fault.after_accept:
                return self._fault_response(endpoint, fault)
            bucket = self._buckets.setdefault(endpoint, _Bucket(self.rate))
            if self.rate > 0 and not bucket.take():
                return self._refuse(endpoint, 429, "Too Many Requests")
            retry_key = request.headers.get("X-Line-Retry-Key")
            if retry_key is not None:
                if not retry:
                    return self._refuse(
                        endpoint, 400, "X-Line-Retry-Key is not supported by this endpoint"
                    )
                try:
                    retry_key = str(uuid.UUID(retry_key))
                except ValueError:
                    return self._refuse(
                        endpoint, 400, "The value for the 'X-Line-Retry-Key' header is invalid"
                    )
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise _BadRequest("The request body has 1 error(s)", [])
            except (ValueError, UnicodeDecodeError):
                return self._refuse(endpoint, 400, "The request body could not be parsed as JSON")
            except _BadRequest as exc:
                return self._refuse(endpoint, 400, exc.message, exc.details)
            now = time.monotonic()
            if retry_key is not None:
                accepted = self._retry_keys.get(retry_key)
                if accepted and now - accepted[1] < self.retry_key_ttl:
                    # Not executed again: the first request's id says which one went out.
                    self.refused.append({"endpoint": endpoint, "status": 409})
                    return web.json_response(
                        {"message": "The retry key is already accepted"},
                        status=409,
                        headers={
                            "x-line-request-id": _request_id(),
                            "x-line-accepted-request-id": accepted[0],
                        },
                    )
            try:
                users, messages = check(body)
            except _BadRequest as exc:
                return self._refuse(endpoint, 400, exc.message, exc.details)
            request_id = _request_id()
            if retry_key is not None:
                self._retry_keys[retry_key] = (request_id, now)
            for user in dict.fromkeys(users):  # LINE sends one copy per distinct user
                self.received.setdefault(user, []).extend(messages)
            record = {
                "endpoint": endpoint,
                "request_id": request_id,
                "retry_key": retry_key,
                "to": users,
                "messages": messages,
            }
            if endpoint == "reply":
                self.replies.append({**record, "reply_token": body.get("replyToken")})
            self.requests.append(record)
            if fault:  # after_accept: executed, but the caller hears an error
                return self._fault_response(endpoint, fault)
        answer: Json = {}
        if endpoint != "multicast":
            answer["sentMessages"] = [
                {"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex} for _ in messages
            ]
        return web.json_response(answer, headers={"x-line-request-id": request_id})

    def _take_fault(self) -> _Fault | None:
        while self._faults:
            fault = self._faults[0]
            if fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.pop(0)
                return fault
            self._faults.pop(0)
        return None

    def _fault_response(self, endpoint: str, fault: _Fault) -> web.Response:
        response = self._refuse(endpoint, fault.status, fault.message)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        return response

    def _refuse(
        self, endpoint: str, status: int, message: str, details: list[Json] | None = None
    ) -> web.Response:
        self.refused.append({"endpoint": endpoint, "status": status, "message": message})
        return _error(status, message, details=details)

    async def _received(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            self.fail_next(
                int(body.get("count", 1)),
                status=int(body.get("status", 500)),
                retry_after=body.get("retry_after"),
                after_accept=bool(body.get("after_accept", False)),
            )
        except (ValueError, TypeError, AttributeError):
            return web.json_response({"message": "bad fault"}, status=400)
        return web.json_response({})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A loopback fake of the LINE Messaging API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8031)
    parser.add_argument("--token", required=True, help="the channel access token to accept")
    parser.add_argument("--rate", type=float, default=0, help="requests/s per endpoint, 0: none")
    args = parser.parse_args(argv)
    api = LineApi(token=args.token, rate=args.rate, host=args.host, port=args.port)
    return serve_forever(api, "LINE Messaging API fake on")


if __name__ == "__main__":
    raise SystemExit(main())
