"""API fuzzing: schemathesis over every operation of the OpenAPI document, as every role.

The schema is loaded in-process (WSGI, the whole Django stack) from /api/v1/openapi.json. A small
world (a city, shelters with an opening, and one record of each kind an operation's path can
name) and one valid credential per identity: each staff role of ``machi.core.roles.Role``
(shelter staff scoped to one facility), a resident (``Bearer r.…``) and no credential at all.
For each identity, every operation gets ``max_examples`` generated requests (schemathesis'
positive data, half of them with the path naming a record that exists, plus negative data:
what the schema forbids), and every response is checked:

* ``not_a_server_error``: no 5xx;
* ``status_code_conformance``: the status is one the document declares for the operation;
* ``content_type_conformance``: the Content-Type is one declared for that status
  (``application/problem+json`` for errors);
* ``response_schema_conformance``: the body matches the declared schema.

Left out: ``response_headers_conformance`` (the document declares no response headers, so it
checks nothing), ``negative_data_rejection`` and ``positive_data_acceptance`` (they presume
that valid-looking data is always accepted and invalid data always refused with a 4xx; with
role checks and records that do not exist, a 403/404 for good data is the right answer, and
some bodies the JSON schema cannot refuse are refused by the view with a 422 anyway),
``use_after_free``/``ensure_resource_availability``/``ignored_auth`` (stateful or auth-probing
checks: tests/security/test_access_matrix.py covers who may do what) and
``max_response_time`` (timing belongs to the benchmarks).

Each example runs in a transaction that is rolled back: every request sees the same world.
Hypothesis is derandomized (the same examples on every run) and keeps no example database.

The CI short run is this module (``MACHI_FUZZ_EXAMPLES``, default 3 per operation, mode and
identity); the long run by hand is ``python bench/fuzz.py --examples 200``. The totals are
printed at the end of the module (on the terminal, also without ``-s``) and written as JSON to
``$MACHI_FUZZ_REPORT`` when that is set.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from machi.core.roles import Role

IDENTITIES: tuple[str, ...] = ("anonymous", "resident", *(role.value for role in Role))
SHORT_RUN_EXAMPLES = int(os.environ.get("MACHI_FUZZ_EXAMPLES", "3"))
SCHEMA_PATH = "/api/v1/openapi.json"
# Rate limits are not under test here (tests/core/test_api.py and the rooms' tests are): high
# enough that thousands of requests a minute from one token or address are all answered.
UNLIMITED = 10**9
RATE_SETTINGS = {
    "API_RATE_LIMIT": UNLIMITED,
    "LOGIN_RATE_LIMIT": UNLIMITED,
    "MACHI_REGISTER_RATE_LIMIT": UNLIMITED,
    "MACHI_WIFI_REGISTER_RATE_LIMIT": UNLIMITED,
    "MACHI_PROCEDURES_API_RESIDENT_RATE": UNLIMITED,
    "MACHI_PROCEDURES_API_IP_RATE": UNLIMITED,
    "MACHI_PROCEDURES_CODE_RATE_LIMIT": UNLIMITED,
    "MACHI_PROCEDURES_SUBMIT_RATE_LIMIT": UNLIMITED,
    "MACHI_OIDC_RATE_LIMIT": UNLIMITED,
    "MACHI_OPENDATA_RATE_LIMIT": UNLIMITED,
}


# --- The world ---------------------------------------------------------------------------------


@dataclass
class World:
    """Credentials per identity, and values for path parameters that name existing records."""

    headers: dict[str, dict[str, str]]
    path_values: dict[str, Any]
    by_path: dict[str, dict[str, Any]] = field(default_factory=dict)

    def known(self, path: str, names: list[str]) -> dict[str, Any] | None:
        """Path parameters naming records that exist, for this operation's path (or None)."""
        values = {**self.path_values, **self.by_path.get(path, {})}
        if not names or any(name not in values for name in names):
            return None
        return {name: values[name] for name in names}


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def build_world() -> World:
    """The city and its records, and a credential per identity. Needs the database."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from machi.core import services as core_services
    from machi.core.hazards import Hazard
    from machi.core.models import Area
    from machi.core.roles import Role
    from machi.emergency import services as emergency_services
    from machi.emergency import services_field
    from machi.notify import services as notify_services
    from machi.procedures import catalogue
    from machi.procedures import services as procedure_services
    from machi.procedures.identity import base
    from machi.recovery import certificates, grants, ledger
    from machi.recovery import services as recovery_services
    from machi.shelters import services as shelter_services
    from machi.shelters.models import Person, Shelter
    from machi.wifi import disaster_mode
    from machi.wifi import services as wifi_services
    from machi.wifi.models import Site
    from tests.core.factories import FacilityFactory, MunicipalityFactory

    city = MunicipalityFactory()
    area = Area.objects.create(municipality=city, name="上戸田", name_kana="かみとだ")
    facilities = [
        FacilityFactory(municipality=city, is_shelter=True, is_wifi_site=True, area=area)
        for _ in range(3)
    ]
    shelters = [
        Shelter.objects.create(facility=f, capacity_night=50, hazards=[Hazard.FLOOD])
        for f in facilities
    ]
    users = {}
    for role in Role:
        scoped = facilities[:1] if role == Role.SHELTER_STAFF else []
        users[role.value] = core_services.staff_create(
            username=f"fz-{role.value}",
            password=None,
            display_name=f"fuzz {role.value}",
            roles=[role],
            facilities=scoped,
        )
    hq = users[Role.HQ.value]
    disaster = emergency_services.disaster_declare(
        name="令和元年台風第19号", hazards=[Hazard.FLOOD], declared_by=hq
    )
    opening = shelter_services.opening_open(shelter=shelters[0], disaster=disaster)
    shelter_services.opening_open(shelter=shelters[1], disaster=disaster)
    stay = shelter_services.checkin_create(
        checkin_id=uuid.uuid4(),
        person=Person.objects.filter(
            household=shelter_services.household_register(
                members=[shelter_services.PersonInput(family_name="戸田", given_name="太郎")],
                disaster=disaster,
            )
        ).first(),
        disaster=disaster,
        opening=opening,
    ).checkin
    order = emergency_services.evacuation_issue(
        level=3, hazard=Hazard.FLOOD, areas=[area], issued_by=hq, disaster=disaster
    )
    department = services_field.department_upsert(name="道路公園課")
    incident = services_field.incident_report(
        incident_id=uuid.uuid4(),
        category="road",
        title="冠水",
        address="戸田市上戸田1-1",
        reported_by=users[Role.FIELD.value],
        department=department,
    ).incident
    task = services_field.task_create(
        title="通行止め", to_department=department, created_by=hq, incident=incident
    )
    broadcast = notify_services.broadcast_create(
        text=notify_services.Text(subject="お知らせ", body="本文"),
        everyone=True,
        created_by=users[Role.PR.value],
    )
    catalogue.load_demo_procedures()
    procedure = procedure_services.procedure_offered("juminhyo")
    resident = base.Identity(level="email", identifier="resident@example.jp", name="住民 花子")
    application = procedure_services.application_submit(
        procedure=procedure,
        applicant=procedure_services.Applicant(
            name="住民 花子",
            email="resident@example.jp",
            identifier=resident.identifier,
            identity_level="email",
        ),
        answers=_answers(procedure),
        delivery=procedure.deliveries[0],
        channel="online",
    )
    recovery = users[Role.RECOVERY.value]
    house = recovery_services.house_register(address="戸田市美女木1-1", structure="wooden")
    survey = recovery_services.survey_record(
        survey_id=uuid.uuid4(),
        house=house,
        disaster=disaster,
        round="first",
        method="flood_depth",
        inputs={"external_force": True, "depth_above_floor_m": "1.2"},
        surveyed_on=timezone.localdate(),
        surveyor=recovery,
    ).survey
    photo = recovery_services.survey_photo_add(
        survey=survey, upload=SimpleUploadedFile("p.png", PNG, "image/png"), by=recovery
    )
    household = ledger.household_by_hand(
        disaster=disaster,
        head_name="戸田 一郎",
        address="戸田市美女木1-1",
        members=[ledger.PersonInput(name="戸田 一郎")],
        house=house,
        by=recovery,
    )
    cert_application = certificates.application_review(
        application=certificates.application_receive(
            household=household, applicant_name="戸田 一郎", channel="counter", by=recovery
        ),
        by=recovery,
    )
    certificate, _ = certificates.certificate_issue(application=cert_application, by=recovery)
    batch = certificates.bulk_start(disaster=disaster, by=recovery)
    grant = grants.grant_apply(household=household, part="base", household_size=2, by=recovery)
    site = Site.objects.filter(facility=facilities[0]).first() or wifi_services.site_create(
        facility=facilities[0]
    )
    wifi_services.profile_create(
        name="00000JAPAN", kind="disaster", ssid="00000JAPAN", max_clients=128
    )
    ap, _key = wifi_services.ap_create(
        site=site,
        name="ap-1",
        mac="02:00:00:00:00:01",
        management_url="http://192.0.2.1/ubus",
    )
    switch = disaster_mode.disaster_mode_start(
        sites="all", on=True, drill=True, requested_by=users[Role.WIFI_ADMIN.value]
    )

    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    headers["resident"] = {"Authorization": f"Bearer {base.token_for(resident)}"}
    for name, user in users.items():
        _, secret = core_services.token_create(user=user, name="fuzz")
        headers[name] = {"Authorization": f"Bearer {secret}"}
    return World(
        headers=headers,
        path_values={
            "facility_id": facilities[0].pk,
            "disaster_id": disaster.pk,
            "order_id": order.pk,
            "incident_id": str(incident.pk),
            "task_id": task.pk,
            "broadcast_id": str(broadcast.pk),
            "opening_id": opening.pk,
            "shelter_id": shelters[0].pk,
            "checkin_id": str(stay.pk),
            "reference": application.reference,
            "house_id": str(house.pk),
            "household_id": household.pk,
            "survey_id": str(survey.pk),
            "photo_id": str(photo.pk),
            "certificate_id": certificate.pk,
            "batch_id": batch.pk,
            "ap_id": ap.pk,
            "job_id": str(switch.pk),
            "code": city.lgcode,
            "name": "households-by-class",
        },
        by_path={
            "/recovery/certificates/applications/{application_id}/issue": {
                "application_id": cert_application.pk
            },
            "/recovery/certificates/applications/{application_id}/review": {
                "application_id": cert_application.pk
            },
            "/recovery/grants/applications/{application_id}/status": {"application_id": grant.pk},
            "/applications/handoff.{format}": {"format": "csv"},
            "/recovery/grants/payments.{format}": {"format": "csv"},
        },
    )


def _answers(procedure: Any) -> dict[str, Any]:
    """Answers the procedure's form accepts: the first choice, or some text, per field."""
    answers: dict[str, Any] = {}
    for item in procedure.form:
        kind = item.get("type", "text")
        if item.get("choices"):
            choice = item["choices"][0]
            answers[item["name"]] = choice["value"] if isinstance(choice, dict) else choice
        elif kind in {"number", "integer"}:
            answers[item["name"]] = 1
        elif kind == "date":
            answers[item["name"]] = dt.date(1990, 1, 1).isoformat()
        elif kind in {"checkbox", "boolean"}:
            answers[item["name"]] = True
        else:
            answers[item["name"]] = "戸田市上戸田1-1-1"
    return answers


# --- The run ------------------------------------------------------------------------------------


@dataclass
class Failure:
    identity: str
    operation: str
    check: str
    status: int
    title: str
    request: str
    message: str = ""

    def key(self) -> tuple[str, str, str, int]:
        return (self.operation, self.check, self.title, self.status)


@dataclass
class RoleResult:
    identity: str
    operations: int = 0
    examples: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "operations": self.operations,
            "examples": self.examples,
            "failures": len(self.failures),
            "seconds": round(self.seconds, 1),
            "statuses": dict(sorted(self.statuses.items())),
        }


def load_schema() -> Any:
    """The document as the application serves it, bound to the WSGI application."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application())


def checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


def operations(schema: Any) -> list[Any]:
    from schemathesis.core.result import Ok

    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), (
            f"the document has an operation schemathesis cannot read: {result}"
        )
        found.append(result.ok())
    return found


def _strategy(operation: Any, world: World) -> Any:
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    names = [p.name for p in operation.path_parameters]
    relative = operation.path.removeprefix("/api/v1")
    known = world.known(relative, names)
    positive = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    if known:
        positive.append(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=known)
        )
    negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    return st.one_of(*positive), negative


def run_identity(
    schema: Any,
    world: World,
    identity: str,
    *,
    max_examples: int,
    seed: int | None = None,
) -> RoleResult:
    """Every operation, ``max_examples`` positive and ``max_examples`` negative requests each,
    as ``identity``; each request in a transaction that is rolled back."""
    result = RoleResult(identity)
    # A warning per 4xx (and per bogus session cookie): thousands of lines. Set here, not
    # before: loading the WSGI application configures logging again.
    quiet = [logging.getLogger(name) for name in ("django.request", "django.security.csrf")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    began = time.perf_counter()
    try:
        for operation in operations(schema):
            result.operations += 1
            result.examples += fuzz_operation(
                operation, world, result, max_examples=max_examples, seed=seed
            )
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    result.seconds = time.perf_counter() - began
    return result


def fuzz_operation(
    operation: Any, world: World, result: RoleResult, *, max_examples: int, seed: int | None
) -> int:
    """One operation as ``result.identity``: failures added to ``result``; the requests made."""
    import hypothesis
    import hypothesis.errors
    from django.core.cache import caches
    from django.db import transaction
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.core.failures import FailureGroup

    identity = result.identity
    headers = world.headers[identity]
    wanted = checks()
    label = f"{operation.method.upper()} {operation.path}"
    seen: set[tuple[str, str, str, int]] = set()
    calls = 0

    def call(case: Any) -> None:
        nonlocal calls
        calls += 1
        with transaction.atomic():
            try:
                response = case.call(headers=headers)
                status = response.status_code
                result.statuses[status] = result.statuses.get(status, 0) + 1
                try:
                    case.validate_response(response, checks=wanted, headers=headers)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        found = Failure(
                            identity,
                            label,
                            type(failure).__name__,
                            status,
                            failure.title,
                            case.as_curl_command(headers=headers),
                            failure.message[:1000],
                        )
                        if found.key() not in seen:
                            seen.add(found.key())
                            result.failures.append(found)
            finally:
                transaction.set_rollback(True)

    options = settings(
        max_examples=max_examples,
        derandomize=seed is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )
    for strategy in _strategy(operation, world):
        test = options(given(case=strategy)(call))
        if seed is not None:
            test = hypothesis.seed(seed)(test)
        for alias in ("default", "ratelimit"):
            caches[alias].clear()
        try:
            test()
        except hypothesis.errors.Unsatisfiable:
            # Nothing to generate: negative data for an operation whose inputs accept anything
            # (or that has none).
            pass
        except Exception as exc:  # a case schemathesis could not build or send
            result.failures.append(Failure(identity, label, "error", 0, repr(exc)[:300], ""))
    return calls


def format_failures(failures: list[Failure]) -> str:
    lines = []
    for f in failures:
        lines.append(f"{f.identity:13} {f.operation} [{f.status}] {f.check}: {f.title}")
        if f.request:
            lines.append(f"    {f.request[:400]}")
    return "\n".join(lines)


def totals_line(results: list[RoleResult]) -> str:
    ops = max((r.operations for r in results), default=0)
    examples = sum(r.examples for r in results)
    failures = sum(len(r.failures) for r in results)
    seconds = sum(r.seconds for r in results)
    return (
        f"API fuzz: {len(results)} identities x {ops} operations, {examples} requests, "
        f"{failures} failures, {seconds:.0f} s"
    )


def table(results: list[RoleResult]) -> str:
    lines = [f"{'identity':14}{'operations':>11}{'examples':>10}{'failures':>10}{'seconds':>9}"]
    for r in results:
        lines.append(
            f"{r.identity:14}{r.operations:>11}{r.examples:>10}{len(r.failures):>10}"
            f"{r.seconds:>9.1f}"
        )
    lines.append(
        f"{'total':14}{max((r.operations for r in results), default=0):>11}"
        f"{sum(r.examples for r in results):>10}{sum(len(r.failures) for r in results):>10}"
        f"{sum(r.seconds for r in results):>9.1f}"
    )
    return "\n".join(lines)


@contextmanager
def fuzz_settings() -> Iterator[None]:
    """Rate limits out of the way for the run (settings, and the API's throttles, which read
    their limit when the API is built); Hypothesis' files (its caches; no example database)
    in a temporary folder, not in the working copy."""
    from django.core import signals
    from django.db import close_old_connections
    from django.test import override_settings
    from hypothesis import configuration

    from machi.config.api import api

    home_before = getattr(configuration, "__hypothesis_home_directory", None)
    home = tempfile.mkdtemp(prefix="machi-fuzz-hypothesis-")
    configuration.set_hypothesis_home_dir(home)
    throttles = [t for t in api.throttle if hasattr(t, "per_minute")]  # type: ignore[union-attr]
    before = [t.per_minute for t in throttles]
    # As Django's test client does: the end of a request must not close the connection, whose
    # transaction (the request's savepoint, the world's in pytest) is still open.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    with override_settings(**RATE_SETTINGS):
        for t in throttles:
            t.per_minute = UNLIMITED
        try:
            yield
        finally:
            for t, limit in zip(throttles, before, strict=True):
                t.per_minute = limit
            configuration.set_hypothesis_home_dir(home_before)
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)
            shutil.rmtree(home, ignore_errors=True)


# --- The CI short run ---------------------------------------------------------------------------

RESULTS: list[RoleResult] = []
# The marker makes pytest-django create the test database; the world is built once for the
# module (in a transaction rolled back at its end), each request in a savepoint of its own.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def fuzz_world(
    request: pytest.FixtureRequest, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[tuple[Any, World]]:
    from django.db import transaction

    with django_db_blocker.unblock(), fuzz_settings(), transaction.atomic():
        world = build_world()
        schema = load_schema()
        yield schema, world
        transaction.set_rollback(True)
    # On the terminal also without -s (the lead quotes it): past the output capture.
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    summary = table(RESULTS) + "\n" + totals_line(RESULTS)
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(summary)
    path = os.environ.get("MACHI_FUZZ_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "examples_per_operation": SHORT_RUN_EXAMPLES,
                    "identities": [r.summary() for r in RESULTS],
                    "failures": [f.__dict__ for r in RESULTS for f in r.failures],
                },
                out,
                ensure_ascii=False,
                indent=2,
            )


@pytest.mark.parametrize("identity", IDENTITIES)
def test_every_operation_as(
    identity: str, fuzz_world: tuple[Any, World], django_db_blocker: Any
) -> None:
    schema, world = fuzz_world
    with django_db_blocker.unblock(), fuzz_settings():
        result = run_identity(schema, world, identity, max_examples=SHORT_RUN_EXAMPLES)
    RESULTS.append(result)
    assert result.operations == len(operations(schema))
    assert not result.failures, (
        f"{len(result.failures)} failures as {identity}:\n{format_failures(result.failures)}"
    )
