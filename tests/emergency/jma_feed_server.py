"""A loopback stand-in for JMA's feed server, for tests of the poller.

It serves a feed document and message files from memory on 127.0.0.1 (port chosen by the OS),
answers conditional requests with 304 the way JMA's server does (ETag and Last-Modified, with
If-None-Match taking precedence as RFC 9110 says), and counts the requests per path so tests
can prove that an entry is never fetched twice and that conditional requests are used.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import pytest
from lxml import etree

DATA = Path(__file__).parent / "data" / "jma"
TEST_FEED = DATA / "extra_test_feed_mican3.xml"
FEED_PATH = "/developer/xml/feed/extra.xml"
MESSAGE_DIR = "/developer/xml/data/"
ATOM = "http://www.w3.org/2005/Atom"


class JmaFeedServer:
    """Files served from memory, with per-path request counters and failure switches."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, str, datetime]] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        # Last-Modified has a one-second resolution: every change moves this clock a second on,
        # so two versions of the feed never share a date.
        self._clock = datetime(2024, 3, 18, 13, 4, 5, tzinfo=UTC)
        self.gzip = False
        self.requests: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()  # requests carrying If-None-Match/-Since
        self.not_modified: Counter[str] = Counter()  # of which answered 304
        self.gzipped: Counter[str] = Counter()  # answers sent gzip-compressed
        self.user_agents: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll interval makes shutdown() quick between tests.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle

    def start(self) -> JmaFeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> JmaFeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- content

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def feed_url(self) -> str:
        return self.url(FEED_PATH)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def put(self, path: str, body: bytes) -> str:
        """Serve ``body`` at ``path`` (a new version: new ETag and Last-Modified)."""
        with self._lock:
            self._clock += timedelta(seconds=1)
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            self._files[path] = (body, etag, self._clock)
        return self.url(path)

    def put_message(self, name: str, body: bytes | None = None) -> str:
        """Serve a message file under JMA's data folder (by default the sample of that name)."""
        return self.put(
            MESSAGE_DIR + name, body if body is not None else (DATA / name).read_bytes()
        )

    def set_feed(self, feed: bytes) -> str:
        """Serve ``feed`` with its entry links pointing at this server."""
        return self.put(FEED_PATH, rewrite_links(feed, self.url(MESSAGE_DIR)))

    def fail(self, path: str, status: int = 500) -> None:
        self._failures[path] = status

    def heal(self, path: str) -> None:
        self._failures.pop(path, None)

    def message_path(self, name: str) -> str:
        return MESSAGE_DIR + name

    # -- HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if_none_match = self.headers.get("If-None-Match")
                if_modified_since = self.headers.get("If-Modified-Since")
                with server._lock:
                    server.requests[path] += 1
                    server.user_agents.append(self.headers.get("User-Agent", ""))
                    if if_none_match or if_modified_since:
                        server.conditional[path] += 1
                    failure = server._failures.get(path)
                    stored = server._files.get(path)
                if failure is not None:
                    self.send_error(failure)
                    return
                if stored is None:
                    self.send_error(404)
                    return
                body, etag, modified = stored
                if _not_modified(etag, modified, if_none_match, if_modified_since):
                    with server._lock:
                        server.not_modified[path] += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
                if server.gzip and accepts_gzip:
                    body = gzip.compress(body)
                    with server._lock:
                        server.gzipped[path] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", format_datetime(modified, usegmt=True))
                if server.gzip and accepts_gzip:
                    self.send_header("Content-Encoding", "gzip")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

        return Handler


def _not_modified(
    etag: str, modified: datetime, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    if if_none_match is not None:
        # RFC 9110 13.1.2: when If-None-Match is present, If-Modified-Since is ignored.
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return modified <= since
    return False


# -- feed documents


_HREF = re.compile(rb'(<link\b[^>]*\bhref=")([^"]*/)([^"/]+\.xml)(")')


def rewrite_links(feed: bytes, message_base: str) -> bytes:
    """Point every entry link of ``feed`` at ``message_base`` + the file name it had."""
    return _HREF.sub(lambda m: m[1] + message_base.encode() + m[3] + m[4], feed)


def feed_with(entry_files: list[str], source: bytes | None = None) -> bytes:
    """The test feed keeping only the entries whose link ends with one of ``entry_files``."""
    root = etree.fromstring(source if source is not None else TEST_FEED.read_bytes())
    for entry in root.findall(f"{{{ATOM}}}entry"):
        href = entry.find(f"{{{ATOM}}}link").get("href", "")
        if href.rsplit("/", 1)[-1] not in entry_files:
            root.remove(entry)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def feed_files(source: bytes | None = None) -> list[str]:
    """The message file names the test feed links to, in feed order."""
    root = etree.fromstring(source if source is not None else TEST_FEED.read_bytes())
    return [
        link.get("href", "").rsplit("/", 1)[-1]
        for link in root.iterfind(f"{{{ATOM}}}entry/{{{ATOM}}}link")
    ]


@pytest.fixture(name="jma_feed_server")
def jma_feed_server_fixture() -> Iterator[JmaFeedServer]:
    """A started loopback feed server (stopped after the test)."""
    with JmaFeedServer() as server:
        yield server
