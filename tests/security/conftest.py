"""One small city for the access matrix (``test_access_matrix.py``), built once per module.

Everything here is prefixed ``am_`` (other security test modules share this folder) and
nothing is autouse. The world is made inside one transaction that is rolled back when the
module ends; each test runs in a savepoint inside it, so a write a test makes is undone too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.security.matrix import COLUMNS


@dataclass
class AmWorld:
    """The ids and secrets of the records the matrix asks for."""

    users: dict[str, int] = field(default_factory=dict)  # column -> user id (staff columns)
    tokens: dict[str, str] = field(default_factory=dict)  # column -> bearer token
    resident_token: str = ""
    resident_session: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.ids[name]


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


def _jpeg(name: str = "photo.jpg") -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, JPEG, content_type="image/jpeg")


def _build() -> AmWorld:
    from machi.core import services as core_services
    from machi.core.hazards import Hazard
    from machi.core.models import Job, JobStatus
    from machi.core.roles import Role
    from machi.emergency import services as emergency_services
    from machi.emergency import services_field
    from machi.emergency.models import Department
    from machi.guide.models import Question
    from machi.notify import services as notify_services
    from machi.notify.models import Channel, Delivery, DeliveryStatus, Subscriber, Topic
    from machi.procedures import catalogue
    from machi.procedures import services as procedure_services
    from machi.procedures.identity import base as identity
    from machi.procedures.models import Draft
    from machi.procedures.payments import services as payment_services
    from machi.recovery import certificates, grants, ledger
    from machi.recovery import services as recovery_services
    from machi.shelters import paper
    from machi.shelters import services as shelter_services
    from machi.shelters.models import Shelter
    from tests.core.factories import FacilityFactory, MunicipalityFactory, StaffFactory

    world = AmWorld()
    city = MunicipalityFactory()
    facility_a = FacilityFactory(municipality=city, is_shelter=True)
    facility_b = FacilityFactory(municipality=city, is_shelter=True)

    # Staff: one account per role, and one without a role.
    for column in COLUMNS:
        if column in {"anonymous", "resident"}:
            continue
        user = StaffFactory(username=f"am-{column}")
        if column != "none":
            core_services.role_grant(
                user=user,
                role=Role(column),
                facilities=[facility_a] if column == "shelter_staff" else [],
            )
        world.users[column] = user.pk
        world.tokens[column] = core_services.token_create(user=user, name="matrix")[1]
    hq = _user(world, "hq")
    recovery_user = _user(world, "recovery")

    # Shelters A (the shelter staff's) and B, open in a declared disaster, a person in each.
    shelter_a = Shelter.objects.create(facility=facility_a, capacity_night=50, hazards=[])
    shelter_b = Shelter.objects.create(facility=facility_b, capacity_night=50, hazards=[])
    disaster = emergency_services.disaster_declare(
        name="令和元年東日本台風",
        hazards=[Hazard.FLOOD],
        declared_by=hq,
        started_at=timezone.now() - dt.timedelta(days=1),
    )
    opening_a = shelter_services.opening_open(shelter=shelter_a, disaster=disaster)
    opening_b = shelter_services.opening_open(shelter=shelter_b, disaster=disaster)
    people = {}
    for key, opening, name in (("a", opening_a, "東雲"), ("b", opening_b, "西園")):
        household = shelter_services.household_register(
            members=[
                shelter_services.PersonInput(
                    family_name=name,
                    given_name="花子",
                    birth_date=dt.date(1980, 1, 1),
                    consent={"name": True},
                )
            ],
            disaster=disaster,
        )
        person = household.members.get()
        stay = shelter_services.checkin_create(
            checkin_id=uuid.uuid4(), person=person, disaster=disaster, opening=opening
        ).checkin
        supply = shelter_services.supply_request(
            opening=opening, category="food", item="水", quantity=10
        )
        people[key] = person
        world.ids.update(
            {
                f"opening_{key}": opening.pk,
                f"shelter_{key}": shelter_a.pk if key == "a" else shelter_b.pk,
                f"household_{key}": household.pk,
                f"household_code_{key}": household.code,
                f"person_{key}": person.pk,
                f"checkin_{key}": stay.pk,
                f"supply_{key}": supply.pk,
            }
        )
        card = paper.CardId.new()
        paper.card_record(
            card=card,
            opening=opening,
            members=[shelter_services.PersonInput(family_name=f"{name}紙", given_name="一郎")],
            checked_in_at=timezone.now() - dt.timedelta(minutes=5),
        )
        world.ids[f"card_{key}"] = card.uuid
    world.ids["disaster"] = disaster.pk
    world.ids["new_card"] = paper.CardId.new().uuid

    # Recovery: a house surveyed (with a photo), a household in the ledger, its certificate
    # and a grant application.
    house = recovery_services.house_register(
        address="戸田市美女木8-8", structure="wooden", storeys=1
    )
    survey = recovery_services.survey_record(
        survey_id=uuid.uuid4(),
        house=house,
        disaster=disaster,
        round="first",
        method="flood_depth",
        inputs={"external_force": True, "depth_above_floor_m": "1.2"},
        surveyed_on=timezone.localdate(),
        surveyor=recovery_user,
    ).survey
    photo = recovery_services.survey_photo_add(survey=survey, upload=_jpeg(), by=recovery_user)
    household = ledger.household_by_hand(
        disaster=disaster,
        head_name="大宮 八郎",
        address="戸田市美女木8-8",
        members=[ledger.PersonInput(name="大宮 八郎")],
        house=house,
        by=recovery_user,
    )
    application = certificates.application_receive(
        household=household, applicant_name="大宮 八郎", channel="counter", by=recovery_user
    )
    certificates.application_review(application=application, by=recovery_user)
    certificate, _ = certificates.certificate_issue(application=application, by=recovery_user)
    grant = grants.grant_apply(household=household, part="base", household_size=1, by=recovery_user)
    world.ids.update(
        house=house.pk,
        survey=survey.pk,
        photo=photo.pk,
        ledger_household=household.pk,
        certificate_application=application.pk,
        certificate=certificate.pk,
        grant=grant.pk,
    )

    # Procedures: an application of resident A and one of resident B, a draft of each.
    procedures = {p.slug: p for p in catalogue.catalogue_load()}
    for key, address in (("a", "hanako@example.jp"), ("b", "jiro@example.jp")):
        submitted = procedure_services.application_submit(
            procedure=procedures["sodai-gomi"],
            applicant=procedure_services.Applicant(
                name=address, identifier=address, email=address, identity_level="email"
            ),
            answers={"items": "机"},
            delivery="electronic",
            channel="online",
        )
        token = f"am-draft-{key}-secret"
        draft = Draft.objects.create(
            procedure=procedures["sodai-gomi"],
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            identity={"level": "email", "identifier": address, "email": address},
            expires_at=timezone.now() + dt.timedelta(days=7),
        )
        world.ids.update(
            {
                f"application_{key}": submitted.reference,
                f"application_{key}_uuid": submitted.pk,
                f"status_key_{key}": procedure_services.status_key(submitted.reference),
                f"draft_{key}": draft.pk,
                f"draft_token_{key}": token,
            }
        )
    # An application taken at the counter, with a fee to pay there and an address to print.
    counter_application = procedure_services.application_submit(
        procedure=procedures["inkan"],
        applicant=procedure_services.Applicant(
            name="北野 太郎", email="kitano@example.jp", address="戸田市上戸田1-1-1"
        ),
        answers={"copies": 1, "purpose": "提出"},
        delivery="counter",
        channel="counter",
    )
    payment_services.payment_create(application=counter_application, provider_name="counter")
    world.ids["application_c"] = counter_application.reference
    resident_a = identity.Identity(
        level="email", identifier="hanako@example.jp", email="hanako@example.jp"
    )
    world.resident_token = identity.token_for(resident_a)
    world.resident_session = {
        identity.SESSION_KEY: resident_a.as_dict(),
        "procedures_mine": [world.ids["application_a"]],
        "procedures_drafts": {str(world.ids["draft_a"]): world.ids["draft_token_a"]},
    }

    # Notify: a subscriber, a broadcast delivered to them.
    topic = Topic.objects.create(slug="am-news", name="お知らせ", position=0)
    subscriber = Subscriber.objects.create(
        channel=Channel.EMAIL,
        address="subscriber@example.jp",
        address_key=notify_services.address_key(Channel.EMAIL, "subscriber@example.jp"),
        confirmed_at=timezone.now(),
    )
    subscriber.topics.set([topic])
    broadcast = notify_services.broadcast_create(
        text=notify_services.Text(subject="断水のお知らせ", body="本日は断水します。"),
        topics=[topic],
        created_by=_user(world, "pr"),
    )
    Delivery.objects.create(
        broadcast=broadcast,
        subscriber=subscriber,
        channel=Channel.EMAIL,
        status=DeliveryStatus.DELIVERED,
    )
    world.ids.update(broadcast=broadcast.pk, subscriber=subscriber.pk)

    # Emergency: an incident reported with a photo, a task about it.
    department = Department.objects.get_or_create(name="土木課")[0]
    reported = services_field.incident_report(
        incident_id=uuid.uuid4(),
        category="road",
        title="冠水 戸田市美女木8-8 戸田様宅前",
        reported_by=_user(world, "field"),
        address="戸田市美女木8-8",
        photos=[_jpeg()],
    )
    incident = reported.incident
    task = services_field.task_create(
        title="排水ポンプ", to_department=department, created_by=hq, incident=incident
    )
    world.ids.update(incident=incident.pk, incident_photo=incident.photos.get().pk, task=task.pk)

    # Guide: a question a resident typed.
    world.ids["question"] = Question.objects.create(
        text="戸田市美女木8-8の戸田ですが罹災証明は", low_confidence=True
    ).pk

    # Jobs: the auditor's audit-log export, finished, with its file.
    from machi.core import exports

    job = Job.objects.create(
        kind=exports.AUDIT_EXPORT,
        title="audit export",
        status=JobStatus.SUCCEEDED,
        created_by=_user(world, "auditor"),
        result={"filename": "audit.csv"},
        finished_at=timezone.now(),
    )
    exports.export_path(job).write_bytes(b"\xef\xbb\xbfid\r\n")
    world.ids["job"] = job.pk
    return world


def _user(world: AmWorld, column: str) -> Any:
    from machi.core.models import User

    return User.objects.get(pk=world.users[column])


@pytest.fixture(scope="module")
def am_world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[AmWorld]:
    """The city, made once for the module and rolled back after it."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _build()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture(scope="module")
def am_handler() -> Any:
    """One request handler for every client of the module: a new Client loads the middleware
    again, and WhiteNoise's start-up (walking every static file) is most of a request's cost."""
    return Client().handler


@pytest.fixture
def am_client(am_world: AmWorld, am_handler: Any, db: Any) -> Any:
    """A client for one column of the matrix: signed in (pages) and with a bearer token (API)."""

    def make(column: str, *, api: bool) -> Client:
        from machi.core.models import User

        headers = {}
        if column == "resident":
            headers["HTTP_AUTHORIZATION"] = f"Bearer {am_world.resident_token}"
        elif api and column != "anonymous":
            headers["HTTP_AUTHORIZATION"] = f"Bearer {am_world.tokens[column]}"
        client = Client(**headers)
        client.handler = am_handler
        if column == "resident":
            session = client.session
            for key, value in am_world.resident_session.items():
                session[key] = value
            session.save()
        elif not api and column != "anonymous":
            client.force_login(User.objects.get(pk=am_world.users[column]))
        return client

    return make
