"""被災者生活再建支援金: applications per household, the base and the additions tracked apart.

The amounts come from the grant table (``rules.grant``): the damage class is the one the
household's certificate states (a household without a certificate cannot apply). The base must
be applied for within 13 months of the disaster and an addition within 37 (the table's
deadlines); a later application is refused with the date. Renting first and building (buying,
repairing) later is a second addition, reduced by the rent addition already paid, so the two
together never exceed the building amount.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.recovery import rules
from machi.recovery.models import (
    Certificate,
    GrantApplication,
    GrantPart,
    GrantStatus,
    LedgerHousehold,
)
from machi.recovery.services import RecoveryError


def grant_apply(
    *,
    household: LedgerHousehold,
    part: str,
    rebuild: str = "",
    household_size: int,
    applied_on: dt.date | None = None,
    demolished: bool = False,
    long_term_evacuation: bool = False,
    by: User | None,
) -> GrantApplication:
    if part not in GrantPart.values:
        raise RecoveryError("part is base or addition", field="part")
    if part == GrantPart.ADDITION and rebuild not in rules.REBUILD:
        raise RecoveryError(f"rebuild is one of {', '.join(rules.REBUILD)}", field="rebuild")
    certificate = Certificate.objects.filter(
        application__household=household, application__disaster=household.disaster
    ).first()
    if certificate is None:
        raise RecoveryError(
            "the household has no 罹災証明書 for this disaster yet", field="household_id"
        )
    applied_on = applied_on or timezone.localdate()
    if GrantApplication.objects.filter(
        disaster=household.disaster,
        household=household,
        part=part,
        rebuild=rebuild if part == GrantPart.ADDITION else "",
    ).exists():
        raise RecoveryError("this part has already been applied for", field="part")
    rent_paid = 0
    if part == GrantPart.ADDITION and rebuild in {"build", "buy", "repair"}:
        rent_paid = (
            GrantApplication.objects.filter(
                household=household, part=GrantPart.ADDITION, rebuild="rent"
            )
            .exclude(status=GrantStatus.REJECTED)
            .aggregate(total=Sum("amount"))["total"]
            or 0
        )
    try:
        computed = rules.grant(
            damage_class=certificate.damage_class,
            rebuild=rebuild or "none",
            household_size=household_size,
            demolished=demolished,
            long_term_evacuation=long_term_evacuation,
            rent_addition_paid=rent_paid,
            disaster_date=timezone.localdate(household.disaster.started_at),
        )
    except rules.RuleError as exc:
        raise RecoveryError(str(exc), field=exc.field) from exc
    deadline = computed.base_deadline if part == GrantPart.BASE else computed.addition_deadline
    if deadline is None:  # the table has no deadline for this part
        raise RecoveryError("the grant table gives no deadline for this part", field="part")
    if applied_on > deadline:
        raise RecoveryError(
            f"the deadline for this part was {deadline.isoformat()}", field="applied_on"
        )
    amount = computed.base if part == GrantPart.BASE else computed.addition
    if amount <= 0:
        raise RecoveryError(
            f"{certificate.damage_class} receives no {part} grant for this plan", field="part"
        )
    try:
        with transaction.atomic():
            application = GrantApplication.objects.create(
                disaster=household.disaster,
                household=household,
                part=part,
                damage_class=certificate.damage_class,
                rebuild=rebuild if part == GrantPart.ADDITION else "",
                household_size=household_size,
                amount=amount,
                rule_set=computed.rule_set,
                rule=computed.rule[:200],
                applied_on=applied_on,
                deadline=deadline,
                recorded_by=by,
            )
            core_services.audit_record(action=Action.CREATE, record=application, actor=by)
    except IntegrityError as exc:
        raise RecoveryError("this part has already been applied for", field="part") from exc
    return application


ALLOWED = {
    GrantStatus.APPLIED: {GrantStatus.APPROVED, GrantStatus.REJECTED},
    GrantStatus.APPROVED: {GrantStatus.PAID, GrantStatus.REJECTED},
    GrantStatus.PAID: set(),
    GrantStatus.REJECTED: set(),
}


def grant_set_status(
    *, application: GrantApplication, status: str, paid_on: dt.date | None = None, by: User | None
) -> GrantApplication:
    current = GrantStatus(application.status)
    if status not in {s.value for s in ALLOWED[current]}:
        raise RecoveryError(f"{current.value} cannot become {status}", field="status")
    application.status = status
    if status == GrantStatus.PAID:
        application.paid_on = paid_on or timezone.localdate()
    application.save(update_fields=["status", "paid_on"])
    core_services.audit_record(
        action=Action.UPDATE, record=application, detail={"status": status}, actor=by
    )
    return application
