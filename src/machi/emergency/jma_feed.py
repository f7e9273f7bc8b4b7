"""JMA's Atom feeds (気象庁防災情報XML, PULL型): read a feed and fetch only the messages not seen.

JMA publishes four feeds (``regular``, ``extra``, ``eqvol``, ``other``; the high-frequency ones
change every minute and keep about ten minutes, the ``*_l`` ones change hourly and keep days).
JMA asks pollers to download from one server, never to download an entry twice, and to use
conditional requests; heavy downloaders are blocked. Hence :func:`poll` sends ``If-None-Match``
and ``If-Modified-Since``, asks for gzip, and fetches only the entries the caller has not seen.

Nothing is stored here: the caller keeps the :class:`FeedState` and the ids already seen. All XML
goes through :mod:`machi.core.safexml`; all HTTP through the standard library (``urllib``).
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from machi.core import safexml
from machi.core.safexml import XmlRejected
from machi.emergency.jma import type_code_from_link

__all__ = [
    "FEED_MAX_BYTES",
    "MESSAGE_MAX_BYTES",
    "USER_AGENT",
    "EntryFetch",
    "FeedEntry",
    "FeedError",
    "FeedState",
    "FetchResult",
    "fetch",
    "parse_feed",
    "poll",
]

log = logging.getLogger(__name__)

ATOM: Final = "http://www.w3.org/2005/Atom"
# JMA asks heavy users to be identifiable; the User-Agent names the software and its purpose.
USER_AGENT: Final = "Machi/0.1 (open-source digital city hall; JMA XML feed poller)"
# A high-frequency feed is a few hundred kB; the long-term (*_l) feeds keep days of entries.
FEED_MAX_BYTES: Final = 10 * 1024 * 1024
MESSAGE_MAX_BYTES: Final = safexml.DEFAULT_MAX_BYTES
_CHUNK: Final = 64 * 1024


class FeedError(Exception):
    """A feed or message could not be fetched: network, timeout, HTTP error, too large, …"""

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    id: str
    updated: datetime
    title: str
    author: str
    link: str
    content: str

    @property
    def type_code(self) -> str | None:
        """The message type code from the link's file name (``…_VPWW54_…xml``), if any."""
        return type_code_from_link(self.link)


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: int  # 200 or 304
    body: bytes
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the caller keeps between polls of one feed."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class EntryFetch:
    """A new entry and either its message body or the reason it could not be fetched."""

    entry: FeedEntry
    body: bytes | None = None
    error: FeedError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.body is not None


@dataclass(frozen=True, slots=True)
class PollResult:
    state: FeedState
    not_modified: bool  # the feed answered 304: nothing new
    entries: tuple[FeedEntry, ...] = ()  # every entry of the feed (empty when not modified)
    fetched: tuple[EntryFetch, ...] = ()  # the new entries, oldest first

    @property
    def failed(self) -> tuple[EntryFetch, ...]:
        return tuple(f for f in self.fetched if not f.ok)


# --------------------------------------------------------------------------------------------
# Atom


def parse_feed(
    data: bytes, *, base_url: str = "", max_bytes: int = FEED_MAX_BYTES
) -> list[FeedEntry]:
    """The entries of an Atom feed, in document order (JMA lists the newest first).

    Entries without an id or a link cannot be fetched or remembered and are skipped (logged).
    Relative links are resolved against ``base_url`` (the feed's URL).
    """
    root = safexml.parse(data, max_bytes=max_bytes)
    if root.tag != f"{{{ATOM}}}feed":
        raise XmlRejected(f"not an Atom feed: the root element is {root.tag!r}")
    ns = {"a": ATOM}
    feed_updated = _atom_datetime(safexml.text(root, "a:updated", ns))
    feed_author = safexml.text(root, "a:author/a:name", ns)
    entries: list[FeedEntry] = []
    for element in root.iterfind("a:entry", ns):
        entry_id = safexml.text(element, "a:id", ns)
        link = _entry_link(element)
        updated = _atom_datetime(safexml.text(element, "a:updated", ns)) or feed_updated
        if not entry_id or not link or updated is None:
            log.warning("JMA feed entry skipped (no id, link or date): %r", entry_id or link)
            continue
        entries.append(
            FeedEntry(
                id=entry_id,
                updated=updated,
                title=safexml.text(element, "a:title", ns),
                author=safexml.text(element, "a:author/a:name", ns) or feed_author,
                link=urljoin(base_url, link) if base_url else link,
                content=safexml.text(element, "a:content", ns),
            )
        )
    return entries


def _entry_link(entry: Any) -> str:
    # JMA gives one <link type="application/xml" href=…/>; Atom allows several, of which the
    # "alternate" (the default rel) is the resource itself.
    links = [
        link
        for link in entry.iterfind(f"{{{ATOM}}}link")
        if link.get("rel", "alternate") == "alternate" and link.get("href", "").strip()
    ]
    links.sort(key=lambda link: "xml" not in link.get("type", ""))
    return links[0].get("href", "").strip() if links else ""


def _atom_datetime(text: str) -> datetime | None:
    # Atom dates are RFC 3339 and always carry an offset; a date without one is unusable.
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


# --------------------------------------------------------------------------------------------
# HTTP


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 10,
    max_bytes: int = FEED_MAX_BYTES,
) -> FetchResult:
    """GET ``url`` conditionally; a 200 with its body, or a 304, or ``FeedError``.

    ``timeout`` bounds every network wait and also the whole download of the body, so a
    server that drips bytes cannot hold the poller for longer than about twice ``timeout``.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise FeedError(f"only http and https URLs are fetched: {url!r}", url=url)
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/atom+xml, application/xml;q=0.9, */*;q=0.1",
        "Accept-Encoding": "gzip",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked above)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            if response.status != 200:
                raise FeedError(
                    f"unexpected HTTP {response.status}", url=url, status=response.status
                )
            if urlsplit(response.geturl()).scheme not in ("http", "https"):
                raise FeedError("redirected outside http(s)", url=url)
            body = _read_body(response, url=url, max_bytes=max_bytes, deadline=started + timeout)
            return FetchResult(
                status=200,
                body=body,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
    except urllib.error.HTTPError as exc:
        # urllib reports every non-2xx answer, 304 included, as an HTTPError holding the
        # response; it is closed here so the connection is not left open.
        answer = exc.headers
        exc.close()
        if exc.code == 304:
            return FetchResult(
                status=304,
                body=b"",
                etag=answer.get("ETag") or etag,
                last_modified=answer.get("Last-Modified") or last_modified,
            )
        raise FeedError(f"HTTP {exc.code} {exc.reason}", url=url, status=exc.code) from exc
    except urllib.error.URLError as exc:
        raise FeedError(f"cannot reach {url}: {exc.reason}", url=url) from exc
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise FeedError(f"fetching {url} failed: {type(exc).__name__}: {exc}", url=url) from exc


def _read_body(response: Any, *, url: str, max_bytes: int, deadline: float) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise FeedError(f"too large: {int(length):,} bytes (limit {max_bytes:,})", url=url)
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise FeedError(f"unsupported Content-Encoding {encoding!r}", url=url)
    # A gzip body is inflated as it arrives and the limit applies to the inflated size, so a
    # small compressed "bomb" cannot expand into memory.
    inflater = zlib.decompressobj(wbits=31) if encoding != "identity" else None
    parts: list[bytes] = []
    size = 0
    while chunk := response.read(_CHUNK):
        if time.monotonic() > deadline:
            raise FeedError("download took too long", url=url)
        if inflater is not None:
            try:
                chunk = inflater.decompress(chunk, max_bytes + 1 - size)
            except zlib.error as exc:
                raise FeedError(f"broken gzip body: {exc}", url=url) from exc
            if inflater.unconsumed_tail:
                raise FeedError(f"too large once inflated (limit {max_bytes:,})", url=url)
        size += len(chunk)
        if size > max_bytes:
            raise FeedError(f"too large: more than {max_bytes:,} bytes", url=url)
        parts.append(chunk)
    if inflater is not None and not inflater.eof:
        raise FeedError("truncated gzip body", url=url)
    return b"".join(parts)


# --------------------------------------------------------------------------------------------
# Polling


def poll(
    url: str,
    *,
    state: FeedState,
    seen: Callable[[str], bool],
    fetch_message: Callable[[str], bytes] | None = None,
    timeout: float = 10,
    feed_max_bytes: int = FEED_MAX_BYTES,
    message_max_bytes: int = MESSAGE_MAX_BYTES,
) -> PollResult:
    """Fetch the feed conditionally, then every entry whose id ``seen`` does not know.

    Raises ``FeedError`` when the feed itself cannot be fetched or read; a message that fails
    is reported in its :class:`EntryFetch` and the others are still fetched. While any message
    failed, the returned state is the old one, so the next poll reads the feed again (instead
    of a 304) and retries what the caller has not marked as seen.
    """
    result = fetch(
        url,
        etag=state.etag,
        last_modified=state.last_modified,
        timeout=timeout,
        max_bytes=feed_max_bytes,
    )
    if result.status == 304:
        return PollResult(
            state=FeedState(etag=result.etag, last_modified=result.last_modified),
            not_modified=True,
        )
    try:
        entries = parse_feed(result.body, base_url=url, max_bytes=feed_max_bytes)
    except XmlRejected as exc:
        raise FeedError(f"the feed was rejected: {exc}", url=url) from exc

    def default_fetch(link: str) -> bytes:
        return fetch(link, timeout=timeout, max_bytes=message_max_bytes).body

    get = fetch_message or default_fetch
    new: dict[str, FeedEntry] = {}
    for entry in entries:
        if entry.id not in new and not seen(entry.id):
            new[entry.id] = entry
    fetched: list[EntryFetch] = []
    # Oldest first, so a caller applying them in order ends with the latest state.
    for entry in sorted(new.values(), key=lambda e: e.updated):
        fetched.append(_fetch_entry(entry, get))

    failed = any(not f.ok for f in fetched)
    new_state = state if failed else FeedState(etag=result.etag, last_modified=result.last_modified)
    return PollResult(
        state=new_state, not_modified=False, entries=tuple(entries), fetched=tuple(fetched)
    )


def _fetch_entry(entry: FeedEntry, get: Callable[[str], bytes]) -> EntryFetch:
    try:
        body = get(entry.link)
    except FeedError as exc:
        return EntryFetch(entry=entry, error=exc)
    except Exception as exc:  # a custom fetcher's failure must not abort the poll either
        error = FeedError(f"{type(exc).__name__}: {exc}", url=entry.link)
        error.__cause__ = exc
        return EntryFetch(entry=entry, error=error)
    if not body:
        return EntryFetch(entry=entry, error=FeedError("empty message body", url=entry.link))
    return EntryFetch(entry=entry, body=body)
