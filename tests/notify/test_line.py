"""The LINE channel against the loopback Messaging API fake, the fake's own limits, the webhook.

Each channel test runs its sends in its own ``asyncio.run``; the fake serves from a background
thread, so both sides are real HTTP over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import RequestFactory

from machi.notify.channels.base import Message, Result
from machi.notify.channels.line import TOKEN_REFUSED, LineChannel, message_text
from machi.notify.peers.line_api import (
    LineApi,
    follow_event,
    message_event,
    signature,
    unfollow_event,
    user_id,
    webhook_body,
)
from machi.notify.views_line import line_reply, line_webhook

TOKEN = "test-channel-token"
SECRET = "test-channel-secret"
URL = "https://city.example.jp/notify/m/1"


@pytest.fixture
def line_api(settings: Any) -> Iterator[LineApi]:
    api = LineApi(token=TOKEN).start()
    settings.MACHI_LINE_API_URL = api.base_url
    settings.MACHI_LINE_CHANNEL_TOKEN = TOKEN
    settings.MACHI_NOTIFY_RATES = {}
    yield api
    api.stop()


def make(
    n: int, *, batch: str = "", address: str | None = None, short: str = "避難所開設"
) -> Message:
    return Message(
        delivery_id=n,
        key=f"b-{n}",
        address=address if address is not None else user_id(n),
        language="ja",
        subject="件名",
        body="本文",
        short=short,
        url=URL,
        manage_url="https://city.example.jp/notify/manage/t",
        unsubscribe_url="https://city.example.jp/notify/unsubscribe/t",
        batch=batch,
    )


def batches(count: int, size: int = 500) -> list[Message]:
    """What the engine hands over: one batch id per ≤ 500 messages."""
    messages = []
    for start in range(0, count, size):
        batch = str(uuid.uuid4())
        messages += [make(n, batch=batch) for n in range(start + 1, min(count, start + size) + 1)]
    return messages


def send(messages: list[Message], channel: LineChannel | None = None) -> dict[int, Result]:
    async def main() -> list[Result]:
        line = channel or LineChannel()
        await line.open()
        try:
            return await line.send(messages)
        finally:
            await line.close()

    results = asyncio.run(main())
    assert len(results) == len(messages)
    return {r.delivery_id: r for r in results}


def outcomes(results: dict[int, Result]) -> set[str]:
    return {r.outcome for r in results.values()}


# --- The channel ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine_batches", [True, False], ids=["batched", "no-batch"])
def test_1200_messages_go_in_three_multicasts(line_api: LineApi, engine_batches: bool) -> None:
    messages = batches(1200) if engine_batches else [make(n) for n in range(1, 1201)]

    results = send(messages)

    assert outcomes(results) == {"delivered"}
    assert sorted(len(r["to"]) for r in line_api.requests) == [200, 500, 500]
    assert {r["endpoint"] for r in line_api.requests} == {"multicast"}
    assert len(line_api.received) == 1200
    assert all(len(got) == 1 for got in line_api.received.values())
    assert line_api.messages_to(user_id(7)) == [{"type": "text", "text": f"避難所開設\n{URL}"}]
    request_ids = {r["request_id"] for r in line_api.requests}
    assert {r.provider_ref for r in results.values()} == request_ids
    keys = {r["retry_key"] for r in line_api.requests}
    assert len(keys) == 3
    if engine_batches:  # the engine's batch id is the retry key
        assert keys == {m.batch for m in messages}


def test_a_replayed_batch_is_answered_409_and_counts_as_delivered(line_api: LineApi) -> None:
    messages = batches(300)
    first = send(messages)
    again = send(messages)

    assert outcomes(first) == outcomes(again) == {"delivered"}
    assert [r["status"] for r in line_api.refused] == [409]
    assert len(line_api.requests) == 1
    assert all(len(got) == 1 for got in line_api.received.values())
    # The retry names the request that did go out.
    assert {r.provider_ref for r in again.values()} == {line_api.requests[0]["request_id"]}


def test_sent_but_answer_lost_then_retried_is_sent_once(line_api: LineApi) -> None:
    """LINE executed the multicast but answered 500: the retry with the same key gets 409."""
    messages = batches(20)
    line_api.fail_next(1, status=500, after_accept=True)

    assert outcomes(send(messages)) == {"temporary"}
    assert outcomes(send(messages)) == {"delivered"}
    assert len(line_api.received) == 20
    assert all(len(got) == 1 for got in line_api.received.values())


def test_no_batch_retry_key_is_stable_across_attempts(line_api: LineApi) -> None:
    messages = [make(n) for n in range(1, 11)]
    line_api.fail_next(1, status=503, after_accept=True)

    assert outcomes(send(messages)) == {"temporary"}
    assert outcomes(send(messages)) == {"delivered"}
    assert all(len(got) == 1 for got in line_api.received.values())


def test_rate_limit_429_is_temporary(settings: Any) -> None:
    # Effectively one request per session: the second multicast is refused.
    with LineApi(token=TOKEN, rate=0.001) as api:
        settings.MACHI_LINE_API_URL = api.base_url
        settings.MACHI_LINE_CHANNEL_TOKEN = TOKEN
        results = send(batches(600))

        by_outcome: dict[str, list[Result]] = {}
        for r in results.values():
            by_outcome.setdefault(r.outcome, []).append(r)
        assert sorted(len(v) for v in by_outcome.values()) == [100, 500]
        assert set(by_outcome) == {"delivered", "temporary"}
        assert {r.detail for r in by_outcome["temporary"]} == {
            "rate limited by LINE: Too Many Requests"
        }
        assert [r["status"] for r in api.refused] == [429]
        assert len(api.requests) == 1


def test_429_with_retry_after_says_so(line_api: LineApi) -> None:
    line_api.fail_next(
        1, status=429, message="You have reached your monthly limit.", retry_after=30
    )

    results = send(batches(3))

    assert {(r.outcome, r.detail) for r in results.values()} == {
        ("temporary", "rate limited by LINE: You have reached your monthly limit. (Retry-After 30)")
    }


def test_server_error_is_temporary(line_api: LineApi) -> None:
    line_api.fail_next(1)

    results = send(batches(5))

    assert outcomes(results) == {"temporary"}
    assert "LINE 500" in results[1].detail
    assert line_api.received == {}


def test_unreachable_line_is_temporary(settings: Any) -> None:
    api = LineApi(token=TOKEN).start()
    api.stop()  # the port is free again: connections are refused
    settings.MACHI_LINE_API_URL = api.base_url
    settings.MACHI_LINE_CHANNEL_TOKEN = TOKEN

    results = send(batches(2))

    assert outcomes(results) == {"temporary"}
    assert results[1].detail.startswith("LINE unreachable")


def test_400_fails_the_whole_request_without_stopping_its_recipients(line_api: LineApi) -> None:
    line_api.fail_next(1, status=400, message="The request body has 1 error(s)")

    results = send(batches(4))

    assert {(r.outcome, r.detail) for r in results.values()} == {
        ("failed", "LINE 400: The request body has 1 error(s)")
    }


def test_a_malformed_user_id_fails_alone(line_api: LineApi) -> None:
    """LINE would refuse the whole multicast for one bad id: it is kept out of the request."""
    batch = str(uuid.uuid4())
    messages = [make(n, batch=batch) for n in range(1, 4)] + [
        make(4, batch=batch, address="Unot-a-user-id")
    ]

    results = send(messages)

    assert results[4].outcome == "permanent"
    assert results[4].detail == "not a LINE user id"
    assert {results[n].outcome for n in (1, 2, 3)} == {"delivered"}
    assert line_api.requests[0]["to"] == [user_id(1), user_id(2), user_id(3)]


def test_a_refused_token_is_temporary_and_keeps_subscribers(
    line_api: LineApi, settings: Any
) -> None:
    settings.MACHI_LINE_CHANNEL_TOKEN = "expired-token"

    results = send(batches(3))

    assert {(r.outcome, r.detail) for r in results.values()} == {("temporary", TOKEN_REFUSED)}
    assert [r["status"] for r in line_api.refused] == [401]
    assert line_api.received == {}


def test_open_without_token_refuses(settings: Any) -> None:
    settings.MACHI_LINE_CHANNEL_TOKEN = ""

    with pytest.raises(RuntimeError, match="LINE is not configured"):
        asyncio.run(LineChannel().open())


def test_texts_are_grouped_and_sent_with_their_link(line_api: LineApi) -> None:
    messages = [make(n, short="お知らせ") for n in (1, 2)] + [make(3, short="Notice")]

    send(messages)

    assert sorted(len(r["to"]) for r in line_api.requests) == [1, 2]
    assert line_api.messages_to(user_id(3))[0]["text"] == f"Notice\n{URL}"


def test_a_long_text_is_cut_to_fit_and_keeps_the_link() -> None:
    text = message_text(make(1, short="あ" * 6000))

    assert len(text) == 5000
    assert text.endswith(f"…\n{URL}")


# --- The fake's own limits -------------------------------------------------------------------


def post(api: LineApi, path: str, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        api.base_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


TEXT = [{"type": "text", "text": "hi"}]


@pytest.mark.parametrize(
    ("body", "prop"),
    [
        ({"to": [user_id(n) for n in range(501)], "messages": TEXT}, "to"),
        ({"to": [], "messages": TEXT}, "to"),
        ({"to": [user_id(1)], "messages": TEXT * 6}, "messages"),
        ({"to": [user_id(1), "U123"], "messages": TEXT}, "to[1]"),
        (
            {"to": [user_id(1)], "messages": [{"type": "text", "text": "x" * 5001}]},
            "messages[0].text",
        ),
    ],
    ids=["501-recipients", "no-recipient", "6-messages", "bad-user-id", "text-too-long"],
)
def test_the_fake_enforces_multicast_limits(body: dict[str, Any], prop: str) -> None:
    with LineApi(token=TOKEN) as api:
        status, answer = post(api, "/v2/bot/message/multicast", body)

        assert status == 400
        assert answer["message"] == "The request body has 1 error(s)"
        assert answer["details"][0]["property"] == prop
        assert api.received == {}


def test_the_fake_checks_token_and_retry_key() -> None:
    body = {"to": [user_id(1)], "messages": TEXT}
    with LineApi(token=TOKEN) as api:
        status, answer = post(api, "/v2/bot/message/multicast", body, Authorization="Bearer no")
        assert status == 401
        assert answer["message"].startswith("Authentication failed")

        status, _ = post(api, "/v2/bot/message/multicast", body, **{"X-Line-Retry-Key": "abc"})
        assert status == 400

        status, _ = post(api, "/v2/bot/message/multicast", body, **{"Content-Type": "text/plain"})
        assert status == 415

        status, _ = post(api, "/v2/bot/message/multicast", body)  # no key: accepted each time
        assert status == 200
        status, _ = post(api, "/v2/bot/message/multicast", body)
        assert status == 200
        assert len(api.messages_to(user_id(1))) == 2


def test_the_fake_push_and_received_endpoint() -> None:
    with LineApi(token=TOKEN) as api:
        key = str(uuid.uuid4())
        status, answer = post(
            api,
            "/v2/bot/message/push",
            {"to": user_id(9), "messages": TEXT},
            **{"X-Line-Retry-Key": key},
        )
        assert status == 200
        assert len(answer["sentMessages"]) == 1
        status, _ = post(
            api,
            "/v2/bot/message/push",
            {"to": user_id(9), "messages": TEXT},
            **{"X-Line-Retry-Key": key},
        )
        assert status == 409

        with urllib.request.urlopen(api.base_url + "/_fake/received", timeout=5) as response:  # noqa: S310
            seen = json.loads(response.read())
        assert seen["received"] == {user_id(9): TEXT}


def test_the_fake_replies_once_per_token() -> None:
    with LineApi(token=TOKEN) as api:
        event = api.follow_event(user_id(5))
        body = {"replyToken": event["replyToken"], "messages": TEXT}

        assert post(api, "/v2/bot/message/reply", body)[0] == 200
        assert post(api, "/v2/bot/message/reply", body) == (400, {"message": "Invalid reply token"})
        assert api.messages_to(user_id(5)) == TEXT


# --- The webhook -----------------------------------------------------------------------------


@pytest.fixture
def services_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str]]]:
    """The services module is written in parallel: the webhook's calls are recorded instead."""
    calls: list[tuple[str, dict[str, str]]] = []

    def follow(**kwargs: str) -> None:
        calls.append(("follow", kwargs))

    def unfollow(**kwargs: str) -> None:
        calls.append(("unfollow", kwargs))

    monkeypatch.setattr("machi.notify.services.line_follow", follow, raising=False)
    monkeypatch.setattr("machi.notify.services.line_unfollow", unfollow, raising=False)
    return calls


def webhook(body: bytes, signed: str | None) -> int:
    headers = {} if signed is None else {"HTTP_X_LINE_SIGNATURE": signed}
    request = RequestFactory().post(
        "/notify/line/webhook", data=body, content_type="application/json", **headers
    )
    return line_webhook(request).status_code


def test_follow_and_unfollow_reach_services(settings: Any, services_calls: list[Any]) -> None:
    settings.MACHI_LINE_CHANNEL_SECRET = SECRET
    follow = follow_event(user_id(1))
    body = webhook_body(
        [follow, message_event(user_id(2), "こんにちは"), unfollow_event(user_id(3))]
    )

    assert webhook(body, signature(SECRET, body)) == 200
    assert services_calls == [
        ("follow", {"user_id": user_id(1), "reply_token": follow["replyToken"]}),
        ("unfollow", {"user_id": user_id(3)}),
    ]


def test_verify_request_without_events_is_ok(settings: Any, services_calls: list[Any]) -> None:
    settings.MACHI_LINE_CHANNEL_SECRET = SECRET
    body = webhook_body([])

    assert webhook(body, signature(SECRET, body)) == 200
    assert services_calls == []


@pytest.mark.parametrize("signed", [None, "", "bm90IGEgc2lnbmF0dXJl", "ü"])
def test_bad_signature_is_403(settings: Any, services_calls: list[Any], signed: str | None) -> None:
    settings.MACHI_LINE_CHANNEL_SECRET = SECRET

    assert webhook(webhook_body([follow_event(user_id(1))]), signed) == 403
    assert services_calls == []


def test_signed_with_another_secret_is_403(settings: Any, services_calls: list[Any]) -> None:
    settings.MACHI_LINE_CHANNEL_SECRET = SECRET
    body = webhook_body([follow_event(user_id(1))])

    assert webhook(body, signature("another-secret", body)) == 403


def test_webhook_without_secret_is_404(settings: Any, services_calls: list[Any]) -> None:
    settings.MACHI_LINE_CHANNEL_SECRET = ""
    body = webhook_body([follow_event(user_id(1))])

    assert webhook(body, signature("", body)) == 404
    assert services_calls == []


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"events": "x"}'])
def test_bad_json_is_400(settings: Any, services_calls: list[Any], body: bytes) -> None:
    settings.MACHI_LINE_CHANNEL_SECRET = SECRET

    assert webhook(body, signature(SECRET, body)) == 400


def test_webhook_is_post_only(settings: Any) -> None:
    settings.MACHI_LINE_CHANNEL_SECRET = SECRET

    assert line_webhook(RequestFactory().get("/notify/line/webhook")).status_code == 405


def test_a_failing_event_answers_500_after_the_others(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MACHI_LINE_CHANNEL_SECRET = SECRET
    done: list[str] = []

    def follow(*, user_id: str, reply_token: str = "") -> None:
        if user_id.endswith("1"):
            raise RuntimeError("database down")
        done.append(user_id)

    monkeypatch.setattr("machi.notify.services.line_follow", follow, raising=False)
    body = webhook_body([follow_event(user_id(1)), follow_event(user_id(2))])

    assert webhook(body, signature(SECRET, body)) == 500
    assert done == [user_id(2)]


def test_the_fake_platform_calls_the_webhook_over_http(
    settings: Any, services_calls: list[Any]
) -> None:
    """send_webhook → HTTP → the view: the fake's signature is the one the view accepts."""
    settings.MACHI_LINE_CHANNEL_SECRET = SECRET

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = webhook(body, self.headers.get("X-Line-Signature"))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = LineApi(token=TOKEN)
        url = f"http://127.0.0.1:{server.server_address[1]}/notify/line/webhook"
        event = api.follow_event(user_id(8))

        assert api.send_webhook(url, SECRET, [event]) == 200
        assert api.send_webhook(url, "wrong", [event]) == 403
    finally:
        server.shutdown()
        server.server_close()
    assert services_calls == [
        ("follow", {"user_id": user_id(8), "reply_token": event["replyToken"]})
    ]


# --- Replies ---------------------------------------------------------------------------------


def test_line_reply_answers_a_follow(line_api: LineApi) -> None:
    event = line_api.follow_event(user_id(4))

    assert line_reply(reply_token=event["replyToken"], text="ようこそ") is True
    assert line_api.messages_to(user_id(4)) == [{"type": "text", "text": "ようこそ"}]
    # A reply token works once; the second answer is refused and reported as False.
    assert line_reply(reply_token=event["replyToken"], text="ようこそ") is False


def test_line_reply_failures_are_false(line_api: LineApi, settings: Any) -> None:
    assert line_reply(reply_token="", text="x") is False
    assert line_reply(reply_token="unknown", text="x") is False
    settings.MACHI_LINE_CHANNEL_TOKEN = ""
    assert line_reply(reply_token=line_api.issue_reply_token(), text="x") is False
    settings.MACHI_LINE_CHANNEL_TOKEN = TOKEN
    line_api.stop()
    assert line_reply(reply_token="t", text="x") is False


# --- End to end, with the real services ------------------------------------------------------


@pytest.mark.django_db
def test_follow_subscribes_and_welcomes_then_unfollow_removes(
    client: Any, settings: Any, line_api: LineApi
) -> None:
    from machi.notify.models import Subscriber, SubscriberStatus

    settings.MACHI_LINE_CHANNEL_SECRET = SECRET
    event = line_api.follow_event(user_id(6))
    body = webhook_body([event])

    answer = client.post(
        "/notify/line/webhook",
        data=body,
        content_type="application/json",
        HTTP_X_LINE_SIGNATURE=signature(SECRET, body),
    )

    assert answer.status_code == 200
    subscriber = Subscriber.objects.get(address=user_id(6))
    assert subscriber.channel == "line"
    assert subscriber.status == SubscriberStatus.ACTIVE
    welcome = line_api.messages_to(user_id(6))
    assert len(welcome) == 1
    assert "/notify/manage/" in welcome[0]["text"]

    body = webhook_body([unfollow_event(user_id(6))])
    answer = client.post(
        "/notify/line/webhook",
        data=body,
        content_type="application/json",
        HTTP_X_LINE_SIGNATURE=signature(SECRET, body),
    )

    assert answer.status_code == 200
    assert not Subscriber.objects.filter(address=user_id(6)).exists()
