"""LINE: one Messaging API multicast per batch of at most 500 friends of the official account.

The delivery engine gives the messages of one multicast the same ``Message.batch``; that id is
the request's ``X-Line-Retry-Key``, so a multicast retried after a timeout or a worker crash is
executed once by LINE (409 + ``x-line-accepted-request-id`` on the retry: delivered).

What LINE's answers mean for each message of the request:

* 200: delivered (``provider_ref`` = ``x-line-request-id``); 409 with an accepted id: delivered;
* 429 (rate limit or monthly quota), 5xx, network errors and timeouts: temporary;
* 400: permanent for the whole request (LINE refuses all of it, never part of it);
* 401/403: temporary: the channel token is wrong or expired, a configuration problem that must
  not cost the city its subscribers.

A malformed user id would make LINE refuse the whole request (400) and so fail the other 499
recipients for good; such ids are answered ``permanent`` here and left out of the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any, Final

import aiohttp

from machi.notify import conf
from machi.notify.channels.base import Message, Outcome, Result, TokenBucket

logger = logging.getLogger(__name__)

MULTICAST_MAX_TO: Final = 500
MAX_TEXT: Final = 5000
USER_ID: Final = re.compile(r"U[0-9a-f]{32}")
DETAIL_MAX: Final = 200  # Delivery.error
REF_MAX: Final = 100  # Delivery.provider_ref
TOKEN_REFUSED: Final = "LINE channel token refused"  # noqa: S105 - a message, no secret
# Retry keys derived from message keys (no batch given) live in their own UUID namespace.
_KEY_NAMESPACE: Final = uuid.UUID("6f1c2b0e-8a47-5d3e-9c61-2b7f4e0a9d15")


def message_text(message: Message) -> str:
    """The chat text: the short text, then the link, within LINE's 5,000 characters."""
    url = message.url.strip()
    short = message.short.strip()
    if not url:
        return short[:MAX_TEXT]
    room = MAX_TEXT - len(url) - 1
    if room <= 0:
        return url[:MAX_TEXT]
    if len(short) > room:
        short = short[: room - 1].rstrip() + "…"
    return f"{short}\n{url}" if short else url


def _as_uuid(batch: str) -> uuid.UUID:
    try:
        return uuid.UUID(batch)
    except ValueError:
        # A batch id that is not a UUID still needs a stable UUID for LINE.
        return uuid.uuid5(_KEY_NAMESPACE, batch)


def plan(messages: list[Message]) -> list[tuple[uuid.UUID, str, list[Message]]]:
    """Split messages into multicasts: (retry key, text, ≤ 500 messages) each.

    A batch of one text and ≤ 500 messages (what the engine makes) is one request keyed by the
    batch id. Anything else (no batch, or a batch the engine made too big or mixed) is split by
    text into chunks of 500, each keyed by a UUID derived from its messages' own stable keys,
    so the same chunk resent later carries the same key.
    """
    groups: dict[tuple[str, str], list[Message]] = {}
    for message in messages:
        groups.setdefault((message.batch, message_text(message)), []).append(message)
    texts_per_batch: dict[str, int] = {}
    for batch, _text in groups:
        texts_per_batch[batch] = texts_per_batch.get(batch, 0) + 1
    planned: list[tuple[uuid.UUID, str, list[Message]]] = []
    for (batch, text), members in groups.items():
        if batch and texts_per_batch[batch] == 1 and len(members) <= MULTICAST_MAX_TO:
            planned.append((_as_uuid(batch), text, members))
            continue
        for start in range(0, len(members), MULTICAST_MAX_TO):
            chunk = members[start : start + MULTICAST_MAX_TO]
            seed = batch + "|" + ",".join(sorted(m.key for m in chunk))
            planned.append((uuid.uuid5(_KEY_NAMESPACE, seed), text, chunk))
    return planned


def _short(text: str, limit: int = DETAIL_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LineChannel:
    """The Channel protocol for the LINE Messaging API (see the module docstring)."""

    name = "line"

    def __init__(self, *, concurrency: int = 8, timeout: float = 30.0) -> None:
        self.concurrency = concurrency
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._bucket: TokenBucket | None = None
        self._endpoint = ""
        self._token = ""

    async def open(self) -> None:
        token = conf.line_channel_token()
        if not token:
            raise RuntimeError("LINE is not configured")
        if self._session is not None:
            return
        self._token = token
        self._endpoint = f"{conf.line_api_url()}/v2/bot/message/multicast"
        self._semaphore = asyncio.Semaphore(self.concurrency)
        # LINE's rate limits count requests, not recipients: one token per multicast.
        self._bucket = TokenBucket(conf.rate("line"))
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(10.0, self.timeout)),
            connector=aiohttp.TCPConnector(limit=self.concurrency),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, messages: list[Message]) -> list[Result]:
        if self._session is None:
            raise RuntimeError("LineChannel.send() before open()")
        results: list[Result] = []
        sendable: list[Message] = []
        for message in messages:
            if not USER_ID.fullmatch(message.address):
                results.append(Result(message.delivery_id, "permanent", "not a LINE user id"))
            elif not message_text(message):
                results.append(Result(message.delivery_id, "failed", "nothing to send"))
            else:
                sendable.append(message)
        answers = await asyncio.gather(
            *(self._multicast(key, text, group) for key, text, group in plan(sendable))
        )
        for answer in answers:
            results.extend(answer)
        return results

    async def _multicast(self, key: uuid.UUID, text: str, group: list[Message]) -> list[Result]:
        session, semaphore, bucket = self._session, self._semaphore, self._bucket
        if session is None or semaphore is None or bucket is None:
            raise RuntimeError("LineChannel closed while sending")
        body = {
            "to": list(dict.fromkeys(m.address for m in group)),
            "messages": [{"type": "text", "text": text}],
        }
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "X-Line-Retry-Key": str(key),
        }
        async with semaphore:
            await bucket.take()
            try:
                async with session.post(self._endpoint, json=body, headers=headers) as resp:
                    status = resp.status
                    response_headers = resp.headers
                    payload = await _payload(resp)
            except TimeoutError:
                return _all(group, "temporary", "LINE did not answer in time")
            except aiohttp.ClientError as exc:
                return _all(group, "temporary", _short(f"LINE unreachable: {exc}"))
        message = _error_message(payload)
        request_id = response_headers.get("x-line-request-id", "")
        if 200 <= status < 300:
            return _all(group, "delivered", provider_ref=request_id)
        if status == 409 and response_headers.get("x-line-accepted-request-id"):
            # The retry key was accepted before: LINE sent this multicast then, not now.
            accepted = response_headers["x-line-accepted-request-id"]
            return _all(group, "delivered", "sent by an earlier attempt", accepted)
        if status == 429:
            detail = f"rate limited by LINE: {message or 'Too Many Requests'}"
            if retry_after := response_headers.get("Retry-After"):
                detail += f" (Retry-After {retry_after})"
            return _all(group, "temporary", _short(detail))
        if status in (401, 403):
            logger.error("LINE refused the channel access token (HTTP %s): %s", status, message)
            return _all(group, "temporary", TOKEN_REFUSED)
        if status == 400:
            logger.warning("LINE refused a multicast of %d: %s", len(group), message)
            # The request as a whole was refused (ids were checked above): not the recipients'
            # fault, so none of them is stopped.
            return _all(group, "failed", _short(f"LINE 400: {message or 'Bad Request'}"))
        return _all(group, "temporary", _short(f"LINE {status}: {message or 'no details'}"))


async def _payload(resp: aiohttp.ClientResponse) -> Any:
    """LINE answers JSON; a proxy in between may answer an HTML page: keep its text then."""
    raw = await resp.read()
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _error_message(payload: Any) -> str:
    """LINE's ``message`` and the first of its ``details``, if any (shown to staff)."""
    if isinstance(payload, dict):
        message = str(payload.get("message") or "")
        details = payload.get("details")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            first = details[0]
            extra = ": ".join(str(first[k]) for k in ("property", "message") if first.get(k))
            if extra:
                message = f"{message} ({extra})"
        return message
    if isinstance(payload, str):
        return _short(payload, 120)
    return ""


def _all(
    group: list[Message], outcome: Outcome, detail: str = "", provider_ref: str = ""
) -> list[Result]:
    ref = provider_ref[:REF_MAX]
    return [Result(m.delivery_id, outcome, detail, ref) for m in group]
