"""Staff keep the knowledge base from the console: list, edit with history, CSV in and out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from machi.core.models import AuditEvent, User
from machi.core.roles import Role
from machi.guide.models import Entry

CSV = (
    "全国地方公共団体コード,ID,質問,回答,カテゴリ,所管部署,関連URL,更新日,言語,モード\n"
    "112241,gomi-1,粗大ごみの出し方は,電話かオンラインで申し込みます。,ごみ,環境課,,2026-04-01,ja,normal\n"
)


def test_a_clerk_imports_edits_and_sees_the_history(
    make_staff: Callable[..., User], client_for: Any
) -> None:
    client = client_for(make_staff(Role.PR, username="koho"))
    upload = SimpleUploadedFile("faq.csv", CSV.encode("cp932"), content_type="text/csv")
    answer = client.post(reverse("guide:import"), {"file": upload})
    assert answer.status_code == 302
    entry = Entry.objects.get(key="gomi-1")
    page = client.get(reverse("guide:entries") + "?q=粗大").content.decode()
    assert "粗大ごみの出し方は" in page
    edited = client.post(
        reverse("guide:entry_edit", args=[entry.pk]),
        {
            "key": "gomi-1",
            "question": "粗大ごみはどうやって出しますか",
            "answer": "オンラインの「粗大ごみ収集の申込」から申し込めます。",
            "category": "ごみ",
            "department": "環境課",
            "language": "ja",
            "mode": "normal",
            "published": "on",
        },
    )
    assert edited.status_code == 302
    history = client.get(reverse("guide:entry_edit", args=[entry.pk])).content.decode()
    assert "console" in history
    assert "import" in history
    assert entry.revisions.count() == 2
    assert AuditEvent.objects.filter(object_type="guide.entry", action="update").exists()
    exported = client.get(reverse("guide:export"))
    assert "粗大ごみはどうやって出しますか" in exported.content.decode("utf-8-sig")


def test_a_bad_file_lists_its_problems_and_saves_nothing(
    make_staff: Callable[..., User], client_for: Any
) -> None:
    client = client_for(make_staff(Role.PR, username="koho"))
    bad = CSV.replace("2026-04-01", "yesterday")
    answer = client.post(
        reverse("guide:import"), {"file": SimpleUploadedFile("faq.csv", bad.encode())}
    )
    assert answer.status_code == 400
    assert "line 2, column 更新日" in answer.content.decode()
    assert not Entry.objects.exists()


def test_staff_who_only_read_cannot_edit(make_staff: Callable[..., User], client_for: Any) -> None:
    client = client_for(make_staff(Role.HQ, username="honbu"))
    assert client.get(reverse("guide:entries")).status_code == 200
    assert client.get(reverse("guide:entry_new")).status_code == 403
    assert client.get(reverse("guide:import")).status_code == 403
