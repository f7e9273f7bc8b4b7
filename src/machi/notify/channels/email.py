"""The e-mail channel: notification messages over SMTP, on a pool of persistent connections.

SMTP is spoken directly on asyncio streams. Each of ``conf.email_connections()`` connections
says EHLO, STARTTLS when ``EMAIL_USE_TLS`` (``EMAIL_USE_SSL``: TLS from the start), AUTH
PLAIN or LOGIN when ``EMAIL_HOST_USER`` is set, and then sends message after message. When the
server offers PIPELINING (RFC 2920) a message costs one round trip: its MAIL, RCPT and DATA
go in one write together with the previous message's content, and their replies are read
together.

Messages of one broadcast differ only in recipient, manage and unsubscribe links and
Message-ID, so the constant part of the message (headers, Subject in RFC 2047, the body in
base64 up to its last whole 57-byte group) is built once per (subject, body, link, language)
and each message only formats a few header lines and base64-encodes the footer. The content is
7-bit (base64, encoded words): any server takes it, 8BITMIME or not; SMTPUTF8 is used only for
an address that is not ASCII.

Answers: 2xx after the content: delivered (``provider_ref``: the server's queue id); 5xx to
RCPT, DATA or the content: permanent (a bounce); 4xx: temporary; a connection that breaks or
answers 421 is opened again and its unanswered messages sent once more before they are
answered temporary. The Message-ID is made from ``Message.key``, so a message sent twice
(after a broken connection, or by a worker that took over) is the same message to the mailbox.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import logging
import re
import ssl
import time
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from ipaddress import ip_address
from urllib.parse import quote, urlsplit

from django.conf import settings

from machi.notify import conf
from machi.notify.bounces import envelope_sender
from machi.notify.channels.base import Message, Result, TokenBucket

log = logging.getLogger(__name__)

FOOTER = {
    "ja": "配信の変更・停止はこちら",
    "en": "Change or stop these messages",
}

CONNECT_TIMEOUT = 15.0
# RFC 5321 4.5.3.2 allows a server minutes for the end of data; a notification server that
# slow is better given up on and its messages tried again later.
COMMAND_TIMEOUT = 60.0
# A pooled connection idle longer than this is checked with NOOP before it is used again
# (servers close idle connections after a while).
IDLE_CHECK = 10.0
TEMPLATE_CACHE = 8
BASE64_GROUP = 57  # input bytes per 76-character base64 line

# What may stand between angle brackets in a Message-ID (RFC 5322 dot-atom-text).
_ID_LEFT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+")
# A URL that may go into a header or the body as it is.
_PLAIN_URL = re.compile(r"[\x21-\x3b\x3d\x3f-\x7e]*")
# Postfix "queued as 4BxY…", Exim "id=1abc-…".
_QUEUED_AS = re.compile(r"(?:queued as\s+|\bid=)([^\s;,]+)", re.I)
_ENHANCED = re.compile(r"\d\.\d{1,3}\.\d{1,3}\s+")
_BAD_ADDRESS = re.compile(r"[\x00-\x20<>()\[\]\\,;:\"\x7f]")


class SmtpError(Exception):
    """The server answered something that ends the connection's usefulness."""

    def __init__(self, detail: str, code: int = 0) -> None:
        super().__init__(detail)
        self.code = code


class _Broken(Exception):
    """The connection broke (reset, timeout, 421) with messages still unanswered."""

    def __init__(self, detail: str, pending: list[_Item]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pending = pending


@dataclass(eq=False)
class _Item:
    message: Message
    tries: int = 0
    mail: bytes = b""  # MAIL FROM command line
    rcpt: bytes = b""  # RCPT TO command line
    data: bytes = b""  # content, dot-stuffed, with the final "." line


@dataclass
class _Template:
    headers: bytes  # the constant header lines, CRLF-terminated
    body_lines: bytes  # base64 lines of the constant text, whole 57-byte groups only
    body_rest: bytes  # the constant text after those groups (< 57 bytes)
    domain: str


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    loop: asyncio.AbstractEventLoop
    pipelining: bool = False
    smtputf8: bool = False
    # A transaction failed half-way: the next one starts with RSET.
    dirty: bool = False
    used: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class _Batch:
    queue: collections.deque[_Item]
    results: list[Result]
    error: str = ""


async def _reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One SMTP reply (all its lines): its code and its text."""
    line = await reader.readline()
    if len(line) < 4 or line[3:4] == b"-":
        if not line:
            raise ConnectionResetError("the server closed the connection")
        texts = []
        while line[3:4] == b"-":
            texts.append(line[4:].strip().decode("utf-8", "replace"))
            line = await reader.readline()
            if not line:
                raise ConnectionResetError("the server closed the connection")
        texts.append(line[4:].strip().decode("utf-8", "replace"))
        text = "\n".join(texts)
    else:
        text = line[4:].strip().decode("utf-8", "replace")
    try:
        code = int(line[:3])
    except ValueError:
        raise SmtpError(f"not an SMTP reply: {line[:60]!r}") from None
    return code, text


def _b64_lines(data: bytes) -> bytes:
    """Base64 in 76-character CRLF lines (RFC 2045)."""
    b2a = binascii.b2a_base64
    return b"".join(
        b2a(data[i : i + BASE64_GROUP], newline=False) + b"\r\n"
        for i in range(0, len(data), BASE64_GROUP)
    )


def _url(url: str) -> str:
    """A URL safe for a header line and a text body: ASCII, no spaces, no angle brackets."""
    if _PLAIN_URL.fullmatch(url):
        return url
    return quote(url.strip(), safe="!#$%&'()*+,-./:;=?@[]_~")


def _short(code: int, text: str) -> str:
    return f"{code} {text}".replace("\n", " ")[:200]


def _ehlo_name() -> str:
    """The name we greet with: the host of the city's public address (no DNS lookup)."""
    host = urlsplit(conf.site_url()).hostname or "localhost"
    try:
        address = ip_address(host)
    except ValueError:
        return host.encode("idna").decode("ascii")
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"


class EmailChannel:
    """Notification e-mail over SMTP. Answers one :class:`Result` per message, never raises."""

    name = "email"

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        connections: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.host = host or str(getattr(settings, "MACHI_NOTIFY_SMTP_HOST", settings.EMAIL_HOST))
        if port is None:
            port = int(getattr(settings, "MACHI_NOTIFY_SMTP_PORT", settings.EMAIL_PORT))
        self.port = port
        self.connections = max(1, connections or conf.email_connections())
        self.use_tls = bool(getattr(settings, "EMAIL_USE_TLS", False))
        self.use_ssl = bool(getattr(settings, "EMAIL_USE_SSL", False))
        self.user = str(getattr(settings, "EMAIL_HOST_USER", "") or "")
        self.password = str(getattr(settings, "EMAIL_HOST_PASSWORD", "") or "")
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.bucket = TokenBucket(conf.rate("email"))

        display, address = parseaddr(conf.email_from())
        self.sender = address or conf.email_from()
        name = str(getattr(settings, "MACHI_NOTIFY_EMAIL_NAME", "") or display)
        self.from_header = formataddr((name, self.sender), charset="utf-8") if name else self.sender
        self.domain = self.sender.rpartition("@")[2] or "localhost"
        self.ehlo_name = _ehlo_name()

        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._templates: collections.OrderedDict[tuple[str, str, str, str, bool], _Template] = (
            collections.OrderedDict()
        )
        self._date: tuple[int, str] = (0, "")
        # Connections opened, writes that expect replies, pipelined transactions: for tests
        # and the benchmark.
        self.stats = {"connects": 0, "round_trips": 0, "pipelined": 0}

    # -- the Channel protocol

    async def open(self) -> None:
        """Nothing to do yet: connections open on first use (a server that is down must not
        stop the worker; its messages answer temporary)."""
        self._loop_slots()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        loop = asyncio.get_running_loop()
        for connection in idle:
            if connection.loop is not loop:
                continue
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    connection.writer.write(b"QUIT\r\n")
                    await _reply(connection.reader)
            connection.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await connection.writer.wait_closed()

    async def send(self, messages: list[Message]) -> list[Result]:
        if not messages:
            return []
        batch = _Batch(collections.deque(_Item(m) for m in messages), [])
        slots = self._loop_slots()
        workers = min(self.connections, len(messages))
        outcomes = await asyncio.gather(
            *(self._worker(batch, slots) for _ in range(workers)), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                # A bug, not the server: its messages are answered below, the others stand.
                log.error("e-mail channel worker failed", exc_info=outcome)
                batch.error = f"e-mail channel error: {outcome!r}"[:200]
        # Whatever no connection could take (the server is down) is tried again later.
        answered = {result.delivery_id for result in batch.results}
        detail = batch.error or "not sent: no connection to the SMTP server"
        for message in messages:
            if message.delivery_id not in answered:
                batch.results.append(Result(message.delivery_id, "temporary", detail))
        return batch.results

    # -- connections

    def _loop_slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            # A new event loop (tests run several): the old loop's connections are unusable.
            self._slots = asyncio.Semaphore(self.connections)
            self._slots_loop = loop
            self._idle = [c for c in self._idle if c.loop is loop]
        return self._slots

    async def _take(self) -> _Connection:
        loop = asyncio.get_running_loop()
        while self._idle:
            connection = self._idle.pop()
            if connection.loop is not loop or connection.reader.at_eof():
                connection.close()
                continue
            if time.monotonic() - connection.used > IDLE_CHECK:
                try:
                    async with asyncio.timeout(self.connect_timeout):
                        connection.writer.write(b"NOOP\r\n")
                        code, _text = await _reply(connection.reader)
                except (OSError, TimeoutError, SmtpError, ValueError):
                    code = 0
                if code != 250:
                    connection.close()
                    continue
            return connection
        return await self._connect()

    async def _connect(self) -> _Connection:
        context = self._tls_context() if self.use_ssl or self.use_tls else None
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=context if self.use_ssl else None,
                server_hostname=self.host if self.use_ssl else None,
                limit=1 << 16,
            )
            connection = _Connection(reader, writer, asyncio.get_running_loop())
            try:
                await self._greet(connection, context)
            except BaseException:
                connection.close()
                raise
        self.stats["connects"] += 1
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        # Loading the system's CA certificates takes tens of milliseconds: once per channel.
        if self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

    async def _greet(self, connection: _Connection, context: ssl.SSLContext | None) -> None:
        code, text = await _reply(connection.reader)
        if code != 220:
            raise SmtpError(_short(code, text), code)
        features = await self._ehlo(connection)
        if self.use_tls and not self.use_ssl:
            if "STARTTLS" not in features:
                raise SmtpError("the SMTP server does not offer STARTTLS (EMAIL_USE_TLS is set)")
            await self._command(connection, b"STARTTLS\r\n", 220)
            await connection.writer.start_tls(
                context or self._tls_context(), server_hostname=self.host
            )
            features = await self._ehlo(connection)
        if self.user:
            await self._auth(connection, features.get("AUTH", "").upper().split())
        connection.pipelining = "PIPELINING" in features
        connection.smtputf8 = "SMTPUTF8" in features

    async def _command(self, connection: _Connection, line: bytes, expect: int) -> str:
        connection.writer.write(line)
        code, text = await _reply(connection.reader)
        if code != expect:
            raise SmtpError(_short(code, text), code)
        return text

    async def _ehlo(self, connection: _Connection) -> dict[str, str]:
        connection.writer.write(f"EHLO {self.ehlo_name}\r\n".encode("ascii"))
        code, text = await _reply(connection.reader)
        if code != 250:
            # An old server without ESMTP: plain SMTP, no extensions.
            await self._command(connection, f"HELO {self.ehlo_name}\r\n".encode("ascii"), 250)
            return {}
        features: dict[str, str] = {}
        for line in text.split("\n")[1:]:
            keyword, _, params = line.strip().partition(" ")
            features[keyword.upper()] = params
        return features

    async def _auth(self, connection: _Connection, mechanisms: list[str]) -> None:
        user, password = self.user.encode("utf-8"), self.password.encode("utf-8")
        if "PLAIN" in mechanisms:
            token = base64.b64encode(b"\0" + user + b"\0" + password)
            await self._command(connection, b"AUTH PLAIN " + token + b"\r\n", 235)
        elif "LOGIN" in mechanisms:
            await self._command(connection, b"AUTH LOGIN\r\n", 334)
            await self._command(connection, base64.b64encode(user) + b"\r\n", 334)
            await self._command(connection, base64.b64encode(password) + b"\r\n", 235)
        else:
            offered = " ".join(mechanisms) or "none"
            raise SmtpError(f"the SMTP server offers no AUTH PLAIN or LOGIN (offers: {offered})")

    # -- sending

    async def _worker(self, batch: _Batch, slots: asyncio.Semaphore) -> None:
        async with slots:
            retry: collections.deque[_Item] = collections.deque()
            connection: _Connection | None = None
            while batch.queue or retry:
                try:
                    connection = await self._take()
                except (OSError, TimeoutError, SmtpError, ValueError) as exc:
                    detail = _connect_error(self.host, self.port, exc)
                    batch.error = detail
                    for item in retry:
                        batch.results.append(Result(item.message.delivery_id, "temporary", detail))
                    # This slot gives up; the others (if they are connected) take the rest.
                    return
                try:
                    if connection.pipelining:
                        await self._pump_pipelined(connection, batch, retry)
                    else:
                        await self._pump(connection, batch, retry)
                except _Broken as broken:
                    connection.close()
                    connection = None
                    for item in broken.pending:
                        if item.tries == 0:
                            # Once more on a fresh connection: the first one may just have
                            # been closed by the server (idle timeout, restart, 421).
                            item.tries = 1
                            retry.append(item)
                        else:
                            batch.results.append(
                                Result(item.message.delivery_id, "temporary", broken.detail)
                            )
            if connection is not None:
                connection.used = time.monotonic()
                self._idle.append(connection)

    async def _next(self, batch: _Batch, retry: collections.deque[_Item]) -> _Item | None:
        """The next message to send, prepared; messages that cannot be are answered here."""
        while retry or batch.queue:
            item = retry.popleft() if retry else batch.queue.popleft()
            try:
                problem = self._prepare(item)
            except Exception as exc:  # a bug must cost one message, not the batch
                log.exception("cannot build e-mail for delivery %s", item.message.delivery_id)
                detail = f"cannot build the message: {exc!r}"[:200]
                batch.results.append(Result(item.message.delivery_id, "temporary", detail))
                continue
            if problem:
                batch.results.append(Result(item.message.delivery_id, "permanent", problem))
                continue
            if self.bucket.rate > 0:
                await self.bucket.take()
            return item
        return None

    async def _pump_pipelined(
        self, connection: _Connection, batch: _Batch, retry: collections.deque[_Item]
    ) -> None:
        """Send until there is nothing left, one round trip per message (RFC 2920).

        Each write holds the previous message's content (its 354 arrived) and the next
        message's MAIL, RCPT and DATA; the replies come back in the same order.
        """
        reader, writer = connection.reader, connection.writer
        results = batch.results
        carry: _Item | None = None  # content goes out in the next write
        carry_abort = False  # 354 came although MAIL or RCPT failed: send "." alone
        rset = connection.dirty
        while True:
            item = await self._next(batch, retry)
            if item is None and carry is None:
                connection.dirty = rset
                return
            parts: list[bytes] = []
            if carry is not None:
                parts.append(b".\r\n" if carry_abort else carry.data)
            if item is not None:
                if rset:
                    parts.append(b"RSET\r\n")
                parts += (item.mail, item.rcpt, b"DATA\r\n")
            pending = [
                x for x in (carry, item) if x is not None and not (x is carry and carry_abort)
            ]
            try:
                async with asyncio.timeout(self.command_timeout):
                    writer.write(b"".join(parts))
                    self.stats["round_trips"] += 1
                    if carry is not None:
                        code, text = await _reply(reader)
                        if not carry_abort:
                            if code == 421:
                                raise _Broken(_short(code, text), pending)
                            pending.remove(carry)
                            results.append(_after_content(carry, code, text))
                        carry = None
                        carry_abort = False
                    if item is None:
                        connection.dirty = rset
                        return
                    self.stats["pipelined"] += 1
                    if rset:
                        await _reply(reader)
                        rset = False
                    replies = [await _reply(reader), await _reply(reader), await _reply(reader)]
            except _Broken:
                raise
            except (OSError, TimeoutError, SmtpError, EOFError, ValueError) as exc:
                raise _Broken(_io_error(exc), pending) from exc
            failure = _first_failure(replies)
            data_code = replies[2][0]
            if failure is None and data_code == 354:
                carry = item
                continue
            rset = True
            if data_code == 354:
                # The server wants content although the transaction failed: end it empty.
                carry, carry_abort = item, True
            if failure is None:
                failure = (2, replies[2][0], replies[2][1])
            if failure[1] == 421:
                raise _Broken(_short(failure[1], failure[2]), [item])
            results.append(_refused(item, *failure))

    async def _pump(
        self, connection: _Connection, batch: _Batch, retry: collections.deque[_Item]
    ) -> None:
        """Send until there is nothing left, command by command (no PIPELINING)."""
        reader, writer = connection.reader, connection.writer
        results = batch.results
        rset = connection.dirty
        while True:
            item = await self._next(batch, retry)
            if item is None:
                connection.dirty = rset
                return
            try:
                async with asyncio.timeout(self.command_timeout):
                    if rset:
                        writer.write(b"RSET\r\n")
                        await _reply(reader)
                    result = await self._transaction(connection, item)
            except _Broken:
                raise
            except (OSError, TimeoutError, SmtpError, EOFError, ValueError) as exc:
                raise _Broken(_io_error(exc), [item]) from exc
            results.append(result)
            # After a refusal the server may still hold the transaction open.
            rset = result.outcome != "delivered"

    async def _transaction(self, connection: _Connection, item: _Item) -> Result:
        """One message, command by command."""
        for stage, line in enumerate((item.mail, item.rcpt, b"DATA\r\n")):
            connection.writer.write(line)
            self.stats["round_trips"] += 1
            code, text = await _reply(connection.reader)
            if code == 421:
                raise _Broken(_short(code, text), [item])
            if code >= 400 or (stage == 2 and code != 354):
                return _refused(item, stage, code, text)
        connection.writer.write(item.data)
        self.stats["round_trips"] += 1
        code, text = await _reply(connection.reader)
        if code == 421:
            raise _Broken(_short(code, text), [item])
        return _after_content(item, code, text)

    # -- the message

    def _prepare(self, item: _Item) -> str:
        """Fill in the item's commands and content; a reason when it cannot be sent."""
        if item.data:
            return ""
        message = item.message
        address = message.address.strip()
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain or len(address) > 254 or _BAD_ADDRESS.search(address):
            return "not a valid e-mail address"
        params = b""
        if not address.isascii():
            if local.isascii():
                try:
                    address = f"{local}@{domain.encode('idna').decode('ascii')}"
                except UnicodeError:
                    return "not a valid e-mail address (domain)"
            else:
                # Only a server with SMTPUTF8 can carry it; the next try may reach one.
                params = b" SMTPUTF8"
        # With a bounce address, each message has its own return path (VERP): a bounce that
        # arrives later names its delivery (notify/bounces.py).
        sender = envelope_sender(message.delivery_id) or self.sender
        item.mail = f"MAIL FROM:<{sender}>".encode() + params + b"\r\n"
        item.rcpt = f"RCPT TO:<{address}>\r\n".encode()
        content = self._render(message, address)
        if content.startswith(b".") or b"\n." in content:
            content = content.replace(b"\n.", b"\n..")  # dot-stuffing, RFC 5321 4.5.2
            if content.startswith(b"."):
                content = b"." + content
        item.data = content + b".\r\n"
        return ""

    def _render(self, message: Message, address: str) -> bytes:
        template = self._template(message)
        key = message.key if _ID_LEFT.fullmatch(message.key) else _id_left(message.key)
        head = (
            f"Date: {self._now()}\r\n"
            f"To: {address}\r\n"
            f"Message-ID: <{key}@{template.domain}>\r\n"
            f"List-Unsubscribe: <{_url(message.unsubscribe_url)}>\r\n"
        ).encode()
        rest = template.body_rest + _url(message.manage_url).encode("ascii") + b"\r\n"
        return b"".join((head, template.headers, b"\r\n", template.body_lines, _b64_lines(rest)))

    def _now(self) -> str:
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, formatdate(second, localtime=True))
        return self._date[1]

    def _template(self, message: Message) -> _Template:
        language = "en" if message.language == "en" else "ja"
        key = (message.subject, message.body, message.url, language, message.emergency)
        template = self._templates.get(key)
        if template is not None:
            self._templates.move_to_end(key)
            return template
        template = self._build_template(message, language)
        self._templates[key] = template
        if len(self._templates) > TEMPLATE_CACHE:
            self._templates.popitem(last=False)
        return template

    def _build_template(self, message: Message, language: str) -> _Template:
        subject = " ".join(message.subject.split())  # no line breaks into the header
        charset = "us-ascii" if subject.isascii() else "utf-8"
        encoded_subject = Header(subject, charset, header_name="Subject").encode(linesep="\r\n")
        lines = [
            f"From: {self.from_header}",
            f"Subject: {encoded_subject}",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            f"Content-Language: {language}",
            f"List-Id: <notify.{self.domain}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Auto-Submitted: auto-generated",
            # Out-of-office replies to a broadcast help no one (Exchange honours this).
            "X-Auto-Response-Suppress: All",
        ]
        if message.emergency:
            lines += ["Importance: high", "X-Priority: 1"]
        headers = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        # Canonical text for base64 is CRLF line ends (RFC 2045 6.8).
        body = message.body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
        text = body + "\n\n"
        if message.url:
            text += _url(message.url) + "\n\n"
        text += "-- \n" + FOOTER[language] + "\n"
        constant = text.replace("\n", "\r\n").encode("utf-8")
        whole = len(constant) // BASE64_GROUP * BASE64_GROUP
        return _Template(
            headers=headers,
            body_lines=_b64_lines(constant[:whole]),
            body_rest=constant[whole:],
            domain=self.domain,
        )


def _id_left(key: str) -> str:
    """A Message-ID left part from any key: characters outside dot-atom-text become "-"."""
    return re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]", "-", key) or "message"


def _first_failure(replies: list[tuple[int, str]]) -> tuple[int, int, str] | None:
    """(stage, code, text) of the first of MAIL, RCPT that failed, or None."""
    for stage, (code, text) in enumerate(replies[:2]):
        if code >= 300:
            return stage, code, text
    return None


def _refused(item: _Item, stage: int, code: int, text: str) -> Result:
    """The answer for a transaction refused at MAIL (0), RCPT (1) or DATA (2)."""
    delivery_id = item.message.delivery_id
    detail = _short(code, text)
    lowered = text.lower()
    if code < 500 or stage == 0 or code == 530 or "relay" in lowered or "authenticat" in lowered:
        # 4xx, a refused sender, or the server wanting authentication or refusing to relay:
        # nothing the subscriber's address can be blamed for (and stopping every subscriber
        # because of a configuration mistake would be a disaster).
        return Result(delivery_id, "temporary", detail)
    return Result(delivery_id, "permanent", detail)


def _after_content(item: _Item, code: int, text: str) -> Result:
    delivery_id = item.message.delivery_id
    if 200 <= code < 300:
        match = _QUEUED_AS.search(text)
        if match:
            ref = match.group(1)
        else:
            ref = _ENHANCED.sub("", text, count=1) if _ENHANCED.match(text) else text
        return Result(delivery_id, "delivered", _short(code, text), ref.strip()[:64])
    return _refused(item, 2, code, text)


def _io_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the SMTP server did not answer in time"
    return f"connection to the SMTP server lost: {exc}"[:200]


def _connect_error(host: str, port: int, exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        reason = "timed out"
    elif isinstance(exc, SmtpError):
        reason = str(exc)
    else:
        reason = str(exc) or type(exc).__name__
    return f"cannot connect to the SMTP server {host}:{port}: {reason}"[:200]
