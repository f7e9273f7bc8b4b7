"""Rooms that take an application over (``Procedure.handler``), e.g. 罹災証明書 → recovery.

After a submission is committed the applicant gets the receipt, and an online 罹災証明書
application becomes the recovery room's certificate application when the ledger
(被災者台帳) of the disaster has exactly one household it can be: the damaged house's
address as written matches (after normalising: full-width digits, 丁目・番地・号, the
prefecture and city left out), narrowed by the applicant's name when the address has several
households. A name alone is not enough (namesakes): then, and when nothing or too much matches,
``handler_ref`` stays empty and victim support staff link it by hand from the application's
page (``match_household``). A household that already applied (at the counter, say) is not
applied for twice: the hand-off is logged and left to staff, who may link the application to
that household's existing one. Nothing here ever fails the resident's submission.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, Value, prefetch_related_objects
from django.db.models.functions import Replace

from machi.core import access, japanese
from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.procedures.models import Application
from machi.procedures.services import ProcedureError

logger = logging.getLogger(__name__)

RISAI = "recovery.certificate"
REF_PREFIX = "recovery.certificateapplication:"
CANDIDATES = 20  # shown to staff at most
_PREFECTURE = re.compile(r"^(東京都|北海道|(?:京都|大阪)府|[^\d\s-]{2,3}県)")
_KANJI_DIGITS = dict(zip("〇一二三四五六七八九", "0123456789", strict=True))
_KANJI_NUMBER = re.compile(r"([〇一二三四五六七八九十]+)(?=丁目|番地|番|号)")


def after_submit(application: Application) -> None:
    """Called once a new application is committed: the receipt, then the hand-off."""
    from machi.procedures import notices

    try:
        notices.receipt_sent(application)
    except Exception:
        logger.exception("the receipt of %s was not queued", application.reference)
    if application.procedure.handler == RISAI:
        try:
            certificate_handoff(application)
        except Exception:  # staff link it by hand; the resident's application stands
            logger.exception("the hand-off of %s to recovery failed", application.reference)


# --- Matching an application with the ledger ------------------------------------------------------


def _kanji_number(text: str) -> str:
    """二十三 → 23 (house numbers written in kanji before 丁目, 番, 号)."""
    if "十" not in text:
        return "".join(_KANJI_DIGITS[c] for c in text)
    tens, _ten, ones = text.partition("十")
    value = (int(_KANJI_DIGITS.get(tens, tens)) if tens else 1) * 10
    return str(value + (int(_KANJI_DIGITS[ones]) if ones else 0))


def address_key(address: str, *, city: str = "") -> str:
    """An address reduced to compare it: 埼玉県戸田市大字美女木１丁目２番地の３ → 美女木1-2-3."""
    text = japanese.normalize(address).replace(" ", "")
    text = _KANJI_NUMBER.sub(lambda m: _kanji_number(m.group(1)), text)
    text = _PREFECTURE.sub("", text)
    at = text.find(city) if city else -1
    if 0 <= at <= 6:  # 戸田市…, or 北足立郡伊奈町… (the county before the town)
        text = text[at + len(city) :]
    text = text.removeprefix("大字")
    text = re.sub(r"丁目|番地の?|番の?|(?<=\d)の(?=\d)", "-", text)
    text = text.replace("号", "")
    return re.sub(r"-+", "-", text).strip("-")


def name_key(name: str) -> str:
    return japanese.normalize(name).replace(" ", "")


def _city_name() -> str:
    from machi.core.selectors import municipality_current

    city = municipality_current()
    return city.name if city else ""


def handoff_disaster() -> Any:
    """The disaster an online 罹災証明書 is for: the current one; in normal times the latest
    (as the recovery room's pages: applications come in long after the response ended)."""
    from machi.emergency import selectors

    return selectors.disaster_current() or selectors.disasters_all().first()


def _spaceless(column: str) -> Replace:
    return Replace(Replace(column, Value(" "), Value("")), Value("\u3000"), Value(""))


@dataclass
class Candidate:
    """A ledger household an application may be for, and why."""

    household: Any  # recovery.LedgerHousehold
    by_address: bool = False
    by_name: bool = False
    applied: Any = None  # the household's certificate application already made, if any
    members: list[str] = field(default_factory=list)


def household_candidates(application: Application, *, disaster: Any = None) -> list[Candidate]:
    """Households of the disaster whose house (or address) or whose people match the
    application: by address first, then by name; at most ``CANDIDATES``."""
    from machi.recovery.models import CertificateApplication, LedgerHousehold

    disaster = disaster or handoff_disaster()
    if disaster is None:
        return []
    city = _city_name()
    wanted_address = address_key(str(application.answers.get("house_address", "")), city=city)
    wanted_name = name_key(application.applicant_name)
    households = LedgerHousehold.objects.filter(disaster=disaster)
    # The database narrows by the place name (美女木 of 美女木1-2-3); Python compares keys.
    place = re.match(r"[^\d-]+", wanted_address)
    found: dict[int, Candidate] = {}
    if place and len(place.group(0)) >= 2:
        near = households.filter(
            Q(house__address__contains=place.group(0)) | Q(address__contains=place.group(0))
        ).values_list("pk", "address", "house__address")
        matched = [
            pk
            for pk, address, house_address in near.iterator(chunk_size=2000)
            if wanted_address
            in {address_key(address, city=city), address_key(house_address or "", city=city)}
        ]
        for household in households.filter(pk__in=matched).select_related("house"):
            found[household.pk] = Candidate(household, by_address=True)
    if wanted_name:
        named = (
            households.annotate(head_key=_spaceless("head_name"))
            .filter(Q(head_key=wanted_name) | Q(pk__in=_members_named(wanted_name, disaster)))
            .select_related("house")[:CANDIDATES]
        )
        for household in named:
            found.setdefault(household.pk, Candidate(household)).by_name = True
    chosen = sorted(found.values(), key=lambda c: (not c.by_address, not c.by_name, c.household.pk))
    chosen = chosen[:CANDIDATES]
    applied = {
        a.household_id: a
        for a in CertificateApplication.objects.filter(
            disaster=disaster, household_id__in=[c.household.pk for c in chosen]
        )
    }
    prefetch_related_objects([c.household for c in chosen], "members")
    for candidate in chosen:
        candidate.applied = applied.get(candidate.household.pk)
        candidate.members = [m.name for m in candidate.household.members.all()]
    return chosen


def _members_named(name: str, disaster: Any) -> Any:
    from machi.recovery.models import LedgerPerson

    return (
        LedgerPerson.objects.filter(household__disaster=disaster)
        .annotate(spaceless=_spaceless("name"))
        .filter(spaceless=name)
        .values("household_id")
    )


def household_match(application: Application, *, disaster: Any = None) -> Any:
    """The one household the application is for, or None (none, or more than one)."""
    candidates = household_candidates(application, disaster=disaster)
    by_address = [c for c in candidates if c.by_address]
    if len(by_address) > 1:
        by_address = [c for c in by_address if c.by_name]
    return by_address[0].household if len(by_address) == 1 else None


# --- The hand-off ---------------------------------------------------------------------------------


def handoff_ref(application: Application) -> int | None:
    """The recovery certificate application's id the application was handed to, or None."""
    if not application.handler_ref.startswith(REF_PREFIX):
        return None
    number = application.handler_ref.removeprefix(REF_PREFIX)
    return int(number) if number.isdecimal() else None


def _link(application: Application, certificate_application: Any, by: User | None) -> None:
    ref = f"{REF_PREFIX}{certificate_application.pk}"
    Application.objects.filter(pk=application.pk).update(handler_ref=ref)
    application.handler_ref = ref
    core_services.audit_record(
        action=Action.UPDATE, record=application, detail={"handler_ref": ref}, actor=by
    )


def certificate_handoff(application: Application) -> Any:
    """Make the recovery room's 罹災証明書 application of an online one, when exactly one
    ledger household matches. Returns it, or None (staff match it by hand)."""
    from machi.recovery import certificates
    from machi.recovery.services import RecoveryError

    if application.handler_ref or application.procedure.handler != RISAI:
        return None
    household = household_match(application)
    if household is None:
        logger.info("%s: no single ledger household matches; staff link it", application.reference)
        return None
    try:
        with transaction.atomic():
            made = certificates.application_receive(
                household=household,
                applicant_name=application.applicant_name,
                channel="online",
                by=None,
            )
            _link(application, made, None)
    except RecoveryError as exc:
        logger.warning(
            "%s: not handed to recovery (household %s): %s",
            application.reference,
            household.pk,
            exc,
        )
        return None
    return made


def match_household(application: Application, household_id: int, by: User | None) -> Any:
    """Staff link an online 罹災証明書 application to a ledger household by hand. The
    household's certificate application is made (channel online); one it already has (made at
    the counter) is linked instead. Returns the certificate application."""
    from machi.recovery import certificates
    from machi.recovery.models import CertificateApplication, LedgerHousehold
    from machi.recovery.services import RecoveryError

    if application.procedure.handler != RISAI:
        raise ProcedureError("this procedure is not handed to another room", field="procedure")
    if application.anonymised_at is not None:
        raise ProcedureError("this application's personal data is removed", field="application")
    household = LedgerHousehold.objects.filter(pk=household_id).first()
    if household is None:
        raise ProcedureError("no such household in the ledger", field="household_id")
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if locked.handler_ref:
            raise ProcedureError("this application is already linked", field="handler_ref")
        existing = CertificateApplication.objects.filter(
            disaster_id=household.disaster_id, household=household
        ).first()
        if existing is None:
            try:
                existing = certificates.application_receive(
                    household=household,
                    applicant_name=application.applicant_name,
                    channel="online",
                    by=by,
                )
            except RecoveryError as exc:
                raise ProcedureError(str(exc), field="household_id") from exc
        _link(application, existing, by)
    return existing


# --- What the application's page shows ------------------------------------------------------------


def handoff_context(application: Application, user: Any) -> dict[str, Any]:
    """The context of ``procedures/_handoff.html`` (as ``handoff``): the recovery application
    the application was handed to, or the households staff may link it to."""
    from machi.recovery.models import CertificateApplication, LedgerHousehold

    context: dict[str, Any] = {"applies": application.procedure.handler == RISAI}
    if not context["applies"]:
        return context
    ref = handoff_ref(application)
    linked = None
    if ref is not None and access.may(user, Action.READ, CertificateApplication):
        linked = (
            CertificateApplication.objects.select_related("household", "disaster")
            .filter(pk=ref)
            .first()
        )
    may_link = (
        not application.handler_ref
        and application.anonymised_at is None
        and access.may(user, Action.READ, LedgerHousehold)
        and access.may(user, Action.CREATE, CertificateApplication)
    )
    candidates: list[Candidate] = []
    disaster = handoff_disaster() if may_link else None
    if may_link and disaster is not None:
        candidates = household_candidates(application, disaster=disaster)
        core_services.audit_record_many(
            action=Action.READ, records=[c.household for c in candidates]
        )
    context.update(
        {
            "ref": application.handler_ref,
            "linked": linked,
            "can_link": may_link,
            "disaster": disaster,
            "candidates": candidates,
        }
    )
    return context
