"""A local SMTP sink: accepts every message and keeps it, for the demo, tests and the benchmark.

Built on aiosmtpd's protocol class, with the parts that cost per message replaced: the
message content is read in one ``readuntil`` instead of line by line, addresses in the usual
``<local@domain>`` form skip the RFC 5322 parser, replies to pipelined commands go out in one
write (RFC 2920: answer when the input buffer is empty), and Message-ID, Subject and
Content-Language are found with one regular expression over the header bytes instead of
parsing the message. It advertises PIPELINING, 8BITMIME and SMTPUTF8.

What arrived is kept in memory (:attr:`SmtpSink.received`) and, given a directory, on disk:
each message as ``<seq>.eml`` and one JSON line per message in ``index.jsonl``, read back with
:func:`read_store` and :func:`read_message`. Like a mailbox, the sink counts per recipient the
distinct Message-IDs it got (:meth:`SmtpSink.mailbox_counts`): a message resent with the same
Message-ID is one more SMTP transaction (see :meth:`SmtpSink.duplicates`) but not one more
message in the resident's mailbox.

Faults for tests: :attr:`SmtpSink.refuse` (550 on RCPT for these addresses or ``@domains``),
:meth:`SmtpSink.fail_next` (451 after DATA for the next N messages) and
:meth:`SmtpSink.drop_after` (close the connection instead of answering, after N messages).

Run it alone with ``python -m machi.notify.peers.smtp_sink --port 8025 --dir DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.errors
import email.header
import email.parser
import email.policy
import json
import logging
import os
import queue
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NamedTuple

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

INDEX_NAME = "index.jsonl"
# Bigger messages are read to their end and refused (552), like a real server's size limit.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024

# The common "<local@domain> PARAMS" form; anything else goes to aiosmtpd's full parser.
_SIMPLE_ADDRESS = re.compile(r"\s*<([^<>\s\"()\\,;:@]+@[A-Za-z0-9.\-\[\]:_]+)>\s*(.*)\Z", re.S)
# Message-ID, Subject and Content-Language with their folded continuation lines.
_HEADERS = re.compile(
    rb"^(message-id|subject|content-language)[ \t]*:[ \t]*((?:[^\r\n]*)(?:\r\n[ \t][^\r\n]*)*)",
    re.I | re.M,
)


class Received(NamedTuple):
    """One accepted SMTP transaction."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the message as received (dot-stuffing undone, CRLF line ends)
    message_id: str  # as in the header, with its angle brackets; "" when there is none
    at: float  # time.time() when accepted


class _Faults:
    def __init__(self) -> None:
        self.temporary = 0  # answer 451 to the next N messages
        self.drop_in: int | None = None  # accept N more, then drop the connection on the next
        self.drop_times = 0  # how many messages in a row are dropped
        self.keep_dropped = True


class SmtpSink:
    """An SMTP server that keeps every message. ``port=0`` picks a free port (see ``.port``)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        directory: str | os.PathLike[str] | None = None,
        *,
        keep: int | None = None,
        hostname: str = "machi-sink.localhost",
        pipelining: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.directory = Path(directory) if directory is not None else None
        self.hostname = hostname
        # False: PIPELINING is not advertised (to test clients against a plain server).
        self.pipelining = pipelining
        # The newest ``keep`` transactions in memory (None: all of them).
        self.received: deque[Received] = deque(maxlen=keep)
        # Addresses (lower case) or "@domain" answered 550 at RCPT.
        self.refuse: set[str] = set()
        self.count = 0  # transactions accepted
        self.connections = 0  # connections accepted
        self.pipelined = 0  # transactions whose MAIL came with the following commands
        self.faults = _Faults()
        self._lock = threading.Lock()
        self._mailboxes: dict[str, set[str]] = {}
        self._anonymous: dict[str, int] = {}  # messages without a Message-ID, per recipient
        self._duplicates: list[Received] = []
        self._seq = 0
        self._store: _Store | None = None
        self._server: asyncio.Server | None = None
        self._protocols: set[_SinkSMTP] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- faults

    def fail_next(self, count: int) -> None:
        """Answer ``451`` (try again later) after DATA to the next ``count`` messages."""
        self.faults.temporary = count

    def drop_after(self, count: int, *, keep: bool = True, times: int = 1) -> None:
        """Accept ``count`` more messages, then close the connection instead of answering the
        next one's DATA (``times`` messages in a row). With ``keep`` a dropped message is
        stored anyway: the server took it but the client never heard, so it will send it
        again (a duplicate transaction)."""
        self.faults.drop_in = count
        self.faults.drop_times = times
        self.faults.keep_dropped = keep

    # -- what arrived

    def mailbox_counts(self) -> dict[str, int]:
        """Distinct messages (by Message-ID) each recipient got."""
        with self._lock:
            counts = {rcpt: len(ids) for rcpt, ids in self._mailboxes.items()}
            for rcpt, extra in self._anonymous.items():
                counts[rcpt] = counts.get(rcpt, 0) + extra
            return counts

    def duplicates(self) -> list[Received]:
        """Transactions whose Message-ID a recipient had already got (resends)."""
        with self._lock:
            return list(self._duplicates)

    def flush(self) -> None:
        """Wait until every message accepted so far is in the disk store (if there is one)."""
        if self._store is not None:
            self._store.flush()

    def clear(self) -> None:
        """Forget what arrived (memory only; the disk store stays)."""
        with self._lock:
            self.received.clear()
            self._mailboxes.clear()
            self._anonymous.clear()
            self._duplicates.clear()
            self.count = 0
            self.pipelined = 0

    # -- serving

    async def listen(self) -> asyncio.Server:
        """Listen in the running loop; ``.port`` is then the actual port."""
        # aiosmtpd logs every command at INFO; at tens of thousands of messages that logging
        # would cost more than the SMTP itself. A level set on purpose is left alone.
        mail_log = logging.getLogger("mail.log")
        if mail_log.level == logging.NOTSET:
            mail_log.setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        self._loop = loop
        server = await loop.create_server(
            lambda: _SinkSMTP(self, loop), host=self.host, port=self.port
        )
        # Only now (the port is ours), and before any client can send: no await in between.
        self._open_store()
        self._server = server
        self.port = int(server.sockets[0].getsockname()[1])
        return server

    async def aclose(self) -> None:
        """Stop listening and close every connection (in the sink's loop)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for protocol in list(self._protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        await asyncio.sleep(0)
        if self._store is not None:
            self._store.close()
            self._store = None

    async def serve(
        self, stop: asyncio.Event, on_listening: Callable[[SmtpSink], None] | None = None
    ) -> None:
        """Serve in the running loop until ``stop`` is set."""
        await self.listen()
        try:
            if on_listening is not None:
                on_listening(self)
            await stop.wait()
        finally:
            await self.aclose()

    def start(self) -> SmtpSink:
        """Serve from a background thread; returns once listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.listen())
            except BaseException as exc:  # handed to the caller of start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
                loop.run_until_complete(self.aclose())
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.wait(tasks, timeout=5))
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="smtp-sink", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- called by the protocol, in the sink's loop

    def _accept(self, envelope: Envelope, data: bytes) -> str | None:
        """Keep one message. Returns the reply; None: drop the connection instead."""
        faults = self.faults
        if faults.temporary > 0:
            faults.temporary -= 1
            return "451 4.3.0 Temporary failure, try again later (sink fault)"
        drop = False
        if faults.drop_in is not None:
            if faults.drop_in <= 0:
                faults.drop_times -= 1
                if faults.drop_times <= 0:
                    faults.drop_in = None
                drop = True
                if not faults.keep_dropped:
                    return None
            else:
                faults.drop_in -= 1
        end = data.find(b"\r\n\r\n")
        head = data if end < 0 else data[: end + 2]
        message_id = ""
        subject = b""
        language = ""
        for match in _HEADERS.finditer(head):
            name = match.group(1).lower()
            if name == b"message-id":
                message_id = match.group(2).strip().decode("ascii", "replace")
            elif name == b"subject":
                subject = match.group(2)
            else:
                language = match.group(2).strip().decode("ascii", "replace")
        rcpt_tos = list(envelope.rcpt_tos)
        mail_from = str(envelope.mail_from or "")
        at = time.time()
        with self._lock:
            self._seq += 1
            seq = self._seq
            self.count += 1
            record = Received(mail_from, rcpt_tos, data, message_id, at)
            self.received.append(record)
            seen = False
            for rcpt in rcpt_tos:
                key = rcpt.lower()
                if not message_id:
                    self._anonymous[key] = self._anonymous.get(key, 0) + 1
                    continue
                ids = self._mailboxes.get(key)
                if ids is None:
                    self._mailboxes[key] = {message_id}
                elif message_id in ids:
                    seen = True
                else:
                    ids.add(message_id)
            if seen:
                self._duplicates.append(record)
        if self._store is not None:
            self._store.put(seq, record, subject, language)
        return None if drop else f"250 2.0.0 Ok: queued as {seq}"

    # -- the disk store

    def _open_store(self) -> None:
        if self.directory is not None and self._store is None:
            self._store = _Store(self.directory)
            self._seq = self._store.last_seq


_Job = tuple[int, Received, bytes, str] | threading.Event | None


class _Store:
    """Writes messages to disk from its own thread.

    Creating a file per message costs more than the SMTP exchange; in a thread it no longer
    holds up the event loop (the system calls run without the GIL). Each message's file is
    written before its index line, so a reader never finds an entry without its file.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.last_seq = 0
        last = _tail_lines(directory / INDEX_NAME, 1)
        if last:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.last_seq = int(json.loads(last[0])["seq"])
        # A message to write, an event to set once all before it are written, or None: stop.
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._subjects: dict[bytes, str] = {}
        self._thread = threading.Thread(target=self._run, name="smtp-sink-store", daemon=True)
        self._thread.start()

    def put(self, seq: int, record: Received, subject: bytes, language: str) -> None:
        self._queue.put((seq, record, subject, language))

    def flush(self, timeout: float = 30) -> None:
        """Wait until every message queued so far is on disk."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        directory = str(self.directory)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        with open(self.directory / INDEX_NAME, "a", encoding="utf-8") as index:
            while True:
                job = self._queue.get()
                lines: list[str] = []
                flushed: list[threading.Event] = []
                while job is not None:
                    if isinstance(job, threading.Event):
                        flushed.append(job)
                        if self._queue.empty():
                            break
                        job = self._queue.get()
                        continue
                    seq, record, subject, language = job
                    try:
                        handle = os.open(os.path.join(directory, f"{seq}.eml"), flags, 0o644)
                        try:
                            os.write(handle, record.data)
                        finally:
                            os.close(handle)
                    except Exception:
                        # A full disk must not stop the sink (nor this thread): the message is
                        # still in memory.
                        log.exception("smtp sink: cannot store message %s", seq)
                    else:
                        entry = {
                            "seq": seq,
                            "at": datetime.fromtimestamp(record.at, UTC).isoformat(
                                timespec="milliseconds"
                            ),
                            "mail_from": record.mail_from,
                            "rcpt_tos": record.rcpt_tos,
                            "message_id": record.message_id,
                            "subject": self._subject(subject),
                            "language": language,
                        }
                        lines.append(json.dumps(entry, ensure_ascii=False) + "\n")
                    if self._queue.empty() or len(lines) >= 1000:
                        break
                    job = self._queue.get()
                if lines:
                    # One write and flush per burst: a reader sees the entries at once.
                    try:
                        index.write("".join(lines))
                        index.flush()
                    except OSError:
                        log.exception("smtp sink: cannot write %s", INDEX_NAME)
                for event in flushed:
                    event.set()
                if job is None:
                    return

    def _subject(self, raw: bytes) -> str:
        # A broadcast's messages share one subject: decode each distinct one once.
        text = self._subjects.get(raw)
        if text is None:
            unfolded = re.sub(rb"\r\n(?=[ \t])", b"", raw).decode("utf-8", "replace")
            try:
                text = str(email.header.make_header(email.header.decode_header(unfolded)))
            except (ValueError, LookupError, email.errors.HeaderParseError):
                text = unfolded
            if len(self._subjects) > 256:
                self._subjects.clear()
            self._subjects[raw] = text
        return text


class _SinkSMTP(SMTP):
    """aiosmtpd's protocol with a cheap DATA, batched replies and fault injection."""

    # aiosmtpd sizes the StreamReader's buffer limit with this (1001 by default), which makes
    # the transport pause reading every 2 KB; our DATA does not read line by line, so a
    # bigger buffer only means fewer pauses. Command lines are still limited by
    # command_size_limit.
    line_length_limit = 1 << 16

    def __init__(self, sink: SmtpSink, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(
            _Handler(sink),
            hostname=sink.hostname,
            ident="Machi SMTP sink",
            enable_SMTPUTF8=True,
            data_size_limit=MAX_MESSAGE_BYTES,
            auth_require_tls=True,
            loop=loop,
        )
        self.sink = sink
        self._pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.sink._protocols.add(self)
        self.sink.connections += 1

    def connection_lost(self, error: Exception | None) -> None:
        self.sink._protocols.discard(self)
        super().connection_lost(error)

    def _more_input(self) -> bool:
        """Whether a whole command line is already waiting (the client pipelines)."""
        buffer: bytearray = self._reader._buffer  # type: ignore[attr-defined]
        return b"\n" in buffer

    async def push(self, status: str | bytes) -> None:
        # RFC 2920: replies to a group of pipelined commands may wait until the input buffer
        # holds no further command, then leave together: one write, one wake-up of the client.
        response = status.encode("utf-8") if isinstance(status, str) else status
        self._pending.append(response + b"\r\n")
        if self._more_input():
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._writer.write(data)
        await self._writer.drain()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _SIMPLE_ADDRESS.match(arg)
        if match is not None:
            return match.group(1), match.group(2)
        return super()._getaddr(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if self._more_input():
            self.sink.pipelined += 1
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        envelope = self.envelope
        if envelope is None or not envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        data = await self._read_content()
        if data is None:
            self._set_post_data_state()
            await self.push("552 5.3.4 Error: message too big")
            return
        reply = self.sink._accept(envelope, data)
        self._set_post_data_state()
        if reply is None:
            # Fault: the server "crashed" before answering. What was waiting to be sent is lost
            # with the connection, as it would be.
            # abort(), not close(): nothing more may be written, not even answers to commands
            # the client pipelined behind this message.
            self._pending.clear()
            if isinstance(self.transport, asyncio.WriteTransport):
                self.transport.abort()
            return
        await self.push(reply)

    async def _read_content(self) -> bytes | None:
        """The message up to the lone dot, dot-stuffing undone; None when it is too big."""
        reader = self._reader
        buffer = bytearray()
        too_big = False
        first = True
        while True:
            try:
                chunk = await reader.readuntil(b".\r\n")
            except asyncio.LimitOverrunError as exc:
                # No terminator within the buffer limit: take what is safe and look again.
                buffer += await reader.readexactly(exc.consumed)
                first = False
            else:
                buffer += chunk
                # The terminator is CRLF "." CRLF: a dot alone on a line (the content's last
                # CRLF belongs to it), or the very first line when the message is empty.
                if buffer.endswith(b"\r\n.\r\n") or (first and buffer == b".\r\n"):
                    break
                first = False
            if len(buffer) > MAX_MESSAGE_BYTES:
                too_big = True
                del buffer[:-5]  # keep reading to the end, keep only what finds it
        if too_big:
            return None
        del buffer[-3:]
        # RFC 5321 4.5.2: a line that starts with a dot loses that dot.
        if buffer[:1] == b".":
            del buffer[:1]
        return bytes(buffer).replace(b"\r\n.", b"\r\n")


class _Handler:
    """aiosmtpd hooks: PIPELINING in EHLO, refused recipients."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if not self.sink.pipelining:
            return responses
        # aiosmtpd has no PIPELINING of its own but reads commands in order from one stream,
        # which is all RFC 2920 asks of a server; _SinkSMTP.push batches the replies.
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refuse = self.sink.refuse
        if refuse:
            lowered = address.lower()
            if lowered in refuse or "@" + lowered.rpartition("@")[2] in refuse:
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"


# -- reading the disk store


def _tail_lines(path: Path, count: int) -> list[bytes]:
    """The last ``count`` complete lines of a file, oldest first (reads from the end)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return []
    with handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        block = 64 * 1024
        while position > 0 and data.count(b"\n") <= count:
            step = min(block, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
        lines = [line for line in data.split(b"\n") if line.strip()]
        if position > 0:
            lines = lines[1:]  # the first one may be cut
        return lines[-count:] if count > 0 else []


def read_store(directory: str | os.PathLike[str], limit: int = 100) -> list[dict[str, Any]]:
    """The index entries of the last ``limit`` messages stored, newest first."""
    entries: list[dict[str, Any]] = []
    for line in reversed(_tail_lines(Path(directory) / INDEX_NAME, limit + 1)):
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if isinstance(entry, dict):
            entries.append(entry)
        if len(entries) >= limit:
            break
    return entries


def read_message(directory: str | os.PathLike[str], seq: int) -> EmailMessage:
    """Message ``seq`` of the store, parsed. FileNotFoundError when there is none."""
    path = Path(directory) / f"{int(seq)}.eml"
    parser = email.parser.BytesParser(_class=EmailMessage, policy=email.policy.default)
    return parser.parsebytes(path.read_bytes())


# -- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m machi.notify.peers.smtp_sink",
        description="A local SMTP server that accepts every message and keeps it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default %(default)s)")
    parser.add_argument("--port", type=int, default=8025, help="port (default %(default)s)")
    parser.add_argument("--dir", default=None, help="store messages in this directory")
    parser.add_argument(
        "--keep", type=int, default=1000, help="messages kept in memory (default %(default)s)"
    )
    options = parser.parse_args(argv)
    sink = SmtpSink(options.host, options.port, options.dir, keep=options.keep)
    try:
        asyncio.run(run_until_signal(sink, lambda s: print(listening_line(s), flush=True)))
    except OSError as exc:
        print(f"cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def listening_line(sink: SmtpSink) -> str:
    where = f" storing in {sink.directory}" if sink.directory is not None else ""
    return f"SMTP sink listening on {sink.host}:{sink.port}{where}"


async def run_until_signal(sink: SmtpSink, on_listening: Callable[[SmtpSink], None]) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows, nor outside the main thread: Ctrl-C then works as usual.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    await sink.serve(stop, on_listening)


if __name__ == "__main__":
    raise SystemExit(main())
