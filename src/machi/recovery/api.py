"""API of the recovery room: the damage classification and the grant, from the rule tables.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, File, Form, Router, Schema, UploadedFile
from ninja.errors import HttpError
from ninja.responses import Status

from machi.core import access, problems
from machi.core import services as core_services
from machi.core.api import Id, ProblemOut, areas_from_refs
from machi.core.roles import Action
from machi.emergency.models import Disaster
from machi.recovery import certificates, grants, ledger, rules, services
from machi.recovery.models import (
    Certificate,
    CertificateApplication,
    CertificateIssue,
    GrantApplication,
    House,
    IssueBatch,
    LedgerHousehold,
    ResurveyRequest,
    Survey,
    SurveyPhoto,
)

router = Router(tags=["recovery"])
# Downloads, as declared in the document.
BINARY = {"schema": {"type": "string", "format": "binary"}}
SPREADSHEETS = {
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": BINARY,
}

Number = Decimal | Annotated[str, Field(max_length=16, pattern=r"^\s*\d+(\.\d+)?(/\d+)?\s*$")]


class ClassifyIn(Schema):
    method: Literal["loss_ratio", "floor_area_ratio", "flood_depth", "earthquake"]
    rule_set: Annotated[str, Field(max_length=32)] | None = Field(
        None, description="A table's revision, e.g. R3.3; default: the newest shipped."
    )
    loss_ratio: Number | None = Field(None, description="0.42 for 42% (method loss_ratio)")
    floor_area_ratio: Number | None = Field(None, description="method floor_area_ratio")
    structure: Literal["wooden", "prefab", "non_wooden"] | None = None
    storeys: Annotated[int, Field(ge=1, le=200)] | None = None
    external_force: bool | None = Field(
        None, description="Damage from external force (堤防決壊, 越流, 津波, debris…)."
    )
    depth_above_floor_m: Number | None = Field(
        None, description="Flood depth above the floor in metres; 0: below the floor (床下)."
    )
    washed_away: bool | None = None
    collapse: bool | None = Field(None, description="The house or a storey visibly collapsed.")
    tilt: Number | None = Field(None, description="Mean tilt of the first floor: 0.05 or 1/20.")


class ClassifyOut(Schema):
    damage_class: str
    rule_set: str
    source: str
    method: str
    rule: str = Field(description="The row of the table that decided.")
    flood: str = Field(description="床上 or 床下 for a flood-depth decision, else empty.")
    inputs: dict[str, Any]


class GrantIn(Schema):
    damage_class: Annotated[str, Field(max_length=32)]
    rebuild: Literal["build", "buy", "repair", "rent", "none"]
    household_size: Annotated[int, Field(ge=1, le=100)]
    demolished: bool = False
    long_term_evacuation: bool = False
    rent_addition_paid: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        0, description="Yen already paid as the rent addition (renting first, building later)."
    )
    disaster_date: dt.date | None = None
    rule_set: Annotated[str, Field(max_length=32)] | None = None


class GrantOut(Schema):
    base: int = Field(description="基礎支援金, yen")
    addition: int = Field(description="加算支援金, yen")
    total: int
    currency: str = "JPY"
    rule_set: str
    source: str
    rule: str
    base_deadline: dt.date | None = Field(None, description="13 months after the disaster.")
    addition_deadline: dt.date | None = Field(None, description="37 months after the disaster.")


@router.post(
    "/recovery/classify",
    response=ClassifyOut,
    summary="The damage class (住家の被害認定) for a survey's inputs, by a rule table",
)
def classify(request: HttpRequest, payload: ClassifyIn) -> dict[str, Any]:
    inputs = {k: v for k, v in payload.dict().items() if v is not None and k != "rule_set"}
    try:
        found = rules.classify(inputs, rule_set=payload.rule_set)
    except rules.RuleError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return {
        "damage_class": found.damage_class,
        "rule_set": found.rule_set,
        "source": found.source,
        "method": found.method,
        "rule": found.rule,
        "flood": found.flood,
        "inputs": {k: str(v) if isinstance(v, Decimal) else v for k, v in inputs.items()},
    }


@router.post(
    "/recovery/grants/calculate",
    response=GrantOut,
    summary="被災者生活再建支援金 for one household: base, addition, deadlines",
)
def grant_calculate(request: HttpRequest, payload: GrantIn) -> rules.Grant:
    try:
        return rules.grant(
            damage_class=payload.damage_class,
            rebuild=payload.rebuild,
            household_size=payload.household_size,
            demolished=payload.demolished,
            long_term_evacuation=payload.long_term_evacuation,
            rent_addition_paid=payload.rent_addition_paid,
            disaster_date=payload.disaster_date,
            rule_set=payload.rule_set,
        )
    except rules.RuleError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc


# --- Houses, surveys, re-survey requests ----------------------------------------------------------


class HouseIn(Schema):
    id: uuid.UUID | None = Field(None, description="Made by the device; a replay returns it.")
    address: Annotated[str, Field(min_length=1, max_length=256)]
    structure: Literal["wooden", "prefab", "non_wooden"]
    storeys: Annotated[int, Field(ge=1, le=200)] = 1
    area: int | str | None = Field(None, description="Area by id, 町字ID or name.")
    latitude: Annotated[Decimal, Field(ge=-90, le=90, decimal_places=6)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180, decimal_places=6)] | None = None


class HouseOut(Schema):
    id: uuid.UUID
    address: str
    structure: str
    storeys: int
    area_id: int | None


class SurveyIn(Schema):
    id: uuid.UUID = Field(description="Made by the device; a replay returns the first record.")
    house_id: uuid.UUID
    disaster_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    round: Literal["first", "second", "resurvey"]
    method: Literal["loss_ratio", "floor_area_ratio", "flood_depth", "earthquake"]
    inputs: dict[str, Any] = Field(
        description="As for /recovery/classify, without method, structure and storeys "
        "(taken from the house)."
    )
    surveyed_on: dt.date
    notes: Annotated[str, Field(max_length=2000)] = ""
    rule_set: Annotated[str, Field(max_length=32)] | None = None


class SurveyOut(Schema):
    id: uuid.UUID
    house_id: uuid.UUID
    disaster_id: int
    round: str
    method: str
    damage_class: str
    flood: str
    rule_set: str
    rule: str
    inputs: dict[str, Any]
    surveyed_on: dt.date


class ResurveyIn(Schema):
    house_id: uuid.UUID
    disaster_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ResurveyOut(Schema):
    id: int
    house_id: uuid.UUID
    disaster_id: int
    status: str
    due_by: dt.date


def _refused(exc: "services.RecoveryError") -> Exception:
    return problems.invalid(exc.field, str(exc))


@router.post(
    "/recovery/houses", response={200: HouseOut, 201: HouseOut}, summary="Register a house"
)
def house_create(request: HttpRequest, payload: HouseIn) -> Status[House]:
    access.require(request.user, Action.CREATE, House)
    known = payload.id is not None and House.objects.filter(pk=payload.id).exists()
    area = areas_from_refs([payload.area], "area")[0] if payload.area is not None else None
    try:
        house = services.house_register(
            house_id=payload.id,
            address=payload.address,
            structure=payload.structure,
            storeys=payload.storeys,
            area=area,
            latitude=payload.latitude,
            longitude=payload.longitude,
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(200 if known else 201, house)


@router.post(
    "/recovery/surveys",
    response={200: SurveyOut, 201: SurveyOut, 404: ProblemOut},
    summary="Record a damage survey; the class is decided by the rule table and kept with it",
)
def survey_create(request: HttpRequest, payload: SurveyIn) -> Status[Survey]:
    access.require(request.user, Action.CREATE, Survey)
    house = get_object_or_404(House, pk=payload.house_id)
    disaster = get_object_or_404(Disaster, pk=payload.disaster_id)
    user = access.user_of(request)
    if user is None:
        raise HttpError(401, "Unauthorized")
    try:
        done = services.survey_record(
            survey_id=payload.id,
            house=house,
            disaster=disaster,
            round=payload.round,
            method=payload.method,
            inputs=payload.inputs,
            surveyed_on=payload.surveyed_on,
            surveyor=user,
            notes=payload.notes,
            rule_set=payload.rule_set,
        )
    except services.RecoveryError as exc:
        where = exc.field if exc.field in {"id", "round", "surveyed_on"} else f"inputs.{exc.field}"
        raise problems.invalid(where, str(exc)) from exc
    return Status(201 if done.created else 200, done.survey)


@router.get(
    "/recovery/houses/{house_id}/surveys",
    response=list[SurveyOut],
    summary="A house's surveys, the deciding one first",
)
def house_surveys(request: HttpRequest, house_id: uuid.UUID, disaster_id: Id) -> list[Survey]:
    access.require(request.user, Action.READ, Survey)
    house = get_object_or_404(House, pk=house_id)
    disaster = get_object_or_404(Disaster, pk=disaster_id)
    surveys = list(Survey.objects.filter(house=house, disaster=disaster).order_by("-recorded_at"))
    core_services.audit_record_many(action=Action.READ, records=surveys)
    deciding = services.damage_of(house=house, disaster=disaster)
    return sorted(surveys, key=lambda s: s.pk != (deciding.pk if deciding else None))


@router.post(
    "/recovery/resurvey-requests",
    response={201: ResurveyOut, 404: ProblemOut},
    summary="A household asks for a re-survey (再調査)",
)
def resurvey_create(request: HttpRequest, payload: ResurveyIn) -> Status[ResurveyRequest]:
    access.require(request.user, Action.CREATE, ResurveyRequest)
    house = get_object_or_404(House, pk=payload.house_id)
    disaster = get_object_or_404(Disaster, pk=payload.disaster_id)
    try:
        made = services.resurvey_request(
            house=house,
            disaster=disaster,
            reason=payload.reason,
            requested_by=access.user_of(request),
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(201, made)


# --- 被災者台帳 --------------------------------------------------------------------------------


class MemberIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    name_kana: Annotated[str, Field(max_length=128)] = ""
    birth_date: dt.date | None = None
    sex: Literal["male", "female", ""] = ""
    relationship: Annotated[str, Field(max_length=16)] = ""


class LedgerHouseholdIn(Schema):
    disaster_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    household_number: Annotated[str, Field(max_length=15)] | None = Field(
        None, description="世帯番号 of the resident register: the household and its people."
    )
    head_name: Annotated[str, Field(max_length=64)] = ""
    address: Annotated[str, Field(max_length=256)] = Field("", description="住所又は居所")
    members: list[MemberIn] = Field([], description="By hand, for someone not registered here.")
    house_id: uuid.UUID | None = None


class MemberOut(Schema):
    name: str
    name_kana: str
    birth_date: dt.date | None
    sex: str
    relationship: str
    harm: str
    evacuee_id: uuid.UUID | None = Field(description="The same person in the shelters room.")


class SupportIn(Schema):
    kind: Literal["certificate", "grant", "condolence", "repair", "housing", "donation", "other"]
    provided_on: dt.date
    amount: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    note: Annotated[str, Field(max_length=300)] = ""


class SupportOut(Schema):
    kind: str
    provided_on: dt.date
    amount: int | None
    note: str


class LedgerHouseholdOut(Schema):
    id: int
    disaster_id: int
    household_number: str
    head_name: str
    address: str
    house_id: uuid.UUID | None
    damage_class: str = Field("", description="From the house's deciding survey.")
    members: list[MemberOut]
    support: list[SupportOut]


class SharingIn(Schema):
    disaster_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    household_id: Id | None = Field(None, description="None: an extract of the whole ledger.")
    recipient: Annotated[str, Field(min_length=1, max_length=200)]
    purpose: Annotated[str, Field(min_length=1, max_length=300)]
    legal_basis: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="e.g. 災害対策基本法第90条の4第1項第2号"
    )
    items: list[Annotated[str, Field(max_length=64)]]


class SharingOut(Schema):
    id: int
    recipient: str
    purpose: str
    legal_basis: str
    items: list[str]
    shared_at: dt.datetime


def _household_out(household: LedgerHousehold) -> dict[str, Any]:
    decided = (
        services.damage_of(house=household.house, disaster=household.disaster)
        if household.house is not None
        else None
    )
    return {
        "id": household.pk,
        "disaster_id": household.disaster_id,
        "household_number": household.household_number,
        "head_name": household.head_name,
        "address": household.address,
        "house_id": household.house_id,
        "damage_class": decided.damage_class if decided else "",
        "members": list(household.members.all()),
        "support": list(household.support.order_by("provided_on", "pk")),
    }


@router.post(
    "/recovery/ledger/households",
    response={200: LedgerHouseholdOut, 201: LedgerHouseholdOut, 404: ProblemOut},
    summary="Enter a household in the 被災者台帳 (from the register, or by hand)",
)
def ledger_household_create(request: HttpRequest, payload: LedgerHouseholdIn) -> Status[Any]:
    access.require(request.user, Action.CREATE, LedgerHousehold)
    disaster = get_object_or_404(Disaster, pk=payload.disaster_id)
    house = get_object_or_404(House, pk=payload.house_id) if payload.house_id else None
    by = access.user_of(request)
    try:
        if payload.household_number:
            known = LedgerHousehold.objects.filter(
                disaster=disaster, household_number=payload.household_number
            ).exists()
            household = ledger.household_from_register(
                disaster=disaster, household_number=payload.household_number, house=house, by=by
            )
        else:
            known = False
            household = ledger.household_by_hand(
                disaster=disaster,
                head_name=payload.head_name,
                address=payload.address,
                members=[ledger.PersonInput(**m.dict()) for m in payload.members],
                house=house,
                by=by,
            )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(200 if known else 201, _household_out(household))


@router.get(
    "/recovery/ledger/households",
    response=list[LedgerHouseholdOut],
    summary="The 被災者台帳 of a disaster (every read is audited)",
)
def ledger_households(
    request: HttpRequest,
    disaster_id: Id,
    limit: int = 100,
    offset: Annotated[int, Field(ge=0, le=2**31)] = 0,
) -> list[dict[str, Any]]:
    access.require(request.user, Action.READ, LedgerHousehold)
    found = list(
        LedgerHousehold.objects.filter(disaster_id=disaster_id)
        .select_related("disaster", "house")
        .prefetch_related("members", "support")
        .order_by("pk")[offset : offset + max(1, min(limit, 500))]
    )
    core_services.audit_record_many(action=Action.READ, records=found)
    return [_household_out(h) for h in found]


@router.get(
    "/recovery/ledger/households/{household_id}",
    response=LedgerHouseholdOut,
    summary="One household of the 被災者台帳 (audited)",
)
def ledger_household(request: HttpRequest, household_id: Id) -> dict[str, Any]:
    household = get_object_or_404(LedgerHousehold, pk=household_id)
    access.require(request.user, Action.READ, household)
    core_services.audit_record(action=Action.READ, record=household)
    return _household_out(household)


@router.post(
    "/recovery/ledger/households/{household_id}/support",
    response={201: SupportOut},
    summary="Record support given to a household (援護の実施の状況)",
)
def ledger_support(request: HttpRequest, household_id: Id, payload: SupportIn) -> Status[Any]:
    household = get_object_or_404(LedgerHousehold, pk=household_id)
    access.require(request.user, Action.UPDATE, household)
    try:
        made = ledger.support_record(
            household=household,
            kind=payload.kind,
            provided_on=payload.provided_on,
            amount=payload.amount,
            note=payload.note,
            by=access.user_of(request),
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(201, made)


@router.post(
    "/recovery/ledger/sharing",
    response={201: SharingOut, 404: ProblemOut},
    summary="Record that ledger data was given to someone, and on what legal basis",
)
def ledger_sharing(request: HttpRequest, payload: SharingIn) -> Status[Any]:
    access.require(request.user, Action.EXPORT, LedgerHousehold)
    disaster = get_object_or_404(Disaster, pk=payload.disaster_id)
    household = (
        get_object_or_404(LedgerHousehold, pk=payload.household_id, disaster=disaster)
        if payload.household_id
        else None
    )
    try:
        made = ledger.sharing_record(
            disaster=disaster,
            household=household,
            recipient=payload.recipient,
            purpose=payload.purpose,
            legal_basis=payload.legal_basis,
            items=payload.items,
            by=access.user_of(request),
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(201, made)


# --- 罹災証明書 ---------------------------------------------------------------------------------


class CertificateApplicationIn(Schema):
    household_id: Id
    applicant_name: Annotated[str, Field(min_length=1, max_length=64)]
    channel: Literal["counter", "online"] = "counter"


class CertificateApplicationOut(Schema):
    id: int
    household_id: int
    disaster_id: int
    status: str
    applicant_name: str
    applied_at: dt.datetime
    certificate_id: int | None = None


class CertificateOut(Schema):
    id: int
    number: str
    version: int
    issued_at: dt.datetime
    head_name: str
    address: str
    house_address: str
    disaster_name: str
    damage_class: str
    flood: str
    rule_set: str
    pdf: str = Field(description="Where to download the latest version.")


class ReissueIn(Schema):
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class BulkIn(Schema):
    disaster_id: Annotated[int, Field(ge=1, le=2**63 - 1)]


class BulkOut(Schema):
    id: int
    status: str
    issued: int
    job_id: uuid.UUID | None
    job_page: str = Field(description="The job's page, with its progress bar.")


def _application_out(application: CertificateApplication) -> dict[str, Any]:
    certificate = Certificate.objects.filter(application=application).first()
    return {
        "id": application.pk,
        "household_id": application.household_id,
        "disaster_id": application.disaster_id,
        "status": application.status,
        "applicant_name": application.applicant_name,
        "applied_at": application.applied_at,
        "certificate_id": certificate.pk if certificate else None,
    }


CERTIFICATE_FIELDS = (
    "id",
    "number",
    "version",
    "issued_at",
    "head_name",
    "address",
    "house_address",
    "disaster_name",
    "damage_class",
    "flood",
    "rule_set",
)


def _certificate_out(certificate: Certificate) -> dict[str, Any]:
    return {
        **{field: getattr(certificate, field) for field in CERTIFICATE_FIELDS},
        "pdf": f"/api/v1/recovery/certificates/{certificate.pk}/pdf",
    }


def _batch_out(batch: IssueBatch) -> dict[str, Any]:
    return {
        "id": batch.pk,
        "status": batch.status,
        "issued": batch.issued,
        "job_id": batch.job_id,
        "job_page": f"/console/jobs/{batch.job_id}/" if batch.job_id else "",
    }


@router.post(
    "/recovery/certificates/applications",
    response={201: CertificateApplicationOut, 404: ProblemOut},
    summary="Receive an application for the 罹災証明書 (one per household and disaster)",
)
def application_create(request: HttpRequest, payload: CertificateApplicationIn) -> Status[Any]:
    access.require(request.user, Action.CREATE, CertificateApplication)
    household = get_object_or_404(LedgerHousehold, pk=payload.household_id)
    try:
        made = certificates.application_receive(
            household=household,
            applicant_name=payload.applicant_name,
            channel=payload.channel,
            by=access.user_of(request),
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(201, _application_out(made))


@router.post(
    "/recovery/certificates/applications/{application_id}/review",
    response=CertificateApplicationOut,
    summary="Review an application (its house must have a deciding survey)",
)
def application_review(request: HttpRequest, application_id: Id) -> dict[str, Any]:
    application = get_object_or_404(CertificateApplication, pk=application_id)
    access.require(request.user, Action.UPDATE, application)
    try:
        certificates.application_review(application=application, by=access.user_of(request))
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return _application_out(application)


@router.post(
    "/recovery/certificates/applications/{application_id}/issue",
    response={200: CertificateOut, 201: CertificateOut},
    summary="Issue the certificate of a reviewed application (again: the same certificate)",
)
def application_issue(request: HttpRequest, application_id: Id) -> Status[Any]:
    application = get_object_or_404(CertificateApplication, pk=application_id)
    access.require(request.user, Action.UPDATE, application)
    try:
        certificate, created = certificates.certificate_issue(
            application=application, by=access.user_of(request)
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(201 if created else 200, _certificate_out(certificate))


@router.post(
    "/recovery/certificates/{certificate_id}/reissue",
    response={201: CertificateOut},
    summary="Re-issue a certificate (lost, or re-surveyed): a new version, the history kept",
)
def certificate_reissue(
    request: HttpRequest, certificate_id: Id, payload: ReissueIn
) -> Status[Any]:
    certificate = get_object_or_404(Certificate, pk=certificate_id)
    access.require(request.user, Action.UPDATE, certificate)
    try:
        certificates.certificate_reissue(
            certificate=certificate,
            reason=payload.reason,
            by=access.user_of(request),
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    certificate.refresh_from_db()
    return Status(201, _certificate_out(certificate))


@router.get(
    "/recovery/certificates/{certificate_id}/pdf",
    summary="The certificate's PDF (latest version; ?version=N for an earlier one)",
    response={200: None},
    openapi_extra={"responses": {"200": {"content": {"application/pdf": BINARY}}}},
)
def certificate_pdf(request: HttpRequest, certificate_id: Id, version: int | None = None) -> Any:
    from django.http import FileResponse

    certificate = get_object_or_404(Certificate, pk=certificate_id)
    access.require(request.user, Action.EXPORT, certificate)
    issue = get_object_or_404(
        CertificateIssue, certificate=certificate, version=version or certificate.version
    )
    core_services.audit_record(
        action=Action.EXPORT, record=certificate, detail={"version": issue.version}
    )
    return FileResponse(
        certificates.pdf_path(issue).open("rb"),
        content_type="application/pdf",
        filename=f"risai-{certificate.number}-v{issue.version}.pdf",
    )


@router.post(
    "/recovery/certificates/bulk",
    response={202: BulkOut, 404: ProblemOut},
    summary="Issue every reviewed application of a disaster, as a job with progress",
)
def bulk_start(request: HttpRequest, payload: BulkIn) -> Status[Any]:
    access.require(request.user, Action.CREATE, IssueBatch)
    disaster = get_object_or_404(Disaster, pk=payload.disaster_id)
    batch = certificates.bulk_start(disaster=disaster, by=access.user_of(request))
    return Status(202, _batch_out(batch))


@router.post("/recovery/certificates/bulk/{batch_id}/pause", response=BulkOut, summary="Pause")
def bulk_pause(request: HttpRequest, batch_id: Id) -> dict[str, Any]:
    batch = get_object_or_404(IssueBatch, pk=batch_id)
    access.require(request.user, Action.UPDATE, batch)
    return _batch_out(certificates.bulk_pause(batch=batch))


@router.post(
    "/recovery/certificates/bulk/{batch_id}/resume",
    response={202: BulkOut},
    summary="Resume a paused batch (what was issued is not issued again)",
)
def bulk_resume(request: HttpRequest, batch_id: Id) -> Status[Any]:
    batch = get_object_or_404(IssueBatch, pk=batch_id)
    access.require(request.user, Action.UPDATE, batch)
    try:
        certificates.bulk_resume(batch=batch, by=access.user_of(request))
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(202, _batch_out(batch))


# --- 被災者生活再建支援金 and reports ----------------------------------------------------------


class GrantApplicationIn(Schema):
    household_id: Id
    part: Literal["base", "addition"]
    rebuild: Literal["build", "buy", "repair", "rent", "none", ""] = ""
    household_size: Annotated[int, Field(ge=1, le=100)]
    applied_on: dt.date | None = None
    demolished: bool = False
    long_term_evacuation: bool = False


class GrantApplicationOut(Schema):
    id: int
    household_id: int
    part: str
    rebuild: str
    damage_class: str
    amount: int
    rule_set: str
    rule: str
    applied_on: dt.date
    deadline: dt.date
    status: str
    paid_on: dt.date | None


class GrantStatusIn(Schema):
    status: Literal["approved", "paid", "rejected"]
    paid_on: dt.date | None = None


@router.post(
    "/recovery/grants/applications",
    response={201: GrantApplicationOut, 404: ProblemOut},
    summary="Apply for a part of the 被災者生活再建支援金 (the amount from the grant table)",
)
def grant_application_create(request: HttpRequest, payload: GrantApplicationIn) -> Status[Any]:
    access.require(request.user, Action.CREATE, GrantApplication)
    household = get_object_or_404(LedgerHousehold, pk=payload.household_id)
    try:
        made = grants.grant_apply(
            household=household,
            part=payload.part,
            rebuild=payload.rebuild,
            household_size=payload.household_size,
            applied_on=payload.applied_on,
            demolished=payload.demolished,
            long_term_evacuation=payload.long_term_evacuation,
            by=access.user_of(request),
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc
    return Status(201, made)


@router.post(
    "/recovery/grants/applications/{application_id}/status",
    response=GrantApplicationOut,
    summary="Approve, pay or reject a grant application",
)
def grant_application_status(
    request: HttpRequest, application_id: Id, payload: GrantStatusIn
) -> GrantApplication:
    application = get_object_or_404(GrantApplication, pk=application_id)
    access.require(request.user, Action.UPDATE, application)
    try:
        return grants.grant_set_status(
            application=application,
            status=payload.status,
            paid_on=payload.paid_on,
            by=access.user_of(request),
        )
    except services.RecoveryError as exc:
        raise _refused(exc) from exc


PAYMENT_HEADER = [
    "番号",
    "世帯主",
    "住所",
    "区分",
    "再建方法",
    "被害の程度",
    "金額（円）",
    "申請日",
    "状態",
    "支払日",
]


def _spreadsheet(rows: list[list[Any]], *, name: str, format: str) -> Any:
    """CSV (UTF-8 with BOM) or .xlsx, both for Excel, as a download."""
    from django.http import HttpResponse

    from machi.core import japanese

    if format == "xlsx":
        response = HttpResponse(
            japanese.excel_xlsx(rows, title=name),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        text = [[str(v) if v is not None else "" for v in row] for row in rows]
        response = HttpResponse(japanese.excel_csv(text), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{format}"'
    return response


@router.get(
    "/recovery/grants/payments.{format}",
    summary="The payment list for accounting (csv: UTF-8 with BOM, or xlsx; audited)",
    response={200: None},
    openapi_extra={"responses": {"200": {"content": SPREADSHEETS}}},
)
def grant_payments(
    request: HttpRequest, format: Literal["csv", "xlsx"], disaster_id: Id, status: str = "approved"
) -> Any:
    access.require(request.user, Action.EXPORT, GrantApplication)
    found = (
        GrantApplication.objects.filter(disaster_id=disaster_id, status=status)
        .select_related("household")
        .order_by("pk")
    )
    rows: list[list[Any]] = [PAYMENT_HEADER]
    for g in found:
        rows.append(
            [
                g.pk,
                g.household.head_name,
                g.household.address,
                g.get_part_display(),
                g.rebuild,
                g.damage_class,
                g.amount,
                g.applied_on.isoformat(),
                g.get_status_display(),
                g.paid_on.isoformat() if g.paid_on else "",
            ]
        )
    core_services.audit_record(
        action=Action.EXPORT,
        object_type="recovery.grantapplication",
        detail={"disaster": disaster_id, "status": status, "rows": len(rows) - 1},
    )
    return _spreadsheet(rows, name=f"grant-payments-{disaster_id}", format=format)


@router.get(
    "/recovery/reports/{name}",
    summary="Households by class and area, certificates per day, grants by status "
    "(?format=csv or xlsx for Excel)",
    response={200: Any},
    openapi_extra={
        "responses": {
            "200": {
                "content": {
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                    **SPREADSHEETS,
                }
            }
        }
    },
)
def report(request: HttpRequest, name: str, disaster_id: Id, format: str = "json") -> Any:
    from machi.recovery import reports

    access.require(request.user, Action.READ, LedgerHousehold)
    if name not in reports.REPORTS:
        raise HttpError(404, "Not Found")
    rows = reports.REPORTS[name](disaster_id)
    if format not in {"csv", "xlsx"}:
        return rows
    header = list(rows[0]) if rows else []
    table = [header] + [[r[k] for k in header] for r in rows]
    return _spreadsheet(table, name=f"{name}-{disaster_id}", format=format)


# --- Survey photos ------------------------------------------------------------------------------


class SurveyPhotoOut(Schema):
    id: uuid.UUID
    survey_id: uuid.UUID
    content_type: str
    size: int
    url: str


def _photo_out(photo: SurveyPhoto) -> dict[str, Any]:
    return {
        "id": photo.pk,
        "survey_id": photo.survey_id,
        "content_type": photo.content_type,
        "size": photo.size,
        "url": f"/api/v1/recovery/photos/{photo.pk}",
    }


@router.post(
    "/recovery/surveys/{survey_id}/photos",
    response={200: SurveyPhotoOut, 201: SurveyPhotoOut},
    summary="Add a photo to a survey (JPEG, PNG, WebP or HEIC, ≤ 10 MB; checked by its bytes)",
)
def survey_photo(
    request: HttpRequest,
    survey_id: uuid.UUID,
    file: File[UploadedFile],
    id: Form[uuid.UUID | None] = None,
) -> Status[Any]:
    """Multipart: ``file``, and optionally ``id`` (made by the device; a replay answers 200)."""
    survey = get_object_or_404(Survey, pk=survey_id)
    access.require(request.user, Action.CREATE, SurveyPhoto)
    known = id is not None and SurveyPhoto.objects.filter(pk=id).exists()
    try:
        photo = services.survey_photo_add(
            survey=survey,
            upload=file,
            by=access.user_of(request),
            photo_id=id,
        )
    except services.RecoveryError as exc:
        raise problems.invalid(exc.field, str(exc), where="body") from exc
    return Status(200 if known else 201, _photo_out(photo))


@router.get(
    "/recovery/photos/{photo_id}",
    summary="A survey photo (audited)",
    response={200: None},
    openapi_extra={
        "responses": {
            "200": {
                "content": dict.fromkeys(
                    ("image/jpeg", "image/png", "image/webp", "image/heic"), BINARY
                )
            }
        }
    },
)
def survey_photo_file(request: HttpRequest, photo_id: uuid.UUID) -> Any:
    from django.http import FileResponse

    photo = get_object_or_404(SurveyPhoto, pk=photo_id)
    access.require(request.user, Action.READ, photo)
    core_services.audit_record(action=Action.READ, record=photo)
    response = FileResponse(photo.image.open("rb"), content_type=photo.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response
