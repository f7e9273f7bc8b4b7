"""罹災証明書 (災害対策基本法 90条の2): applications, review, issue as PDF, re-issue, bulk issue.

One application per household and disaster (a unique constraint). Review checks that the
household's house has a deciding survey. Issuing gives the next number of the disaster (no
gaps: a counter row locked for the moment), keeps what the certificate says (later surveys do
not change an issued certificate; a re-issue after a re-survey says the new class), and writes
the PDF under ``MEDIA_ROOT/certificates/<disaster>/``.

The PDF embeds a subset of an IPA font (IPAmj明朝 / IPA明朝, free to embed and redistribute), so
it prints the same everywhere; without the font file it falls back to a CID font the viewer
supplies. Bulk issuance is a core job over the reviewed applications, in pages of
``BULK_PAGE`` by id (memory does not grow with the batch); it stops when the batch is paused and
a new job resumes it, skipping what is issued (the one-to-one certificate makes a duplicate
impossible).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from machi.core import japanese, jobs, pdffonts
from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.emergency.models import Disaster
from machi.recovery import services
from machi.recovery.models import (
    ApplicationStatus,
    BatchStatus,
    Certificate,
    CertificateApplication,
    CertificateCounter,
    CertificateIssue,
    IssueBatch,
    LedgerHousehold,
)
from machi.recovery.services import RecoveryError

logger = logging.getLogger(__name__)

BULK_PAGE = 200
BULK_KIND = "recovery.certificates_bulk"


# --- Applications ---------------------------------------------------------------------------------


def application_receive(
    *, household: LedgerHousehold, applicant_name: str, channel: str, by: User | None
) -> CertificateApplication:
    if not applicant_name.strip():
        raise RecoveryError("the applicant's name is needed", field="applicant_name")
    try:
        with transaction.atomic():
            application = CertificateApplication.objects.create(
                disaster=household.disaster,
                household=household,
                applicant_name=applicant_name.strip()[:64],
                channel=channel,
                received_by=by,
            )
            core_services.audit_record(action=Action.CREATE, record=application, actor=by)
    except IntegrityError as exc:
        raise RecoveryError(
            "this household has already applied for this disaster (one certificate each; "
            "a lost one is re-issued)",
            field="household_id",
        ) from exc
    return application


def application_review(*, application: CertificateApplication, by: User | None) -> Any:
    """Reviewed: the house has a deciding survey. Returns the application."""
    household = application.household
    if household.house is None:
        raise RecoveryError("the household's house is not registered", field="house_id")
    if services.damage_of(house=household.house, disaster=application.disaster) is None:
        raise RecoveryError("the house has not been surveyed for this disaster", field="survey")
    if application.status in {ApplicationStatus.REVIEWED, ApplicationStatus.ISSUED}:
        return application
    application.status = ApplicationStatus.REVIEWED
    application.reviewed_by, application.reviewed_at = by, timezone.now()
    application.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    core_services.audit_record(
        action=Action.UPDATE, record=application, detail={"status": "reviewed"}, actor=by
    )
    return application


# --- The PDF --------------------------------------------------------------------------------------


def _city() -> tuple[str, str]:
    from machi.core.selectors import municipality_current

    city = municipality_current()
    name = city.name if city else ""
    return name, f"{name}長" if name else "市町村長"


def render_pdf(certificate: Certificate, *, version: int, reissue_reason: str = "") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = pdffonts.font_name()
    _city_name, mayor = _city()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    pdf.setTitle(f"罹災証明書 {certificate.number}")
    width, height = A4
    pdf.setFont(font, 22)
    pdf.drawCentredString(width / 2, height - 90, "罹 災 証 明 書")
    if version > 1:
        pdf.setFont(font, 10)
        pdf.drawRightString(
            width - 60, height - 60, f"再交付（第{version}版）{reissue_reason}"[:60]
        )
    pdf.setFont(font, 10.5)
    pdf.drawRightString(width - 60, height - 120, f"証明書番号 {certificate.number}")
    issued = timezone.localdate(certificate.issued_at)
    pdf.drawRightString(
        width - 60, height - 138, f"交付日 {japanese.wareki(issued)}（{issued:%Y-%m-%d}）"
    )
    rows = (
        ("世帯主氏名", certificate.head_name),
        ("住所", certificate.address),
        ("被災住家の所在地", certificate.house_address),
        ("災害名", certificate.disaster_name),
        ("住家の被害の程度", certificate.damage_class),
        ("浸水区分", {"床上": "床上浸水", "床下": "床下浸水"}.get(certificate.flood, "―")),
    )
    y = height - 200
    for label, value in rows:
        pdf.setFont(font, 11)
        pdf.drawString(70, y, label)
        pdf.drawString(200, y, value[:48])
        pdf.line(65, y - 8, width - 65, y - 8)
        y -= 34
    pdf.setFont(font, 11)
    pdf.drawString(70, y - 20, "上記のとおり相違ないことを証明します。")
    pdf.setFont(font, 8)
    pdf.drawString(70, y - 44, f"被害認定の判定表: {certificate.rule_set}")
    pdf.setFont(font, 12)
    pdf.drawRightString(width - 70, y - 90, mayor)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _store(certificate: Certificate, version: int, data: bytes) -> str:
    relative = Path("certificates") / str(certificate.application.disaster_id)
    folder = Path(settings.MEDIA_ROOT) / relative
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{certificate.number}-v{version}.pdf"
    (folder / name).write_bytes(data)
    return str(relative / name)


def pdf_path(issue: CertificateIssue) -> Path:
    """The stored PDF of an issue; written again if the file went missing."""
    path = Path(settings.MEDIA_ROOT) / issue.file
    if not path.exists():
        certificate = issue.certificate
        data = render_pdf(certificate, version=issue.version, reissue_reason=issue.reason)
        _store(certificate, issue.version, data)
    return path


# --- Issuing --------------------------------------------------------------------------------------


def _next_number(disaster: Disaster) -> str:
    counter, _ = CertificateCounter.objects.select_for_update().get_or_create(disaster=disaster)
    CertificateCounter.objects.filter(pk=counter.pk).update(last=F("last") + 1)
    counter.refresh_from_db()
    year = timezone.localdate(disaster.started_at).year
    return f"{year}-{disaster.pk:03d}-{counter.last:06d}"


def certificate_issue(
    *, application: CertificateApplication, by: User | None
) -> tuple[Certificate, bool]:
    """Issue the application's certificate (once: a second call returns it). (cert, created)"""
    with transaction.atomic():
        locked = (
            CertificateApplication.objects.select_for_update(of=("self",))
            .select_related("household__house", "disaster")
            .get(pk=application.pk)
        )
        existing = Certificate.objects.filter(application=locked).first()
        if existing is not None:
            return existing, False
        if locked.status != ApplicationStatus.REVIEWED:
            raise RecoveryError("the application has not been reviewed", field="status")
        household = locked.household
        survey = (
            services.damage_of(house=household.house, disaster=locked.disaster)
            if household.house
            else None
        )
        if survey is None or household.house is None:
            raise RecoveryError("the house has not been surveyed for this disaster", field="survey")
        certificate = Certificate.objects.create(
            application=locked,
            number=_next_number(locked.disaster),
            issued_by=by,
            head_name=household.head_name,
            address=household.address,
            house_address=household.house.address,
            disaster_name=locked.disaster.name,
            damage_class=survey.damage_class,
            flood=survey.flood,
            rule_set=survey.rule_set,
            survey=survey,
        )
        file = _store(certificate, 1, render_pdf(certificate, version=1))
        CertificateIssue.objects.create(
            certificate=certificate, version=1, issued_by=by, reason="交付", file=file
        )
        CertificateApplication.objects.filter(pk=locked.pk).update(status=ApplicationStatus.ISSUED)
        core_services.audit_record(action=Action.CREATE, record=certificate, actor=by)
    return certificate, True


def certificate_reissue(
    *, certificate: Certificate, reason: str, by: User | None
) -> CertificateIssue:
    """Re-issue (lost, or a re-survey changed the class): a new version, the history kept."""
    if not reason.strip():
        raise RecoveryError("say why it is re-issued", field="reason")
    with transaction.atomic():
        locked = Certificate.objects.select_for_update().get(pk=certificate.pk)
        application = locked.application
        house = application.household.house
        survey = services.damage_of(house=house, disaster=application.disaster) if house else None
        if survey is not None and survey.pk != locked.survey_id:
            locked.survey = survey
            locked.damage_class, locked.flood, locked.rule_set = (
                survey.damage_class,
                survey.flood,
                survey.rule_set,
            )
        locked.version += 1
        locked.save()
        file = _store(
            locked,
            locked.version,
            render_pdf(locked, version=locked.version, reissue_reason=reason.strip()),
        )
        issue = CertificateIssue.objects.create(
            certificate=locked,
            version=locked.version,
            issued_by=by,
            reason=reason.strip()[:200],
            file=file,
        )
        core_services.audit_record(
            action=Action.UPDATE, record=locked, detail={"reissue": locked.version}, actor=by
        )
    return issue


# --- Bulk issuance --------------------------------------------------------------------------------


def bulk_start(*, disaster: Disaster, by: User | None) -> IssueBatch:
    with transaction.atomic():
        batch = IssueBatch.objects.create(disaster=disaster, created_by=by)
        _bulk_job(batch, by)
    return batch


def _bulk_job(batch: IssueBatch, by: User | None) -> None:
    job = core_services.job_start(
        kind=BULK_KIND,
        title=f"罹災証明書の一括交付（{batch.disaster.name}）",
        created_by=by,
        batch_id=batch.pk,
    )
    IssueBatch.objects.filter(pk=batch.pk).update(job_id=job.pk, status=BatchStatus.RUNNING)
    batch.job_id, batch.status = job.pk, BatchStatus.RUNNING


def bulk_pause(*, batch: IssueBatch) -> IssueBatch:
    IssueBatch.objects.filter(pk=batch.pk, status=BatchStatus.RUNNING).update(
        status=BatchStatus.PAUSED
    )
    batch.refresh_from_db()
    return batch


def bulk_resume(*, batch: IssueBatch, by: User | None) -> IssueBatch:
    if batch.status == BatchStatus.DONE:
        raise RecoveryError("this batch has finished", field="status")
    with transaction.atomic():
        _bulk_job(batch, by)
    return batch


def _waiting(disaster_id: int) -> Any:
    return CertificateApplication.objects.filter(
        disaster_id=disaster_id, status=ApplicationStatus.REVIEWED, certificate__isnull=True
    )


@jobs.register(BULK_KIND)
def bulk_run(run: jobs.JobRun, *, batch_id: int) -> dict[str, Any]:
    """Issue every reviewed application of the batch's disaster, page by page, until done or
    paused. Pages are read by id (keyset), so memory stays flat however many there are."""
    batch = IssueBatch.objects.select_related("disaster").get(pk=batch_id)
    by = run.job.created_by
    total = _waiting(batch.disaster_id).count()
    done = failed = 0
    last_id = 0
    run.progress(0, total, "交付中")
    while True:
        if IssueBatch.objects.filter(pk=batch.pk, status=BatchStatus.PAUSED).exists():
            run.progress(done, total, "一時停止")
            return {"issued": done, "failed": failed, "paused": True, "left": total - done}
        page = list(_waiting(batch.disaster_id).filter(pk__gt=last_id).order_by("pk")[:BULK_PAGE])
        if not page:
            break
        issued_here = 0
        for application in page:
            last_id = application.pk
            try:
                _certificate, created = certificate_issue(application=application, by=by)
            except RecoveryError as exc:
                failed += 1
                logger.warning("application %s not issued: %s", application.pk, exc)
                continue
            issued_here += int(created)
        done += issued_here
        IssueBatch.objects.filter(pk=batch.pk).update(issued=F("issued") + issued_here)
        run.progress(done, total, f"{done}/{total}")
    IssueBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.DONE)
    return {"issued": done, "failed": failed, "paused": False, "left": 0}
