"""The e-mail channel against the local SMTP sink: headers, pipelining, answers, resends."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import socket
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.core.management.base import CommandError

from machi.notify.channels.base import Message, Result
from machi.notify.channels.email import EmailChannel
from machi.notify.management.commands import notify_sink
from machi.notify.peers.smtp_sink import SmtpSink, read_message, read_store

SUBJECT = "【防災訓練】市内全域でサイレンを鳴らします"
BODY = (
    "本日午後2時から防災訓練を行います。\n"
    "サイレンが鳴りますが、実際の災害ではありません。\n"
    ".この行は点で始まります"
)
SITE = "https://city.example.jp"


def make(i: int, *, language: str = "ja", emergency: bool = False, **kw: Any) -> Message:
    values: dict[str, Any] = {
        "delivery_id": i,
        "key": f"b3f1c0de-{i}",
        "address": f"resident{i}@example.jp",
        "language": language,
        "subject": SUBJECT if language == "ja" else "Disaster drill: sirens city-wide",
        "body": BODY if language == "ja" else "A drill this afternoon. It is not a disaster.",
        "short": "防災訓練",
        "url": f"{SITE}/notify/m/1",
        "manage_url": f"{SITE}/notify/manage/{i}/sig",
        "unsubscribe_url": f"{SITE}/notify/unsubscribe/{i}/sig",
        "emergency": emergency,
    }
    values.update(kw)
    return Message(**values)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def send(channel: EmailChannel, *batches: list[Message]) -> list[Result]:
    """Each batch through ``send`` in one event loop (connections are kept between them)."""

    async def run() -> list[Result]:
        await channel.open()
        results: list[Result] = []
        try:
            for batch in batches:
                results += await channel.send(batch)
        finally:
            await channel.close()
        return results

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def by_id(results: list[Result]) -> dict[int, Result]:
    return {result.delivery_id: result for result in results}


@pytest.fixture
def mail_settings(settings: Any) -> Any:
    settings.MACHI_NOTIFY_EMAIL_FROM = "お知らせ <notify@city.example.jp>"
    settings.MACHI_NOTIFY_EMAIL_NAME = "まち市 防災メール"
    settings.MACHI_NOTIFY_EMAIL_CONNECTIONS = 4
    settings.MACHI_NOTIFY_RATES = {}
    settings.MACHI_PUBLIC_URL = SITE
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    return settings


@pytest.fixture
def sink(tmp_path: Path, mail_settings: Any) -> Iterator[SmtpSink]:
    server = SmtpSink(directory=tmp_path / "mailsink").start()
    mail_settings.MACHI_NOTIFY_SMTP_HOST = server.host
    mail_settings.MACHI_NOTIFY_SMTP_PORT = server.port
    try:
        yield server
    finally:
        server.stop()


def test_a_broadcast_arrives_with_its_headers(sink: SmtpSink) -> None:
    messages = [make(i, language="en" if i % 5 == 0 else "ja") for i in range(500)]
    channel = EmailChannel()

    results = send(channel, messages)

    assert Counter(r.outcome for r in results) == {"delivered": 500}
    assert sorted(r.delivery_id for r in results) == list(range(500))
    assert all(r.provider_ref.isdigit() for r in results)  # the sink's "queued as <seq>"
    assert sink.count == 500
    arrived = {record.rcpt_tos[0]: record for record in sink.received}
    for message in messages:
        record = arrived[message.address]
        assert record.mail_from == "notify@city.example.jp"
        parsed = parse(record.data)
        assert parsed["To"] == message.address
        assert parsed["Message-ID"] == f"<{message.key}@city.example.jp>"
        assert record.message_id == parsed["Message-ID"]
        assert parsed["Subject"] == message.subject
        assert parsed["From"].addresses[0].display_name == "まち市 防災メール"
        assert parsed["From"].addresses[0].addr_spec == "notify@city.example.jp"
        assert parsed["List-Unsubscribe"] == f"<{message.unsubscribe_url}>"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed["List-Id"] == "<notify.city.example.jp>"
        assert parsed["Auto-Submitted"] == "auto-generated"
        assert parsed["Content-Language"] == message.language
        assert parsed["Date"] is not None
        assert parsed["Importance"] is None
        assert parsed.get_content_type() == "text/plain"
        assert parsed.get_content_charset() == "utf-8"
        assert parsed["Content-Transfer-Encoding"] == "base64"
        text = text_of(parsed)
        assert text.replace("\r\n", "\n").startswith(f"{message.body}\n\n{message.url}\n")
        assert message.url in text
        assert message.manage_url in text
        if message.language == "en":
            assert "Change or stop these messages" in text
            assert "配信の変更・停止はこちら" not in text
        else:
            assert "配信の変更・停止はこちら" in text
        # 7-bit on the wire, lines within RFC 5322's limit.
        assert record.data.isascii()
        assert max(len(line) for line in record.data.split(b"\r\n")) <= 998


def test_emergency_messages_are_marked_important(sink: SmtpSink) -> None:
    send(EmailChannel(), [make(1, emergency=True)])

    parsed = parse(sink.received[0].data)
    assert parsed["Importance"] == "high"
    assert parsed["X-Priority"] == "1"


def test_pipelining_is_used_when_offered(sink: SmtpSink) -> None:
    channel = EmailChannel(connections=2)

    results = send(channel, [make(i) for i in range(100)])

    assert all(r.outcome == "delivered" for r in results)
    assert sink.pipelined == 100  # MAIL came with RCPT and DATA in the same write
    assert channel.stats["connects"] == 2
    # One round trip per message, plus the last content of each connection.
    assert channel.stats["round_trips"] <= 100 + 2


def test_without_pipelining_commands_go_one_by_one(tmp_path: Path, mail_settings: Any) -> None:
    with SmtpSink(pipelining=False) as plain:
        plain.refuse = {"resident3@example.jp"}
        channel = EmailChannel(host=plain.host, port=plain.port, connections=1)

        results = by_id(send(channel, [make(i) for i in range(10)]))

        assert plain.pipelined == 0
        assert channel.stats["pipelined"] == 0
        assert results[3].outcome == "permanent"
        assert [results[i].outcome for i in range(10) if i != 3] == ["delivered"] * 9
        assert plain.count == 9


@pytest.mark.parametrize("connections", [1, 3])
def test_unknown_user_is_permanent_and_the_rest_still_arrive(
    sink: SmtpSink, connections: int
) -> None:
    sink.refuse = {"resident2@example.jp", "resident7@example.jp"}

    results = by_id(send(EmailChannel(connections=connections), [make(i) for i in range(10)]))

    assert results[2].outcome == results[7].outcome == "permanent"
    assert results[2].detail.startswith("550")
    assert sum(r.outcome == "delivered" for r in results.values()) == 8
    assert sink.count == 8


def test_temporary_failure_is_temporary(sink: SmtpSink) -> None:
    sink.fail_next(3)

    results = send(EmailChannel(connections=1), [make(i) for i in range(10)])

    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {"temporary": 3, "delivered": 7}
    assert all(r.detail.startswith("451") for r in results if r.outcome == "temporary")
    assert sink.count == 7


def test_connection_refused_is_temporary(mail_settings: Any) -> None:
    channel = EmailChannel(host="127.0.0.1", port=free_port(), connections=2)

    results = send(channel, [make(i) for i in range(5)])

    assert sorted(r.delivery_id for r in results) == list(range(5))
    assert all(r.outcome == "temporary" for r in results)
    assert all("cannot connect" in r.detail for r in results)


@pytest.mark.parametrize("connections", [1, 4])
def test_a_dropped_connection_is_reopened_and_the_message_resent(
    sink: SmtpSink, connections: int
) -> None:
    # The 6th message is stored but its connection closed before the answer: the client
    # cannot know, sends it again on a new connection, and the mailbox sees it once.
    sink.drop_after(5)
    channel = EmailChannel(connections=connections)

    results = send(channel, [make(i) for i in range(40)])

    assert Counter(r.outcome for r in results) == {"delivered": 40}
    assert channel.stats["connects"] == connections + 1
    assert sink.connections == connections + 1
    assert sink.count == 41
    [duplicate] = sink.duplicates()
    assert duplicate.message_id.startswith("<b3f1c0de-")
    assert set(sink.mailbox_counts().values()) == {1}
    assert len(sink.mailbox_counts()) == 40


def test_a_message_is_retried_once_then_temporary(sink: SmtpSink) -> None:
    sink.drop_after(0, keep=False, times=2)

    [result] = send(EmailChannel(connections=1), [make(1)])

    assert result.outcome == "temporary"
    assert "connection" in result.detail
    assert sink.connections == 2
    assert sink.count == 0


def test_a_resent_message_is_one_message_in_the_mailbox(sink: SmtpSink) -> None:
    messages = [make(i) for i in range(3)]
    channel = EmailChannel(connections=1)

    send(channel, messages, [messages[1]])  # the worker died and the delivery went again

    assert sink.count == 4
    assert [d.rcpt_tos for d in sink.duplicates()] == [["resident1@example.jp"]]
    assert sink.mailbox_counts() == {f"resident{i}@example.jp": 1 for i in range(3)}
    # One connection served both sends.
    assert channel.stats["connects"] == 1


def test_invalid_addresses_are_permanent_without_a_transaction(sink: SmtpSink) -> None:
    bad = [
        make(1, address="no-at-sign"),
        make(2, address="a@b.jp\r\nBcc: x@y.jp"),
        make(3, address="<a@b.jp>"),
    ]

    results = send(EmailChannel(), [*bad, make(4)])

    assert [r.outcome for r in sorted(results, key=lambda r: r.delivery_id)] == [
        "permanent",
        "permanent",
        "permanent",
        "delivered",
    ]
    assert sink.count == 1


def test_disk_store_and_readers(sink: SmtpSink, tmp_path: Path) -> None:
    send(EmailChannel(connections=1), [make(1), make(2, language="en")])
    sink.flush()
    directory = tmp_path / "mailsink"

    entries = read_store(directory)

    assert [e["seq"] for e in entries] == [2, 1]  # newest first
    assert entries[1]["subject"] == SUBJECT
    assert entries[1]["language"] == "ja"
    assert entries[0]["language"] == "en"
    assert entries[1]["rcpt_tos"] == ["resident1@example.jp"]
    assert entries[1]["message_id"] == "<b3f1c0de-1@city.example.jp>"
    assert entries[1]["mail_from"] == "notify@city.example.jp"
    assert read_store(directory, limit=1) == entries[:1]
    message = read_message(directory, 1)
    assert message["Subject"] == SUBJECT
    assert "配信の変更・停止はこちら" in text_of(message)
    with pytest.raises(FileNotFoundError):
        read_message(directory, 99)


def test_a_restarted_sink_numbers_on(tmp_path: Path) -> None:
    import smtplib

    for expected in (1, 2):
        with SmtpSink(directory=tmp_path) as server, smtplib.SMTP(server.host, server.port) as c:
            c.sendmail("a@city.example.jp", ["b@example.jp"], b"Subject: hi\r\n\r\nhello\r\n")
        assert read_store(tmp_path)[0]["seq"] == expected
    assert read_store(tmp_path)[0]["subject"] == "hi"
    assert len(read_store(tmp_path)) == 2


def test_sink_undoes_dot_stuffing(tmp_path: Path) -> None:
    import smtplib

    with SmtpSink() as server, smtplib.SMTP(server.host, server.port) as client:
        client.sendmail("a@x.jp", ["b@y.jp"], b"Subject: dots\r\n\r\n.one\r\n..two\r\nend\r\n")
        client.sendmail("a@x.jp", ["b@y.jp"], b"")
    assert server.received[0].data == b"Subject: dots\r\n\r\n.one\r\n..two\r\nend\r\n"
    assert len(server.received) == 2


class _Auth:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, bytes]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        self.seen.append((mechanism, data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)


class _Collect:
    def __init__(self, *first_replies: str) -> None:
        self.messages: list[bytes] = []
        self.replies = list(first_replies)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(envelope.original_content)
        return "250 2.0.0 Ok: queued as ABC123"


def test_421_closes_the_connection_and_the_message_goes_again(mail_settings: Any) -> None:
    collect = _Collect("421 4.3.2 Shutting down")
    port = free_port()
    controller = Controller(collect, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = EmailChannel(host="127.0.0.1", port=port, connections=1)

        results = send(channel, [make(1), make(2)])

        assert [r.outcome for r in results] == ["delivered", "delivered"]
        assert channel.stats["connects"] == 2
        assert len(collect.messages) == 2
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_authenticates_when_a_user_is_set(mail_settings: Any, mechanism: str) -> None:
    auth, collect = _Auth(), _Collect()
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    port = free_port()
    controller = Controller(
        collect,
        hostname="127.0.0.1",
        port=port,
        authenticator=auth,
        auth_require_tls=False,
        auth_required=True,
        auth_exclude_mechanism=[other],
    )
    controller.start()
    try:
        mail_settings.EMAIL_HOST_USER = "machi"
        mail_settings.EMAIL_HOST_PASSWORD = "s3cret"
        channel = EmailChannel(host="127.0.0.1", port=port, connections=1)

        [result] = send(channel, [make(1)])

        assert result.outcome == "delivered"
        assert result.provider_ref == "ABC123"
        assert auth.seen == [(mechanism, b"machi", b"s3cret")]
        assert parse(collect.messages[0])["Subject"] == SUBJECT

        mail_settings.EMAIL_HOST_PASSWORD = "wrong"
        channel = EmailChannel(host="127.0.0.1", port=port, connect_timeout=5)
        [result] = send(channel, [make(2)])
        assert result.outcome == "temporary"
        assert "535" in result.detail
    finally:
        controller.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_starttls_then_auth(mail_settings: Any, tmp_path: Path) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    auth, collect = _Auth(), _Collect()
    port = free_port()
    controller = Controller(
        collect,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        authenticator=auth,
        auth_required=True,
    )
    controller.start()
    try:
        mail_settings.EMAIL_USE_TLS = True
        mail_settings.EMAIL_HOST_USER = "machi"
        mail_settings.EMAIL_HOST_PASSWORD = "s3cret"
        client_context = ssl.create_default_context(cafile=str(cert))
        channel = EmailChannel(host="127.0.0.1", port=port, ssl_context=client_context)

        results = send(channel, [make(1), make(2)])

        assert [r.outcome for r in results] == ["delivered", "delivered"]
        assert auth.seen == [("PLAIN", b"machi", b"s3cret")] * 2
        assert len(collect.messages) == 2

        # The system's trust store does not know this certificate: nothing is sent.
        [result] = send(EmailChannel(host="127.0.0.1", port=port), [make(3)])
        assert result.outcome == "temporary"
        assert "certificate" in result.detail.lower()
    finally:
        controller.stop()


def test_message_id_is_stable_and_safe(sink: SmtpSink) -> None:
    send(EmailChannel(connections=1), [make(1, key="weird key<>@x"), make(2)])

    ids = [record.message_id for record in sink.received]
    assert ids[0] == "<weird-key---x@city.example.jp>"
    assert ids[1] == "<b3f1c0de-2@city.example.jp>"


def test_body_base64_is_exact(sink: SmtpSink) -> None:
    # The constant part is encoded once per broadcast and the per-recipient rest appended:
    # the joined base64 must still decode to exactly the whole text.
    for length in range(50, 70):
        send(EmailChannel(connections=1), [make(length, body="あ" * length)])
    for record in sink.received:
        raw = record.data.split(b"\r\n\r\n", 1)[1]
        text = base64.b64decode(raw, validate=False).decode("utf-8")
        assert text.startswith("あ")
        assert text.endswith("/sig\r\n")


def test_notify_sink_command_options(settings: Any, tmp_path: Path) -> None:
    settings.MACHI_NOTIFY_SINK_PORT = 2525
    command = notify_sink.Command()
    parser = command.create_parser("machi", "notify_sink")

    defaults = parser.parse_args([])
    assert defaults.port == 2525
    assert defaults.dir is None
    assert notify_sink.default_directory() == Path(settings.DATA_DIR) / "mailsink"
    given = parser.parse_args(["--port", "0", "--dir", str(tmp_path)])
    assert given.port == 0
    assert given.dir == tmp_path
    with pytest.raises(CommandError):
        parser.parse_args(["--port", "70000"])
