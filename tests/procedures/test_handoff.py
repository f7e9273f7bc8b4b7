"""罹災証明書 online: given Typhoon Hagibis and its 被災者台帳, an application whose damaged
house is one household's becomes the victim support room's certificate application; when the
ledger cannot tell which household (none, several, already applied) staff choose on the
application's page; and the hand-off never costs the resident their application."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import URLPattern, URLResolver, include, path

from machi.config import urls as root_urls
from machi.core.models import AuditEvent, Municipality, User
from machi.core.roles import Action, Role
from machi.emergency import services as emergency_services
from machi.emergency.models import Disaster
from machi.procedures import catalogue, handlers, services
from machi.procedures import urls as procedures_urls
from machi.procedures.models import Application, Procedure
from machi.recovery import certificates, ledger
from machi.recovery import services as recovery_services
from machi.recovery.models import CertificateApplication, LedgerHousehold

# Until the console's URLconf includes them, the tests put the print and hand-off pages in
# front of it, in the procedures namespace.
_console: list[URLPattern | URLResolver] = [
    path("print/", include("machi.procedures.urls_print")),
    path("handoff/", include("machi.procedures.urls_handoff")),
    *cast("list[URLPattern | URLResolver]", procedures_urls.urlpatterns),
]
urlpatterns = [
    path("console/procedures/", include((_console, "procedures"))),
    *root_urls.urlpatterns,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def hagibis(hq: User, municipality: Municipality) -> Disaster:
    return emergency_services.disaster_declare(
        name="令和元年東日本台風",
        hazards=["flood"],
        declared_by=hq,
        started_at=dt.datetime(2019, 10, 12, 20, tzinfo=dt.UTC),
    )


@pytest.fixture
def risai(municipality: Municipality) -> Procedure:
    return {p.slug: p for p in catalogue.catalogue_load()}["risai"]


@pytest.fixture
def recovery_staff(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.RECOVERY, username="hisai")


def household(disaster: Disaster, head: str, house_address: str, *others: str) -> LedgerHousehold:
    house = recovery_services.house_register(address=house_address, structure="wooden", storeys=2)
    return ledger.household_by_hand(
        disaster=disaster,
        head_name=head,
        address=house_address,
        members=[ledger.PersonInput(name=n) for n in (head, *others)],
        house=house,
        by=None,
    )


def apply(
    procedure: Procedure, capture: Any, *, name: str = "戸田 一郎", where: str = ""
) -> Application:
    with capture(execute=True):
        application = services.application_submit(
            procedure=procedure,
            applicant=services.Applicant(name=name),
            answers={
                "house_address": where or "埼玉県戸田市美女木１丁目２番３号",
                "damage": "床上浸水",
            },
            delivery="mail",
            channel="online",
        )
    return Application.objects.get(pk=application.pk)


def test_one_matching_household_becomes_a_certificate_application(
    hagibis: Disaster, risai: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    mine = household(hagibis, "戸田 一郎", "戸田市美女木1-2-3", "戸田 花子")
    household(hagibis, "戸田 二郎", "戸田市美女木1-2-4")
    application = apply(risai, django_capture_on_commit_callbacks)
    made = CertificateApplication.objects.get()
    assert (made.household, made.disaster, made.channel) == (mine, hagibis, "online")
    assert (made.applicant_name, made.received_by) == ("戸田 一郎", None)
    assert application.handler_ref == f"recovery.certificateapplication:{made.pk}"
    assert application.status == "received"  # the workflow is the counter's, as before


def test_a_family_member_applying_for_the_house_is_matched_by_the_address(
    hagibis: Disaster, risai: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    mine = household(hagibis, "戸田 一郎", "埼玉県戸田市美女木一丁目2番地の3")
    application = apply(risai, django_capture_on_commit_callbacks, name="戸田 花子")
    assert CertificateApplication.objects.get().household == mine
    assert application.handler_ref


def test_two_households_in_one_house_the_name_decides(
    hagibis: Disaster, risai: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    household(hagibis, "戸田 一郎", "戸田市美女木1-2-3")
    mine = household(hagibis, "美女木 次郎", "戸田市美女木1-2-3", "美女木 三郎")
    apply(risai, django_capture_on_commit_callbacks, name="美女木三郎")  # a member, no space
    assert CertificateApplication.objects.get().household == mine


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("戸田 五郎", "戸田市美女木1-2-3"),  # two households there, neither his
        ("戸田 一郎", "戸田市美女木9-9-9"),  # his name, not his house: namesakes exist
        ("戸田 一郎", "1-2-3"),  # no place name
    ],
)
def test_when_the_ledger_cannot_tell_staff_choose(
    hagibis: Disaster,
    risai: Procedure,
    django_capture_on_commit_callbacks: Any,
    name: str,
    where: str,
) -> None:
    household(hagibis, "戸田 一郎", "戸田市美女木1-2-3")
    household(hagibis, "美女木 次郎", "戸田市美女木1-2-3")
    application = apply(risai, django_capture_on_commit_callbacks, name=name, where=where)
    assert not CertificateApplication.objects.exists()
    assert application.handler_ref == ""


def test_a_household_that_applied_at_the_counter_does_not_apply_twice(
    hagibis: Disaster, risai: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    mine = household(hagibis, "戸田 一郎", "戸田市美女木1-2-3")
    counter = certificates.application_receive(
        household=mine, applicant_name="戸田 一郎", channel="counter", by=None
    )
    application = apply(risai, django_capture_on_commit_callbacks)
    assert list(CertificateApplication.objects.all()) == [counter]
    assert application.handler_ref == ""
    assert application.status == "received"


def test_a_failing_hand_off_never_fails_the_application(
    hagibis: Disaster,
    risai: Procedure,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    household(hagibis, "戸田 一郎", "戸田市美女木1-2-3")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the ledger is down")

    monkeypatch.setattr(handlers, "household_match", broken)
    application = apply(risai, django_capture_on_commit_callbacks)
    assert application.handler_ref == ""
    assert Application.objects.filter(pk=application.pk).exists()


def test_other_procedures_are_not_handed_over(
    hagibis: Disaster, municipality: Municipality, django_capture_on_commit_callbacks: Any
) -> None:
    inkan = {p.slug: p for p in catalogue.catalogue_load()}["inkan"]
    household(hagibis, "戸田 一郎", "戸田市美女木1-2-3")
    with django_capture_on_commit_callbacks(execute=True):
        application = services.application_submit(
            procedure=inkan,
            applicant=services.Applicant(name="戸田 一郎"),
            answers={"copies": 1, "purpose": "登記"},
            delivery="mail",
            channel="online",
        )
    application.refresh_from_db()
    assert application.handler_ref == ""
    assert not CertificateApplication.objects.exists()


@pytest.mark.parametrize(
    "written",
    [
        "埼玉県戸田市大字美女木１丁目２番地の３",
        "戸田市美女木1-2-3",
        "美女木一丁目2番3号",
        "美女木 1－2－3",
    ],
)
def test_addresses_are_compared_as_written_in_many_ways(written: str) -> None:
    assert handlers.address_key(written, city="戸田市") == "美女木1-2-3"


# --- Staff link by hand ---------------------------------------------------------------------------


def test_staff_see_the_candidates_and_link_one(
    hagibis: Disaster,
    risai: Procedure,
    recovery_staff: User,
    client_for: Callable[[User], Client],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = household(hagibis, "戸田 一郎", "戸田市美女木1-2-3")
    second = household(hagibis, "美女木 次郎", "戸田市美女木1-2-3")
    application = apply(risai, django_capture_on_commit_callbacks, name="戸田 五郎")
    context = handlers.handoff_context(application, recovery_staff)
    assert context["can_link"]
    assert [c.household for c in context["candidates"]] == [first, second]
    html = render_to_string(
        "procedures/_handoff.html", {"application": application, "handoff": context}
    )
    assert f'action="/console/procedures/handoff/{application.reference}/"' in html
    assert "美女木 次郎" in html

    client = client_for(recovery_staff)
    response = client.post(
        f"/console/procedures/handoff/{application.reference}/", {"household_id": second.pk}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/console/procedures/{application.reference}/"
    made = CertificateApplication.objects.get()
    assert (made.household, made.channel, made.received_by) == (second, "online", recovery_staff)
    application.refresh_from_db()
    assert application.handler_ref == f"recovery.certificateapplication:{made.pk}"
    event = AuditEvent.objects.get(
        action=Action.UPDATE, object_type="procedures.application", object_id=str(application.pk)
    )
    assert (event.actor_username, event.detail) == (
        "hisai",
        {"handler_ref": application.handler_ref},
    )

    linked = handlers.handoff_context(application, recovery_staff)
    assert (linked["linked"], linked["can_link"], linked["candidates"]) == (made, False, [])
    assert "戸田市美女木1-2-3" in render_to_string(
        "procedures/_handoff.html", {"application": application, "handoff": linked}
    )
    # Linked once: a second choice changes nothing.
    client.post(f"/console/procedures/handoff/{application.reference}/", {"household_id": first.pk})
    assert CertificateApplication.objects.count() == 1


def test_linking_to_a_household_that_applied_at_the_counter_uses_its_application(
    hagibis: Disaster,
    risai: Procedure,
    recovery_staff: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    mine = household(hagibis, "戸田 一郎", "戸田市美女木1-2-3")
    counter = certificates.application_receive(
        household=mine, applicant_name="戸田 一郎", channel="counter", by=None
    )
    application = apply(risai, django_capture_on_commit_callbacks)
    [candidate] = handlers.handoff_context(application, recovery_staff)["candidates"]
    assert candidate.applied == counter
    assert handlers.match_household(application, mine.pk, recovery_staff) == counter
    assert application.handler_ref == f"recovery.certificateapplication:{counter.pk}"


def test_only_victim_support_staff_link(
    hagibis: Disaster,
    risai: Procedure,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    django_capture_on_commit_callbacks: Any,
) -> None:
    mine = household(hagibis, "戸田 一郎", "戸田市美女木1-2-3")
    application = apply(risai, django_capture_on_commit_callbacks, where="戸田市美女木9-9-9")
    # The counter runs applications but does not read the ledger.
    counter_staff = make_staff(Role.COUNTER, username="madoguchi")
    context = handlers.handoff_context(application, counter_staff)
    assert (context["can_link"], context["candidates"]) == (False, [])
    url = f"/console/procedures/handoff/{application.reference}/"
    for user in (counter_staff, make_staff(Role.AUDITOR, username="kansa")):
        assert client_for(user).post(url, {"household_id": mine.pk}).status_code == 403
    assert not CertificateApplication.objects.exists()
