"""Residents ask the FAQ assistant: on its page without JavaScript, and through the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from machi.guide import services
from machi.guide.models import Entry, Question


@pytest.fixture
def entries(db: Any) -> list[Entry]:
    services.forget_index()
    made = [
        Entry.objects.create(
            key="juminhyo",
            question="住民票の写しはどこで取れますか",
            answer="市民課の窓口か、マイナンバーカードがあればコンビニで取れます。",
            category="戸籍・住民票",
            department="市民課",
            url="https://www.city.example.lg.jp/juminhyo",
        ),
        Entry.objects.create(
            key="gomi",
            question="粗大ごみはどうやって出しますか",
            answer="オンラインの「粗大ごみ収集の申込」か電話で申し込みます。",
            category="ごみ",
            department="環境課",
        ),
        Entry.objects.create(
            key="hinan",
            question="避難所はどこにありますか",
            answer="指定避難所は市のサイトの避難所一覧で確認できます。",
            category="防災",
            department="危機管理課",
            mode="disaster",
        ),
        Entry.objects.create(
            key="juminhyo-en",
            question="Where can I get a copy of my residence record?",
            answer="At the Citizens Division counter, or at a convenience store with your card.",
            language="en",
        ),
    ]
    yield made
    services.forget_index()


def test_the_page_answers_without_javascript_and_takes_feedback(
    client: Client, entries: list[Entry]
) -> None:
    page = client.get(reverse("guide_public:ask"), {"q": "住民票がほしい"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "市民課の窓口" in text
    question = Question.objects.get()
    assert question.top is not None
    assert question.top.key == "juminhyo"
    answer = client.post(
        reverse("guide_public:feedback"),
        {"question": question.pk, "token": question.token, "resolved": "no"},
    )
    assert answer.status_code == 302
    question.refresh_from_db()
    assert question.feedback == "unresolved"
    assert question in services.to_review()


def test_the_api_gives_the_best_answer_and_two_others(client: Client, entries: list[Entry]) -> None:
    answer = client.post(
        "/api/v1/guide/ask", {"question": "大きい家具を捨てたい"}, content_type="application/json"
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["answers"][0]["id"] == entries[1].pk
    assert 1 <= len(body["answers"]) <= 3
    bad = client.post(
        "/api/v1/guide/feedback",
        {"question_id": body["question_id"], "token": "wrong", "resolved": True},
        content_type="application/json",
    )
    assert bad.status_code == 422
    good = client.post(
        "/api/v1/guide/feedback",
        {"question_id": body["question_id"], "token": body["token"], "resolved": True},
        content_type="application/json",
    )
    assert good.status_code == 204


def test_english_questions_get_english_answers(client: Client, entries: list[Entry]) -> None:
    body = client.post(
        "/api/v1/guide/ask",
        {"question": "How can I get my residence certificate?", "language": "en"},
        content_type="application/json",
    ).json()
    assert body["answers"][0]["id"] == entries[3].pk


def test_every_portal_page_has_the_assistant_and_the_console_does_not(
    client: Client, entries: list[Entry]
) -> None:
    home = client.get("/").content.decode()
    assert 'class="guide-chat"' in home
    assert "guide/chat.js" in home
    assert 'class="guide-chat"' not in client.get("/console/login/").content.decode()


def test_an_edited_entry_is_found_after_the_change(
    client: Client, entries: list[Entry], monkeypatch: Any
) -> None:
    monkeypatch.setattr(services, "BACKGROUND", False)  # the thread would not see the test's rows
    services.current_index()
    Entry.objects.filter(key="gomi").update(
        question="犬の登録はどうしますか", answer="保健所で登録します。"
    )
    Entry.objects.filter(key="gomi").update(changed_at="2030-01-01T00:00:00Z")
    services._current.checked = 0  # as if the few seconds had passed
    hits = services.current_index().search("犬を飼い始めた", k=1)
    assert hits[0].id == str(entries[1].pk)


def test_staff_review_what_the_chat_could_not_answer(
    client: Client, entries: list[Entry], make_staff: Any, client_for: Any
) -> None:
    from machi.core.roles import Role

    client.get(reverse("guide_public:ask"), {"q": "パスポートの申請はどこで"})
    client.get(reverse("guide_public:ask"), {"q": "パスポートの申請はどこで"})
    asked = Question.objects.first()
    assert asked is not None
    Question.objects.update(low_confidence=True)
    staff = client_for(make_staff(Role.PR, username="koho"))
    page = staff.get(reverse("guide:questions")).content.decode()
    assert "パスポートの申請はどこで" in page
    assert "?question=" in page  # write an entry from it
    staff.post(reverse("guide:questions"), {"question": [q.pk for q in Question.objects.all()]})
    assert not services.to_review().exists()
