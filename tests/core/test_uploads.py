"""One request may upload at most MACHI_UPLOAD_MAX_MB, whatever the form behind it allows."""

import io
from typing import Any

import pytest
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from machi.core.models import User
from machi.guide.models import Entry


@override_settings(MACHI_UPLOAD_MAX_MB=1)
def test_an_upload_past_the_ceiling_stops_before_the_view(
    client: Client, make_staff: object
) -> None:
    from machi.core.roles import Role

    pr: User = make_staff(Role.PR, username="pr")  # type: ignore[operator]
    client.force_login(pr)
    big = SimpleUploadedFile("faq.csv", b"ID,\n" + b"x" * (1024 * 1024 + 10))
    response = client.post("/console/guide/import/", {"file": big})
    assert response.status_code == 400
    assert Entry.objects.count() == 0


@override_settings(MACHI_UPLOAD_MAX_MB=1)
def test_a_chunked_upload_is_counted(make_staff: object) -> None:
    from machi.core.uploads import BodyLimitUploadHandler

    handler = BodyLimitUploadHandler()
    handler.handle_raw_input(io.BytesIO(), {}, 0, "x")  # no declared length
    handler.receive_data_chunk(b"x" * 1024 * 1024, 0)
    with pytest.raises(RequestDataTooBig):
        handler.receive_data_chunk(b"x", 1024 * 1024)


def test_an_upload_within_the_ceiling_reaches_its_form(client: Client, make_staff: object) -> None:
    from machi.core.roles import Role

    pr: User = make_staff(Role.PR, username="pr")  # type: ignore[operator]
    client.force_login(pr)
    big = SimpleUploadedFile("faq.csv", b"ID,\n" + b"x" * (10 * 1024 * 1024))
    response = client.post("/console/guide/import/", {"file": big})
    assert response.status_code == 400  # the form's own 10 MB limit, on its field
    assert "file" in response.context["form"].errors


@override_settings(MACHI_UPLOAD_MAX_MB=1)
def test_the_api_answers_an_upload_past_the_ceiling_with_a_413(
    api_client_for: Any, make_staff: Any
) -> None:
    import uuid

    from machi.core.roles import Role

    client = api_client_for(make_staff(Role.FIELD, username="field"))
    big = SimpleUploadedFile("a.jpg", b"\xff\xd8" + b"x" * (1024 * 1024 + 5))
    response = client.post(f"/api/v1/incidents/{uuid.uuid4()}/photos", {"file": big})
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "The request is larger than 1 MB."
