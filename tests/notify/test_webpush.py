"""Web Push end to end against the loopback push service: VAPID, encryption, Topic, the answers
a push service gives and what each becomes, and the stub's own checks."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core.exceptions import ImproperlyConfigured

from machi.notify import vapid
from machi.notify.channels import base
from machi.notify.channels.base import Message, Result, TokenBucket
from machi.notify.channels.webpush import (
    MAX_PLAINTEXT,
    WebPushChannel,
    payload,
    retry_after,
    tag_for,
    topic_for,
)
from machi.notify.peers.push_service import PushService, subscription_id

BROADCAST = "8c1f0e4e11114a2b9c3d5e6f7a8b9c0d"
SUBJECT = "mailto:bousai@city.example.jp"


def raw_key(key: ec.EllipticCurvePrivateKey) -> str:
    return vapid.b64url(key.private_numbers().private_value.to_bytes(32, "big"))


@pytest.fixture
def vapid_key(settings: Any) -> Iterator[ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    settings.MACHI_NOTIFY_VAPID_PRIVATE_KEY = raw_key(key)
    settings.MACHI_NOTIFY_VAPID_SUBJECT = SUBJECT
    settings.MACHI_NOTIFY_RATES = {}
    vapid.forget()
    yield key
    vapid.forget()


@pytest.fixture
def service(vapid_key: ec.EllipticCurvePrivateKey) -> Iterator[PushService]:
    with PushService() as stub:
        yield stub


def subscribe(service: PushService, *, restricted: bool = True) -> dict[str, Any]:
    """A browser subscribing with our applicationServerKey, as push.js does."""
    return service.create_subscription(vapid.public_key_b64url() if restricted else None)


def message(subscription: dict[str, Any], delivery_id: int = 1, **overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "delivery_id": delivery_id,
        "key": f"{BROADCAST}-{delivery_id}",
        "address": subscription["endpoint"],
        "language": "ja",
        "subject": "【防災】避難所を開設しました",
        "body": "市内の避難所を開設しました。詳しくは市のサイトをご覧ください。",
        "short": "市内の避難所を開設しました。",
        "url": f"https://city.example.jp/notify/messages/{BROADCAST}/",
        "manage_url": "https://city.example.jp/notify/manage/t/",
        "unsubscribe_url": "https://city.example.jp/notify/unsubscribe/t/",
        "push_keys": subscription["keys"],
    }
    fields.update(overrides)
    return Message(**fields)


def send(messages: list[Message], **options: Any) -> list[Result]:
    async def run() -> list[Result]:
        channel = WebPushChannel(**options)
        await channel.open()
        try:
            return await channel.send(messages)
        finally:
            await channel.close()

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- VAPID ---------------------------------------------------------------------------------------


def test_vapid_header_is_a_valid_es256_jwt(vapid_key: ec.EllipticCurvePrivateKey) -> None:
    header = vapid.authorization_header("https://push.example.net/wpush/v2/abc?x=1")
    match = re.fullmatch(r"vapid t=([\w-]+\.[\w-]+\.[\w-]+), k=([\w-]+)", header)
    assert match is not None
    token, k = match.groups()
    assert k == vapid.public_key_b64url()
    public = vapid_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert decode(k) == public
    head, claims, signature = token.split(".")
    assert json.loads(decode(head)) == {"typ": "JWT", "alg": "ES256"}
    raw = decode(signature)
    assert len(raw) == 64  # r||s, not DER
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public).verify(
        der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256())
    )  # raises if wrong
    body = json.loads(decode(claims))
    assert body["aud"] == "https://push.example.net"
    assert body["sub"] == SUBJECT
    assert time.time() < body["exp"] <= time.time() + 24 * 3600


def test_vapid_header_is_reused_per_origin(vapid_key: ec.EllipticCurvePrivateKey) -> None:
    first = vapid.authorization_header("https://fcm.googleapis.com/fcm/send/aaa")
    assert vapid.authorization_header("https://fcm.googleapis.com/fcm/send/bbb") == first
    assert vapid.authorization_header("https://updates.push.services.mozilla.com/x") != first


@pytest.mark.parametrize(
    ("endpoint", "aud"),
    [
        ("https://Push.Example.net:443/a", "https://push.example.net"),
        ("https://push.example.net:8443/a", "https://push.example.net:8443"),
        ("http://127.0.0.1:9300/push/x", "http://127.0.0.1:9300"),
        ("http://[::1]:9300/push/x", "http://[::1]:9300"),
    ],
)
def test_audience_is_the_endpoint_origin(endpoint: str, aud: str) -> None:
    assert vapid.audience(endpoint) == aud


def test_key_is_made_once_and_kept_private(settings: Any, tmp_path: Path) -> None:
    settings.MACHI_NOTIFY_VAPID_PRIVATE_KEY = ""
    settings.DATA_DIR = tmp_path
    vapid.forget()
    try:
        public = vapid.public_key_b64url()
        kept = tmp_path / vapid.KEY_FILE_NAME
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert kept.read_text().startswith("-----BEGIN PRIVATE KEY-----")
        assert list(tmp_path.iterdir()) == [kept]  # no partial file left behind
        vapid.forget()  # a restarted process reads the same key
        assert vapid.public_key_b64url() == public
        assert len(decode(public)) == 65
    finally:
        vapid.forget()


def test_configured_key_pem_or_raw(settings: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    try:
        settings.MACHI_NOTIFY_VAPID_PRIVATE_KEY = pem
        from_pem = vapid.public_key_b64url()
        settings.MACHI_NOTIFY_VAPID_PRIVATE_KEY = raw_key(key)
        assert vapid.public_key_b64url() == from_pem
        settings.MACHI_NOTIFY_VAPID_PRIVATE_KEY = "bm90IGEga2V5"
        with pytest.raises(ImproperlyConfigured):
            vapid.private_key()
    finally:
        vapid.forget()


# --- Delivery through the stub -------------------------------------------------------------------


def test_delivers_and_the_user_agent_reads_exactly_the_payload(service: PushService) -> None:
    subscription = subscribe(service)
    msg = message(subscription, 7)

    [result] = send([msg])

    assert result.outcome == "delivered", result
    assert result.delivery_id == 7
    assert result.provider_ref.startswith(f"{service.base_url}/message/")
    [got] = service.received
    assert got.subscription == subscription_id(subscription["endpoint"])
    assert got.payload == {
        "title": "【防災】避難所を開設しました",
        "body": "市内の避難所を開設しました。",
        "url": f"https://city.example.jp/notify/messages/{BROADCAST}/",
        "tag": BROADCAST,
        "emergency": False,
        "lang": "ja",
    }
    assert got.topic == topic_for(msg.key)
    assert got.urgency == "normal"
    assert got.ttl == 86_400
    assert got.vapid_subject == SUBJECT
    assert service.rejected == []


def test_emergency_is_urgent(service: PushService) -> None:
    subscription = subscribe(service)

    [result] = send([message(subscription, emergency=True, ttl=3600, language="en")])

    assert result.outcome == "delivered"
    [got] = service.received
    assert got.urgency == "high"
    assert got.ttl == 3600
    assert got.payload["emergency"] is True
    assert got.payload["lang"] == "en"


def test_many_at_once(service: PushService) -> None:
    subscriptions = [subscribe(service) for _ in range(30)]
    messages = [message(s, i) for i, s in enumerate(subscriptions)]

    results = send(messages, concurrency=4)

    assert sorted(r.delivery_id for r in results) == list(range(30))
    assert {r.outcome for r in results} == {"delivered"}
    assert len(service.by_subscription()) == 30


def test_each_message_has_its_own_ephemeral_key(
    service: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscription = subscribe(service)
    sent: list[bytes] = []
    original = http_ece.encrypt

    def spy(*args: Any, **kwargs: Any) -> Any:
        body = original(*args, **kwargs)
        sent.append(body[21:86])  # the keyid of the aes128gcm header: the sender's public key
        return body

    monkeypatch.setattr(http_ece, "encrypt", spy)
    send([message(subscription, 1), message(subscription, 2)])

    assert len(sent) == 2
    assert sent[0] != sent[1]


def test_topic_is_stable_short_base64url() -> None:
    key = f"{BROADCAST}-123456789"
    topic = topic_for(key)
    assert topic == topic_for(key)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic)
    assert topic_for(f"{BROADCAST}-123456780") != topic
    assert len(topic_for("x" * 500)) <= 32


def test_tag_is_the_broadcast() -> None:
    assert tag_for(f"{BROADCAST}-42") == BROADCAST
    assert tag_for("8c1f0e4e-1111-4a2b-9c3d-5e6f7a8b9c0d-42") == (
        "8c1f0e4e-1111-4a2b-9c3d-5e6f7a8b9c0d"
    )
    assert tag_for("plain") == "plain"


def test_a_resent_message_replaces_the_pending_one(service: PushService) -> None:
    subscription = subscribe(service)
    ident = subscription_id(subscription["endpoint"])
    first = message(subscription, 5)
    other = message(subscription, 6, key="another-broadcast-6", subject="別のお知らせ")

    send([first, other])
    send([first])  # the worker died after sending: the same delivery goes again

    assert len(service.received) == 3
    shown = service.by_subscription()[ident]
    assert [m.topic for m in shown] == [topic_for(other.key), topic_for(first.key)]
    # Once the browser took it, a resend is a second message (the tag then replaces it on
    # screen, which is the service worker's part).
    service.deliver_pending()
    send([first])
    assert len(service.by_subscription()[ident]) == 3


def test_a_long_body_is_shortened_not_refused(service: PushService) -> None:
    subscription = subscribe(service)

    [result] = send([message(subscription, short="避難" * 4000)])

    assert result.outcome == "delivered", result
    [got] = service.received
    assert got.payload["body"].endswith("…")
    assert got.payload["body"].startswith("避難避難")
    assert got.payload["title"] == "【防災】避難所を開設しました"
    encoded = json.dumps(got.payload, ensure_ascii=False, separators=(",", ":")).encode()
    assert MAX_PLAINTEXT - 10 < len(encoded) <= MAX_PLAINTEXT


@pytest.mark.parametrize("text", ['"\\\n' * 3000, "a" * 10_000, "😀" * 2000, "\x01" * 2000])
def test_payload_fits_whatever_the_escaping(text: str) -> None:
    data = payload(message({"endpoint": "https://p.example/x", "keys": {}}, short=text))
    assert len(data) <= MAX_PLAINTEXT
    assert json.loads(data)["body"].endswith("…")


# --- What each answer becomes -----------------------------------------------------------------


def test_gone_subscription(service: PushService) -> None:
    subscription = subscribe(service)
    service.gone.add(subscription_id(subscription["endpoint"]))

    [result] = send([message(subscription)])

    assert result.outcome == "gone"
    assert result.detail.startswith("410")


def test_unknown_subscription_is_gone(service: PushService) -> None:
    subscription = subscribe(service)
    unknown = {**subscription, "endpoint": f"{service.base_url}/push/never-made"}

    [result] = send([message(unknown)])

    assert result.outcome == "gone"
    assert result.detail.startswith("404")


def test_throttled_is_temporary_with_retry_after(service: PushService) -> None:
    subscription = subscribe(service)
    service.throttle = True
    service.retry_after = 7

    [result] = send([message(subscription)])

    assert result.outcome == "temporary"
    assert "429" in result.detail
    assert "retry-after=7" in result.detail


def test_server_error_is_temporary(service: PushService) -> None:
    subscription = subscribe(service)
    service.fail = True

    [result] = send([message(subscription)])

    assert result.outcome == "temporary"
    assert result.detail.startswith("500")


def test_unreachable_push_service_is_temporary(service: PushService) -> None:
    subscription = subscribe(service)
    nowhere = {**subscription, "endpoint": f"http://127.0.0.1:{free_port()}/push/x"}

    [result] = send([message(nowhere)], timeout=5)

    assert result.outcome == "temporary"
    assert result.detail.startswith("network")


def test_subscription_of_another_server_key_is_permanent(service: PushService) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    subscription = service.create_subscription(
        vapid.b64url(
            other.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
    )

    [result] = send([message(subscription)])

    assert result.outcome == "permanent"
    assert result.detail.startswith("403")


def test_refused_token_is_temporary_not_a_bounce(service: PushService) -> None:
    # Another origin for the same stub: the token's aud is then not the stub's own.
    subscription = subscribe(service)
    elsewhere = {
        **subscription,
        "endpoint": subscription["endpoint"].replace("127.0.0.1", "localhost"),
    }

    [result] = send([message(elsewhere)])

    assert result.outcome == "temporary"
    assert result.detail.startswith("401")
    assert "aud" in service.rejected[0].reason


def test_broken_subscription_keys_are_permanent(service: PushService) -> None:
    subscription = subscribe(service)
    no_point = {
        **subscription,
        "keys": {
            "p256dh": vapid.b64url(b"\x04" + b"\x00" * 64),
            "auth": subscription["keys"]["auth"],
        },
    }
    missing = {**subscription, "keys": {}}
    no_url = {**subscription, "endpoint": "mailto:someone@example.jp"}

    results = send([message(no_point, 1), message(missing, 2), message(no_url, 3)])

    assert [r.outcome for r in results] == ["permanent"] * 3
    assert results[2].detail.startswith("endpoint")
    assert service.received == []


def test_retry_after_forms() -> None:
    assert retry_after("120") == 120
    assert retry_after(None) is None
    assert retry_after("soon") is None
    later = retry_after(formatdate(time.time() + 60, usegmt=True))
    assert later is not None
    assert 55 <= later <= 61


# --- Rate -----------------------------------------------------------------------------------


def test_token_bucket_with_a_fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(base, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(base, "asyncio", types.SimpleNamespace(sleep=sleep, Lock=asyncio.Lock))

    async def run() -> None:
        bucket = TokenBucket(rate=2, burst=2)
        for _ in range(6):
            await bucket.take()

    asyncio.run(run())
    # Two from the burst, then one every half second.
    assert clock[0] - 1000.0 == pytest.approx(2.0)
    assert len(slept) == 4


def test_channel_keeps_to_its_rate(service: PushService) -> None:
    subscription = subscribe(service)
    messages = [message(subscription, i) for i in range(26)]

    started = time.monotonic()
    results = send(messages, rate=20)  # a burst of 20, then 6 more at 20/s

    assert {r.outcome for r in results} == {"delivered"}
    assert time.monotonic() - started >= 0.2


# --- The stub's own checks ------------------------------------------------------------------


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    """(status, body) of a request to the stub: GET, or POST when there is data."""
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return int(fetch(url, body, headers)[0])


def encrypted(subscription: dict[str, Any], text: bytes = b'{"title":"t"}') -> bytes:
    body: bytes = http_ece.encrypt(
        text,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=decode(subscription["keys"]["p256dh"]),
        auth_secret=decode(subscription["keys"]["auth"]),
        version="aes128gcm",
    )
    return body


def test_stub_checks_ttl_vapid_and_encoding(
    service: PushService, vapid_key: ec.EllipticCurvePrivateKey
) -> None:
    subscription = subscribe(service)
    endpoint = subscription["endpoint"]
    good = {
        "TTL": "60",
        "Content-Encoding": "aes128gcm",
        "Authorization": vapid.authorization_header(endpoint),
    }
    body = encrypted(subscription)
    ours = vapid.public_key_b64url()
    claims: dict[str, str | int] = {
        "aud": service.base_url,
        "exp": int(time.time()) + 3600,
        "sub": SUBJECT,
    }

    def token(key: ec.EllipticCurvePrivateKey, **changes: str | int) -> str:
        return f"vapid t={vapid.make_jwt(key, {**claims, **changes})}, k={ours}"

    def without(name: str) -> dict[str, str]:
        return {k: v for k, v in good.items() if k != name}

    assert post(endpoint, body, without("TTL")) == 400
    assert post(endpoint, body, without("Authorization")) == 401
    forged = token(ec.generate_private_key(ec.SECP256R1()))  # signed by another key
    assert post(endpoint, body, {**good, "Authorization": forged}) == 401
    expired = token(vapid_key, exp=int(time.time()) - 3600)
    assert post(endpoint, body, {**good, "Authorization": expired}) == 401
    too_long = token(vapid_key, exp=int(time.time()) + 3 * 86_400)
    assert post(endpoint, body, {**good, "Authorization": too_long}) == 401
    assert post(endpoint, body, {**good, "Content-Encoding": "aesgcm"}) == 415
    assert post(endpoint, b"\x00" * 5000, good) == 413
    assert post(endpoint, b"\x00" * 100, good) == 400  # nothing the browser could read
    assert post(endpoint, body, {**good, "Topic": "has spaces"}) == 400
    assert post(endpoint, body, {**good, "Authorization": token(vapid_key)}) == 201
    assert [m.payload for m in service.received] == [{"title": "t"}]
    assert [r.status for r in service.rejected] == [400, 401, 401, 401, 401, 415, 413, 400, 400]


def test_stub_http_api(service: PushService) -> None:
    def call(path: str, data: Any = None) -> Any:
        body = None if data is None else json.dumps(data).encode()
        status, answer = fetch(service.base_url + path, body)
        assert status in (200, 201), answer
        return json.loads(answer)

    one = call("/subscriptions", {})
    assert set(one) == {"endpoint", "expirationTime", "keys"}
    assert set(one["keys"]) == {"p256dh", "auth"}
    many = call("/subscriptions", {"count": 3, "applicationServerKey": vapid.public_key_b64url()})
    assert len(many["subscriptions"]) == 3

    send([message(one, 1), message(many["subscriptions"][0], 2)])

    listed = call("/messages")
    assert [m["payload"]["tag"] for m in listed] == [BROADCAST, BROADCAST]
    assert call("/messages?since=1") == listed[1:]
    assert call("/stats")["received"] == 2
    assert len(call("/by-subscription")) == 2
    gone = call("/control", {"gone": [one["endpoint"]]})
    assert gone["gone"] == [subscription_id(one["endpoint"])]
    assert send([message(one, 3)])[0].outcome == "gone"


def test_stub_runs_as_a_program(vapid_key: ec.EllipticCurvePrivateKey) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "machi.notify.peers.push_service", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.strip().rsplit(" ", 1)[-1]
        assert base_url.startswith("http://127.0.0.1:")
        status, answer = fetch(f"{base_url}/subscriptions", b"{}")
        assert status == 201
        subscription = json.loads(answer)
        [result] = send([message(subscription)])
        assert result.outcome == "delivered"
    finally:
        process.terminate()
        assert process.wait(10) == 0
