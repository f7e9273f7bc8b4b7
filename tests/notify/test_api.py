"""The notify API: other systems send broadcasts with a key; a test key sends nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from machi.core.models import Area, User
from machi.core.roles import Role
from machi.notify import demo
from machi.notify.models import Broadcast, BroadcastStatus, Delivery, Subscriber, Topic
from machi.notify.services_keys import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def pr(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PR, username="pr")


def post(client: Client, secret: str, body: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/notify/broadcasts",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )


def test_a_test_key_sends_nothing_and_fakes_receipts(
    client: Client,
    pr: User,
    topics: dict[str, Topic],
    town: list[Area],
    subscribe: Callable[..., Subscriber],
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.MACHI_LINE_CHANNEL_TOKEN = "line-token"  # LINE is one of the city's channels
    subscribe(topics=[topics["gomi"]], areas=[town[0]])
    subscribe(topics=[topics["gomi"]], channel="line")
    _key, secret = api_key_create(name="ごみ収集システム", kind="test", created_by=pr)
    body = {
        "reference": "gomi-2026-12-28",
        "subject": "年末年始のごみ収集",
        "body": "12月31日から1月3日は収集しません。",
        "topics": ["gomi"],
        "areas": ["上戸田"],
    }

    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, secret, body)

    assert answer.status_code == 201, answer.content
    sent = answer.json()
    assert sent["test"] is True
    assert sent["status"] == "sending"
    status = client.get(
        f"/api/v1/notify/broadcasts/{sent['id']}", HTTP_AUTHORIZATION=f"Bearer {secret}"
    ).json()
    assert (status["status"], status["delivered"], status["total"]) == ("sent", 2, 2)
    assert status["counts"]["delivered"] == 2
    assert status["counts"]["line:delivered"] == 1
    assert set(Delivery.objects.values_list("provider_ref", flat=True)) == {"test"}
    # The same reference again answers the first broadcast and sends nothing new.
    again = post(client, secret, body)
    assert again.status_code == 200
    assert again.json()["id"] == sent["id"]
    assert Broadcast.objects.count() == 1


def test_templates_and_field_errors(
    client: Client, pr: User, topics: dict[str, Topic], settings: Any
) -> None:
    demo.topics_load()
    demo.templates_load()
    _key, secret = api_key_create(name="events", kind="test", created_by=pr)

    missing = post(client, secret, {"template": "event", "values": {"イベント名": "花火大会"}})
    assert missing.status_code == 422
    assert "values.日時" in json.dumps(missing.json(), ensure_ascii=False)

    bad_area = post(
        client, secret, {"subject": "s", "body": "b", "topics": ["news"], "areas": ["火星"]}
    )
    assert bad_area.status_code == 422
    assert "areas" in json.dumps(bad_area.json())
    assert "[0]" in json.dumps(bad_area.json())

    bad_topic = post(client, secret, {"subject": "s", "body": "b", "topics": ["nope"]})
    assert bad_topic.status_code == 422
    assert "topics" in json.dumps(bad_topic.json())

    filled = post(
        client,
        secret,
        {
            "template": "event",
            "values": {
                "イベント名": "花火大会",
                "日時": "8月1日",
                "場所": "戸田橋",
                "詳細": "雨天中止",
            },
        },
    )
    assert filled.status_code == 201
    assert filled.json()["subject"] == "【イベント】花火大会"
    assert not Broadcast.objects.exclude(pk=filled.json()["id"]).exists()


def test_keys_see_only_their_own_broadcasts_and_revoked_keys_nothing(
    client: Client, pr: User, topics: dict[str, Topic], django_capture_on_commit_callbacks: Any
) -> None:
    key, mine = api_key_create(name="a", kind="test", created_by=pr)
    _other, theirs = api_key_create(name="b", kind="test", created_by=pr)
    with django_capture_on_commit_callbacks(execute=True):
        made = post(client, mine, {"subject": "s", "body": "b", "topics": ["news"]}).json()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {theirs}"}
    assert client.get(f"/api/v1/notify/broadcasts/{made['id']}", **headers).status_code == 404
    assert client.get("/api/v1/notify/broadcasts", **headers).json() == []
    api_key_revoke(key=key)
    answer = client.get("/api/v1/notify/broadcasts", HTTP_AUTHORIZATION=f"Bearer {mine}")
    assert answer.status_code == 401


def test_staff_follow_the_approval_rule(
    api_client_for: Callable[[User], Client],
    pr: User,
    topics: dict[str, Topic],
    settings: Any,
    make_staff: Callable[..., User],
) -> None:
    settings.MACHI_NOTIFY_REQUIRE_APPROVAL = True
    client = api_client_for(pr)
    answer = client.post(
        "/api/v1/notify/broadcasts",
        {"subject": "s", "body": "b", "topics": ["news"]},
        content_type="application/json",
    )
    assert answer.status_code == 201
    assert answer.json()["status"] == BroadcastStatus.AWAITING_APPROVAL
    # Counter staff may not send.
    staff = api_client_for(make_staff(Role.COUNTER, username="s"))
    refused = staff.post(
        "/api/v1/notify/broadcasts",
        {"subject": "s", "body": "b", "topics": ["news"]},
        content_type="application/json",
    )
    assert refused.status_code == 403


def test_topics_are_public(client: Client, topics: dict[str, Topic]) -> None:
    answer = client.get("/api/v1/notify/topics")
    assert answer.status_code == 200
    assert [t["slug"] for t in answer.json()] == ["news", "disaster", "gomi"]
