"""Web Push: one encrypted POST per browser subscription (RFC 8030, 8291, 8292).

Each message is a small JSON document for the service worker (``static/notify/sw.js``),
encrypted for the subscription's keys (``aes128gcm``, a fresh ephemeral key per message as
RFC 8291 expects: generating one costs about 10 µs, the ECDH about 45 µs, so there is nothing
worth sharing between messages), and POSTed to the subscription's endpoint with a VAPID
``Authorization`` (reused per push-service origin, see :mod:`machi.notify.vapid`).

``Topic`` is derived from the message key: when a delivery is resent after a crash while the
first copy still waits in the push service (the phone is off), the push service replaces it
instead of queueing a duplicate (RFC 8030 §5.4). ``tag`` does the same on the phone itself,
for a copy that was already shown.

Answers: 201/202 delivered; 404/410 the subscription is gone (the engine deletes it);
400/403/413 and other 4xx permanent; 429, 5xx, timeouts and network errors temporary, with
the push service's ``Retry-After`` in the detail as ``retry-after=<seconds>``. 401 (our VAPID
token refused: a wrong clock, a broken key) is temporary too: it is our fault, and a permanent
answer would mark every subscriber bounced.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import time

import aiohttp
import http_ece  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import ec
from multidict import CIMultiDictProxy

from machi.notify import conf, vapid
from machi.notify.channels.base import Message, Result, TokenBucket

log = logging.getLogger(__name__)

# RFC 8291 §4: a push service must accept 4,096 bytes of body; aes128gcm spends 86 on its
# header, 16 on the tag and 1 on the padding delimiter.
MAX_PLAINTEXT = 3993
DETAIL_LENGTH = 200  # Delivery.error
REF_LENGTH = 100  # Delivery.provider_ref
TIMEOUT = 30.0
ELLIPSIS = "…"


def topic_for(key: str) -> str:
    """A stable Topic for a message key: 32 base64url characters (RFC 8030 §5.4's limit).

    Hashed, so any key fits and the key itself (a delivery id) is not shown to the push service.
    """
    return vapid.b64url(hashlib.sha256(key.encode()).digest()[:24])


def tag_for(key: str) -> str:
    """The notification tag: the broadcast part of ``<broadcast>-<delivery id>``, else the key."""
    head, sep, tail = key.rpartition("-")
    return head if sep and head and tail.isdigit() else key


def _dump(document: dict[str, object]) -> bytes:
    # ensure_ascii=False: Japanese costs 3 bytes in UTF-8 against 6 as \\u escapes.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _json_cost(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode())


def _fit(text: str, budget: int) -> str:
    """The longest start of ``text``, with an ellipsis, whose JSON costs at most ``budget``
    bytes (a binary search: escapes make the cost of a character anything from 1 to 6)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _json_cost(text[:middle] + ELLIPSIS) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low] + ELLIPSIS if low else ""


def payload(message: Message) -> bytes:
    """The JSON the service worker shows, at most MAX_PLAINTEXT bytes: the body is shortened
    (then the title) rather than the message refused."""
    document: dict[str, object] = {
        "title": message.subject,
        "body": message.short or message.body,
        "url": message.url,
        "tag": tag_for(message.key),
        "emergency": message.emergency,
        "lang": message.language,
    }
    data = _dump(document)
    for field in ("body", "title"):
        if len(data) <= MAX_PLAINTEXT:
            return data
        text = str(document[field])
        document[field] = _fit(text, MAX_PLAINTEXT - (len(data) - _json_cost(text)))
        data = _dump(document)
    if len(data) <= MAX_PLAINTEXT:
        return data
    raise ValueError("the payload is too large even without body and title")


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_LENGTH else text[: DETAIL_LENGTH - 1] + ELLIPSIS


def retry_after(value: str | None) -> int | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, round(when.timestamp() - time.time()))


class _Refused(Exception):
    """The message cannot be sent to this subscription at all (bad keys, oversize)."""


class WebPushChannel:
    name = "webpush"

    def __init__(
        self,
        *,
        concurrency: int | None = None,
        rate: float | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.concurrency = max(1, concurrency or conf.push_concurrency())
        self.rate = conf.rate("webpush") if rate is None else rate
        self.timeout = timeout
        self.bucket = TokenBucket(self.rate)
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is not None:
            return
        vapid.private_key()  # a broken configured key stops here, not once per message
        # Made again here: asyncio primitives belong to the loop that first waits on them,
        # and a channel may be opened again in another loop (tests, a restarted worker).
        self.bucket = TokenBucket(self.rate)
        self._semaphore = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(
            limit=self.concurrency,
            ttl_dns_cache=300,  # a few push services serve every browser: resolve rarely
            keepalive_timeout=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(10.0, self.timeout)),
            headers={"User-Agent": "Machi-notify"},
            auto_decompress=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def send(self, messages: list[Message]) -> list[Result]:
        if self._session is None:
            await self.open()
        # VAPID headers of this batch, by endpoint origin: a batch reaches a handful of push
        # services, and asking vapid once per origin saves parsing every endpoint URL.
        authorizations: dict[str, str] = {}
        return list(
            await asyncio.gather(*(self._send_one(message, authorizations) for message in messages))
        )

    @staticmethod
    def _authorization(address: str, cache: dict[str, str]) -> str:
        origin = "/".join(address.split("/", 3)[:3])  # "https://host:port", cheaply
        header = cache.get(origin)
        if header is None:
            header = cache[origin] = vapid.authorization_header(address)
        return header

    def _prepare(
        self, message: Message, authorizations: dict[str, str]
    ) -> tuple[bytes, dict[str, str]]:
        """The encrypted body and the headers; raises _Refused for what can never be sent."""
        try:
            dh = vapid.b64url_decode(message.push_keys["p256dh"])
            auth = vapid.b64url_decode(message.push_keys["auth"])
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise _Refused("subscription keys missing or not base64url") from exc
        if len(dh) != 65 or dh[0] != 4 or len(auth) != 16:
            raise _Refused("subscription keys of the wrong size (p256dh 65 bytes, auth 16)")
        try:
            authorization = self._authorization(message.address, authorizations)
        except ValueError as exc:
            raise _Refused(f"endpoint: {exc}") from exc
        try:
            data = payload(message)
            body: bytes = http_ece.encrypt(
                data,
                private_key=ec.generate_private_key(ec.SECP256R1()),
                dh=dh,
                auth_secret=auth,
                version="aes128gcm",
            )
        except (ValueError, http_ece.ECEException) as exc:
            # ValueError: a p256dh that is no point of the curve, a payload that cannot fit.
            raise _Refused(f"cannot encrypt: {getattr(exc, 'message', exc)}") from exc
        headers = {
            "TTL": str(max(0, int(message.ttl))),
            "Urgency": "high" if message.emergency else "normal",
            "Topic": topic_for(message.key),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": authorization,
        }
        return body, headers

    async def _send_one(self, message: Message, authorizations: dict[str, str]) -> Result:
        delivery_id = message.delivery_id
        async with self._semaphore:
            await self.bucket.take()
            try:
                body, headers = self._prepare(message, authorizations)
            except _Refused as exc:
                return Result(delivery_id, "permanent", _short(str(exc)))
            session = self._session
            if session is None:  # closed while the batch was waiting
                return Result(delivery_id, "temporary", "the channel was closed")
            try:
                async with session.post(
                    message.address, data=body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    if 200 <= status < 300:
                        await response.read()  # drained: the connection goes back to the pool
                        location = response.headers.get("Location", "")
                        return Result(
                            delivery_id,
                            "delivered",
                            f"{status} {response.reason or ''}".strip(),
                            location[-REF_LENGTH:],
                        )
                    text = (await response.content.read(160)).decode("utf-8", "replace")
                    return self._failure(
                        delivery_id, status, response.reason or "", text, response.headers
                    )
            except TimeoutError:
                return Result(delivery_id, "temporary", f"no answer within {self.timeout:g} s")
            except aiohttp.InvalidURL:
                return Result(delivery_id, "permanent", "the endpoint is not a valid URL")
            except (aiohttp.ClientError, OSError) as exc:
                return Result(
                    delivery_id, "temporary", _short(f"network: {type(exc).__name__}: {exc}")
                )
            except Exception as exc:  # one bad message never fails the batch
                log.exception("web push to delivery %s failed", delivery_id)
                return Result(delivery_id, "temporary", _short(f"{type(exc).__name__}: {exc}"))

    @staticmethod
    def _failure(
        delivery_id: int,
        status: int,
        reason: str,
        text: str,
        headers: CIMultiDictProxy[str],
    ) -> Result:
        said = " ".join(text.split())
        head = f"{status} {reason}".strip()
        if status in (404, 410):
            return Result(delivery_id, "gone", head)
        if status == 429 or status >= 500:
            wait = retry_after(headers.get("Retry-After"))
            suffix = f" (retry-after={wait})" if wait is not None else ""
            return Result(delivery_id, "temporary", _short(head + suffix))
        if status == 401:
            # Our token was refused (wrong clock, a broken key): nothing the subscriber did, so
            # not a reason to drop the subscription, which a permanent answer would.
            return Result(delivery_id, "temporary", _short(f"{head}: VAPID token refused"))
        why = {
            400: "the push service refused the request",
            403: "VAPID key refused for this subscription",
            413: "payload too large",
        }.get(status)
        if why is None and 400 <= status < 500:
            why = "refused"
        if why is None:  # 1xx/3xx: nothing a push service should answer; try again later
            return Result(delivery_id, "temporary", _short(f"{head}: unexpected answer"))
        detail = f"{head}: {why}: {said}" if said else f"{head}: {why}"
        return Result(delivery_id, "permanent", _short(detail))
